// SPDX-License-Identifier: Apache-2.0
// The NAT collector's kernel side: scan, plan (collector.h), delete, figures (see gc.h).
#include "nat/gc.h"

#include <algorithm>

#include "nat/list.h"
#include "spdlog/spdlog.h"

namespace xlb::nat {

v1::NatTableStats toProto(const NatTableStatus& s) {
  v1::NatTableStats out;
  out.set_capacity(s.capacity);
  out.set_entries(s.entries);
  out.set_connections(s.connections);
  out.set_unanswered(s.unanswered);
  out.set_expired(s.expired);
  out.set_pressure_expired(s.pressure_expired);
  out.set_orphans(s.orphans);
  out.set_scanned_entries(s.scanned_entries);
  out.set_peak_entries(s.peak_entries);
  out.set_refused(s.refused);
  out.set_pressure(s.pressure);
  out.set_pressure_episodes(s.pressure_episodes);
  out.set_full_episodes(s.full_episodes);
  return out;
}

NatCollector::NatCollector(dataplane::Dataplane& dp, NatVipProvider vips,
                           std::chrono::milliseconds interval)
    : dp_(dp), vips_(std::move(vips)), interval_(interval) {
  status_.capacity = dp_.natTableCapacity();
}

NatCollector::~NatCollector() { stop(); }

absl::Status NatCollector::runOnce() {
  std::lock_guard pass(pass_mu_);
  auto scanned = scanNat(dp_);
  if (!scanned.ok()) return scanned.status();
  // XLB_DROP_NAT_FULL moved since the last pass: new connections were refused.
  bool full_seen = false;
  if (auto d = dp_.readDrops(); d.ok() && d->size() > XLB_DROP_NAT_FULL) {
    const uint64_t full = (*d)[XLB_DROP_NAT_FULL];
    full_seen = have_drops_ && full > last_full_drops_;
    last_full_drops_ = full;
    have_drops_ = true;
  }
  std::shared_ptr<const NatVipMap> shared = vips_ ? vips_() : nullptr;
  static const NatVipMap kNone;
  const NatVipMap& vips = shared ? *shared : kNone;
  CollectPolicy policy;
  policy.now_ns = dp_.monotonicNowNs();
  policy.capacity = dp_.natTableCapacity();
  policy.table_full_seen = full_seen;
  policy.timeouts = [&vips](uint32_t vip_id) {
    auto it = vips.find(vip_id);
    return it == vips.end() ? Timeouts{} : it->second.timeouts;
  };
  const Snapshot& snap = *scanned;
  CollectPlan plan = planCollection(snap, policy);

  absl::Status result;
  uint64_t deleted = 0;
  for (const auto* keys : {&plan.fwd, &plan.rev, &plan.orphans}) {
    if (keys->empty()) continue;
    auto n = dp_.deleteNat(*keys);
    if (!n.ok()) {
      if (result.ok()) result = n.status();
      continue;
    }
    deleted += *n;
  }

  const PressureEpisodes::Events ev = episodes_.onPass({.now_ns = policy.now_ns,
                                                        .pressure = plan.pressure,
                                                        .full_seen = full_seen,
                                                        .refused_total = last_full_drops_,
                                                        .pressure_expired = plan.pressure_expired});
  std::lock_guard lock(status_mu_);
  status_.capacity = policy.capacity;
  status_.entries = snap.entries >= deleted ? snap.entries - deleted : 0;
  status_.scanned_entries = snap.entries;
  status_.peak_entries = std::max(status_.peak_entries, snap.entries);
  status_.refused = last_full_drops_;
  status_.connections = plan.connections;
  status_.unanswered = plan.unanswered;
  for (int i = 0; i < 4; ++i) status_.by_state[i] = plan.by_state[i];
  status_.expired += plan.expired;
  status_.pressure_expired += plan.pressure_expired;
  status_.orphans += plan.orphans.size();
  status_.pressure = episodes_.active();
  status_.pressure_episodes = episodes_.episodes();
  status_.full_episodes = episodes_.fullEpisodes();
  status_.collected = true;
  const double fill = policy.capacity ? 100.0 * static_cast<double>(snap.entries) /
                                            static_cast<double>(policy.capacity)
                                      : 0.0;
  if (ev.started) {
    spdlog::warn(
        "nat: table under pressure ({} of {} entries, {:.0f}%): expiring unanswered "
        "connections older than 1 s first ({} this pass)",
        snap.entries, policy.capacity, fill, plan.pressure_expired);
  }
  if (ev.full) {
    spdlog::warn(
        "nat: NAT table full ({} of {} entries, {:.0f}% at this pass): {} new connections "
        "refused so far in this episode; {} unanswered connections expired early so far",
        snap.entries, policy.capacity, fill, ev.refused, ev.pressure_expired);
  }
  if (ev.ended) {
    spdlog::info(
        "nat: table pressure over after {:.1f} s ({} of {} entries): {} new connections "
        "refused, {} unanswered connections expired early in this episode",
        static_cast<double>(ev.duration_ns) / 1e9, status_.entries, policy.capacity, ev.refused,
        ev.pressure_expired);
  }
  if (!result.ok()) spdlog::warn("nat: collection: {}", result.ToString());
  return result;
}

NatTableStatus NatCollector::status() const {
  std::lock_guard lock(status_mu_);
  NatTableStatus s = status_;
  s.capacity = dp_.natTableCapacity();
  return s;
}

void NatCollector::noteFlushed(uint64_t connections) {
  std::lock_guard lock(status_mu_);
  status_.connections = status_.connections >= connections ? status_.connections - connections : 0;
  status_.entries = status_.entries >= 2 * connections ? status_.entries - 2 * connections : 0;
}

void NatCollector::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, interval_, [this] { return stopping_; })) {
      lock.unlock();
      (void)runOnce();  // logged inside
      lock.lock();
    }
  });
}

void NatCollector::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace xlb::nat
