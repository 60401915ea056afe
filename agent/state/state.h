// SPDX-License-Identifier: Apache-2.0
// The agent's desired state: every change is validated, planned against the data plane, and applied
// transactionally (all of it lands, or none of it does).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/address.h"
#include "config/validate.h"
#include "dataplane/contents.h"
#include "dataplane/dataplane.h"
#include "health/checker.h"
#include "nat/gc.h"
#include "nat/nat_config.h"
#include "state/events.h"
#include "state/id_allocator.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::state {

// A membership's identity within its VIP: address and effective port (Backend.port, or the VIP's
// port when 0; nat/endpoint.h). Two backends with one address and different ports are distinct.
struct BackendKey {
  IpAddress address;
  uint16_t port = 0;
  auto operator<=>(const BackendKey&) const = default;
};
// INVALID_ARGUMENT when the address does not parse (validated configs never do that).
absl::StatusOr<BackendKey> backendKeyOf(const config::VipKey& vip, const v1::Backend& backend);
// How listings, events and plan lines name a membership: the bare address when its port is the
// VIP's, else "ADDR:PORT" / "[V6]:PORT" (nat::backendLabel).
std::string backendLabel(const config::VipKey& vip, const BackendKey& backend);

// The id mapping counters are indexed by (for stats/).
struct BackendIds {
  std::string address;  // backendLabel(): "ADDR", or "ADDR:PORT" when the port is not the VIP's
  IpAddress ip;
  uint16_t port = 0;    // effective port
  uint32_t weight = 0;
  uint32_t id = 0;
  v1::Health health = v1::HEALTH_UNKNOWN;
  v1::BackendState state = v1::BACKEND_STATE_ACTIVE;
};
// Non-dry-run applies, successful or not: every applyConfig and single-object change, and the
// internal re-plans (health verdicts, drain). For /metrics.
struct ApplyStats {
  uint64_t total = 0;
  uint64_t errors = 0;
  double last_duration_seconds = 0;  // of the most recent apply, successful or not
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
  ApplyStats applyStats() const;
  // Counts an apply that failed before reaching State (e.g. a SIGHUP reload whose file cannot be
  // read or parsed) so apply_errors on /metrics covers every failed apply, not only those that
  // got as far as validation.
  void recordFailedApply(std::chrono::duration<double> took);

  // ---- draining ----
  // DRAINING: out of the selection table, still ACTIVE in the data plane so its flows continue.
  // Idempotent (draining a draining backend changes nothing and emits no event). NOT_FOUND for an
  // unknown VIP or backend. The change is also visible in config() (state: draining).
  absl::StatusOr<v1::BackendStatus> drainBackend(const v1::VipKey& key, const std::string& address);
  absl::StatusOr<v1::BackendStatus> undrainBackend(const v1::VipKey& key,
                                                   const std::string& address);

  // ---- observed state ----
  // Health, drain state, rotation and open flows (read from the data plane) of a VIP's backends.
  absl::StatusOr<v1::VipStatus> vipStatus(const v1::VipKey& key) const;
  // The same for every VIP, in config order, from one read of the open-flow counts.
  absl::StatusOr<std::vector<v1::VipStatus>> vipStatuses() const;
  // One KIND_BACKEND_HEALTH event per configured backend with its current health (WatchEvents
  // initial_state).
  std::vector<v1::Event> healthSnapshot() const;
  EventBus& events() { return events_; }

  // ---- health checks ----
  // From now on every membership with a check (VIP default merged with the backend override) is a
  // target of `checker`, updated after each applied change. The checker's listener must call
  // onHealthTransition. nullptr detaches. The checker must outlive State or be detached first.
  void attachHealthChecker(health::HealthChecker* checker);
  // Health-check key of a membership: "10.0.0.10:80/tcp 10.0.1.12" (the backend's label: with
  // ":PORT" when its port is not the VIP's).
  static std::string healthKey(const config::VipKey& vip, const IpAddress& backend);
  static std::string healthKey(const config::VipKey& vip, const BackendKey& backend);
  // A transition of one target (the checker's listener; tests call it directly). Updates the
  // backend's health, rewrites its VIP's table and the backend's ACTIVE flag at once, emits
  // events. Keys of targets no longer configured are ignored.
  void onHealthTransition(const std::string& key, const health::Transition& transition);
  // Retries applying health verdicts whose data-plane write failed earlier (no-op otherwise).
  absl::Status retryPendingHealth();

