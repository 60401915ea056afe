// SPDX-License-Identifier: Apache-2.0
// Which BGP peers the daemon must add, replace or delete to match the config, and the record of
// the peer settings this host applied (kept in the agent's state dir): gobgpd never reports a
// peer's password back, so after an agent restart only that record tells whether the running
// peer still has the configured password.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::bgp {

// What the daemon reports of a running peer (no password).
struct ObservedPeer {
  uint32_t asn = 0;
  uint32_t hold_time_s = 0;
  uint32_t remote_port = 0;  // 0: not reported
};

struct PeerChange {
  enum class Action { kAdd, kReplace, kDelete };
  std::string address;  // canonical
  Action action = Action::kAdd;
  std::string why;  // for the log: "new", "password changed", ...
};

// A digest of every setting of `peer` that the daemon applies (ASN, port, hold time, password,
// description). FNV-1a 64 in hex: stable across builds and hosts. It protects nothing: the state
// dir that keeps it also keeps the config with the password in clear (state.yaml).
std::string peerDigest(const v1::BgpPeer& peer);

// The changes that make the daemon's peers (`have`) equal to `settings.peers`. `applied` holds the
// digest this host recorded for a peer when it set it up. A running peer with a recorded digest is
// replaced when the digest differs (any setting, password included); one without (set up by an
// agent that kept no record) is compared on what the daemon reports, so the first agent that
// records adopts it as it runs.
std::vector<PeerChange> planPeers(const v1::BgpSettings& settings,
                                  const std::map<std::string, ObservedPeer>& have,
                                  const std::map<std::string, std::string>& applied);

// The record file: one "ADDRESS DIGEST" line per peer. A missing file is an empty record.
absl::StatusOr<std::map<std::string, std::string>> loadAppliedPeers(const std::string& path);
// Written whole (temporary file, then rename).
absl::Status saveAppliedPeers(const std::string& path,
                              const std::map<std::string, std::string>& applied);

}  // namespace xlb::bgp
