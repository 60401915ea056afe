// SPDX-License-Identifier: Apache-2.0
// NAT collector planning (nat/collector.h): pairing, state, idle expiry per state and per-VIP
// timeouts, orphans, the answered rule (TCP: client ACK + backend reply; UDP: both sides after
// creation), pressure expiry (unanswered first, oldest first, then reset ones, answered
// untouched), pressure episodes (table full said once each); then NatCollector passes against the
// fake data plane.
#include "nat/collector.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <vector>

#include "dataplane/fake_dataplane.h"
#include "nat/gc.h"
#include "nat_fixtures.h"
#include "spdlog/spdlog.h"

namespace xlb::nat {
namespace {

using testing::makePair;
using testing::Pair;
using testing::PairSpec;

const bool kQuiet = (spdlog::set_level(spdlog::level::err), true);

constexpr uint64_t kNow = 100'000 * kNsPerSec;
constexpr uint64_t kSec = kNsPerSec;

bool contains(const std::vector<xlb_flow_key>& keys, const xlb_flow_key& k) {
  return std::any_of(keys.begin(), keys.end(),
                     [&k](const xlb_flow_key& x) { return std::memcmp(&x, &k, sizeof(k)) == 0; });
}

std::vector<NatEntry> entriesOf(const std::vector<Pair>& pairs) {
  std::vector<NatEntry> out;
  for (const Pair& p : pairs) {
    out.emplace_back(p.rev_key, p.rev);  // REV first, as the data plane creates them
    out.emplace_back(p.fwd_key, p.fwd);
  }
  return out;
}

PairSpec spec(uint16_t cport, uint64_t created, uint8_t rev_state = 0, uint64_t seen = 0) {
  PairSpec s;
  s.cport = cport;
  s.created_ns = created;
  s.rev_state = rev_state;
  s.fwd_seen_ns = seen ? seen : created;
  s.rev_seen_ns = seen ? seen : created;
  return s;
}

// A TCP connection whose handshake completed: the client's ACK and the backend's reply.
PairSpec answered(uint16_t cport, uint64_t created, uint64_t seen = 0) {
  PairSpec s = spec(cport, created, XLB_NAT_S_SEEN, seen);
  s.fwd_state = XLB_NAT_S_SEEN | XLB_NAT_S_ACK;
  return s;
}

// What a spoofed SYN leaves: the SYN (retransmitted: FWD SEEN) and the backend's SYN-ACK (REV
// SEEN), never the client's ACK.
PairSpec spoofed(uint16_t cport, uint64_t created) {
  PairSpec s = spec(cport, created, XLB_NAT_S_SEEN);
  s.fwd_state = XLB_NAT_S_SEEN;
  return s;
}

TEST(NatPairing, PeerKeyIsTheNewTupleReversed) {
  for (bool full : {false, true}) {
    PairSpec s;
    if (full) s.snat = "10.0.9.1";
    Pair p = makePair(s);
    xlb_flow_key a = peerKey(p.fwd_key, p.fwd), b = peerKey(p.rev_key, p.rev);
    EXPECT_EQ(std::memcmp(&a, &p.rev_key, sizeof(a)), 0) << (full ? "fullnat" : "nat");
    EXPECT_EQ(std::memcmp(&b, &p.fwd_key, sizeof(b)), 0) << (full ? "fullnat" : "nat");
  }
}

TEST(NatPairing, PairsEntriesAndStates) {
  std::vector<Pair> pairs;
  pairs.push_back(makePair(spec(1, kNow)));                           // SYN only
  pairs.push_back(makePair(answered(2, kNow)));                       // answered
  PairSpec closing = answered(3, kNow);
  closing.fwd_state = XLB_NAT_S_FIN;
  pairs.push_back(makePair(closing));
  PairSpec rst = spec(4, kNow);
  rst.rev_state = XLB_NAT_S_RST;  // RST from the backend's side
  pairs.push_back(makePair(rst));
  PairSpec udp = spec(5, kNow);
  udp.proto = IPPROTO_UDP;
  pairs.push_back(makePair(udp));
  Snapshot snap = pairEntries(entriesOf(pairs));
  ASSERT_EQ(snap.connections.size(), 5u);
  EXPECT_TRUE(snap.unpaired.empty());
  EXPECT_EQ(snap.entries, 10u);
  std::map<uint16_t, ConnState> by_port;
  for (const Connection& c : snap.connections) by_port[ntohs(c.fwd.first.sport)] = c.state;
  EXPECT_EQ(by_port[1], ConnState::kSyn);
  EXPECT_EQ(by_port[2], ConnState::kEstablished);
  EXPECT_EQ(by_port[3], ConnState::kClosing);
  EXPECT_EQ(by_port[4], ConnState::kClosing);
  EXPECT_EQ(by_port[5], ConnState::kUdp);
}

TEST(NatCollect, ExpiresByStateWithDefaults) {
  std::vector<Pair> pairs;
  pairs.push_back(makePair(spec(1, kNow - 61 * kSec)));                   // syn, 61 s idle: due
  pairs.push_back(makePair(spec(2, kNow - 59 * kSec)));                   // syn, 59 s: kept
  pairs.push_back(makePair(answered(3, kNow - 7200 * kSec)));             // established 2 h: kept
  PairSpec closing = answered(4, kNow - 11 * kSec);
  closing.fwd_state = XLB_NAT_S_FIN;
  pairs.push_back(makePair(closing));  // closing, 11 s: due
  PairSpec udp = spec(5, kNow - 61 * kSec);
  udp.proto = IPPROTO_UDP;
  pairs.push_back(makePair(udp));  // udp 61 s: due
  // Idle counts from the newer of the two entries: a backend still sending keeps it.
  PairSpec busy = spec(6, kNow - 100 * kSec);
  busy.rev_seen_ns = kNow - 5 * kSec;
  pairs.push_back(makePair(busy));
  CollectPolicy policy;
  policy.now_ns = kNow;
  CollectPlan plan = planCollection(pairEntries(entriesOf(pairs)), policy);
  EXPECT_EQ(plan.expired, 3u);
  EXPECT_EQ(plan.fwd.size(), 3u);
  EXPECT_EQ(plan.rev.size(), 3u);
  EXPECT_TRUE(contains(plan.fwd, pairs[0].fwd_key));
  EXPECT_TRUE(contains(plan.rev, pairs[0].rev_key));
  EXPECT_TRUE(contains(plan.fwd, pairs[3].fwd_key));
  EXPECT_TRUE(contains(plan.fwd, pairs[4].fwd_key));
  EXPECT_FALSE(contains(plan.fwd, pairs[5].fwd_key));
  EXPECT_EQ(plan.connections, 3u);
  EXPECT_EQ(plan.pressure_expired, 0u);
  EXPECT_FALSE(plan.pressure);
}

TEST(NatCollect, PerVipTimeouts) {
  PairSpec a = answered(1, kNow - 6 * kSec);  // established, 6 s idle, vip 0
  PairSpec b = a;
  b.cport = 2;
  b.vip_id = 1;  // vip 1: established 5 s
  std::vector<Pair> pairs{makePair(a), makePair(b)};
  CollectPolicy policy;
  policy.now_ns = kNow;
  v1::NatTimeouts t;
  t.set_established_s(5);
  policy.timeouts = [&t](uint32_t vip) { return vip == 1 ? timeoutsOf(t) : Timeouts{}; };
  CollectPlan plan = planCollection(pairEntries(entriesOf(pairs)), policy);
  ASSERT_EQ(plan.fwd.size(), 1u);
  EXPECT_TRUE(contains(plan.fwd, pairs[1].fwd_key));
  // Unset fields keep their defaults.
  EXPECT_EQ(timeoutsOf(t).syn_ns, 60 * kSec);
  EXPECT_EQ(timeoutsOf(t).closing_ns, 10 * kSec);
  EXPECT_EQ(timeoutsOf(t).udp_ns, 60 * kSec);
}

TEST(NatCollect, OrphansAfterGrace) {
  Pair old_rev = makePair(spec(1, kNow - 10 * kSec));
  Pair new_rev = makePair(spec(2, kNow - 1 * kSec));  // FWD not inserted yet: within grace
  Pair lone_fwd = makePair(answered(3, kNow - 30 * kSec));
  std::vector<NatEntry> entries{{old_rev.rev_key, old_rev.rev},
                                {new_rev.rev_key, new_rev.rev},
                                {lone_fwd.fwd_key, lone_fwd.fwd}};
  CollectPolicy policy;
  policy.now_ns = kNow;
  Snapshot snap = pairEntries(entries);
  EXPECT_EQ(snap.unpaired.size(), 3u);
  CollectPlan plan = planCollection(snap, policy);
  EXPECT_EQ(plan.orphans.size(), 2u);
  EXPECT_TRUE(contains(plan.orphans, old_rev.rev_key));
  EXPECT_TRUE(contains(plan.orphans, lone_fwd.fwd_key));
  EXPECT_FALSE(contains(plan.orphans, new_rev.rev_key));
}

TEST(NatCollect, PressureExpiresUnansweredOldestFirstAndNeverAnswered) {
  // Capacity 20 entries = 10 connections; 9 connections (18 entries) > 75 %.
  std::vector<Pair> pairs;
  for (uint16_t i = 0; i < 3; ++i) {
    pairs.push_back(makePair(answered(100 + i, kNow - (30 - i) * kSec)));  // answered
  }
  for (uint16_t i = 0; i < 5; ++i) {
    pairs.push_back(makePair(spec(200 + i, kNow - (20 - i) * kSec)));  // unanswered, older first
  }
  pairs.push_back(makePair(spec(300, kNow - kSec / 2)));  // unanswered but younger than 1 s
  CollectPolicy policy;
  policy.now_ns = kNow;
  policy.capacity = 20;
  CollectPlan plan = planCollection(pairEntries(entriesOf(pairs)), policy);
  EXPECT_TRUE(plan.pressure);
  // Down to the low-water mark (60 % of 20 = 12 entries): 18 -> 12 = three connections, the
  // three oldest unanswered ones.
  EXPECT_EQ(plan.pressure_expired, 3u);
  EXPECT_EQ(plan.expired, 0u);
  EXPECT_TRUE(contains(plan.fwd, pairs[3].fwd_key));
  EXPECT_TRUE(contains(plan.fwd, pairs[4].fwd_key));
  EXPECT_TRUE(contains(plan.fwd, pairs[5].fwd_key));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(contains(plan.fwd, pairs[i].fwd_key)) << i;
  EXPECT_FALSE(contains(plan.fwd, pairs[8].fwd_key));
  EXPECT_EQ(plan.connections, 6u);
  EXPECT_EQ(plan.unanswered, 3u);
}

// Each family has a table of `capacity` entries (xlb_nat4, xlb_nat6): IPv6 connections do not fill
// the IPv4 table, and relieving one table never expires the other family's connections.
TEST(NatCollect, PressureIsJudgedPerFamily) {
  std::vector<Pair> pairs;
  for (uint16_t i = 0; i < 6; ++i) pairs.push_back(makePair(spec(200 + i, kNow - (20 - i) * kSec)));
  for (uint16_t i = 0; i < 6; ++i) {
    PairSpec s = spec(400 + i, kNow - (40 - i) * kSec);  // older than every IPv4 one
    s.client = "2001:db8::1";
    s.vip = "2001:db8:1::10";
    s.backend = "2001:db8:2::1";
    pairs.push_back(makePair(s));
  }
  CollectPolicy policy;
  policy.now_ns = kNow;
  policy.capacity = 20;  // 12 entries per family: 60 %, below the 75 % high-water mark
  CollectPlan plan = planCollection(pairEntries(entriesOf(pairs)), policy);
  EXPECT_FALSE(plan.pressure) << "24 entries in all, but 12 of 20 in each table";
  EXPECT_EQ(plan.pressure_expired, 0u);

  for (uint16_t i = 6; i < 9; ++i) pairs.push_back(makePair(spec(200 + i, kNow - (20 - i) * kSec)));
  plan = planCollection(pairEntries(entriesOf(pairs)), policy);  // IPv4: 18 of 20
  EXPECT_TRUE(plan.pressure);
  // The IPv4 table back to 12 entries: its three oldest unanswered; the older IPv6 ones stay.
  EXPECT_EQ(plan.pressure_expired, 3u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(contains(plan.fwd, pairs[i].fwd_key)) << i;
  for (int i = 6; i < 12; ++i) EXPECT_FALSE(contains(plan.fwd, pairs[i].fwd_key)) << i;
}

TEST(NatCollect, FullTableExpiresEveryUnansweredOlderThanOneSecond) {
  std::vector<Pair> pairs;
  pairs.push_back(makePair(answered(1, kNow - 30 * kSec)));
  for (uint16_t i = 0; i < 4; ++i) pairs.push_back(makePair(spec(10 + i, kNow - 5 * kSec)));
  pairs.push_back(makePair(spec(20, kNow)));  // just created
  CollectPolicy policy;
  policy.now_ns = kNow;
  policy.capacity = 1000;  // far below 75 %: only the data plane's "full" drops say pressure
  policy.table_full_seen = true;
  CollectPlan plan = planCollection(pairEntries(entriesOf(pairs)), policy);
  EXPECT_TRUE(plan.pressure);
  EXPECT_EQ(plan.pressure_expired, 4u);
  EXPECT_FALSE(contains(plan.fwd, pairs[0].fwd_key));
  EXPECT_FALSE(contains(plan.fwd, pairs[5].fwd_key));
  policy.table_full_seen = false;
  EXPECT_FALSE(planCollection(pairEntries(entriesOf(pairs)), policy).pressure);
}

TEST(NatCollector, PassDeletesFromTheTableAndCounts) {
  dataplane::FakeDataplane dp;
  dp.setMonotonicNowNs(kNow);
  Pair keep = makePair(answered(1, kNow - 10 * kSec));
  Pair expire = makePair(spec(2, kNow - 120 * kSec));
  Pair orphan = makePair(spec(3, kNow - 60 * kSec));
  for (const Pair* p : {&keep, &expire}) {
    dp.putNat(p->rev_key, p->rev);
    dp.putNat(p->fwd_key, p->fwd);
  }
  dp.putNat(orphan.rev_key, orphan.rev);
  NatCollector c(dp, [] { return std::make_shared<const NatVipMap>(); }, std::chrono::milliseconds(1000));
  ASSERT_TRUE(c.runOnce().ok());
  EXPECT_EQ(dp.natCount(), 2u);
  EXPECT_TRUE(dp.nat(keep.fwd_key).has_value());
  EXPECT_TRUE(dp.nat(keep.rev_key).has_value());
  NatTableStatus s = c.status();
  EXPECT_EQ(s.entries, 2u);
  EXPECT_EQ(s.connections, 1u);
  EXPECT_EQ(s.expired, 1u);
  EXPECT_EQ(s.orphans, 1u);
  EXPECT_EQ(s.by_state[static_cast<int>(ConnState::kEstablished)], 1u);
  EXPECT_EQ(toProto(s).capacity(), XLB_DEFAULT_NAT_ENTRIES);
  // FWD before REV: the client side stops matching first.
  std::vector<std::string> ops = dp.ops();
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "deleteNat"), 3);
}

TEST(NatCollector, FullDropsSinceTheLastPassTriggerPressure) {
  dataplane::FakeDataplane dp;
  dp.setMonotonicNowNs(kNow);
  Pair syn = makePair(spec(1, kNow - 5 * kSec));
  dp.putNat(syn.rev_key, syn.rev);
  dp.putNat(syn.fwd_key, syn.fwd);
  NatCollector c(dp, [] { return std::make_shared<const NatVipMap>(); }, std::chrono::milliseconds(1000));
  ASSERT_TRUE(c.runOnce().ok());  // baseline of the drop counter
  EXPECT_EQ(dp.natCount(), 2u);
  dp.counters().drops[XLB_DROP_NAT_FULL] = 7;
  ASSERT_TRUE(c.runOnce().ok());
  EXPECT_EQ(dp.natCount(), 0u);
  EXPECT_EQ(c.status().pressure_expired, 1u);
  EXPECT_TRUE(c.status().pressure);
  ASSERT_TRUE(c.runOnce().ok());  // no new drops, table empty: calm, the episode not over yet
  EXPECT_TRUE(c.status().pressure);
  dp.setMonotonicNowNs(kNow + 11 * kSec);
  ASSERT_TRUE(c.runOnce().ok());  // calm for longer than 10 s: pressure over
  EXPECT_FALSE(c.status().pressure);
  EXPECT_EQ(c.status().pressure_episodes, 1u);
  EXPECT_EQ(c.status().full_episodes, 1u);
  EXPECT_EQ(c.status().refused, 7u);
}

// The defect this rule fixes: a spoofed SYN draws the backend's SYN-ACK, which once made the
// connection "answered" (established, 6 h) and never pressure-expired. Now it stays syn (60 s) and
// goes first under pressure, before established connections even when those are older and idle.
TEST(NatCollect, SpoofedSynsWithSynAckGoBeforeEstablishedUnderPressure) {
  std::vector<Pair> pairs;
  for (uint16_t i = 0; i < 4; ++i) {
    // Established long ago, idle 10 min: the oldest and most idle of all.
    pairs.push_back(makePair(answered(100 + i, kNow - 3600 * kSec, kNow - 600 * kSec)));
  }
  for (uint16_t i = 0; i < 12; ++i)
    pairs.push_back(makePair(spoofed(200 + i, kNow - (20 - i) * kSec)));
  Snapshot snap = pairEntries(entriesOf(pairs));
  for (const Connection& c : snap.connections) {
    const bool is_spoofed = ntohs(c.fwd.first.sport) >= 200;
    EXPECT_EQ(c.answered, !is_spoofed);
    EXPECT_TRUE(c.replied);
    EXPECT_EQ(c.state, is_spoofed ? ConnState::kSyn : ConnState::kEstablished);
    EXPECT_EQ(timeoutFor(c, Timeouts{}), (is_spoofed ? 60 : 21600) * kSec);
  }
  CollectPolicy policy;
  policy.now_ns = kNow;
  policy.capacity = 32;  // 16 connections = 32 entries: full
  policy.table_full_seen = true;
  CollectPlan plan = planCollection(snap, policy);
  EXPECT_TRUE(plan.pressure);
  EXPECT_EQ(plan.pressure_expired, 12u);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(contains(plan.fwd, pairs[i].fwd_key)) << i;
  for (int i = 4; i < 16; ++i) EXPECT_TRUE(contains(plan.fwd, pairs[i].fwd_key)) << i;
  EXPECT_EQ(plan.connections, 4u);
  EXPECT_EQ(plan.unanswered, 0u);
  EXPECT_EQ(plan.by_state[static_cast<int>(ConnState::kEstablished)], 4u);
  // Above the high-water mark only: oldest spoofed first, down to the low-water mark (60 % of 40
  // entries = 24: 32 -> 24 = the four oldest spoofed).
  policy.capacity = 40;
  policy.table_full_seen = false;
  plan = planCollection(snap, policy);
  EXPECT_EQ(plan.pressure_expired, 4u);
  for (int i = 4; i < 8; ++i) EXPECT_TRUE(contains(plan.fwd, pairs[i].fwd_key)) << i;
  for (int i = 8; i < 16; ++i) EXPECT_FALSE(contains(plan.fwd, pairs[i].fwd_key)) << i;
}

// UDP: answered once both sides sent after the creating packet. A one-shot request/response
// (DNS-like) stays unanswered and goes first under pressure; so does a request never replied.
TEST(NatCollect, UdpAnsweredNeedsBothSidesAfterCreation) {
  auto udp = [](uint16_t cport, uint8_t fwd, uint8_t rev) {
    PairSpec s = spec(cport, kNow - 10 * kSec);
    s.proto = IPPROTO_UDP;
    s.fwd_state = fwd;
    s.rev_state = rev;
    return makePair(s);
  };
  std::vector<Pair> pairs{udp(1, 0, XLB_NAT_S_SEEN),                // one request, one response
                          udp(2, XLB_NAT_S_SEEN, 0),                // requests, no response
                          udp(3, XLB_NAT_S_SEEN, XLB_NAT_S_SEEN)};  // a conversation
  Snapshot snap = pairEntries(entriesOf(pairs));
  std::map<uint16_t, bool> answered_by_port;
  for (const Connection& c : snap.connections) {
    EXPECT_EQ(c.state, ConnState::kUdp);
    answered_by_port[ntohs(c.fwd.first.sport)] = c.answered;
  }
  EXPECT_FALSE(answered_by_port[1]);
  EXPECT_FALSE(answered_by_port[2]);
  EXPECT_TRUE(answered_by_port[3]);
  CollectPolicy policy;
  policy.now_ns = kNow;
  policy.capacity = 6;
  policy.table_full_seen = true;
  CollectPlan plan = planCollection(snap, policy);
  EXPECT_EQ(plan.pressure_expired, 2u);
  EXPECT_TRUE(contains(plan.fwd, pairs[0].fwd_key));
  EXPECT_TRUE(contains(plan.fwd, pairs[1].fwd_key));
  EXPECT_FALSE(contains(plan.fwd, pairs[2].fwd_key));
}

// A spoofer that also sends blind ACKs gets the ACK bit, but its ACK draws the backend's RST: the
// connection is closing, and under pressure connections a RST closed go right after the
// unanswered ones (longest idle first). FIN-closing ones may be half-closed with data still
// flowing: never touched.
TEST(NatCollect, ResetConnectionsGoAfterUnansweredFinClosingStay) {
  PairSpec blind = answered(1, kNow - 5 * kSec);
  blind.rev_state |= XLB_NAT_S_RST;
  PairSpec blind_young = answered(2, kNow - kSec / 2);  // idle < 1 s: kept this pass
  blind_young.rev_state |= XLB_NAT_S_RST;
  PairSpec half_closed = answered(3, kNow - 5 * kSec);
  half_closed.fwd_state |= XLB_NAT_S_FIN;
  std::vector<Pair> pairs{makePair(blind), makePair(blind_young), makePair(half_closed),
                          makePair(spoofed(4, kNow - 3 * kSec)),
                          makePair(answered(5, kNow - kSec * 9))};
  Snapshot snap = pairEntries(entriesOf(pairs));
  CollectPolicy policy;
  policy.now_ns = kNow;
  policy.capacity = 10;
  policy.table_full_seen = true;
  CollectPlan plan = planCollection(snap, policy);
  EXPECT_EQ(plan.pressure_expired, 2u);
  EXPECT_TRUE(contains(plan.fwd, pairs[0].fwd_key));
  EXPECT_TRUE(contains(plan.fwd, pairs[3].fwd_key));
  EXPECT_FALSE(contains(plan.fwd, pairs[1].fwd_key));
  EXPECT_FALSE(contains(plan.fwd, pairs[2].fwd_key));
  EXPECT_FALSE(contains(plan.fwd, pairs[4].fwd_key));
  // Unanswered before reset: with room for only one deletion, the spoofed SYN goes.
  policy.table_full_seen = false;
  policy.capacity = 12;    // 10 entries > 75 % of 12 (9)
  policy.low_water = 0.7;  // down to 8.4 entries: one deletion
  plan = planCollection(snap, policy);
  EXPECT_EQ(plan.pressure_expired, 1u);
  EXPECT_TRUE(contains(plan.fwd, pairs[3].fwd_key));
}

// "Table full" is said once per pressure episode, not once per pass: an episode starts with a
// pass under pressure and ends after 10 s without; the refused count is the episode's.
TEST(NatPressureEpisodes, FullSaidOncePerEpisode) {
  PressureEpisodes ep;
  using P = PressureEpisodes::Pass;
  auto ev = ep.onPass(P{.now_ns = kNow, .refused_total = 100});  // calm, baseline
  EXPECT_FALSE(ev.started || ev.full || ev.ended);
  ev = ep.onPass(P{.now_ns = kNow + kSec,
                   .pressure = true,
                   .refused_total = 100,
                   .pressure_expired = 5});  // above high water, nothing refused yet
  EXPECT_TRUE(ev.started);
  EXPECT_FALSE(ev.full);
  ev = ep.onPass(P{.now_ns = kNow + 2 * kSec,
                   .pressure = true,
                   .full_seen = true,
                   .refused_total = 130,
                   .pressure_expired = 40});
  EXPECT_FALSE(ev.started);
  EXPECT_TRUE(ev.full);
  EXPECT_EQ(ev.refused, 30u);
  EXPECT_EQ(ev.pressure_expired, 45u);
  for (uint64_t i = 3; i < 8; ++i) {  // full again and again: said already
    ev = ep.onPass(P{.now_ns = kNow + i * kSec,
                     .pressure = true,
                     .full_seen = true,
                     .refused_total = 130 + i,
                     .pressure_expired = 1});
    EXPECT_FALSE(ev.full || ev.started || ev.ended) << i;
  }
  // Calm passes: the episode goes on until 10 s without pressure.
  ev = ep.onPass(P{.now_ns = kNow + 8 * kSec, .refused_total = 137});
  EXPECT_FALSE(ev.ended);
  ev = ep.onPass(P{.now_ns = kNow + 12 * kSec, .pressure = true, .refused_total = 137});
  EXPECT_FALSE(ev.started) << "pressure again within the calm period: the same episode";
  ev = ep.onPass(P{.now_ns = kNow + 21 * kSec, .refused_total = 137});
  EXPECT_FALSE(ev.ended);
  ev = ep.onPass(P{.now_ns = kNow + 22 * kSec, .refused_total = 137});
  EXPECT_TRUE(ev.ended);
  EXPECT_EQ(ev.refused, 37u);
  EXPECT_EQ(ev.pressure_expired, 50u);
  EXPECT_FALSE(ep.active());
  EXPECT_EQ(ep.episodes(), 1u);
  EXPECT_EQ(ep.fullEpisodes(), 1u);
  // A new episode says it again; its refused count starts from the previous pass.
  ev = ep.onPass(
      P{.now_ns = kNow + 30 * kSec, .pressure = true, .full_seen = true, .refused_total = 150});
  EXPECT_TRUE(ev.started);
  EXPECT_TRUE(ev.full);
  EXPECT_EQ(ev.refused, 13u);
  EXPECT_EQ(ep.episodes(), 2u);
  EXPECT_EQ(ep.fullEpisodes(), 2u);
}

}  // namespace
}  // namespace xlb::nat

