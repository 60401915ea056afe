// SPDX-License-Identifier: Apache-2.0
// Which BGP peers the daemon must add, replace or delete to match the config, decided from what the
// daemon reports of its running peers (gobgpd 3.10's ListPeer includes the password), so a setting
// changed while no agent ran (a new password, say) is seen by the next agent.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "xlb/v1/xlb.pb.h"

namespace xlb::bgp {

// What the daemon reports of a running peer.
struct ObservedPeer {
  uint32_t asn = 0;
  uint32_t hold_time_s = 0;
  uint32_t remote_port = 0;  // 0: not reported
  std::string password;
  std::string description;
};

struct PeerChange {
  enum class Action { kAdd, kReplace, kDelete };
  std::string address;  // canonical
  Action action = Action::kAdd;
  std::string why;  // for the log: "new", "different password", ...
};

// The changes that make the daemon's peers (`have`, by canonical address) equal to
// `settings.peers`: missing peers are added, peers whose ASN, hold time, port, password or
// description differ are replaced (their session restarts), unconfigured ones deleted. Peers that
// match are left alone, so an agent restart resets no session.
std::vector<PeerChange> planPeers(const v1::BgpSettings& settings,
                                  const std::map<std::string, ObservedPeer>& have);

}  // namespace xlb::bgp
