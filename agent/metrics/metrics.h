// SPDX-License-Identifier: Apache-2.0
// Prometheus text exposition (format 0.0.4) of the agent's counters and backend state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/dataplane.h"
#include "inspect/stats.h"
#include "nat/gc.h"
#include "state/state.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::metrics {

// About the agent itself (xlb_agent_info, xlb_bpf_program_id, xlb_apply_*).
struct AgentInfo {
  std::string version;
  std::optional<uint32_t> program_id;  // the loaded balancer program, when known
  state::ApplyStats apply;
};

// fullnat port allocation failures of one backend (xlb_nat_fail).
using NatFailure = inspect::NatFailure;

// Everything one scrape renders: what inspect::gatherStats() reads (the numbers GetStats answers
// with), plus the agent's own figures.
struct MetricsInput {
  v1::Stats stats;                  // inspect::StatsReport::stats, as GetStats returns it
  std::vector<v1::VipStatus> vips;  // State::vipStatuses() (in_rotation, all_down)
  AgentInfo agent;
  std::optional<nat::NatTableStatus> nat;  // the NAT collector's figures, when it runs
  std::vector<NatFailure> nat_failures;    // every backend of a fullnat VIP
};

// The agent's version (the CMake project version).
const char* agentVersion();

// One inspect::gatherStats() with every part (counters, open flows, NAT failures, every VIP's
// status). A VIP deleted between the reads is simply absent from `vips` (its rotation gauges are
// then left out of that scrape).
absl::StatusOr<MetricsInput> collectMetrics(const state::State& state,
                                            dataplane::Dataplane& dataplane, AgentInfo agent,
                                            const nat::NatCollector* nat = nullptr);

// Pure: the exposition text. Families are grouped (HELP, TYPE, then all their samples), label
// values escaped, counters named *_total, base units (bytes, seconds).
std::string renderMetrics(const MetricsInput& in);

// Prometheus label-value escaping: backslash, double quote and line feed.
std::string escapeLabelValue(const std::string& value);

}  // namespace xlb::metrics
