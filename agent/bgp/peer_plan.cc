// SPDX-License-Identifier: Apache-2.0
// planPeers (see peer_plan.h).
#include "bgp/peer_plan.h"

#include <set>

#include "absl/strings/str_join.h"
#include "config/bgp.h"
#include "config/validate.h"

namespace xlb::bgp {

namespace {

// The settings of `want` that `cur` does not have, by name ("" when none). The password is named,
// never shown.
std::string differences(const v1::BgpPeer& want, const ObservedPeer& cur) {
  std::vector<std::string> out;
  if (cur.asn != want.asn()) out.push_back("asn");
  if (cur.hold_time_s != config::bgpPeerHoldTime(want)) out.push_back("hold time");
  // gobgpd reports no port for a peer added without one: that is the default.
  if (cur.remote_port != 0 && cur.remote_port != config::bgpPeerPort(want)) out.push_back("port");
  if (cur.password != want.password()) out.push_back("password");
  if (cur.description != want.description()) out.push_back("description");
  return absl::StrJoin(out, ", ");
}

}  // namespace

std::vector<PeerChange> planPeers(const v1::BgpSettings& settings,
                                  const std::map<std::string, ObservedPeer>& have) {
  std::vector<PeerChange> out;
  std::set<std::string> wanted;
  for (const v1::BgpPeer& p : settings.peers()) {
    const std::string addr = config::canonicalAddress(p.address());
    wanted.insert(addr);
    auto it = have.find(addr);
    if (it == have.end()) {
      out.push_back({addr, PeerChange::Action::kAdd, "new"});
    } else if (std::string diff = differences(p, it->second); !diff.empty()) {
      out.push_back({addr, PeerChange::Action::kReplace, "different " + diff});
    }
  }
  for (const auto& [addr, peer] : have) {
    if (!wanted.count(addr)) out.push_back({addr, PeerChange::Action::kDelete, "not configured"});
  }
  return out;
}

}  // namespace xlb::bgp
