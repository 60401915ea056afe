// SPDX-License-Identifier: Apache-2.0
// `lbctl top` rate computation: deltas over elapsed time, counter resets, VIPs and backends that
// appear, vanish or move between samples, zero elapsed time, and sorting.
#include "rates.h"

#include <gtest/gtest.h>

namespace xlb::cli {
namespace {

BackendSample backend(const std::string& address, uint64_t packets, uint64_t bytes,
                      uint64_t new_flows, uint64_t open_flows = 0) {
  BackendSample b;
  b.address = address;
  b.weight = 1;
  b.state = xlb::v1::BACKEND_STATE_ACTIVE;
  b.health = xlb::v1::HEALTH_UP;
  b.open_flows = open_flows;
  b.counters = {packets, bytes, new_flows};
  return b;
}

VipSample vip(const std::string& key, uint64_t packets, uint64_t bytes, uint64_t new_flows,
              std::vector<BackendSample> backends = {}) {
  VipSample v;
  v.key = key;
  v.counters = {packets, bytes, new_flows};
  v.backends = std::move(backends);
  return v;
}

const VipRow* findVip(const RateView& view, const std::string& key) {
  for (const auto& v : view.vips) {
    if (v.key == key) return &v;
  }
  return nullptr;
}

const BackendRow* findBackend(const VipRow& v, const std::string& address) {
  for (const auto& b : v.backends) {
    if (b.sample.address == address) return &b;
  }
  return nullptr;
}

TEST(CounterRate, DeltaOverSeconds) {
  EXPECT_DOUBLE_EQ(*counterRate(100, 600, 0.5), 1000.0);
  EXPECT_DOUBLE_EQ(*counterRate(7, 7, 2.0), 0.0);
  // Near the top of the range: the delta is small even when the values are not.
  EXPECT_DOUBLE_EQ(*counterRate(UINT64_MAX - 10, UINT64_MAX, 1.0), 10.0);
}

TEST(CounterRate, BackwardsOrNoElapsedTimeIsUnknown) {
  EXPECT_FALSE(counterRate(600, 100, 1.0).has_value());  // reset: never ~1.8e19/s
  EXPECT_FALSE(counterRate(100, 600, 0.0).has_value());
  EXPECT_FALSE(counterRate(100, 600, -0.1).has_value());
}

TEST(TrafficRates, BitsPerSecondAndAllOrNothing) {
  TrafficCounters a{1000, 150000, 10}, b{3000, 450000, 30};
  TrafficRates r = trafficRates(&a, b, 2.0);
  EXPECT_DOUBLE_EQ(*r.pps, 1000.0);
  EXPECT_DOUBLE_EQ(*r.bps, 150000.0 * 8);
  EXPECT_DOUBLE_EQ(*r.new_flows_per_s, 10.0);

  // Only the bytes went backwards: the slot was reset, so no rate of it is trusted.
  TrafficCounters reset{3000, 100, 30};
  TrafficRates z = trafficRates(&a, reset, 2.0);
  EXPECT_FALSE(z.pps.has_value());
  EXPECT_FALSE(z.bps.has_value());
  EXPECT_FALSE(z.new_flows_per_s.has_value());

  EXPECT_FALSE(trafficRates(nullptr, b, 2.0).pps.has_value());
  EXPECT_FALSE(trafficRates(&a, b, 0.0).pps.has_value());
}

TEST(ComputeRates, MatchesByKeyNotPosition) {
  StatsSample prev, cur;
  prev.vips = {vip("10.0.0.1:80/tcp", 100, 1000, 1,
                   {backend("10.0.1.1", 60, 600, 1), backend("10.0.1.2", 40, 400, 0)}),
               vip("10.0.0.2:53/udp", 50, 500, 5)};
  // Order of VIPs and of backends swapped; the rates follow the keys.
  cur.vips = {vip("10.0.0.2:53/udp", 150, 1500, 15),
              vip("10.0.0.1:80/tcp", 300, 3000, 5,
                  {backend("10.0.1.2", 140, 1400, 2, 7), backend("10.0.1.1", 160, 1600, 3, 4)})};
  RateView view = computeRates(&prev, cur, 0.5);
  EXPECT_DOUBLE_EQ(view.elapsed_s, 0.5);
  ASSERT_EQ(view.vips.size(), 2u);
  const VipRow* web = findVip(view, "10.0.0.1:80/tcp");
  ASSERT_NE(web, nullptr);
  EXPECT_DOUBLE_EQ(*web->rates.pps, 400.0);
  EXPECT_DOUBLE_EQ(*web->rates.bps, 4000.0 * 8);
  EXPECT_DOUBLE_EQ(*web->rates.new_flows_per_s, 8.0);
  EXPECT_EQ(web->open_flows, 11u);
  const BackendRow* b1 = findBackend(*web, "10.0.1.1");
  const BackendRow* b2 = findBackend(*web, "10.0.1.2");
  ASSERT_NE(b1, nullptr);
  ASSERT_NE(b2, nullptr);
  EXPECT_DOUBLE_EQ(*b1->rates.pps, 200.0);
  EXPECT_DOUBLE_EQ(*b1->rates.new_flows_per_s, 4.0);
  EXPECT_DOUBLE_EQ(*b2->rates.pps, 200.0);
  EXPECT_EQ(b2->sample.open_flows, 7u);
  const VipRow* dns = findVip(view, "10.0.0.2:53/udp");
  ASSERT_NE(dns, nullptr);
  EXPECT_DOUBLE_EQ(*dns->rates.pps, 200.0);
  EXPECT_DOUBLE_EQ(*dns->rates.new_flows_per_s, 20.0);
}

TEST(ComputeRates, AppearingAndVanishingEntries) {
  StatsSample prev, cur;
  prev.vips = {vip("10.0.0.1:80/tcp", 100, 1000, 1, {backend("10.0.1.1", 100, 1000, 1)}),
               vip("10.0.0.9:80/tcp", 999, 9999, 9)};
  cur.vips = {vip("10.0.0.1:80/tcp", 200, 2000, 2,
                  {backend("10.0.1.1", 150, 1500, 1), backend("10.0.1.3", 50, 500, 1)}),
              vip("10.0.0.3:80/tcp", 10, 100, 1)};
  RateView view = computeRates(&prev, cur, 1.0);
  ASSERT_EQ(view.vips.size(), 2u);
  EXPECT_EQ(findVip(view, "10.0.0.9:80/tcp"), nullptr);  // vanished: simply absent
  const VipRow* fresh = findVip(view, "10.0.0.3:80/tcp");
  ASSERT_NE(fresh, nullptr);
  EXPECT_FALSE(fresh->rates.pps.has_value());  // new: no previous sample to compare to
  const VipRow* web = findVip(view, "10.0.0.1:80/tcp");
  ASSERT_NE(web, nullptr);
  EXPECT_DOUBLE_EQ(*findBackend(*web, "10.0.1.1")->rates.pps, 50.0);
  EXPECT_FALSE(findBackend(*web, "10.0.1.3")->rates.pps.has_value());
}

TEST(ComputeRates, CounterResetShowsUnknownNeverHuge) {
  // Agent restarted between the polls: every counter starts again from a small value.
  StatsSample prev, cur;
  prev.vips = {vip("10.0.0.1:80/tcp", 1000000, 90000000, 5000,
                   {backend("10.0.1.1", 1000000, 90000000, 5000)})};
  prev.drops = {{"no_backend", 500}, {"fragment", 3}};
  prev.global = {{"rx", 2000000}};
  cur.vips = {vip("10.0.0.1:80/tcp", 10, 900, 1, {backend("10.0.1.1", 10, 900, 1)})};
  cur.drops = {{"no_backend", 2}, {"fragment", 5}};
  cur.global = {{"rx", 20}};
  RateView view = computeRates(&prev, cur, 1.0);
  ASSERT_EQ(view.vips.size(), 1u);
  EXPECT_FALSE(view.vips[0].rates.pps.has_value());
  EXPECT_FALSE(view.vips[0].rates.bps.has_value());
  EXPECT_FALSE(view.vips[0].backends[0].rates.pps.has_value());
  ASSERT_EQ(view.drops.size(), 2u);
  EXPECT_EQ(view.drops[0].name, "no_backend");
  EXPECT_FALSE(view.drops[0].per_s.has_value());
  EXPECT_DOUBLE_EQ(*view.drops[1].per_s, 2.0);
  EXPECT_FALSE(view.global[0].per_s.has_value());
}

TEST(ComputeRates, FirstSampleAndZeroElapsed) {
  StatsSample cur;
  cur.vips = {vip("10.0.0.1:80/tcp", 100, 1000, 1, {backend("10.0.1.1", 100, 1000, 1, 3)})};
  cur.drops = {{"no_backend", 5}};
  RateView first = computeRates(nullptr, cur, 0.0);
  ASSERT_EQ(first.vips.size(), 1u);
  EXPECT_FALSE(first.vips[0].rates.pps.has_value());
  EXPECT_EQ(first.vips[0].open_flows, 3u);  // state is shown before any rate is known
  EXPECT_FALSE(first.drops[0].per_s.has_value());

  StatsSample later = cur;
  later.vips[0].counters.packets = 200;
  RateView zero = computeRates(&cur, later, 0.0);
  EXPECT_FALSE(zero.vips[0].rates.pps.has_value());
}

TEST(SampleFromStats, CanonicalKeysAndAddresses) {
  xlb::v1::Stats stats;
  auto* v = stats.add_vips();
  v->mutable_vip()->set_address("2001:db8:0::10");
  v->mutable_vip()->set_port(443);
  v->mutable_vip()->set_protocol(xlb::v1::PROTOCOL_TCP);
  v->set_name("web6");
  v->mutable_counters()->set_packets(7);
  auto* b = v->add_backends();
  b->set_address("2001:db8:0:0::5");
  b->set_open_flows(2);
  b->set_health(xlb::v1::HEALTH_DOWN);
  b->mutable_counters()->set_bytes(99);
  auto* d = stats.add_drops();
  d->set_name("fragment");
  d->set_value(4);
  StatsSample s = sampleFromStats(stats);
  ASSERT_EQ(s.vips.size(), 1u);
  EXPECT_EQ(s.vips[0].key, "[2001:db8::10]:443/tcp");
  EXPECT_EQ(s.vips[0].name, "web6");
  EXPECT_EQ(s.vips[0].counters.packets, 7u);
  ASSERT_EQ(s.vips[0].backends.size(), 1u);
  EXPECT_EQ(s.vips[0].backends[0].address, "2001:db8::5");
  EXPECT_EQ(s.vips[0].backends[0].open_flows, 2u);
  EXPECT_EQ(s.vips[0].backends[0].health, xlb::v1::HEALTH_DOWN);
  EXPECT_EQ(s.vips[0].backends[0].counters.bytes, 99u);
  ASSERT_EQ(s.drops.size(), 1u);
  EXPECT_EQ(s.drops[0].value, 4u);
}

TEST(SortView, HighestFirstUnknownLastTiesByKey) {
  StatsSample prev, cur;
  prev.vips = {
      vip("10.0.0.1:80/tcp", 0, 0, 0, {backend("10.0.1.1", 0, 0, 0), backend("10.0.1.2", 0, 0, 0)}),
      vip("10.0.0.2:80/tcp", 0, 0, 0), vip("10.0.0.3:80/tcp", 0, 0, 0)};
  cur.vips = {vip("10.0.0.1:80/tcp", 10, 100000, 1,
                  {backend("10.0.1.1", 2, 0, 1, 5), backend("10.0.1.2", 8, 0, 1, 9)}),
              vip("10.0.0.2:80/tcp", 500, 1000, 0), vip("10.0.0.3:80/tcp", 10, 10, 7),
              vip("10.0.0.0:80/tcp", 9999, 9999, 999)};  // new: rates unknown
  RateView view = computeRates(&prev, cur, 1.0);

  sortView(view, SortKey::kPps);
  ASSERT_EQ(view.vips.size(), 4u);
  EXPECT_EQ(view.vips[0].key, "10.0.0.2:80/tcp");
  EXPECT_EQ(view.vips[1].key, "10.0.0.1:80/tcp");  // 10 pps, tie with .3, key order
  EXPECT_EQ(view.vips[2].key, "10.0.0.3:80/tcp");
  EXPECT_EQ(view.vips[3].key, "10.0.0.0:80/tcp");
  EXPECT_EQ(view.vips[1].backends[0].sample.address, "10.0.1.2");

  sortView(view, SortKey::kBps);
  EXPECT_EQ(view.vips[0].key, "10.0.0.1:80/tcp");

  sortView(view, SortKey::kFlows);
  EXPECT_EQ(view.vips[0].key, "10.0.0.3:80/tcp");
  // Equal new flows/s: the backend with more open flows first.
  const VipRow* web = findVip(view, "10.0.0.1:80/tcp");
  EXPECT_EQ(web->backends[0].sample.address, "10.0.1.2");
}

}  // namespace
}  // namespace xlb::cli
