// SPDX-License-Identifier: Apache-2.0
// State's plan types, shared by the files that build plans (state.cc, nat_plan.cc); not a public
// header.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "state/state.h"

namespace xlb::state {

// One data-plane write and how to undo it.
struct State::Step {
  std::string what;
  std::function<absl::Status()> apply;
  std::function<absl::Status()> undo;
};

struct State::Plan {
  Model next;
  std::vector<Step> steps;
  std::vector<std::string> lines;
};

// NAT phases: pools and endpoints are in place before a VIP entry uses them and go after the
// entries that used them are gone.
struct State::NatSteps {
  std::vector<Step> set_snat, add_eps, del_eps, del_snat;
};

}  // namespace xlb::state
