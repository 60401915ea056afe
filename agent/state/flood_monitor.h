// SPDX-License-Identifier: Apache-2.0
// Flood protection's periodic work (README "Flow-table floods"): measures the new-flow rate, detects
// floods (events KIND_FLOOD_STARTED / KIND_FLOOD_ENDED), and expires idle protected flows with a
// bounded pass per tick. Runs on the reconciler's thread after the open-flow recount.
#pragma once

#include <cstddef>

#include "dataplane/dataplane.h"
#include "dataplane/flood.h"
#include "state/state.h"

namespace xlb::state {

class FloodMonitor {
 public:
  struct Options {
    dataplane::ProtectedTimeouts timeouts;
    // New flows/s at which a flood starts (it ends below half of it for two ticks); 0 = the flow
    // table turns over in a minute (capacity / 60 s).
    double flood_rate = 0;
    size_t max_changes = 65536;  // protected-table deletions + refreshes per tick
  };
  FloodMonitor(State& state, dataplane::Dataplane& dp, Options opts);

  // One tick: rate, detection (and event), expiry; the results go into State::flowTableStatus().
  void tick();

 private:
  void publish(bool started, const dataplane::FlowTableStatus& s);

  State& state_;
  dataplane::Dataplane& dp_;
  Options opts_;
  dataplane::FloodDetector detector_;
};

}  // namespace xlb::state
