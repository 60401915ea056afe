// SPDX-License-Identifier: Apache-2.0
// Metrics tests: the exposition text passes a strict 0.0.4 parser, carries the counters and states
// of State and the data plane, and the HTTP server serves it on /metrics.
#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "dataplane/fake_dataplane.h"
#include "exposition.h"
#include "httplib.h"
#include "metrics/server.h"
#include "nat/nat_fixtures.h"
#include "spdlog/spdlog.h"
#include "stats/stats.h"

namespace xlb::metrics {
namespace {

const bool kQuiet = (spdlog::set_level(spdlog::level::err), true);

using test::countOf;
using test::Exposition;
using test::parseStrict;
using test::Sample;
using test::valueOf;

v1::VipKey key(const char* addr, uint32_t port, v1::Protocol proto) {
  v1::VipKey k;
  k.set_address(addr);
  k.set_port(port);
  k.set_protocol(proto);
  return k;
}

// Two VIPs (one IPv6/UDP), three backends, counters set by id, one backend draining.
class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v1::Config c;
    auto* a = c.add_vips();
    a->set_address("10.0.0.10");
    a->set_port(80);
    a->set_protocol(v1::PROTOCOL_TCP);
    a->set_name("web-front");
    a->add_backends()->set_address("10.0.1.11");
    a->add_backends()->set_address("10.0.1.12");
    a->mutable_backends(1)->set_weight(3);
    auto* b = c.add_vips();
    b->set_address("2001:db8::10");
    b->set_port(53);
    b->set_protocol(v1::PROTOCOL_UDP);
    b->add_backends()->set_address("2001:db8:1::11");
    auto applied = state_.applyConfig(c, false, nullptr);
    ASSERT_TRUE(applied.ok()) << applied;
    ASSERT_TRUE(state_.drainBackend(key("10.0.0.10", 80, v1::PROTOCOL_TCP), "10.0.1.12").ok());

    auto ids = state_.ids();
    ASSERT_EQ(ids.size(), 2u);
    dp_.counters().vips[ids[0].id] = {100, 15000, 7};
    dp_.counters().backends[ids[0].backends[0].id] = {60, 9000, 4};
    dp_.counters().backends[ids[0].backends[1].id] = {40, 6000, 3};
    dp_.counters().vips[ids[1].id] = {5, 400, 5};
    dp_.counters().global[XLB_STAT_RX] = 1000;
    dp_.counters().global[XLB_STAT_TX] = 900;
    dp_.counters().global[XLB_STAT_PASS] = 80;
    dp_.counters().global[XLB_STAT_DROP] = 20;
    dp_.counters().global[XLB_STAT_FLOW_HIT] = 888;
    dp_.counters().drops[XLB_DROP_FRAGMENT] = 12;
    dp_.counters().drops[XLB_DROP_NO_BACKEND] = 8;
    ASSERT_TRUE(dp_.setOpenFlows(ids[0].backends[0].id, 9).ok());
  }

  MetricsInput collect() {
    AgentInfo agent;
    agent.version = agentVersion();
    agent.program_id = 42;
    agent.apply = state_.applyStats();
    auto in = collectMetrics(state_, dp_, agent);
    EXPECT_TRUE(in.ok()) << in.status();
    return in.ok() ? *in : MetricsInput{};
  }

  dataplane::FakeDataplane dp_;
  state::State state_{dp_};
};

TEST_F(MetricsTest, ExpositionIsStrictlyValid) {
  Exposition e = parseStrict(renderMetrics(collect()));
  EXPECT_GT(e.samples.size(), 50u);
  // Every declared family has samples (no empty TYPE blocks in this configuration).
  for (const auto& [family, type] : e.types) EXPECT_GT(countOf(e, family), 0u) << family;
}

// The data plane's count of table changes by how: the two VIPs' first tables were new maps, the
// drain rewrote a table of the same size (in place), and so does a weight change.
TEST_F(MetricsTest, SelectionTableWritesByHow) {
  Exposition e = parseStrict(renderMetrics(collect()));
  EXPECT_EQ(e.types["xlb_selection_table_writes_total"], "counter");
  EXPECT_EQ(valueOf(e, "xlb_selection_table_writes_total", {{"how", "swapped"}}), 2);
  EXPECT_EQ(valueOf(e, "xlb_selection_table_writes_total", {{"how", "flipped"}}), 1);
  ASSERT_TRUE(state_.setBackendWeight(key("10.0.0.10", 80, v1::PROTOCOL_TCP), "10.0.1.11", 5).ok());
  e = parseStrict(renderMetrics(collect()));
  EXPECT_EQ(valueOf(e, "xlb_selection_table_writes_total", {{"how", "swapped"}}), 2);
  EXPECT_EQ(valueOf(e, "xlb_selection_table_writes_total", {{"how", "flipped"}}), 2);
}

