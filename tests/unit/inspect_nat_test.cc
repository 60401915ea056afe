// SPDX-License-Identifier: Apache-2.0
// The Inspector for nat / fullnat VIPs, backed by State + the fake data plane (NAT table filled as
// the data plane would hold it): ListFlows lists NAT connections with both tuples under the same
// filters as flow-table entries; Explain reports NAT hits, replies, re-created connections, the
// translation a new connection gets and the NAT refusals. tests/bpf/explain_test.cc proves the
// predictions against the real XDP program.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "config/yaml.h"
#include "dataplane/fake_dataplane.h"
#include "dataplane/flow_hash.h"
#include "flow_key.h"
#include "inspect/inspector.h"
#include "inspect_helpers.h"
#include "nat/nat_fixtures.h"
#include "spdlog/spdlog.h"
#include "state/state.h"

namespace xlb::inspect {
namespace {

using ::xlb::test::flowKey;

using nat::testing::makePair;
using nat::testing::Pair;
using nat::testing::PairSpec;

const bool kQuiet = (spdlog::set_level(spdlog::level::err), true);

constexpr uint64_t kMs = 1000000;

// web: dsr (flow table); dnat: nat to two backends on port 8080; full: fullnat to two backends on
// port 8443 from the config's pool (two IPv4 addresses, one IPv6); full6: the same over IPv6.
constexpr const char* kConfig = R"(
snat_pool: {addresses: [10.0.9.1, 10.0.9.2, "fd00:9::1"], port_min: 61000, port_max: 61999}
vips:
  - name: web
    address: 10.0.0.10
    port: 80
    protocol: tcp
    maglev_table_size: 1021
    backends: [{address: 10.0.1.1}, {address: 10.0.1.2}]
  - name: dnat
    address: 10.0.0.20
    port: 80
    protocol: tcp
    forwarding: nat
    maglev_table_size: 1021
    backends: [{address: 10.0.2.1, port: 8080}, {address: 10.0.2.2, port: 8080}]
  - name: full
    address: 10.0.0.30
    port: 443
    protocol: tcp
    forwarding: fullnat
    maglev_table_size: 1021
    backends: [{address: 10.0.3.1, port: 8443}, {address: 10.0.3.2, port: 8443}]
  - name: full6
    address: "2001:db8::30"
    port: 443
    protocol: tcp
    forwarding: fullnat
    maglev_table_size: 1021
    backends: [{address: "2001:db8:3::1"}]
)";

class InspectNatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_.setLocalPortRangeReader([] { return nat::PortRange{32768, 60999}; });
    auto config = config::parseConfigYaml(kConfig);
    ASSERT_TRUE(config.ok()) << config.status();
    auto st = state_.applyConfig(*config, false, nullptr);
    ASSERT_TRUE(st.ok()) << st;
    for (const auto& v : state_.ids()) {
      vip_id_[v.name] = v.id;
      for (const auto& b : v.backends) backend_id_[b.ip.toString()] = b.id;
    }
  }

  // A connection as the data plane records it, on `spec.backend` (its id and generation filled
  // in), last seen `idle_ms` ago.
  Pair putConnection(PairSpec spec, const std::string& vip, uint64_t idle_ms) {
    spec.vip_id = vip_id_.at(vip);
    spec.backend_id = backend_id_.at(spec.backend);
    spec.backend_gen = dp_.backend(spec.backend_id).gen;
    spec.created_ns = dp_.monotonicNowNs() - (idle_ms + 5000) * kMs;
    spec.fwd_seen_ns = dp_.monotonicNowNs() - idle_ms * kMs;
    Pair p = makePair(spec);
    dp_.putNat(p.rev_key, p.rev);
    dp_.putNat(p.fwd_key, p.fwd);
    return p;
  }
  void putFlow(const xlb_flow_key& k, const std::string& backend, uint64_t idle_ms) {
    const uint32_t id = backend_id_.at(backend);
    dp_.putFlow(k, {id, dp_.backend(id).gen, dp_.monotonicNowNs() - idle_ms * kMs, 0, 0});
  }

  v1::ListFlowsResponse list(const v1::ListFlowsRequest& req) {
    auto r = inspector_.listFlows(req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v1::ListFlowsResponse{};
  }
  v1::ExplainResponse explain(const std::string& src, uint32_t sport, const std::string& dst,
                              uint32_t dport) {
    auto r = inspector_.explain(test::explainRequest(src, sport, dst, dport));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v1::ExplainResponse{};
  }
  // The backend address the VIP's table holds in the slot of the key's 5-tuple hash.
  std::string hashBackend(const std::string& vip, const xlb_flow_key& k) {
    return test::slotBackend(dp_, vip_id_.at(vip), dataplane::flowHash(k), backend_id_);
  }
  static std::set<std::string> clients(const v1::ListFlowsResponse& r) {
    return test::flowClients(r);
  }

  dataplane::FakeDataplane dp_;
  state::State state_{dp_};
  Inspector inspector_{state_, dp_};
  std::map<std::string, uint32_t> vip_id_, backend_id_;
};

