// SPDX-License-Identifier: Apache-2.0
// `lbctl flows` / `lbctl explain`: their value syntaxes, and the real lbctl binary against the real
// Inspector service (State + FakeDataplane) on a unix socket, tables, JSON and error lines.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/inspect.h"
#include "common/address.h"
#include "config/yaml.h"
#include "dataplane/fake_dataplane.h"
#include "flow_key.h"
#include "inspect_args.h"
#include "nat/nat_fixtures.h"
#include "spdlog/spdlog.h"
#include "state/state.h"

namespace xlb::cli {
namespace {

using ::xlb::test::flowKey;

namespace fs = std::filesystem;

const bool kQuiet = (spdlog::set_level(spdlog::level::err), true);

// ---- value syntaxes
// ------------------------------------------------------------------------------

TEST(InspectArgs, HostPort) {
  auto v4 = parseHostPort("10.0.0.1:80", "--dst");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->address, "10.0.0.1");
  EXPECT_EQ(v4->port, 80u);
  auto v6 = parseHostPort("[2001:db8::1]:443", "--dst");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->address, "2001:db8::1");
  EXPECT_EQ(v6->port, 443u);
  for (const char* bad : {"10.0.0.1", "2001:db8::1", "[2001:db8::1]", "10.0.0.1:", "10.0.0.1:x",
                          ":80", "[2001:db8::1]80"}) {
    auto r = parseHostPort(bad, "--src");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find(std::string("--src: \"") + bad + "\""), std::string::npos)
        << r.status().message();
  }
  EXPECT_NE(
      parseHostPort("10.0.0.300:80", "--src").status().message().find("--src: \"10.0.0.300\""),
      std::string::npos);
}

