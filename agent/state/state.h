// SPDX-License-Identifier: Apache-2.0
// The agent's desired state: every change is validated, planned against the data plane, and applied
// transactionally (all of it lands, or none of it does).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/address.h"
#include "config/validate.h"
#include "dataplane/contents.h"
#include "dataplane/dataplane.h"
#include "state/id_allocator.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::state {

// The id mapping counters are indexed by (for stats/).
struct BackendIds {
  std::string address;
  uint32_t weight = 0;
  uint32_t id = 0;
};
struct VipIds {
  config::VipKey key;
  std::string name;
  uint32_t id = 0;
  std::vector<BackendIds> backends;
};

class State {
 public:
  explicit State(dataplane::Dataplane& dataplane);
  ~State();

  // Takes over what the (pinned, hence persistent) maps already hold, before the first change: VIPs
  // and memberships found there keep their ids and generations, so the first applyConfig() with the
  // same config changes no id and established flows survive an agent restart; whatever that config
  // does not contain is removed by it, including entries no VIP refers to. FAILED_PRECONDITION
  // after a change was applied.
  absl::Status adopt(const dataplane::DataplaneContents& contents);

  // Replaces the whole desired state. `changes` (optional) receives the plan lines; with dry_run
  // nothing is written. Applying the same config twice writes nothing the second time.
  absl::Status applyConfig(const v1::Config& config, bool dry_run,
                           std::vector<std::string>* changes);

  // Effective (normalized) configuration, VIPs in the order they were configured.
  v1::Config config() const;

  // Single-object changes; each is a full transaction like applyConfig. Returned Vip messages are
  // the VIP as it now stands. Codes: INVALID_ARGUMENT (bad request, paths "vip.port",
  // "backend.weight"), ALREADY_EXISTS, NOT_FOUND, RESOURCE_EXHAUSTED, or the data plane's error
  // (after rollback).
  absl::StatusOr<v1::Vip> addVip(const v1::Vip& vip);
  absl::Status deleteVip(const v1::VipKey& key);
  absl::StatusOr<v1::Vip> addBackend(const v1::VipKey& key, const v1::Backend& backend);
  absl::StatusOr<v1::Vip> deleteBackend(const v1::VipKey& key, const std::string& address);
  absl::StatusOr<v1::Vip> setBackendWeight(const v1::VipKey& key, const std::string& address,
                                           uint32_t weight);

  // vip id / backend id of every VIP and membership, in config order.
  std::vector<VipIds> ids() const;

 private:
  struct Member {
    uint32_t id = 0;
    uint32_t gen = 0;
    IpAddress address;
    uint32_t weight = 0;
  };
  struct Entry {
    uint32_t id = 0;
    config::VipKey key;
    v1::Vip spec;  // normalized
    std::map<IpAddress, Member> members;
    xlb_vip_value value{};
    bool adopted = false;  // read back from the maps: weights, name and table size unknown
  };
  // What the data plane holds (and the config it came from).
  struct Model {
    v1::Config config;
    std::map<config::VipKey, Entry> vips;
    IdAllocator vip_ids{XLB_MAX_VIPS};
    IdAllocator backend_ids{XLB_MAX_BACKENDS};
    xlb_settings settings{};
    bool settings_written = false;
    // Adopted entries nothing refers to (or that contradict each other): removed by the next apply.
    std::vector<xlb_vip_key> stray_vips;
    std::vector<xlb_addr_key> stray_addrs;
    std::vector<uint32_t> stray_tables;
    std::vector<uint32_t> stray_backends;
  };
  struct Step;
  struct Plan;

  // Pure with respect to model_; the returned steps write the data plane (and gens_) when run.
  absl::StatusOr<Plan> plan(const v1::Config& normalized);
  absl::Status execute(Plan& plan);
  // Validate + normalize + plan + (unless dry_run) execute. Caller holds mu_.
  absl::Status applyLocked(const v1::Config& config, bool dry_run,
                           std::vector<std::string>* changes);
  absl::StatusOr<v1::Vip> vipLocked(const config::VipKey& key) const;
  int findVip(const config::VipKey& key) const;  // index in model_.config.vips or -1

  dataplane::Dataplane& dataplane_;
  mutable std::mutex mu_;
  Model model_;
  // Generation of each backend id, bumped on every assignment and never rolled back: a flow pinned
  // to (id, gen) must never match a later, different backend on the same id.
  std::vector<uint32_t> gens_;
  // Set when a rollback itself failed: the data plane may differ from model_, so the next apply
  // rewrites every entry instead of only the differences.
  bool resync_ = false;
};

}  // namespace xlb::state
