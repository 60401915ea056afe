// SPDX-License-Identifier: Apache-2.0
// The Inspector service (ListFlows filters, Explain decisions and input errors) over a real gRPC
// server on a unix socket, backed by State + the fake data plane. tests/bpf/explain_test.cc proves
// Explain's predictions against the real XDP program.
#include "api/inspect.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "config/yaml.h"
#include "dataplane/fake_dataplane.h"
#include "dataplane/flow_hash.h"
#include "flow_key.h"
#include "inspect_helpers.h"
#include "spdlog/spdlog.h"
#include "state/state.h"
#include "xlb/v1/inspect.grpc.pb.h"
#include "xlb/v1/xlb.grpc.pb.h"

namespace xlb::api {
namespace {

using ::xlb::test::flowKey;

const bool kQuiet = (spdlog::set_level(spdlog::level::err), true);

constexpr uint64_t kMs = 1000000;

// web: maglev over three backends; all: a port-0 (every port) TCP VIP on another address, with
// source_hash; rr: an IPv6 round_robin VIP with weights 2:1; lc: least_conn; mixed: an exact
// VIP on the wildcard VIP's address, which takes port 443 away from it.
constexpr const char* kConfig = R"(
vips:
  - name: web
    address: 10.0.0.10
    port: 80
    protocol: tcp
    maglev_table_size: 1021
    backends:
      - {address: 10.0.1.1}
      - {address: 10.0.1.2}
      - {address: 10.0.1.3}
  - name: all
    address: 10.0.0.20
    port: 0
    protocol: tcp
    algorithm: source_hash
    forwarding: ipip
    maglev_table_size: 1021
    backends:
      - {address: 10.0.1.4}
  - name: tls
    address: 10.0.0.20
    port: 443
    protocol: tcp
    maglev_table_size: 1021
    backends:
      - {address: 10.0.1.5}
  - name: rr
    address: 2001:db8::10
    port: 80
    protocol: tcp
    algorithm: round_robin
    backends:
      - {address: 2001:db8:1::1, weight: 2}
      - {address: 2001:db8:1::2}
  - name: lc
    address: 10.0.0.30
    port: 53
    protocol: udp
    algorithm: least_conn
    maglev_table_size: 1021
    backends:
      - {address: 10.0.1.6}
      - {address: 10.0.1.7, weight: 3}
)";

std::string makeTempDir() {
  std::string tmpl = std::filesystem::temp_directory_path().string() + "/xlb-inspect-test-XXXXXX";
  char* dir = mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  return tmpl;
}

class InspectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = config::parseConfigYaml(kConfig);
    ASSERT_TRUE(config.ok()) << config.status();
    ASSERT_TRUE(state_.applyConfig(*config, false, nullptr).ok());
    for (const auto& v : state_.ids()) {
      vip_id_[v.name] = v.id;
      for (const auto& b : v.backends) backend_id_[b.address] = b.id;
    }
    dir_ = makeTempDir();
    const std::string target = "unix://" + dir_ + "/inspect.sock";
    grpc::ServerBuilder builder;
    builder.AddListeningPort(target, grpc::InsecureServerCredentials());
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Inspector::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  // Records a flow on `backend` (by address) as the data plane would, seen `idle_ms` ago.
  void putFlow(const xlb_flow_key& k, const std::string& backend, uint64_t idle_ms,
               uint32_t flags = 0) {
    const uint32_t id = backend_id_.at(backend);
    dp_.putFlow(k, {id, dp_.backend(id).gen, dp_.monotonicNowNs() - idle_ms * kMs, flags, 0});
  }

