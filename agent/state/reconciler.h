// SPDX-License-Identifier: Apache-2.0
// Background upkeep of State: recounts open flows per backend (the data plane's counts drift when
// flows end without a FIN/RST seen) and retries health verdicts whose data-plane write failed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "state/state.h"

namespace xlb::state {

class Reconciler {
 public:
  Reconciler(State& state, std::chrono::milliseconds interval, std::chrono::seconds idle_timeout);
  ~Reconciler();
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  void start();
  void stop();  // waits for a round in progress
  // One round now, on the caller's thread (start-up, tests).
  void runOnce();

 private:
  State& state_;
  std::chrono::milliseconds interval_;
  std::chrono::seconds idle_timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace xlb::state
