// SPDX-License-Identifier: Apache-2.0
// SystemdNotifier over libsystemd's sd_notify / sd_watchdog_enabled.
#include "persist/notify.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>

#include "spdlog/spdlog.h"

namespace xlb::persist {

bool SystemdNotifier::enabled() const { return std::getenv("NOTIFY_SOCKET") != nullptr; }

void SystemdNotifier::send(const std::string& msg) {
  if (!enabled()) return;
  int rc = sd_notify(0, msg.c_str());
  if (rc < 0) spdlog::warn("systemd: sd_notify(\"{}\"): error {}", msg, -rc);
}

void SystemdNotifier::ready(const std::string& status) {
  send("READY=1\nSTATUS=" + status);
}
void SystemdNotifier::status(const std::string& status) { send("STATUS=" + status); }
void SystemdNotifier::reloading() { send("RELOADING=1\nSTATUS=reloading the config file"); }
void SystemdNotifier::stopping() { send("STOPPING=1\nSTATUS=shutting down"); }

std::chrono::microseconds SystemdNotifier::startWatchdog(std::function<bool()> alive) {
  uint64_t usec = 0;
  // Also checks WATCHDOG_PID, so a child that inherited the environment does not ping.
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::chrono::microseconds(0);
  const auto interval = std::chrono::microseconds(usec / 2);
  stop_ = false;
  thread_ = std::thread([this, interval, alive = std::move(alive)] {
    std::unique_lock lock(mu_);
    while (!stop_) {
      lock.unlock();
      if (alive()) {
        send("WATCHDOG=1");
      } else {
        spdlog::warn("systemd: liveness check failed, watchdog ping skipped");
      }
      lock.lock();
      cv_.wait_for(lock, interval, [this] { return stop_; });
    }
  });
  spdlog::info("systemd: watchdog ping every {} ms", interval.count() / 1000);
  return interval;
}

void SystemdNotifier::stopWatchdog() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace xlb::persist