  grpc::Status list(const v1::ListFlowsRequest& req, v1::ListFlowsResponse* resp) {
    grpc::ClientContext ctx;
    return stub_->ListFlows(&ctx, req, resp);
  }
  v1::ListFlowsResponse listOk(const v1::ListFlowsRequest& req) {
    v1::ListFlowsResponse resp;
    auto st = list(req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }
  grpc::Status explain(const std::string& src, uint32_t sport, const std::string& dst,
                       uint32_t dport, v1::Protocol proto, v1::ExplainResponse* resp) {
    grpc::ClientContext ctx;
    return stub_->Explain(&ctx, test::explainRequest(src, sport, dst, dport, proto), resp);
  }
  v1::ExplainResponse explainOk(const std::string& src, uint32_t sport, const std::string& dst,
                                uint32_t dport, v1::Protocol proto = v1::PROTOCOL_TCP) {
    v1::ExplainResponse resp;
    auto st = explain(src, sport, dst, dport, proto, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }
  // The backend address the fake's table holds in the slot `hash` picks.
  std::string slotBackend(const std::string& vip, uint32_t hash) {
    return test::slotBackend(dp_, vip_id_.at(vip), hash, backend_id_);
  }
  static std::set<std::string> clients(const v1::ListFlowsResponse& r) {
    return test::flowClients(r);
  }

  dataplane::FakeDataplane dp_;
  state::State state_{dp_};
  InspectorService service_{state_, dp_};
  std::map<std::string, uint32_t> vip_id_, backend_id_;
  std::string dir_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Inspector::Stub> stub_;
};

// ---- ListFlows
// ------------------------------------------------------------------------------------

TEST_F(InspectTest, ListFlowsReturnsEveryFlowMostRecentFirstWithItsVipAndBackend) {
  putFlow(flowKey("192.0.2.1", 1000, "10.0.0.10", 80), "10.0.1.1", 5000);
  putFlow(flowKey("192.0.2.2", 1001, "10.0.0.10", 80), "10.0.1.2", 10);
  putFlow(flowKey("192.0.2.3", 1002, "10.0.0.20", 8080), "10.0.1.4", 300, XLB_FLOW_F_CLOSING);
  auto r = listOk({});
  EXPECT_EQ(r.scanned(), 3u);
  EXPECT_EQ(r.matched(), 3u);
  EXPECT_FALSE(r.truncated());
  ASSERT_EQ(r.flows_size(), 3);
  EXPECT_EQ(r.flows(0).client_address(), "192.0.2.2");
  EXPECT_EQ(r.flows(1).client_address(), "192.0.2.3");
  EXPECT_EQ(r.flows(2).client_address(), "192.0.2.1");

  const v1::Flow& f = r.flows(0);
  EXPECT_EQ(f.client_port(), 1001u);
  EXPECT_EQ(f.dst_address(), "10.0.0.10");
  EXPECT_EQ(f.dst_port(), 80u);
  EXPECT_EQ(f.protocol(), v1::PROTOCOL_TCP);
  EXPECT_EQ(f.vip().address(), "10.0.0.10");
  EXPECT_EQ(f.vip().port(), 80u);
  EXPECT_EQ(f.vip_name(), "web");
  EXPECT_EQ(f.backend_address(), "10.0.1.2");
  EXPECT_EQ(f.backend_id(), backend_id_["10.0.1.2"]);
  EXPECT_TRUE(f.backend_current());
  EXPECT_EQ(f.idle_ms(), 10u);
  EXPECT_FALSE(f.closing());

  // A port-8080 flow to the wildcard VIP's address belongs to the port-0 VIP.
  EXPECT_EQ(r.flows(1).vip_name(), "all");
  EXPECT_EQ(r.flows(1).vip().port(), 0u);
  EXPECT_TRUE(r.flows(1).closing());
}

TEST_F(InspectTest, ListFlowsFiltersByClientAddressPrefixAndPort) {
  putFlow(flowKey("192.0.2.1", 1000, "10.0.0.10", 80), "10.0.1.1", 1);
  putFlow(flowKey("192.0.2.1", 1001, "10.0.0.10", 80), "10.0.1.2", 1);
  putFlow(flowKey("192.0.2.77", 1000, "10.0.0.10", 80), "10.0.1.3", 1);
  putFlow(flowKey("198.51.100.1", 1000, "10.0.0.10", 80), "10.0.1.1", 1);
  putFlow(flowKey("2001:db8:2::1", 1000, "2001:db8::10", 80), "2001:db8:1::1", 1);

  v1::ListFlowsRequest req;
  req.set_client("192.0.2.1");
  EXPECT_EQ(clients(listOk(req)), (std::set<std::string>{"192.0.2.1:1000", "192.0.2.1:1001"}));
  req.set_client("192.0.2.0/24");
  EXPECT_EQ(clients(listOk(req)),
            (std::set<std::string>{"192.0.2.1:1000", "192.0.2.1:1001", "192.0.2.77:1000"}));
  req.set_client_port(1000);
  EXPECT_EQ(clients(listOk(req)), (std::set<std::string>{"192.0.2.1:1000", "192.0.2.77:1000"}));
  req.clear_client();
  EXPECT_EQ(listOk(req).matched(), 4u) << "port alone matches every client on that port";
  req.set_client("2001:db8:2::/48");
  req.set_client_port(0);
  auto r = listOk(req);
  EXPECT_EQ(clients(r), (std::set<std::string>{"2001:db8:2::1:1000"}));
  EXPECT_EQ(r.flows(0).vip_name(), "rr");
  EXPECT_EQ(r.scanned(), 5u);
}

TEST_F(InspectTest, ListFlowsFiltersByVipKeyNameAndBackend) {
  putFlow(flowKey("192.0.2.1", 1000, "10.0.0.10", 80), "10.0.1.1", 1);
  putFlow(flowKey("192.0.2.1", 1001, "10.0.0.10", 80), "10.0.1.2", 1);
  putFlow(flowKey("192.0.2.1", 1002, "10.0.0.20", 8080), "10.0.1.4", 1);
  putFlow(flowKey("192.0.2.1", 1003, "10.0.0.20", 443), "10.0.1.5", 1);

  v1::ListFlowsRequest req;
  req.mutable_vip()->set_address("10.0.0.10");
  req.mutable_vip()->set_port(80);
  req.mutable_vip()->set_protocol(v1::PROTOCOL_TCP);
  EXPECT_EQ(clients(listOk(req)), (std::set<std::string>{"192.0.2.1:1000", "192.0.2.1:1001"}));

  // The port-0 VIP does not own port 443: the exact VIP "tls" does.
  req.mutable_vip()->set_address("10.0.0.20");
  req.mutable_vip()->set_port(0);
  EXPECT_EQ(clients(listOk(req)), (std::set<std::string>{"192.0.2.1:1002"}));
  req.clear_vip();
  req.set_vip_name("tls");
  EXPECT_EQ(clients(listOk(req)), (std::set<std::string>{"192.0.2.1:1003"}));

  req.clear_vip_name();
  req.set_backend("10.0.1.2");
  EXPECT_EQ(clients(listOk(req)), (std::set<std::string>{"192.0.2.1:1001"}));
  req.set_backend("10.0.9.9");
  EXPECT_EQ(listOk(req).flows_size(), 0);
}

TEST_F(InspectTest, ListFlowsLimitKeepsTheMostRecentAndSaysTruncated) {
  for (uint16_t i = 0; i < 50; ++i)
    putFlow(flowKey("192.0.2.1", static_cast<uint16_t>(2000 + i), "10.0.0.10", 80), "10.0.1.1",
            1000 + i);
  v1::ListFlowsRequest req;
  req.set_limit(5);
  auto r = listOk(req);
  EXPECT_EQ(r.scanned(), 50u);
  EXPECT_EQ(r.matched(), 50u);
  EXPECT_TRUE(r.truncated());
  ASSERT_EQ(r.flows_size(), 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(r.flows(i).client_port(), 2000u + i);
  req.set_limit(0);
  EXPECT_EQ(listOk(req).flows_size(), 50) << "0 means the default (100)";
}

TEST_F(InspectTest, ListFlowsShowsFlowsWhoseBackendIsGoneAsNotCurrent) {
  putFlow(flowKey("192.0.2.1", 1000, "10.0.0.10", 80), "10.0.1.1", 1);
  const uint32_t id = backend_id_["10.0.1.1"];
  // Health-down: the slot keeps its gen, ACTIVE cleared.
  xlb_backend down = dp_.backend(id);
  down.flags = 0;
  ASSERT_TRUE(dp_.upsertBackend(id, down).ok());
  auto r = listOk({});
  ASSERT_EQ(r.flows_size(), 1);
  EXPECT_EQ(r.flows(0).backend_address(), "10.0.1.1");
  EXPECT_FALSE(r.flows(0).backend_current());
  // Reassigned: a new generation on the id no longer names this flow's backend.
  down.gen += 1;
  down.flags = XLB_BE_F_ACTIVE;
  ASSERT_TRUE(dp_.upsertBackend(id, down).ok());
  r = listOk({});
  EXPECT_EQ(r.flows(0).backend_address(), "");
  EXPECT_FALSE(r.flows(0).backend_current());
  v1::ListFlowsRequest req;
  req.set_backend("10.0.1.1");
  EXPECT_EQ(listOk(req).flows_size(), 0);
}

TEST_F(InspectTest, ListFlowsRejectsBadFiltersNamingEveryFieldAndValue) {
  v1::ListFlowsRequest req;
  req.set_client("192.0.2.300");
  req.set_backend("not-an-ip");
  req.set_client_port(70000);
  req.set_limit(10001);
  req.mutable_vip()->set_address("10.0.0.10");
  req.mutable_vip()->set_port(80);
  req.mutable_vip()->set_protocol(v1::PROTOCOL_TCP);
  req.set_vip_name("web");
  v1::ListFlowsResponse resp;
  auto st = list(req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  for (const char* want : {"client: \"192.0.2.300\"", "backend: \"not-an-ip\"",
                           "client_port: 70000 is not in [0, 65535]",
                           "limit: 10001 is not in [0, 10000]", "vip_name: \"web\" given together"})
    EXPECT_NE(st.error_message().find(want), std::string::npos)
        << want << " in " << st.error_message();

  v1::ListFlowsRequest host_bits;
  host_bits.set_client("192.0.2.1/24");
  st = list(host_bits, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("client: \"192.0.2.1/24\": host bits are set"),
            std::string::npos)
      << st.error_message();

  v1::ListFlowsRequest bad_vip;
  bad_vip.mutable_vip()->set_address("10.0.0.10");
  bad_vip.mutable_vip()->set_port(80);
  st = list(bad_vip, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("vip.protocol: missing"), std::string::npos)
      << st.error_message();

  bad_vip.mutable_vip()->set_protocol(v1::PROTOCOL_UDP);
  st = list(bad_vip, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message(), "vip: no VIP 10.0.0.10:80/udp");
  v1::ListFlowsRequest by_name;
  by_name.set_vip_name("nope");
  st = list(by_name, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message(), "vip_name: no VIP named \"nope\"");
}

TEST_F(InspectTest, ListFlowsReportsAFailedTableRead) {
  dp_.failForEachFlow(absl::InternalError("read map xlb_flows: boom"));
  v1::ListFlowsResponse resp;
  auto st = list({}, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(st.error_message(), "read map xlb_flows: boom");
}

// ---- Explain
// ---------------------------------------------------------------------------------------

TEST_F(InspectTest, ExplainPassesPacketsForNoVip) {
  auto r = explainOk("192.0.2.1", 1000, "10.0.0.10", 81);
  EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_PASS);
  EXPECT_EQ(r.summary(), "XDP_PASS to the kernel: no VIP 10.0.0.10:81/tcp");
  EXPECT_FALSE(r.has_vip());
  r = explainOk("192.0.2.1", 1000, "10.0.0.10", 80, v1::PROTOCOL_UDP);
  EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_PASS);
}

TEST_F(InspectTest, ExplainNewMaglevFlowNamesHashSlotAndBackend) {
  std::set<std::string> seen;
  for (uint16_t port = 1000; port < 1040; ++port) {
    auto r = explainOk("192.0.2.1", port, "10.0.0.10", 80);
    EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_NEW_FLOW);
    EXPECT_TRUE(r.predictable());
    EXPECT_FALSE(r.flow_found());
    EXPECT_EQ(r.vip_name(), "web");
    EXPECT_EQ(r.algorithm(), v1::ALGORITHM_MAGLEV);
    EXPECT_EQ(r.forwarding(), v1::FORWARDING_MODE_DSR);
    EXPECT_EQ(r.hash_input(), "5-tuple");
    EXPECT_EQ(r.table_size(), 1021u);
    const uint32_t hash = dataplane::flowHash(flowKey("192.0.2.1", port, "10.0.0.10", 80));
    EXPECT_EQ(r.hash(), hash);
    EXPECT_EQ(r.slot(), dataplane::slotOfHash(hash, 1021));
    EXPECT_EQ(r.backend().address(), slotBackend("web", hash));
    EXPECT_TRUE(r.backend().active());
    EXPECT_GT(r.backend().table_slots(), 300u) << "three equal weights share 1021 slots";
    EXPECT_NE(r.summary().find("maglev hashes the 5-tuple"), std::string::npos) << r.summary();
    EXPECT_NE(r.summary().find("-> " + r.backend().address()), std::string::npos) << r.summary();
    EXPECT_NE(r.summary().find("forwarded by dsr"), std::string::npos) << r.summary();
    seen.insert(r.backend().address());
  }
  EXPECT_EQ(seen.size(), 3u);
}

TEST_F(InspectTest, ExplainSourceHashOnTheWildcardVipIgnoresTheClientPort) {
  auto a = explainOk("192.0.2.9", 1000, "10.0.0.20", 8080);
  auto b = explainOk("192.0.2.9", 2000, "10.0.0.20", 9090);
  EXPECT_EQ(a.decision(), v1::ExplainResponse::DECISION_NEW_FLOW);
  EXPECT_EQ(a.vip_name(), "all");
  EXPECT_EQ(a.vip().port(), 0u);
  EXPECT_EQ(a.algorithm(), v1::ALGORITHM_SOURCE_HASH);
  EXPECT_EQ(a.forwarding(), v1::FORWARDING_MODE_IPIP);
  EXPECT_EQ(a.hash_input(), "client address");
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_EQ(a.hash(), dataplane::sourceHash(flowKey("192.0.2.9", 1, "10.0.0.20", 8080), false));
  EXPECT_EQ(a.backend().address(), "10.0.1.4");
  EXPECT_NE(a.summary().find("ipip"), std::string::npos);
  // Port 443 has an exact VIP of its own.
  EXPECT_EQ(explainOk("192.0.2.9", 1000, "10.0.0.20", 443).vip_name(), "tls");
}

TEST_F(InspectTest, ExplainFlowHitFollowsTheRecordedBackendEvenAgainstTheHash) {
  const auto key = flowKey("192.0.2.1", 1234, "10.0.0.10", 80);
  const std::string by_hash = slotBackend("web", dataplane::flowHash(key));
  const std::string other = by_hash == "10.0.1.1" ? "10.0.1.2" : "10.0.1.1";
  putFlow(key, other, 420);
  auto r = explainOk("192.0.2.1", 1234, "10.0.0.10", 80);
  EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_FLOW_HIT);
  EXPECT_TRUE(r.flow_found());
  EXPECT_EQ(r.backend().address(), other);
  EXPECT_EQ(r.flow_backend().address(), other);
  EXPECT_EQ(r.flow_idle_ms(), 420u);
  EXPECT_FALSE(r.flow_closing());
  EXPECT_FALSE(r.has_syn_backend());
  EXPECT_EQ(r.summary(), "flow-table hit: " + other + " (backend id " +
                             std::to_string(backend_id_[other]) +
                             "), idle 420ms; forwarded by dsr (MAC rewrite)");

  // Closing: non-SYN packets still follow it, a new SYN would run the algorithm.
  putFlow(key, other, 420, XLB_FLOW_F_CLOSING);
  r = explainOk("192.0.2.1", 1234, "10.0.0.10", 80);
  EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_FLOW_HIT);
  EXPECT_TRUE(r.flow_closing());
  EXPECT_EQ(r.backend().address(), other);
  EXPECT_EQ(r.syn_backend().address(), by_hash);
  EXPECT_NE(r.summary().find("a new SYN would run maglev"), std::string::npos) << r.summary();
}

