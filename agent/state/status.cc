// SPDX-License-Identifier: Apache-2.0
// State's runtime side: health verdicts wired into the tables, draining, observed backend status,
// events and open-flow reconciliation.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dataplane/open_flows.h"
#include "spdlog/spdlog.h"
#include "nat/collector.h"
#include "state/state.h"

namespace xlb::state {

using config::VipKey;

namespace {

uint64_t unixNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

v1::Health toProtoHealth(health::Health h) {
  switch (h) {
    case health::Health::kUp:
      return v1::HEALTH_UP;
    case health::Health::kDown:
      return v1::HEALTH_DOWN;
    default:
      return v1::HEALTH_UNKNOWN;
  }
}

health::CheckSpec toCheckSpec(const v1::HealthCheck& hc) {
  health::CheckSpec spec;
  switch (hc.type()) {
    case v1::HEALTH_CHECK_TYPE_TCP:
      spec.type = health::CheckType::kTcp;
      break;
    case v1::HEALTH_CHECK_TYPE_HTTP:
      spec.type = health::CheckType::kHttp;
      break;
    case v1::HEALTH_CHECK_TYPE_GRPC:
      spec.type = health::CheckType::kGrpc;
      break;
    default:
      spec.type = health::CheckType::kNone;
  }
  spec.interval = health::Millis(hc.interval_ms());
  spec.timeout = health::Millis(hc.timeout_ms());
  spec.rise = hc.rise();
  spec.fall = hc.fall();
  spec.jitter = hc.jitter_percent() / 100.0;
  if (hc.has_http()) {
    spec.http.method = hc.http().method();
    spec.http.path = hc.http().path();
    spec.http.host = hc.http().host();
    spec.http.statuses.clear();
    for (const auto& r : hc.http().expected_statuses()) {
      spec.http.statuses.emplace_back(static_cast<int>(r.low()), static_cast<int>(r.high()));
    }
    spec.http.body_contains = hc.http().body_contains();
  }
  spec.grpc.service = hc.grpc().service();
  return spec;
}

std::string State::healthKey(const VipKey& vip, const IpAddress& backend) {
  return absl::StrCat(vip.toString(), " ", backend.toString());
}

std::string State::healthKey(const VipKey& vip, const BackendKey& backend) {
  return absl::StrCat(vip.toString(), " ", backendLabel(vip, backend));
}

void State::publish(v1::Event::Kind kind, const VipKey& vip, const std::string& backend,
                    const std::string& message) {
  v1::Event e;
  e.set_kind(kind);
  e.set_time_unix_ms(unixNowMs());
  *e.mutable_vip() = vip.toProto();
  e.set_backend(backend);
  e.set_message(message);
  events_.publish(e);
}

namespace {

health::TargetSpec targetOf(const VipEntry& e, const Member& m) {
  const v1::HealthCheck hc = config::effectiveHealthCheck(e.spec, e.spec.backends(m.spec_index));
  health::TargetSpec t;
  t.key = m.health_key;
  t.endpoint.address = hc.address().empty() ? m.address : *parseIpAddress(hc.address());
  // The check's port, else the backend's own (nat/fullnat backends listen on it), else the VIP's.
  t.endpoint.port = static_cast<uint16_t>(hc.port() != 0 ? hc.port() : m.port);
  t.spec = toCheckSpec(hc);
  t.initial = m.health.health;  // used only by a target the checker does not know yet
  return t;
}

}  // namespace

void State::afterApplyLocked(const std::map<VipKey, EntryPtr>& before,
                             const std::set<VipKey>& changed) {
  // ---- checker targets and the health-key index follow the changed VIPs' memberships ----
  std::vector<health::TargetSpec> upsert;
  std::vector<std::string> remove;
  for (const VipKey& key : changed) {
    const VipEntry* now = entryLocked(key);
    auto old = before.find(key);
    if (old != before.end()) {
      for (const auto& [bk, m] : old->second->members) {
        if (!m.health.checked) continue;
        const Member* still = nullptr;
        if (now != nullptr) {
          auto it = now->members.find(bk);
          if (it != now->members.end() && it->second.health.checked) still = &it->second;
        }
        if (still == nullptr) {
          remove.push_back(m.health_key);
          health_index_.erase(m.health_key);
        }
      }
    }
    if (now == nullptr) continue;
    for (const auto& [bk, m] : now->members) {
      if (!m.health.checked) continue;
      health_index_[m.health_key] = {key, bk};
      upsert.push_back(targetOf(*now, m));
    }
  }
  // The checker never calls its listener under its own lock, so calling it under mu_ cannot
  // deadlock against onHealthTransition.
  if (auto* checker = checker_.load(); checker != nullptr && (!upsert.empty() || !remove.empty())) {
    checker->updateTargets(std::move(upsert), remove);
  }

  // ---- events for what changed (after the transition that caused them) ----
  for (v1::Event& ev : lead_events_) events_.publish(ev);
  lead_events_.clear();
  for (const VipKey& key : changed) {
    const VipEntry* e = entryLocked(key);
    auto oit = before.find(key);
    const VipEntry* old = oit == before.end() ? nullptr : oit->second.get();
    if (e == nullptr) {
      if (old != nullptr) {
        publish(v1::Event::KIND_VIP_REMOVED, key, "",
                absl::StrCat("vip ", key.toString(), " removed"));
      }
      continue;
    }
    if (old == nullptr) {
      publish(v1::Event::KIND_VIP_ADDED, key, "", absl::StrCat("vip ", key.toString(), " added"));
    }
    for (const auto& [bk, m] : e->members) {
      const Member* om = nullptr;
      if (old != nullptr) {
        auto it = old->members.find(bk);
        if (it != old->members.end()) om = &it->second;
      }
      const std::string& a = m.label;
      if (om == nullptr) {
        publish(v1::Event::KIND_BACKEND_ADDED, key, a,
                absl::StrCat("backend ", a, " added to vip ", key.toString()));
      }
      if ((om == nullptr && m.draining) || (om != nullptr && om->draining != m.draining)) {
        publish(m.draining ? v1::Event::KIND_BACKEND_DRAINING : v1::Event::KIND_BACKEND_ACTIVE, key,
                a,
                absl::StrCat("backend ", a, " of vip ", key.toString(),
                             m.draining ? " is draining" : " is active again"));
      }
    }
    if (old != nullptr) {
      for (const auto& [bk, m] : old->members) {
        if (e->members.count(bk)) continue;
        publish(v1::Event::KIND_BACKEND_REMOVED, key, m.label,
                absl::StrCat("backend ", m.label, " removed from vip ", key.toString()));
      }
    }
    const bool was_down = old != nullptr && old->all_down;
    if (e->all_down && !was_down) {
      const bool keep = e->spec.all_down_policy() != v1::ALL_DOWN_POLICY_DROP;
      std::string msg =
          absl::StrCat("every backend of vip ", key.toString(), " is down: ",
                       keep ? "keeping the last healthy backends in rotation (keep_last_healthy)"
                            : "dropping new flows (drop)");
      spdlog::warn("state: {}", msg);
      publish(v1::Event::KIND_VIP_ALL_DOWN, key, "", msg);
    } else if (!e->all_down && was_down) {
      std::string msg = absl::StrCat("vip ", key.toString(), " recovered: a backend is up again");
      spdlog::info("state: {}", msg);
      publish(v1::Event::KIND_VIP_RECOVERED, key, "", msg);
    }
  }
}

void State::attachHealthChecker(health::HealthChecker* checker) {
  std::lock_guard lock(mu_);
  checker_.store(checker);
  if (checker == nullptr) return;
  std::vector<health::TargetSpec> targets;
  for (const auto& [key, e] : model_.vips) {
    for (const auto& [bk, m] : e->members) {
      if (m.health.checked) targets.push_back(targetOf(*e, m));
    }
  }
  checker->setTargets(std::move(targets));
}

v1::BackendStatus State::backendStatusOf(const VipEntry& e, const Member& m,
                                         const dataplane::OpenFlowCounts& open_flows) const {
  v1::BackendStatus out;
  // "ADDR:PORT" when the backend's port is not the VIP's (the message has no port field).
  out.set_address(m.label);
  out.set_weight(m.weight);
  out.set_state(m.draining ? v1::BACKEND_STATE_DRAINING : v1::BACKEND_STATE_ACTIVE);
  const bool checked = m.health.checked;
  out.set_health(checked ? toProtoHealth(m.health.health) : v1::HEALTH_UP);
  if (checked && m.health.last) {
    auto* t = out.mutable_last_transition();
    t->set_time_unix_ms(m.health.last_unix_ms);
    t->set_from(toProtoHealth(m.health.last->from));
    t->set_to(toProtoHealth(m.health.last->to));
    t->set_reason(m.health.last->reason);
  }
  auto* checker = checker_.load();
  if (checked && checker != nullptr) {
    if (auto st = checker->status(m.health_key)) out.set_last_check_result(st->last_reason);
  } else if (!checked) {
    out.set_last_check_result("not checked (health_check type none)");
  }
  out.set_in_rotation(m.in_rotation);
  out.set_open_flows(open_flows[m.id]);
  if (m.spec_index < e.spec.backends_size() && e.spec.backends(m.spec_index).has_source()) {
    *out.mutable_source() = e.spec.backends(m.spec_index).source();
    if (discovery_status_) discovery_status_(e.key, out.mutable_source());
  }
  return out;
}

v1::VipStatus State::vipStatusOf(const VipEntry& e,
                                 const dataplane::OpenFlowCounts& open_flows) const {
  v1::VipStatus out;
  *out.mutable_vip() = e.key.toProto();
  out.set_name(e.spec.name());
  out.set_algorithm(e.spec.algorithm());
  out.set_forwarding(e.spec.forwarding());
  out.set_all_down(e.all_down);
  out.set_table_size(e.table_m);
  out.set_kernel_bytes(vipKernelBytes(e, possibleCpus()));
  std::vector<const Member*> members;
  members.reserve(e.members.size());
  for (const auto& [bk, m] : e.members) members.push_back(&m);
  std::sort(members.begin(), members.end(),
            [](const Member* a, const Member* b) { return a->spec_index < b->spec_index; });
  for (const Member* m : members) *out.add_backends() = backendStatusOf(e, *m, open_flows);
  return out;
}

absl::StatusOr<v1::VipStatus> State::vipStatus(const v1::VipKey& key_proto) const {
  auto key = config::vipKeyOf(key_proto);
  if (!key.ok()) return key.status();
  auto v = view();
  if (const EntryPtr* e = v->by_key.get(*key); e != nullptr) {
    auto open = dataplane_.openFlowCounts();
    if (!open.ok()) return open.status();
    return vipStatusOf(**e, *open);
  }
  return absl::NotFoundError(absl::StrCat("vip ", key->toString(), " not found"));
}

absl::StatusOr<std::vector<v1::VipStatus>> State::vipStatuses() const {
  auto v = view();
  auto open = dataplane_.openFlowCounts();
  if (!open.ok()) return open.status();
  std::vector<v1::VipStatus> out;
  out.reserve(v->vips.size());
  for (const EntryPtr& e : v->vips.values()) out.push_back(vipStatusOf(*e, *open));
  return out;
}

namespace {

// Memberships a ListVips page holds at most (besides its first VIP's).
constexpr size_t kPageBackends = 5000;

// A ListVips page token: the last key of the previous page, "ADDRESS|PORT|PROTOCOL".
std::string pageToken(const VipKey& k) {
  return absl::StrCat(k.address.toString(), "|", k.port, "|", static_cast<int>(k.protocol));
}

absl::StatusOr<VipKey> fromPageToken(const std::string& token) {
  auto bad = [&token](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_token: \"", token, "\" is not a token this agent gave (", why,
                     "); start again with an empty page_token"));
  };
  std::vector<std::string> parts = absl::StrSplit(token, '|');
  int port = 0, proto = 0;
  if (parts.size() != 3) return bad("want 3 fields");
  if (!absl::SimpleAtoi(parts[1], &port) || !absl::SimpleAtoi(parts[2], &proto))
    return bad("port and protocol are numbers");
  v1::VipKey key;
  key.set_address(parts[0]);
  key.set_port(static_cast<uint32_t>(port));
  if (!v1::Protocol_IsValid(proto)) return bad("unknown protocol");
  key.set_protocol(static_cast<v1::Protocol>(proto));
  auto k = config::vipKeyOf(key);
  if (!k.ok()) return bad(k.status().message());
  return *k;
}

}  // namespace

