// SPDX-License-Identifier: Apache-2.0
// The BPF implementation of Dataplane: loads the XDP balancer, pins its maps, attaches it to an interface.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dataplane/dataplane.h"
#include "dataplane/migrate.h"
#include "xlb/abi.h"

struct xlb_balancer;

namespace xlb::dataplane {

struct BpfOptions {
  std::string interface;              // attach XDP here; empty = load only (tests, bench)
  // More interfaces the same program is attached to (NAT two-arm: replies arrive on the
  // backend-facing interface), each with its own pinned link; ignored when `interface` is empty.
  std::vector<std::string> extra_interfaces;
  std::string pin_dir = XLB_PIN_DIR;  // maps + link pinned here; empty = no pinning (tests)
  uint32_t flow_table_size = XLB_DEFAULT_FLOWS;
  // Flood protection (README "Flow-table floods"): capacity of xlb_flows_prot (0 = flow_table_size)
  // and the age at which a flow seen again is copied into it (0 = protection off).
  uint32_t protected_flow_table_size = 0;
  uint32_t flow_protect_after_ms = 1000;
  uint32_t nat_table_size = XLB_DEFAULT_NAT_ENTRIES;  // xlb_nat4 and xlb_nat6 entries, each (2 per
                                                      // connection)
  bool xdp_generic = false;  // SKB mode instead of native
  Capacity capacity;         // id ranges of the VIP- and backend-indexed maps
  // A selection table of unchanged size is rewritten in place (its idle half, then a flip: no RCU
  // grace period) only when its last flip is at least this old, so that no program still reads the
  // half being written; a table this process has not flipped counts as flipped at load. Otherwise a
  // new table is swapped in. Tests use 0 (flip whenever the size allows) or a large value.
  std::chrono::milliseconds table_flip_guard{1000};
};

// Maps are pinned as <pin_dir>/v<XLB_ABI_VERSION>/<map name>, so a restarted agent of the same ABI
// reuses them (flows, counters and tables survive). A map pinned with another layout (in v<N>, or
// in the newest older v<K> when v<N> lacks it) is migrated into a new map rather than refused (see
// migrate.h). The XDP link is pinned as <pin_dir>/link_<ifname>; a later create() for that
// interface swaps the program in atomically (bpf_link_update) instead of detaching.
class BpfDataplane final : public Dataplane {
 public:
  static absl::StatusOr<std::unique_ptr<BpfDataplane>> create(const BpfOptions& opts);
  // create() in two steps, so that the agent can load while it still parses its config:
  //  - open() loads the program and its maps (reusing pinned ones, pinning new empty ones) and
  //    changes nothing a running data plane uses: no program replaced, no map migrated. Failing or
  //    stopping after it leaves what a failed attach leaves.
  //  - takeOver() attaches to opts.interface (and the extra ones), replacing the program on a
  //    pinned link, and finishes a migration of pinned maps (at once without an interface).
  static absl::StatusOr<std::unique_ptr<BpfDataplane>> open(const BpfOptions& opts);
  absl::Status takeOver(const BpfOptions& opts);
  // Closes fds; does NOT detach (the pinned link keeps the program attached). Without pinning the
  // link dies with its fd, so an unpinned attachment ends here.
  ~BpfDataplane() override;

  Capacity capacity() const override { return capacity_; }

  BpfDataplane(const BpfDataplane&) = delete;
  BpfDataplane& operator=(const BpfDataplane&) = delete;

  // Explicit detach: removes the program from every interface and the link pins.
  absl::Status detach();
  // For BPF_PROG_TEST_RUN in tests and the benchmark.
  int programFd() const;
  // fd of one of the balancer's maps by name ("xlb_flows"), or -1. For tests, bench and debugging.
  int mapFd(absl::string_view name) const;
  uint32_t flowTableSize() const { return flow_table_size_; }
  uint32_t protectedFlowTableSize() const { return prot_table_size_; }
  // Selection tables changed in place (flipped) and swapped in as new maps since load.
  TableWriteCounts tableWrites() const override {
    return {table_flips_.load(std::memory_order_relaxed),
            table_swaps_.load(std::memory_order_relaxed)};
  }
  // What create() did to each map when it migrated pinned maps (one entry per map, already logged);
  // empty when it reused every pin as it was or had nothing pinned.
  const std::vector<MapMigration>& migration() const { return migration_; }

