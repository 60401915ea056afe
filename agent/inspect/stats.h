// SPDX-License-Identifier: Apache-2.0
// The agent's one counter gatherer: data-plane counters resolved per VIP and per backend, open
// flows, flow-table and NAT-table fill, fullnat port-allocation failures and rotation statuses.
// inspect/ owns these reads; GetStats (api/) and every /metrics scrape (metrics/) call gatherStats,
// so both report the same numbers from the same reads. stats/ names the counters it resolves.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/dataplane.h"
#include "nat/gc.h"
#include "state/state.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::inspect {

// fullnat port allocation failures of one backend (xlb_nat_fail).
struct NatFailure {
  std::string vip;      // "10.0.0.10:80/tcp"
  std::string backend;  // BackendIds::address
  uint64_t count = 0;
};

// What gatherStats reads beyond v1::Stats: GetStats answers with Stats alone, a scrape asks for
// everything.
struct StatsParts {
  bool nat_failures = false;  // every backend of a fullnat VIP (skipped when there is none)
  bool vip_statuses = false;  // State::vipStatuses(): in_rotation, all_down
};

struct StatsReport {
  v1::Stats stats;                         // stats::buildStats(); nat_table from the collector
  std::optional<nat::NatTableStatus> nat;  // the collector's last pass, when one runs
  std::vector<NatFailure> nat_failures;    // when StatsParts::nat_failures
  std::vector<v1::VipStatus> vips;         // when StatsParts::vip_statuses
};

// Reads State's ids first, then the data plane's counters and open flows: a VIP added between
// the reads shows zero counters, one deleted is left out. A VIP added or deleted before
// vipStatuses() has counters without status or the reverse; consumers show what each side has.
// Errors are the data plane's read errors, unchanged.
absl::StatusOr<StatsReport> gatherStats(const state::State& state, dataplane::Dataplane& dataplane,
                                        const nat::NatCollector* nat = nullptr,
                                        StatsParts parts = {});

}  // namespace xlb::inspect