absl::Status State::listVips(const v1::ListVipsRequest& req, v1::ListVipsResponse* out) const {
  auto v = view();
  const bool paged = req.page_size() != 0 || !req.page_token().empty();
  std::vector<const VipEntry*> page;
  if (!paged) {
    page.reserve(v->vips.size());
    for (const EntryPtr& e : v->vips.values()) page.push_back(e.get());
  } else {
    auto it = v->by_key.begin();
    if (!req.page_token().empty()) {
      auto after = fromPageToken(req.page_token());
      if (!after.ok()) return after.status();
      it = v->by_key.upper_bound(*after);
    }
    const size_t limit = req.page_size() == 0 ? v->by_key.size() : req.page_size();
    // A page also stops at kPageBackends memberships (after at least one VIP), so that a page of
    // VIPs with 100 backends each costs what one of 10 backends each does.
    size_t members = 0;
    for (; it != v->by_key.end() && page.size() < limit; ++it) {
      members += it->second->members.size();
      if (!page.empty() && members > kPageBackends) break;
      page.push_back(it->second.get());
    }
    if (it != v->by_key.end()) out->set_next_page_token(pageToken(page.back()->key));
  }
  auto open = dataplane_.openFlowCounts();
  if (!open.ok()) return open.status();
  out->mutable_vips()->Reserve(static_cast<int>(page.size()));
  out->mutable_statuses()->Reserve(static_cast<int>(page.size()));
  for (const VipEntry* e : page) {
    // Before the first apply the entries are adopted ones: their specs are shown normalized, as
    // config() shows them.
    *out->add_vips() = v->applied ? e->spec : config::normalizeVip(e->spec);
    *out->add_statuses() = vipStatusOf(*e, *open);
  }
  return absl::OkStatus();
}

