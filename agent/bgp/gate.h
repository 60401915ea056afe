// SPDX-License-Identifier: Apache-2.0
// The health gate, pure: from the applied config and the VIPs' observed state, which VIP prefixes
// this host should announce, with which attributes, and why (or why not). No clock, no I/O.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bgp/speaker.h"
#include "state/state.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::bgp {

struct GateInput {
  // The applied config (State::config()), shared: the agent re-reads it only when State publishes
  // a new snapshot, not on every evaluation.
  std::shared_ptr<const v1::Config> config = std::make_shared<const v1::Config>();
  std::vector<v1::VipStatus> vips;  // State::vipStatuses()
  bool attached = true;             // the balancer program is attached to the interface
};

struct PrefixVerdict {
  Route route;  // the attributes it is announced with when it passes
  bool pass = false;
  std::string reason;
  std::vector<v1::VipKey> vips;  // the VIPs on the address, config order
};

// One verdict per VIP address (a /32 or /128 carries every VIP on it): it passes when the program
// is attached and every VIP on the address that is announced (bgp.announce unset or true) has its
// table installed and at least bgp.min_healthy_backends backends in rotation and not down. A VIP
// that fails takes its address down with it (the router cannot route per port), so the reason
// names it. MED: the first VIP on the address that sets bgp.med, else the section's; communities:
// the section's and every VIP's, sorted. Empty without a bgp section.
std::map<std::string, PrefixVerdict> evaluateGate(const GateInput& in);

// The gate's input from State's cheap reads (config() and ids(), no data-plane read): a backend
// counts as in rotation when active, weighted and not down.
GateInput gateInputOf(std::shared_ptr<const v1::Config> config,
                      const std::vector<state::VipIds>& ids, bool attached);

// The agent's gate input, read from `state` on every call: the config is copied only when State
// published a new snapshot, and the VIPs' state is read only while the config has a bgp section.
// `state` must outlive the function.
std::function<GateInput()> stateGateInput(const state::State& state, bool attached);

// "10.0.0.10/32", "fd00::10/128" for a VIP address (canonical text).
std::string prefixOf(const std::string& address, bool* v6 = nullptr);

}  // namespace xlb::bgp