TEST_F(InspectTest, ExplainResteersAFlowWhoseBackendIsDown) {
  const auto key = flowKey("192.0.2.1", 4321, "10.0.0.10", 80);
  putFlow(key, "10.0.1.3", 5);
  const uint32_t id = backend_id_["10.0.1.3"];
  xlb_backend down = dp_.backend(id);
  down.flags = 0;
  ASSERT_TRUE(dp_.upsertBackend(id, down).ok());
  // The agent swaps the table to the remaining backends when one goes down.
  std::vector<uint32_t> table = dp_.table(vip_id_["web"]);
  for (auto& slot : table)
    if (slot == id) slot = backend_id_["10.0.1.1"];
  ASSERT_TRUE(dp_.setSelectionTable(vip_id_["web"], table).ok());

  auto r = explainOk("192.0.2.1", 4321, "10.0.0.10", 80);
  EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_RESTEER);
  EXPECT_TRUE(r.flow_found());
  EXPECT_EQ(r.flow_backend().address(), "10.0.1.3");
  EXPECT_FALSE(r.flow_backend().active());
  EXPECT_EQ(r.backend().address(), slotBackend("web", dataplane::flowHash(key)));
  EXPECT_NE(r.backend().address(), "10.0.1.3");
  EXPECT_NE(r.summary().find("is not active"), std::string::npos) << r.summary();
  EXPECT_NE(r.summary().find("re-steered"), std::string::npos) << r.summary();
}

