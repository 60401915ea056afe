// SPDX-License-Identifier: Apache-2.0
// The data-plane interface: the only way the agent reads or writes BPF state (real and fake impls).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/capacity.h"
#include "dataplane/flood.h"
#include "xlb/abi.h"

namespace xlb::dataplane {

// A snapshot of every counter, summed over CPUs.
struct CounterSnapshot {
  std::vector<uint64_t> global;                // XLB_STAT_MAX entries
  std::vector<uint64_t> drops;                 // XLB_DROP_MAX entries
  std::vector<xlb_counters> vips;              // capacity().vips entries, by vip id
  std::vector<xlb_counters> backends;          // capacity().backends entries, by backend id
};

// How selection tables were changed since load: in place (the idle half written, then flipped: no
// RCU grace period) or swapped in as a new map (a new size, an empty table, or a second change within
// a second).
struct TableWriteCounts {
  uint64_t flipped = 0;
  uint64_t swapped = 0;
};

// One VIP's selection table to install (an empty table removes it).
struct TableWrite {
  uint32_t vip_id = 0;
  std::vector<uint32_t> table;
};

// Open-flow counts by backend id (Dataplane::openFlowCounts): either a copy, or the data plane's
// own memory read one aligned u64 at a time (the program keeps counting under the reader).
class OpenFlowCounts {
 public:
  OpenFlowCounts() = default;  // every count 0
  explicit OpenFlowCounts(std::vector<uint64_t> copy)
      : copy_(std::make_shared<const std::vector<uint64_t>>(std::move(copy))),
        live_(copy_->data()),
        size_(copy_->size()) {}
  OpenFlowCounts(const uint64_t* live, size_t size) : live_(live), size_(size) {}
  // 0 for an id past the end.
  uint64_t operator[](uint32_t id) const {
    return id < size_ ? __atomic_load_n(live_ + id, __ATOMIC_RELAXED) : 0;
  }
  size_t size() const { return size_; }

 private:
  std::shared_ptr<const std::vector<uint64_t>> copy_;
  const uint64_t* live_ = nullptr;
  size_t size_ = 0;
};

// Writes are individually atomic (one map update each); callers order them so that the data plane is
// never inconsistent: backends and table before the VIP entry on add, the reverse on delete.
class Dataplane {
 public:
  virtual ~Dataplane() = default;

  // The id ranges: vip ids 0..vips-1, backend ids 0..backends-1 (fixed once loaded).
  virtual Capacity capacity() const = 0;

  virtual absl::Status upsertVip(const xlb_vip_key& key, const xlb_vip_value& value) = 0;
  virtual absl::Status deleteVip(const xlb_vip_key& key) = 0;

  // Per-address VIP counts (slow-path classification of malformed packets).
  virtual absl::Status upsertVipAddr(const xlb_addr_key& key, const xlb_addr_value& value) = 0;
  virtual absl::Status deleteVipAddr(const xlb_addr_key& key) = 0;

  // Clearing XLB_BE_F_ACTIVE (health-down) re-steers the backend's flows on their next packet, each
  // subtracted from its open count; a draining backend stays ACTIVE and leaves the table instead.
  virtual absl::Status upsertBackend(uint32_t id, const xlb_backend& backend) = 0;
  // Clears the slot (all zero, gen 0): flows recorded on it are re-steered. Also zeroes its open
  // count, so that a later owner of the id starts from 0.
  virtual absl::Status deleteBackend(uint32_t id) = 0;
  // Many slots at once (each write individually atomic, as upsertBackend; BpfDataplane: one
  // batched update per few thousand). Every id is checked before anything is written; a write
  // that still fails may leave the slots before it written: the caller restores them (the
  // planner's slot step does). This default writes them one by one.
  virtual absl::Status upsertBackends(std::span<const std::pair<uint32_t, xlb_backend>> writes) {
    for (const auto& [id, value] : writes) {
      if (auto st = upsertBackend(id, value); !st.ok()) return st;
    }
    return absl::OkStatus();
  }

