// SPDX-License-Identifier: Apache-2.0
// State's runtime side: health verdicts wired into the tables, draining, observed backend status,
// events and open-flow reconciliation.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "dataplane/open_flows.h"
#include "spdlog/spdlog.h"
#include "state/state.h"

namespace xlb::state {

using config::VipKey;

namespace {

bool probes(v1::HealthCheckType t) {
  return t == v1::HEALTH_CHECK_TYPE_TCP || t == v1::HEALTH_CHECK_TYPE_HTTP ||
         t == v1::HEALTH_CHECK_TYPE_GRPC;
}

uint64_t unixNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Transition times are steady-clock points; the API speaks wall-clock milliseconds.
uint64_t toUnixMs(health::Clock::time_point at) {
  auto age = health::Clock::now() - at;
  auto wall = std::chrono::system_clock::now() - age;
  return std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count();
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

health::Health State::memberHealth(const VipKey& key, const v1::Vip& spec,
                                   const v1::Backend& backend, const IpAddress& address) const {
  if (!probes(config::effectiveHealthCheck(spec, backend).type())) return health::Health::kUp;
  auto bk = backendKeyOf(key, backend);
  auto it = health_.find(bk.ok() ? healthKey(key, *bk) : healthKey(key, address));
  if (it == health_.end() || !it->second.checked) return health::Health::kUnknown;
  return it->second.health;
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

void State::afterApplyLocked(const Model& before) {
  // ---- health records and checker targets follow the memberships ----
  std::map<std::string, HealthRecord> next;
  std::vector<health::TargetSpec> targets;
  for (const v1::Vip& spec : model_.config.vips()) {
    auto key = config::vipKeyOf(spec);
    if (!key.ok()) continue;
    for (const v1::Backend& b : spec.backends()) {
      auto bk = backendKeyOf(*key, b);
      if (!bk.ok()) continue;
      const IpAddress* addr = &bk->address;
      const std::string hk = healthKey(*key, *bk);
      v1::HealthCheck hc = config::effectiveHealthCheck(spec, b);
      HealthRecord rec;
      if (auto it = health_.find(hk); it != health_.end()) rec = it->second;
      rec.vip = *key;
      rec.address = *addr;
      rec.label = backendLabel(*key, *bk);
      rec.checked = probes(hc.type());
      // An unprobed backend forgets its verdict: the checker starts it afresh if probed again.
      if (!rec.checked) rec.health = health::Health::kUnknown;
      next[hk] = rec;
      if (!rec.checked) continue;
      health::TargetSpec t;
      t.key = hk;
      t.endpoint.address = hc.address().empty() ? *addr : *parseIpAddress(hc.address());
      // The check's port, else the backend's own (nat/fullnat backends listen on it), else the
      // VIP's.
      t.endpoint.port = static_cast<uint16_t>(hc.port() != 0 ? hc.port() : bk->port);
      t.spec = toCheckSpec(hc);
      t.initial = rec.health;  // used only by a target the checker does not know yet
      targets.push_back(std::move(t));
    }
  }
  health_ = std::move(next);
  // The checker never calls its listener under its own lock, so calling it under mu_ cannot
  // deadlock against onHealthTransition.
  if (checker_ != nullptr) checker_->setTargets(std::move(targets));

  // ---- events for what changed (after the transition that caused them) ----
  if (lead_event_) {
    events_.publish(*lead_event_);
    lead_event_.reset();
  }
  for (const auto& [key, e] : model_.vips) {
    auto old = before.vips.find(key);
    if (old == before.vips.end()) {
      publish(v1::Event::KIND_VIP_ADDED, key, "", absl::StrCat("vip ", key.toString(), " added"));
    }
    for (const auto& [bk, m] : e.members) {
      const Member* om = nullptr;
      if (old != before.vips.end()) {
        auto it = old->second.members.find(bk);
        if (it != old->second.members.end()) om = &it->second;
      }
      const std::string a = backendLabel(key, bk);
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
    if (old != before.vips.end()) {
      for (const auto& [bk, m] : old->second.members) {
        if (e.members.count(bk)) continue;
        const std::string a = backendLabel(key, bk);
        publish(v1::Event::KIND_BACKEND_REMOVED, key, a,
                absl::StrCat("backend ", a, " removed from vip ", key.toString()));
      }
    }
    const bool was_down = old != before.vips.end() && old->second.all_down;
    if (e.all_down && !was_down) {
      const bool keep = e.spec.all_down_policy() != v1::ALL_DOWN_POLICY_DROP;
      std::string msg =
          absl::StrCat("every backend of vip ", key.toString(), " is down: ",
                       keep ? "keeping the last healthy backends in rotation (keep_last_healthy)"
                            : "dropping new flows (drop)");
      spdlog::warn("state: {}", msg);
      publish(v1::Event::KIND_VIP_ALL_DOWN, key, "", msg);
    } else if (!e.all_down && was_down) {
      std::string msg = absl::StrCat("vip ", key.toString(), " recovered: a backend is up again");
      spdlog::info("state: {}", msg);
      publish(v1::Event::KIND_VIP_RECOVERED, key, "", msg);
    }
  }
  for (const auto& [key, e] : before.vips) {
    if (model_.vips.count(key)) continue;
    publish(v1::Event::KIND_VIP_REMOVED, key, "", absl::StrCat("vip ", key.toString(), " removed"));
  }
}

void State::attachHealthChecker(health::HealthChecker* checker) {
  std::lock_guard lock(mu_);
  checker_ = checker;
  Model none;  // no events: only the targets are (re)computed
  none.vips = model_.vips;
  afterApplyLocked(none);
}

void State::onHealthTransition(const std::string& key, const health::Transition& tr) {
  std::lock_guard lock(mu_);
  auto it = health_.find(key);
  if (it == health_.end() || !it->second.checked) return;  // a target removed meanwhile
  HealthRecord& rec = it->second;
  rec.health = tr.to;
  rec.last = tr;
  rec.last_unix_ms = toUnixMs(tr.at);
  rec.last_reason = tr.reason;
  spdlog::info("health: {}: {} -> {} ({})", key, health::healthName(tr.from),
               health::healthName(tr.to), tr.reason);

  v1::Event e;
  e.set_kind(v1::Event::KIND_BACKEND_HEALTH);
  e.set_time_unix_ms(rec.last_unix_ms);
  *e.mutable_vip() = rec.vip.toProto();
  e.set_backend(rec.label);
  auto* t = e.mutable_health_transition();
  t->set_time_unix_ms(rec.last_unix_ms);
  t->set_from(toProtoHealth(tr.from));
  t->set_to(toProtoHealth(tr.to));
  t->set_reason(tr.reason);
  e.set_message(absl::StrCat("backend ", rec.label, " of vip ", rec.vip.toString(),
                             ": ", health::healthName(tr.from), " -> ", health::healthName(tr.to),
                             " (", tr.reason, ")"));
  // Published once the data plane reflects it (so a watcher sees the new table), ahead of the
  // VIP events it causes.
  lead_event_ = std::move(e);

  // Unknown -> up changes nothing in the data plane (unknown is already in rotation); the plan
  // finds that out and writes nothing.
  absl::Status st = applyLocked(model_.config, false, nullptr);
  if (lead_event_) {  // not applied
    events_.publish(*lead_event_);
    lead_event_.reset();
  }
  health_pending_ = !st.ok();
  if (!st.ok()) {
    spdlog::error("state: applying the health of {} failed (retried): {}", key, st.ToString());
  }
}

absl::Status State::retryPendingHealth() {
  std::lock_guard lock(mu_);
  if (!health_pending_) return absl::OkStatus();
  absl::Status st = applyLocked(model_.config, false, nullptr);
  health_pending_ = !st.ok();
  return st;
}

v1::BackendStatus State::backendStatusLocked(const Entry& e, const v1::Backend& spec,
                                             const std::vector<uint64_t>& open_flows) const {
  v1::BackendStatus out;
  auto bk = backendKeyOf(e.key, spec);
  // "ADDR:PORT" when the backend's port is not the VIP's (the message has no port field).
  out.set_address(bk.ok() ? backendLabel(e.key, *bk) : spec.address());
  out.set_weight(spec.weight());
  out.set_state(spec.state() == v1::BACKEND_STATE_DRAINING ? v1::BACKEND_STATE_DRAINING
                                                           : v1::BACKEND_STATE_ACTIVE);
  if (!bk.ok()) return out;
  const std::string hk = healthKey(e.key, *bk);
  auto rec = health_.find(hk);
  const bool checked = rec != health_.end() && rec->second.checked;
  out.set_health(checked ? toProtoHealth(rec->second.health) : v1::HEALTH_UP);
  if (checked && rec->second.last) {
    auto* t = out.mutable_last_transition();
    t->set_time_unix_ms(rec->second.last_unix_ms);
    t->set_from(toProtoHealth(rec->second.last->from));
    t->set_to(toProtoHealth(rec->second.last->to));
    t->set_reason(rec->second.last->reason);
  }
  if (checked && checker_ != nullptr) {
    if (auto st = checker_->status(hk)) out.set_last_check_result(st->last_reason);
  } else if (!checked) {
    out.set_last_check_result("not checked (health_check type none)");
  }
  auto m = e.members.find(*bk);
  if (m != e.members.end()) {
    out.set_in_rotation(m->second.in_rotation);
    if (m->second.id < open_flows.size()) out.set_open_flows(open_flows[m->second.id]);
  }
  return out;
}

absl::StatusOr<v1::VipStatus> State::vipStatus(const v1::VipKey& key_proto) const {
  auto key = config::vipKeyOf(key_proto);
  if (!key.ok()) return key.status();
  std::lock_guard lock(mu_);
  int i = findVip(*key);
  auto it = model_.vips.find(*key);
  if (i < 0 || it == model_.vips.end()) {
    return absl::NotFoundError(absl::StrCat("vip ", key->toString(), " not found"));
  }
  auto open = dataplane_.readOpenFlows();
  if (!open.ok()) return open.status();
  return vipStatusLocked(model_.config.vips(i), it->second, *open);
}

absl::StatusOr<std::vector<v1::VipStatus>> State::vipStatuses() const {
  std::lock_guard lock(mu_);
  // One read of the open-flow counts for every VIP (a per-VIP vipStatus() would read all
  // XLB_MAX_BACKENDS counts once per VIP).
  auto open = dataplane_.readOpenFlows();
  if (!open.ok()) return open.status();
  std::vector<v1::VipStatus> out;
  for (const v1::Vip& spec : model_.config.vips()) {
    auto key = config::vipKeyOf(spec);
    if (!key.ok()) continue;
    auto it = model_.vips.find(*key);
    if (it == model_.vips.end()) continue;
    out.push_back(vipStatusLocked(spec, it->second, *open));
  }
  return out;
}

v1::VipStatus State::vipStatusLocked(const v1::Vip& spec, const Entry& e,
                                     const std::vector<uint64_t>& open_flows) const {
  v1::VipStatus out;
  *out.mutable_vip() = e.key.toProto();
  out.set_name(spec.name());
  out.set_algorithm(spec.algorithm());
  out.set_forwarding(spec.forwarding());
  out.set_all_down(e.all_down);
  for (const v1::Backend& b : spec.backends()) {
    *out.add_backends() = backendStatusLocked(e, b, open_flows);
  }
  return out;
}

std::vector<v1::Event> State::healthSnapshot() const {
  std::lock_guard lock(mu_);
  std::vector<v1::Event> out;
  const uint64_t now = unixNowMs();
  for (const v1::Vip& spec : model_.config.vips()) {
    auto key = config::vipKeyOf(spec);
    if (!key.ok()) continue;
    auto it = model_.vips.find(*key);
    if (it == model_.vips.end()) continue;
    for (const v1::Backend& b : spec.backends()) {
      v1::BackendStatus st = backendStatusLocked(it->second, b, {});
      v1::Event e;
      e.set_kind(v1::Event::KIND_BACKEND_HEALTH);
      e.set_time_unix_ms(now);
      *e.mutable_vip() = key->toProto();
      e.set_backend(st.address());
      auto* t = e.mutable_health_transition();
      *t = st.last_transition();
      t->set_to(st.health());  // the current health, whatever the last transition said
      e.set_message(absl::StrCat("backend ", st.address(), " of vip ", key->toString(), " is ",
                                 st.health() == v1::HEALTH_UP     ? "up"
                                 : st.health() == v1::HEALTH_DOWN ? "down"
                                                                  : "unknown (not probed yet)",
                                 st.state() == v1::BACKEND_STATE_DRAINING ? ", draining" : ""));
      out.push_back(std::move(e));
    }
  }
  return out;
}

absl::StatusOr<v1::BackendStatus> State::setDrainingLocked(const v1::VipKey& key_proto,
                                                           const std::string& address_text,
                                                           bool draining) {
  auto ref = findBackendLocked(key_proto, address_text);
  if (!ref.ok()) return ref.status();
  const int i = ref->vip, b = ref->backend;
  const v1::BackendState want = draining ? v1::BACKEND_STATE_DRAINING : v1::BACKEND_STATE_ACTIVE;
  const bool is_draining = model_.config.vips(i).backends(b).state() == v1::BACKEND_STATE_DRAINING;
  if (is_draining != draining) {
    v1::Config next = model_.config;
    next.mutable_vips(i)->mutable_backends(b)->set_state(want);
    if (auto st = applyLocked(next, false, nullptr); !st.ok()) return st;
  }
  auto open = dataplane_.readOpenFlows();
  std::vector<uint64_t> counts = open.ok() ? std::move(*open) : std::vector<uint64_t>{};
  return backendStatusLocked(model_.vips.at(ref->key), model_.config.vips(i).backends(b), counts);
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
absl::Status State::reconcileOpenFlows(uint64_t idle_timeout_ns) {
  std::vector<std::pair<uint32_t, xlb_backend>> table;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, e] : model_.vips) {
      for (const auto& [addr, m] : e.members) table.emplace_back(m.id, m.value);
    }
  }
  // The scan (up to the whole flow table) runs unlocked so API calls and health verdicts are not
  // held up by it.
  auto before = dataplane_.readOpenFlows();
  if (!before.ok()) return before.status();
  dataplane::Dataplane::FlowScanCounts scan;
  auto counts = dataplane::countOpenFlows(dataplane_, table, idle_timeout_ns, &scan);
  if (!counts.ok()) return counts.status();
  {
    std::lock_guard lock(flow_table_mu_);
    flow_table_.lru_entries = scan.lru;
    flow_table_.protected_only = scan.protected_only;
    flow_table_.scanned = true;
  }

  std::lock_guard lock(mu_);
  auto current = dataplane_.readOpenFlows();
  if (!current.ok()) return current.status();
  std::map<uint32_t, uint32_t> scanned_gen;
  for (const auto& [id, be] : table) scanned_gen[id] = be.gen;
  std::map<uint32_t, std::pair<uint32_t, uint64_t>> shortfalls;
  absl::Status result;
  size_t fixed = 0;
  for (const auto& [key, e] : model_.vips) {
    for (const auto& [addr, m] : e.members) {
      auto g = scanned_gen.find(m.id);
      // Assigned to another backend since the snapshot: its count is not ours to write.
      if (g == scanned_gen.end() || g->second != m.gen) continue;
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
