// SPDX-License-Identifier: Apache-2.0
// Rates for `lbctl top`: two GetStats samples, matched by VIP key and backend address, turned into
// per-second values that never show a huge number when a counter was reset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "xlb/v1/xlb.pb.h"

namespace xlb::cli {

struct TrafficCounters {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t new_flows = 0;
};

// Per-second rates; nullopt means "unknown": first sample of the thing, a counter reset or no
// measurable elapsed time.
struct TrafficRates {
  std::optional<double> pps;
  std::optional<double> bps;  // bits per second
  std::optional<double> new_flows_per_s;
};

// (cur - prev) / seconds; nullopt when seconds <= 0 or the counter went backwards (agent restart,
// VIP or backend re-created under a reused slot).
std::optional<double> counterRate(uint64_t prev, uint64_t cur, double seconds);

// The three rates of one VIP or backend. They are known together or not at all: one counter going
// backwards means the slot was reset, and the others' deltas are then meaningless too.
TrafficRates trafficRates(const TrafficCounters* prev, const TrafficCounters& cur, double seconds);

struct BackendSample {
  std::string address;  // canonical form ("2001:db8::5"), the match key within its VIP
  uint32_t weight = 0;
  xlb::v1::BackendState state = xlb::v1::BACKEND_STATE_UNSPECIFIED;
  xlb::v1::Health health = xlb::v1::HEALTH_UNSPECIFIED;
  uint64_t open_flows = 0;
  TrafficCounters counters;
};

struct VipSample {
  std::string key;  // formatVipKey(): "10.100.0.10:80/tcp", the match key
  std::string name;
  TrafficCounters counters;
  std::vector<BackendSample> backends;
};

struct NamedValue {
  std::string name;
  uint64_t value = 0;
};

// One GetStats answer, reduced to what `top` shows, in the agent's order.
struct StatsSample {
  std::vector<VipSample> vips;
  std::vector<NamedValue> global;
  std::vector<NamedValue> drops;
};

StatsSample sampleFromStats(const xlb::v1::Stats& stats);

struct BackendRow {
  BackendSample sample;
  TrafficRates rates;
};

struct VipRow {
  std::string key;
  std::string name;
  TrafficCounters counters;
  uint64_t open_flows = 0;  // sum over its backends
  TrafficRates rates;
  std::vector<BackendRow> backends;
};

struct NamedRate {
  std::string name;
  uint64_t value = 0;
  std::optional<double> per_s;
};

struct RateView {
  double elapsed_s = 0;
  std::vector<VipRow> vips;
  std::vector<NamedRate> global;
  std::vector<NamedRate> drops;
};

// Rates of `cur` against `prev` (nullptr: the first sample, every rate unknown). Entries are
// matched by key, never by position, so VIPs and backends may appear, vanish or move between
// samples; a new entry has unknown rates and a vanished one is simply absent.
RateView computeRates(const StatsSample* prev, const StatsSample& cur, double elapsed_s);

enum class SortKey { kPps, kBps, kFlows };

// Highest first (VIPs, and backends within each VIP); unknown rates last; ties keep the key order
// so the screen does not jitter. kFlows sorts by new flows/s, then open flows.
void sortView(RateView& view, SortKey key);

}  // namespace xlb::cli
