// SPDX-License-Identifier: Apache-2.0
// The `bgp` section's rules and defaults (BgpSettings, VipBgp), shared by the validator and the
// agent's bgp module so both read a community or a default the same way.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::config {

inline constexpr uint32_t kDefaultBgpPort = 179;
inline constexpr uint32_t kDefaultBgpHoldTimeS = 9;
inline constexpr uint32_t kMinBgpHoldTimeS = 3;  // RFC 4271 §4.2: 0 or at least 3
inline constexpr uint32_t kDefaultBgpDrainWaitMs = 5000;
inline constexpr uint32_t kMaxBgpDrainWaitMs = 600'000;
inline constexpr uint32_t kDefaultBgpDrainMedPenalty = 100;
inline constexpr uint32_t kDefaultBgpCheckIntervalMs = 50;
inline constexpr uint32_t kMinBgpCheckIntervalMs = 10;
inline constexpr uint32_t kMaxBgpCheckIntervalMs = 60'000;
inline constexpr uint32_t kDefaultBgpAnnounceDelayMs = 1000;
inline constexpr uint32_t kMaxBgpAnnounceDelayMs = 600'000;
inline constexpr uint32_t kDefaultMinHealthyBackends = 1;
inline constexpr uint32_t kMaxBgpPasswordLength = 80;  // TCP_MD5SIG_MAXKEYLEN
// RFC 8326 GRACEFUL_SHUTDOWN, 65535:0.
inline constexpr uint32_t kGracefulShutdownCommunity = 0xffff0000u;

// "65000:100" (each half 0..65535) or a well-known name (no-export, no-advertise,
// no-export-subconfed, graceful-shutdown) -> the 32-bit community. INVALID_ARGUMENT naming `path`.
absl::StatusOr<uint32_t> parseCommunity(absl::string_view text, absl::string_view path);
// The canonical text of a community: "65000:100" (names are not used on output).
std::string formatCommunity(uint32_t community);

// Effective values (the defaults above when unset).
uint32_t bgpPeerPort(const v1::BgpPeer& peer);
uint32_t bgpPeerHoldTime(const v1::BgpPeer& peer);
uint32_t bgpDrainWaitMs(const v1::BgpSettings& bgp);
uint32_t bgpDrainMedPenalty(const v1::BgpSettings& bgp);
uint32_t bgpCheckIntervalMs(const v1::BgpSettings& bgp);
uint32_t bgpAnnounceDelayMs(const v1::BgpSettings& bgp);
bool vipAnnounced(const v1::Vip& vip);
uint32_t vipMinHealthyBackends(const v1::Vip& vip);

}  // namespace xlb::config
