// SPDX-License-Identifier: Apache-2.0
// Validation of the `bgp` section and of each VIP's `bgp` (communities, MED, health gate), and the
// section's effective values.
#include "config/bgp.h"

#include <map>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "config/checks.h"

namespace xlb::config {
namespace {

constexpr char kCommunityHint[] =
    "a community is \"ASN:VALUE\" with both parts in [0, 65535], e.g. \"65000:100\", or "
    "no-export, no-advertise, no-export-subconfed, graceful-shutdown";

struct WellKnown {
  const char* name;
  uint32_t value;
};
constexpr WellKnown kWellKnown[] = {
    {"no-export", 0xffffff01u},
    {"no-advertise", 0xffffff02u},
    {"no-export-subconfed", 0xffffff03u},
    {"graceful-shutdown", kGracefulShutdownCommunity},
};

std::optional<uint32_t> communityValue(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  for (const WellKnown& w : kWellKnown) {
    if (lower == w.name) return w.value;
  }
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  uint32_t hi = 0, lo = 0;
  if (parts.size() == 2 && absl::SimpleAtoi(parts[0], &hi) && absl::SimpleAtoi(parts[1], &lo) &&
      hi <= 65535 && lo <= 65535) {
    return (hi << 16) | lo;
  }
  return std::nullopt;
}

std::string notACommunity(absl::string_view text) {
  return absl::StrCat("\"", text, "\" is not a BGP community (", kCommunityHint, ")");
}

void checkCommunities(internal::Errors& errors,
                      const google::protobuf::RepeatedPtrField<std::string>& list,
                      absl::string_view path) {
  std::map<uint32_t, int> seen;
  for (int i = 0; i < list.size(); ++i) {
    const std::string ipath = absl::StrCat(path, "[", i, "]");
    auto c = communityValue(list[i]);
    if (!c) {
      errors.invalid(ipath, notACommunity(list[i]));
      continue;
    }
    auto [it, inserted] = seen.emplace(*c, i);
    if (!inserted) {
      errors.invalid(ipath, absl::StrCat("\"", list[i], "\" duplicates ", path, "[", it->second,
                                         "] (list each community once)"));
    }
  }
}

void checkPeer(internal::Errors& errors, const v1::BgpPeer& peer, absl::string_view path) {
  internal::checkAddress(errors, internal::join(path, "address"), peer.address(), "a BGP peer");
  if (peer.asn() == 0) {
    errors.invalid(internal::join(path, "asn"),
                   "missing (the router's AS number, 1..4294967295; equal to local_asn for iBGP)");
  }
  if (peer.port() > 65535) {
    errors.invalid(internal::join(path, "port"),
                   absl::StrCat(peer.port(), " is not in [1, 65535] (0 = the default 179)"));
  }
  const uint32_t hold = peer.hold_time_s();
  if (hold > 65535 || (hold != 0 && hold < kMinBgpHoldTimeS)) {
    errors.invalid(internal::join(path, "hold_time_s"),
                   absl::StrCat(hold, " is not 0 (default ", kDefaultBgpHoldTimeS,
                                " s) or in [3, 65535] (RFC 4271 allows no hold time of 1 or 2 s)"));
  }
  if (peer.password().size() > kMaxBgpPasswordLength) {
    errors.invalid(internal::join(path, "password"),
                   absl::StrCat(peer.password().size(),
                                " characters exceed the TCP MD5 key limit "
                                "of ",
                                kMaxBgpPasswordLength));
  }
  for (char ch : peer.password()) {
    if (!absl::ascii_isprint(static_cast<unsigned char>(ch))) {
      errors.invalid(internal::join(path, "password"),
                     "contains a non-printable character (gobgpd takes printable ASCII only)");
      break;
    }
  }
}

}  // namespace

absl::StatusOr<uint32_t> parseCommunity(absl::string_view text, absl::string_view path) {
  if (auto c = communityValue(text)) return *c;
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", notACommunity(text)));
}

std::string formatCommunity(uint32_t community) {
  return absl::StrCat(community >> 16, ":", community & 0xffff);
}

uint32_t bgpPeerPort(const v1::BgpPeer& peer) {
  return peer.port() != 0 ? peer.port() : kDefaultBgpPort;
}
uint32_t bgpPeerHoldTime(const v1::BgpPeer& peer) {
  return peer.hold_time_s() != 0 ? peer.hold_time_s() : kDefaultBgpHoldTimeS;
}
uint32_t bgpDrainWaitMs(const v1::BgpSettings& bgp) {
  return bgp.has_drain_wait_ms() ? bgp.drain_wait_ms() : kDefaultBgpDrainWaitMs;
}
uint32_t bgpDrainMedPenalty(const v1::BgpSettings& bgp) {
  return bgp.has_drain_med_penalty() ? bgp.drain_med_penalty() : kDefaultBgpDrainMedPenalty;
}
uint32_t bgpCheckIntervalMs(const v1::BgpSettings& bgp) {
  return bgp.has_check_interval_ms() ? bgp.check_interval_ms() : kDefaultBgpCheckIntervalMs;
}
uint32_t bgpAnnounceDelayMs(const v1::BgpSettings& bgp) {
  return bgp.has_announce_delay_ms() ? bgp.announce_delay_ms() : kDefaultBgpAnnounceDelayMs;
}
bool vipAnnounced(const v1::Vip& vip) {
  return !vip.has_bgp() || !vip.bgp().has_announce() || vip.bgp().announce();
}
uint32_t vipMinHealthyBackends(const v1::Vip& vip) {
  return vip.bgp().has_min_healthy_backends() ? vip.bgp().min_healthy_backends()
                                              : kDefaultMinHealthyBackends;
}

namespace internal {

void checkBgpVip(Errors& errors, const v1::Vip& vip, absl::string_view path) {
  if (!vip.has_bgp()) return;
  const std::string bpath = join(path, "bgp");
  checkCommunities(errors, vip.bgp().communities(), join(bpath, "communities"));
  if (vip.bgp().has_min_healthy_backends()) {
    checkRange(errors, join(bpath, "min_healthy_backends"), vip.bgp().min_healthy_backends(), 0,
               65535);
  }
}

void checkBgpConfig(Errors& errors, const v1::Config& config) {
  if (!config.has_bgp()) return;
  const v1::BgpSettings& bgp = config.bgp();
  if (bgp.local_asn() == 0) {
    errors.invalid("bgp.local_asn", "missing (this host's AS number, 1..4294967295, e.g. 65001)");
  }
  if (bgp.router_id().empty()) {
    errors.invalid("bgp.router_id",
                   "missing (an IPv4 address unique to this host, usually its own)");
  } else if (auto id = parseIpAddress(bgp.router_id()); !id.ok() || !id->isV4()) {
    errors.invalid("bgp.router_id",
                   absl::StrCat("\"", bgp.router_id(),
                                "\" is not an IPv4 address (the BGP identifier is 32 bits, written "
                                "as an IPv4 address even on an IPv6-only host)"));
  } else if (id->toString() == "0.0.0.0") {
    errors.invalid("bgp.router_id", "\"0.0.0.0\" is not a usable BGP identifier");
  }
  std::map<IpAddress, int> seen;
  for (int i = 0; i < bgp.peers_size(); ++i) {
    const std::string ppath = absl::StrCat("bgp.peers[", i, "]");
    checkPeer(errors, bgp.peers(i), ppath);
    auto addr = parseIpAddress(bgp.peers(i).address());
    if (!addr.ok()) continue;
    auto [it, inserted] = seen.emplace(*addr, i);
    if (!inserted) {
      errors.invalid(join(ppath, "address"),
                     absl::StrCat("\"", bgp.peers(i).address(), "\" duplicates bgp.peers[",
                                  it->second, "] (one session per router address)"));
    }
  }
  checkCommunities(errors, bgp.communities(), "bgp.communities");
  if (bgp.has_drain_wait_ms()) {
    checkRange(errors, "bgp.drain_wait_ms", bgp.drain_wait_ms(), 0, kMaxBgpDrainWaitMs);
  }
  if (bgp.has_check_interval_ms()) {
    checkRange(errors, "bgp.check_interval_ms", bgp.check_interval_ms(), kMinBgpCheckIntervalMs,
               kMaxBgpCheckIntervalMs);
  }
  if (bgp.has_announce_delay_ms()) {
    checkRange(errors, "bgp.announce_delay_ms", bgp.announce_delay_ms(), 0, kMaxBgpAnnounceDelayMs);
  }
}

}  // namespace internal
}  // namespace xlb::config