// ---- ListFlows
// ------------------------------------------------------------------------------------

TEST_F(InspectNatTest, ListFlowsMergesNatConnectionsWithBothTuplesMostRecentFirst) {
  putFlow(flowKey("192.0.2.1", 1000, "10.0.0.10", 80), "10.0.1.1", 300);
  putConnection({.client = "192.0.2.2", .cport = 2000, .vip = "10.0.0.20", .vport = 80,
                 .backend = "10.0.2.1", .bport = 8080,
                 .fwd_state = XLB_NAT_S_SEEN | XLB_NAT_S_ACK, .rev_state = XLB_NAT_S_SEEN},
                "dnat", 20);
  putConnection({.client = "192.0.2.3", .cport = 3000, .vip = "10.0.0.30", .vport = 443,
                 .backend = "10.0.3.2", .bport = 8443, .snat = "10.0.9.2", .sport = 61234},
                "full", 5000);
  auto r = list({});
  EXPECT_EQ(r.scanned(), 1u);
  EXPECT_EQ(r.nat_scanned(), 2u);
  EXPECT_EQ(r.matched(), 3u);
  EXPECT_FALSE(r.truncated());
  ASSERT_EQ(r.flows_size(), 3);
  EXPECT_EQ(r.flows(0).client_port(), 2000u);
  EXPECT_EQ(r.flows(1).client_port(), 1000u);
  EXPECT_EQ(r.flows(2).client_port(), 3000u);
  EXPECT_FALSE(r.flows(1).has_nat()) << "a dsr flow has no NAT tuple";

  const v1::Flow& n = r.flows(0);
  EXPECT_EQ(n.client_address(), "192.0.2.2");
  EXPECT_EQ(n.dst_address(), "10.0.0.20");
  EXPECT_EQ(n.dst_port(), 80u);
  EXPECT_EQ(n.vip_name(), "dnat");
  EXPECT_EQ(n.vip().port(), 80u);
  EXPECT_EQ(n.backend_id(), backend_id_["10.0.2.1"]);
  EXPECT_EQ(n.backend_address(), "10.0.2.1");
  EXPECT_TRUE(n.backend_current());
  EXPECT_EQ(n.idle_ms(), 20u);
  EXPECT_FALSE(n.closing());
  ASSERT_TRUE(n.has_nat());
  EXPECT_EQ(n.nat().forwarding(), v1::FORWARDING_MODE_NAT);
  EXPECT_EQ(n.nat().source_address(), "192.0.2.2") << "nat: the client's own source";
  EXPECT_EQ(n.nat().source_port(), 2000u);
  EXPECT_EQ(n.nat().backend_address(), "10.0.2.1");
  EXPECT_EQ(n.nat().backend_port(), 8080u);
  EXPECT_EQ(n.nat().state(), v1::NAT_STATE_ESTABLISHED);
  EXPECT_TRUE(n.nat().replied());
  EXPECT_TRUE(n.nat().answered());

  const v1::Flow& f = r.flows(2);
  EXPECT_EQ(f.vip_name(), "full");
  ASSERT_TRUE(f.has_nat());
  EXPECT_EQ(f.nat().forwarding(), v1::FORWARDING_MODE_FULLNAT);
  EXPECT_EQ(f.nat().source_address(), "10.0.9.2");
  EXPECT_EQ(f.nat().source_port(), 61234u);
  EXPECT_EQ(f.nat().backend_address(), "10.0.3.2");
  EXPECT_EQ(f.nat().backend_port(), 8443u);
  EXPECT_EQ(f.nat().state(), v1::NAT_STATE_SYN);
  EXPECT_FALSE(f.nat().replied());
  EXPECT_EQ(f.idle_ms(), 5000u);
}