  // ---- VLAN acceptance ----
  // The agent's --vlan-ids (sorted, valid): every applied config's vlan_ids are added to them, so
  // the data plane accepts the union. Call before the first apply.
  void setFlagVlanIds(std::vector<uint32_t> ids);
  // The accepted set as the data plane holds it (flag and config), sorted.
  std::vector<uint32_t> acceptedVlans() const;

  // ---- open flows ----
  // Recounts open flows per backend from the flow table (flows not closing, seen within
  // idle_timeout_ns) and corrects the data plane's counts by the difference the scan proves,
  // applied to the count read after the scan so that increments and decrements made meanwhile are
  // kept (never an absolute rewrite: see status.cc). The scan runs without the State lock; backends
  // removed or replaced meanwhile are skipped.
  absl::Status reconcileOpenFlows(uint64_t idle_timeout_ns);

  // ---- NAT ----
  // Every VIP's id, key, name, mode and NAT timeouts (the NAT collector and ListNat).
  nat::NatVipMap natVips() const;
  // Where applies read net.ipv4.ip_local_port_range to refuse fullnat pools overlapping it
  // (default nat::readLocalPortRange; tests fake it). A reader that fails skips the check.
  void setLocalPortRangeReader(nat::LocalPortRangeReader reader);

  // ---- flow tables and floods (README "Flow-table floods") ----
  // The reconcile scan fills the occupancies, FloodMonitor the rest.
  dataplane::FlowTableStatus flowTableStatus() const;
  void updateFlowTableStatus(const std::function<void(dataplane::FlowTableStatus&)>& fn);

 private:
  struct Member {
    uint32_t id = 0;
    uint32_t gen = 0;
    IpAddress address;
    uint16_t port = 0;  // effective
    uint32_t weight = 0;
    bool draining = false;
    health::Health health = health::Health::kUnknown;  // as used for this plan
    bool in_rotation = false;                          // in the selection table
    bool kept = false;    // down, but kept ACTIVE and in the table by keep_last_healthy
    xlb_backend value{};  // the slot as written in the data plane
    xlb_be_nat be_nat{};  // its xlb_be_nat as written
  };
  struct Entry {
    uint32_t id = 0;
    config::VipKey key;
    v1::Vip spec;  // normalized
    std::map<BackendKey, Member> members;
    xlb_vip_value value{};
    bool adopted = false;   // read back from the maps: weights, name and table size unknown
    bool all_down = false;  // every candidate backend is health-down: all_down_policy applies
    std::set<BackendKey> last_healthy;  // the rotation when it last had a live backend
  };
  // What health checks found for one membership (key = healthKey()).
  struct HealthRecord {
    config::VipKey vip;
    IpAddress address;
    std::string label;  // backendLabel()
    bool checked = false;  // the effective check probes (type tcp/http/grpc)
    health::Health health = health::Health::kUnknown;
    std::optional<health::Transition> last;
    uint64_t last_unix_ms = 0;
    std::string last_reason;
  };
  // What the data plane holds (and the config it came from).
  struct Model {
    v1::Config config;
    std::map<config::VipKey, Entry> vips;
    IdAllocator vip_ids{XLB_MAX_VIPS};
    IdAllocator backend_ids{XLB_MAX_BACKENDS};
    xlb_settings settings{};
    bool settings_written = false;
    std::vector<uint32_t> vlans;  // accepted VLAN ids as written in xlb_vlans, sorted
    bool vlans_written = false;
    // Adopted entries nothing refers to (or that contradict each other): removed by the next apply.
    std::vector<xlb_vip_key> stray_vips;
    std::vector<xlb_addr_key> stray_addrs;
    std::vector<uint32_t> stray_tables;
    std::vector<uint32_t> stray_backends;
    // NAT: SNAT pools by vip id and reply-filter endpoints as written (adopted ones included).
    std::map<uint32_t, xlb_snat> snat;
    std::set<nat::NatEpKey> eps;
  };
  struct Step;
  struct Plan;