TEST_F(MetricsTest, GlobalCountersActionsAndDrops) {
  Exposition e = parseStrict(renderMetrics(collect()));
  EXPECT_EQ(e.types["xlb_xdp_actions_total"], "counter");
  EXPECT_EQ(valueOf(e, "xlb_xdp_actions_total", {{"action", "tx"}}), 900);
  EXPECT_EQ(valueOf(e, "xlb_xdp_actions_total", {{"action", "pass"}}), 80);
  EXPECT_EQ(valueOf(e, "xlb_xdp_actions_total", {{"action", "drop"}}), 20);
  EXPECT_EQ(valueOf(e, "xlb_xdp_actions_total", {{"action", "aborted"}}), 0);
  EXPECT_EQ(valueOf(e, "xlb_xdp_actions_total", {{"action", "redirect"}}), 0);
  EXPECT_EQ(valueOf(e, "xlb_rx_packets_total"), 1000);
  EXPECT_EQ(valueOf(e, "xlb_flow_hits_total"), 888);
  // Every drop reason is present, zero or not.
  EXPECT_EQ(countOf(e, "xlb_drops_total"), static_cast<size_t>(XLB_DROP_MAX));
  EXPECT_EQ(valueOf(e, "xlb_drops_total", {{"reason", "fragment"}}), 12);
  EXPECT_EQ(valueOf(e, "xlb_drops_total", {{"reason", "no_backend"}}), 8);
  EXPECT_EQ(valueOf(e, "xlb_drops_total", {{"reason", "truncated"}}), 0);
  // Every global counter is named by a family of its own: none falls back to the catch-all.
  EXPECT_EQ(countOf(e, "xlb_datapath_events_total"), 0u);
}

TEST_F(MetricsTest, PerVipAndPerBackend) {
  Exposition e = parseStrict(renderMetrics(collect()));
  const std::string v4 = "10.0.0.10:80/tcp";
  EXPECT_EQ(valueOf(e, "xlb_vip_packets_total", {{"vip", v4}}), 100);
  EXPECT_EQ(valueOf(e, "xlb_vip_bytes_total", {{"vip", v4}}), 15000);
  EXPECT_EQ(valueOf(e, "xlb_vip_new_flows_total", {{"vip", v4}}), 7);
  EXPECT_EQ(countOf(e, "xlb_vip_packets_total"), 2u);
  const std::map<std::string, std::string> b11 = {{"vip", v4}, {"backend", "10.0.1.11"}};
  const std::map<std::string, std::string> b12 = {{"vip", v4}, {"backend", "10.0.1.12"}};
  EXPECT_EQ(valueOf(e, "xlb_backend_packets_total", b11), 60);
  EXPECT_EQ(valueOf(e, "xlb_backend_bytes_total", b12), 6000);
  EXPECT_EQ(valueOf(e, "xlb_backend_new_flows_total", b12), 3);
  EXPECT_EQ(e.types["xlb_backend_open_flows"], "gauge");
  EXPECT_EQ(valueOf(e, "xlb_backend_open_flows", b11), 9);
  EXPECT_EQ(valueOf(e, "xlb_backend_open_flows", b12), 0);
  EXPECT_EQ(valueOf(e, "xlb_backend_weight", b12), 3);
  // No health check configured: unknown health counts as up; the draining one leaves rotation.
  EXPECT_EQ(valueOf(e, "xlb_backend_up", b11), 1);
  auto withState = [](std::map<std::string, std::string> l, const char* s) {
    l["state"] = s;
    return l;
  };
  EXPECT_EQ(valueOf(e, "xlb_backend_health", withState(b11, "down")), 0);
  EXPECT_EQ(valueOf(e, "xlb_backend_health", withState(b11, "up")) +
                valueOf(e, "xlb_backend_health", withState(b11, "unknown")),
            1);
  EXPECT_EQ(valueOf(e, "xlb_backend_draining", b12), 1);
  EXPECT_EQ(valueOf(e, "xlb_backend_draining", b11), 0);
  EXPECT_EQ(valueOf(e, "xlb_backend_in_rotation", b11), 1);
  EXPECT_EQ(valueOf(e, "xlb_backend_in_rotation", b12), 0);
  EXPECT_EQ(valueOf(e, "xlb_vip_all_down", {{"vip", v4}}), 0);
  // Table size in effect and kernel memory, as the VIP status reports them.
  auto statuses = state_.vipStatuses();
  ASSERT_TRUE(statuses.ok());
  for (const v1::VipStatus& st : *statuses) {
    if (st.vip().address() != "10.0.0.10") continue;
    EXPECT_GT(st.table_size(), 0u);
    EXPECT_EQ(valueOf(e, "xlb_vip_table_slots", {{"vip", v4}}), st.table_size());
    EXPECT_GT(st.kernel_bytes(), st.table_size() * 4u);
    EXPECT_EQ(valueOf(e, "xlb_vip_kernel_bytes", {{"vip", v4}}), st.kernel_bytes());
  }
  // IPv6 VIP label form as lbctl prints it.
  std::set<std::string> vips;
  for (const Sample& s : e.samples) {
    if (s.name == "xlb_vip_packets_total") vips.insert(s.labels.at("vip"));
  }
  EXPECT_EQ(vips.count(v4), 1u);
  EXPECT_EQ(vips.size(), 2u);
  std::string v6 = *std::next(vips.begin()) == v4 ? *vips.begin() : *std::next(vips.begin());
  EXPECT_NE(v6.find("2001:db8::10"), std::string::npos) << v6;
  EXPECT_NE(v6.find("/udp"), std::string::npos) << v6;
  EXPECT_EQ(valueOf(e, "xlb_vip_packets_total", {{"vip", v6}}), 5);
}

