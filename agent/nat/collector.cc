// SPDX-License-Identifier: Apache-2.0
// NAT connection pairing, state and collection planning (see collector.h).
#include "nat/collector.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "dataplane/open_flows.h"

namespace xlb::nat {
namespace {

struct KeyHash {
  size_t operator()(const xlb_flow_key& k) const {
    uint64_t h = 1469598103934665603ull;
    const auto* p = reinterpret_cast<const uint8_t*>(&k);
    for (size_t i = 0; i < sizeof(k); ++i) h = (h ^ p[i]) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};
struct KeyEq {
  bool operator()(const xlb_flow_key& a, const xlb_flow_key& b) const {
    return std::memcmp(&a, &b, sizeof(a)) == 0;
  }
};

bool sameKey(const xlb_flow_key& a, const xlb_flow_key& b) { return KeyEq{}(a, b); }

}  // namespace

Timeouts timeoutsOf(const v1::NatTimeouts& t) {
  Timeouts out;
  if (t.has_syn_s()) out.syn_ns = uint64_t{t.syn_s()} * kNsPerSec;
  if (t.has_established_s()) out.established_ns = uint64_t{t.established_s()} * kNsPerSec;
  if (t.has_closing_s()) out.closing_ns = uint64_t{t.closing_s()} * kNsPerSec;
  if (t.has_udp_s()) out.udp_ns = uint64_t{t.udp_s()} * kNsPerSec;
  return out;
}

v1::NatState toProto(ConnState s) {
  switch (s) {
    case ConnState::kSyn:
      return v1::NAT_STATE_SYN;
    case ConnState::kEstablished:
      return v1::NAT_STATE_ESTABLISHED;
    case ConnState::kClosing:
      return v1::NAT_STATE_CLOSING;
    case ConnState::kUdp:
      return v1::NAT_STATE_UDP;
  }
  return v1::NAT_STATE_UNSPECIFIED;
}

const char* stateName(ConnState s) {
  switch (s) {
    case ConnState::kSyn:
      return "syn";
    case ConnState::kEstablished:
      return "established";
    case ConnState::kClosing:
      return "closing";
    case ConnState::kUdp:
      return "udp";
  }
  return "?";
}

xlb_flow_key peerKey(const xlb_flow_key& key, const xlb_nat_value& v) {
  return dataplane::natPeerKey(key, v);
}

bool connectionAnswered(const xlb_flow_key& fwd_key, const xlb_nat_value& fwd,
                        const xlb_nat_value& rev) {
  if (!(rev.state & XLB_NAT_S_SEEN)) return false;
  return fwd.state & (fwd_key.proto == IPPROTO_TCP ? XLB_NAT_S_ACK : XLB_NAT_S_SEEN);
}

ConnState connectionState(const xlb_flow_key& fwd_key, const xlb_nat_value& fwd,
                          const xlb_nat_value& rev) {
  if (fwd_key.proto != IPPROTO_TCP) return ConnState::kUdp;
  if ((fwd.state | rev.state) & (XLB_NAT_S_FIN | XLB_NAT_S_RST)) return ConnState::kClosing;
  if (connectionAnswered(fwd_key, fwd, rev)) return ConnState::kEstablished;
  return ConnState::kSyn;
}

Connection connectionOf(const NatEntry& fwd, const NatEntry& rev) {
  const auto& [k, v] = fwd;
  const auto& rv = rev.second;
  Connection c;
  c.fwd = fwd;
  c.rev = rev;
  c.state = connectionState(k, v, rv);
  c.replied = rv.state & XLB_NAT_S_SEEN;
  c.answered = connectionAnswered(k, v, rv);
  c.reset = (v.state | rv.state) & XLB_NAT_S_RST;
  c.last_seen_ns = std::max(v.last_seen_ns, rv.last_seen_ns);
  c.created_ns = std::min(v.created_ns, rv.created_ns);
  if (c.created_ns == 0) c.created_ns = std::max(v.created_ns, rv.created_ns);
  return c;
}

std::optional<Connection> pairOf(const NatEntry& fwd, const NatEntry& rev) {
  const auto& [k, v] = fwd;
  const auto& [rk, rv] = rev;
  // The peer must be the reverse entry of this very connection.
  if (v.dir != XLB_NAT_DIR_FWD || rv.dir != XLB_NAT_DIR_REV || !sameKey(peerKey(k, v), rk) ||
      !sameKey(peerKey(rk, rv), k)) {
    return std::nullopt;
  }
  return connectionOf(fwd, rev);
}

Snapshot pairEntries(std::vector<NatEntry> entries) {
  Snapshot snap;
  snap.entries = entries.size();
  std::unordered_map<xlb_flow_key, size_t, KeyHash, KeyEq> index;
  index.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) index.emplace(entries[i].first, i);
  std::vector<bool> used(entries.size(), false);
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& [k, v] = entries[i];
    if (v.dir != XLB_NAT_DIR_FWD) continue;
    auto it = index.find(peerKey(k, v));
    if (it == index.end() || used[it->second]) continue;
    auto c = pairOf(entries[i], entries[it->second]);
    if (!c) continue;
    used[i] = used[it->second] = true;
    snap.connections.push_back(std::move(*c));
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!used[i]) snap.unpaired.push_back(std::move(entries[i]));
  }
  return snap;
}