  // Pure with respect to model_; the returned steps write the data plane (and gens_) when run.
  absl::StatusOr<Plan> plan(const v1::Config& normalized);
  absl::Status execute(Plan& plan);
  // The NAT part of plan() (state/nat_plan.cc): SNAT pools, reply-filter endpoints and the
  // settings' filter fields of `next`, as steps into the phases named.
  struct NatSteps;
  void planNat(const v1::Config& desired, Plan& plan, NatSteps& steps);
  // Validate + normalize + plan + (unless dry_run) execute. Caller holds mu_.
  absl::Status applyLocked(const v1::Config& config, bool dry_run,
                           std::vector<std::string>* changes);
  absl::StatusOr<v1::Vip> vipLocked(const config::VipKey& key) const;
  int findVip(const config::VipKey& key) const;  // index in model_.config.vips or -1
  // A backend named by an RPC: its VIP key and indexes in model_.config.
  struct BackendRef {
    config::VipKey key;
    int vip = -1;
    int backend = -1;
  };
  // Validates the VIP key and the backend reference ("ADDR", "ADDR:PORT", "[V6]:PORT";
  // INVALID_ARGUMENT naming the field, also for a bare address matching several ports, naming the
  // candidates) and finds both (NOT_FOUND naming what is missing). Caller holds mu_.
  absl::StatusOr<BackendRef> findBackendLocked(const v1::VipKey& key,
                                               const std::string& address) const;
  // Health of a membership for planning: up when its check is none, else the last verdict.
  health::Health memberHealth(const config::VipKey& key, const v1::Vip& spec,
                              const v1::Backend& backend, const IpAddress& address) const;
  // After model_ changed: health records and checker targets follow the memberships; events for
  // what changed between `before` and model_.
  void afterApplyLocked(const Model& before);
  absl::StatusOr<v1::BackendStatus> setDrainingLocked(const v1::VipKey& key,
                                                      const std::string& address, bool draining);
  v1::VipStatus vipStatusLocked(const v1::Vip& spec, const Entry& e,
                                const std::vector<uint64_t>& open_flows) const;
  v1::BackendStatus backendStatusLocked(const Entry& e, const v1::Backend& spec,
                                        const std::vector<uint64_t>& open_flows) const;
  void publish(v1::Event::Kind kind, const config::VipKey& vip, const std::string& backend,
               const std::string& message);

  dataplane::Dataplane& dataplane_;
  mutable std::mutex mu_;
  Model model_;
  // Generation of each backend id, bumped on every assignment and never rolled back: a flow pinned
  // to (id, gen) must never match a later, different backend on the same id.
  std::vector<uint32_t> gens_;
  // Set when a rollback itself failed: the data plane may differ from model_, so the next apply
  // rewrites every entry instead of only the differences.
  bool resync_ = false;

  std::map<std::string, HealthRecord> health_;
  health::HealthChecker* checker_ = nullptr;
  bool health_pending_ = false;          // a verdict is not yet in the data plane (write failed)
  std::optional<v1::Event> lead_event_;  // published first by the next afterApplyLocked
  EventBus events_;
  ApplyStats apply_stats_;
  std::vector<uint32_t> flag_vlans_;
  nat::LocalPortRangeReader local_port_range_ = nat::readLocalPortRange;
  // reconcileOpenFlows: by backend id, (gen, flows the count was short by in the last round). A
  // count is raised only by a shortfall seen in two rounds in a row.
  std::map<uint32_t, std::pair<uint32_t, uint64_t>> open_flow_shortfall_;
  mutable std::mutex flow_table_mu_;  // apart from mu_: the scans never wait for API calls
  dataplane::FlowTableStatus flow_table_;
};

// health/ <-> API vocabulary.
v1::Health toProtoHealth(health::Health h);
health::CheckSpec toCheckSpec(const v1::HealthCheck& check);  // a normalized check

}  // namespace xlb::state
