// SPDX-License-Identifier: Apache-2.0
// Explain's prediction against the real XDP balancer under BPF_PROG_TEST_RUN: for random client
// tuples to maglev and source_hash VIPs (configured through State, as the agent does), the backend
// Explain names is the one the program forwards the SYN to; afterwards Explain reports the
// flow-table hit; after a health-down the flow is reported re-steered, to the backend the program
// then uses. For nat / fullnat VIPs the predicted translation is the one the program applies, and
// the NAT hit and the backend's reply are reported as the program then handles them.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "config/yaml.h"
#include "fixture.h"
#include "inspect/inspector.h"
#include "spdlog/spdlog.h"
#include "state/state.h"

namespace xlb::test {
namespace {

using dataplane::BpfDataplane;

constexpr uint8_t kSyn = 0x02, kAck = 0x10, kSynAck = 0x12, kTcp = 6;
const bool kQuiet = (spdlog::set_level(spdlog::level::err), true);

class Env : public ::testing::Environment {
 public:
  void SetUp() override {
    setUpOrSkip("bpf explain tests");
  }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new Env);

// Backends with static neighbours in the test bed: what the program's DSR frame to each looks like.
struct Peer {
  const char* mac;
  const char* smac;
  uint32_t action;
};
const std::map<std::string, Peer> kPeers = {
    {"10.0.0.2", {kBackendMacA, kLbMac, XDP_TX}},
    {"10.0.0.3", {kBackendMacB, kLbMac, XDP_TX}},
    {"10.0.1.2", {kBackendMacC, kLb1Mac, XDP_REDIRECT}},
    {"fd00::2", {kBackendMacA, kLbMac, XDP_TX}},
    {"fd00::3", {kBackendMacB, kLbMac, XDP_TX}},
};

constexpr const char* kConfig = R"(
vips:
  - name: mag4
    address: 10.100.9.1
    port: 80
    protocol: tcp
    maglev_table_size: 1021
    health_check: {type: tcp}
    backends:
      - {address: 10.0.0.2}
      - {address: 10.0.0.3}
      - {address: 10.0.1.2, weight: 2}
  - name: src4
    address: 10.100.9.2
    port: 80
    protocol: tcp
    algorithm: source_hash
    maglev_table_size: 1021
    backends:
      - {address: 10.0.0.2}
      - {address: 10.0.0.3}
      - {address: 10.0.1.2}
  - name: srcport4
    address: 10.100.9.3
    port: 0
    protocol: tcp
    algorithm: source_hash
    source_hash_include_port: true
    maglev_table_size: 1021
    backends:
      - {address: 10.0.0.2}
      - {address: 10.0.0.3}
  - name: mag6
    address: 2001:db8::9:1
    port: 80
    protocol: tcp
    backends:
      - {address: fd00::2}
      - {address: fd00::3, weight: 3}
)";

// Added for the NAT test: a nat VIP and a fullnat VIP over the two lb0 backends, on ports of
// their own.
constexpr const char* kNatVips = R"(
  - name: nat4
    address: 10.100.9.5
    port: 80
    protocol: tcp
    forwarding: nat
    maglev_table_size: 1021
    backends:
      - {address: 10.0.0.2, port: 8080}
      - {address: 10.0.0.3, port: 8080}
  - name: full4
    address: 10.100.9.6
    port: 80
    protocol: tcp
    forwarding: fullnat
    maglev_table_size: 1021
    snat_pool: {addresses: [10.0.0.100, 10.0.0.101], port_min: 61000, port_max: 61999}
    backends:
      - {address: 10.0.0.2, port: 9090}
      - {address: 10.0.0.3, port: 9090}
)";

std::string ip4At(const Bytes& frame, size_t off) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%u.%u.%u.%u", frame[off], frame[off + 1], frame[off + 2],
           frame[off + 3]);
  return buf;
}
uint16_t portAt(const Bytes& frame, size_t off) {
  return static_cast<uint16_t>(frame[off] << 8 | frame[off + 1]);
}

class ExplainBpfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dp_ = loadOrSkip("bpf explain tests", 65536);
    state_ = std::make_unique<state::State>(*dp_);
    inspector_ = std::make_unique<inspect::Inspector>(*state_, *dp_);
    auto config = config::parseConfigYaml(kConfig);
    ASSERT_TRUE(config.ok()) << config.status();
    ASSERT_TRUE(state_->applyConfig(*config, false, nullptr).ok());
  }

  v1::ExplainResponse explain(const std::string& client, uint16_t sport, const std::string& vip,
                              uint16_t dport) {
    v1::ExplainRequest req;
    req.set_src_address(client);
    req.set_src_port(sport);
    req.set_dst_address(vip);
    req.set_dst_port(dport);
    req.set_protocol(v1::PROTOCOL_TCP);
    auto r = inspector_->explain(req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v1::ExplainResponse{};
  }

  // Runs one TCP packet through the program; returns the address of the backend the output frame
  // is addressed to (checked byte for byte) and that the flow entry names, or "" on a mismatch.
  std::string send(const std::string& client, uint16_t sport, const std::string& vip,
                   uint16_t dport, uint8_t flags) {
    PacketBuilder p;
    p.eth(kLbMac, kClientMac);
    if (vip.find(':') != std::string::npos)
      p.ipv6(client, vip);
    else
      p.ipv4(client, vip);
    Bytes in = p.tcp(sport, dport, flags).build();
    RunResult r = runXdp(dp_->programFd(), in, lbIfindex());
    EXPECT_EQ(r.err, 0);
    xlb_flow_key k = flowKey(client, vip, sport, dport, kTcp);
    xlb_flow_value fv{};
    if (bpf_map_lookup_elem(dp_->mapFd("xlb_flows"), &k, &fv) != 0) {
      ADD_FAILURE() << "no flow entry for " << client << ":" << sport;
      return "";
    }
    auto b = dp_->readBackend(fv.backend_id);
    EXPECT_TRUE(b.ok());
    IpAddress a;
    std::memcpy(a.bytes.data(), b->addr, 16);
    a.family = b->family;
    const std::string addr = a.toString();
    auto peer = kPeers.find(addr);
    if (peer == kPeers.end()) {
      ADD_FAILURE() << "flow recorded on unexpected backend " << addr;
      return "";
    }
    EXPECT_EQ(r.ret, peer->second.action) << addr;
    Bytes want = in;
    Mac d = parseMac(peer->second.mac), s = parseMac(peer->second.smac);
    std::memcpy(want.data(), d.data(), 6);
    std::memcpy(want.data() + 6, s.data(), 6);
    if (r.out != want) {
      ADD_FAILURE() << "frame for " << client << ":" << sport << " not addressed to " << addr
                    << ": " << hexdump(r.out);
      return "";
    }
    return addr;
  }

  // Random clients (198.18.0.0/15 or 2001:db8:c::/48) and ports, reproducible.
  std::string randomClient(bool v6) {
    std::uniform_int_distribution<uint32_t> d;
    const uint32_t x = d(rng_);
    char buf[64];
    if (v6)
      snprintf(buf, sizeof(buf), "2001:db8:c::%x:%x", x >> 16, x & 0xffff);
    else
      snprintf(buf, sizeof(buf), "198.%u.%u.%u", 18 + (x >> 24) % 2, (x >> 8) & 0xff, 1 + x % 254);
    return buf;
  }
  uint16_t randomPort() { return static_cast<uint16_t>(1024 + rng_() % 64000); }

  // For `n` random tuples: Explain predicts a new flow and its backend, the SYN goes there, then
  // Explain reports the flow-table hit. Returns how many flows each backend got.
  std::map<std::string, int> predictAndSend(const std::string& vip, uint16_t dport, bool v6, int n,
                                            const char* hash_input) {
    std::map<std::string, int> got;
    std::set<std::string> used;
    for (int i = 0; i < n; ++i) {
      const std::string client = randomClient(v6);
      const uint16_t port = randomPort();
      if (!used.insert(client + "/" + std::to_string(port)).second) continue;
      SCOPED_TRACE(client + ":" + std::to_string(port) + " -> " + vip);
      auto e = explain(client, port, vip, dport);
      EXPECT_EQ(e.decision(), v1::ExplainResponse::DECISION_NEW_FLOW) << e.summary();
      EXPECT_TRUE(e.predictable());
      EXPECT_EQ(e.hash_input(), hash_input);
      const std::string predicted = e.backend().address();
      const std::string actual = send(client, port, vip, dport, kSyn);
      EXPECT_EQ(predicted, actual) << e.summary();
      ++got[actual];
      auto hit = explain(client, port, vip, dport);
      EXPECT_EQ(hit.decision(), v1::ExplainResponse::DECISION_FLOW_HIT) << hit.summary();
      EXPECT_EQ(hit.backend().address(), actual);
      EXPECT_TRUE(hit.flow_found());
      EXPECT_FALSE(hit.flow_closing());
      EXPECT_LE(hit.flow_idle_ms(), 1500u);
    }
    return got;
  }

  std::unique_ptr<BpfDataplane> dp_;
  std::unique_ptr<state::State> state_;
  std::unique_ptr<inspect::Inspector> inspector_;
  std::mt19937 rng_{20261125};
};