TEST_F(InspectNatTest, ListFlowsFiltersNatConnectionsLikeFlows) {
  putFlow(flowKey("192.0.2.1", 1000, "10.0.0.10", 80), "10.0.1.1", 1);
  putConnection({.client = "192.0.2.1", .cport = 1001, .vip = "10.0.0.30", .vport = 443,
                 .backend = "10.0.3.1", .bport = 8443, .snat = "10.0.9.1", .sport = 61000},
                "full", 1);
  putConnection({.client = "192.0.2.9", .cport = 1000, .vip = "10.0.0.30", .vport = 443,
                 .backend = "10.0.3.2", .bport = 8443, .snat = "10.0.9.1", .sport = 61001},
                "full", 2);
  putConnection({.client = "198.51.100.1", .cport = 1000, .vip = "10.0.0.20", .vport = 80,
                 .backend = "10.0.2.2", .bport = 8080},
                "dnat", 3);

  v1::ListFlowsRequest req;
  req.set_vip_name("full");
  EXPECT_EQ(clients(list(req)), (std::set<std::string>{"192.0.2.1:1001", "192.0.2.9:1000"}));
  req.clear_vip_name();
  *req.mutable_vip() = config::VipKey{*parseIpAddress("10.0.0.20"), 80, v1::PROTOCOL_TCP}.toProto();
  EXPECT_EQ(clients(list(req)), (std::set<std::string>{"198.51.100.1:1000"}));
  req.clear_vip();

  req.set_backend("10.0.3.2");
  EXPECT_EQ(clients(list(req)), (std::set<std::string>{"192.0.2.9:1000"}));
  req.set_backend("10.0.3.2:8443");
  EXPECT_EQ(clients(list(req)), (std::set<std::string>{"192.0.2.9:1000"}));
  req.set_backend("10.0.3.2:443");
  EXPECT_EQ(list(req).matched(), 0u) << "the backend side's port is 8443";
  req.clear_backend();

  req.set_client("192.0.2.0/24");
  EXPECT_EQ(clients(list(req)),
            (std::set<std::string>{"192.0.2.1:1000", "192.0.2.1:1001", "192.0.2.9:1000"}));
  req.set_client_port(1000);
  EXPECT_EQ(clients(list(req)), (std::set<std::string>{"192.0.2.1:1000", "192.0.2.9:1000"}));
  req.clear_client();
  auto r = list(req);
  EXPECT_EQ(r.matched(), 3u) << "port 1000: one flow, two NAT connections";
  EXPECT_EQ(r.scanned(), 1u);
  EXPECT_EQ(r.nat_scanned(), 3u);
}

TEST_F(InspectNatTest, ListFlowsLimitAppliesToBothTablesTogether) {
  for (uint16_t i = 0; i < 4; ++i) {
    putFlow(flowKey("192.0.2.1", static_cast<uint16_t>(5000 + i), "10.0.0.10", 80), "10.0.1.1",
            10 * (2 * i + 1));
    putConnection({.client = "192.0.2.1", .cport = static_cast<uint16_t>(6000 + i),
                   .vip = "10.0.0.20", .vport = 80, .backend = "10.0.2.1", .bport = 8080},
                  "dnat", 10 * (2 * i));
  }
  v1::ListFlowsRequest req;
  req.set_limit(3);
  auto r = list(req);
  EXPECT_EQ(r.matched(), 8u);
  EXPECT_TRUE(r.truncated());
  ASSERT_EQ(r.flows_size(), 3);
  EXPECT_EQ(r.flows(0).client_port(), 6000u);  // idle 0
  EXPECT_EQ(r.flows(1).client_port(), 5000u);  // idle 10 ms
  EXPECT_EQ(r.flows(2).client_port(), 6001u);  // idle 20 ms
}