std::vector<v1::Event> State::healthSnapshot() const {
  auto v = view();
  std::vector<v1::Event> out;
  const uint64_t now = unixNowMs();
  for (const EntryPtr& e : v->vips.values()) {
    v1::VipStatus vs = vipStatusOf(*e, {});
    for (const v1::BackendStatus& st : vs.backends()) {
      v1::Event ev;
      ev.set_kind(v1::Event::KIND_BACKEND_HEALTH);
      ev.set_time_unix_ms(now);
      *ev.mutable_vip() = e->key.toProto();
      ev.set_backend(st.address());
      auto* t = ev.mutable_health_transition();
      *t = st.last_transition();
      t->set_to(st.health());  // the current health, whatever the last transition said
      ev.set_message(absl::StrCat("backend ", st.address(), " of vip ", e->key.toString(), " is ",
                                  st.health() == v1::HEALTH_UP     ? "up"
                                  : st.health() == v1::HEALTH_DOWN ? "down"
                                                                   : "unknown (not probed yet)",
                                  st.state() == v1::BACKEND_STATE_DRAINING ? ", draining" : ""));
      out.push_back(std::move(ev));
    }
  }
  return out;
}

absl::StatusOr<v1::BackendStatus> State::setDrainingLocked(const v1::VipKey& key_proto,
                                                           const std::string& address_text,
                                                           bool draining) {
  auto ref = findBackendLocked(key_proto, address_text);
  if (!ref.ok()) return ref.status();
  const BackendKey bk{ref->member->address, ref->member->port};
  if (ref->member->draining != draining) {
    const int index = ref->member->spec_index;
    const v1::BackendState want =
        draining ? v1::BACKEND_STATE_DRAINING : v1::BACKEND_STATE_ACTIVE;
    auto st = editVipLocked(ref->key, [index, want](v1::Vip& spec) {
      spec.mutable_backends(index)->set_state(want);
    });
    if (!st.ok()) return st.status();
  }
  auto open = dataplane_.openFlowCounts();
  const dataplane::OpenFlowCounts counts =
      open.ok() ? std::move(*open) : dataplane::OpenFlowCounts();
  const VipEntry* e = entryLocked(ref->key);
  return backendStatusOf(*e, e->members.at(bk), counts);
}

