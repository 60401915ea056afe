// SPDX-License-Identifier: Apache-2.0
// How the planner's table changes become data-plane writes: every table a phase changes goes in
// one batched swap (Dataplane::setSelectionTables), so an apply that rebuilds N tables waits for
// a grace period per 512 tables, not one per table. A failed swap puts every previous table back
// before it reports the failure; the undo does the same in one batch.
#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "state/plan_internal.h"

namespace xlb::state {
namespace {

std::string describe(const char* verb, const std::vector<std::string>& names) {
  constexpr size_t kShown = 3;
  std::vector<std::string> shown(names.begin(),
                                 names.begin() + static_cast<long>(std::min(kShown, names.size())));
  std::string out = absl::StrCat(verb, " ", names.size() == 1 ? "table of vip " : "tables of vips ",
                                 absl::StrJoin(shown, ", "));
  if (names.size() > kShown) absl::StrAppend(&out, " and ", names.size() - kShown, " more");
  return out;
}

}  // namespace

Step tableStep(dataplane::Dataplane& dp, std::string what, std::vector<TableSwap> swaps) {
  auto shared = std::make_shared<std::vector<TableSwap>>(std::move(swaps));
  auto undo = [&dp, shared]() -> absl::Status {
    std::vector<dataplane::TableWrite> writes;
    for (const TableSwap& s : *shared) {
      auto prev = s.previous();
      if (!prev.ok()) return prev.status();
      if (!prev->has_value()) continue;  // unknown: left as it is
      writes.push_back({s.vip_id, std::move(**prev)});
    }
    return dp.setSelectionTables(writes);
  };
  // A swap that fails part way may have installed some of the new tables: the previous ones go
  // back before the failure is reported (State undoes only the steps before a failed one).
  auto apply = [&dp, shared, undo]() -> absl::Status {
    std::vector<dataplane::TableWrite> writes;
    writes.reserve(shared->size());
    for (const TableSwap& s : *shared) writes.push_back({s.vip_id, s.table});
    absl::Status st = dp.setSelectionTables(writes);
    if (st.ok()) return st;
    if (absl::Status u = undo(); !u.ok()) {
      return absl::Status(st.code(), absl::StrCat(st.message(), "; putting the previous tables "
                                                               "back failed: ",
                                                  u.message()));
    }
    return st;
  };
  return Step{std::move(what), std::move(apply), std::move(undo)};
}

void Planner::Phases::into(dataplane::Dataplane& dp, std::vector<Step>& out) {
  auto move = [&out](std::vector<Step>& phase) {
    for (auto& s : phase) out.push_back(std::move(s));
  };
  for (auto* phase : {&add_backends, &set_snat, &add_eps}) move(*phase);
  if (!set_tables.empty()) {
    out.push_back(tableStep(dp, describe("set", set_table_names), std::move(set_tables)));
  }
  for (auto* phase : {&set_settings, &set_vlans, &set_addrs, &set_vips, &del_vips, &shrink_addrs,
                      &shrink_settings, &del_eps, &del_snat, &del_addrs}) {
    move(*phase);
  }
  if (!del_tables.empty()) {
    out.push_back(tableStep(dp, describe("remove", del_table_names), std::move(del_tables)));
  }
  move(del_backends);
}

}  // namespace xlb::state
