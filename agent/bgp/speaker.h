// SPDX-License-Identifier: Apache-2.0
// What the bgp module needs from a BGP daemon: take the global settings and peers, originate and
// withdraw host routes, tell which routes it originates and how its sessions are. GoBgpSpeaker
// (gobgpd over its gRPC API) implements it; tests use FakeSpeaker.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::bgp {

// One originated host route: a VIP address as /32 or /128, next hop self.
struct Route {
  std::string prefix;  // "10.0.0.10/32", "fd00::10/128" (canonical address text)
  bool v6 = false;
  uint32_t med = 0;
  std::vector<uint32_t> communities;  // sorted, unique

  bool operator==(const Route&) const = default;
};

struct PeerInfo {
  std::string address;
  uint32_t asn = 0;
  std::string description;
  std::string session_state;      // idle, connect, active, opensent, openconfirm, established
  uint64_t uptime_unix_ms = 0;    // when the session last became established (0: never)
  uint64_t downtime_unix_ms = 0;  // when it last went down (0: never)
  uint32_t negotiated_hold_time_s = 0;
  uint32_t flops = 0;
};

class Speaker {
 public:
  virtual ~Speaker() = default;
  // Where the daemon is reached (for status), e.g. "unix:///run/xlb/gobgpd.sock".
  virtual std::string address() const = 0;
  // Makes the daemon run with these global settings and exactly these peers. Idempotent: what
  // already matches is left alone (no session is reset). A different ASN or router id restarts
  // the daemon's BGP instance, which drops every session.
  virtual absl::Status configure(const v1::BgpSettings& settings) = 0;
  // The routes this host originates now (added through the API), by prefix.
  virtual absl::StatusOr<std::map<std::string, Route>> listRoutes() = 0;
  // Originates `route`, replacing an earlier one of the same prefix (one UPDATE, no withdraw).
  virtual absl::Status announce(const Route& route) = 0;
  virtual absl::Status withdraw(const Route& route) = 0;
  virtual absl::StatusOr<std::vector<PeerInfo>> listPeers() = 0;
};

}  // namespace xlb::bgp
