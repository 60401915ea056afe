// SPDX-License-Identifier: Apache-2.0
// In-memory Dataplane for unit tests (see fake_dataplane.h).
#include "dataplane/fake_dataplane.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/address.h"

namespace xlb::dataplane {
namespace {

template <typename T>
FakeVipKey bytesOf(const T& key) {
  static_assert(sizeof(T) == 20);
  FakeVipKey out;
  std::memcpy(out.bytes.data(), &key, sizeof(T));
  return out;
}

}  // namespace

std::string describeVipKey(const xlb_vip_key& key) {
  const char* proto = key.proto == IPPROTO_TCP ? "tcp" : key.proto == IPPROTO_UDP ? "udp" : "?";
  return absl::StrCat(formatHostPort(addressOf(key.addr, key.family), ntohs(key.port)), "/", proto);
}

std::string describeAddrKey(const xlb_addr_key& key) {
  return addressOf(key.addr, key.family).toString();
}

FakeDataplane::FakeDataplane(Capacity capacity)
    : capacity_(capacity),
      backends_(capacity.backends),
      open_flows_(capacity.backends, 0),
      be_nat_(capacity.backends),
      nat_fail_(capacity.backends, 0) {
  counters_.global.assign(XLB_STAT_MAX, 0);
  counters_.drops.assign(XLB_DROP_MAX, 0);
  counters_.vips.assign(capacity.vips, xlb_counters{});
  counters_.backends.assign(capacity.backends, xlb_counters{});
}

absl::Status FakeDataplane::record(const std::string& op, const std::string& key) {
  calls_.push_back({op, key});
  if (on_call_) on_call_(calls_.back());
  ++mutations_;
  if (auto it = fail_at_.find(mutations_); it != fail_at_.end()) {
    absl::Status st = it->second;
    fail_at_.erase(it);
    return st;
  }
  for (auto it = op_failures_.begin(); it != op_failures_.end(); ++it) {
    if (it->op != op) continue;
    if (it->skip-- > 0) continue;
    absl::Status st = it->status;
    op_failures_.erase(it);
    return st;
  }
  return absl::OkStatus();
}

void FakeDataplane::failNthCall(int n, absl::Status status) {
  fail_at_[mutations_ + n] = std::move(status);
}

void FakeDataplane::failOp(const std::string& op, absl::Status status, int skip) {
  op_failures_.push_back({op, std::move(status), skip});
}

void FakeDataplane::clearFailures() {
  fail_at_.clear();
  op_failures_.clear();
}

std::vector<std::string> FakeDataplane::ops() const {
  std::vector<std::string> out;
  for (const auto& c : calls_) out.push_back(c.op);
  return out;
}

absl::Status FakeDataplane::upsertVip(const xlb_vip_key& key, const xlb_vip_value& value) {
  if (auto st = record("upsertVip", describeVipKey(key)); !st.ok()) return st;
  vips_[bytesOf(key)] = value;
  return absl::OkStatus();
}

absl::Status FakeDataplane::deleteVip(const xlb_vip_key& key) {
  if (auto st = record("deleteVip", describeVipKey(key)); !st.ok()) return st;
  vips_.erase(bytesOf(key));
  return absl::OkStatus();
}

absl::Status FakeDataplane::upsertVipAddr(const xlb_addr_key& key, const xlb_addr_value& value) {
  if (auto st = record("upsertVipAddr", describeAddrKey(key)); !st.ok()) return st;
  addrs_[bytesOf(key)] = value;
  return absl::OkStatus();
}

absl::Status FakeDataplane::deleteVipAddr(const xlb_addr_key& key) {
  if (auto st = record("deleteVipAddr", describeAddrKey(key)); !st.ok()) return st;
  addrs_.erase(bytesOf(key));
  return absl::OkStatus();
}

absl::Status FakeDataplane::upsertBackend(uint32_t id, const xlb_backend& backend) {
  if (auto st = record("upsertBackend", absl::StrCat("backend ", id)); !st.ok()) return st;
  if (id >= backends_.size()) return absl::InvalidArgumentError("backend id out of range");
  backends_[id] = backend;
  return absl::OkStatus();
}

absl::Status FakeDataplane::deleteBackend(uint32_t id) {
  if (auto st = record("deleteBackend", absl::StrCat("backend ", id)); !st.ok()) return st;
  if (id >= backends_.size()) return absl::InvalidArgumentError("backend id out of range");
  backends_[id].flags = 0;  // the slot stays, marked free
  open_flows_[id] = 0;      // like BpfDataplane::deleteBackend (not a separate logged call)
  return absl::OkStatus();
}

absl::Status FakeDataplane::setSelectionTables(std::span<const TableWrite> writes) {
  std::vector<std::string> what;
  for (const TableWrite& w : writes) {
    what.push_back(absl::StrCat("vip ", w.vip_id, " size ", w.table.size()));
  }
  if (auto st = record("setSelectionTables", absl::StrJoin(what, ", ")); !st.ok()) return st;
  for (const TableWrite& w : writes) {  // all or nothing, like BpfDataplane
    if (w.vip_id >= capacity_.vips) return absl::InvalidArgumentError("vip id out of range");
  }
  for (const TableWrite& w : writes) {
    auto it = tables_.find(w.vip_id);
    if (!w.table.empty() && it != tables_.end() && it->second.size() == w.table.size())
      ++table_writes_.flipped;
    else
      ++table_writes_.swapped;
    if (w.table.empty()) {
      tables_.erase(w.vip_id);
    } else {
      tables_[w.vip_id] = w.table;
    }
  }
  return absl::OkStatus();
}

absl::Status FakeDataplane::setSettings(const xlb_settings& settings) {
  if (auto st = record("setSettings", "settings"); !st.ok()) return st;
  settings_ = settings;
  return absl::OkStatus();
}

absl::Status FakeDataplane::setAcceptedVlans(std::span<const uint32_t> ids) {
  if (auto st = record("setAcceptedVlans", "vlans"); !st.ok()) return st;
  vlans_ = std::vector<uint32_t>(ids.begin(), ids.end());
  std::sort(vlans_->begin(), vlans_->end());
  return absl::OkStatus();
}

absl::StatusOr<CounterSnapshot> FakeDataplane::readCounters() {
  if (!read_failure_.ok()) return read_failure_;
  return counters_;
}

absl::StatusOr<std::vector<uint64_t>> FakeDataplane::readDrops() {
  if (!read_failure_.ok()) return read_failure_;
  return counters_.drops;
}

absl::StatusOr<std::vector<uint64_t>> FakeDataplane::readOpenFlows() {
  if (!read_failure_.ok()) return read_failure_;
  return open_flows_;
}

absl::Status FakeDataplane::setOpenFlows(uint32_t backend_id, uint64_t count) {
  if (auto st = record("setOpenFlows", absl::StrCat("backend ", backend_id)); !st.ok()) return st;
  if (backend_id >= open_flows_.size()) return absl::InvalidArgumentError("backend id out of range");
  open_flows_[backend_id] = count;
  return absl::OkStatus();
}

namespace {
using FlowList = std::vector<std::pair<xlb_flow_key, xlb_flow_value>>;
FlowList::iterator findFlow(FlowList& l, const xlb_flow_key& key) {
  return std::find_if(l.begin(), l.end(), [&key](const auto& e) {
    return std::memcmp(&e.first, &key, sizeof(key)) == 0;
  });
}
}  // namespace

absl::Status FakeDataplane::forEachFlow(const FlowVisitor& fn, FlowScanCounts* counts) {
  if (!flow_failure_.ok()) return flow_failure_;
  FlowScanCounts c;
  for (const auto& [k, v] : flows_) {
    ++c.lru;
    fn(k, v);
  }
  for (const auto& [k, v] : protected_) {
    if (findFlow(flows_, k) != flows_.end()) continue;
    ++c.protected_only;
    fn(k, v);
  }
  if (during_scan_) during_scan_();
  if (counts) *counts = c;
  return absl::OkStatus();
}

absl::StatusOr<Dataplane::ProtectedSweep> FakeDataplane::sweepProtectedFlows(
    uint64_t now_ns, const ProtectedTimeouts& timeouts, size_t max_changes) {
  if (!flow_failure_.ok()) return flow_failure_;
  ProtectedSweep r;
  size_t changes = 0;
  for (auto it = protected_.begin(); it != protected_.end();) {
    ++r.entries;
    if (protectedVerdict(it->first, it->second, now_ns, timeouts) == ProtectedVerdict::kKeep) {
      ++it;
      continue;
    }
    if (changes >= max_changes) {
      r.truncated = true;
      ++it;
      continue;
    }
    auto lru_it = findFlow(flows_, it->first);
    std::optional<xlb_flow_value> lru;
    if (lru_it != flows_.end()) lru = lru_it->second;
    auto d = decideWithLru(it->first, it->second, lru, now_ns, timeouts);
    if (d.action == ProtectedDecision::kDelete) {
      ++changes;
      ++r.deleted;
      it = protected_.erase(it);
      continue;
    }
    if (d.action == ProtectedDecision::kRefresh) {
      ++changes;
      ++r.refreshed;
      it->second.last_seen_ns = d.last_seen_ns;
    }
    ++it;
  }
  return r;
}

void FakeDataplane::putProtectedFlow(const xlb_flow_key& key, const xlb_flow_value& value) {
  auto it = findFlow(protected_, key);
  if (it != protected_.end())
    it->second = value;
  else
    protected_.emplace_back(key, value);
}

std::optional<xlb_flow_value> FakeDataplane::protectedFlow(const xlb_flow_key& key) const {
  auto& l = const_cast<FlowList&>(protected_);
  auto it = findFlow(l, key);
  if (it == l.end()) return std::nullopt;
  return it->second;
}

void FakeDataplane::eraseFlow(const xlb_flow_key& key) {
  auto it = findFlow(flows_, key);
  if (it != flows_.end()) flows_.erase(it);
}

void FakeDataplane::putFlow(const xlb_flow_key& key, const xlb_flow_value& value) {
  for (auto& [k, v] : flows_) {
    if (std::memcmp(&k, &key, sizeof(key)) == 0) {
      v = value;
      return;
    }
  }
  flows_.emplace_back(key, value);
}

std::optional<xlb_vip_value> FakeDataplane::vip(const xlb_vip_key& key) const {
  auto it = vips_.find(bytesOf(key));
  if (it == vips_.end()) return std::nullopt;
  return it->second;
}

std::optional<xlb_addr_value> FakeDataplane::vipAddr(const xlb_addr_key& key) const {
  auto it = addrs_.find(bytesOf(key));
  if (it == addrs_.end()) return std::nullopt;
  return it->second;
}

xlb_backend FakeDataplane::backend(uint32_t id) const {
  return id < backends_.size() ? backends_[id] : xlb_backend{};
}

size_t FakeDataplane::activeBackendCount() const {
  size_t n = 0;
  for (const auto& b : backends_) n += (b.flags & XLB_BE_F_ACTIVE) ? 1 : 0;
  return n;
}

std::vector<uint32_t> FakeDataplane::table(uint32_t vip_id) const {
  auto it = tables_.find(vip_id);
  return it == tables_.end() ? std::vector<uint32_t>{} : it->second;
}

DataplaneContents FakeDataplane::contents() const {
  DataplaneContents out;
  for (const auto& [k, v] : vips_) {
    xlb_vip_key key;
    std::memcpy(&key, k.bytes.data(), sizeof(key));
    out.vips.emplace_back(key, v);
  }
  for (const auto& [k, v] : addrs_) {
    xlb_addr_key key;
    std::memcpy(&key, k.bytes.data(), sizeof(key));
    out.addrs.emplace_back(key, v);
  }
  for (uint32_t id = 0; id < backends_.size(); ++id) {
    if (backends_[id].gen != 0 || backends_[id].flags != 0)
      out.backends.emplace_back(id, backends_[id]);
  }
  for (const auto& [id, t] : tables_) out.table_vip_ids.push_back(id);
  for (const auto& [id, b] : out.backends) out.backend_nat.emplace_back(id, be_nat_[id]);
  for (const auto& [k, v] : eps_) {
    xlb_nat_ep ep;
    std::memcpy(&ep, k.bytes.data(), sizeof(ep));
    out.nat_eps.push_back(ep);
  }
  for (const auto& [id, v] : snat_) {
    if (v.nr4 != 0 || v.nr6 != 0) out.snat_vip_ids.push_back(id);
  }
  return out;
}

absl::StatusOr<std::optional<xlb_vip_value>> FakeDataplane::lookupVip(const xlb_vip_key& key) {
  if (!read_failure_.ok()) return read_failure_;
  return vip(key);
}

absl::StatusOr<std::optional<xlb_flow_value>> FakeDataplane::lookupFlow(const xlb_flow_key& key) {
  if (!read_failure_.ok()) return read_failure_;
  for (const auto& [k, v] : flows_) {
    if (std::memcmp(&k, &key, sizeof(key)) == 0) return std::optional<xlb_flow_value>(v);
  }
  for (const auto& [k, v] : protected_) {
    if (std::memcmp(&k, &key, sizeof(key)) == 0) return std::optional<xlb_flow_value>(v);
  }
  return std::optional<xlb_flow_value>();
}

absl::StatusOr<xlb_backend> FakeDataplane::readBackend(uint32_t id) {
  if (!read_failure_.ok()) return read_failure_;
  if (id >= backends_.size()) return absl::InvalidArgumentError("backend id out of range");
  return backends_[id];
}

absl::StatusOr<std::vector<uint32_t>> FakeDataplane::readSelectionTable(uint32_t vip_id) {
  if (!read_failure_.ok()) return read_failure_;
  return table(vip_id);
}

absl::StatusOr<xlb_settings> FakeDataplane::readSettings() {
  if (!read_failure_.ok()) return read_failure_;
  return settings_;
}

}  // namespace xlb::dataplane
