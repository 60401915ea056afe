// SPDX-License-Identifier: Apache-2.0
// countOpenFlows / OpenFlowCounter over the fake data plane: which flows count as open, and the
// fake's model of the open-flow counts and the flow table.
#include "dataplane/open_flows.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <utility>
#include <vector>

#include "dataplane/fake_dataplane.h"

namespace xlb::dataplane {
namespace {

constexpr uint64_t kSec = 1'000'000'000;

xlb_flow_key key(uint16_t sport) {
  xlb_flow_key k{};
  const uint8_t src[4] = {192, 0, 2, 1}, dst[4] = {10, 100, 0, 10};
  std::memcpy(k.src, src, 4);
  std::memcpy(k.dst, dst, 4);
  k.sport = sport;
  k.dport = 80;
  k.proto = 6;
  k.family = XLB_AF_INET;
  return k;
}

xlb_backend be(uint32_t gen, uint8_t flags = XLB_BE_F_ACTIVE) {
  xlb_backend b{};
  b.family = XLB_AF_INET;
  b.flags = flags;
  b.gen = gen;
  b.weight = 1;
  return b;
}

class OpenFlowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    now_ = dp_.monotonicNowNs();
    backends_ = {{1, be(3)}, {2, be(7)}, {3, be(2, 0)} /* health-down: not ACTIVE */};
  }
  void flow(uint16_t sport, uint32_t id, uint32_t gen, uint64_t age_ns, uint32_t flags = 0) {
    dp_.putFlow(key(sport), xlb_flow_value{id, gen, now_ - age_ns, flags, 0});
  }
  std::vector<uint64_t> count(uint64_t idle) {
    auto c = countOpenFlows(dp_, backends_, idle);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : std::vector<uint64_t>{};
  }

  FakeDataplane dp_;
  uint64_t now_ = 0;
  std::vector<std::pair<uint32_t, xlb_backend>> backends_;
};

TEST_F(OpenFlowsTest, CountsOpenFreshFlowsOfTheCurrentGeneration) {
  flow(1, 1, 3, 0);
  flow(2, 1, 3, 5 * kSec);
  flow(3, 2, 7, 1 * kSec);
  auto c = count(60 * kSec);
  ASSERT_EQ(c.size(), static_cast<size_t>(XLB_MAX_BACKENDS));
  EXPECT_EQ(c[1], 2u);
  EXPECT_EQ(c[2], 1u);
  EXPECT_EQ(c[0], 0u);
}

TEST_F(OpenFlowsTest, SkipsClosingIdleStaleGenerationAndUnknownBackends) {
  flow(1, 1, 3, 0, XLB_FLOW_F_CLOSING);  // FIN/RST seen: already subtracted
  flow(2, 1, 3, 61 * kSec);              // idle beyond the timeout
  flow(3, 1, 2, 0);                      // recorded for the previous owner of id 1
  flow(4, 9, 1, 0);                      // id not in the backend table
  flow(5, XLB_MAX_BACKENDS + 5, 1, 0);   // garbage id
  flow(6, 1, 3, 60 * kSec);              // exactly at the timeout: still open
  auto c = count(60 * kSec);
  EXPECT_EQ(c[1], 1u);
  EXPECT_EQ(c[9], 0u);
}

TEST_F(OpenFlowsTest, HealthDownBackendKeepsItsFlowsCounted) {
  // The data plane subtracts them one by one as they are re-steered; the recount must agree.
  flow(1, 3, 2, 0);
  flow(2, 3, 2, 0);
  EXPECT_EQ(count(60 * kSec)[3], 2u);
}

TEST_F(OpenFlowsTest, DeletedSlotMatchesNothing) {
  backends_[0].second = xlb_backend{};  // what BpfDataplane::deleteBackend leaves: gen 0
  flow(1, 1, 0, 0);
  flow(2, 1, 3, 0);
  EXPECT_EQ(count(60 * kSec)[1], 0u);
}

TEST_F(OpenFlowsTest, FlowSeenAfterNowIsFresh) {
  // Another CPU may have stamped last_seen after the reconciler read the clock.
  dp_.putFlow(key(1), xlb_flow_value{1, 3, now_ + kSec, 0, 0});
  EXPECT_EQ(count(0)[1], 1u);
}

TEST_F(OpenFlowsTest, ScanFailureIsReported) {
  dp_.failForEachFlow(absl::UnavailableError("read map xlb_flows: boom"));
  auto c = countOpenFlows(dp_, backends_, kSec);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
}

// A clock that advances 1 ms per read, so a slice of N entries visited between two reads takes a
// known time.
struct SteppingClock {
  ScanPacer::Clock::time_point t{};
  ScanPacer::Clock::time_point operator()() {
    t += std::chrono::milliseconds(1);
    return t;
  }
};