TEST_F(ExplainBpfTest, MaglevPredictionIsWhereTheProgramSendsTheSyn) {
  auto got = predictAndSend("10.100.9.1", 80, false, 300, "5-tuple");
  EXPECT_EQ(got.size(), 3u) << "300 flows reach every backend";
  auto got6 = predictAndSend("2001:db8::9:1", 80, true, 200, "5-tuple");
  EXPECT_EQ(got6.size(), 2u);
  // Explain reports the agent's flow hash (checked against the program by flow_hash_test.cc).
  const auto k = flowKey("198.18.7.9", "10.100.9.1", 40000, 80, kTcp);
  EXPECT_EQ(explain("198.18.7.9", 40000, "10.100.9.1", 80).hash(), flowHash(k));
}

TEST_F(ExplainBpfTest, SourceHashPredictionIsWhereTheProgramSendsTheSyn) {
  auto got = predictAndSend("10.100.9.2", 80, false, 300, "client address");
  EXPECT_EQ(got.size(), 3u);
  // Port-0 VIP with the client port hashed: any destination port, same rule.
  auto got_port = predictAndSend("10.100.9.3", 8443, false, 200, "client address + port");
  EXPECT_EQ(got_port.size(), 2u);
  EXPECT_EQ(explain("198.18.1.1", 5000, "10.100.9.3", 22).vip_name(), "srcport4");
}

TEST_F(ExplainBpfTest, NonVipIsPassedAsExplained) {
  auto e = explain("198.18.0.1", 1000, "10.100.9.1", 81);
  EXPECT_EQ(e.decision(), v1::ExplainResponse::DECISION_PASS);
  PacketBuilder p;
  p.eth(kLbMac, kClientMac);
  p.ipv4("198.18.0.1", "10.100.9.1");
  RunResult r = runXdp(dp_->programFd(), p.tcp(1000, 81, kSyn).build(), lbIfindex());
  EXPECT_EQ(r.err, 0);
  EXPECT_EQ(r.ret, static_cast<uint32_t>(XDP_PASS));
}

TEST_F(ExplainBpfTest, FlowOfAHealthDownBackendIsReportedResteeredToWhereTheProgramMovesIt) {
  // Flows on every backend of mag4.
  std::map<std::string, std::vector<std::pair<std::string, uint16_t>>> on;
  for (int i = 0; i < 60; ++i) {
    const std::string client = randomClient(false);
    const uint16_t port = randomPort();
    on[send(client, port, "10.100.9.1", 80, kSyn)].emplace_back(client, port);
  }
  ASSERT_FALSE(on["10.0.0.3"].empty());

  // Health checks find 10.0.0.3 down: ACTIVE cleared and the table swapped, as in production.
  state_->onHealthTransition("10.100.9.1:80/tcp 10.0.0.3",
                             {health::Health::kUnknown, health::Health::kDown, health::Clock::now(),
                              "connect: connection refused"});
  auto b = dp_->readBackend(state_->ids()[0].backends[1].id);
  ASSERT_TRUE(b.ok());
  ASSERT_FALSE(b->flags & XLB_BE_F_ACTIVE) << "the health verdict reached the data plane";

  for (const auto& [client, port] : on["10.0.0.3"]) {
    SCOPED_TRACE(client + ":" + std::to_string(port));
    auto e = explain(client, port, "10.100.9.1", 80);
    EXPECT_EQ(e.decision(), v1::ExplainResponse::DECISION_RESTEER) << e.summary();
    EXPECT_EQ(e.flow_backend().address(), "10.0.0.3");
    EXPECT_FALSE(e.flow_backend().active());
    EXPECT_NE(e.backend().address(), "10.0.0.3");
    EXPECT_EQ(send(client, port, "10.100.9.1", 80, kAck), e.backend().address()) << e.summary();
    auto after = explain(client, port, "10.100.9.1", 80);
    EXPECT_EQ(after.decision(), v1::ExplainResponse::DECISION_FLOW_HIT);
    EXPECT_EQ(after.backend().address(), e.backend().address());
  }
  // Flows on the healthy backends are hits that stay where they are.
  for (const char* addr : {"10.0.0.2", "10.0.1.2"}) {
    for (const auto& [client, port] : on[addr]) {
      auto e = explain(client, port, "10.100.9.1", 80);
      EXPECT_EQ(e.decision(), v1::ExplainResponse::DECISION_FLOW_HIT);
      EXPECT_EQ(e.backend().address(), addr);
      EXPECT_EQ(send(client, port, "10.100.9.1", 80, kAck), addr);
    }
  }
}

