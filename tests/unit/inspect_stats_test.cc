// SPDX-License-Identifier: Apache-2.0
// The one counter gatherer (inspect/stats.h): GetStats and a /metrics scrape of the same balancer
// carry the same Stats (global counters, drop reasons, VIP and backend counters, open flows,
// flow-table and NAT-table fill), the exposition shows GetStats's numbers, and a failed data-plane
// read fails both alike.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "api/service.h"
#include "config/validate.h"
#include "dataplane/fake_dataplane.h"
#include "exposition.h"
#include "inspect/stats.h"
#include "metrics/metrics.h"
#include "nat/nat_fixtures.h"
#include "spdlog/spdlog.h"
#include "state/state.h"

namespace xlb::inspect {
namespace {

const bool kQuiet = (spdlog::set_level(spdlog::level::err), true);

using google::protobuf::util::MessageDifferencer;

// "10.0.0.10:80/tcp", the label /metrics gives a VIP.
std::string vipLabel(const v1::VipKey& key) {
  auto k = config::vipKeyOf(key);
  EXPECT_TRUE(k.ok()) << k.status();
  return k.ok() ? k->toString() : "?";
}

// A dsr VIP (one backend draining), a fullnat VIP whose backends listen on :8000 and an IPv6 UDP
// VIP; every kind of counter set to a distinct value, one live NAT connection, the flow table's
// figures as the reconciler would leave them.
class InspectStatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_.setLocalPortRangeReader(
        []() -> absl::StatusOr<nat::PortRange> { return absl::UnavailableError("not read"); });
    v1::Config c;
    c.mutable_snat_pool()->add_addresses("10.0.0.100");
    auto* web = c.add_vips();
    web->set_address("10.0.0.10");
    web->set_port(80);
    web->set_protocol(v1::PROTOCOL_TCP);
    web->set_name("web");
    web->add_backends()->set_address("10.0.1.1");
    web->add_backends()->set_address("10.0.1.2");
    auto* full = c.add_vips();
    full->set_address("10.0.0.10");
    full->set_port(81);
    full->set_protocol(v1::PROTOCOL_TCP);
    full->set_forwarding(v1::FORWARDING_MODE_FULLNAT);
    for (const char* b : {"10.0.2.1", "10.0.2.2"}) {
      auto* be = full->add_backends();
      be->set_address(b);
      be->set_port(8000);
    }
    auto* dns = c.add_vips();
    dns->set_address("2001:db8::10");
    dns->set_port(53);
    dns->set_protocol(v1::PROTOCOL_UDP);
    dns->add_backends()->set_address("2001:db8:1::11");
    auto applied = state_.applyConfig(c, false, nullptr);
    ASSERT_TRUE(applied.ok()) << applied;
    v1::VipKey web_key;
    web_key.set_address("10.0.0.10");
    web_key.set_port(80);
    web_key.set_protocol(v1::PROTOCOL_TCP);
    ASSERT_TRUE(state_.drainBackend(web_key, "10.0.1.2").ok());

    const std::vector<state::VipIds> ids = state_.ids();
    ASSERT_EQ(ids.size(), 3u);
    uint64_t n = 1;
    for (const state::VipIds& v : ids) {
      dp_.counters().vips[v.id] = {n * 100, n * 10000, n};
      for (const state::BackendIds& b : v.backends) {
        ++n;
        dp_.counters().backends[b.id] = {n * 10, n * 1000, n + 1};
        dp_.setOpenFlowsDirect(b.id, n + 2);
      }
      ++n;
    }
    for (size_t i = 0; i < dp_.counters().global.size(); ++i) dp_.counters().global[i] = 7 * i + 1;
    for (size_t i = 0; i < dp_.counters().drops.size(); ++i) dp_.counters().drops[i] = 3 * i + 2;
    const state::VipIds& full_ids = ids[1];
    ASSERT_EQ(full_ids.key.port, 81);
    dp_.natFailures()[full_ids.backends[0].id] = 5;
    state_.updateFlowTableStatus([](dataplane::FlowTableStatus& f) {
      f.lru_capacity = 65536;
      f.protected_capacity = 4096;
      f.scanned = true;
      f.lru_entries = 1234;
      f.protected_entries = 56;
      f.new_flow_rate = 12.5;
    });

    dp_.setNatTableCapacity(100);
    nat::testing::PairSpec spec;
    spec.vport = 81;
    spec.backend = "10.0.2.1";
    spec.snat = "10.0.0.100";
    spec.vip_id = full_ids.id;
    spec.backend_id = full_ids.backends[0].id;
    spec.created_ns = dp_.monotonicNowNs();
    nat::testing::Pair p = nat::testing::makePair(spec);
    dp_.putNat(p.fwd_key, p.fwd);
    dp_.putNat(p.rev_key, p.rev);
    ASSERT_TRUE(collector_.runOnce().ok());
    service_.setNatCollector(&collector_);
  }

  grpc::Status getStats(v1::Stats* out) {
    const v1::GetStatsRequest req;
    return service_.GetStats(nullptr, &req, out);
  }
  absl::StatusOr<metrics::MetricsInput> scrape() {
    metrics::AgentInfo agent;
    agent.version = metrics::agentVersion();
    return metrics::collectMetrics(state_, dp_, agent, &collector_);
  }

  dataplane::FakeDataplane dp_;
  state::State state_{dp_};
  nat::NatCollector collector_{dp_, [this] { return state_.sharedNatVips(); }, std::chrono::seconds(1)};
  api::BalancerService service_{state_, dp_};
};

