// SPDX-License-Identifier: Apache-2.0
// In-memory Dataplane for unit tests: mirrors the BPF maps, logs every call, injects failures.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/contents.h"
#include "dataplane/dataplane.h"

namespace xlb::dataplane {

// Comparable wrappers so the ABI structs can key std::map without touching abi.h.
// Both xlb_vip_key and xlb_addr_key are 20 bytes (asserted in abi.h).
struct FakeVipKey {
  std::array<uint8_t, 20> bytes;
  auto operator<=>(const FakeVipKey&) const = default;
};

class FakeDataplane final : public Dataplane {
 public:
  // One logged call: op is the method name ("upsertVip", "setSelectionTable", ...), key a readable
  // identification ("10.0.0.10:80/tcp", "backend 3", "vip 0 size 1021").
  struct Call {
    std::string op;
    std::string key;
  };

  absl::Status upsertVip(const xlb_vip_key& key, const xlb_vip_value& value) override;
  absl::Status deleteVip(const xlb_vip_key& key) override;
  absl::Status upsertVipAddr(const xlb_addr_key& key, const xlb_addr_value& value) override;
  absl::Status deleteVipAddr(const xlb_addr_key& key) override;
  absl::Status upsertBackend(uint32_t id, const xlb_backend& backend) override;
  absl::Status deleteBackend(uint32_t id) override;
  using Dataplane::setSelectionTable;
  absl::Status setSelectionTables(std::span<const TableWrite> writes) override;
  // Like BpfDataplane without its guard: a table replacing one of the same size counts as flipped.
  TableWriteCounts tableWrites() const override { return table_writes_; }
  absl::Status setSettings(const xlb_settings& settings) override;
  absl::Status setAcceptedVlans(std::span<const uint32_t> ids) override;
  absl::StatusOr<CounterSnapshot> readCounters() override;
  absl::StatusOr<std::vector<uint64_t>> readDrops() override;  // counters().drops
  absl::StatusOr<std::vector<uint64_t>> readOpenFlows() override;
  // Logged and failure-injectable like every other mutation.
  absl::Status setOpenFlows(uint32_t backend_id, uint64_t count) override;
  absl::Status forEachFlow(const FlowVisitor& fn, FlowScanCounts* counts = nullptr) override;
  absl::StatusOr<ProtectedSweep> sweepProtectedFlows(uint64_t now_ns,
                                                     const ProtectedTimeouts& timeouts,
                                                     size_t max_changes) override;
  uint32_t flowTableCapacity() const override { return XLB_DEFAULT_FLOWS; }
  uint32_t protectedTableCapacity() const override { return XLB_DEFAULT_FLOWS; }
  uint64_t monotonicNowNs() override { return now_ns_; }
  // NAT: writes logged like the others ("setBackendNat", "setSnat", "upsertNatEndpoint",
  // "deleteNatEndpoint", "deleteNat"); the connection table is filled by tests with putNat.
  absl::Status setBackendNat(uint32_t id, const xlb_be_nat& value) override;
  absl::Status setSnat(uint32_t vip_id, const xlb_snat& value) override;
  absl::Status upsertNatEndpoint(const xlb_nat_ep& ep) override;
  absl::Status deleteNatEndpoint(const xlb_nat_ep& ep) override;
  absl::Status forEachNat(const NatVisitor& fn) override;
  absl::StatusOr<uint64_t> deleteNat(std::span<const xlb_flow_key> keys) override;
  uint32_t natTableCapacity() const override { return nat_capacity_; }
  absl::StatusOr<std::vector<uint64_t>> readNatFailures() override;
  // Not logged; fail with failReadCounters' status like the other reads.
  absl::StatusOr<std::optional<xlb_nat_value>> lookupNat(const xlb_flow_key& key) override;
  absl::StatusOr<xlb_be_nat> readBackendNat(uint32_t id) override;
  absl::StatusOr<xlb_snat> readSnat(uint32_t vip_id) override;
  absl::StatusOr<bool> lookupNatEndpoint(const xlb_nat_ep& ep) override;
  // Reads of the in-memory maps (not logged; reads fail with failReadCounters' status).
  absl::StatusOr<std::optional<xlb_vip_value>> lookupVip(const xlb_vip_key& key) override;
  absl::StatusOr<std::optional<xlb_flow_value>> lookupFlow(const xlb_flow_key& key) override;
  absl::StatusOr<xlb_backend> readBackend(uint32_t id) override;
  absl::StatusOr<std::vector<uint32_t>> readSelectionTable(uint32_t vip_id) override;
  absl::StatusOr<xlb_settings> readSettings() override;

  // ---- failure injection: the matching call fails with `status` and changes nothing ----
  // Fails the nth (1-based) mutating call from now on, whatever its op.
  void failNthCall(int n, absl::Status status);
  // Fails the next call of `op` (e.g. "setSelectionTable"), `skip` matching calls later.
  void failOp(const std::string& op, absl::Status status, int skip = 0);
  void clearFailures();
  // Runs inside every mutating call, before it takes effect (tests: what a reader sees while a
  // write is in progress). Empty function: none.
  void onCall(std::function<void(const Call&)> fn) { on_call_ = std::move(fn); }

  // ---- inspection ----
  const std::vector<Call>& calls() const { return calls_; }
  void clearCalls() { calls_.clear(); }
  std::vector<std::string> ops() const;  // just the op names, in order

