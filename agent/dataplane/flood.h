// SPDX-License-Identifier: Apache-2.0
// Flood protection's agent side, pure and clock-free: idle expiry of xlb_flows_prot entries and
// flood detection from the new-flow rate (README "Flow-table floods"). The Dataplane applies the
// expiry verdicts; the reconciler feeds the detector and publishes its transitions.
#pragma once

#include <cstdint>
#include <optional>

#include "xlb/abi.h"

namespace xlb::dataplane {

// Idle timeouts of protected entries, by state. Never by table pressure: an attacker could keep
// junk entries fresher than idle victims.
struct ProtectedTimeouts {
  uint64_t tcp_ns = 3600ull * 1000000000ull;     // established TCP
  uint64_t udp_ns = 300ull * 1000000000ull;      // UDP (and any other protocol)
  uint64_t closing_ns = 10ull * 1000000000ull;   // FIN/RST seen
  uint64_t forValue(const xlb_flow_key& key, const xlb_flow_value& v) const;
};

enum class ProtectedVerdict {
  kKeep,       // the protected copy itself is fresh: no LRU lookup needed
  kCheckLru,   // stale on its own: the verdict depends on the LRU copy (decideWithLru)
};

// First pass, on the protected value alone (one batch read, no per-entry syscall while fresh).
ProtectedVerdict protectedVerdict(const xlb_flow_key& key, const xlb_flow_value& prot,
                                  uint64_t now_ns, const ProtectedTimeouts& t);

struct ProtectedDecision {
  enum Action { kKeep, kRefresh, kDelete } action = kKeep;
  uint64_t last_seen_ns = 0;  // kRefresh: write this into the protected copy
};

// Second pass for a stale copy: idle = now - max(prot.last_seen, lru.last_seen). When the LRU copy
// (nullopt: evicted) is fresher, its last_seen is copied so the entry is not looked at again until
// the timeout passes once more; else the protected copy is deleted.
ProtectedDecision decideWithLru(const xlb_flow_key& key, const xlb_flow_value& prot,
                                const std::optional<xlb_flow_value>& lru, uint64_t now_ns,
                                const ProtectedTimeouts& t);

// Flood detection with hysteresis: a flood starts when the new-flow rate is at or above
// start_rate, and ends when it has stayed below end_rate for `calm_samples` consecutive samples.
class FloodDetector {
 public:
  struct Config {
    double start_rate = 0;  // new flows/s; 0 = never
    double end_rate = 0;    // below this counts as calm (start_rate / 2 when 0)
    uint32_t calm_samples = 2;
  };
  enum class Transition { kNone, kStarted, kEnded };

  explicit FloodDetector(Config c);
  // Feeds the monotonic time and the cumulative new-flow counter (XLB_STAT_FLOW_NEW summed over
  // CPUs). The first sample only sets the baseline; a counter that went backwards (reset) too.
  Transition observe(uint64_t now_ns, uint64_t new_flows_total);

  bool active() const { return active_; }
  double rate() const { return rate_; }          // new flows/s over the last interval
  double peakRate() const { return peak_; }      // highest rate during the current/last flood
  uint64_t floodsStarted() const { return started_; }

 private:
  Config c_;
  bool have_base_ = false, active_ = false;
  uint64_t last_ns_ = 0, last_total_ = 0, started_ = 0;
  uint32_t calm_ = 0;
  double rate_ = 0, peak_ = 0;
};

// What the agent knows of the flow tables and floods, for GetStats and /metrics (plain data: the
// reconciler's scan and the flood monitor fill it, State keeps it).
struct FlowTableStatus {
  uint64_t lru_capacity = 0, protected_capacity = 0;
  bool scanned = false;           // a reconcile scan has run (the two fields below are set)
  uint64_t lru_entries = 0;       // xlb_flows entries at the last reconcile scan
  uint64_t protected_only = 0;    // protected entries whose LRU copy was gone at that scan
  double scan_seconds = 0;        // that scan's duration, its pauses (ScanPacer) included
  double scan_paused_seconds = 0; // of which paused
  uint64_t protected_entries = 0; // xlb_flows_prot entries at the last sweep
  double new_flow_rate = 0;       // new flows/s over the last interval
  bool flood_active = false;
  uint64_t floods_started = 0;
  double flood_start_rate = 0;    // the detection threshold in use (new flows/s)
  uint64_t protected_expired = 0;   // deleted by idle expiry since start
  uint64_t protected_refreshed = 0; // last_seen copied from a fresher LRU copy since start
  // Seconds for the LRU to turn over completely at the current new-flow rate (capacity / rate):
  // idle flows younger than this survive in the LRU alone. 0 when no new flows.
  double turnoverSeconds() const {
    return new_flow_rate > 0 ? static_cast<double>(lru_capacity) / new_flow_rate : 0;
  }
};

}  // namespace xlb::dataplane
