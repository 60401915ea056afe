// SPDX-License-Identifier: Apache-2.0
// The NAT collector: a periodic pass over xlb_nat (scan, plan with collector.h, batched deletes)
// that expires idle connections, deletes orphans, relieves table pressure and keeps the table's
// figures for Stats.nat_table and /metrics. It logs a pressure episode's start, its "NAT table
// full" (once per episode, with the fill and the refused count) and its end. Connections of a
// deleted VIP or backend are left to expire like any other (the data plane re-steers a connection
// whose backend is gone; `lbctl nat flush` removes them on demand).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "config/validate.h"
#include "dataplane/dataplane.h"
#include "nat/collector.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::nat {

// What the collector and the listings need to know of a VIP (every VIP, NAT or not).
struct NatVipInfo {
  uint32_t id = 0;
  config::VipKey key;
  std::string name;
  v1::ForwardingMode mode = v1::FORWARDING_MODE_DSR;
  Timeouts timeouts;
};
using NatVipMap = std::map<uint32_t, NatVipInfo>;
using NatVipProvider = std::function<std::shared_ptr<const NatVipMap>()>;

struct NatTableStatus {
  uint64_t capacity = 0;
  uint64_t entries = 0;  // as of the last pass, after its deletions
  uint64_t connections = 0;
  uint64_t unanswered = 0;
  uint64_t by_state[4] = {0, 0, 0, 0};  // indexed by ConnState
  uint64_t expired = 0;                 // totals since start
  uint64_t pressure_expired = 0;
  uint64_t orphans = 0;
  uint64_t scanned_entries = 0;  // found by the last pass, before its deletions
  uint64_t peak_entries = 0;     // the most any pass found since start
  uint64_t refused = 0;          // XLB_DROP_NAT_FULL: new connections refused, table full
  uint64_t pressure_episodes = 0;
  uint64_t full_episodes = 0;  // pressure episodes in which new connections were refused
  bool pressure = false;       // a pressure episode is going on (collector.h PressureEpisodes)
  bool collected = false;  // at least one pass ran
};
v1::NatTableStats toProto(const NatTableStatus& s);

class NatCollector {
 public:
  NatCollector(dataplane::Dataplane& dp, NatVipProvider vips, std::chrono::milliseconds interval);
  ~NatCollector();
  NatCollector(const NatCollector&) = delete;
  NatCollector& operator=(const NatCollector&) = delete;

  void start();
  void stop();
  // One pass now, on the caller's thread (start-up, tests).
  absl::Status runOnce();
  NatTableStatus status() const;
  // Counts connections deleted on demand (FlushNat) into the figures of the next pass.
  void noteFlushed(uint64_t connections);

 private:
  dataplane::Dataplane& dp_;
  NatVipProvider vips_;
  std::chrono::milliseconds interval_;
  mutable std::mutex status_mu_;
  NatTableStatus status_;
  uint64_t last_full_drops_ = 0;
  bool have_drops_ = false;
  PressureEpisodes episodes_;  // under pass_mu_
  std::mutex pass_mu_;  // one pass at a time
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace xlb::nat