TEST_F(MetricsTest, HealthDownBackend) {
  v1::Vip vip;
  vip.set_address("10.0.0.20");
  vip.set_port(443);
  vip.set_protocol(v1::PROTOCOL_TCP);
  vip.mutable_health_check()->set_type(v1::HEALTH_CHECK_TYPE_TCP);
  vip.add_backends()->set_address("10.0.1.21");
  vip.add_backends()->set_address("10.0.1.22");
  ASSERT_TRUE(state_.addVip(vip).ok());
  config::VipKey k = *config::vipKeyOf(vip);
  health::Transition down;
  down.from = health::Health::kUnknown;
  down.to = health::Health::kDown;
  down.reason = "connect: connection refused";
  state_.onHealthTransition(state::State::healthKey(k, *parseIpAddress("10.0.1.21")), down);

  Exposition e = parseStrict(renderMetrics(collect()));
  const std::map<std::string, std::string> b21 = {{"vip", "10.0.0.20:443/tcp"},
                                                  {"backend", "10.0.1.21"}};
  EXPECT_EQ(valueOf(e, "xlb_backend_up", b21), 0);
  auto l = b21;
  l["state"] = "down";
  EXPECT_EQ(valueOf(e, "xlb_backend_health", l), 1);
  EXPECT_EQ(valueOf(e, "xlb_backend_in_rotation", b21), 0);
}

TEST_F(MetricsTest, AgentInfoAndApplyCounters) {
  const state::ApplyStats before = state_.applyStats();
  EXPECT_GE(before.total, 2u);  // applyConfig + drain
  v1::Config bad;
  bad.add_vips()->set_address("not-an-address");
  EXPECT_FALSE(state_.applyConfig(bad, false, nullptr).ok());
  EXPECT_TRUE(state_.applyConfig(bad, true, nullptr).code() != absl::StatusCode::kOk);

  Exposition e = parseStrict(renderMetrics(collect()));
  EXPECT_EQ(valueOf(e, "xlb_agent_info", {{"version", agentVersion()}}), 1);
  EXPECT_STRNE(agentVersion(), "unknown");
  EXPECT_EQ(valueOf(e, "xlb_bpf_program_id"), 42);
  // The dry run is not counted, the failed apply is.
  EXPECT_EQ(valueOf(e, "xlb_apply_total"), before.total + 1);
  EXPECT_EQ(valueOf(e, "xlb_apply_errors_total"), before.errors + 1);
  EXPECT_GE(valueOf(e, "xlb_last_apply_duration_seconds"), 0);
  EXPECT_LT(valueOf(e, "xlb_last_apply_duration_seconds"), 10);
}

