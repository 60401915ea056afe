// SPDX-License-Identifier: Apache-2.0
// NAT data-plane inputs computed from the config (see nat_config.h).
#include "nat/nat_config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/validate.h"

namespace xlb::nat {

const v1::SnatPool* effectivePool(const v1::Config& config, const v1::Vip& vip) {
  if (vip.forwarding() != v1::FORWARDING_MODE_FULLNAT) return nullptr;
  if (vip.has_snat_pool() && vip.snat_pool().addresses_size() > 0) return &vip.snat_pool();
  return &config.snat_pool();
}

PortRange poolRange(const v1::SnatPool& pool) {
  if (pool.port_min() == 0 && pool.port_max() == 0)
    return {XLB_NAT_DEFAULT_PORT_MIN, XLB_NAT_DEFAULT_PORT_MAX};
  return {pool.port_min() != 0 ? pool.port_min() : 1u,
          pool.port_max() != 0 ? pool.port_max() : 65535u};
}

xlb_snat toSnat(const v1::SnatPool& pool) {
  xlb_snat s{};
  for (const std::string& text : pool.addresses()) {
    auto a = parseIpAddress(text);
    if (!a.ok()) continue;  // validated before
    if (a->isV4() && s.nr4 < XLB_SNAT_MAX_ADDRS) {
      std::memcpy(s.addrs4[s.nr4++], a->bytes.data(), 4);
    } else if (a->isV6() && s.nr6 < XLB_SNAT_MAX_ADDRS) {
      std::memcpy(s.addrs6[s.nr6++], a->bytes.data(), 16);
    }
  }
  PortRange r = poolRange(pool);
  s.port_min = static_cast<uint16_t>(r.min);
  s.port_max = static_cast<uint16_t>(r.max);
  return s;
}

NatEpKey NatEpKey::of(const xlb_nat_ep& ep) {
  NatEpKey k;
  std::memcpy(k.bytes.data(), &ep, sizeof(ep));
  return k;
}

xlb_nat_ep NatEpKey::ep() const {
  xlb_nat_ep ep;
  std::memcpy(&ep, bytes.data(), sizeof(ep));
  return ep;
}

std::string NatEpKey::toString() const {
  xlb_nat_ep e = ep();
  IpAddress a;
  std::memcpy(a.bytes.data(), e.addr, 16);
  a.family = e.family;
  return absl::StrCat(formatHostPort(a, ntohs(e.port)), "/",
                      e.proto == IPPROTO_UDP ? "udp" : "tcp");
}

NatFilter readFilter(const xlb_settings& s) {
  NatFilter f;
  f.flags = s.nat_flags;
  f.port_min = s.nat_port_min;
  f.port_max = s.nat_port_max;
  std::copy(std::begin(s.nat_src_bloom), std::end(s.nat_src_bloom), f.src_bloom.begin());
  std::copy(std::begin(s.snat_dst_bloom), std::end(s.snat_dst_bloom), f.dst_bloom.begin());
  return f;
}

void writeFilter(const NatFilter& f, xlb_settings& s) {
  s.nat_flags = f.flags;
  s.nat_port_min = f.port_min;
  s.nat_port_max = f.port_max;
  std::copy(f.src_bloom.begin(), f.src_bloom.end(), std::begin(s.nat_src_bloom));
  std::copy(f.dst_bloom.begin(), f.dst_bloom.end(), std::begin(s.snat_dst_bloom));
}

NatFilter unionFilter(const NatFilter& a, const NatFilter& b) {
  NatFilter u;
  u.flags = a.flags | b.flags;
  for (size_t i = 0; i < u.src_bloom.size(); ++i) {
    u.src_bloom[i] = a.src_bloom[i] | b.src_bloom[i];
    u.dst_bloom[i] = a.dst_bloom[i] | b.dst_bloom[i];
  }
  // The port range only means something with XLB_NAT_F_SNAT.
  const bool sa = a.flags & XLB_NAT_F_SNAT, sb = b.flags & XLB_NAT_F_SNAT;
  if (sa && sb) {
    u.port_min = std::min(a.port_min, b.port_min);
    u.port_max = std::max(a.port_max, b.port_max);
  } else if (sa || sb) {
    u.port_min = sa ? a.port_min : b.port_min;
    u.port_max = sa ? a.port_max : b.port_max;
  }
  return u;
}

uint32_t bloomBit(const std::array<uint8_t, 16>& addr, uint8_t family, uint16_t port_be) {
  // "the address's last 4 bytes as stored (IPv4: the address)" (abi.h), read like the BPF side
  // reads a __u32 of the packet.
  uint32_t w = 0;
  std::memcpy(&w, addr.data() + (family == XLB_AF_INET6 ? 12 : 0), 4);
  return xlb_nat_bloom_bit(w, port_be);
}

bool bloomHas(const std::array<uint64_t, XLB_NAT_BLOOM_BITS / 64>& bloom, uint32_t bit) {
  return (bloom[(bit >> 6) & 3] >> (bit & 63)) & 1;
}

namespace {
void bloomSet(std::array<uint64_t, XLB_NAT_BLOOM_BITS / 64>& bloom, uint32_t bit) {
  bloom[(bit >> 6) & 3] |= uint64_t{1} << (bit & 63);
}
}  // namespace

NatDataplane computeNatDataplane(std::span<const NatVipSpec> vips) {
  NatDataplane out;
  bool any_range = false;
  for (const NatVipSpec& v : vips) {
    if (v.mode == v1::FORWARDING_MODE_NAT) {
      out.filter.flags |= XLB_NAT_F_EPS;
      for (const NatBackendSpec& b : v.backends) {
        xlb_nat_ep ep{};
        std::memcpy(ep.addr, b.address.bytes.data(), 16);
        ep.port = htons(b.port);
        ep.proto = v.proto;
        ep.family = b.address.family;
        out.eps.insert(NatEpKey::of(ep));
        bloomSet(out.filter.src_bloom, bloomBit(b.address.bytes, b.address.family, ep.port));
      }
    } else if (v.mode == v1::FORWARDING_MODE_FULLNAT) {
      out.filter.flags |= XLB_NAT_F_SNAT;
      static const v1::SnatPool kNone;
      const v1::SnatPool& pool = v.pool ? *v.pool : kNone;
      xlb_snat s = toSnat(pool);
      out.snat[v.id] = s;
      for (const std::string& text : pool.addresses()) {
        auto a = parseIpAddress(text);
        if (!a.ok()) continue;
        xlb_nat_ep ep{};
        std::memcpy(ep.addr, a->bytes.data(), 16);
        ep.port = 0;
        ep.proto = v.proto;
        ep.family = a->family;
        out.eps.insert(NatEpKey::of(ep));
        bloomSet(out.filter.dst_bloom, bloomBit(a->bytes, a->family, 0));
      }
      if (!any_range) {
        out.filter.port_min = s.port_min;
        out.filter.port_max = s.port_max;
        any_range = true;
      } else {
        out.filter.port_min = std::min(out.filter.port_min, s.port_min);
        out.filter.port_max = std::max(out.filter.port_max, s.port_max);
      }
    }
  }
  return out;
}

absl::StatusOr<PortRange> readLocalPortRange() {
  const char* path = "/proc/sys/net/ipv4/ip_local_port_range";
  std::ifstream in(path);
  PortRange r;
  if (!(in >> r.min >> r.max)) {
    return absl::UnavailableError(absl::StrCat("cannot read ", path));
  }
  return r;
}

absl::Status checkSnatPortRanges(const v1::Config& config, const PortRange& local) {
  std::vector<std::string> errors;
  bool default_reported = false;
  for (int i = 0; i < config.vips_size(); ++i) {
    const v1::Vip& vip = config.vips(i);
    const v1::SnatPool* pool = effectivePool(config, vip);
    if (pool == nullptr) continue;
    const bool own = pool != &config.snat_pool();
    if (!own && default_reported) continue;
    PortRange r = poolRange(*pool);
    if (!r.overlaps(local)) continue;
    const std::string where =
        own ? absl::StrCat("vips[", i, "].snat_pool") : std::string("snat_pool");
    if (!own) default_reported = true;
    errors.push_back(absl::StrCat(
        where, ": port range ", r.min, "-", r.max, " overlaps the host's ephemeral ports ",
        local.min, "-", local.max, " (net.ipv4.ip_local_port_range): the host's own connections "
        "from the pool addresses, health checks included, would collide with translated ones; "
        "move the pool range or shrink the sysctl"));
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrJoin(errors, "\n"));
}

}  // namespace xlb::nat
