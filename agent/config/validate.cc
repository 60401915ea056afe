// SPDX-License-Identifier: Apache-2.0
// Configuration rules: every message names the field path, the offending value and how to fix it.
#include "config/validate.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "config/checks.h"
#include "maglev/maglev.h"
#include "xlb/abi.h"

namespace xlb::config {

using internal::Errors;
using internal::join;

namespace {

constexpr char kAddressExample[] = "e.g. 10.0.0.10 or 2001:db8::10";
constexpr char kPrimeExamples[] = "e.g. 1021, 4099, 65537, 131071, 1000003";
constexpr size_t kMaxNameLength = 63;
constexpr char kProbeTarget[] = "a health-check target";

bool isUnicast(const IpAddress& a) {
  const auto& b = a.bytes;
  if (a.isV4()) {
    uint32_t v = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
    if (v == 0 || v == 0xffffffffu) return false;  // unspecified, limited broadcast
    if (b[0] >= 224 && b[0] <= 239) return false;  // multicast
    return true;
  }
  if (b[0] == 0xff) return false;  // multicast
  for (uint8_t x : b) {
    if (x != 0) return true;
  }
  return false;  // ::
}

// Why a syntactically valid address can never work as a VIP, backend or health-check target
// (README "Addresses xlb accepts"); empty when it can. The data plane would accept all of these and
// then drop, loop or pass the traffic, so they are refused where they enter.
// `probe_target`: a health-check address, which only the agent connects to (loopback allowed: a
// checker proxy on the balancer host itself).
std::string unusableReason(const IpAddress& a, absl::string_view text, bool probe_target) {
  const auto& b = a.bytes;
  const std::string q = absl::StrCat("\"", text, "\" ");
  if (a.isV4()) {
    if (b[0] == 0) {
      return absl::StrCat(q, "is in 0.0.0.0/8 (\"this network\": never a destination; use a "
                             "unicast address such as 10.0.0.10)");
    }
    if (b[0] == 127 && !probe_target) {
      return absl::StrCat(q, "is a loopback address (127.0.0.0/8 never leaves a host: xlb would "
                             "forward to itself; use the host's routable address)");
    }
    if (b[0] == 169 && b[1] == 254) {
      return absl::StrCat(q, "is link-local (169.254.0.0/16 needs an interface, which xlb "
                             "addresses have no field for; use a routable address)");
    }
    if (b[0] >= 224 && b[0] <= 239) {
      return absl::StrCat(q, "is multicast (224.0.0.0/4; xlb balances unicast flows only)");
    }
    if (b[0] >= 240) {
      return absl::StrCat(q, b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255
                                 ? "is the limited broadcast address"
                                 : "is in the reserved 240.0.0.0/4",
                          " (never a unicast destination)");
    }
    return "";
  }
  bool zero10 = true;
  for (int i = 0; i < 10; ++i) zero10 &= b[i] == 0;
  if (zero10 && b[10] == 0xff && b[11] == 0xff) {
    return absl::StrCat(q, "is an IPv4-mapped IPv6 address (::ffff:0:0/96; write the IPv4 form ",
                        b[12], ".", b[13], ".", b[14], ".", b[15], ")");
  }
  bool zero15 = zero10 && b[10] == 0 && b[11] == 0 && b[12] == 0 && b[13] == 0 && b[14] == 0;
  if (zero15 && b[15] == 0) return absl::StrCat(q, "is the unspecified address");
  if (zero15 && b[15] == 1 && !probe_target) {
    return absl::StrCat(q, "is the loopback address (::1 never leaves a host: xlb would forward "
                           "to itself; use the host's routable address)");
  }
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
    return absl::StrCat(q, "is link-local (fe80::/10 needs an interface, which xlb addresses have "
                           "no field for; use a global or unique-local address such as fd00::10)");
  }
  if (b[0] == 0xff) return absl::StrCat(q, "is multicast (ff00::/8; xlb balances unicast flows only)");
  return "";
}

}  // namespace

