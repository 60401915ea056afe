// SPDX-License-Identifier: Apache-2.0
// State's health side: checker verdicts applied to the tables. The checker thread only queues a
// verdict (submitHealthTransition); one applier thread takes everything queued so far and applies
// it as one plan of the VIPs concerned. A storm of transitions then costs one batched table swap
// per round instead of one per transition (each swap waits for an RCU grace period), and the
// checker's probes never wait behind a write (an apply of a large config holds the write lock for
// a while). onHealthTransition applies one verdict synchronously (tests, or no applier running).
#include <chrono>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "state/state.h"

namespace xlb::state {

using config::VipKey;

namespace {

// Transition times are steady-clock points; the API speaks wall-clock milliseconds.
uint64_t toUnixMs(health::Clock::time_point at) {
  auto age = health::Clock::now() - at;
  auto wall = std::chrono::system_clock::now() - age;
  return std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count();
}

}  // namespace

bool State::recordHealthLocked(const std::string& key, const health::Transition& tr) {
  auto it = health_index_.find(key);
  if (it == health_index_.end()) return false;  // a target removed meanwhile
  const auto [vip, bk] = it->second;
  const VipEntry* e = entryLocked(vip);
  if (e == nullptr) return false;
  auto mit = e->members.find(bk);
  if (mit == e->members.end() || !mit->second.health.checked) return false;
  const Member& member = mit->second;
  HealthRecord rec = member.health;
  auto pending = pending_health_.find({vip, bk});
  if (pending != pending_health_.end()) rec = pending->second;
  rec.health = tr.to;
  rec.last = tr;
  rec.last_unix_ms = toUnixMs(tr.at);
  rec.last_reason = tr.reason;
  spdlog::info("health: {}: {} -> {} ({})", key, health::healthName(tr.from),
               health::healthName(tr.to), tr.reason);

  v1::Event ev;
  ev.set_kind(v1::Event::KIND_BACKEND_HEALTH);
  ev.set_time_unix_ms(rec.last_unix_ms);
  *ev.mutable_vip() = vip.toProto();
  ev.set_backend(member.label);
  auto* t = ev.mutable_health_transition();
  t->set_time_unix_ms(rec.last_unix_ms);
  t->set_from(toProtoHealth(tr.from));
  t->set_to(toProtoHealth(tr.to));
  t->set_reason(tr.reason);
  ev.set_message(absl::StrCat("backend ", member.label, " of vip ", vip.toString(), ": ",
                              health::healthName(tr.from), " -> ", health::healthName(tr.to), " (",
                              tr.reason, ")"));
  // Published once the data plane reflects it (so a watcher sees the new table), ahead of the
  // VIP events it causes.
  lead_events_.push_back(std::move(ev));
  pending_health_[{vip, bk}] = rec;
  return true;
}

absl::Status State::applyPendingHealthLocked() {
  // Only the VIPs with pending verdicts are re-planned. Unknown -> up changes nothing in the data
  // plane (unknown is already in rotation); the plan finds that out and writes nothing.
  absl::Status st = retryPendingHealthLocked();
  for (v1::Event& ev : lead_events_) events_.publish(ev);  // not applied: published anyway
  lead_events_.clear();
  return st;
}

void State::onHealthTransition(const std::string& key, const health::Transition& tr) {
  std::lock_guard lock(mu_);
  if (!recordHealthLocked(key, tr)) return;
  if (absl::Status st = applyPendingHealthLocked(); !st.ok()) {
    spdlog::error("state: applying the health of {} failed (retried): {}", key, st.ToString());
  }
}

void State::submitHealthTransition(const std::string& key, const health::Transition& tr) {
  {
    std::lock_guard lock(inbox_mu_);
    if (applier_.joinable()) {
      inbox_.emplace_back(key, tr);
      inbox_cv_.notify_one();
      return;
    }
  }
  onHealthTransition(key, tr);
}

void State::startHealthApplier() {
  std::lock_guard lock(inbox_mu_);
  if (applier_.joinable()) return;
  applier_stop_ = false;
  applier_ = std::thread([this] { runHealthApplier(); });
}

void State::stopHealthApplier() {
  {
    std::lock_guard lock(inbox_mu_);
    if (!applier_.joinable()) return;
    applier_stop_ = true;
  }
  inbox_cv_.notify_all();
  applier_.join();
  std::lock_guard lock(inbox_mu_);
  applier_ = std::thread();
}

void State::runHealthApplier() {
  std::unique_lock inbox(inbox_mu_);
  for (;;) {
    inbox_cv_.wait(inbox, [this] { return applier_stop_ || !inbox_.empty(); });
    if (inbox_.empty()) return;  // stopping, nothing left
    std::vector<std::pair<std::string, health::Transition>> batch;
    batch.swap(inbox_);
    inbox.unlock();
    {
      std::lock_guard lock(mu_);
      size_t recorded = 0;
      for (const auto& [key, tr] : batch) recorded += recordHealthLocked(key, tr) ? 1 : 0;
      if (recorded > 0) {
        absl::Status st = applyPendingHealthLocked();
        if (!st.ok()) {
          spdlog::error("state: applying {} health transitions failed (retried): {}", recorded,
                        st.ToString());
        } else if (batch.size() > 1) {
          spdlog::info("state: applied {} health transitions in one change", batch.size());
        }
      }
      health_rounds_.fetch_add(1, std::memory_order_relaxed);
      health_transitions_.fetch_add(batch.size(), std::memory_order_relaxed);
    }
    inbox.lock();
  }
}

State::HealthApplyStats State::healthApplyStats() const {
  HealthApplyStats s;
  s.rounds = health_rounds_.load(std::memory_order_relaxed);
  s.transitions = health_transitions_.load(std::memory_order_relaxed);
  std::lock_guard lock(inbox_mu_);
  s.queued = inbox_.size();
  return s;
}

absl::Status State::retryPendingHealthLocked() {
  if (pending_health_.empty()) return absl::OkStatus();
  std::set<VipKey> vips;
  for (const auto& [k, rec] : pending_health_) vips.insert(k.first);
  std::vector<VipChange> changes;
  for (const VipKey& k : vips) {
    const VipEntry* e = entryLocked(k);
    if (e != nullptr) changes.push_back({k, &e->spec});
  }
  PlanInputs in = planInputs();
  in.health_override = [this](const VipKey& v, const BackendKey& b) -> const HealthRecord* {
    auto it = pending_health_.find({v, b});
    return it == pending_health_.end() ? nullptr : &it->second;
  };
  // The specs are the model's own: copy them, the commit replaces the entries that hold them.
  std::vector<v1::Vip> specs;
  specs.reserve(changes.size());
  for (VipChange& c : changes) {
    specs.push_back(*c.spec);
    c.spec = &specs.back();
  }
  absl::Status st = applyVipsLocked(changes, &in, Commit::kHealth);
  if (st.ok()) pending_health_.clear();
  return st;
}

absl::Status State::retryPendingHealth() {
  std::lock_guard lock(mu_);
  return retryPendingHealthLocked();
}

}  // namespace xlb::state
