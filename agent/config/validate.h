// SPDX-License-Identifier: Apache-2.0
// The one place xlb's configuration rules live: used by the config loader, State and every RPC.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/address.h"
#include "common/capacity.h"
#include "config/enums.h"  // the enum spellings (algorithmName, ...) callers of this header use
#include "xlb/v1/xlb.pb.h"

namespace xlb::config {

inline constexpr uint32_t kMinMaglevTableSize = 1021;
inline constexpr uint32_t kMaglevSizePerBackend = 10;  // M >= 10 x backends keeps load within ~1%
inline constexpr char kDefaultEncapV4[] = "172.16.0.0/16";
inline constexpr char kDefaultEncapV6[] = "fd00:7862::/64";

// Health-check defaults (normalize() writes them into a VIP's health_check).
inline constexpr uint32_t kDefaultIntervalMs = 1000;
inline constexpr uint32_t kDefaultTimeoutMs = 500;  // capped at the interval
inline constexpr uint32_t kDefaultRise = 2;
inline constexpr uint32_t kDefaultFall = 2;
inline constexpr uint32_t kDefaultJitterPercent = 10;
inline constexpr uint32_t kMinIntervalMs = 10;
inline constexpr uint32_t kMaxIntervalMs = 3'600'000;

// NAT (forwarding nat / fullnat): idle-timeout defaults and bounds (proto NatTimeouts), seconds.
inline constexpr uint32_t kDefaultNatSynS = 60;
inline constexpr uint32_t kDefaultNatEstablishedS = 21600;
inline constexpr uint32_t kDefaultNatClosingS = 10;
inline constexpr uint32_t kDefaultNatUdpS = 60;
inline constexpr uint32_t kMaxNatTimeoutS = 2'592'000;  // 30 days

// A VIP's identity, parsed: address + port + protocol. Ordered, so usable as a map key.
struct VipKey {
  IpAddress address;
  uint16_t port = 0;
  v1::Protocol protocol = v1::PROTOCOL_UNSPECIFIED;

  auto operator<=>(const VipKey&) const = default;
  // "10.0.0.10:80/tcp", "[2001:db8::10]:443/udp".
  std::string toString() const;
  v1::VipKey toProto() const;
};

// Parse the identity of an already validated VIP / key (INVALID_ARGUMENT otherwise).
absl::StatusOr<VipKey> vipKeyOf(const v1::Vip& vip);
absl::StatusOr<VipKey> vipKeyOf(const v1::VipKey& key);

// Documented [min, max] of a numeric field by full proto name ("xlb.v1.Backend.weight"), if any.
// The YAML parser uses it to word out-of-range values exactly like the validator.
std::optional<std::pair<uint64_t, uint64_t>> fieldRange(absl::string_view full_name);

// Every rule of the whole config; all violations at once, one per line, each naming the field path,
// the value and a hint. INVALID_ARGUMENT, or RESOURCE_EXHAUSTED when the only problems are
// data-plane limits: `capacity` (the loaded data plane's, see common/capacity.h).
absl::Status validateConfig(const v1::Config& config, const Capacity& capacity = {});

// The same rules for single pieces (RPC requests); `path` prefixes every message ("vip.port: ...").
absl::Status validateVip(const v1::Vip& vip, absl::string_view path);
absl::Status validateBackend(const v1::Backend& backend, absl::string_view path);
absl::Status validateVipKey(const v1::VipKey& key, absl::string_view path);
absl::Status validateWeight(uint32_t weight, absl::string_view path);
// A backend address (not a full Backend message), e.g. DeleteBackendRequest.address.
absl::Status validateBackendAddress(absl::string_view address, absl::string_view path);

// A backend named by a request (DeleteBackendRequest.address, NatFilter.backend, lbctl --backend
// filters): "ADDR" (any port: the one backend at that address, or all of them for a filter),
// "ADDR:PORT" or "[V6]:PORT" (port 0..65535; 0 = the VIP's port, as in Backend.port). The address
// only needs to be unicast (it names something that exists). Errors name `path` and the text.
struct BackendRef {
  IpAddress address;
  std::optional<uint16_t> port;
  // Whether `backend` of `vip` is the one named (a port compares with the backend's effective port:
  // its own, or the VIP's when 0).
  bool matches(const v1::Vip& vip, const v1::Backend& backend) const;
};
absl::StatusOr<BackendRef> parseBackendRef(absl::string_view text, absl::string_view path);

// The agent's --vlan-ids value: comma-separated ids and inclusive ranges ("100,200-205"), each id
// 1..4094 and at most once; empty text = none. Sorted ascending. Errors name `flag` and the item.
absl::StatusOr<std::vector<uint32_t>> parseVlanIdList(absl::string_view text, absl::string_view flag);
// Renders sorted ids the way parseVlanIdList reads them, runs as ranges ("100,200-205"); "none".
std::string formatVlanIdList(const std::vector<uint32_t>& sorted_ids);

// Fills defaults (weight 1, algorithm maglev, forwarding dsr, encap
// prefixes) and canonicalises addresses, so GetConfig shows the effective values. Call on a valid
// config; unparsable addresses are left as written.
v1::Config normalize(const v1::Config& config);
v1::Vip normalizeVip(const v1::Vip& vip);
// A pool with canonical addresses and its port range filled (0-0 = XLB_NAT_DEFAULT_PORT_MIN..MAX).
// normalize() applies it to the config's and each VIP's pool, and fills a nat / fullnat VIP's
// nat_timeouts with effectiveNatTimeouts().
v1::SnatPool normalizeSnatPool(const v1::SnatPool& pool);
// A VIP's NAT idle timeouts, unset ones at their defaults (kDefaultNat*).
v1::NatTimeouts effectiveNatTimeouts(const v1::Vip& vip);
// The pool a fullnat VIP allocates from: its own when it lists addresses, else the config's
// (normalized; empty when neither has addresses).
v1::SnatPool effectiveSnatPool(const v1::Config& config, const v1::Vip& vip);

// The check that applies to one backend: the VIP's default (normalized) with the backend's override
// on top (fields the override leaves unset are inherited; a changed type drops the other type's
// sub-message), defaults filled. No health_check anywhere = type none.
v1::HealthCheck effectiveHealthCheck(const v1::Vip& vip, const v1::Backend& backend);
// Fills every default of a check whose type is set (interval, timeout, rise, fall, jitter, http).
v1::HealthCheck normalizeHealthCheck(const v1::HealthCheck& check);

// Canonical text of an address literal ("2001:DB8:0::1" -> "2001:db8::1"), or the input if invalid.
std::string canonicalAddress(absl::string_view address);

}  // namespace xlb::config