TEST_F(InspectNatTest, ListFlowsMarksANatConnectionWhoseBackendIsDown) {
  putConnection({.client = "192.0.2.5", .cport = 7000, .vip = "10.0.0.20", .vport = 80,
                 .backend = "10.0.2.2", .bport = 8080, .fwd_state = XLB_NAT_S_FIN},
                "dnat", 1);
  const uint32_t id = backend_id_["10.0.2.2"];
  xlb_backend down = dp_.backend(id);
  down.flags = 0;
  ASSERT_TRUE(dp_.upsertBackend(id, down).ok());
  auto r = list({});
  ASSERT_EQ(r.flows_size(), 1);
  EXPECT_FALSE(r.flows(0).backend_current());
  EXPECT_TRUE(r.flows(0).closing());
  EXPECT_EQ(r.flows(0).nat().state(), v1::NAT_STATE_CLOSING);
}

TEST_F(InspectNatTest, ListFlowsSkipsTheNatTableWithoutNatVips) {
  putConnection({.client = "192.0.2.5", .cport = 7000, .vip = "10.0.0.20", .vport = 80,
                 .backend = "10.0.2.2", .bport = 8080},
                "dnat", 1);
  EXPECT_EQ(list({}).nat_scanned(), 1u);
  for (const char* name : {"dnat", "full", "full6"}) {
    for (const auto& v : state_.ids()) {
      if (v.name == name) {
        ASSERT_TRUE(state_.deleteVip(v.key.toProto()).ok()) << name;
      }
    }
  }
  auto r = list({});
  EXPECT_EQ(r.nat_scanned(), 0u) << "no nat / fullnat VIP: the NAT table is not read";
  EXPECT_EQ(r.flows_size(), 0);
}

// ---- Explain: forward packets to nat / fullnat VIPs
// ---------------------------------------------------------------

TEST_F(InspectNatTest, ExplainNatHitNamesBothTuplesAndTheRecordedBackend) {
  putConnection({.client = "192.0.2.7", .cport = 40000, .vip = "10.0.0.30", .vport = 443,
                 .backend = "10.0.3.2", .bport = 8443, .snat = "10.0.9.1", .sport = 61500,
                 .fwd_state = XLB_NAT_S_SEEN | XLB_NAT_S_ACK, .rev_state = XLB_NAT_S_SEEN},
                "full", 420);
  auto r = explain("192.0.2.7", 40000, "10.0.0.30", 443);
  EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_NAT_HIT);
  EXPECT_TRUE(r.predictable());
  EXPECT_EQ(r.vip_name(), "full");
  EXPECT_EQ(r.forwarding(), v1::FORWARDING_MODE_FULLNAT);
  EXPECT_FALSE(r.flow_found()) << "the flow table is not consulted for NAT VIPs";
  EXPECT_EQ(r.backend().address(), "10.0.3.2:8443");
  EXPECT_EQ(r.backend().id(), backend_id_["10.0.3.2"]);
  ASSERT_TRUE(r.has_nat());
  EXPECT_TRUE(r.nat().found());
  EXPECT_FALSE(r.nat().reply());
  EXPECT_FALSE(r.nat().backend_gone());
  EXPECT_FALSE(r.nat().has_predicted());
  const v1::NatConnection& c = r.nat().recorded();
  EXPECT_EQ(c.client_address(), "192.0.2.7");
  EXPECT_EQ(c.vip_port(), 443u);
  EXPECT_EQ(c.source_address(), "10.0.9.1");
  EXPECT_EQ(c.source_port(), 61500u);
  EXPECT_EQ(c.backend_address(), "10.0.3.2");
  EXPECT_EQ(c.backend_port(), 8443u);
  EXPECT_EQ(c.state(), v1::NAT_STATE_ESTABLISHED);
  EXPECT_EQ(c.idle_ms(), 420u);
  EXPECT_EQ(r.summary(), "NAT hit (fullnat): 192.0.2.7:40000 -> 10.0.0.30:443 becomes "
                         "10.0.9.1:61500 -> 10.0.3.2:8443 (backend id " +
                             std::to_string(backend_id_["10.0.3.2"]) +
                             "), established, idle 420ms; a SYN without ACK on this tuple would "
                             "reopen the pair as a new connection (tuple reuse)");
  EXPECT_EQ(r.drop_reason(), "");
}