TEST(ScanPacer, PausesAfterEverySliceForRestTimesItsDuration) {
  SteppingClock clock;
  std::vector<ScanPacer::Clock::duration> pauses;
  ScanPacer pacer(4, 2.0, [&](ScanPacer::Clock::duration d) { pauses.push_back(d); },
                  [&clock] { return clock(); });
  for (int i = 0; i < 10; ++i) pacer.entry();
  // 10 entries, slices of 4: two pauses; each slice spans one clock read after the previous
  // slice's restart (1 ms), times rest 2.
  ASSERT_EQ(pauses.size(), 2u);
  EXPECT_EQ(pauses[0], std::chrono::milliseconds(2));
  EXPECT_EQ(pauses[1], std::chrono::milliseconds(2));
  EXPECT_EQ(pacer.pauses(), 2u);
  EXPECT_EQ(pacer.paused(), std::chrono::milliseconds(4));
}

TEST(ScanPacer, ZeroRestNeverPauses) {
  int pauses = 0;
  ScanPacer pacer(2, 0.0, [&](ScanPacer::Clock::duration) { ++pauses; }, SteppingClock{});
  for (int i = 0; i < 9; ++i) pacer.entry();
  EXPECT_EQ(pauses, 0);
  EXPECT_EQ(pacer.paused(), ScanPacer::Clock::duration::zero());
}

TEST_F(OpenFlowsTest, PacedScanCountsTheSameAndPausesPerSlice) {
  for (uint16_t p = 1; p <= 10; ++p) flow(p, 1 + p % 2, p % 2 ? 7 : 3, 0);
  const auto unpaced = count(60 * kSec);
  int pauses = 0;
  ScanPacer pacer(3, 1.0, [&](ScanPacer::Clock::duration) { ++pauses; }, SteppingClock{});
  auto paced = countOpenFlows(dp_, backends_, 60 * kSec, nullptr, &pacer);
  ASSERT_TRUE(paced.ok()) << paced.status();
  EXPECT_EQ(*paced, unpaced);
  EXPECT_EQ((*paced)[1], 5u);
  EXPECT_EQ((*paced)[2], 5u);
  EXPECT_EQ(pauses, 3);  // 10 entries visited, a pause after the 3rd, 6th and 9th
}

TEST(FakeDataplaneOpenFlows, SetReadDeleteAndFlowTable) {
  FakeDataplane dp;
  ASSERT_TRUE(dp.setOpenFlows(4, 17).ok());
  auto r = dp.readOpenFlows();
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), static_cast<size_t>(XLB_MAX_BACKENDS));
  EXPECT_EQ((*r)[4], 17u);
  EXPECT_EQ(dp.ops(), std::vector<std::string>{"setOpenFlows"});
  EXPECT_FALSE(dp.setOpenFlows(XLB_MAX_BACKENDS, 1).ok());

  // Deleting the backend resets its count, as the BPF implementation does.
  ASSERT_TRUE(dp.upsertBackend(4, be(1)).ok());
  ASSERT_TRUE(dp.deleteBackend(4).ok());
  EXPECT_EQ(dp.openFlows(4), 0u);

  dp.failOp("setOpenFlows", absl::InternalError("injected"));
  EXPECT_FALSE(dp.setOpenFlows(4, 3).ok());
  EXPECT_EQ(dp.openFlows(4), 0u) << "a failed call changes nothing";

  dp.putFlow(key(1), {1, 1, 5, 0, 0});
  dp.putFlow(key(2), {2, 1, 5, 0, 0});
  dp.putFlow(key(1), {3, 1, 5, 0, 0});  // replaces
  std::vector<uint32_t> ids;
  ASSERT_TRUE(dp.forEachFlow([&](const xlb_flow_key&, const xlb_flow_value& v) {
                  ids.push_back(v.backend_id);
                }).ok());
  EXPECT_EQ(ids, (std::vector<uint32_t>{3, 2}));
  dp.setMonotonicNowNs(42);
  EXPECT_EQ(dp.monotonicNowNs(), 42u);
}

// The default openFlowCounts is a copy of readOpenFlows (a snapshot); ids past it read 0, and an
// empty OpenFlowCounts (a failed read) reads 0 everywhere.
TEST(FakeDataplaneOpenFlows, CountsByIdAreACopyByDefault) {
  FakeDataplane dp;
  ASSERT_TRUE(dp.setOpenFlows(7, 3).ok());
  auto counts = dp.openFlowCounts();
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->size(), static_cast<size_t>(XLB_MAX_BACKENDS));
  EXPECT_EQ((*counts)[7], 3u);
  EXPECT_EQ((*counts)[8], 0u);
  EXPECT_EQ((*counts)[XLB_MAX_BACKENDS + 5], 0u);
  ASSERT_TRUE(dp.setOpenFlows(7, 4).ok());
  EXPECT_EQ((*counts)[7], 3u) << "a copy";
  const dataplane::OpenFlowCounts copied = *counts;  // shares the copy
  EXPECT_EQ(copied[7], 3u);
  EXPECT_EQ(dataplane::OpenFlowCounts()[7], 0u);
  EXPECT_EQ(dataplane::OpenFlowCounts().size(), 0u);
}

}  // namespace
}  // namespace xlb::dataplane
