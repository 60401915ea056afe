// SPDX-License-Identifier: Apache-2.0
// Flood detection and protected-flow expiry on the reconciler's tick (see flood_monitor.h).
#include "state/flood_monitor.h"

#include <chrono>

#include "absl/strings/str_format.h"
#include "spdlog/spdlog.h"

namespace xlb::state {

namespace {

double startRate(const FloodMonitor::Options& o, const dataplane::Dataplane& dp) {
  if (o.flood_rate > 0) return o.flood_rate;
  return static_cast<double>(dp.flowTableCapacity()) / 60.0;
}

uint64_t unixNowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

FloodMonitor::FloodMonitor(State& state, dataplane::Dataplane& dp, Options opts)
    : state_(state), dp_(dp), opts_(opts), detector_({startRate(opts, dp), 0, 2}) {
  state_.updateFlowTableStatus(
      [rate = startRate(opts, dp)](dataplane::FlowTableStatus& s) { s.flood_start_rate = rate; });
}

void FloodMonitor::tick() {
  const uint64_t now = dp_.monotonicNowNs();
  // Expiry first, so that an event published below reports this tick's protected occupancy.
  auto sweep = dp_.sweepProtectedFlows(now, opts_.timeouts, opts_.max_changes);
  if (!sweep.ok()) {
    spdlog::warn("flood: protected flow expiry: {}", sweep.status().ToString());
  } else {
    state_.updateFlowTableStatus([&sweep](dataplane::FlowTableStatus& s) {
      s.protected_entries = sweep->entries - sweep->deleted;
      s.protected_expired += sweep->deleted;
      s.protected_refreshed += sweep->refreshed;
    });
    if (sweep->deleted > 0 || sweep->truncated)
      spdlog::debug("flood: protected flows: {} expired, {} refreshed{}", sweep->deleted,
                    sweep->refreshed, sweep->truncated ? " (more next tick)" : "");
  }
  // The global counters only: the per-VIP and per-backend arrays are sized to capacity (at
  // 10,000 VIPs reading them every second was a quarter of an idle agent's CPU).
  auto global = dp_.readGlobal();
  if (!global.ok()) {
    spdlog::warn("flood: read counters: {}", global.status().ToString());
    return;
  }
  uint64_t total = 0;
  if (XLB_STAT_FLOW_NEW < global->size()) total = (*global)[XLB_STAT_FLOW_NEW];
  auto t = detector_.observe(now, total);
  state_.updateFlowTableStatus([this](dataplane::FlowTableStatus& s) {
    s.new_flow_rate = detector_.rate();
    s.flood_active = detector_.active();
    s.floods_started = detector_.floodsStarted();
  });
  if (t != dataplane::FloodDetector::Transition::kNone)
    publish(t == dataplane::FloodDetector::Transition::kStarted, state_.flowTableStatus());
}

void FloodMonitor::publish(bool started, const dataplane::FlowTableStatus& s) {
  v1::Event e;
  e.set_kind(started ? v1::Event::KIND_FLOOD_STARTED : v1::Event::KIND_FLOOD_ENDED);
  e.set_time_unix_ms(unixNowMs());
  std::string occupancy =
      s.scanned ? absl::StrFormat("flow table %d/%d", s.lru_entries, s.lru_capacity)
                : std::string("flow table not scanned yet");
  if (started) {
    e.set_message(absl::StrFormat(
        "new flows %.0f/s (threshold %.0f/s, LRU turnover %.1f s); %s, protected %d/%d",
        s.new_flow_rate, s.flood_start_rate, s.turnoverSeconds(), occupancy, s.protected_entries,
        s.protected_capacity));
    spdlog::warn("flood: started: {}", e.message());
  } else {
    e.set_message(absl::StrFormat("new flows %.0f/s (peak %.0f/s); %s, protected %d/%d",
                                  s.new_flow_rate, detector_.peakRate(), occupancy,
                                  s.protected_entries, s.protected_capacity));
    spdlog::info("flood: ended: {}", e.message());
  }
  state_.events().publish(e);
}

}  // namespace xlb::state
