// SPDX-License-Identifier: Apache-2.0
// Turns raw data-plane counters (indexed by ids) into the named, per-VIP/per-backend Stats message.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "dataplane/dataplane.h"
#include "state/state.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::stats {

// Names of the XLB_STAT_* / XLB_DROP_* indexes, in index order (size XLB_STAT_MAX / XLB_DROP_MAX).
const std::vector<std::string>& globalCounterNames();
const std::vector<std::string>& dropReasonNames();

// Global counters in a stable, readable order (rx first), drops in index order, then one VipStats
// per configured VIP with its backends, resolved through State's id mapping. Counter vectors
// shorter than expected are treated as zeros. `open_flows` (by backend id, readOpenFlows()) fills
// BackendStats.open_flows; health and state come from `ids`.
// `flow_table` (State::flowTableStatus()) fills Stats.flow_table when given.
v1::Stats buildStats(const dataplane::CounterSnapshot& snapshot, std::span<const state::VipIds> ids,
                     std::span<const uint64_t> open_flows = {},
                     const dataplane::FlowTableStatus* flow_table = nullptr);

}  // namespace xlb::stats