TEST_F(ExplainBpfTest, ListFlowsSeesTheProgramsFlowsByClientAndBackend) {
  std::map<std::string, int> per_backend;
  for (uint16_t port = 20000; port < 20040; ++port)
    ++per_backend[send("198.19.5.5", port, "10.100.9.1", 80, kSyn)];
  send("198.19.5.6", 20000, "10.100.9.1", 80, kSyn);
  v1::ListFlowsRequest req;
  req.set_client("198.19.5.5");
  req.set_limit(1000);
  auto r = inspector_->listFlows(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->matched(), 40u);
  EXPECT_EQ(r->flows_size(), 40);
  EXPECT_GE(r->scanned(), 41u);
  for (const auto& f : r->flows()) {
    EXPECT_EQ(f.vip_name(), "mag4");
    EXPECT_TRUE(f.backend_current());
    // What Explain says about each listed flow agrees with the list.
    auto e = explain(f.client_address(), static_cast<uint16_t>(f.client_port()), "10.100.9.1", 80);
    EXPECT_EQ(e.backend().address(), f.backend_address());
  }
  for (const auto& [addr, n] : per_backend) {
    req.set_backend(addr);
    auto by_backend = inspector_->listFlows(req);
    ASSERT_TRUE(by_backend.ok());
    EXPECT_EQ(by_backend->matched(), static_cast<uint64_t>(n)) << addr;
  }
}