  absl::Status upsertVip(const xlb_vip_key& key, const xlb_vip_value& value) override;
  // Deletes are idempotent: removing an absent entry is not an error.
  absl::Status deleteVip(const xlb_vip_key& key) override;
  absl::Status upsertVipAddr(const xlb_addr_key& key, const xlb_addr_value& value) override;
  absl::Status deleteVipAddr(const xlb_addr_key& key) override;
  absl::Status upsertBackend(uint32_t id, const xlb_backend& backend) override;
  absl::Status upsertBackends(
      std::span<const std::pair<uint32_t, xlb_backend>> writes) override;
  absl::Status deleteBackend(uint32_t id) override;
  using Dataplane::setSelectionTable;
  absl::Status setSelectionTables(std::span<const TableWrite> writes) override;
  absl::Status setSettings(const xlb_settings& settings) override;
  absl::Status setAcceptedVlans(std::span<const uint32_t> ids) override;
  absl::StatusOr<CounterSnapshot> readCounters() override;
  absl::StatusOr<std::vector<uint64_t>> readDrops() override;
  absl::StatusOr<std::vector<uint64_t>> readGlobal() override;
  absl::StatusOr<std::vector<uint64_t>> readOpenFlows() override;
  absl::StatusOr<OpenFlowCounts> openFlowCounts() override;
  absl::Status setOpenFlows(uint32_t backend_id, uint64_t count) override;
  // BPF_MAP_LOOKUP_BATCH over xlb_flows, kFlowBatch entries per syscall.
  absl::Status forEachFlow(const FlowVisitor& fn, FlowScanCounts* counts = nullptr) override;
  absl::StatusOr<ProtectedSweep> sweepProtectedFlows(uint64_t now_ns,
                                                     const ProtectedTimeouts& timeouts,
                                                     size_t max_changes) override;
  uint32_t flowTableCapacity() const override { return flow_table_size_; }
  uint32_t protectedTableCapacity() const override { return prot_table_size_; }
  uint64_t monotonicNowNs() override;
  absl::Status setBackendNats(
      std::span<const std::pair<uint32_t, xlb_be_nat>> writes) override;
  absl::Status setBackendNat(uint32_t id, const xlb_be_nat& value) override;
  absl::Status setSnat(uint32_t vip_id, const xlb_snat& value) override;
  absl::Status upsertNatEndpoint(const xlb_nat_ep& ep) override;
  absl::Status deleteNatEndpoint(const xlb_nat_ep& ep) override;
  // BPF_MAP_LOOKUP_BATCH over xlb_nat4 then xlb_nat6, kFlowBatch entries per syscall, in the wide
  // form (nat_layout.h).
  absl::Status forEachNat(const NatVisitor& fn) override;
  // BPF_MAP_DELETE_BATCH, kFlowBatch keys per syscall (one by one past a key already gone).
  absl::StatusOr<uint64_t> deleteNat(std::span<const xlb_flow_key> keys) override;
  // Per family: xlb_nat4 and xlb_nat6 have this size each.
  uint32_t natTableCapacity() const override { return nat_table_size_; }
  absl::StatusOr<std::vector<uint64_t>> readNatFailures() override;
  absl::StatusOr<std::optional<xlb_nat_value>> lookupNat(const xlb_flow_key& key) override;
  absl::StatusOr<xlb_be_nat> readBackendNat(uint32_t id) override;
  absl::StatusOr<xlb_snat> readSnat(uint32_t vip_id) override;
  absl::StatusOr<bool> lookupNatEndpoint(const xlb_nat_ep& ep) override;
  absl::StatusOr<std::optional<xlb_vip_value>> lookupVip(const xlb_vip_key& key) override;
  absl::StatusOr<std::optional<xlb_flow_value>> lookupFlow(const xlb_flow_key& key) override;
  absl::StatusOr<xlb_backend> readBackend(uint32_t id) override;
  // Follows xlb_tables[vip_id] to the inner map by id; retried when a swap freed it meanwhile.
  absl::StatusOr<std::vector<uint32_t>> readSelectionTable(uint32_t vip_id) override;
  absl::StatusOr<xlb_settings> readSettings() override;

