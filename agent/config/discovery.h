// SPDX-License-Identifier: Apache-2.0
// Backends by name in the config: the defaults and bounds of a VIP's `dns`, `srv`, `allow_empty`
// and `discovery` fields, and which of a VIP's backends discovery owns (those with a source).
// The rules themselves run from validate.cc (checkDiscoveryVip in checks.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "xlb/v1/xlb.pb.h"

namespace xlb::config {

inline constexpr uint32_t kDefaultMinTtlMs = 1000;
inline constexpr uint32_t kDefaultMaxTtlMs = 300'000;
inline constexpr uint32_t kDefaultHoldEmptyMs = 30'000;
inline constexpr uint32_t kDefaultDrainLimitMs = 300'000;
inline constexpr uint32_t kMinTtlFloorMs = 100;
inline constexpr uint32_t kMaxDiscoveryMs = 86'400'000;
inline constexpr int kMaxDnsNames = 64;

// The VIP lists names (dns.names or srv).
bool hasDiscovery(const v1::Vip& vip);
// A backend discovery added (source kind dns or srv); the others are the operator's literals.
bool isDiscovered(const v1::Backend& backend);
// The VIP's discovery options with every unset field at its default.
v1::DiscoveryOptions effectiveDiscoveryOptions(const v1::Vip& vip);
// Every name the VIP lists, dns.names first, then srv.
std::vector<std::string> discoveryNames(const v1::Vip& vip);
// HAProxy's `init-addr last` for a config that replaces a saved state: each VIP of `to` that lists
// names and holds no discovered backend gets `from`'s discovered backends of the same VIP (same
// address, port and protocol) for the names it still lists. Returns how many were copied.
int copyDiscoveredBackends(const v1::Config& from, v1::Config* to);
// A host name as DNS carries it: 1..253 characters, labels of 1..63 of A-Z a-z 0-9 - _ (an
// optional trailing dot). Empty when valid, else why not.
std::string hostNameProblem(const std::string& name);

}  // namespace xlb::config