  // Builds every table aside (size = table.size(), entries = backend ids), then swaps them all in
  // with one batched update of xlb_tables: each VIP's slot changes with one pointer write, and the
  // whole set costs one RCU grace period instead of one per table (~10 ms each). An empty table
  // removes the VIP's table (the data plane then finds no backend). Everything is checked before
  // anything is written; a write that still fails (kernel memory) may leave the slots before it
  // with their new tables, which the error says: the caller puts the previous ones back (the
  // planner's table step does).
  virtual absl::Status setSelectionTables(std::span<const TableWrite> writes) = 0;
  // Tables changed so far, by how. Safe to call while another thread writes.
  virtual TableWriteCounts tableWrites() const = 0;
  // One table (a batch of one).
  absl::Status setSelectionTable(uint32_t vip_id, std::span<const uint32_t> table) {
    TableWrite w{vip_id, std::vector<uint32_t>(table.begin(), table.end())};
    return setSelectionTables({&w, 1});
  }

  virtual absl::Status setSettings(const xlb_settings& settings) = 0;

  // Replaces the set of VLAN ids whose tagged frames to a VIP are balanced (xlb_vlans): `ids`
  // (each 1..XLB_MAX_VLAN_ID - 1) become 1, every other entry 0. Untagged frames are not affected.
  virtual absl::Status setAcceptedVlans(std::span<const uint32_t> ids) = 0;

  virtual absl::StatusOr<CounterSnapshot> readCounters() = 0;
  // Only the drop reasons (XLB_DROP_MAX entries, summed over CPUs): what the NAT collector watches
  // every pass, without reading the per-VIP and per-backend arrays.
  virtual absl::StatusOr<std::vector<uint64_t>> readDrops() = 0;
  // Only the global counters (XLB_STAT_MAX entries, summed over CPUs): what the flood monitor
  // watches every second. The default reads everything and keeps the global part.
  virtual absl::StatusOr<std::vector<uint64_t>> readGlobal() {
    auto all = readCounters();
    if (!all.ok()) return all.status();
    return std::move(all->global);
  }

  // ---- open flows per backend (xlb_be_conns; rules in xlb/abi.h) ----
  // capacity().backends entries, by backend id. Not a snapshot: the data plane keeps counting.
  virtual absl::StatusOr<std::vector<uint64_t>> readOpenFlows() = 0;
  // The same counts read one at a time where they are kept, for callers that want a few of them
  // (one VIP's backends): BpfDataplane reads its mapping of xlb_be_conns instead of copying every
  // backend slot (1 MiB at 131,072 backends, most of a ListBackends RPC). The default copies
  // readOpenFlows(). Valid while the data plane lives.
  virtual absl::StatusOr<OpenFlowCounts> openFlowCounts() {
    auto all = readOpenFlows();
    if (!all.ok()) return all.status();
    return OpenFlowCounts(std::move(*all));
  }
  // Overwrites one count (reconciliation, or reset when a membership goes away). A flow opening or
  // closing between the caller's count and this write is lost until the next reconciliation.
  virtual absl::Status setOpenFlows(uint32_t backend_id, uint64_t count) = 0;

  // Calls fn for every flow, in batches (no lock held; entries added or evicted meanwhile may or
  // may not be seen): every entry of the LRU flow table, then every protected entry (xlb_flows_prot,
  // flood protection) whose LRU copy is gone, so each flow is seen once and the LRU copy (which
  // sees every packet first) wins. counts, when given, receives how many came from each table.
  // fn must not call back into the Dataplane.
  using FlowVisitor = std::function<void(const xlb_flow_key&, const xlb_flow_value&)>;
  struct FlowScanCounts {
    uint64_t lru = 0;             // entries of xlb_flows
    uint64_t protected_only = 0;  // entries of xlb_flows_prot without an LRU copy
  };
  virtual absl::Status forEachFlow(const FlowVisitor& fn, FlowScanCounts* counts = nullptr) = 0;

  // Flood protection: one bounded pass of idle expiry over xlb_flows_prot (rules in flood.h):
  // stale copies whose LRU copy is fresher get its last_seen, the others are deleted. At most
  // max_changes refreshes + deletions per pass; the rest waits for the next pass.
  struct ProtectedSweep {
    uint64_t entries = 0;  // protected entries seen
    uint64_t refreshed = 0;
    uint64_t deleted = 0;
    bool truncated = false;  // max_changes reached
  };
  virtual absl::StatusOr<ProtectedSweep> sweepProtectedFlows(uint64_t now_ns,
                                                             const ProtectedTimeouts& timeouts,
                                                             size_t max_changes) = 0;
  // Capacities of xlb_flows and xlb_flows_prot (entries).
  virtual uint32_t flowTableCapacity() const = 0;
  virtual uint32_t protectedTableCapacity() const = 0;