// For new connections to a nat and a fullnat VIP: the backend side Explain predicts is where the
// program sends the SYN (read from the frame it emits); then Explain reports the NAT hit with the
// program's entry, and the backend's reply as a NAT reply that the program translates back.
TEST_F(ExplainBpfTest, NatPredictionHitAndReplyAreWhatTheProgramDoes) {
  state_->setLocalPortRangeReader([] { return nat::PortRange{32768, 60999}; });
  auto config = config::parseConfigYaml(std::string(kConfig) + kNatVips);
  ASSERT_TRUE(config.ok()) << config.status();
  auto st = state_->applyConfig(*config, false, nullptr);
  ASSERT_TRUE(st.ok()) << st;
  constexpr size_t kIpSrc = 14 + 12, kIpDst = 14 + 16, kSport = 14 + 20, kDport = 14 + 22;
  std::map<std::string, uint64_t> created;
  for (const char* vip : {"10.100.9.5", "10.100.9.6"}) {
    const bool full = std::string(vip) == "10.100.9.6";
    std::set<std::string> backends, used;
    for (int i = 0; i < 40; ++i) {
      const std::string client = randomClient(false);
      const uint16_t port = randomPort();
      if (!used.insert(client + "/" + std::to_string(port)).second) continue;
      SCOPED_TRACE(client + ":" + std::to_string(port) + " -> " + vip);
      auto e = explain(client, port, vip, 80);
      ASSERT_EQ(e.decision(), v1::ExplainResponse::DECISION_NEW_FLOW) << e.summary();
      const v1::NatConnection& p = e.nat().predicted();
      EXPECT_EQ(p.backend_port(), full ? 9090u : 8080u);

      PacketBuilder b;
      b.eth(kLbMac, kClientMac);
      b.ipv4(client, vip);
      RunResult r = runXdp(dp_->programFd(), b.tcp(port, 80, kSyn).build(), lbIfindex());
      ASSERT_EQ(r.err, 0);
      ASSERT_EQ(r.ret, static_cast<uint32_t>(XDP_TX));
      ASSERT_GE(r.out.size(), kDport + 2);
      EXPECT_EQ(ip4At(r.out, kIpDst), p.backend_address()) << e.summary();
      EXPECT_EQ(portAt(r.out, kDport), p.backend_port());
      const std::string source = ip4At(r.out, kIpSrc);
      const uint16_t sport = portAt(r.out, kSport);
      if (full) {
        EXPECT_TRUE(source == "10.0.0.100" || source == "10.0.0.101") << source;
        EXPECT_GE(sport, 61000);
        EXPECT_LE(sport, 61999);
        ASSERT_EQ(e.nat().snat_addresses_size(), 2);
      } else {
        EXPECT_EQ(source, client);
        EXPECT_EQ(sport, port);
        EXPECT_EQ(p.source_address(), client);
      }
      backends.insert(p.backend_address());
      ++created[vip];

      auto hit = explain(client, port, vip, 80);
      EXPECT_EQ(hit.decision(), v1::ExplainResponse::DECISION_NAT_HIT) << hit.summary();
      EXPECT_EQ(hit.nat().recorded().source_address(), source);
      EXPECT_EQ(hit.nat().recorded().source_port(), sport);
      EXPECT_EQ(hit.nat().recorded().backend_address(), p.backend_address());
      EXPECT_EQ(hit.nat().recorded().state(), v1::NAT_STATE_SYN);

      // The backend answers to the source it saw: Explain calls it a NAT reply of this
      // connection, and the program sends it to the client from the VIP.
      auto reply = explain(p.backend_address(), p.backend_port(), source, sport);
      EXPECT_EQ(reply.decision(), v1::ExplainResponse::DECISION_NAT_REPLY) << reply.summary();
      EXPECT_EQ(reply.nat().recorded().client_address(), client);
      EXPECT_EQ(reply.nat().recorded().client_port(), port);
      PacketBuilder rb;
      rb.eth(kLbMac, kBackendMacA);
      rb.ipv4(p.backend_address(), source);
      r = runXdp(dp_->programFd(),
                 rb.tcp(static_cast<uint16_t>(p.backend_port()), sport, kSynAck).build(),
                 lbIfindex());
      ASSERT_EQ(r.err, 0);
      ASSERT_EQ(r.ret, static_cast<uint32_t>(XDP_TX));
      EXPECT_EQ(ip4At(r.out, kIpSrc), vip);
      EXPECT_EQ(ip4At(r.out, kIpDst), client);
      EXPECT_EQ(portAt(r.out, kDport), port);
      // Replied, but not answered until the client's ACK completes the handshake.
      auto replied = explain(client, port, vip, 80);
      EXPECT_EQ(replied.nat().recorded().state(), v1::NAT_STATE_SYN);
      EXPECT_TRUE(replied.nat().recorded().replied());
      EXPECT_FALSE(replied.nat().recorded().answered());
      PacketBuilder ab;
      ab.eth(kLbMac, kClientMac);
      ab.ipv4(client, vip);
      r = runXdp(dp_->programFd(), ab.tcp(port, 80, kAck).build(), lbIfindex());
      ASSERT_EQ(r.err, 0);
      ASSERT_EQ(r.ret, static_cast<uint32_t>(XDP_TX));
      auto done = explain(client, port, vip, 80);
      EXPECT_EQ(done.nat().recorded().state(), v1::NAT_STATE_ESTABLISHED);
      EXPECT_TRUE(done.nat().recorded().answered());
    }
    EXPECT_EQ(backends.size(), 2u) << vip;
  }

  // A nat backend connecting to its own VIP: Explain says nat_hairpin exactly when the program
  // drops it so.
  int hairpins = 0;
  for (uint16_t port = 30000; port < 30040; ++port) {
    auto e = explain("10.0.0.2", port, "10.100.9.5", 80);
    const uint64_t before = readCounters(*dp_).drops[XLB_DROP_NAT_HAIRPIN];
    PacketBuilder b;
    b.eth(kLbMac, kBackendMacA);
    b.ipv4("10.0.0.2", "10.100.9.5");
    RunResult r = runXdp(dp_->programFd(), b.tcp(port, 80, kSyn).build(), lbIfindex());
    ASSERT_EQ(r.err, 0);
    const bool dropped = readCounters(*dp_).drops[XLB_DROP_NAT_HAIRPIN] > before;
    EXPECT_EQ(dropped, e.drop_reason() == "nat_hairpin") << e.summary();
    EXPECT_EQ(r.ret, static_cast<uint32_t>(dropped ? XDP_DROP : XDP_TX)) << e.summary();
    hairpins += dropped;
  }
  EXPECT_GT(hairpins, 0);
  EXPECT_LT(hairpins, 40);

  // Listed as flows of their VIP, with both tuples.
  v1::ListFlowsRequest req;
  req.set_vip_name("full4");
  req.set_limit(1000);
  auto flows = inspector_->listFlows(req);
  ASSERT_TRUE(flows.ok()) << flows.status();
  EXPECT_EQ(flows->matched(), created["10.100.9.6"]);
  for (const auto& f : flows->flows()) {
    EXPECT_EQ(f.nat().forwarding(), v1::FORWARDING_MODE_FULLNAT);
    EXPECT_EQ(f.nat().backend_port(), 9090u);
    EXPECT_TRUE(f.nat().replied());
  }
}

}  // namespace
}  // namespace xlb::test
