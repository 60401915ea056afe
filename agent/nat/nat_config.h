// SPDX-License-Identifier: Apache-2.0
// What the NAT forwarding modes need in the data plane, computed from the config: SNAT pools per
// VIP (xlb_snat), the reply filter's exact set (xlb_nat_eps) and its Bloom bits and port range
// (xlb_settings), and the check that SNAT port ranges stay clear of the host's ephemeral range.
// Pure: State plans the writes.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/address.h"
#include "xlb/abi.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::nat {

struct NatBackendSpec {
  uint32_t id = 0;
  IpAddress address;
  uint16_t port = 0;  // effective (endpoint.h), host order
};

struct NatVipSpec {
  uint32_t id = 0;
  v1::ForwardingMode mode = v1::FORWARDING_MODE_DSR;
  uint8_t proto = 0;  // IPPROTO_TCP / IPPROTO_UDP
  const v1::SnatPool* pool = nullptr;  // fullnat: effectivePool(); else ignored
  std::vector<NatBackendSpec> backends;
};

// The pool a fullnat VIP allocates from: its own when it has addresses, else the config's;
// nullptr when the VIP is not fullnat.
const v1::SnatPool* effectivePool(const v1::Config& config, const v1::Vip& vip);

// The pool's port range with defaults (XLB_NAT_DEFAULT_PORT_MIN..MAX when both are 0; 1 or 65535
// for the bound left 0).
struct PortRange {
  uint32_t min = 0;
  uint32_t max = 0;
  bool overlaps(const PortRange& o) const { return min <= o.max && o.min <= max; }
};
PortRange poolRange(const v1::SnatPool& pool);
// The pool as xlb_snat: addresses split by family (at most XLB_SNAT_MAX_ADDRS each, in order).
xlb_snat toSnat(const v1::SnatPool& pool);

// An xlb_nat_ep as an ordered key.
struct NatEpKey {
  std::array<uint8_t, sizeof(xlb_nat_ep)> bytes{};
  static NatEpKey of(const xlb_nat_ep& ep);
  xlb_nat_ep ep() const;
  std::string toString() const;  // "10.0.0.5:8000/tcp", "10.0.9.1:0/udp"
  auto operator<=>(const NatEpKey&) const = default;
};

// The xlb_settings fields of the NAT reply filter.
struct NatFilter {
  uint32_t flags = 0;  // XLB_NAT_F_*
  uint16_t port_min = 0, port_max = 0;
  std::array<uint64_t, XLB_NAT_BLOOM_BITS / 64> src_bloom{};
  std::array<uint64_t, XLB_NAT_BLOOM_BITS / 64> dst_bloom{};
  bool operator==(const NatFilter&) const = default;
};
NatFilter readFilter(const xlb_settings& s);
void writeFilter(const NatFilter& f, xlb_settings& s);
// Accepts everything either accepts: written while VIPs change so the data plane never filters out
// the replies of a connection that is still live (like the address counts in state.cc).
NatFilter unionFilter(const NatFilter& a, const NatFilter& b);

// The filter bit of an address (as stored, 16 bytes) and port (network order): xlb_nat_bloom_bit
// of the address's last 32-bit word, exactly as bpf/lib/nat.h computes it.
uint32_t bloomBit(const std::array<uint8_t, 16>& addr, uint8_t family, uint16_t port_be);
bool bloomHas(const std::array<uint64_t, XLB_NAT_BLOOM_BITS / 64>& bloom, uint32_t bit);

struct NatDataplane {
  std::map<uint32_t, xlb_snat> snat;  // fullnat vip id -> pool
  std::set<NatEpKey> eps;             // nat backend endpoints; SNAT addresses (port 0)
  NatFilter filter;
};
// nat VIPs: every backend endpoint {addr, port, proto} (flag XLB_NAT_F_EPS, source bloom); fullnat
// VIPs: their pool (xlb_snat), every pool address {addr, 0, proto} (flag XLB_NAT_F_SNAT,
// destination bloom) and the union of their port ranges. Other VIPs contribute nothing.
NatDataplane computeNatDataplane(std::span<const NatVipSpec> vips);

// The host's net.ipv4.ip_local_port_range (also used for IPv6), read from /proc.
absl::StatusOr<PortRange> readLocalPortRange();
using LocalPortRangeReader = std::function<absl::StatusOr<PortRange>()>;
// FAILED_PRECONDITION naming the pool, both ranges and the sysctl when a fullnat VIP's pool range
// overlaps `local` (the host's own connections from the pool addresses, health checks included,
// would collide with translated ones).
absl::Status checkSnatPortRanges(const v1::Config& config, const PortRange& local);

}  // namespace xlb::nat