namespace internal {

// Parses and checks an address field; returns it when usable. `lookup` is for fields that name
// something that already exists (a VIP key or backend to delete, drain ...): those only need to be
// unicast, so an entry persisted by an older agent can still be removed.
std::optional<IpAddress> checkAddress(Errors& errors, absl::string_view path,
                                      absl::string_view text, absl::string_view role, bool lookup) {
  if (text.empty()) {
    errors.invalid(path, absl::StrCat("missing (", kAddressExample, ")"));
    return std::nullopt;
  }
  auto addr = parseIpAddress(text);
  if (!addr.ok()) {
    errors.invalid(path, addr.status().message());
    return std::nullopt;
  }
  if (!isUnicast(*addr)) {
    errors.invalid(path, absl::StrCat("\"", text, "\" is not a unicast address (", role,
                                      " cannot be unspecified, multicast or broadcast)"));
    return std::nullopt;
  }
  if (!lookup) {
    const bool probe_target = role == kProbeTarget;
    if (std::string why = unusableReason(*addr, text, probe_target); !why.empty()) {
      errors.invalid(path, absl::StrCat(why, ": not usable as ", role));
      return std::nullopt;
    }
  }
  return *addr;
}

void checkRange(Errors& errors, absl::string_view path, uint64_t value, uint64_t lo, uint64_t hi) {
  if (value < lo || value > hi) {
    errors.invalid(path, absl::StrCat(value, " is not in [", lo, ", ", hi, "]"));
  }
}

}  // namespace internal

