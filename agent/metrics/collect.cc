// SPDX-License-Identifier: Apache-2.0
// Gathers one scrape's input from State and the data plane, the way GetStats and ListBackends do.
#include "absl/status/status.h"
#include "metrics/metrics.h"
#include "stats/stats.h"

#ifndef XLB_VERSION
#define XLB_VERSION "unknown"
#endif

namespace xlb::metrics {

const char* agentVersion() { return XLB_VERSION; }

absl::StatusOr<MetricsInput> collectMetrics(const state::State& state,
                                            dataplane::Dataplane& dataplane, AgentInfo agent,
                                            const nat::NatCollector* nat) {
  MetricsInput in;
  // Ids first, as GetStats does: a VIP added between the reads shows zero counters.
  std::vector<state::VipIds> ids = state.ids();
  auto snapshot = dataplane.readCounters();
  if (!snapshot.ok()) return snapshot.status();
  auto open_flows = dataplane.readOpenFlows();
  if (!open_flows.ok()) return open_flows.status();
  const dataplane::FlowTableStatus flow_table = state.flowTableStatus();
  in.stats = stats::buildStats(*snapshot, ids, *open_flows, &flow_table);
  if (nat != nullptr) {
    in.nat = nat->status();
    *in.stats.mutable_nat_table() = nat::toProto(*in.nat);
  }
  nat::NatVipMap modes = state.natVips();
  bool any_fullnat = false;
  for (const auto& [id, v] : modes) any_fullnat |= v.mode == v1::FORWARDING_MODE_FULLNAT;
  if (any_fullnat) {
    auto fails = dataplane.readNatFailures();
    if (!fails.ok()) return fails.status();
    for (const state::VipIds& v : ids) {
      auto m = modes.find(v.id);
      if (m == modes.end() || m->second.mode != v1::FORWARDING_MODE_FULLNAT) continue;
      for (const state::BackendIds& b : v.backends) {
        in.nat_failures.push_back(
            {v.key.toString(), b.address, b.id < fails->size() ? (*fails)[b.id] : 0});
      }
    }
  }
  // A VIP added or deleted between the two reads has counters without status or the reverse; the
  // renderer emits what each side has.
  auto status = state.vipStatuses();
  if (!status.ok()) return status.status();
  in.vips = std::move(*status);
  in.agent = std::move(agent);
  return in;
}

}  // namespace xlb::metrics
