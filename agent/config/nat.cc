// SPDX-License-Identifier: Apache-2.0
// NAT configuration rules (forwarding nat / fullnat, backend ports, SNAT pools, NAT timeouts) and
// the backend references requests use ("ADDR", "ADDR:PORT", "[V6]:PORT").
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "config/checks.h"
#include "config/validate.h"
#include "xlb/abi.h"

namespace xlb::config {
namespace internal {
namespace {

constexpr char kSnatRole[] = "a SNAT pool address";
constexpr char kPoolExample[] = "e.g. snat_pool: {addresses: [10.0.0.250, \"fd00::250\"]}";

const char* familyName(const IpAddress& a) { return a.isV4() ? "IPv4" : "IPv6"; }

// The fields of one pool (the config's or a VIP's): addresses usable, each once, at most
// XLB_SNAT_MAX_ADDRS per family; a port range both 0 (the default) or 1 <= min <= max <= 65535.
void checkPool(Errors& errors, const v1::SnatPool& pool, absl::string_view path, bool vip_pool) {
  const std::string apath = join(path, "addresses");
  if (pool.addresses().empty()) {
    errors.invalid(apath, vip_pool ? absl::StrCat("missing (a VIP's snat_pool needs its own "
                                                  "addresses; to use the config's snat_pool, "
                                                  "remove this one; ",
                                                  kPoolExample, ")")
                                   : absl::StrCat("missing (addresses local to the balancer "
                                                  "host; ",
                                                  kPoolExample, ")"));
  }
  std::map<IpAddress, int> seen;
  int per_family[2] = {0, 0};
  for (int k = 0; k < pool.addresses_size(); ++k) {
    const std::string kpath = absl::StrCat(apath, "[", k, "]");
    auto addr = checkAddress(errors, kpath, pool.addresses(k), kSnatRole);
    if (!addr) continue;
    auto [it, inserted] = seen.emplace(*addr, k);
    if (!inserted) {
      errors.invalid(kpath, absl::StrCat("\"", pool.addresses(k), "\" duplicates ", apath, "[",
                                         it->second, "] (list each address once)"));
      continue;
    }
    ++per_family[addr->isV4() ? 0 : 1];
  }
  for (int f = 0; f < 2; ++f) {
    if (per_family[f] > XLB_SNAT_MAX_ADDRS) {
      errors.invalid(apath, absl::StrCat(per_family[f], " IPv", f == 0 ? 4 : 6,
                                         " addresses exceed the data-plane limit of ",
                                         XLB_SNAT_MAX_ADDRS, " per family (each address adds ",
                                         "a port range's worth of connections per backend)"));
    }
  }
  const uint32_t lo = pool.port_min(), hi = pool.port_max();
  const std::string both = absl::StrCat(
      "set both (1 <= port_min <= port_max <= 65535) or neither "
      "(the default ",
      XLB_NAT_DEFAULT_PORT_MIN, "-", XLB_NAT_DEFAULT_PORT_MAX, ")");
  if (lo > 65535) checkRange(errors, join(path, "port_min"), lo, 0, 65535);
  if (hi > 65535) checkRange(errors, join(path, "port_max"), hi, 0, 65535);
  if (lo > 65535 || hi > 65535 || (lo == 0 && hi == 0)) return;
  if (lo == 0) {
    errors.invalid(join(path, "port_min"),
                   absl::StrCat("missing while port_max is ", hi, " (", both, ")"));
  } else if (hi == 0) {
    errors.invalid(join(path, "port_max"),
                   absl::StrCat("missing while port_min is ", lo, " (", both, ")"));
  } else if (lo > hi) {
    errors.invalid(join(path, "port_min"),
                   absl::StrCat(lo, " is greater than port_max ", hi,
                                " (the range is port_min..port_max, inclusive)"));
  }
}

void checkTimeout(Errors& errors, absl::string_view path, bool has, uint32_t value,
                  uint32_t default_s) {
  if (!has || (value >= 1 && value <= kMaxNatTimeoutS)) return;
  errors.invalid(path, absl::StrCat(value, " is not in [1, ", kMaxNatTimeoutS,
                                    "] (seconds, at most 30 days; leave it unset for the default ",
                                    default_s, ")"));
}

// Backend ports and families under the VIP's forwarding mode.
void checkBackendPorts(Errors& errors, const v1::Vip& vip, absl::string_view path) {
  const bool nat = isNat(vip.forwarding());
  auto vip_addr = parseIpAddress(vip.address());
  for (int j = 0; j < vip.backends_size(); ++j) {
    const v1::Backend& b = vip.backends(j);
    const std::string bpath = absl::StrCat(path, ".backends[", j, "]");
    const uint32_t port = b.port();
    if (port != 0 && port <= 65535 && port != vip.port()) {
      if (vip.port() == 0) {
        errors.invalid(
            join(bpath, "port"),
            absl::StrCat(port,
                         ": the VIP serves every port (port 0) and keeps each packet's "
                         "destination port, so its backends have port 0 (remove the port, "
                         "or give the VIP a port to translate from)"));
      } else if (!nat) {
        errors.invalid(
            join(bpath, "port"),
            absl::StrCat(port, " is not the VIP's port ", vip.port(),
                         ": a port of its own needs forwarding nat or fullnat: dsr and ipip "
                         "deliver the client's packet unchanged (forwarding is ",
                         forwardingName(vip.forwarding()),
                         "; remove the port, or set forwarding: nat or fullnat)"));
      }
    }
    if (!nat || !vip_addr.ok()) continue;
    auto addr = parseIpAddress(b.address());
    if (addr.ok() && addr->family != vip_addr->family) {
      errors.invalid(
          join(bpath, "address"),
          absl::StrCat("\"", b.address(), "\" is ", familyName(*addr), " but the VIP is ",
                       familyName(*vip_addr), ": ", forwardingName(vip.forwarding()),
                       " translates addresses within one family (NAT46 is not "
                       "supported; use an ",
                       familyName(*vip_addr), " backend, or forwarding ipip)"));
    }
  }
}

// A fullnat VIP's effective pool has an address of its family.
void checkVipHasPool(Errors& errors, const v1::Config& config, const v1::Vip& vip,
                     absl::string_view path) {
  auto vip_addr = parseIpAddress(vip.address());
  if (vip.forwarding() != v1::FORWARDING_MODE_FULLNAT || !vip_addr.ok()) return;
  const bool own = vip.snat_pool().addresses_size() > 0;
  if (vip.has_snat_pool() && !own) return;  // reported: addresses missing
  const v1::SnatPool& pool = own ? vip.snat_pool() : config.snat_pool();
  for (const auto& text : pool.addresses()) {
    auto a = parseIpAddress(text);
    if (a.ok() && a->family == vip_addr->family) return;
  }
  const char* fam = familyName(*vip_addr);
  if (own) {
    errors.invalid(join(path, "snat_pool.addresses"),
                   absl::StrCat("no ", fam, " address for this ", fam,
                                " fullnat VIP (its own snat_pool replaces the config's; add an ",
                                fam, " address local to the balancer host)"));
    return;
  }
  errors.invalid(
      join(path, "snat_pool"),
      absl::StrCat("missing: forwarding fullnat needs a SNAT pool with an ", fam, " address (",
                   config.snat_pool().addresses_size() > 0
                       ? absl::StrCat("the config's snat_pool has none; ")
                       : std::string(),
                   "set this VIP's snat_pool or the top-level snat_pool, ", kPoolExample, ")"));
}

// Pool addresses are the balancer's own: never a VIP (replies would be balanced as new
// connections) nor a backend (the backend would talk to itself).
void checkPoolAddressesAreFree(Errors& errors, const v1::Config& config, const v1::SnatPool& pool,
                               absl::string_view path) {
  for (int k = 0; k < pool.addresses_size(); ++k) {
    auto a = parseIpAddress(pool.addresses(k));
    if (!a.ok()) continue;
    const std::string kpath = absl::StrCat(path, ".addresses[", k, "]");
    const std::string q = absl::StrCat("\"", pool.addresses(k), "\" is the address of ");
    bool reported = false;
    for (int i = 0; i < config.vips_size() && !reported; ++i) {
      const v1::Vip& vip = config.vips(i);
      auto v = parseIpAddress(vip.address());
      if (v.ok() && *v == *a) {
        errors.invalid(kpath, absl::StrCat(q, "vips[", i, "] (", formatHostPort(*v, vip.port()),
                                           "/", protocolName(vip.protocol()),
                                           "): a pool address must be the balancer's own, never "
                                           "a VIP (replies to it would be balanced as new "
                                           "connections)"));
        reported = true;
      }
    }
    for (int i = 0; i < config.vips_size() && !reported; ++i) {
      const v1::Vip& vip = config.vips(i);
      for (int j = 0; j < vip.backends_size() && !reported; ++j) {
        auto b = parseIpAddress(vip.backends(j).address());
        if (!b.ok() || *b != *a) continue;
        errors.invalid(kpath, absl::StrCat(q, "vips[", i, "].backends[", j,
                                           "]: a pool address must be the balancer's own, never "
                                           "a backend's (the backend would receive connections "
                                           "from itself)"));
        reported = true;
      }
    }
  }
}

}  // namespace

void checkNatVip(Errors& errors, const v1::Vip& vip, absl::string_view path) {
  checkBackendPorts(errors, vip, path);
  const v1::ForwardingMode f = vip.forwarding();
  if (vip.has_snat_pool()) {
    const std::string ppath = join(path, "snat_pool");
    if (f != v1::FORWARDING_MODE_FULLNAT) {
      errors.invalid(ppath,
                     absl::StrCat("only applies to forwarding fullnat (forwarding is ",
                                  forwardingName(f), "; remove it, or set forwarding: fullnat)"));
    }
    checkPool(errors, vip.snat_pool(), ppath, true);
  }
  if (vip.has_nat_timeouts()) {
    const std::string tpath = join(path, "nat_timeouts");
    if (!isNat(f)) {
      errors.invalid(tpath, absl::StrCat("only applies to forwarding nat or fullnat (forwarding "
                                         "is ",
                                         forwardingName(f), "; remove it)"));
    }
    const v1::NatTimeouts& t = vip.nat_timeouts();
    checkTimeout(errors, join(tpath, "syn_s"), t.has_syn_s(), t.syn_s(), kDefaultNatSynS);
    checkTimeout(errors, join(tpath, "established_s"), t.has_established_s(), t.established_s(),
                 kDefaultNatEstablishedS);
    checkTimeout(errors, join(tpath, "closing_s"), t.has_closing_s(), t.closing_s(),
                 kDefaultNatClosingS);
    checkTimeout(errors, join(tpath, "udp_s"), t.has_udp_s(), t.udp_s(), kDefaultNatUdpS);
  }
}

void checkNatConfig(Errors& errors, const v1::Config& config) {
  if (config.has_snat_pool()) {
    checkPool(errors, config.snat_pool(), "snat_pool", false);
    checkPoolAddressesAreFree(errors, config, config.snat_pool(), "snat_pool");
  }
  for (int i = 0; i < config.vips_size(); ++i) {
    const std::string path = absl::StrCat("vips[", i, "]");
    checkVipHasPool(errors, config, config.vips(i), path);
    if (config.vips(i).has_snat_pool()) {
      checkPoolAddressesAreFree(errors, config, config.vips(i).snat_pool(),
                                join(path, "snat_pool"));
    }
  }
}

}  // namespace internal

bool BackendRef::matches(const v1::Vip& vip, const v1::Backend& backend) const {
  auto a = parseIpAddress(backend.address());
  if (!a.ok() || *a != address) return false;
  return !port || internal::effectivePort(vip, backend) == *port;
}

absl::StatusOr<BackendRef> parseBackendRef(absl::string_view text, absl::string_view path) {
  constexpr char kForms[] =
      "ADDR, ADDR:PORT or [V6]:PORT, e.g. 10.0.1.1, 10.0.1.1:8080 or [2001:db8::1]:8080";
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": \"", text, "\" ", why));
  };
  absl::string_view host = text, port_text;
  bool has_port = false;
  if (absl::StartsWith(text, "[")) {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) return bad(absl::StrCat("lacks \"]\" (", kForms, ")"));
    host = text.substr(1, close - 1);
    absl::string_view tail = text.substr(close + 1);
    if (!tail.empty()) {
      if (tail[0] != ':') return bad(absl::StrCat("has text after \"]\" (", kForms, ")"));
      has_port = true;
      port_text = tail.substr(1);
    }
  } else if (size_t colon = text.find(':'); colon != absl::string_view::npos &&
                                            text.find(':', colon + 1) == absl::string_view::npos) {
    host = text.substr(0, colon);  // one colon: IPv4:PORT (a bare IPv6 literal has several)
    has_port = true;
    port_text = text.substr(colon + 1);
  }
  BackendRef out;
  if (has_port) {
    uint32_t port = 0;
    if (port_text.empty() || !absl::ascii_isdigit(static_cast<unsigned char>(port_text[0])) ||
        !absl::SimpleAtoi(port_text, &port) || port > 65535) {
      return bad(
          absl::StrCat("has port \"", port_text, "\", not a number in [0, 65535] (", kForms, ")"));
    }
    out.port = static_cast<uint16_t>(port);
  }
  internal::Errors errors;
  auto addr = internal::checkAddress(errors, path, host, "a backend", true);
  if (!addr) return errors.status();
  out.address = *addr;
  return out;
}