namespace {

using internal::checkAddress;
using internal::checkRange;

// "7 is not a known protocol (tcp or udp)": the choices from the spelling table (enums.h).
template <typename E>
std::string unknownEnum(int value, absl::string_view what) {
  return absl::StrCat(value, " is not a known ", what, " (", enumChoices(enumTable<E>(), " or "),
                      ")");
}

void checkProtocol(Errors& errors, absl::string_view path, int protocol) {
  if (protocol == v1::PROTOCOL_UNSPECIFIED) {
    errors.invalid(path,
                   absl::StrCat("missing (", enumChoices(enumTable<v1::Protocol>(), " or "), ")"));
  } else if (!v1::Protocol_IsValid(protocol)) {
    errors.invalid(path, unknownEnum<v1::Protocol>(protocol, "protocol"));
  }
}

void checkVipKeyFields(Errors& errors, absl::string_view path, absl::string_view address,
                       uint32_t port, int protocol, bool lookup) {
  checkAddress(errors, join(path, "address"), address, "a VIP", lookup);
  checkRange(errors, join(path, "port"), port, 0, 65535);
  checkProtocol(errors, join(path, "protocol"), protocol);
}

bool probes(v1::HealthCheckType t) {
  return t == v1::HEALTH_CHECK_TYPE_TCP || t == v1::HEALTH_CHECK_TYPE_HTTP ||
         t == v1::HEALTH_CHECK_TYPE_GRPC;
}

// The fields of one written HealthCheck (a VIP default or a backend override). `type` is the type
// that applies to it after inheritance: it decides which sub-message is allowed.
void checkHealthFields(Errors& errors, const v1::HealthCheck& hc, absl::string_view path,
                       v1::HealthCheckType type) {
  if (!v1::HealthCheckType_IsValid(hc.type())) {
    errors.invalid(join(path, "type"), unknownEnum<v1::HealthCheckType>(hc.type(), "check type"));
  }
  if (hc.has_interval_ms()) {
    checkRange(errors, join(path, "interval_ms"), hc.interval_ms(), kMinIntervalMs, kMaxIntervalMs);
  }
  if (hc.has_timeout_ms()) {
    checkRange(errors, join(path, "timeout_ms"), hc.timeout_ms(), 1, kMaxIntervalMs);
  }
  if (hc.has_rise()) checkRange(errors, join(path, "rise"), hc.rise(), 1, 100);
  if (hc.has_fall()) checkRange(errors, join(path, "fall"), hc.fall(), 1, 100);
  if (hc.has_jitter_percent()) {
    checkRange(errors, join(path, "jitter_percent"), hc.jitter_percent(), 0, 50);
  }
  if (!hc.address().empty()) {
    checkAddress(errors, join(path, "address"), hc.address(), kProbeTarget);
  }
  checkRange(errors, join(path, "port"), hc.port(), 0, 65535);
  const char* tname = healthCheckTypeName(type);
  if (hc.has_http()) {
    const std::string hpath = join(path, "http");
    if (type != v1::HEALTH_CHECK_TYPE_HTTP) {
      errors.invalid(hpath, absl::StrCat("only allowed with type http (type is ", tname, ")"));
    }
    const v1::HttpCheck& h = hc.http();
    bool method_ok = true;
    for (char c : h.method()) method_ok &= absl::ascii_isupper(static_cast<unsigned char>(c));
    if (!method_ok) {
      errors.invalid(join(hpath, "method"),
                     absl::StrCat("\"", h.method(), "\" is not an HTTP method (e.g. GET, HEAD)"));
    }
    if (!h.path().empty() && h.path()[0] != '/') {
      errors.invalid(join(hpath, "path"),
                     absl::StrCat("\"", h.path(), "\" must start with '/' (e.g. /healthz)"));
    }
    for (absl::string_view field : {h.path(), h.host()}) {
      if (field.find_first_of(" \r\n\t") != absl::string_view::npos) {
        errors.invalid(join(hpath, field.data() == h.path().data() ? "path" : "host"),
                       absl::StrCat("\"", field, "\" must not contain spaces or line breaks"));
      }
    }
    for (int i = 0; i < h.expected_statuses_size(); ++i) {
      const auto& r = h.expected_statuses(i);
      const std::string rpath = absl::StrCat(hpath, ".expected_statuses[", i, "]");
      bool low_ok = r.low() >= 100 && r.low() <= 599, high_ok = r.high() >= 100 && r.high() <= 599;
      if (!low_ok) checkRange(errors, join(rpath, "low"), r.low(), 100, 599);
      if (!high_ok) checkRange(errors, join(rpath, "high"), r.high(), 100, 599);
      if (low_ok && high_ok && r.low() > r.high()) {
        errors.invalid(rpath, absl::StrCat("low ", r.low(), " is greater than high ", r.high(),
                                           " (a range is low..high, e.g. {low: 200, high: 299})"));
      }
    }
  }
  if (hc.has_grpc() && type != v1::HEALTH_CHECK_TYPE_GRPC) {
    errors.invalid(join(path, "grpc"),
                   absl::StrCat("only allowed with type grpc (type is ", tname, ")"));
  }
}

// A VIP default (`backend` null) or a backend override: fields, then the rules that need the
// merged check (timeout within the interval, a port for port-0 VIPs), reported where they were
// written.
void checkHealth(Errors& errors, const v1::Vip& vip, const v1::Backend* backend,
                 absl::string_view owner_path) {
  const v1::HealthCheck& written = backend ? backend->health_check() : vip.health_check();
  const std::string path = join(owner_path, "health_check");
  v1::HealthCheck merged =
      backend ? effectiveHealthCheck(vip, *backend) : normalizeHealthCheck(vip.health_check());
  checkHealthFields(errors, written, path, merged.type());
  const bool own_timing = written.has_timeout_ms() || written.has_interval_ms();
  if (own_timing && merged.timeout_ms() > merged.interval_ms() &&
      merged.interval_ms() >= kMinIntervalMs) {
    errors.invalid(join(path, "timeout_ms"),
                   absl::StrCat(merged.timeout_ms(), " must not exceed interval_ms (",
                                merged.interval_ms(), ")"));
  }
  if (vip.port() == 0 && probes(merged.type()) && merged.port() == 0) {
    // A backend inheriting everything was already reported on the VIP.
    v1::HealthCheck vip_check = normalizeHealthCheck(vip.health_check());
    bool reported = backend && probes(vip_check.type()) && vip_check.port() == 0;
    if (!reported) {
      errors.invalid(join(path, "port"),
                     "missing: the VIP serves every port (port 0), so a health check needs a port "
                     "(e.g. port: 80)");
    }
  }
}

std::optional<IpAddress> checkBackend(Errors& errors, const v1::Backend& backend,
                                      absl::string_view path) {
  auto addr = checkAddress(errors, join(path, "address"), backend.address(), "a backend");
  if (backend.has_weight())
    checkRange(errors, join(path, "weight"), backend.weight(), 0, XLB_MAX_WEIGHT);
  checkRange(errors, join(path, "port"), backend.port(), 0, 65535);
  if (!v1::BackendState_IsValid(backend.state())) {
    errors.invalid(join(path, "state"), unknownEnum<v1::BackendState>(backend.state(), "state"));
  }
  return addr;
}

void checkVip(Errors& errors, const v1::Vip& vip, absl::string_view path) {
  if (!vip.name().empty()) {
    bool ok = vip.name().size() <= kMaxNameLength;
    for (char c : vip.name()) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
        ok = false;
      }
    }
    if (!ok) {
      errors.invalid(join(path, "name"),
                     absl::StrCat("\"", vip.name(), "\" must be 1-", kMaxNameLength,
                                  " characters of A-Z a-z 0-9 . _ -"));
    }
  }
  checkVipKeyFields(errors, path, vip.address(), vip.port(), vip.protocol(), false);
  if (!v1::Algorithm_IsValid(vip.algorithm())) {
    errors.invalid(join(path, "algorithm"),
                   unknownEnum<v1::Algorithm>(vip.algorithm(), "algorithm"));
  } else if (vip.source_hash_include_port() && vip.algorithm() != v1::ALGORITHM_SOURCE_HASH) {
    errors.invalid(join(path, "source_hash_include_port"),
                   absl::StrCat("only applies to algorithm source_hash (algorithm is ",
                                algorithmName(vip.algorithm()), ")"));
  }
  if (!v1::AllDownPolicy_IsValid(vip.all_down_policy())) {
    errors.invalid(join(path, "all_down_policy"),
                   unknownEnum<v1::AllDownPolicy>(vip.all_down_policy(), "policy"));
  }
  if (vip.has_health_check()) checkHealth(errors, vip, nullptr, path);
  if (!v1::ForwardingMode_IsValid(vip.forwarding())) {
    errors.invalid(join(path, "forwarding"),
                   unknownEnum<v1::ForwardingMode>(vip.forwarding(), "forwarding mode"));
  }

  // Backends: each valid on its own, each (address, port) once. Any family mix is fine for dsr
  // (it only rewrites MACs) and ipip (it encapsulates in the backend's family: IPIP, IP6IP6, 4in6,
  // 6in4); nat and fullnat are checked by checkNatVip.
  std::map<std::pair<IpAddress, uint32_t>, int> seen;
  auto vip_addr = parseIpAddress(vip.address());
  for (int i = 0; i < vip.backends_size(); ++i) {
    std::string bpath = absl::StrCat(path, ".backends[", i, "]");
    auto addr = checkBackend(errors, vip.backends(i), bpath);
    if (vip.backends(i).has_health_check()) checkHealth(errors, vip, &vip.backends(i), bpath);
    if (!addr) continue;
    if (vip_addr.ok() && *addr == *vip_addr) {
      errors.invalid(join(bpath, "address"),
                     absl::StrCat("\"", vip.backends(i).address(),
                                  "\" is the VIP's own address (a forwarding loop: the balanced "
                                  "packets would come back to xlb; use the backend's own address)"));
      continue;
    }
    const uint32_t port = internal::effectivePort(vip, vip.backends(i));
    auto [it, inserted] = seen.emplace(std::make_pair(*addr, port), i);
    if (inserted) continue;
    const v1::Backend& first = vip.backends(it->second);
    if (vip.backends(i).port() == 0 && first.port() == 0) {
      errors.invalid(join(bpath, "address"),
                     absl::StrCat("\"", vip.backends(i).address(), "\" duplicates ", path,
                                  ".backends[", it->second, "] (each backend once per VIP)"));
    } else {
      errors.invalid(bpath, absl::StrCat(formatHostPort(*addr, static_cast<uint16_t>(port)),
                                         " duplicates ", path, ".backends[", it->second,
                                         "] (a backend is an address and a port, port 0 meaning "
                                         "the VIP's port ",
                                         vip.port(), "; list each pair once)"));
    }
  }
  internal::checkNatVip(errors, vip, path);
  internal::checkBgpVip(errors, vip, path);
  internal::checkDiscoveryVip(errors, vip, path);

  const uint64_t n = static_cast<uint64_t>(vip.backends_size());
  if (n > Capacity::kMaxBackends) {
    errors.exhausted(
        join(path, "backends"),
        absl::StrCat(n, " backends exceed the data-plane limit of ", Capacity::kMaxBackends));
  }
  const std::string mpath = join(path, "maglev_table_size");
  if (vip.has_maglev_table_size()) {
    uint32_t m = vip.maglev_table_size();
    if (m < kMinMaglevTableSize || m > XLB_MAGLEV_MAX_M) {
      errors.invalid(
          mpath, absl::StrCat(m, " is not in [", kMinMaglevTableSize, ", ", XLB_MAGLEV_MAX_M, "]"));
    } else if (!maglev::isPrime(m)) {
      errors.invalid(mpath, absl::StrCat(m, " is not a prime (", kPrimeExamples, ")"));
    } else if (m < kMaglevSizePerBackend * n) {
      errors.invalid(mpath, absl::StrCat(m, " is too small for ", n,
                                         " backends (use a prime >= ", kMaglevSizePerBackend,
                                         " x backends = ", kMaglevSizePerBackend * n,
                                         ", e.g. 131071) "
                                         "for an even spread"));
    }
  } else if (XLB_MAGLEV_MAX_M < kMaglevSizePerBackend * n && n <= Capacity::kMaxBackends) {
    errors.invalid(mpath, absl::StrCat("no table size fits ", n, " backends (the largest, ",
                                       XLB_MAGLEV_MAX_M, ", needs at most ",
                                       XLB_MAGLEV_MAX_M / kMaglevSizePerBackend, ")"));
  }
}