TEST_F(InspectStatsTest, GetStatsAndAScrapeCarryTheSameStats) {
  v1::Stats from_rpc;
  ASSERT_TRUE(getStats(&from_rpc).ok());
  auto in = scrape();
  ASSERT_TRUE(in.ok()) << in.status();
  auto gathered = gatherStats(state_, dp_, &collector_);
  ASSERT_TRUE(gathered.ok()) << gathered.status();

  // Not trivially equal: every part is filled.
  ASSERT_EQ(from_rpc.vips_size(), 3);
  EXPECT_EQ(from_rpc.vips(0).backends_size(), 2);
  EXPECT_GT(from_rpc.global_size(), 0);
  EXPECT_GT(from_rpc.drops_size(), 0);
  EXPECT_TRUE(from_rpc.has_flow_table());
  EXPECT_EQ(from_rpc.flow_table().lru_entries(), 1234u);
  EXPECT_TRUE(from_rpc.has_nat_table());

  EXPECT_TRUE(MessageDifferencer::Equals(from_rpc, in->stats))
      << "GetStats:\n"
      << from_rpc.DebugString() << "\n/metrics:\n"
      << in->stats.DebugString();
  EXPECT_TRUE(MessageDifferencer::Equals(from_rpc, gathered->stats));

  // The scrape's extra parts come from the same gatherer; GetStats does not read them.
  ASSERT_TRUE(in->nat.has_value());
  EXPECT_EQ(in->nat->entries, 2u);
  ASSERT_EQ(in->nat_failures.size(), 2u);  // both backends of the fullnat VIP
  EXPECT_EQ(in->nat_failures[0].count, 5u);
  EXPECT_EQ(in->vips.size(), 3u);
  EXPECT_TRUE(gathered->nat_failures.empty());
  EXPECT_TRUE(gathered->vips.empty());
}

TEST_F(InspectStatsTest, TheExpositionShowsGetStatsNumbers) {
  v1::Stats s;
  ASSERT_TRUE(getStats(&s).ok());
  auto in = scrape();
  ASSERT_TRUE(in.ok()) << in.status();
  const test::Exposition e = test::parseStrict(metrics::renderMetrics(*in));

  for (const v1::NamedCounter& d : s.drops()) {
    EXPECT_EQ(test::valueOf(e, "xlb_drops_total", {{"reason", d.name()}}), d.value()) << d.name();
  }
  std::map<std::string, uint64_t> global;
  for (const v1::NamedCounter& g : s.global()) global[g.name()] = g.value();
  EXPECT_EQ(test::valueOf(e, "xlb_rx_packets_total"), global.at("rx"));
  EXPECT_EQ(test::valueOf(e, "xlb_flow_hits_total"), global.at("flow_hit"));
  EXPECT_EQ(test::valueOf(e, "xlb_nat_forward_packets_total"), global.at("nat_hit"));

  for (const v1::VipStats& v : s.vips()) {
    const std::string vip = vipLabel(v.vip());
    SCOPED_TRACE(vip);
    EXPECT_EQ(test::valueOf(e, "xlb_vip_packets_total", {{"vip", vip}}), v.counters().packets());
    EXPECT_EQ(test::valueOf(e, "xlb_vip_bytes_total", {{"vip", vip}}), v.counters().bytes());
    EXPECT_EQ(test::valueOf(e, "xlb_vip_new_flows_total", {{"vip", vip}}),
              v.counters().new_flows());
    for (const v1::BackendStats& b : v.backends()) {
      const std::map<std::string, std::string> labels{{"vip", vip}, {"backend", b.address()}};
      SCOPED_TRACE(b.address());
      EXPECT_EQ(test::valueOf(e, "xlb_backend_packets_total", labels), b.counters().packets());
      EXPECT_EQ(test::valueOf(e, "xlb_backend_bytes_total", labels), b.counters().bytes());
      EXPECT_EQ(test::valueOf(e, "xlb_backend_new_flows_total", labels), b.counters().new_flows());
      EXPECT_EQ(test::valueOf(e, "xlb_backend_open_flows", labels), b.open_flows());
      EXPECT_EQ(test::valueOf(e, "xlb_backend_draining", labels),
                b.state() == v1::BACKEND_STATE_DRAINING ? 1 : 0);
    }
  }
  EXPECT_EQ(test::valueOf(e, "xlb_flow_table_capacity", {{"table", "lru"}}),
            s.flow_table().lru_capacity());
  EXPECT_EQ(test::valueOf(e, "xlb_flow_table_entries", {{"table", "lru"}}),
            s.flow_table().lru_entries());
  EXPECT_EQ(test::valueOf(e, "xlb_nat_capacity"), s.nat_table().capacity());
  EXPECT_EQ(test::valueOf(e, "xlb_nat_entries"), s.nat_table().entries());
}

TEST_F(InspectStatsTest, AFailedCounterReadFailsBothAlike) {
  dp_.failReadCounters(
      absl::UnavailableError("read map xlb_stats: Operation not permitted (EPERM)"));
  v1::Stats s;
  grpc::Status rpc = getStats(&s);
  auto in = scrape();
  ASSERT_FALSE(in.ok());
  EXPECT_EQ(rpc.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(static_cast<int>(rpc.error_code()), static_cast<int>(in.status().code()));
  EXPECT_EQ(rpc.error_message(), std::string(in.status().message()));
}

}  // namespace
}  // namespace xlb::inspect