absl::StatusOr<v1::BackendStatus> State::drainBackend(const v1::VipKey& key,
                                                      const std::string& address) {
  std::lock_guard lock(mu_);
  return setDrainingLocked(key, address, true);
}

absl::StatusOr<v1::BackendStatus> State::undrainBackend(const v1::VipKey& key,
                                                        const std::string& address) {
  std::lock_guard lock(mu_);
  return setDrainingLocked(key, address, false);
}

nat::NatVipInfo natVipInfoOf(const VipEntry& e) {
  nat::NatVipInfo info;
  info.id = e.id;
  info.key = e.key;
  info.name = e.spec.name();
  info.mode = e.spec.forwarding();
  info.timeouts = nat::timeoutsOf(e.spec.nat_timeouts());
  return info;
}

bool sameNatVipInfo(const nat::NatVipInfo& a, const nat::NatVipInfo& b) {
  return a.id == b.id && a.key == b.key && a.name == b.name && a.mode == b.mode &&
         a.timeouts.syn_ns == b.timeouts.syn_ns &&
         a.timeouts.established_ns == b.timeouts.established_ns &&
         a.timeouts.closing_ns == b.timeouts.closing_ns && a.timeouts.udp_ns == b.timeouts.udp_ns;
}

std::shared_ptr<const nat::NatVipMap> State::sharedNatVips() const {
  auto v = view();
  if (auto kept = v->nat_vips.load()) return kept;  // built, or kept by publishLocked
  std::call_once(v->nat_vips_once, [&v] {
    nat::NatVipMap out;
    for (const EntryPtr& e : v->vips.values()) {
      nat::NatVipInfo info = natVipInfoOf(*e);
      out.emplace(info.id, std::move(info));
    }
    v->nat_vips.store(std::make_shared<const nat::NatVipMap>(std::move(out)));
  });
  return v->nat_vips.load();
}