void checkPrefix(Errors& errors, absl::string_view path, absl::string_view text, bool v4) {
  if (text.empty()) return;  // default applies
  auto prefix = parseIpPrefix(text);
  if (!prefix.ok()) {
    errors.invalid(path, prefix.status().message());
    return;
  }
  if (prefix->address.isV4() != v4) {
    errors.invalid(path, absl::StrCat("\"", text, "\" is not an IPv", v4 ? 4 : 6, " prefix (e.g. ",
                                      v4 ? kDefaultEncapV4 : kDefaultEncapV6, ")"));
    return;
  }
  int lo = v4 ? 8 : 64, hi = v4 ? 32 : 128;
  if (prefix->length < lo || prefix->length > hi) {
    errors.invalid(
        path, absl::StrCat("\"", text, "\": prefix length ", prefix->length, " is not in [", lo,
                           ", ", hi, "] (e.g. ", v4 ? kDefaultEncapV4 : kDefaultEncapV6, ")"));
  }
}

// A backend at another VIP's address: in dsr the frame goes to whichever host answers for that
// address and in ipip xlb would receive its own encapsulated packet; neither reaches a backend. (A
// backend at its own VIP's address is reported by checkVip.)
void checkBackendsAreNotVips(Errors& errors, const v1::Config& config) {
  std::map<IpAddress, int> vip_addrs;
  for (int i = 0; i < config.vips_size(); ++i) {
    if (auto a = parseIpAddress(config.vips(i).address()); a.ok()) vip_addrs.emplace(*a, i);
  }
  for (int i = 0; i < config.vips_size(); ++i) {
    const v1::Vip& vip = config.vips(i);
    auto own = parseIpAddress(vip.address());
    for (int j = 0; j < vip.backends_size(); ++j) {
      auto a = parseIpAddress(vip.backends(j).address());
      if (!a.ok() || (own.ok() && *a == *own)) continue;
      auto it = vip_addrs.find(*a);
      if (it == vip_addrs.end()) continue;
      errors.invalid(absl::StrCat("vips[", i, "].backends[", j, "].address"),
                     absl::StrCat("\"", vip.backends(j).address(), "\" is the address of vips[",
                                  it->second, "] (", config.vips(it->second).address(), ":",
                                  config.vips(it->second).port(), "/",
                                  protocolName(config.vips(it->second).protocol()),
                                  "; xlb would balance the forwarded packets again instead of "
                                  "delivering them; use the backend's own address)"));
    }
  }
}