TEST_F(InspectTest, ExplainSaysRoundRobinAndLeastConnAreNotPredictableAndListsCandidates) {
  auto r = explainOk("2001:db8:2::1", 1000, "2001:db8::10", 80);
  EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_NEW_FLOW);
  EXPECT_FALSE(r.predictable());
  EXPECT_FALSE(r.has_backend());
  EXPECT_EQ(r.algorithm(), v1::ALGORITHM_ROUND_ROBIN);
  ASSERT_EQ(r.candidates_size(), 2);
  std::map<std::string, uint32_t> weights, slots;
  for (const auto& c : r.candidates()) {
    weights[c.address()] = c.weight();
    slots[c.address()] = c.table_slots();
  }
  EXPECT_EQ(weights["2001:db8:1::1"], 2u);
  EXPECT_EQ(weights["2001:db8:1::2"], 1u);
  EXPECT_EQ(slots["2001:db8:1::1"], 2 * slots["2001:db8:1::2"]);
  EXPECT_NE(r.summary().find("not predictable per packet"), std::string::npos) << r.summary();

  dp_.setOpenFlowsDirect(backend_id_["10.0.1.6"], 17);
  r = explainOk("192.0.2.1", 1000, "10.0.0.30", 53, v1::PROTOCOL_UDP);
  EXPECT_EQ(r.algorithm(), v1::ALGORITHM_LEAST_CONN);
  EXPECT_FALSE(r.predictable());
  ASSERT_EQ(r.candidates_size(), 2);
  for (const auto& c : r.candidates())
    EXPECT_EQ(c.open_flows(), c.address() == "10.0.1.6" ? 17u : 0u) << c.address();
  EXPECT_NE(r.summary().find("17 open"), std::string::npos) << r.summary();
}