TEST_F(InspectNatTest, ExplainNatHitBeforeTheHandshakeCompletedKeepsTheEntryForASyn) {
  putConnection({.client = "192.0.2.8", .cport = 40001, .vip = "10.0.0.30", .vport = 443,
                 .backend = "10.0.3.2", .bport = 8443, .snat = "10.0.9.1", .sport = 61501,
                 .fwd_state = XLB_NAT_S_SEEN, .rev_state = XLB_NAT_S_SEEN},
                "full", 20);
  auto r = explain("192.0.2.8", 40001, "10.0.0.30", 443);
  EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_NAT_HIT);
  EXPECT_EQ(r.nat().recorded().state(), v1::NAT_STATE_SYN);
  EXPECT_EQ(r.summary().find("tuple reuse"), std::string::npos)
      << "a SYN here is a retransmit: " << r.summary();
}

TEST_F(InspectNatTest, ExplainNewNatConnectionPredictsTheBackendAndTheDestinationRewrite) {
  std::set<std::string> seen;
  for (uint16_t port = 30000; port < 30020; ++port) {
    auto r = explain("192.0.2.1", port, "10.0.0.20", 80);
    EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_NEW_FLOW);
    EXPECT_EQ(r.forwarding(), v1::FORWARDING_MODE_NAT);
    EXPECT_EQ(r.hash_input(), "5-tuple");
    const std::string want = hashBackend("dnat", flowKey("192.0.2.1", port, "10.0.0.20", 80));
    EXPECT_EQ(r.backend().address(), want + ":8080");
    ASSERT_TRUE(r.has_nat());
    EXPECT_FALSE(r.nat().found());
    const v1::NatConnection& p = r.nat().predicted();
    EXPECT_EQ(p.client_address(), "192.0.2.1");
    EXPECT_EQ(p.client_port(), port);
    EXPECT_EQ(p.vip_address(), "10.0.0.20");
    EXPECT_EQ(p.source_address(), "192.0.2.1");
    EXPECT_EQ(p.source_port(), port);
    EXPECT_EQ(p.backend_address(), want);
    EXPECT_EQ(p.backend_port(), 8080u);
    EXPECT_EQ(p.forwarding(), v1::FORWARDING_MODE_NAT);
    EXPECT_EQ(r.nat().snat_addresses_size(), 0);
    EXPECT_NE(r.summary().find("new NAT connection (no NAT entry): maglev hashes the 5-tuple"),
              std::string::npos)
        << r.summary();
    EXPECT_NE(r.summary().find("nat rewrites the destination: 192.0.2.1:" + std::to_string(port) +
                               " -> 10.0.0.20:80 becomes 192.0.2.1:" + std::to_string(port) +
                               " -> " + want + ":8080"),
              std::string::npos)
        << r.summary();
    seen.insert(want);
  }
  EXPECT_EQ(seen.size(), 2u);
}