  // The data plane's clock (bpf_ktime_get_coarse_ns = CLOCK_MONOTONIC_COARSE), to judge
  // xlb_flow_value.last_seen_ns.
  virtual uint64_t monotonicNowNs() = 0;

  // ---- NAT (nat/fullnat forwarding; rules in xlb/abi.h "NAT") ----
  // The backend's port (network order) for membership `id`, read when a NAT connection is created.
  virtual absl::Status setBackendNat(uint32_t id, const xlb_be_nat& value) = 0;
  // Many at once, like upsertBackends.
  virtual absl::Status setBackendNats(std::span<const std::pair<uint32_t, xlb_be_nat>> writes) {
    for (const auto& [id, value] : writes) {
      if (auto st = setBackendNat(id, value); !st.ok()) return st;
    }
    return absl::OkStatus();
  }
  // The SNAT pool of a fullnat VIP (all zero = none).
  virtual absl::Status setSnat(uint32_t vip_id, const xlb_snat& value) = 0;
  // The exact set behind the settings' NAT reply filter (xlb_nat_eps, value 1). Deletes are
  // idempotent.
  virtual absl::Status upsertNatEndpoint(const xlb_nat_ep& ep) = 0;
  virtual absl::Status deleteNatEndpoint(const xlb_nat_ep& ep) = 0;
  // Calls fn for every xlb_nat entry, in batches (no lock held; entries created or deleted
  // meanwhile may or may not be seen). fn must not call back into the Dataplane.
  using NatVisitor = std::function<void(const xlb_flow_key&, const xlb_nat_value&)>;
  virtual absl::Status forEachNat(const NatVisitor& fn) = 0;
  // Deletes these xlb_nat entries, in the given order, in batches; keys already gone are skipped.
  // Returns how many were deleted.
  virtual absl::StatusOr<uint64_t> deleteNat(std::span<const xlb_flow_key> keys) = 0;
  // Capacity of xlb_nat (entries; two per connection).
  virtual uint32_t natTableCapacity() const = 0;
  // fullnat port allocation failures per backend id (xlb_nat_fail summed over CPUs),
  // capacity().backends entries.
  virtual absl::StatusOr<std::vector<uint64_t>> readNatFailures() = 0;
  // Point reads of the NAT maps (inspection: lbctl explain). A lookup from user space changes
  // nothing the data plane or the collector reads (no last_seen refresh).
  virtual absl::StatusOr<std::optional<xlb_nat_value>> lookupNat(const xlb_flow_key& key) = 0;
  // As written (all zero when never written).
  virtual absl::StatusOr<xlb_be_nat> readBackendNat(uint32_t id) = 0;
  virtual absl::StatusOr<xlb_snat> readSnat(uint32_t vip_id) = 0;
  // Whether xlb_nat_eps holds the endpoint (the reply filter's exact check).
  virtual absl::StatusOr<bool> lookupNatEndpoint(const xlb_nat_ep& ep) = 0;

  // ---- point reads of what the data plane holds (inspection: lbctl explain) ----
  // nullopt when the map has no such entry.
  virtual absl::StatusOr<std::optional<xlb_vip_value>> lookupVip(const xlb_vip_key& key) = 0;
  virtual absl::StatusOr<std::optional<xlb_flow_value>> lookupFlow(const xlb_flow_key& key) = 0;
  // The slot as written (all zero when never assigned or deleted).
  virtual absl::StatusOr<xlb_backend> readBackend(uint32_t id) = 0;
  // The backend ids of the VIP's live selection table, slots 1..M in order (size() == M); empty
  // when the VIP has no table.
  virtual absl::StatusOr<std::vector<uint32_t>> readSelectionTable(uint32_t vip_id) = 0;
  virtual absl::StatusOr<xlb_settings> readSettings() = 0;
};

}  // namespace xlb::dataplane
