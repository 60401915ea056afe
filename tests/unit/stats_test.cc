// SPDX-License-Identifier: Apache-2.0
// Stats tests: counter names match the ABI indexes and per-VIP/backend counters follow State's ids.
#include "stats/stats.h"

#include <gtest/gtest.h>

#include <map>

#include "dataplane/fake_dataplane.h"
#include "spdlog/spdlog.h"

namespace xlb::stats {
namespace {

const bool kQuiet = (spdlog::set_level(spdlog::level::err), true);

std::map<std::string, uint64_t> byName(
    const google::protobuf::RepeatedPtrField<v1::NamedCounter>& c) {
  std::map<std::string, uint64_t> out;
  for (const auto& n : c) out[n.name()] = n.value();
  return out;
}

TEST(StatsTest, NamesEveryGlobalCounterAndDropReason) {
  dataplane::CounterSnapshot snap;
  snap.global.resize(XLB_STAT_MAX);
  snap.drops.resize(XLB_DROP_MAX);
  for (int i = 0; i < XLB_STAT_MAX; ++i) snap.global[i] = 100 + i;
  for (int i = 0; i < XLB_DROP_MAX; ++i) snap.drops[i] = 200 + i;
  v1::Stats s = buildStats(snap, {});
  ASSERT_EQ(s.global_size(), XLB_STAT_MAX);
  ASSERT_EQ(s.drops_size(), XLB_DROP_MAX);
  EXPECT_EQ(s.global(0).name(), "rx");
  auto g = byName(s.global());
  EXPECT_EQ(g["rx"], 100u + XLB_STAT_RX);
  EXPECT_EQ(g["tx"], 100u + XLB_STAT_TX);
  EXPECT_EQ(g["pass"], 100u + XLB_STAT_PASS);
  EXPECT_EQ(g["drop"], 100u + XLB_STAT_DROP);
  EXPECT_EQ(g["aborted"], 100u + XLB_STAT_ABORTED);
  EXPECT_EQ(g["flow_resteer"], 100u + XLB_STAT_FLOW_RESTEER);
  EXPECT_EQ(g["no_neigh_pass"], 100u + XLB_STAT_NO_NEIGH_PASS);
  EXPECT_EQ(g.size(), static_cast<size_t>(XLB_STAT_MAX));
  auto d = byName(s.drops());
  EXPECT_EQ(d["truncated"], 200u + XLB_DROP_TRUNCATED);
  EXPECT_EQ(d["no_backend"], 200u + XLB_DROP_NO_BACKEND);
  EXPECT_EQ(d["bad_len"], 200u + XLB_DROP_BAD_LEN);
  EXPECT_EQ(d.size(), static_cast<size_t>(XLB_DROP_MAX));
}

TEST(StatsTest, PerVipAndBackendCountersFollowIds) {
  dataplane::FakeDataplane dp;
  state::State st(dp);
  v1::Config c;
  for (const char* addr : {"10.0.0.1", "10.0.0.2"}) {
    auto* vip = c.add_vips();
    vip->set_address(addr);
    vip->set_port(80);
    vip->set_protocol(v1::PROTOCOL_TCP);
    vip->set_maglev_table_size(1021);
    vip->add_backends()->set_address("10.0.1.1");
    vip->add_backends()->set_address("10.0.1.2");
  }
  c.mutable_vips(1)->set_name("second");
  c.mutable_vips(1)->mutable_backends(1)->set_weight(4);
  ASSERT_TRUE(st.applyConfig(c, false, nullptr).ok());
  // Remove a backend so ids are no longer dense, then set counters by id.
  v1::VipKey k;
  k.set_address("10.0.0.1");
  k.set_port(80);
  k.set_protocol(v1::PROTOCOL_TCP);
  ASSERT_TRUE(st.deleteBackend(k, "10.0.1.1").ok());
  auto ids = st.ids();
  ASSERT_EQ(ids.size(), 2u);
  ASSERT_EQ(ids[1].backends.size(), 2u);
  dp.counters().vips[ids[1].id] = {10, 1000, 3};
  dp.counters().backends[ids[1].backends[1].id] = {7, 700, 2};
  dp.counters().backends[ids[0].backends[0].id] = {5, 500, 1};

  auto snap = dp.readCounters();
  ASSERT_TRUE(snap.ok());
  v1::Stats s = buildStats(*snap, ids);
  ASSERT_EQ(s.vips_size(), 2);
  EXPECT_EQ(s.vips(0).vip().address(), "10.0.0.1");
  ASSERT_EQ(s.vips(0).backends_size(), 1);
  EXPECT_EQ(s.vips(0).backends(0).address(), "10.0.1.2");
  EXPECT_EQ(s.vips(0).backends(0).counters().packets(), 5u);
  EXPECT_EQ(s.vips(1).name(), "second");
  EXPECT_EQ(s.vips(1).vip().protocol(), v1::PROTOCOL_TCP);
  EXPECT_EQ(s.vips(1).counters().packets(), 10u);
  EXPECT_EQ(s.vips(1).counters().bytes(), 1000u);
  EXPECT_EQ(s.vips(1).counters().new_flows(), 3u);
  EXPECT_EQ(s.vips(1).backends(1).weight(), 4u);
  EXPECT_EQ(s.vips(1).backends(1).counters().bytes(), 700u);
  EXPECT_EQ(s.vips(1).backends(0).counters().packets(), 0u);
}

TEST(StatsTest, ShortSnapshotsReadAsZero) {
  state::VipIds v;
  v.key.address = *parseIpAddress("10.0.0.1");
  v.key.protocol = v1::PROTOCOL_UDP;
  v.id = 5;
  v.backends.push_back({"10.0.1.1", 1, 9});
  std::vector<state::VipIds> ids = {v};
  v1::Stats s = buildStats(dataplane::CounterSnapshot{}, ids);
  EXPECT_EQ(s.global_size(), XLB_STAT_MAX);
  EXPECT_EQ(s.vips(0).counters().packets(), 0u);
  EXPECT_EQ(s.vips(0).backends(0).counters().packets(), 0u);
}

}  // namespace
}  // namespace xlb::stats
