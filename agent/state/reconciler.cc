// SPDX-License-Identifier: Apache-2.0
// Periodic open-flow reconciliation and health retry.
#include "state/reconciler.h"

#include "spdlog/spdlog.h"

namespace xlb::state {

Reconciler::Reconciler(State& state, std::chrono::milliseconds interval,
                       std::chrono::seconds idle_timeout)
    : state_(state), interval_(interval), idle_timeout_(idle_timeout) {}

Reconciler::~Reconciler() { stop(); }

void Reconciler::runOnce() {
  auto started = std::chrono::steady_clock::now();
  uint64_t idle_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(idle_timeout_).count();
  if (auto st = state_.reconcileOpenFlows(idle_ns); !st.ok()) {
    spdlog::warn("reconciler: open flows: {}", st.ToString());
  }
  if (flood_) flood_->tick();
  if (auto st = state_.retryPendingHealth(); !st.ok()) {
    spdlog::warn("reconciler: health retry: {}", st.ToString());
  }
  auto took = std::chrono::steady_clock::now() - started;
  if (took > interval_ / 2) {
    spdlog::warn("reconciler: a round took {} ms (interval {} ms)",
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