  static constexpr uint32_t kFlowBatch = 4096;

 private:
  BpfDataplane() = default;
  absl::Status load(const BpfOptions& opts);
  absl::Status attach(const BpfOptions& opts);
  // Attaches (or swaps on its pinned link) the program on one interface.
  absl::Status attachOne(const BpfOptions& opts, const std::string& ifname);
  // Completes a pending migration once the link runs the new program (or right after load when
  // nothing is attached).
  absl::Status finishMigration();

  xlb_balancer* skel_ = nullptr;
  struct Link {
    std::string interface;
    int fd = -1;
    std::string pin;  // empty when the link is not pinned
  };
  std::vector<Link> links_;  // one per attached interface, the primary first
  uint32_t flow_table_size_ = 0;
  uint32_t prot_table_size_ = 0;
  uint32_t nat_table_size_ = 0;
  int ncpus_ = 1;
  // The shared empty selection table that removed VIPs' slots point at (bpf_tables.cc).
  absl::StatusOr<int> emptyTableFd();
  // Map flags of a new selection table: the inner-map template's (the outer map takes no other;
  // read before load, when libbpf frees the template).
  uint32_t table_flags_ = 0;
  int empty_table_fd_ = -1;
  // In-place table changes (bpf_tables.cc): writes `table` into the idle half of the VIP's live
  // table and flips to it. false (nothing written) when the VIP has no table of that size, or its
  // last flip is younger than table_flip_guard_.
  absl::StatusOr<bool> flipSelectionTable(uint32_t vip_id, std::span<const uint32_t> table,
                                          std::chrono::steady_clock::time_point now);
  std::chrono::milliseconds table_flip_guard_{1000};
  std::chrono::steady_clock::time_point loaded_at_{};
  // Last flip per VIP id by this process; time_point::min() for a table it created (its idle half
  // was never read).
  std::unordered_map<uint32_t, std::chrono::steady_clock::time_point> last_flip_;
  std::atomic<uint64_t> table_flips_{0}, table_swaps_{0};  // read by other threads
  // xlb_be_conns, mapped read-only at load (BPF_F_MMAPABLE), for readOpenFlows().
  const uint64_t* open_flows_map_ = nullptr;
  size_t open_flows_len_ = 0;
  // After an ACTIVE backend slot is written: its neighbour entry kept resolved (best effort).
  void keepNextHopResolved(const xlb_backend& backend);
  absl::Status vipIdOk(uint32_t id) const;
  absl::Status backendIdOk(uint32_t id) const;
  Capacity capacity_;
  std::unique_ptr<MapMigrator> migrator_;  // set between load() and finishMigration()
  std::vector<MapMigration> migration_;
  // What open() created on the bpffs (directories outermost first, then map pins). A data plane
  // destroyed without takeOver() (the agent's config was refused, or open() failed) removes them:
  // a refused start leaves the bpffs as it found it.
  std::vector<std::string> created_dirs_, created_pins_;
  bool taken_over_ = false;
};

// Routes libbpf's messages to spdlog (logger "libbpf"); idempotent. Also used by xlb-decap.
void installLibbpfLogger();

// Makes sure `dir` exists on a bpffs, mounting bpffs at /sys/fs/bpf first when it is not mounted
// and `dir` lies below it. `created`, when given, receives the directories it made, outermost
// first.
absl::Status ensureBpffsDir(const std::string& dir, std::vector<std::string>* created = nullptr);

// ABI 5 split ABI 4's xlb_nat into xlb_nat4 and xlb_nat6: how an upgrade carries its entries over
// (bpf_nat.cc).
std::vector<MapSplit> natMapSplits();

}  // namespace xlb::dataplane