v1::SnatPool normalizeSnatPool(const v1::SnatPool& in) {
  v1::SnatPool pool = in;
  for (auto& a : *pool.mutable_addresses()) a = canonicalAddress(a);
  if (pool.port_min() == 0 && pool.port_max() == 0) {
    pool.set_port_min(XLB_NAT_DEFAULT_PORT_MIN);
    pool.set_port_max(XLB_NAT_DEFAULT_PORT_MAX);
  }
  return pool;
}

v1::NatTimeouts effectiveNatTimeouts(const v1::Vip& vip) {
  v1::NatTimeouts t = vip.nat_timeouts();
  if (!t.has_syn_s()) t.set_syn_s(kDefaultNatSynS);
  if (!t.has_established_s()) t.set_established_s(kDefaultNatEstablishedS);
  if (!t.has_closing_s()) t.set_closing_s(kDefaultNatClosingS);
  if (!t.has_udp_s()) t.set_udp_s(kDefaultNatUdpS);
  return t;
}

v1::SnatPool effectiveSnatPool(const v1::Config& config, const v1::Vip& vip) {
  if (vip.snat_pool().addresses_size() > 0) return normalizeSnatPool(vip.snat_pool());
  if (config.snat_pool().addresses_size() > 0) return normalizeSnatPool(config.snat_pool());
  return v1::SnatPool{};
}

}  // namespace xlb::config