constexpr uint32_t kMinVlanId = 1, kMaxVlanId = 4094;  // 0 = priority tag, 4095 reserved
constexpr char kVlanHint[] = "a VLAN id is 1..4094 (0 and 4095 are reserved by 802.1Q)";

void checkVlanIds(Errors& errors, const v1::Config& config) {
  std::map<uint32_t, int> seen;
  for (int i = 0; i < config.vlan_ids_size(); ++i) {
    const uint32_t id = config.vlan_ids(i);
    const std::string path = absl::StrCat("vlan_ids[", i, "]");
    if (id < kMinVlanId || id > kMaxVlanId) {
      errors.invalid(path, absl::StrCat(id, " is not in [", kMinVlanId, ", ", kMaxVlanId, "] (",
                                        kVlanHint, ")"));
      continue;
    }
    auto [it, inserted] = seen.emplace(id, i);
    if (!inserted) {
      errors.invalid(path, absl::StrCat(id, " duplicates vlan_ids[", it->second,
                                        "] (list each VLAN id once)"));
    }
  }
}

}  // namespace

std::string VipKey::toString() const {
  return absl::StrCat(formatHostPort(address, port), "/", protocolName(protocol));
}

v1::VipKey VipKey::toProto() const {
  v1::VipKey out;
  out.set_address(address.toString());
  out.set_port(port);
  out.set_protocol(protocol);
  return out;
}

absl::StatusOr<VipKey> vipKeyOf(const v1::VipKey& key) {
  if (auto st = validateVipKey(key, "vip"); !st.ok()) return st;
  VipKey out;
  out.address = *parseIpAddress(key.address());
  out.port = static_cast<uint16_t>(key.port());
  out.protocol = key.protocol();
  return out;
}