uint64_t timeoutFor(const Connection& c, const Timeouts& t) {
  switch (c.state) {
    case ConnState::kSyn:
      return t.syn_ns;
    case ConnState::kEstablished:
      return t.established_ns;
    case ConnState::kClosing:
      if (c.fwd.second.mode == XLB_FWD_FULLNAT && !c.reset &&
          (c.rev.second.state & XLB_NAT_S_FIN) != 0) {
        return std::max(t.closing_ns, kBackendTimeWaitNs);
      }
      return t.closing_ns;
    case ConnState::kUdp:
      return t.udp_ns;
  }
  return t.syn_ns;
}

namespace {
// A timestamp slightly ahead of now (another CPU's coarse clock) counts as now.
uint64_t since(uint64_t now, uint64_t t) { return t < now ? now - t : 0; }
}  // namespace

uint64_t expiresIn(const Connection& c, const Timeouts& t, uint64_t now_ns) {
  const uint64_t idle = since(now_ns, c.last_seen_ns);
  const uint64_t timeout = timeoutFor(c, t);
  return idle >= timeout ? 0 : timeout - idle;
}

CollectPlan planCollection(const Snapshot& snap, const CollectPolicy& policy) {
  CollectPlan plan;
  const uint64_t now = policy.now_ns;
  // Entries left per family: each family has its own table of `capacity` (abi.h "NAT").
  uint64_t remaining[2] = {0, 0};
  auto fam = [](const xlb_flow_key& k) { return k.family == XLB_AF_INET6 ? 1 : 0; };
  for (const Connection& c : snap.connections) remaining[fam(c.fwd.first)] += 2;
  for (const NatEntry& e : snap.unpaired) ++remaining[fam(e.first)];
  for (const NatEntry& e : snap.unpaired) {
    const uint64_t t = std::max(e.second.created_ns, e.second.last_seen_ns);
    if (since(now, t) < policy.orphan_grace_ns) continue;
    plan.orphans.push_back(e.first);
    --remaining[fam(e.first)];
  }
  // Idle expiry; what survives is a candidate for pressure expiry when unanswered (or reset).
  std::vector<const Connection*> kept, unanswered, reset;
  for (const Connection& c : snap.connections) {
    if (expiresIn(c, policy.timeouts(c.fwd.second.vip_id), now) == 0) {
      plan.fwd.push_back(c.fwd.first);
      plan.rev.push_back(c.rev.first);
      ++plan.expired;
      remaining[fam(c.fwd.first)] -= 2;
      continue;
    }
    kept.push_back(&c);
    if (c.state == ConnState::kClosing) {
      if (c.reset && since(now, c.last_seen_ns) >= policy.pressure_min_age_ns) reset.push_back(&c);
    } else if (!c.answered && since(now, c.created_ns) >= policy.pressure_min_age_ns) {
      unanswered.push_back(&c);
    }
  }
  const double cap = static_cast<double>(policy.capacity);
  const auto above = [&remaining](int f, double level) {
    return static_cast<double>(remaining[f]) > level;
  };
  plan.pressure = policy.table_full_seen || above(0, policy.high_water * cap) ||
                  above(1, policy.high_water * cap);
  std::vector<const Connection*> evicted;
  if (plan.pressure) {
    // Oldest first: a flood's spoofed SYNs never get older than its first ones, so the clients that
    // were refused while the table was full get their room back within the next pass, and answered
    // connections are never touched. Then the ones a RST closed, longest idle first.
    std::sort(unanswered.begin(), unanswered.end(), [](const Connection* a, const Connection* b) {
      return a->created_ns < b->created_ns;
    });
    std::sort(reset.begin(), reset.end(), [](const Connection* a, const Connection* b) {
      return a->last_seen_ns < b->last_seen_ns;
    });
    unanswered.insert(unanswered.end(), reset.begin(), reset.end());
    const double target = policy.low_water * cap;
    for (const Connection* c : unanswered) {
      const int f = fam(c->fwd.first);
      if (!policy.table_full_seen && !above(f, target)) continue;  // that family is relieved
      plan.fwd.push_back(c->fwd.first);
      plan.rev.push_back(c->rev.first);
      ++plan.pressure_expired;
      remaining[f] -= 2;
      evicted.push_back(c);
    }
  }
  std::sort(evicted.begin(), evicted.end());
  for (const Connection* c : kept) {
    if (std::binary_search(evicted.begin(), evicted.end(), c)) continue;
    ++plan.connections;
    if (!c->answered) ++plan.unanswered;
    ++plan.by_state[static_cast<int>(c->state)];
  }
  return plan;
}

PressureEpisodes::Events PressureEpisodes::onPass(const Pass& p) {
  Events ev;
  const uint64_t refused_before = have_last_ ? last_refused_ : p.refused_total;
  last_refused_ = p.refused_total;
  have_last_ = true;
  if (p.pressure) {
    if (!active_) {
      active_ = true;
      full_said_ = false;
      started_ns_ = p.now_ns;
      refused_at_start_ = refused_before;
      expired_ = 0;
      ++episodes_;
      ev.started = true;
    }
    last_pressure_ns_ = p.now_ns;
  }
  if (!active_) return ev;
  expired_ += p.pressure_expired;
  if (p.full_seen && !full_said_) {
    full_said_ = true;
    ++full_episodes_;
    ev.full = true;
  }
  ev.refused = p.refused_total - std::min(p.refused_total, refused_at_start_);
  ev.pressure_expired = expired_;
  ev.duration_ns = since(p.now_ns, started_ns_);
  if (!p.pressure && since(p.now_ns, last_pressure_ns_) >= calm_ns_) {
    active_ = false;
    ev.ended = true;
  }
  return ev;
}

}  // namespace xlb::nat
