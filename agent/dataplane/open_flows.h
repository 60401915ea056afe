// SPDX-License-Identifier: Apache-2.0
// Recounting open flows per backend from the flow table: what the agent's reconciler writes back
// into the data plane's counts (which drift: flows that end without a FIN/RST seen are never
// subtracted by the data plane).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/dataplane.h"
#include "xlb/abi.h"

namespace xlb::dataplane {

// Counts, per backend id (`capacity` entries), the flows that are open: not
// XLB_FLOW_F_CLOSING, seen within idle_timeout_ns of now_ns (last_seen_ns is refreshed at most once
// a second by the data plane, so pass a timeout of a few seconds at least), and recorded for the
// backend generation that currently holds the id. `backends` is the backend table (id, slot) as the
// agent wrote it or as readBpfContents() returns it; ids absent from it count nothing.
class OpenFlowCounter {
 public:
  OpenFlowCounter(std::span<const std::pair<uint32_t, xlb_backend>> backends, uint64_t now_ns,
                  uint64_t idle_timeout_ns, uint32_t capacity = XLB_MAX_BACKENDS);
  void add(const xlb_flow_key& key, const xlb_flow_value& value);
  // A NAT connection entry (xlb_nat): NAT VIPs record no flow-table entries, so their open
  // connections are counted here, once each, from the FWD entry: not closing (no FIN/RST in the
  // client's direction), for the current generation of its backend. No idle limit: the NAT
  // collector deletes idle connections by their own timeouts. A connection its backend reset is
  // closed here too: the data plane marks the FWD entry RST at the backend's first RST.
  void addNat(const xlb_flow_key& key, const xlb_nat_value& value);
  const std::vector<uint64_t>& counts() const { return counts_; }

 private:
  bool countsAsOpen(const xlb_nat_value& fwd) const;

  std::vector<uint32_t> gen_;  // by id; 0 = no backend
  std::vector<uint64_t> counts_;
  uint64_t now_ns_, idle_timeout_ns_;
};

// The key of a NAT entry's peer (abi.h "NAT"): the entry's new tuple reversed.
xlb_flow_key natPeerKey(const xlb_flow_key& key, const xlb_nat_value& value);

// Spreads a long scan out, so that a 1M-entry flow table does not take a CPU for the whole scan:
// after every `slice` entries visited, pause(rest x the time the slice took). The work between two
// pauses is bounded by `slice`, and the scan uses at most 1 / (1 + rest) of one CPU. The caller's
// pause decides how to wait (the reconciler's returns at once when the agent stops). A table of at
// most `slice` entries is never paused.
class ScanPacer {
 public:
  using Clock = std::chrono::steady_clock;
  using Pause = std::function<void(Clock::duration)>;
  ScanPacer(uint64_t slice, double rest, Pause pause,
            std::function<Clock::time_point()> now = Clock::now);
  // Called once per entry visited.
  void entry() {
    if (++in_slice_ >= slice_) endSlice();
  }
  uint64_t pauses() const { return pauses_; }
  Clock::duration paused() const { return paused_; }  // the pauses asked for, in total

 private:
  void endSlice();

  uint64_t slice_;
  double rest_;
  Pause pause_;
  std::function<Clock::time_point()> now_;
  Clock::time_point slice_start_;
  uint64_t in_slice_ = 0, pauses_ = 0;
  Clock::duration paused_{};
};

// One scan of dp's flows (LRU and protected-only, each flow once) and of its NAT connections with
// OpenFlowCounter, now taken from dp.monotonicNowNs(). scan, when given, receives the flow-table
// occupancies seen; pacer, when given, is told of every entry visited.
absl::StatusOr<std::vector<uint64_t>> countOpenFlows(
    Dataplane& dp, std::span<const std::pair<uint32_t, xlb_backend>> backends,
    uint64_t idle_timeout_ns, Dataplane::FlowScanCounts* scan = nullptr,
    ScanPacer* pacer = nullptr);

}  // namespace xlb::dataplane
