// SPDX-License-Identifier: Apache-2.0
// Periodic open-flow reconciliation and health retry.
#include "state/reconciler.h"

#include "dataplane/open_flows.h"
#include "spdlog/spdlog.h"

namespace xlb::state {

Reconciler::Reconciler(State& state, std::chrono::milliseconds interval,
                       std::chrono::seconds idle_timeout)
    : state_(state), interval_(interval), idle_timeout_(idle_timeout) {}

Reconciler::~Reconciler() { stop(); }

void Reconciler::runOnce(bool paced) {
  auto started = std::chrono::steady_clock::now();
  uint64_t idle_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(idle_timeout_).count();
  dataplane::ScanPacer pacer(kScanSlice, paced ? kScanRest : 0.0,
                            [this](dataplane::ScanPacer::Clock::duration d) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, d, [this] { return stopping_; });
  });
  if (auto st = state_.reconcileOpenFlows(idle_ns, &pacer); !st.ok()) {
    spdlog::warn("reconciler: open flows: {}", st.ToString());
  }
  if (flood_) flood_->tick();
  if (auto st = state_.retryPendingHealth(); !st.ok()) {
    spdlog::warn("reconciler: health retry: {}", st.ToString());
  }
  // Paused time is not work: only a round whose work took over half the interval is reported.
  auto took = std::chrono::steady_clock::now() - started - pacer.paused();
  if (took > interval_ / 2) {
    spdlog::warn("reconciler: a round took {} ms of work (interval {} ms)",
                 std::chrono::duration_cast<std::chrono::milliseconds>(took).count(),
                 interval_.count());
  }
}

void Reconciler::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, interval_, [this] { return stopping_; })) {
      lock.unlock();
      runOnce();
      lock.lock();
    }
  });
}

void Reconciler::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace xlb::state