nat::NatVipMap State::natVips() const { return *sharedNatVips(); }

void State::setLocalPortRangeReader(nat::LocalPortRangeReader reader) {
  std::lock_guard lock(mu_);
  local_port_range_ = std::move(reader);
}

// The data plane adds and subtracts concurrently with the scan, and a scan of a large table takes
// a while: a flow seen open by the scan may have closed (and been subtracted) before the write, and
// one opened after its bucket was scanned is counted by the data plane but not by the scan.
// Rewriting counts as absolute values turned the first kind into a lasting +1 per flow (the flow is
// closing, nothing subtracts it again until the next round), which skewed least_conn against one
// backend for a whole interval during bursts of short connections (issue 10, the e2e_algorithms
// flake). So the correction is a difference, bounded by what the data plane held both before and
// after the scan:
//  - too high (the only drift the data plane makes: flows that ended silently, evictions, lost
//    decrement races): lowered by min(before, after) - scanned. A flow changing state during the scan
//    can only make that estimate smaller, except a close and an open on the same backend that the
//    scan both missed; a count lowered one too far heals at once when it reaches 0 (decrements stop
//    there).
//  - too low (nothing in the data plane makes it, but a restored or reset map could): raised by the
//    smaller shortfall of two rounds in a row, since one short-lived flow opened and closed inside a
//    scan looks like a shortfall of one, and a count raised too far would not heal.
// The new value is written relative to the count read under the lock; only the microseconds between
// that read and the write can lose a concurrent data-plane update.
absl::Status State::reconcileOpenFlows(uint64_t idle_timeout_ns, dataplane::ScanPacer* pacer) {
  std::vector<std::pair<uint32_t, xlb_backend>> table;
  {
    auto v = view();
    for (const EntryPtr& e : v->vips.values()) {
      for (const auto& [addr, m] : e->members) table.emplace_back(m.id, m.value);
    }
  }
  // The scan (up to the whole flow table) runs unlocked so API calls and health verdicts are not
  // held up by it.
  auto before = dataplane_.readOpenFlows();
  if (!before.ok()) return before.status();
  dataplane::Dataplane::FlowScanCounts scan;
  const auto scan_started = std::chrono::steady_clock::now();
  const auto paused_before = pacer ? pacer->paused() : std::chrono::steady_clock::duration{};
  auto counts = dataplane::countOpenFlows(dataplane_, table, idle_timeout_ns, &scan, pacer);
  if (!counts.ok()) return counts.status();
  {
    std::lock_guard lock(flow_table_mu_);
    flow_table_.lru_entries = scan.lru;
    flow_table_.protected_only = scan.protected_only;
    flow_table_.scanned = true;
    flow_table_.scan_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - scan_started).count();
    flow_table_.scan_paused_seconds =
        pacer ? std::chrono::duration<double>(pacer->paused() - paused_before).count() : 0.0;
  }

  std::lock_guard lock(mu_);
  auto current = dataplane_.readOpenFlows();
  if (!current.ok()) return current.status();
  // Generation of each id at the scan (kNoGen: not scanned); a vector by id, not a map: this runs
  // under mu_ and at 100,000 memberships a map cost 100,000 allocations per round.
  constexpr uint64_t kNoGen = UINT64_MAX;
  std::vector<uint64_t> scanned_gen(dataplane_.capacity().backends, kNoGen);
  for (const auto& [id, be] : table) {
    if (id < scanned_gen.size()) scanned_gen[id] = be.gen;
  }
  std::map<uint32_t, std::pair<uint32_t, uint64_t>> shortfalls;
  absl::Status result;
  size_t fixed = 0;
  for (const auto& [key, e] : model_.vips) {
    for (const auto& [addr, m] : e->members) {
      // Assigned to another backend since the snapshot: its count is not ours to write.
      if (m.id >= scanned_gen.size() || scanned_gen[m.id] != m.gen) continue;
      const uint64_t want = (*counts)[m.id];
      const uint64_t have = m.id < current->size() ? (*current)[m.id] : 0;
      const uint64_t had = m.id < before->size() ? (*before)[m.id] : 0;
      const uint64_t lo = std::min(had, have), hi = std::max(had, have);
      uint64_t next = have;
      if (want < lo) {
        next = have - (lo - want);
      } else if (want > hi) {
        const uint64_t shortfall = want - hi;
        shortfalls[m.id] = {m.gen, shortfall};
        auto prev = open_flow_shortfall_.find(m.id);
        if (prev != open_flow_shortfall_.end() && prev->second.first == m.gen) {
          next = have + std::min(shortfall, prev->second.second);
          shortfalls[m.id].second -= next - have;
        }
      }
      if (next == have) continue;
      if (auto st = dataplane_.setOpenFlows(m.id, next); !st.ok()) {
        if (result.ok()) result = st;
        continue;
      }
      ++fixed;
    }
  }
  open_flow_shortfall_ = std::move(shortfalls);
  if (fixed > 0) spdlog::debug("state: reconciled the open-flow count of {} backends", fixed);
  return result;
}

dataplane::FlowTableStatus State::flowTableStatus() const {
  std::lock_guard lock(flow_table_mu_);
  dataplane::FlowTableStatus s = flow_table_;
  s.lru_capacity = dataplane_.flowTableCapacity();
  s.protected_capacity = dataplane_.protectedTableCapacity();
  return s;
}

void State::updateFlowTableStatus(const std::function<void(dataplane::FlowTableStatus&)>& fn) {
  std::lock_guard lock(flow_table_mu_);
  fn(flow_table_);
}

}  // namespace xlb::state
