// SPDX-License-Identifier: Apache-2.0
// Gathers one scrape's input through inspect::gatherStats, the reads GetStats makes.
#include <utility>

#include "metrics/metrics.h"

#ifndef XLB_VERSION
#define XLB_VERSION "unknown"
#endif

namespace xlb::metrics {

const char* agentVersion() { return XLB_VERSION; }

absl::StatusOr<MetricsInput> collectMetrics(const state::State& state,
                                            dataplane::Dataplane& dataplane, AgentInfo agent,
                                            const nat::NatCollector* nat) {
  auto report =
      inspect::gatherStats(state, dataplane, nat, {.nat_failures = true, .vip_statuses = true});
  if (!report.ok()) return report.status();
  MetricsInput in;
  in.stats = std::move(report->stats);
  in.vips = std::move(report->vips);
  in.nat = std::move(report->nat);
  in.nat_failures = std::move(report->nat_failures);
  in.agent = std::move(agent);
  return in;
}

}  // namespace xlb::metrics