TEST(InspectArgs, ClientFilter) {
  struct Case {
    const char* in;
    const char* address;
    uint32_t port;
  };
  for (const Case& c :
       {Case{"192.0.2.7", "192.0.2.7", 0}, Case{"192.0.2.0/24", "192.0.2.0/24", 0},
        Case{"192.0.2.7:5000", "192.0.2.7", 5000}, Case{"192.0.2.0/24:5000", "192.0.2.0/24", 5000},
        Case{"2001:db8::7", "2001:db8::7", 0}, Case{"2001:db8::/64", "2001:db8::/64", 0},
        Case{"[2001:db8::7]:5000", "2001:db8::7", 5000},
        Case{"[2001:db8::/64]:5000", "2001:db8::/64", 5000}}) {
    auto r = parseClientFilter(c.in);
    ASSERT_TRUE(r.ok()) << c.in << ": " << r.status();
    EXPECT_EQ(r->address, c.address) << c.in;
    EXPECT_EQ(r->port, c.port) << c.in;
  }
  for (const char* bad : {"", "client", "192.0.2.7:", "[2001:db8::7", "192.0.2.x/24"}) {
    EXPECT_EQ(parseClientFilter(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(InspectArgs, VipFilterDefaultsToTcpAndProtocolNames) {
  auto k = parseVipFilter("10.0.0.10:80");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->protocol(), v1::PROTOCOL_TCP);
  k = parseVipFilter("[2001:db8::10]:53/udp");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->protocol(), v1::PROTOCOL_UDP);
  EXPECT_EQ(k->address(), "2001:db8::10");
  EXPECT_EQ(*parseProtocol("UDP", "--proto"), v1::PROTOCOL_UDP);
  EXPECT_EQ(parseProtocol("sctp", "--proto").status().message(),
            "--proto: \"sctp\" is not tcp or udp");
}

// ---- the binary against the service
// ---------------------------------------------------------------

struct Result {
  int rc = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class LbctlInspectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lbctl_inspect_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    target_ = "unix://" + (dir_ / "xlb.sock").string();
    // full: a fullnat VIP with one backend on its own port (NAT connections live in the NAT
    // table, not the flow table).
    auto config = config::parseConfigYaml(R"(
vips:
  - name: web
    address: 10.0.0.10
    port: 80
    protocol: tcp
    maglev_table_size: 1021
    backends: [{address: 10.0.1.1}, {address: 10.0.1.2}]
  - name: full
    address: 10.0.0.30
    port: 443
    protocol: tcp
    forwarding: fullnat
    maglev_table_size: 1021
    snat_pool: {addresses: [10.0.9.1], port_min: 61000, port_max: 61999}
    backends: [{address: 10.0.1.3, port: 8443}]
)");
    ASSERT_TRUE(config.ok());
    state_.setLocalPortRangeReader([] { return nat::PortRange{32768, 60999}; });
    ASSERT_TRUE(state_.applyConfig(*config, false, nullptr).ok());
    for (const auto& v : state_.ids()) {
      vip_id_[v.name] = v.id;
      for (const auto& b : v.backends) id_[b.ip.toString()] = b.id;
    }
    grpc::ServerBuilder builder;
    builder.AddListeningPort(target_, grpc::InsecureServerCredentials());
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  Result lbctl(const std::string& args) {
    const fs::path out = dir_ / "out", err = dir_ / "err";
    std::string cmd = std::string(XLB_LBCTL_PATH) + " --server '" + target_ + "' " + args + " >" +
                      out.string() + " 2>" + err.string();
    int status = std::system(cmd.c_str());
    Result r;
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  void putFlow(const xlb_flow_key& k, const std::string& backend, uint64_t idle_ms,
               uint32_t flags = 0) {
    const uint32_t id = id_.at(backend);
    dp_.putFlow(k, {id, dp_.backend(id).gen, dp_.monotonicNowNs() - idle_ms * 1000000, flags, 0});
  }

  // A fullnat connection of `full` as the data plane records it, seen idle_ms ago.
  void putFullnat(const std::string& client, uint16_t cport, uint16_t sport, uint64_t idle_ms,
                  uint8_t rev_state = 0) {
    const uint32_t id = id_.at("10.0.1.3");
    const uint64_t seen = dp_.monotonicNowNs() - idle_ms * 1000000;
    nat::testing::Pair p = nat::testing::makePair(
        {.client = client, .cport = cport, .vip = "10.0.0.30", .vport = 443,
         .backend = "10.0.1.3", .bport = 8443, .snat = "10.0.9.1", .sport = sport,
         .vip_id = vip_id_.at("full"), .backend_id = id, .backend_gen = dp_.backend(id).gen,
         .fwd_state = static_cast<uint8_t>(rev_state ? XLB_NAT_S_SEEN | XLB_NAT_S_ACK : 0),
         .rev_state = rev_state, .created_ns = seen - 60'000'000'000, .fwd_seen_ns = seen});
    dp_.putNat(p.rev_key, p.rev);
    dp_.putNat(p.fwd_key, p.fwd);
  }

  dataplane::FakeDataplane dp_;
  state::State state_{dp_};
  api::InspectorService service_{state_, dp_};
  std::map<std::string, uint32_t> id_, vip_id_;
  fs::path dir_;
  std::string target_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(LbctlInspectTest, FlowsTableAndJsonWithFilters) {
  putFlow(flowKey("192.0.2.1", 5000, "10.0.0.10", 80), "10.0.1.1", 1500);
  putFlow(flowKey("192.0.2.1", 5001, "10.0.0.10", 80), "10.0.1.2", 20, XLB_FLOW_F_CLOSING);
  putFlow(flowKey("198.51.100.1", 6000, "10.0.0.10", 80), "10.0.1.2", 30);

  Result r = lbctl("flows --client 192.0.2.1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out,
            "CLIENT          DESTINATION       VIP  BACKEND   IDLE  FLAGS\n"
            "192.0.2.1:5001  10.0.0.10:80/tcp  web  10.0.1.2  20ms  closing\n"
            "192.0.2.1:5000  10.0.0.10:80/tcp  web  10.0.1.1    1s  -\n"
            "2 of 2 matching flows shown (most recently active first; 3 flow-table entries "
            "scanned)\n");

  r = lbctl("flows --vip 10.0.0.10:80 --backend 10.0.1.2 --client 0.0.0.0/0:6000 -o json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("\"client_address\": \"198.51.100.1\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"backend_address\": \"10.0.1.2\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"matched\": \"1\""), std::string::npos) << r.out;

  r = lbctl("flows --limit 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("1 of 3 matching flows shown"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("raise --limit"), std::string::npos) << r.out;
}

TEST_F(LbctlInspectTest, FlowsErrorsKeepTheAgentsCodeAndWording) {
  Result r = lbctl("flows --limit 20000");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "lbctl: INVALID_ARGUMENT: limit: 20000 is not in [0, 10000] (0 = 100)\n");
  r = lbctl("flows --vip-name nope");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "lbctl: NOT_FOUND: vip_name: no VIP named \"nope\"\n");
  r = lbctl("flows --client 192.0.2.1/24");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("client: \"192.0.2.1/24\": host bits are set"), std::string::npos) << r.err;
  r = lbctl("flows --backend nope");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--backend: \"nope\" is not an IPv4 or IPv6 address"), std::string::npos)
      << r.err;
  r = lbctl("flows --vip 10.0.0.10:80 --vip-name web");
  EXPECT_EQ(r.rc, 2) << "mutually exclusive options";
}

TEST_F(LbctlInspectTest, ExplainSentenceFieldsAndJson) {
  putFlow(flowKey("192.0.2.1", 5000, "10.0.0.10", 80), "10.0.1.2", 420);
  Result r = lbctl("explain --src 192.0.2.1:5000 --dst 10.0.0.10:80 --proto tcp");
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string id = std::to_string(id_["10.0.1.2"]);
  EXPECT_NE(r.out.find("flow-table hit: 10.0.1.2 (backend id " + id + "), idle 420ms"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("decision    flow-hit\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("vip         10.0.0.10:80/tcp (web)\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("forwarding  dsr\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("backend     10.0.1.2 (id " + id + ", weight 1"), std::string::npos)
      << r.out;

  r = lbctl("explain --src 192.0.2.1:5001 --dst 10.0.0.10:80 -o json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("\"decision\": \"DECISION_NEW_FLOW\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"hash_input\": \"5-tuple\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"table_size\": 1021"), std::string::npos) << r.out;

  r = lbctl("explain --src 192.0.2.1:5001 --dst 10.0.0.11:80");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), "XDP_PASS to the kernel: no VIP 10.0.0.11:80/tcp");
}

TEST_F(LbctlInspectTest, FlowsShowNatConnectionsWithTheirBackendSide) {
  putFlow(flowKey("192.0.2.1", 5000, "10.0.0.10", 80), "10.0.1.1", 1500);
  putFullnat("192.0.2.1", 5001, 61234, 20, XLB_NAT_S_SEEN);
  putFullnat("198.51.100.1", 6000, 61235, 30);

  Result r = lbctl("flows");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out,
            "CLIENT             DESTINATION        VIP   BACKEND   IDLE  FLAGS               "
            "NAT SOURCE -> BACKEND\n"
            "192.0.2.1:5001     10.0.0.30:443/tcp  full  10.0.1.3  20ms  fullnat             "
            "10.0.9.1:61234 -> 10.0.1.3:8443\n"
            "198.51.100.1:6000  10.0.0.30:443/tcp  full  10.0.1.3  30ms  fullnat,unanswered  "
            "10.0.9.1:61235 -> 10.0.1.3:8443\n"
            "192.0.2.1:5000     10.0.0.10:80/tcp   web   10.0.1.1    1s  -                   -\n"
            "3 of 3 matching flows shown (most recently active first; 1 flow-table entries and 2 "
            "NAT connections scanned)\n");

  r = lbctl("-o json flows --vip 10.0.0.30:443 --client 192.0.2.1");
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* want :
       {"\"matched\": \"1\"", "\"nat_scanned\": \"2\"", "\"client_port\": 5001",
        "\"forwarding\": \"FORWARDING_MODE_FULLNAT\"", "\"source_address\": \"10.0.9.1\"",
        "\"source_port\": 61234", "\"backend_port\": 8443",
        "\"state\": \"NAT_STATE_ESTABLISHED\""})
    EXPECT_NE(r.out.find(want), std::string::npos) << want << " in " << r.out;

  r = lbctl("flows --backend 10.0.1.3:8443 --client 198.51.100.1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("1 of 1 matching flow shown"), std::string::npos) << r.out;
}

TEST_F(LbctlInspectTest, ExplainNatHitNewConnectionAndReply) {
  putFullnat("192.0.2.1", 5001, 61234, 20, XLB_NAT_S_SEEN);
  const std::string id = std::to_string(id_["10.0.1.3"]);
  Result r = lbctl("explain --src 192.0.2.1:5001 --dst 10.0.0.30:443");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')),
            "NAT hit (fullnat): 192.0.2.1:5001 -> 10.0.0.30:443 becomes 10.0.9.1:61234 -> "
            "10.0.1.3:8443 (backend id " + id +
                "), established, idle 20ms; a SYN without ACK on this tuple would reopen the "
                "pair as a new connection (tuple reuse)");
  for (const char* want :
       {"decision      nat-hit\n", "forwarding    fullnat\n",
        "nat           connection found (fullnat), established, answered, idle 20ms, expires in ",
        "client side   192.0.2.1:5001 -> 10.0.0.30:443\n",
        "backend side  10.0.9.1:61234 -> 10.0.1.3:8443\n"})
    EXPECT_NE(r.out.find(want), std::string::npos) << want << " in " << r.out;
  EXPECT_EQ(r.out.find("flow "), std::string::npos) << "no flow-table row for a NAT VIP: " << r.out;

  r = lbctl("explain --src 192.0.2.2:7000 --dst 10.0.0.30:443");
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* want :
       {"decision      new-flow\n", "nat           none (a new connection)\n",
        "client side   192.0.2.2:7000 -> 10.0.0.30:443\n",
        "backend side  SNAT 10.0.9.1, port from 61000-61999 -> 10.0.1.3:8443\n"})
    EXPECT_NE(r.out.find(want), std::string::npos) << want << " in " << r.out;

  r = lbctl("-o json explain --src 10.0.1.3:8443 --dst 10.0.9.1:61234");
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* want : {"\"decision\": \"DECISION_NAT_REPLY\"", "\"reply\": true",
                           "\"vip_name\": \"full\"", "\"client_address\": \"192.0.2.1\""})
    EXPECT_NE(r.out.find(want), std::string::npos) << want << " in " << r.out;

  r = lbctl("explain --src 10.0.1.3:8443 --dst 10.0.9.1:61500");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("decision  drop\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dropped   nat_reply_miss\n"), std::string::npos) << r.out;
}

TEST_F(LbctlInspectTest, ExplainErrors) {
  Result r = lbctl("explain --src 192.0.2.1:70000 --dst 10.0.0.10:80");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "lbctl: INVALID_ARGUMENT: src_port: 70000 is not in [0, 65535]\n");
  r = lbctl("explain --src 192.0.2.1:1 --dst [2001:db8::1]:80");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("are of different families"), std::string::npos) << r.err;
  r = lbctl("explain --src 192.0.2.1:1 --dst 10.0.0.10:80 --proto icmp");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "lbctl: INVALID_ARGUMENT: --proto: \"icmp\" is not tcp or udp\n");
  r = lbctl("explain --dst 10.0.0.10:80");
  EXPECT_EQ(r.rc, 2) << "--src is required";
}

}  // namespace
}  // namespace xlb::cli
