// SPDX-License-Identifier: Apache-2.0
// How the planner's table and backend-slot changes become data-plane writes: every table a phase
// changes goes in one batched swap (Dataplane::setSelectionTables), so an apply that rebuilds N
// tables waits for a grace period per batch of up to 4,096 tables, not one per table; every
// backend slot and port in one batched write each (10,000 VIPs x 10 backends: 200,000 single
// writes before). A failed batch puts every previous value back before it reports the failure;
// the undo does the same.
#include <algorithm>
#include <functional>
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

// A step whose apply restores everything itself when it fails part way (State undoes only the
// steps before a failed one).
Step selfRestoring(std::string what, std::function<absl::Status()> apply,
                   std::function<absl::Status()> undo) {
  auto run = [apply = std::move(apply), undo]() -> absl::Status {
    absl::Status st = apply();
    if (st.ok()) return st;
    if (absl::Status u = undo(); !u.ok()) {
      return absl::Status(st.code(), absl::StrCat(st.message(),
                                                  "; putting the previous values back failed: ",
                                                  u.message()));
    }
    return st;
  };
  return Step{std::move(what), std::move(run), std::move(undo)};
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
  // back before the failure is reported. A step is applied once, so the new tables move into the
  // batch and are freed with it (10,000 VIPs of 1,021 slots: a 40 MB copy less at the peak of an
  // apply that rebuilds every table).
  auto apply = [&dp, shared]() -> absl::Status {
    std::vector<dataplane::TableWrite> writes;
    writes.reserve(shared->size());
    for (TableSwap& s : *shared) writes.push_back({s.vip_id, std::move(s.table)});
    return dp.setSelectionTables(writes);
  };
  return selfRestoring(std::move(what), std::move(apply), std::move(undo));
}

void slotSteps(dataplane::Dataplane& dp, std::vector<PortWrite> ports,
               std::vector<SlotWrite> slots, std::vector<uint32_t>* gens, std::vector<Step>& out) {
  if (!ports.empty()) {
    auto shared = std::make_shared<std::vector<PortWrite>>(std::move(ports));
    auto apply = [&dp, shared]() {
      std::vector<std::pair<uint32_t, xlb_be_nat>> w;
      w.reserve(shared->size());
      for (const PortWrite& p : *shared) w.emplace_back(p.id, p.value);
      return dp.setBackendNats(w);
    };
    // A new membership's port is unused until its slot is written: only changed ones go back.
    auto undo = [&dp, shared]() {
      std::vector<std::pair<uint32_t, xlb_be_nat>> w;
      for (const PortWrite& p : *shared)
        if (p.old) w.emplace_back(p.id, *p.old);
      return dp.setBackendNats(w);
    };
    const size_t n = shared->size();
    out.push_back(selfRestoring(absl::StrCat("write ", n, n == 1 ? " backend port" : " backend ports"),
                                std::move(apply), std::move(undo)));
  }
  if (!slots.empty()) {
    auto shared = std::make_shared<std::vector<SlotWrite>>(std::move(slots));
    auto apply = [&dp, shared, gens]() {
      std::vector<std::pair<uint32_t, xlb_backend>> w;
      w.reserve(shared->size());
      for (const SlotWrite& s : *shared) w.emplace_back(s.id, s.value);
      absl::Status st = dp.upsertBackends(w);
      // Recorded even when the batch failed part way: a generation that may have reached the data
      // plane is never handed out again for that id.
      for (const SlotWrite& s : *shared)
        if (!s.old && gens != nullptr) (*gens)[s.id] = std::max((*gens)[s.id], s.value.gen);
      return st;
    };
    auto undo = [&dp, shared]() -> absl::Status {
      std::vector<std::pair<uint32_t, xlb_backend>> w;
      absl::Status first;
      for (const SlotWrite& s : *shared) {
        if (s.old) {
          w.emplace_back(s.id, *s.old);
        } else if (absl::Status st = dp.deleteBackend(s.id); !st.ok() && first.ok()) {
          first = st;
        }
      }
      absl::Status st = dp.upsertBackends(w);
      return first.ok() ? st : first;
    };
    const size_t n = shared->size();
    out.push_back(selfRestoring(absl::StrCat("write ", n, n == 1 ? " backend slot" : " backend slots"),
                                std::move(apply), std::move(undo)));
  }
}

void Planner::Phases::into(dataplane::Dataplane& dp, std::vector<uint32_t>* gens,
                           std::vector<Step>& out) {
  auto move = [&out](std::vector<Step>& phase) {
    for (auto& s : phase) out.push_back(std::move(s));
  };
  slotSteps(dp, std::move(set_ports), std::move(set_slots), gens, out);
  for (auto* phase : {&set_snat, &add_eps}) move(*phase);
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
