// SPDX-License-Identifier: Apache-2.0
// The planner: diffs a desired configuration (or a few changed VIPs) against the applied model and
// emits the data-plane writes, each with its undo, in the order that keeps the data plane
// consistent. Pure with respect to the model it is given: nothing is written until State runs the
// steps. A VIP whose normalized spec is unchanged plans no step and keeps its entry (the same
// pointer), so the cost of a plan follows what changed, not how many VIPs exist.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dataplane/dataplane.h"
#include "state/model.h"

namespace xlb::state {

// One data-plane write and how to undo it.
struct Step {
  std::string what;
  std::function<absl::Status()> apply;
  std::function<absl::Status()> undo;
};

struct Plan {
  Model next;
  std::vector<Step> steps;
  std::vector<std::string> lines;
  std::set<config::VipKey> changed;  // VIPs added, replaced or removed by this plan
};

// One VIP as it should be: its normalized spec, or nullptr to remove it.
struct VipChange {
  config::VipKey key;
  const v1::Vip* spec = nullptr;
};

struct PlanInputs {
  dataplane::Dataplane* dp = nullptr;
  std::vector<uint32_t>* gens = nullptr;  // generation by backend id; steps update it when run
  bool resync = false;                    // rewrite every entry (after a failed rollback)
  std::vector<uint32_t> flag_vlans;       // --vlan-ids, sorted
  // A verdict to plan with instead of the model's (a health transition being applied); nullptr
  // when none for this membership.
  std::function<const HealthRecord*(const config::VipKey&, const BackendKey&)> health_override;
};

class Planner {
 public:
  Planner(const Model& cur, PlanInputs in) : cur_(cur), in_(std::move(in)) {}

  // Replaces everything: `desired` is validated and normalized. Ids freed by the plan are reused
  // by it when no other id is free (the removals are then planned first, as their own phase).
  absl::StatusOr<Plan> planConfig(const v1::Config& desired);
  // Changes only the VIPs named (new VIPs go at the end of the order, removed ones leave it);
  // every other VIP keeps its entry. Globals are the model's.
  absl::StatusOr<Plan> planVips(std::span<const VipChange> changes);

 private:
  struct Phases;
  // `seqs`: new places in the config order (a whole config); a VIP not in it keeps its place,
  // and a new VIP not in it goes last.
  absl::StatusOr<Plan> planChanges(const v1::Config& globals,
                                   const std::map<config::VipKey, uint64_t>* seqs,
                                   std::span<const VipChange> changes, bool whole);
  std::map<config::VipKey, uint64_t> seqsFor(
      const std::vector<std::pair<config::VipKey, const VipEntry*>>& order) const;
  absl::Status planVip(const config::VipKey& key, const v1::Vip& spec, const VipEntry* old,
                       uint64_t seq, Plan& plan, Phases& ph);
  void planRemoval(const VipEntry& old, Plan& plan, Phases& ph,
                   std::vector<std::string>& removal_lines);
  void planStrays(Plan& plan, Phases& ph, std::vector<std::string>& removal_lines);
  void planAddresses(Plan& plan, Phases& ph);
  void planSettings(const v1::Config& globals, Plan& plan, Phases& ph);
  void planNat(const v1::Config& globals, Plan& plan, Phases& ph);
  void planVlans(const v1::Config& globals, Plan& plan, Phases& ph);

  const Model& cur_;
  PlanInputs in_;
};

// Host mask in network order for the bits a /len prefix leaves to the flow hash, within 32 bits.
uint32_t hostMask(int len_in_last_word);

}  // namespace xlb::state
