// SPDX-License-Identifier: Apache-2.0
// Background upkeep of State: recounts open flows per backend (the data plane's counts drift when
// flows end without a FIN/RST seen), retries health verdicts whose data-plane write failed, and
// runs the flood monitor. The recount's scan is paced (dataplane::ScanPacer): at most kScanSlice
// entries between two pauses and half of one CPU, so a 1M-entry flow table does not hold a CPU
// for the whole scan; the pauses end at once when the reconciler stops.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "state/flood_monitor.h"
#include "state/state.h"

namespace xlb::state {

class Reconciler {
 public:
  Reconciler(State& state, std::chrono::milliseconds interval, std::chrono::seconds idle_timeout);
  ~Reconciler();
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  // Entries the scan visits between two pauses, and the pause as a multiple of the time they took.
  static constexpr uint64_t kScanSlice = 65536;
  static constexpr double kScanRest = 1.0;

  void start();
  void stop();  // waits for a round in progress
  // One round now, on the caller's thread (start-up, tests); `paced` false scans without pauses
  // (start-up: the counts are corrected before the API answers, as fast as possible).
  void runOnce(bool paced = true);
  // Flood detection and protected-flow expiry each round, after the recount (nullptr: none). Set
  // before start(); the monitor must outlive the reconciler's thread.
  void setFloodMonitor(FloodMonitor* monitor) { flood_ = monitor; }

 private:
  State& state_;
  std::chrono::milliseconds interval_;
  std::chrono::seconds idle_timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
  FloodMonitor* flood_ = nullptr;
};

}  // namespace xlb::state
