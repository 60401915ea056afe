// SPDX-License-Identifier: Apache-2.0
// systemd integration: READY=1 / STATUS= / RELOADING=1 / STOPPING=1 and WATCHDOG=1 pings.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace xlb::persist {

// No-ops when the agent was not started by systemd (NOTIFY_SOCKET unset).
class SystemdNotifier {
 public:
  SystemdNotifier() = default;
  ~SystemdNotifier() { stopWatchdog(); }

  bool enabled() const;
  void ready(const std::string& status);
  void status(const std::string& status);
  void reloading();
  void stopping();

  // When the service has WatchdogSec= (WATCHDOG_USEC set for this process), pings WATCHDOG=1 every
  // half period from a thread, but only while `alive` returns true: a wedged State lock stops the
  // pings and systemd restarts the agent. Returns the ping interval (zero: no watchdog).
  std::chrono::microseconds startWatchdog(std::function<bool()> alive);
  void stopWatchdog();

 private:
  void send(const std::string& msg);

  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace xlb::persist