absl::StatusOr<VipKey> vipKeyOf(const v1::Vip& vip) {
  v1::VipKey key;
  key.set_address(vip.address());
  key.set_port(vip.port());
  key.set_protocol(vip.protocol());
  return vipKeyOf(key);
}

std::optional<std::pair<uint64_t, uint64_t>> fieldRange(absl::string_view full_name) {
  if (full_name == "xlb.v1.Backend.weight" ||
      full_name == "xlb.v1.SetBackendWeightRequest.weight") {
    return std::make_pair(uint64_t{0}, uint64_t{XLB_MAX_WEIGHT});
  }
  if (full_name == "xlb.v1.Vip.port" || full_name == "xlb.v1.VipKey.port" ||
      full_name == "xlb.v1.Backend.port" || full_name == "xlb.v1.SnatPool.port_min" ||
      full_name == "xlb.v1.SnatPool.port_max") {
    return std::make_pair(uint64_t{0}, uint64_t{65535});
  }
  if (full_name == "xlb.v1.HealthCheck.interval_ms") {
    return std::make_pair(uint64_t{kMinIntervalMs}, uint64_t{kMaxIntervalMs});
  }
  if (full_name == "xlb.v1.HealthCheck.timeout_ms") {
    return std::make_pair(uint64_t{1}, uint64_t{kMaxIntervalMs});
  }
  if (full_name == "xlb.v1.HealthCheck.rise" || full_name == "xlb.v1.HealthCheck.fall") {
    return std::make_pair(uint64_t{1}, uint64_t{100});
  }
  if (full_name == "xlb.v1.HealthCheck.jitter_percent") {
    return std::make_pair(uint64_t{0}, uint64_t{50});
  }
  if (full_name == "xlb.v1.HealthCheck.port") return std::make_pair(uint64_t{0}, uint64_t{65535});
  if (full_name == "xlb.v1.StatusRange.low" || full_name == "xlb.v1.StatusRange.high") {
    return std::make_pair(uint64_t{100}, uint64_t{599});
  }
  if (absl::StartsWith(full_name, "xlb.v1.NatTimeouts.")) {
    return std::make_pair(uint64_t{1}, uint64_t{kMaxNatTimeoutS});
  }
  if (full_name == "xlb.v1.Vip.maglev_table_size") {
    return std::make_pair(uint64_t{kMinMaglevTableSize}, uint64_t{XLB_MAGLEV_MAX_M});
  }
  return std::nullopt;
}

absl::Status validateConfig(const v1::Config& config, const Capacity& capacity) {
  Errors errors;
  std::map<VipKey, int> keys;
  std::map<std::string, int> names;
  uint64_t total_backends = 0;
  for (int i = 0; i < config.vips_size(); ++i) {
    const v1::Vip& vip = config.vips(i);
    std::string path = absl::StrCat("vips[", i, "]");
    checkVip(errors, vip, path);
    total_backends += vip.backends_size();
    if (auto key = vipKeyOf(vip); key.ok()) {
      auto [it, inserted] = keys.emplace(*key, i);
      if (!inserted) {
        errors.invalid(path,
                       absl::StrCat(key->toString(), " is already defined by vips[", it->second,
                                    "] (a VIP is identified by address, port and protocol)"));
      }
    }
    if (!vip.name().empty()) {
      auto [it, inserted] = names.emplace(vip.name(), i);
      if (!inserted) {
        errors.invalid(join(path, "name"),
                       absl::StrCat("\"", vip.name(), "\" is already used by vips[", it->second,
                                    "] (names must be unique)"));
      }
    }
  }
  checkBackendsAreNotVips(errors, config);
  internal::checkNatConfig(errors, config);
  internal::checkBgpConfig(errors, config);
  checkVlanIds(errors, config);
  if (static_cast<uint64_t>(config.vips_size()) > capacity.vips) {
    errors.exhausted("vips", absl::StrCat(config.vips_size(),
                                          " VIPs exceed the data-plane limit of ", capacity.vips,
                                          " (xlb-agent --max-vips, at most ", Capacity::kMaxVips,
                                          ")"));
  }
  if (total_backends > capacity.backends) {
    errors.exhausted(
        "vips[*].backends",
        absl::StrCat(total_backends, " backends in total exceed the data-plane limit of ",
                     capacity.backends, " (each VIP membership uses one; xlb-agent "
                     "--max-backends, at most ", Capacity::kMaxBackends, ")"));
  }
  if (config.has_encap()) {
    checkPrefix(errors, "encap.source_v4_prefix", config.encap().source_v4_prefix(), true);
    checkPrefix(errors, "encap.source_v6_prefix", config.encap().source_v6_prefix(), false);
  }
  return errors.status();
}

