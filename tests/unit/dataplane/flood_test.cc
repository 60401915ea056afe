// SPDX-License-Identifier: Apache-2.0
// Flood protection's agent side without a kernel: protected-flow expiry verdicts, the fake data
// plane's sweep and union flow scan, flood detection with hysteresis, and FloodMonitor's events
// and status (dataplane/flood.h, state/flood_monitor.h).
#include "dataplane/flood.h"

#include <gtest/gtest.h>

#include <cstring>

#include "dataplane/fake_dataplane.h"
#include "dataplane/open_flows.h"
#include "state/flood_monitor.h"
#include "state/state.h"

namespace xlb::dataplane {
namespace {

constexpr uint64_t kSec = 1'000'000'000;

xlb_flow_key key(uint16_t sport, uint8_t proto = 6) {
  xlb_flow_key k{};
  const uint8_t src[4] = {192, 0, 2, 1}, dst[4] = {10, 100, 0, 10};
  std::memcpy(k.src, src, 4);
  std::memcpy(k.dst, dst, 4);
  k.sport = sport;
  k.dport = 80;
  k.proto = proto;
  k.family = XLB_AF_INET;
  return k;
}

xlb_flow_value flow(uint64_t last_seen, uint32_t flags = XLB_FLOW_F_PROTECTED, uint32_t be = 3) {
  xlb_flow_value v{};
  v.backend_id = be;
  v.backend_gen = 1;
  v.last_seen_ns = last_seen;
  v.flags = flags;
  return v;
}

const ProtectedTimeouts kT{100 * kSec, 30 * kSec, 5 * kSec};
constexpr uint64_t kNow = 10'000 * kSec;

TEST(ProtectedExpiry, TimeoutByProtocolAndState) {
  EXPECT_EQ(kT.forValue(key(1, 6), flow(0)), 100 * kSec);
  EXPECT_EQ(kT.forValue(key(1, 17), flow(0)), 30 * kSec);
  EXPECT_EQ(kT.forValue(key(1, 6), flow(0, XLB_FLOW_F_PROTECTED | XLB_FLOW_F_CLOSING)), 5 * kSec);
}

TEST(ProtectedExpiry, FreshCopyNeedsNoLruLookup) {
  EXPECT_EQ(protectedVerdict(key(1), flow(kNow - 99 * kSec), kNow, kT), ProtectedVerdict::kKeep);
  EXPECT_EQ(protectedVerdict(key(1), flow(kNow - 101 * kSec), kNow, kT),
            ProtectedVerdict::kCheckLru);
  // A last_seen a little ahead of the agent's clock (another CPU) is fresh.
  EXPECT_EQ(protectedVerdict(key(1), flow(kNow + kSec), kNow, kT), ProtectedVerdict::kKeep);
}

TEST(ProtectedExpiry, FresherLruCopyRefreshesStaleOneIsDeleted) {
  const auto stale = flow(kNow - 200 * kSec);
  auto d = decideWithLru(key(1), stale, flow(kNow - 10 * kSec, XLB_FLOW_F_PROTECTED), kNow, kT);
  EXPECT_EQ(d.action, ProtectedDecision::kRefresh);
  EXPECT_EQ(d.last_seen_ns, kNow - 10 * kSec);
  // LRU copy gone, or itself idle: delete.
  EXPECT_EQ(decideWithLru(key(1), stale, std::nullopt, kNow, kT).action, ProtectedDecision::kDelete);
  EXPECT_EQ(decideWithLru(key(1), stale, flow(kNow - 150 * kSec), kNow, kT).action,
            ProtectedDecision::kDelete);
  // A closing LRU copy uses the closing timeout.
  EXPECT_EQ(decideWithLru(key(1), stale,
                          flow(kNow - 10 * kSec, XLB_FLOW_F_PROTECTED | XLB_FLOW_F_CLOSING), kNow,
                          kT)
                .action,
            ProtectedDecision::kDelete);
  // An LRU entry of another connection on the same tuple (other backend) keeps nothing alive.
  EXPECT_EQ(decideWithLru(key(1), stale, flow(kNow, 0, 4), kNow, kT).action,
            ProtectedDecision::kDelete);
}

TEST(ProtectedExpiry, FakeSweepAppliesVerdictsWithinTheBudget) {
  FakeDataplane dp;
  dp.putProtectedFlow(key(1), flow(kNow - 10 * kSec));   // fresh: kept
  dp.putProtectedFlow(key(2), flow(kNow - 200 * kSec));  // stale, LRU fresher: refreshed
  dp.putFlow(key(2), flow(kNow - 3 * kSec));
  dp.putProtectedFlow(key(3), flow(kNow - 200 * kSec));  // stale, no LRU: deleted
  dp.putProtectedFlow(key(4), flow(kNow - 300 * kSec));  // stale: over the budget this pass
  auto r = dp.sweepProtectedFlows(kNow, kT, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->entries, 4u);
  EXPECT_EQ(r->refreshed, 1u);
  EXPECT_EQ(r->deleted, 1u);
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(dp.protectedFlow(key(2))->last_seen_ns, kNow - 3 * kSec);
  EXPECT_FALSE(dp.protectedFlow(key(3)));
  ASSERT_TRUE(dp.protectedFlow(key(4)));
  r = dp.sweepProtectedFlows(kNow, kT, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->deleted, 1u);
  EXPECT_FALSE(r->truncated);
  EXPECT_FALSE(dp.protectedFlow(key(4)));
}

TEST(ProtectedExpiry, NeverByPressureOnlyByIdleness) {
  // A full protected table of fresh entries stays as it is, however many there are.
  FakeDataplane dp;
  for (uint16_t i = 0; i < 1000; ++i) dp.putProtectedFlow(key(i), flow(kNow - kSec));
  auto r = dp.sweepProtectedFlows(kNow, kT, 65536);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->deleted, 0u);
  EXPECT_EQ(r->entries, 1000u);
}

TEST(FlowScan, EachFlowOnceLruCopyWins) {
  FakeDataplane dp;
  xlb_backend b{};
  b.gen = 1;
  b.flags = XLB_BE_F_ACTIVE;
  dp.putFlow(key(1), flow(dp.monotonicNowNs()));
  dp.putProtectedFlow(key(1), flow(dp.monotonicNowNs()));  // both tables: counted once
  dp.putProtectedFlow(key(2), flow(dp.monotonicNowNs()));  // LRU copy evicted: counted
  dp.putFlow(key(3), flow(dp.monotonicNowNs(), 0));        // young, LRU only
  // The LRU copy of 4 is closing, its protected copy not yet synced: the LRU copy decides.
  dp.putFlow(key(4), flow(dp.monotonicNowNs(), XLB_FLOW_F_PROTECTED | XLB_FLOW_F_CLOSING));
  dp.putProtectedFlow(key(4), flow(dp.monotonicNowNs()));
  std::pair<uint32_t, xlb_backend> table[] = {{3, b}};
  Dataplane::FlowScanCounts scan;
  auto counts = countOpenFlows(dp, table, 60 * kSec, &scan);
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[3], 3u);
  EXPECT_EQ(scan.lru, 3u);
  EXPECT_EQ(scan.protected_only, 1u);
  // Explain / lbctl flows see the protected copy when the LRU lost it.
  auto f = dp.lookupFlow(key(2));
  ASSERT_TRUE(f.ok() && f->has_value());
  EXPECT_EQ((*f)->flags, uint32_t{XLB_FLOW_F_PROTECTED});
}