TEST_F(InspectTest, ExplainNamesADrainingBackendAndAVipWithoutBackends) {
  v1::VipKey web;
  web.set_address("10.0.0.10");
  web.set_port(80);
  web.set_protocol(v1::PROTOCOL_TCP);
  const auto key = flowKey("192.0.2.1", 999, "10.0.0.10", 80);
  putFlow(key, "10.0.1.2", 1);
  ASSERT_TRUE(state_.drainBackend(web, "10.0.1.2").ok());
  auto r = explainOk("192.0.2.1", 999, "10.0.0.10", 80);
  EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_FLOW_HIT)
      << "a draining backend keeps flows";
  EXPECT_TRUE(r.backend().draining());
  EXPECT_EQ(r.backend().table_slots(), 0u);

  for (const char* b : {"10.0.1.1", "10.0.1.2", "10.0.1.3"})
    ASSERT_TRUE(state_.deleteBackend(web, b).ok());
  r = explainOk("192.0.2.1", 1000, "10.0.0.10", 80);
  EXPECT_EQ(r.decision(), v1::ExplainResponse::DECISION_NO_BACKEND);
  EXPECT_NE(r.summary().find("dropped (no_backend)"), std::string::npos) << r.summary();
}

TEST_F(InspectTest, ExplainRejectsBadInputNamingEveryField) {
  v1::ExplainResponse resp;
  auto st = explain("192.0.2.1", 70000, "10.0.0.10.1", 65536, v1::PROTOCOL_UNSPECIFIED, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  for (const char* want :
       {"src_port: 70000 is not in [0, 65535]", "dst_address: \"10.0.0.10.1\" is not an IPv4",
        "dst_port: 65536 is not in [0, 65535]", "protocol: missing (tcp or udp)"})
    EXPECT_NE(st.error_message().find(want), std::string::npos)
        << want << " in " << st.error_message();
  st = explain("", 1, "2001:db8::10", 80, v1::PROTOCOL_TCP, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("src_address: missing"), std::string::npos);
  st = explain("192.0.2.1", 1, "2001:db8::10", 80, v1::PROTOCOL_TCP, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("are of different families"), std::string::npos);
}

TEST_F(InspectTest, ExplainReportsAFailedMapRead) {
  dp_.failReadCounters(absl::InternalError("lookup map xlb_vips: boom"));
  v1::ExplainResponse resp;
  auto st = explain("192.0.2.1", 1, "10.0.0.10", 80, v1::PROTOCOL_TCP, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(st.error_message(), "lookup map xlb_vips: boom");
}

}  // namespace
}  // namespace xlb::api