absl::Status validateVip(const v1::Vip& vip, absl::string_view path) {
  Errors errors;
  checkVip(errors, vip, path);
  return errors.status();
}

absl::Status validateBackend(const v1::Backend& backend, absl::string_view path) {
  Errors errors;
  checkBackend(errors, backend, path);
  return errors.status();
}

absl::Status validateVipKey(const v1::VipKey& key, absl::string_view path) {
  Errors errors;
  checkVipKeyFields(errors, path, key.address(), key.port(), key.protocol(), true);
  return errors.status();
}

absl::Status validateWeight(uint32_t weight, absl::string_view path) {
  Errors errors;
  checkRange(errors, path, weight, 0, XLB_MAX_WEIGHT);
  return errors.status();
}

absl::Status validateBackendAddress(absl::string_view address, absl::string_view path) {
  Errors errors;
  checkAddress(errors, path, address, "a backend", true);
  return errors.status();
}

absl::StatusOr<std::vector<uint32_t>> parseVlanIdList(absl::string_view text,
                                                      absl::string_view flag) {
  Errors errors;
  std::map<uint32_t, std::string> seen;  // id -> the item that named it
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    const std::string path = absl::StrCat(flag, " \"", item, "\"");
    uint32_t lo = 0, hi = 0;
    const size_t dash = item.find('-');
    bool ok = dash == absl::string_view::npos
                  ? absl::SimpleAtoi(item, &lo)
                  : absl::SimpleAtoi(item.substr(0, dash), &lo) &&
                        absl::SimpleAtoi(item.substr(dash + 1), &hi);
    if (dash == absl::string_view::npos) hi = lo;
    if (!ok) {
      errors.invalid(path, "is not a VLAN id or range (e.g. 100,200-205)");
      continue;
    }
    if (lo < kMinVlanId || hi > kMaxVlanId || lo > hi) {
      errors.invalid(path, absl::StrCat("is not within [", kMinVlanId, ", ", kMaxVlanId,
                                        "] as low-high (", kVlanHint, ")"));
      continue;
    }
    for (uint32_t id = lo; id <= hi; ++id) {
      auto [it, inserted] = seen.emplace(id, std::string(item));
      if (!inserted) {
        errors.invalid(path, absl::StrCat("repeats VLAN id ", id, " (already in \"", it->second,
                                          "\"; list each VLAN id once)"));
        break;
      }
    }
  }
  if (auto st = errors.status(); !st.ok()) return st;
  std::vector<uint32_t> out;
  for (const auto& [id, item] : seen) out.push_back(id);
  return out;
}

std::string formatVlanIdList(const std::vector<uint32_t>& ids) {
  if (ids.empty()) return "none";
  std::vector<std::string> parts;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    parts.push_back(j == i ? absl::StrCat(ids[i]) : absl::StrCat(ids[i], "-", ids[j]));
    i = j + 1;
  }
  return absl::StrJoin(parts, ",");
}

std::string canonicalAddress(absl::string_view address) {
  auto addr = parseIpAddress(address);
  return addr.ok() ? addr->toString() : std::string(address);
}

v1::Vip normalizeVip(const v1::Vip& in) {
  v1::Vip vip = in;
  vip.set_address(canonicalAddress(vip.address()));
  if (vip.algorithm() == v1::ALGORITHM_UNSPECIFIED) vip.set_algorithm(v1::ALGORITHM_MAGLEV);
  if (vip.forwarding() == v1::FORWARDING_MODE_UNSPECIFIED) {
    vip.set_forwarding(v1::FORWARDING_MODE_DSR);
  }
  // maglev_table_size stays unset: the planner sizes the table from the backend count.
  if (vip.all_down_policy() == v1::ALL_DOWN_POLICY_UNSPECIFIED) {
    vip.set_all_down_policy(v1::ALL_DOWN_POLICY_KEEP_LAST_HEALTHY);
  }
  if (vip.has_health_check())
    *vip.mutable_health_check() = normalizeHealthCheck(vip.health_check());
  for (auto& backend : *vip.mutable_backends()) {
    backend.set_address(canonicalAddress(backend.address()));
    if (!backend.has_weight()) backend.set_weight(1);
    if (backend.state() == v1::BACKEND_STATE_UNSPECIFIED) {
      backend.set_state(v1::BACKEND_STATE_ACTIVE);
    }
    // A backend override stays as written: its unset fields are inherited from the VIP.
    if (backend.has_health_check() && !backend.health_check().address().empty()) {
      backend.mutable_health_check()->set_address(
          canonicalAddress(backend.health_check().address()));
    }
  }
  if (vip.has_snat_pool()) *vip.mutable_snat_pool() = normalizeSnatPool(vip.snat_pool());
  if (isNat(vip.forwarding())) *vip.mutable_nat_timeouts() = effectiveNatTimeouts(vip);
  return vip;
}