TEST(FloodDetector, StartsAtThresholdEndsAfterCalmSamplesBelowHalf) {
  FloodDetector d({1000, 0, 2});
  using T = FloodDetector::Transition;
  EXPECT_EQ(d.observe(1 * kSec, 0), T::kNone);  // baseline
  EXPECT_EQ(d.observe(2 * kSec, 500), T::kNone);
  EXPECT_DOUBLE_EQ(d.rate(), 500);
  EXPECT_EQ(d.observe(3 * kSec, 1600), T::kStarted);
  EXPECT_TRUE(d.active());
  EXPECT_EQ(d.floodsStarted(), 1u);
  EXPECT_EQ(d.observe(4 * kSec, 2300), T::kNone) << "700/s: below the start, above half";
  EXPECT_EQ(d.observe(5 * kSec, 2400), T::kNone) << "first calm sample";
  EXPECT_EQ(d.observe(6 * kSec, 2900), T::kNone) << "above half again: calm restarts";
  EXPECT_EQ(d.observe(7 * kSec, 3000), T::kNone);
  EXPECT_EQ(d.observe(8 * kSec, 3100), T::kEnded);
  EXPECT_FALSE(d.active());
  EXPECT_DOUBLE_EQ(d.peakRate(), 1100);
  // A counter reset (agent restart against new maps) only re-bases.
  EXPECT_EQ(d.observe(9 * kSec, 10), T::kNone);
  EXPECT_EQ(d.observe(10 * kSec, 5000), T::kStarted);
  EXPECT_EQ(d.floodsStarted(), 2u);
}

TEST(FloodDetector, ZeroThresholdNeverFires) {
  FloodDetector d({0, 0, 2});
  d.observe(kSec, 0);
  EXPECT_EQ(d.observe(2 * kSec, 1'000'000), FloodDetector::Transition::kNone);
  EXPECT_DOUBLE_EQ(d.rate(), 1'000'000);
}

TEST(FloodMonitor, PublishesStartAndEndWithRateAndOccupancy) {
  FakeDataplane dp;
  state::State st(dp);
  auto sub = st.events().subscribe();
  state::FloodMonitor::Options o;
  o.flood_rate = 100;
  state::FloodMonitor mon(st, dp, o);
  dp.counters().global.assign(XLB_STAT_MAX, 0);
  uint64_t now = dp.monotonicNowNs();
  auto step = [&](uint64_t new_flows) {
    now += kSec;
    dp.setMonotonicNowNs(now);
    dp.counters().global[XLB_STAT_FLOW_NEW] += new_flows;
    mon.tick();
  };
  step(0);
  step(50);
  EXPECT_FALSE(sub->next(std::chrono::milliseconds(0)));
  dp.putProtectedFlow(key(1), flow(now));
  step(5000);
  auto e = sub->next(std::chrono::milliseconds(0));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), v1::Event::KIND_FLOOD_STARTED);
  EXPECT_NE(e->message().find("new flows 5000/s (threshold 100/s"), std::string::npos)
      << e->message();
  EXPECT_NE(e->message().find("protected 1/"), std::string::npos) << e->message();
  auto s = st.flowTableStatus();
  EXPECT_TRUE(s.flood_active);
  EXPECT_DOUBLE_EQ(s.new_flow_rate, 5000);
  EXPECT_EQ(s.protected_entries, 1u);
  EXPECT_DOUBLE_EQ(s.turnoverSeconds(), XLB_DEFAULT_FLOWS / 5000.0);
  step(10);
  step(10);
  e = sub->next(std::chrono::milliseconds(0));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), v1::Event::KIND_FLOOD_ENDED);
  EXPECT_NE(e->message().find("peak 5000/s"), std::string::npos) << e->message();
  EXPECT_FALSE(st.flowTableStatus().flood_active);
  EXPECT_EQ(st.flowTableStatus().floods_started, 1u);
}

}  // namespace
}  // namespace xlb::dataplane
