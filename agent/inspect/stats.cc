// SPDX-License-Identifier: Apache-2.0
// gatherStats (see stats.h): the counter reads GetStats and /metrics share.
#include "inspect/stats.h"

#include <utility>

#include "stats/stats.h"

namespace xlb::inspect {
namespace {

// Port allocation failures of every backend of a fullnat VIP (none read when no VIP is one).
absl::Status readNatFailures(dataplane::Dataplane& dataplane, const nat::NatVipMap& modes,
                             const std::vector<state::VipIds>& ids, std::vector<NatFailure>* out) {
  bool any_fullnat = false;
  for (const auto& [id, v] : modes) any_fullnat |= v.mode == v1::FORWARDING_MODE_FULLNAT;
  if (!any_fullnat) return absl::OkStatus();
  auto fails = dataplane.readNatFailures();
  if (!fails.ok()) return fails.status();
  for (const state::VipIds& v : ids) {
    auto m = modes.find(v.id);
    if (m == modes.end() || m->second.mode != v1::FORWARDING_MODE_FULLNAT) continue;
    for (const state::BackendIds& b : v.backends) {
      out->push_back({v.key.toString(), b.address, b.id < fails->size() ? (*fails)[b.id] : 0});
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<StatsReport> gatherStats(const state::State& state, dataplane::Dataplane& dataplane,
                                        const nat::NatCollector* nat, StatsParts parts) {
  StatsReport r;
  // Ids first: a VIP added between the reads simply shows zero counters.
  const std::shared_ptr<const std::vector<state::VipIds>> shared_ids = state.sharedIds();
  const std::vector<state::VipIds>& ids = *shared_ids;
  auto snapshot = dataplane.readCounters();
  if (!snapshot.ok()) return snapshot.status();
  auto open_flows = dataplane.readOpenFlows();
  if (!open_flows.ok()) return open_flows.status();
  const dataplane::FlowTableStatus flow_table = state.flowTableStatus();
  r.stats = stats::buildStats(*snapshot, ids, *open_flows, &flow_table);
  const dataplane::TableWriteCounts tables = dataplane.tableWrites();
  r.stats.mutable_table_writes()->set_flipped(tables.flipped);
  r.stats.mutable_table_writes()->set_swapped(tables.swapped);
  if (nat != nullptr) {
    r.nat = nat->status();
    *r.stats.mutable_nat_table() = nat::toProto(*r.nat);
  }
  if (parts.nat_failures) {
    if (auto st = readNatFailures(dataplane, *state.sharedNatVips(), ids, &r.nat_failures); !st.ok())
      return st;
  }
  if (parts.vip_statuses) {
    auto status = state.vipStatuses();
    if (!status.ok()) return status.status();
    r.vips = std::move(*status);
  }
  return r;
}

}  // namespace xlb::inspect