TEST(MetricsRenderTest, LabelValuesAreEscaped) {
  EXPECT_EQ(escapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  MetricsInput in;
  in.agent.version = "1.0 \"quoted\"\\\nnext";
  in.agent.program_id.reset();
  auto* v = in.stats.add_vips();
  v->mutable_vip()->set_address("10.0.0.1");
  v->mutable_vip()->set_port(80);
  v->mutable_vip()->set_protocol(v1::PROTOCOL_TCP);
  v->add_backends()->set_address("10.0.1.1");
  Exposition e = parseStrict(renderMetrics(in));
  EXPECT_EQ(valueOf(e, "xlb_agent_info", {{"version", in.agent.version}}), 1);
  EXPECT_EQ(countOf(e, "xlb_bpf_program_id"), 0u);
  // A VIP without status (deleted between the reads) has counters but no rotation gauge.
  EXPECT_EQ(countOf(e, "xlb_backend_in_rotation"), 0u);
  EXPECT_EQ(countOf(e, "xlb_backend_packets_total"), 1u);
}

TEST(MetricsRenderTest, UnknownGlobalCounterFallsBackToEvents) {
  MetricsInput in;
  auto* c = in.stats.add_global();
  c->set_name("some_new_counter");
  c->set_value(3);
  Exposition e = parseStrict(renderMetrics(in));
  EXPECT_EQ(valueOf(e, "xlb_datapath_events_total", {{"event", "some_new_counter"}}), 3);
}

TEST(MetricsServerTest, ListenAddressParsing) {
  auto a = parseListenAddress("127.0.0.1:9440");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->first, "127.0.0.1");
  EXPECT_EQ(a->second, 9440);
  auto b = parseListenAddress("[::1]:0");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->first, "::1");
  EXPECT_EQ(b->second, 0);
  for (const char* bad :
       {"9440", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:70000", ":9440", "::1:9440"}) {
    auto r = parseListenAddress(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("--metrics-listen"), absl::string_view::npos);
  }
}

TEST_F(MetricsTest, ServerServesMetricsOverHttp) {
  int scrapes = 0;
  auto server = MetricsServer::start("127.0.0.1:0", [&]() -> absl::StatusOr<std::string> {
    ++scrapes;
    return renderMetrics(collect());
  });
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  httplib::Client client("127.0.0.1", (*server)->port());
  client.set_connection_timeout(5);
  client.set_read_timeout(5);
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  Exposition e = parseStrict(res->body);
  EXPECT_EQ(valueOf(e, "xlb_vip_packets_total", {{"vip", "10.0.0.10:80/tcp"}}), 100);

  // Live: a counter change shows in the next scrape.
  dp_.counters().global[XLB_STAT_RX] = 5000;
  res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(valueOf(parseStrict(res->body), "xlb_rx_packets_total"), 5000);
  EXPECT_EQ(scrapes, 2);

  res = client.Get("/nothing-here");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  (*server)->stop();
  EXPECT_FALSE(client.Get("/metrics"));
}