  std::optional<xlb_vip_value> vip(const xlb_vip_key& key) const;
  std::optional<xlb_addr_value> vipAddr(const xlb_addr_key& key) const;
  size_t vipCount() const { return vips_.size(); }
  size_t vipAddrCount() const { return addrs_.size(); }
  // The slot as the data plane sees it (flags 0 = free / deleted).
  xlb_backend backend(uint32_t id) const;
  size_t activeBackendCount() const;
  // Empty when the VIP has no table.
  std::vector<uint32_t> table(uint32_t vip_id) const;
  size_t tableCount() const { return tables_.size(); }
  const xlb_settings& settings() const { return settings_; }
  // What setAcceptedVlans wrote last (sorted), nullopt before the first write.
  const std::optional<std::vector<uint32_t>>& acceptedVlans() const { return vlans_; }
  // Everything the maps hold, like readBpfContents() for the real maps.
  DataplaneContents contents() const;

  // ---- NAT maps as written ----
  xlb_be_nat backendNat(uint32_t id) const { return id < be_nat_.size() ? be_nat_[id] : xlb_be_nat{}; }
  // nullopt when never written.
  std::optional<xlb_snat> snat(uint32_t vip_id) const;
  bool hasNatEndpoint(const xlb_nat_ep& ep) const;
  size_t natEndpointCount() const { return eps_.size(); }
  // The connection table (insertion order), as the data plane would hold it.
  void putNat(const xlb_flow_key& key, const xlb_nat_value& value);
  std::optional<xlb_nat_value> nat(const xlb_flow_key& key) const;
  size_t natCount() const { return nat_.size(); }
  void setNatTableCapacity(uint32_t n) { nat_capacity_ = n; }
  std::vector<uint64_t>& natFailures() { return nat_fail_; }

  // Counters returned by readCounters(); tests fill them in.
  CounterSnapshot& counters() { return counters_; }
  void failReadCounters(absl::Status status) { read_failure_ = std::move(status); }

  // ---- flow table and clock, as the data plane would hold them (not logged as calls) ----
  // Adds or replaces the entry for `key` (the fake keeps insertion order for forEachFlow).
  void putFlow(const xlb_flow_key& key, const xlb_flow_value& value);
  void clearFlows() {
    flows_.clear();
    protected_.clear();
  }
  // The protected table (xlb_flows_prot), same rules as putFlow; eraseFlow removes the LRU copy.
  void putProtectedFlow(const xlb_flow_key& key, const xlb_flow_value& value);
  std::optional<xlb_flow_value> protectedFlow(const xlb_flow_key& key) const;
  void eraseFlow(const xlb_flow_key& key);
  size_t flowCount() const { return flows_.size(); }
  void failForEachFlow(absl::Status status) { flow_failure_ = std::move(status); }
  // Runs after forEachFlow has visited every entry: what the data plane did while a scan ran.
  void duringFlowScan(std::function<void()> fn) { during_scan_ = std::move(fn); }
  void setMonotonicNowNs(uint64_t ns) { now_ns_ = ns; }
  // The open-flow count of one backend (what readOpenFlows returns for it).
  uint64_t openFlows(uint32_t id) const { return id < open_flows_.size() ? open_flows_[id] : 0; }
  // Sets a count without logging a call: what the data plane's own increments would do.
  void setOpenFlowsDirect(uint32_t id, uint64_t count) { open_flows_.at(id) = count; }

  explicit FakeDataplane(Capacity capacity = {});
  Capacity capacity() const override { return capacity_; }

 private:
  // Logs the call and returns the injected failure, if any.
  absl::Status record(const std::string& op, const std::string& key);

  std::vector<Call> calls_;
  std::function<void(const Call&)> on_call_;
  int mutations_ = 0;
  std::map<int, absl::Status> fail_at_;  // absolute mutation number -> status
  struct OpFailure {
    std::string op;
    absl::Status status;
    int skip;
  };
  std::vector<OpFailure> op_failures_;

  std::map<FakeVipKey, xlb_vip_value> vips_;
  std::map<FakeVipKey, xlb_addr_value> addrs_;
  Capacity capacity_;
  std::vector<xlb_backend> backends_;
  std::map<uint32_t, std::vector<uint32_t>> tables_;
  TableWriteCounts table_writes_;
  xlb_settings settings_{};
  std::optional<std::vector<uint32_t>> vlans_;
  CounterSnapshot counters_;
  absl::Status read_failure_;
  std::vector<uint64_t> open_flows_;
  std::vector<std::pair<xlb_flow_key, xlb_flow_value>> flows_;
  std::vector<std::pair<xlb_flow_key, xlb_flow_value>> protected_;
  absl::Status flow_failure_;
  std::function<void()> during_scan_;
  uint64_t now_ns_ = 1'000'000'000'000;  // an arbitrary non-zero monotonic time
  std::vector<xlb_be_nat> be_nat_;
  std::map<uint32_t, xlb_snat> snat_;
  std::map<FakeVipKey, uint32_t> eps_;  // xlb_nat_ep is 20 bytes too
  std::vector<std::pair<xlb_flow_key, xlb_nat_value>> nat_;
  uint32_t nat_capacity_ = XLB_DEFAULT_NAT_ENTRIES;
  std::vector<uint64_t> nat_fail_;
};

// Readable forms of the ABI keys, shared by the fake's call log and test messages.
std::string describeVipKey(const xlb_vip_key& key);
std::string describeAddrKey(const xlb_addr_key& key);

}  // namespace xlb::dataplane
