// SPDX-License-Identifier: Apache-2.0
// Protected-flow expiry verdicts and flood detection (see flood.h).
#include "dataplane/flood.h"

#include <algorithm>

namespace xlb::dataplane {

uint64_t ProtectedTimeouts::forValue(const xlb_flow_key& key, const xlb_flow_value& v) const {
  if (v.flags & XLB_FLOW_F_CLOSING) return closing_ns;
  return key.proto == 6 ? tcp_ns : udp_ns;  // IPPROTO_TCP
}

namespace {
bool idle(uint64_t last_seen_ns, uint64_t now_ns, uint64_t timeout_ns) {
  return now_ns > last_seen_ns && now_ns - last_seen_ns > timeout_ns;
}
}  // namespace

ProtectedVerdict protectedVerdict(const xlb_flow_key& key, const xlb_flow_value& prot,
                                  uint64_t now_ns, const ProtectedTimeouts& t) {
  return idle(prot.last_seen_ns, now_ns, t.forValue(key, prot)) ? ProtectedVerdict::kCheckLru
                                                                 : ProtectedVerdict::kKeep;
}

ProtectedDecision decideWithLru(const xlb_flow_key& key, const xlb_flow_value& prot,
                                const std::optional<xlb_flow_value>& lru, uint64_t now_ns,
                                const ProtectedTimeouts& t) {
  // The LRU copy counts only while it is the same flow (same backend record); a tuple re-opened
  // by a new connection (young LRU entry) does not keep the old connection's copy alive.
  if (lru && lru->backend_id == prot.backend_id && lru->backend_gen == prot.backend_gen &&
      lru->last_seen_ns > prot.last_seen_ns) {
    // The LRU copy's state (closing or not) decides the timeout: it sees every packet first.
    if (!idle(lru->last_seen_ns, now_ns, t.forValue(key, *lru)))
      return {ProtectedDecision::kRefresh, lru->last_seen_ns};
  }
  if (!idle(prot.last_seen_ns, now_ns, t.forValue(key, prot))) return {};
  return {ProtectedDecision::kDelete, 0};
}

FloodDetector::FloodDetector(Config c) : c_(c) {
  if (c_.end_rate <= 0) c_.end_rate = c_.start_rate / 2;
  if (c_.calm_samples == 0) c_.calm_samples = 1;
}

FloodDetector::Transition FloodDetector::observe(uint64_t now_ns, uint64_t total) {
  if (!have_base_ || total < last_total_ || now_ns <= last_ns_) {
    have_base_ = true;
    last_ns_ = now_ns;
    last_total_ = total;
    return Transition::kNone;
  }
  rate_ = static_cast<double>(total - last_total_) * 1e9 / static_cast<double>(now_ns - last_ns_);
  last_ns_ = now_ns;
  last_total_ = total;
  if (c_.start_rate <= 0) return Transition::kNone;
  if (!active_) {
    if (rate_ < c_.start_rate) return Transition::kNone;
    active_ = true;
    calm_ = 0;
    peak_ = rate_;
    ++started_;
    return Transition::kStarted;
  }
  peak_ = std::max(peak_, rate_);
  if (rate_ >= c_.end_rate) {
    calm_ = 0;
    return Transition::kNone;
  }
  if (++calm_ < c_.calm_samples) return Transition::kNone;
  active_ = false;
  return Transition::kEnded;
}

}  // namespace xlb::dataplane
