// SPDX-License-Identifier: Apache-2.0
// Recounting open flows per backend from the flow table (see open_flows.h).
#include "dataplane/open_flows.h"

#include <cstring>
#include <utility>

namespace xlb::dataplane {

OpenFlowCounter::OpenFlowCounter(std::span<const std::pair<uint32_t, xlb_backend>> backends,
                                 uint64_t now_ns, uint64_t idle_timeout_ns, uint32_t capacity)
    : gen_(capacity, 0),
      counts_(capacity, 0),
      now_ns_(now_ns),
      idle_timeout_ns_(idle_timeout_ns) {
  for (const auto& [id, be] : backends) {
    // A cleared slot (deleted backend) has gen 0 and matches no flow.
    if (id < gen_.size()) gen_[id] = be.gen;
  }
}

void OpenFlowCounter::add(const xlb_flow_key& /*key*/, const xlb_flow_value& v) {
  if (v.flags & XLB_FLOW_F_CLOSING) return;
  if (v.backend_id >= gen_.size()) return;
  const uint32_t gen = gen_[v.backend_id];
  if (gen == 0 || gen != v.backend_gen) return;
  // last_seen may be a little ahead of a now read earlier by another CPU's clock: that is fresh.
  if (v.last_seen_ns < now_ns_ && now_ns_ - v.last_seen_ns > idle_timeout_ns_) return;
  ++counts_[v.backend_id];
}

bool OpenFlowCounter::countsAsOpen(const xlb_nat_value& v) const {
  if (v.dir != XLB_NAT_DIR_FWD) return false;
  if (v.state & (XLB_NAT_S_FIN | XLB_NAT_S_RST)) return false;
  if (v.backend_id >= gen_.size()) return false;
  const uint32_t gen = gen_[v.backend_id];
  return gen != 0 && gen == v.backend_gen;
}

void OpenFlowCounter::addNat(const xlb_flow_key& /*key*/, const xlb_nat_value& v) {
  if (countsAsOpen(v)) ++counts_[v.backend_id];
}

xlb_flow_key natPeerKey(const xlb_flow_key& key, const xlb_nat_value& v) {
  xlb_flow_key p{};
  std::memcpy(p.src, v.new_dst, 16);
  std::memcpy(p.dst, v.new_src, 16);
  p.sport = v.new_dport;
  p.dport = v.new_sport;
  p.proto = key.proto;
  p.family = key.family;
  return p;
}

ScanPacer::ScanPacer(uint64_t slice, double rest, Pause pause,
                     std::function<Clock::time_point()> now)
    : slice_(slice == 0 ? 1 : slice),
      rest_(rest < 0 ? 0 : rest),
      pause_(std::move(pause)),
      now_(std::move(now)),
      slice_start_(now_()) {}

void ScanPacer::endSlice() {
  in_slice_ = 0;
  const Clock::time_point end = now_();
  const auto wait = std::chrono::duration_cast<Clock::duration>((end - slice_start_) * rest_);
  if (wait > Clock::duration::zero() && pause_) {
    ++pauses_;
    paused_ += wait;
    pause_(wait);
  }
  slice_start_ = now_();  // the pause is not part of the next slice
}

absl::StatusOr<std::vector<uint64_t>> countOpenFlows(
    Dataplane& dp, std::span<const std::pair<uint32_t, xlb_backend>> backends,
    uint64_t idle_timeout_ns, Dataplane::FlowScanCounts* scan, ScanPacer* pacer) {
  OpenFlowCounter counter(backends, dp.monotonicNowNs(), idle_timeout_ns, dp.capacity().backends);
  auto st = dp.forEachFlow(
      [&counter, pacer](const xlb_flow_key& k, const xlb_flow_value& v) {
        counter.add(k, v);
        if (pacer) pacer->entry();
      },
      scan);
  if (!st.ok()) return st;
  st = dp.forEachNat([&counter, pacer](const xlb_flow_key& k, const xlb_nat_value& v) {
    counter.addNat(k, v);
    if (pacer) pacer->entry();
  });
  if (!st.ok()) return st;
  return counter.counts();
}

}  // namespace xlb::dataplane
