// SPDX-License-Identifier: Apache-2.0
// The agent's desired state: every change is validated, planned against the data plane, and applied
// transactionally (all of it lands, or none of it does).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
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
#include "state/model.h"
#include "state/planner.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::dataplane {
class ScanPacer;  // dataplane/open_flows.h
}

namespace xlb::state {

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
  uint32_t table_size = 0;    // selection-table slots in effect (0: no table)
  uint64_t kernel_bytes = 0;  // kernel memory its entries take (vipKernelBytes)
  std::vector<BackendIds> backends;
};

// The NAT collector's record of one VIP (State::sharedNatVips), and whether two are alike.
nat::NatVipInfo natVipInfoOf(const VipEntry& e);
bool sameNatVipInfo(const nat::NatVipInfo& a, const nat::NatVipInfo& b);

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
  // nothing is written. Applying the same config twice writes nothing the second time, and when
  // nothing else changed the configuration in between, costs a hash of it (no validation or plan).
  // `source_digest` (optional, config::sourceDigest of the document `config` was read from) is
  // what appliedDigest() returns once this config is applied.
  absl::Status applyConfig(const v1::Config& config, bool dry_run,
                           std::vector<std::string>* changes,
                           const std::string& source_digest = "");
  // The source_digest of the last applied config while nothing else has changed the configuration
  // since (any other apply, API edit, drain or discovered-backend change clears it; health
  // verdicts do not); "" otherwise. From the published view: never waits for a write.
  std::string appliedDigest() const;

  // Effective (normalized) configuration, VIPs in the order they were configured.
  v1::Config config() const;
  // config() without copying its VIPs: the globals (the config without VIPs) and each VIP's
  // entry (VipEntry::spec is the VIP as config() lists it), in config order, with the token of
  // that snapshot. An entry is immutable and shared until its VIP changes, so a watcher can
  // cache per-VIP work by entry (the persister's rendering). nullopt before a config was applied
  // (the adopted VIPs, which config() normalizes on the fly).
  struct ConfigParts {
    v1::Config globals;
    VipsInOrder vips;  // config order (`for (const EntryPtr& e : vips.values())`)
    std::shared_ptr<const void> token;  // snapshotToken()
  };
  std::optional<ConfigParts> configParts() const;
  // Identifies what config() returns: a new token after every change to the configuration (an
  // apply, API edit, drain or discovered-backend change), not after health verdicts; the same
  // token means config() is unchanged. Lets a watcher (persister, BGP gate, discovery) skip work.
  std::shared_ptr<const void> snapshotToken() const;

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
  // The same, shared: built once per published snapshot by the first reader that asks (GetStats,
  // /metrics and the inspectors at 16,000 memberships no longer rebuild it per call).
  std::shared_ptr<const std::vector<VipIds>> sharedIds() const;
  ApplyStats applyStats() const;
  // Counts an apply that failed before reaching State (e.g. a SIGHUP reload whose file cannot be
  // read or parsed) so apply_errors on /metrics covers every failed apply, not only those that
  // got as far as validation.
  void recordFailedApply(std::chrono::duration<double> took);

  // ---- backends by name (discovery/; discovery_apply.cc) ----
  // Replaces the VIP's discovered backends (those with a source) by `backends`, as one
  // transaction through the same validate -> plan -> apply path as the API; the literals stay.
  // NOT_FOUND for an unknown VIP, FAILED_PRECONDITION when it lists no names, INVALID_ARGUMENT
  // naming the backend when one is not usable (nothing changes then).
  absl::StatusOr<v1::Vip> setDiscovered(const v1::VipKey& key,
                                        const std::vector<v1::Backend>& backends);
  // Fills the live fields of a discovered backend's source in statuses (last_resolved_unix_ms,
  // stale). Set once before serving; it must not call into State.
  using DiscoveryStatusFn = std::function<void(const config::VipKey&, v1::BackendSource*)>;
  void setDiscoveryStatus(DiscoveryStatusFn fn) { discovery_status_ = std::move(fn); }

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
  // ListVips: the VIPs' specs and statuses from one published snapshot (one apply never shows
  // half in the specs and half in the statuses): all of them in config order, or one page in key
  // order (page_size / page_token, proto ListVipsRequest; a malformed token is INVALID_ARGUMENT
  // naming page_token).
  absl::Status listVips(const v1::ListVipsRequest& req, v1::ListVipsResponse* out) const;
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
  // The checker's listener: queues the transition for the applier thread and returns at once
  // (applies it synchronously, as onHealthTransition, when no applier runs). Everything queued
  // while the applier is busy is applied together, as one change.
  void submitHealthTransition(const std::string& key, const health::Transition& transition);
  // The applier thread (idempotent); stopHealthApplier applies what is queued, then joins.
  void startHealthApplier();
  void stopHealthApplier();
  struct HealthApplyStats {
    uint64_t rounds = 0;       // changes the applier ran
    uint64_t transitions = 0;  // transitions they applied
    size_t queued = 0;         // waiting now
  };
  HealthApplyStats healthApplyStats() const;
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
  // `pacer` (optional) spreads the scan out (dataplane::ScanPacer).
  absl::Status reconcileOpenFlows(uint64_t idle_timeout_ns, dataplane::ScanPacer* pacer = nullptr);

  // ---- NAT ----
  // Every VIP's id, key, name, mode and NAT timeouts (the NAT collector and ListNat).
  nat::NatVipMap natVips() const;
  // The same, shared: built once per published snapshot (the NAT collector asks every pass).
  std::shared_ptr<const nat::NatVipMap> sharedNatVips() const;
  // Where applies read net.ipv4.ip_local_port_range to refuse fullnat pools overlapping it
  // (default nat::readLocalPortRange; tests fake it). A reader that fails skips the check.
  void setLocalPortRangeReader(nat::LocalPortRangeReader reader);

  // ---- flow tables and floods (README "Flow-table floods") ----
  // The reconcile scan fills the occupancies, FloodMonitor the rest.
  dataplane::FlowTableStatus flowTableStatus() const;
  void updateFlowTableStatus(const std::function<void(dataplane::FlowTableStatus&)>& fn);

 private:
  // What readers see: the model as of the last committed change. Immutable and shared, so read
  // RPCs never wait for a plan or a data-plane write (they take view_mu_ for a pointer copy).
  struct View {
    v1::Config globals;
    VipsInOrder vips;  // config order
    VipsByKey by_key;  // key order (ListVips pages)
    std::vector<uint32_t> vlans;
    bool applied = false;  // a config was applied (else the VIPs are adopted ones)
    std::string applied_digest;  // appliedDigest()
    std::shared_ptr<const void> config_token;  // snapshotToken()
    // sharedIds() and sharedNatVips() of this view, each built on first use. A view whose change
    // left every VIP's id, name, forwarding and NAT timeouts as they were (a weight, a drain, a
    // health verdict) starts with the previous view's NAT map: building it, and freeing the old
    // one under mu_, is O(VIPs) (~0.35 ms of a weight change at 10,000 VIPs).
    mutable std::once_flag ids_once;
    mutable std::shared_ptr<const std::vector<VipIds>> ids;
    mutable std::once_flag nat_vips_once;
    mutable std::atomic<std::shared_ptr<const nat::NatVipMap>> nat_vips;
  };
  std::shared_ptr<const View> view() const;
  // After model_ changed; caller holds mu_. `nat_unchanged`: no VIP's NatVipInfo changed, so the
  // new view may keep the NAT map of the one it replaces.
  void publishLocked(bool nat_unchanged = false);

  PlanInputs planInputs();
  // Runs the plan's steps; on failure undoes what ran (newest first) and returns the error.
  absl::Status execute(Plan& plan);
  // model_ = plan.next, then health targets, events and the readers' view follow the VIPs the
  // plan changed. A kConfig commit sets the applied digest to `source_digest` ("" clears it); a
  // kHealth one (verdicts only, the configuration unchanged) keeps it.
  enum class Commit { kConfig, kHealth };
  void commitLocked(Plan& plan, Commit kind, const std::string& source_digest);
  // `config` with each VIP's discovered backends taken from the model where it has them for a
  // name (the input's, e.g. a saved state, only seed names the model has none for); discovered
  // backends of names the VIP no longer lists are dropped. Caller holds mu_.
  v1::Config withDiscoveredLocked(const v1::Config& config) const;
  // Validate + normalize + plan + (unless dry_run) execute the whole config. Caller holds mu_.
  absl::Status applyLocked(const v1::Config& config, bool dry_run,
                           std::vector<std::string>* changes,
                           const std::string& source_digest = "");
  // Plans and applies only `changes` (specs normalized and validated by the caller), counted like
  // any apply. Caller holds mu_.
  absl::Status applyVipsLocked(std::span<const VipChange> changes,
                               const PlanInputs* inputs = nullptr,
                               Commit kind = Commit::kConfig);
  void countApply(std::chrono::steady_clock::time_point start, const absl::Status& st);
  // The applied config (globals and every VIP's spec), built from model_. Caller holds mu_.
  v1::Config configLocked() const;
  const VipEntry* entryLocked(const config::VipKey& key) const;
  // A backend named by an RPC: its VIP and membership.
  struct BackendRef {
    config::VipKey key;
    const VipEntry* entry = nullptr;
    const Member* member = nullptr;
  };
  // Validates the VIP key and the backend reference ("ADDR", "ADDR:PORT", "[V6]:PORT";
  // INVALID_ARGUMENT naming the field, also for a bare address matching several ports, naming the
  // candidates) and finds both (NOT_FOUND naming what is missing). Caller holds mu_.
  absl::StatusOr<BackendRef> findBackendLocked(const v1::VipKey& key,
                                               const std::string& address) const;
  // A change of one VIP's backends (nothing else of it), checked against what it touches instead
  // of the whole config: the VIP's own rules (validateConfig of the globals and that VIP, with the
  // memberships the other VIPs leave as the limit) and its backends not being another VIP's
  // address. While any VIP forwards with nat/fullnat (pools and endpoints are checked across
  // VIPs), after a failed rollback, or when that check finds an error, the whole config is
  // validated and planned instead, so errors read exactly as an apply's. Caller holds mu_.
  absl::Status applyBackendsEditLocked(const config::VipKey& key, const v1::Vip& edited);
  // A one-VIP change through the planner: `edit` changes a copy of the VIP's spec.
  absl::StatusOr<v1::Vip> editVipLocked(const config::VipKey& key,
                                        const std::function<void(v1::Vip&)>& edit);
  // After a commit: checker targets and the health-key index follow the changed VIPs; events for
  // what changed between `before` (the replaced entries) and model_.
  void afterApplyLocked(const std::map<config::VipKey, EntryPtr>& before,
                        const std::set<config::VipKey>& changed);
  absl::StatusOr<v1::BackendStatus> setDrainingLocked(const v1::VipKey& key,
                                                      const std::string& address, bool draining);
  // Re-plans the VIPs with verdicts in pending_health_ (only those). Caller holds mu_.
  absl::Status retryPendingHealthLocked();
  // Records one verdict in pending_health_ with its event; false when the key is not (or no
  // longer) a checked membership. Caller holds mu_.
  bool recordHealthLocked(const std::string& key, const health::Transition& tr);
  // retryPendingHealthLocked, then the transitions' events. Caller holds mu_.
  absl::Status applyPendingHealthLocked();
  void runHealthApplier();
  v1::VipStatus vipStatusOf(const VipEntry& e, const dataplane::OpenFlowCounts& open_flows) const;
  v1::BackendStatus backendStatusOf(const VipEntry& e, const Member& m,
                                    const dataplane::OpenFlowCounts& open_flows) const;
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
  // What the applied configuration was made from, while nothing else has changed it since (a
  // kConfig commit other than applyConfig's clears both; health verdicts keep them).
  struct AppliedDigests {
    // The document's digest (ApplyConfigRequest.source_digest): appliedDigest(), published with
    // the view.
    std::string source;
    // config::sourceDigest of the serialized Config applyConfig received: the same message again
    // plans nothing.
    std::string input;
  } applied_;
  std::shared_ptr<const void> config_token_ = std::make_shared<int>(0);

  // Health key -> membership, for onHealthTransition (checked memberships only).
  std::unordered_map<std::string, std::pair<config::VipKey, BackendKey>> health_index_;
  std::atomic<health::HealthChecker*> checker_{nullptr};
  // Verdicts not yet in the data plane (their write failed): retried by retryPendingHealth.
  std::map<std::pair<config::VipKey, BackendKey>, HealthRecord> pending_health_;
  std::vector<v1::Event> lead_events_;  // published first by the next afterApplyLocked
  // The health applier's queue (apart from mu_: the checker never waits for a write).
  mutable std::mutex inbox_mu_;
  std::condition_variable inbox_cv_;
  std::vector<std::pair<std::string, health::Transition>> inbox_;
  bool applier_stop_ = false;
  std::thread applier_;
  std::atomic<uint64_t> health_rounds_{0}, health_transitions_{0};
  EventBus events_;
  ApplyStats apply_stats_;
  std::vector<uint32_t> flag_vlans_;
  nat::LocalPortRangeReader local_port_range_ = nat::readLocalPortRange;
  DiscoveryStatusFn discovery_status_;
  // reconcileOpenFlows: by backend id, (gen, flows the count was short by in the last round). A
  // count is raised only by a shortfall seen in two rounds in a row.
  std::map<uint32_t, std::pair<uint32_t, uint64_t>> open_flow_shortfall_;
  mutable std::mutex flow_table_mu_;  // apart from mu_: the scans never wait for API calls
  dataplane::FlowTableStatus flow_table_;
  mutable std::mutex view_mu_;  // guards view_ (the pointer only)
  std::shared_ptr<const View> view_;
  mutable std::mutex stats_mu_;  // guards apply_stats_ (read without mu_)
};

// health/ <-> API vocabulary.
v1::Health toProtoHealth(health::Health h);
health::CheckSpec toCheckSpec(const v1::HealthCheck& check);  // a normalized check

}  // namespace xlb::state