TEST(MetricsServerTest, RenderFailureIs500AndBusyPortIsAnError) {
  auto server = MetricsServer::start("127.0.0.1:0", []() -> absl::StatusOr<std::string> {
    return absl::UnavailableError("read map xlb_stats: Bad file descriptor (EBADF)");
  });
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("127.0.0.1", (*server)->port());
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_NE(res->body.find("EBADF"), std::string::npos);

  const std::string taken = "127.0.0.1:" + std::to_string((*server)->port());
  auto second = MetricsServer::start(taken, [] { return absl::StatusOr<std::string>(""); });
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace xlb::metrics

namespace xlb::metrics {
namespace {

TEST(MetricsRenderTest, NatTableAndPortAllocationFailures) {
  MetricsInput in;
  nat::NatTableStatus s;
  s.capacity = 1000;
  s.entries = 250;
  s.connections = 125;
  s.by_state[static_cast<int>(nat::ConnState::kEstablished)] = 100;
  s.by_state[static_cast<int>(nat::ConnState::kSyn)] = 25;
  s.expired = 9;
  s.pressure_expired = 4;
  s.orphans = 2;
  s.peak_entries = 1000;
  s.refused = 321;
  s.pressure = true;
  s.pressure_episodes = 3;
  s.full_episodes = 2;
  in.nat = s;
  in.nat_failures.push_back({"10.0.0.10:80/tcp", "10.0.1.1:8080", 17});
  Exposition e = parseStrict(renderMetrics(in));
  EXPECT_EQ(valueOf(e, "xlb_nat_capacity", {}), 1000);
  EXPECT_EQ(valueOf(e, "xlb_nat_entries", {}), 250);
  EXPECT_EQ(valueOf(e, "xlb_nat_table_fill_ratio", {}), 0.25);
  EXPECT_EQ(valueOf(e, "xlb_nat_connections", {{"state", "established"}}), 100);
  EXPECT_EQ(valueOf(e, "xlb_nat_connections", {{"state", "syn"}}), 25);
  EXPECT_EQ(valueOf(e, "xlb_nat_connections", {{"state", "udp"}}), 0);
  EXPECT_EQ(valueOf(e, "xlb_nat_expired_total", {}), 9);
  EXPECT_EQ(valueOf(e, "xlb_nat_pressure_expired_total", {}), 4);
  EXPECT_EQ(valueOf(e, "xlb_nat_orphans_total", {}), 2);
  EXPECT_EQ(valueOf(e, "xlb_nat_entries_peak", {}), 1000);
  EXPECT_EQ(valueOf(e, "xlb_nat_refused_total", {}), 321);
  EXPECT_EQ(valueOf(e, "xlb_nat_pressure", {}), 1);
  EXPECT_EQ(valueOf(e, "xlb_nat_pressure_episodes_total", {}), 3);
  EXPECT_EQ(valueOf(e, "xlb_nat_full_episodes_total", {}), 2);
  EXPECT_EQ(valueOf(e, "xlb_nat_port_alloc_failures_total",
                    {{"vip", "10.0.0.10:80/tcp"}, {"backend", "10.0.1.1:8080"}}),
            17);
  // Without a collector nothing NAT is rendered.
  EXPECT_EQ(countOf(parseStrict(renderMetrics(MetricsInput{})), "xlb_nat_entries"), 0u);
}

}  // namespace
}  // namespace xlb::metrics

namespace xlb::metrics {
namespace {

// The scrape of a balancer with a nat and a fullnat VIP whose backends listen on :8000 (issue 11),
// through collectMetrics: per-VIP and per-backend counters under the backends' "ADDR:PORT" labels,
// the NAT table's fill from the collector's pass, port allocation failures per fullnat backend,
// and the NAT drop reasons (reply misses, full table, no port) in xlb_drops_total.
TEST(MetricsNatTest, NatVipsTableFillAllocationFailuresAndReplyMisses) {
  dataplane::FakeDataplane dp;
  state::State state(dp);
  state.setLocalPortRangeReader(
      []() -> absl::StatusOr<nat::PortRange> { return absl::UnavailableError("not read"); });
  v1::Config c;
  c.mutable_snat_pool()->add_addresses("10.0.0.100");
  for (auto [port, mode] :
       {std::pair{80u, v1::FORWARDING_MODE_NAT}, std::pair{81u, v1::FORWARDING_MODE_FULLNAT}}) {
    auto* v = c.add_vips();
    v->set_address("10.0.0.10");
    v->set_port(port);
    v->set_protocol(v1::PROTOCOL_TCP);
    v->set_forwarding(mode);
    for (const char* b : {"10.0.1.1", "10.0.1.2"}) {
      auto* be = v->add_backends();
      be->set_address(b);
      be->set_port(8000);
    }
  }
  auto applied = state.applyConfig(c, false, nullptr);
  ASSERT_TRUE(applied.ok()) << applied;
  auto ids = state.ids();
  ASSERT_EQ(ids.size(), 2u);
  const state::VipIds& nat_vip = ids[0].key.port == 80 ? ids[0] : ids[1];
  const state::VipIds& full_vip = ids[0].key.port == 80 ? ids[1] : ids[0];
  ASSERT_EQ(nat_vip.backends.size(), 2u);
  ASSERT_EQ(full_vip.backends.size(), 2u);
  EXPECT_EQ(nat_vip.backends[0].address, "10.0.1.1:8000");

  dp.counters().vips[nat_vip.id] = {10, 1000, 2};
  dp.counters().backends[nat_vip.backends[0].id] = {6, 600, 1};
  dp.counters().backends[full_vip.backends[1].id] = {4, 400, 1};
  dp.counters().global[XLB_STAT_NAT_HIT] = 8;
  dp.counters().global[XLB_STAT_NAT_REPLY] = 9;
  dp.counters().global[XLB_STAT_NAT_RESTEER] = 1;
  dp.counters().drops[XLB_DROP_NAT_REPLY_MISS] = 11;
  dp.counters().drops[XLB_DROP_NAT_FULL] = 2;
  dp.counters().drops[XLB_DROP_NAT_NO_PORT] = 3;
  dp.natFailures()[full_vip.backends[0].id] = 3;
  // One live connection through each VIP: four entries of a 100-entry table.
  dp.setNatTableCapacity(100);
  const uint64_t now = dp.monotonicNowNs();
  nat::testing::PairSpec a;
  a.vip_id = nat_vip.id;
  a.backend_id = nat_vip.backends[0].id;
  a.created_ns = now;
  nat::testing::PairSpec b = a;
  b.vport = 81;
  b.snat = "10.0.0.100";
  b.vip_id = full_vip.id;
  b.backend_id = full_vip.backends[1].id;
  b.backend = "10.0.1.2";
  for (const auto& spec : {a, b}) {
    nat::testing::Pair p = nat::testing::makePair(spec);
    dp.putNat(p.fwd_key, p.fwd);
    dp.putNat(p.rev_key, p.rev);
  }
  nat::NatCollector collector(
      dp, [&state] { return state.sharedNatVips(); }, std::chrono::seconds(1));
  ASSERT_TRUE(collector.runOnce().ok());

  AgentInfo agent;
  agent.version = agentVersion();
  auto in = collectMetrics(state, dp, agent, &collector);
  ASSERT_TRUE(in.ok()) << in.status();
  Exposition e = parseStrict(renderMetrics(*in));

  const std::string nat80 = "10.0.0.10:80/tcp", full81 = "10.0.0.10:81/tcp";
  EXPECT_EQ(valueOf(e, "xlb_vip_packets_total", {{"vip", nat80}}), 10);
  EXPECT_EQ(valueOf(e, "xlb_backend_packets_total", {{"vip", nat80}, {"backend", "10.0.1.1:8000"}}),
            6);
  EXPECT_EQ(
      valueOf(e, "xlb_backend_new_flows_total", {{"vip", full81}, {"backend", "10.0.1.2:8000"}}),
      1);
  EXPECT_EQ(valueOf(e, "xlb_nat_forward_packets_total"), 8);
  EXPECT_EQ(valueOf(e, "xlb_nat_reply_packets_total"), 9);
  EXPECT_EQ(valueOf(e, "xlb_nat_resteers_total"), 1);
  // Table fill at the collector's pass.
  EXPECT_EQ(valueOf(e, "xlb_nat_capacity"), 100);
  EXPECT_EQ(valueOf(e, "xlb_nat_entries"), 4);
  EXPECT_DOUBLE_EQ(valueOf(e, "xlb_nat_table_fill_ratio"), 0.04);
  // Allocation failures: every backend of the fullnat VIP, none of the nat VIP (no ports).
  EXPECT_EQ(countOf(e, "xlb_nat_port_alloc_failures_total"), 2u);
  EXPECT_EQ(valueOf(e, "xlb_nat_port_alloc_failures_total",
                    {{"vip", full81}, {"backend", "10.0.1.1:8000"}}),
            3);
  EXPECT_EQ(valueOf(e, "xlb_nat_port_alloc_failures_total",
                    {{"vip", full81}, {"backend", "10.0.1.2:8000"}}),
            0);
  // Reverse misses, refusals of a full table, no free port: drop reasons.
  EXPECT_EQ(valueOf(e, "xlb_drops_total", {{"reason", "nat_reply_miss"}}), 11);
  EXPECT_EQ(valueOf(e, "xlb_drops_total", {{"reason", "nat_table_full"}}), 2);
  EXPECT_EQ(valueOf(e, "xlb_drops_total", {{"reason", "nat_no_port"}}), 3);
}

}  // namespace
}  // namespace xlb::metrics