namespace xlb::nat {
namespace {

// fullnat: a pair its backend closed with a FIN keeps its SNAT port for the backend's TIME_WAIT
// (60 s) even when the closing timeout is shorter; a RST (no TIME_WAIT), a client-only close and
// nat mode (the backend sees the client's own tuple) keep the closing timeout.
TEST(NatCollect, FullnatPairClosedByTheBackendOutlivesItsTimeWait) {
  auto closed = [](bool full, uint8_t fwd_state, uint8_t rev_state) {
    PairSpec s;
    if (full) s.snat = "10.0.9.1";
    s.created_ns = 1000 * kNsPerSec;
    s.fwd_state = fwd_state;
    s.rev_state = rev_state;
    Pair p = makePair(s);
    return connectionOf({p.fwd_key, p.fwd}, {p.rev_key, p.rev});
  };
  const uint8_t ack = XLB_NAT_S_SEEN | XLB_NAT_S_ACK, fin = XLB_NAT_S_SEEN | XLB_NAT_S_FIN;
  Timeouts t;  // closing 10 s
  Connection backend_closed = closed(true, ack | XLB_NAT_S_FIN, fin);
  EXPECT_EQ(backend_closed.state, ConnState::kClosing);
  EXPECT_EQ(timeoutFor(backend_closed, t), kBackendTimeWaitNs);
  EXPECT_EQ(expiresIn(backend_closed, t, 1000 * kNsPerSec + 30 * kNsPerSec), 30 * kNsPerSec);
  EXPECT_EQ(timeoutFor(closed(true, ack | XLB_NAT_S_FIN, XLB_NAT_S_SEEN), t), t.closing_ns)
      << "only the client closed: the backend's socket ends in CLOSED, not TIME_WAIT";
  EXPECT_EQ(timeoutFor(closed(true, ack, XLB_NAT_S_SEEN | XLB_NAT_S_RST), t), t.closing_ns)
      << "reset: no TIME_WAIT";
  EXPECT_EQ(timeoutFor(closed(false, ack | XLB_NAT_S_FIN, fin), t), t.closing_ns)
      << "nat: the client's own tuple, its kernel picks the next port";
  t.closing_ns = 90 * kNsPerSec;
  EXPECT_EQ(timeoutFor(backend_closed, t), 90 * kNsPerSec) << "a longer closing timeout wins";
}

}  // namespace
}  // namespace xlb::nat