TEST_F(InspectNatTest, ExplainNewFullnatConnectionNamesThePoolOfTheFamily) {
  auto r = explain("192.0.2.1", 30000, "10.0.0.30", 443);
  EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_NEW_FLOW);
  const std::string want = hashBackend("full", flowKey("192.0.2.1", 30000, "10.0.0.30", 443));
  const v1::NatConnection& p = r.nat().predicted();
  EXPECT_EQ(p.source_address(), "") << "allocated at creation";
  EXPECT_EQ(p.source_port(), 0u);
  EXPECT_EQ(p.backend_address(), want);
  EXPECT_EQ(p.backend_port(), 8443u);
  ASSERT_EQ(r.nat().snat_addresses_size(), 2);
  EXPECT_EQ(r.nat().snat_addresses(0), "10.0.9.1");
  EXPECT_EQ(r.nat().snat_addresses(1), "10.0.9.2");
  EXPECT_EQ(r.nat().snat_port_min(), 61000u);
  EXPECT_EQ(r.nat().snat_port_max(), 61999u);
  EXPECT_NE(r.summary().find("fullnat rewrites source and destination: 192.0.2.1:30000 -> "
                             "10.0.0.30:443 becomes SNAT address 10.0.9.1 or 10.0.9.2 (port "
                             "allocated from 61000-61999 when the connection is created) -> " +
                             want + ":8443"),
            std::string::npos)
      << r.summary();

  auto r6 = explain("2001:db8:c::1", 30000, "2001:db8::30", 443);
  EXPECT_EQ(r6.decision(), v1::ExplainResponse::DECISION_NEW_FLOW) << r6.summary();
  ASSERT_EQ(r6.nat().snat_addresses_size(), 1);
  EXPECT_EQ(r6.nat().snat_addresses(0), "fd00:9::1");
  EXPECT_EQ(r6.nat().predicted().backend_port(), 443u) << "port 0: the VIP's";

  // A pool without an address of the family (as the data plane would hold it): refused.
  ASSERT_TRUE(dp_.setSnat(vip_id_["full6"], xlb_snat{}).ok());
  r6 = explain("2001:db8:c::1", 30000, "2001:db8::30", 443);
  EXPECT_EQ(r6.decision(), v1::ExplainResponse::DECISION_DROP);
  EXPECT_EQ(r6.drop_reason(), "nat_no_port");
  EXPECT_FALSE(r6.has_backend());
  EXPECT_NE(r6.summary().find("fullnat finds no IPv6 address"), std::string::npos) << r6.summary();
}

TEST_F(InspectNatTest, ExplainReCreatesAConnectionWhoseBackendIsGone) {
  putConnection({.client = "192.0.2.7", .cport = 41000, .vip = "10.0.0.20", .vport = 80,
                 .backend = "10.0.2.1", .bport = 8080},
                "dnat", 5);
  const uint32_t id = backend_id_["10.0.2.1"];
  xlb_backend down = dp_.backend(id);
  down.flags = 0;
  ASSERT_TRUE(dp_.upsertBackend(id, down).ok());
  std::vector<uint32_t> table = dp_.table(vip_id_["dnat"]);
  for (auto& slot : table)
    if (slot == id) slot = backend_id_["10.0.2.2"];
  ASSERT_TRUE(dp_.setSelectionTable(vip_id_["dnat"], table).ok());

  auto r = explain("192.0.2.7", 41000, "10.0.0.20", 80);
  EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_RESTEER);
  EXPECT_TRUE(r.nat().found());
  EXPECT_TRUE(r.nat().backend_gone());
  EXPECT_EQ(r.nat().recorded().backend_address(), "10.0.2.1");
  EXPECT_EQ(r.nat().predicted().backend_address(), "10.0.2.2");
  EXPECT_EQ(r.backend().address(), "10.0.2.2:8080");
  EXPECT_NE(r.summary().find("is not active (health-down or removed): the next packet deletes "
                             "both entries and creates a new connection"),
            std::string::npos)
      << r.summary();
}

TEST_F(InspectNatTest, ExplainNatRefusalsHairpinAndCollision) {
  // A nat backend connecting to its own VIP, picked by the hash: refused; to the other backend it
  // is served.
  bool refused = false, served = false;
  for (uint16_t port = 20000; port < 20100 && !(refused && served); ++port) {
    auto r = explain("10.0.2.1", port, "10.0.0.20", 80);
    const std::string chosen = hashBackend("dnat", flowKey("10.0.2.1", port, "10.0.0.20", 80));
    if (chosen == "10.0.2.1") {
      EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_DROP);
      EXPECT_EQ(r.drop_reason(), "nat_hairpin");
      EXPECT_EQ(r.nat().predicted().backend_address(), "10.0.2.1");
      refused = true;
    } else {
      EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_NEW_FLOW) << r.summary();
      served = true;
    }
  }
  EXPECT_TRUE(refused && served);

  // The reply tuple the new connection needs is another connection's (same client endpoint to the
  // same backend:port through another VIP).
  const auto k = flowKey("192.0.2.50", 7000, "10.0.0.20", 80);
  const std::string chosen = hashBackend("dnat", k);
  PairSpec other{.client = "192.0.2.50", .cport = 7000, .vip = "10.0.0.21", .vport = 80,
                 .backend = chosen, .bport = 8080};
  Pair p = makePair(other);
  dp_.putNat(p.rev_key, p.rev);
  auto r = explain("192.0.2.50", 7000, "10.0.0.20", 80);
  EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_DROP);
  EXPECT_EQ(r.drop_reason(), "nat_collision");
  EXPECT_NE(r.summary().find("its reply tuple " + chosen + ":8080 -> 192.0.2.50:7000 belongs to "
                             "another NAT connection"),
            std::string::npos)
      << r.summary();
}