v1::HealthCheck normalizeHealthCheck(const v1::HealthCheck& in) {
  v1::HealthCheck hc = in;
  if (hc.type() == v1::HEALTH_CHECK_TYPE_UNSPECIFIED) hc.set_type(v1::HEALTH_CHECK_TYPE_NONE);
  if (!hc.has_interval_ms()) hc.set_interval_ms(kDefaultIntervalMs);
  if (!hc.has_timeout_ms()) hc.set_timeout_ms(std::min(kDefaultTimeoutMs, hc.interval_ms()));
  if (!hc.has_rise()) hc.set_rise(kDefaultRise);
  if (!hc.has_fall()) hc.set_fall(kDefaultFall);
  if (!hc.has_jitter_percent()) hc.set_jitter_percent(kDefaultJitterPercent);
  if (!hc.address().empty()) hc.set_address(canonicalAddress(hc.address()));
  if (hc.type() == v1::HEALTH_CHECK_TYPE_HTTP) {
    auto* h = hc.mutable_http();
    if (h->method().empty()) h->set_method("GET");
    if (h->path().empty()) h->set_path("/");
    if (h->expected_statuses_size() == 0) {
      auto* r = h->add_expected_statuses();
      r->set_low(200);
      r->set_high(399);
    }
  }
  if (hc.type() == v1::HEALTH_CHECK_TYPE_GRPC) hc.mutable_grpc();  // shown, service ""
  return hc;
}

v1::HealthCheck effectiveHealthCheck(const v1::Vip& vip, const v1::Backend& backend) {
  // Merge the written messages first and fill defaults last, so that a default timeout follows an
  // overridden interval.
  v1::HealthCheck hc = vip.health_check();
  if (backend.has_health_check()) {
    const v1::HealthCheck& o = backend.health_check();
    if (o.type() != v1::HEALTH_CHECK_TYPE_UNSPECIFIED && o.type() != hc.type()) {
      hc.set_type(o.type());
      if (o.type() != v1::HEALTH_CHECK_TYPE_HTTP) hc.clear_http();
      if (o.type() != v1::HEALTH_CHECK_TYPE_GRPC) hc.clear_grpc();
    }
    if (o.has_interval_ms()) hc.set_interval_ms(o.interval_ms());
    if (o.has_timeout_ms()) hc.set_timeout_ms(o.timeout_ms());
    if (o.has_rise()) hc.set_rise(o.rise());
    if (o.has_fall()) hc.set_fall(o.fall());
    if (o.has_jitter_percent()) hc.set_jitter_percent(o.jitter_percent());
    if (!o.address().empty()) hc.set_address(o.address());
    if (o.port() != 0) hc.set_port(o.port());
    if (o.has_http()) *hc.mutable_http() = o.http();
    if (o.has_grpc()) *hc.mutable_grpc() = o.grpc();
  }
  hc = normalizeHealthCheck(hc);
  // An inherited timeout (perhaps the default the VIP's normalization filled in) follows an
  // interval the backend shortened; a timeout written in the override is validated instead.
  if (!backend.health_check().has_timeout_ms() && hc.timeout_ms() > hc.interval_ms()) {
    hc.set_timeout_ms(hc.interval_ms());
  }
  return hc;
}

v1::Config normalize(const v1::Config& in) {
  v1::Config config = in;
  for (auto& vip : *config.mutable_vips()) vip = normalizeVip(vip);
  if (config.has_snat_pool()) *config.mutable_snat_pool() = normalizeSnatPool(config.snat_pool());
  std::sort(config.mutable_vlan_ids()->begin(), config.mutable_vlan_ids()->end());
  auto* encap = config.mutable_encap();
  if (encap->source_v4_prefix().empty()) encap->set_source_v4_prefix(kDefaultEncapV4);
  if (encap->source_v6_prefix().empty()) encap->set_source_v6_prefix(kDefaultEncapV6);
  return config;
}

}  // namespace xlb::config