// ---- Explain: packets to no VIP (replies)
// ---------------------------------------------------------------

TEST_F(InspectNatTest, ExplainReplyOfAConnectionIsTranslatedBackToTheClient) {
  putConnection({.client = "192.0.2.7", .cport = 40000, .vip = "10.0.0.30", .vport = 443,
                 .backend = "10.0.3.2", .bport = 8443, .snat = "10.0.9.1", .sport = 61500},
                "full", 30);
  auto r = explain("10.0.3.2", 8443, "10.0.9.1", 61500);
  EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_NAT_REPLY);
  EXPECT_TRUE(r.predictable());
  EXPECT_EQ(r.vip_name(), "full");
  EXPECT_EQ(r.vip().port(), 443u);
  EXPECT_EQ(r.forwarding(), v1::FORWARDING_MODE_FULLNAT);
  EXPECT_EQ(r.backend().address(), "10.0.3.2:8443");
  EXPECT_TRUE(r.nat().found());
  EXPECT_TRUE(r.nat().reply());
  EXPECT_EQ(r.nat().recorded().client_address(), "192.0.2.7");
  EXPECT_EQ(r.nat().recorded().source_port(), 61500u);
  EXPECT_EQ(r.summary(), "NAT reply (fullnat): 10.0.3.2:8443 -> 10.0.9.1:61500 is the backend "
                         "side of 192.0.2.7:40000 -> 10.0.0.30:443 (backend id " +
                             std::to_string(backend_id_["10.0.3.2"]) +
                             "), syn: translated back to 10.0.0.30:443 -> 192.0.2.7:40000 and "
                             "sent out the way the client's packets came in");

  putConnection({.client = "192.0.2.8", .cport = 40001, .vip = "10.0.0.20", .vport = 80,
                 .backend = "10.0.2.1", .bport = 8080},
                "dnat", 30);
  r = explain("10.0.2.1", 8080, "192.0.2.8", 40001);
  EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_NAT_REPLY);
  EXPECT_EQ(r.forwarding(), v1::FORWARDING_MODE_NAT);
  EXPECT_EQ(r.nat().recorded().vip_address(), "10.0.0.20");
}

TEST_F(InspectNatTest, ExplainReplyWithoutAConnectionIsDroppedOnlyWhenItComesFromANatEndpoint) {
  auto r = explain("10.0.3.2", 8443, "10.0.9.1", 61501);
  EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_DROP);
  EXPECT_EQ(r.drop_reason(), "nat_reply_miss");
  EXPECT_NE(r.summary().find("goes to the SNAT address 10.0.9.1 at a port of the NAT range "
                             "61000-61999, but no NAT connection has this reply tuple"),
            std::string::npos)
      << r.summary();
  r = explain("10.0.2.1", 8080, "192.0.2.99", 5555);
  EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_DROP);
  EXPECT_EQ(r.drop_reason(), "nat_reply_miss");
  EXPECT_NE(r.summary().find("comes from the nat backend endpoint 10.0.2.1:8080"),
            std::string::npos)
      << r.summary();
  // Not from a nat endpoint, not to a SNAT address in the range: an ordinary non-VIP packet.
  for (auto [src, sport, dst, dport] :
       {std::tuple{"10.0.2.1", 9999, "192.0.2.99", 5555},
        std::tuple{"10.0.3.2", 8443, "10.0.9.1", 60000},
        std::tuple{"10.0.3.2", 8443, "10.0.9.7", 61500}}) {
    r = explain(src, sport, dst, dport);
    EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_PASS) << src << " " << r.summary();
    EXPECT_FALSE(r.has_nat());
  }
}

}  // namespace
}  // namespace xlb::inspect
