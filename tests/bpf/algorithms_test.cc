// SPDX-License-Identifier: Apache-2.0
// The selection algorithms, open-flow counts and health-down re-steering of the real XDP balancer
// under BPF_PROG_TEST_RUN, plus BpfDataplane's open-flow and flow-table reads. The thread is pinned
// to one CPU so the per-CPU round-robin position is predictable.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fixture.h"

namespace xlb::test {
namespace {

using dataplane::BpfDataplane;

constexpr uint8_t kSyn = 0x02, kAck = 0x10, kFinAck = 0x11, kRst = 0x04, kTcp = 6;

BpfDataplane* g_dp = nullptr;

std::unique_ptr<BpfDataplane> load(uint32_t flows) { return loadOrSkip("bpf algorithm tests", flows); }

class Env : public ::testing::Environment {
 public:
  void SetUp() override {
    // Every test run executes on the calling CPU; one CPU means one round-robin position.
    setUpOrSkip("bpf algorithm tests", true);
    g_dp = load(65536).release();
  }
  void TearDown() override { delete g_dp; }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new Env);

// Backend addresses with static neighbours in the test bed, and what a DSR frame to them looks like.
struct Peer {
  const char* addr;
  const char* mac;
  const char* smac;
  uint32_t action;
};
const Peer kA{"10.0.0.2", kBackendMacA, kLbMac, XDP_TX};
const Peer kB{"10.0.0.3", kBackendMacB, kLbMac, XDP_TX};
const Peer kC{"10.0.1.2", kBackendMacC, kLb1Mac, XDP_REDIRECT};

xlb_backend backend(const Peer& p, uint32_t vip_id, uint16_t weight = 1, uint32_t gen = 1) {
  return makeBackend(p.addr, vip_id, gen, weight);
}

struct Vip {
  uint32_t id;
  std::string addr;  // IPv4 or IPv6 VIP, port 80/tcp
  std::map<uint32_t, Peer> peers;  // backend id -> address
};

// Installs a VIP with `algorithm`, backends `ids` (peer, weight) and the selection table `table`.
Vip makeVip(BpfDataplane& dp, uint32_t id, const std::string& addr, uint8_t algorithm,
            const std::vector<std::pair<uint32_t, std::pair<Peer, uint16_t>>>& backends,
            const std::vector<uint32_t>& table, uint16_t flags = 0) {
  Vip v{id, addr, {}};
  for (const auto& [bid, pw] : backends) {
    EXPECT_TRUE(dp.upsertBackend(bid, backend(pw.first, id, pw.second)).ok());
    EXPECT_TRUE(dp.setOpenFlows(bid, 0).ok());
    v.peers.emplace(bid, pw.first);
  }
  EXPECT_TRUE(dp.setSelectionTable(id, table).ok());
  EXPECT_TRUE(dp.upsertVip(makeVipKey(addr, 80, kTcp), {id, algorithm, XLB_FWD_DSR, flags}).ok());
  return v;
}

std::string clientOf(const Vip& v) { return v.addr.find(':') != std::string::npos ? "2001:db8:1::1" : "192.0.2.1"; }

Bytes packet(const Vip& v, const std::string& client, uint16_t sport, uint8_t flags) {
  PacketBuilder p;
  p.eth(kLbMac, kClientMac);
  if (v.addr.find(':') != std::string::npos)
    p.ipv6(client, v.addr);
  else
    p.ipv4(client, v.addr);
  return p.tcp(sport, 80, flags).build();
}

// Sends one packet through the balancer and returns the backend id its flow is recorded on,
// after checking the exact output frame (the backend's MACs, nothing else changed).
uint32_t send(BpfDataplane& dp, const Vip& v, const std::string& client, uint16_t sport,
              uint8_t flags) {
  Bytes in = packet(v, client, sport, flags);
  RunResult r = runXdp(dp.programFd(), in, lbIfindex());
  EXPECT_EQ(r.err, 0);
  xlb_flow_key k = flowKey(client, v.addr, sport, 80, kTcp);
  xlb_flow_value fv{};
  if (bpf_map_lookup_elem(dp.mapFd("xlb_flows"), &k, &fv) != 0) {
    ADD_FAILURE() << "no flow entry for port " << sport;
    return ~0u;
  }
  auto it = v.peers.find(fv.backend_id);
  if (it == v.peers.end()) {
    ADD_FAILURE() << "flow recorded on unknown backend " << fv.backend_id;
    return ~0u;
  }
  const Peer& p = it->second;
  EXPECT_EQ(r.ret, p.action) << "port " << sport;
  Bytes want = in;
  Mac d = parseMac(p.mac), s = parseMac(p.smac);
  memcpy(want.data(), d.data(), 6);
  memcpy(want.data() + 6, s.data(), 6);
  EXPECT_EQ(r.out, want) << "port " << sport << " got:" << hexdump(r.out);
  return fv.backend_id;
}

uint32_t send(const Vip& v, uint16_t sport, uint8_t flags) {
  return send(*g_dp, v, clientOf(v), sport, flags);
}

uint64_t openFlows(uint32_t id) {
  auto o = g_dp->readOpenFlows();
  EXPECT_TRUE(o.ok()) << o.status();
  return o.ok() ? (*o)[id] : ~0ull;
}

uint64_t stat(int idx) {
  auto c = g_dp->readCounters();
  EXPECT_TRUE(c.ok());
  return c.ok() ? c->global[idx] : 0;
}

// Slot i (1-based) -> backend id base + i - 1, each a distinct id, so the recorded id names the slot.
std::vector<uint32_t> distinctTable(uint32_t base, uint32_t m,
                                    std::vector<std::pair<uint32_t, std::pair<Peer, uint16_t>>>* bes) {
  std::vector<uint32_t> t;
  for (uint32_t i = 0; i < m; ++i) {
    t.push_back(base + i);
    bes->push_back({base + i, {i % 2 ? kB : kA, 1}});
  }
  return t;
}

// ---- algorithms ------------------------------------------------------------------------------------

TEST(Algorithms, MaglevPicksTheSlotOfTheFlowHash) {
  constexpr uint32_t kM = 13;
  for (const char* addr : {"10.100.1.1", "2001:db8::1:1"}) {
    SCOPED_TRACE(addr);
    std::vector<std::pair<uint32_t, std::pair<Peer, uint16_t>>> bes;
    const uint32_t vip_id = addr[0] == '1' ? 100 : 101, base = addr[0] == '1' ? 1000 : 1100;
    auto table = distinctTable(base, kM, &bes);
    Vip v = makeVip(*g_dp, vip_id, addr, XLB_ALG_MAGLEV, bes, table);
    std::set<uint32_t> seen;
    for (uint16_t port = 2000; port < 2060; ++port) {
      uint32_t want = base + slotOf(flowHash(flowKey(clientOf(v), addr, port, 80, kTcp)), kM) - 1;
      uint32_t got = send(v, port, kSyn);
      EXPECT_EQ(got, want) << "port " << port;
      seen.insert(got);
    }
    EXPECT_GT(seen.size(), 8u) << "60 flows over 13 slots should reach most of them";
  }
}

TEST(Algorithms, SourceHashKeepsOneClientOnOneBackendUnlessPortIsHashed) {
  constexpr uint32_t kM = 13;
  std::vector<std::pair<uint32_t, std::pair<Peer, uint16_t>>> bes;
  auto table = distinctTable(1200, kM, &bes);
  Vip v = makeVip(*g_dp, 102, "10.100.1.2", XLB_ALG_SOURCE_HASH, bes, table);
  for (const char* client : {"192.0.2.7", "198.51.100.9", "203.0.113.200"}) {
    const uint32_t want = 1200 + slotOf(sourceHash(flowKey(client, v.addr, 0, 80, kTcp), false), kM) - 1;
    for (uint16_t port = 3000; port < 3040; ++port)
      EXPECT_EQ(send(*g_dp, v, client, port, kSyn), want) << client << " port " << port;
  }

  std::vector<std::pair<uint32_t, std::pair<Peer, uint16_t>>> bes2;
  auto table2 = distinctTable(1300, kM, &bes2);
  Vip w = makeVip(*g_dp, 103, "10.100.1.3", XLB_ALG_SOURCE_HASH, bes2, table2,
                  XLB_VIP_F_HASH_SRC_PORT);
  std::set<uint32_t> seen;
  for (uint16_t port = 3000; port < 3040; ++port) {
    xlb_flow_key k = flowKey("192.0.2.7", w.addr, port, 80, kTcp);
    uint32_t got = send(*g_dp, w, "192.0.2.7", port, kSyn);
    EXPECT_EQ(got, 1300 + slotOf(sourceHash(k, true), kM) - 1) << "port " << port;
    seen.insert(got);
  }
  EXPECT_GT(seen.size(), 6u) << "with the port hashed, one client spreads";
}

TEST(Algorithms, RoundRobinWalksTheTableInOrderAndKeepsEstablishedFlows) {
  // The agent writes a smooth weighted sequence; here A has weight 2: [A, B, A, C].
  Vip v = makeVip(*g_dp, 104, "10.100.1.4", XLB_ALG_ROUND_ROBIN,
                  {{1401, {kA, 2}}, {1402, {kB, 1}}, {1403, {kC, 1}}}, {1401, 1402, 1401, 1403});
  std::vector<uint32_t> got;
  for (uint16_t port = 4000; port < 4008; ++port) got.push_back(send(v, port, kSyn));
  EXPECT_EQ(got, (std::vector<uint32_t>{1401, 1402, 1401, 1403, 1401, 1402, 1401, 1403}));
  // Established packets and SYN retransmits neither move their flow nor advance the position.
  EXPECT_EQ(send(v, 4001, kAck), 1402u);
  EXPECT_EQ(send(v, 4003, kSyn), 1403u);
  EXPECT_EQ(send(v, 4100, kSyn), 1401u);
  EXPECT_EQ(send(v, 4101, kSyn), 1402u);

  // Changing the VIP's algorithm affects new flows only.
  xlb_vip_key k{};
  auto a = parseAddr(v.addr);
  memcpy(k.addr, a.data(), 16);
  k.port = htons(80);
  k.proto = kTcp;
  k.family = XLB_AF_INET;
  ASSERT_TRUE(g_dp->upsertVip(k, {104, XLB_ALG_MAGLEV, XLB_FWD_DSR, 0}).ok());
  for (uint16_t port = 4000; port < 4008; ++port)
    EXPECT_EQ(send(v, port, kAck), got[port - 4000]) << "port " << port;
}

TEST(Algorithms, RandomReachesEveryBackendInTableProportion) {
  Vip v = makeVip(*g_dp, 105, "10.100.1.5", XLB_ALG_RANDOM, {{1501, {kA, 1}}, {1502, {kB, 3}}},
                  {1501, 1502, 1502, 1502});
  std::map<uint32_t, int> n;
  constexpr int kFlows = 2000;
  for (int i = 0; i < kFlows; ++i) ++n[send(v, static_cast<uint16_t>(10000 + i), kSyn)];
  // Expected 500 / 1500 (sd ~19): a +-40% band never flakes.
  EXPECT_GT(n[1501], 300);
  EXPECT_LT(n[1501], 700);
  EXPECT_EQ(n[1501] + n[1502], kFlows);
}

TEST(Algorithms, LeastConnAvoidsTheLoadedBackend) {
  Vip v = makeVip(*g_dp, 106, "10.100.1.6", XLB_ALG_LEAST_CONN, {{1601, {kA, 1}}, {1602, {kB, 1}}},
                  {1601, 1602});
  ASSERT_TRUE(g_dp->setOpenFlows(1601, 1000).ok());
  for (uint16_t port = 5000; port < 5050; ++port) EXPECT_EQ(send(v, port, kSyn), 1602u);
  EXPECT_EQ(openFlows(1602), 50u);
  EXPECT_EQ(openFlows(1601), 1000u);
}

TEST(Algorithms, LeastConnHonoursWeights) {
  Vip v = makeVip(*g_dp, 107, "10.100.1.7", XLB_ALG_LEAST_CONN, {{1701, {kA, 1}}, {1702, {kB, 3}}},
                  {1701, 1702, 1702, 1702});
  std::map<uint32_t, int> n;
  constexpr int kFlows = 400;
  for (int i = 0; i < kFlows; ++i) ++n[send(v, static_cast<uint16_t>(20000 + i), kSyn)];
  // open/weight is balanced, so B ends up with ~3x A's flows (exactly 100/300 when perfectly even).
  EXPECT_GT(n[1702], 2 * n[1701]);
  EXPECT_LT(n[1702], 4 * n[1701]);
  EXPECT_EQ(openFlows(1701), static_cast<uint64_t>(n[1701]));
  EXPECT_EQ(openFlows(1702), static_cast<uint64_t>(n[1702]));
}

// ---- open-flow counts ----------------------------------------------------------------------------------

TEST(OpenFlows, UpOnSynDownOnceOnFinOrRstUpAgainOnReopen) {
  Vip v = makeVip(*g_dp, 108, "10.100.1.8", XLB_ALG_MAGLEV, {{1801, {kA, 1}}}, {1801});
  const uint64_t close0 = stat(XLB_STAT_FLOW_CLOSE);
  send(v, 6000, kSyn);
  EXPECT_EQ(openFlows(1801), 1u) << "SYN opens";
  send(v, 6000, kAck);
  send(v, 6000, kSyn);
  EXPECT_EQ(openFlows(1801), 1u) << "ACK and SYN retransmit change nothing";
  send(v, 6000, kFinAck);
  EXPECT_EQ(openFlows(1801), 0u) << "FIN closes";
  EXPECT_EQ(stat(XLB_STAT_FLOW_CLOSE), close0 + 1);
  send(v, 6000, kFinAck);
  send(v, 6000, kAck);
  EXPECT_EQ(openFlows(1801), 0u) << "second FIN and late ACK: no change";
  EXPECT_EQ(stat(XLB_STAT_FLOW_CLOSE), close0 + 1);
  send(v, 6000, kSyn);
  EXPECT_EQ(openFlows(1801), 1u) << "SYN re-opens the closing entry";
  send(v, 6000, kRst);
  EXPECT_EQ(openFlows(1801), 0u) << "RST closes";
  send(v, 6001, kSyn);
  send(v, 6002, kSyn);
  EXPECT_EQ(openFlows(1801), 2u);
  send(v, 6003, kFinAck);
  EXPECT_EQ(openFlows(1801), 2u) << "a flow first seen on its FIN is recorded closing, not counted";

  // The agent reset the count under live flows: a close finds 0 and stays there (counted).
  ASSERT_TRUE(g_dp->setOpenFlows(1801, 0).ok());
  const uint64_t under0 = stat(XLB_STAT_CONNS_UNDERFLOW);
  send(v, 6001, kRst);
  EXPECT_EQ(openFlows(1801), 0u);
  EXPECT_EQ(stat(XLB_STAT_CONNS_UNDERFLOW), under0 + 1);
}

TEST(OpenFlows, HealthDownBackendsFlowsAreResteeredAndRecounted) {
  Vip v = makeVip(*g_dp, 109, "10.100.1.9", XLB_ALG_MAGLEV, {{1901, {kA, 1}}, {1902, {kB, 1}}},
                  {1901, 1902});
  // Find one flow on each backend.
  std::map<uint32_t, uint16_t> port_on;
  for (uint16_t port = 7000; port < 7100 && port_on.size() < 2; ++port)
    port_on.emplace(send(v, port, kSyn), port);
  ASSERT_EQ(port_on.size(), 2u);
  const uint64_t open_a = openFlows(1901), open_b = openFlows(1902);
  ASSERT_GE(open_a, 1u);

  // Health checks mark A down: ACTIVE cleared, same gen; the agent swaps the table to B only.
  xlb_backend down = backend(kA, 109);
  down.flags = 0;
  ASSERT_TRUE(g_dp->upsertBackend(1901, down).ok());
  ASSERT_TRUE(g_dp->setSelectionTable(109, std::vector<uint32_t>{1902}).ok());
  const uint64_t resteer0 = stat(XLB_STAT_FLOW_RESTEER);
  EXPECT_EQ(send(v, port_on[1901], kAck), 1902u) << "moved, not black-holed";
  EXPECT_EQ(stat(XLB_STAT_FLOW_RESTEER), resteer0 + 1);
  EXPECT_EQ(openFlows(1901), open_a - 1);
  EXPECT_EQ(openFlows(1902), open_b + 1);
  EXPECT_EQ(send(v, port_on[1901], kAck), 1902u) << "and sticks";
  EXPECT_EQ(openFlows(1901), open_a - 1);
  EXPECT_EQ(send(v, port_on[1902], kAck), 1902u) << "B's flows untouched";
  EXPECT_EQ(openFlows(1902), open_b + 1);
}

TEST(OpenFlows, DeleteBackendZeroesItsCountAndReadWriteRoundTrip) {
  ASSERT_TRUE(g_dp->setOpenFlows(2001, 123456789012ull).ok());
  ASSERT_TRUE(g_dp->setOpenFlows(XLB_MAX_BACKENDS - 1, 7).ok());
  EXPECT_EQ(openFlows(2001), 123456789012ull);
  EXPECT_EQ(openFlows(XLB_MAX_BACKENDS - 1), 7u);
  auto all = g_dp->readOpenFlows();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), static_cast<size_t>(XLB_MAX_BACKENDS));
  ASSERT_TRUE(g_dp->upsertBackend(2001, backend(kA, 0)).ok());
  ASSERT_TRUE(g_dp->deleteBackend(2001).ok());
  EXPECT_EQ(openFlows(2001), 0u);
  EXPECT_EQ(g_dp->setOpenFlows(XLB_MAX_BACKENDS, 1).code(), absl::StatusCode::kInvalidArgument);
}

// ---- flow-table scan --------------------------------------------------------------------------------

std::string keyString(const xlb_flow_key& k) {
  return std::string(reinterpret_cast<const char*>(&k), sizeof(k));
}

TEST(FlowScan, ForEachFlowReturnsExactlyTheFlowsCreated) {
  auto dp = load(1024);  // a table of its own, empty
  Vip v = makeVip(*dp, 0, "10.100.2.1", XLB_ALG_MAGLEV, {{1, {kA, 1}}}, {1});
  std::set<std::string> want;
  for (uint16_t port = 100; port < 200; ++port) {
    send(*dp, v, "192.0.2.1", port, kSyn);
    want.insert(keyString(flowKey("192.0.2.1", v.addr, port, 80, kTcp)));
  }
  std::set<std::string> got;
  int n = 0;
  ASSERT_TRUE(dp->forEachFlow([&](const xlb_flow_key& k, const xlb_flow_value& fv) {
                  got.insert(keyString(k));
                  ++n;
                  EXPECT_EQ(fv.backend_id, 1u);
                  EXPECT_EQ(fv.backend_gen, 1u);
                  EXPECT_EQ(fv.flags, 0u);
                  EXPECT_LE(fv.last_seen_ns, dp->monotonicNowNs() + 1000000000ull);
                }).ok());
  EXPECT_EQ(n, 100);
  EXPECT_EQ(got, want);
}

TEST(FlowScan, ForEachFlowCrossesBatchBoundaries) {
  auto dp = load(32768);
  constexpr uint32_t kN = 3 * BpfDataplane::kFlowBatch + 17;
  std::vector<xlb_flow_key> keys(kN);
  std::vector<xlb_flow_value> vals(kN);
  for (uint32_t i = 0; i < kN; ++i) {
    keys[i] = flowKey("198.18.0.1", "10.100.2.2", static_cast<uint16_t>(i), 80, kTcp);
    vals[i] = {i % 7, 1, 1, 0, 0};
  }
  uint32_t count = kN;
  ASSERT_EQ(bpf_map_update_batch(dp->mapFd("xlb_flows"), keys.data(), vals.data(), &count, nullptr), 0);
  std::set<std::string> seen;
  ASSERT_TRUE(dp->forEachFlow([&](const xlb_flow_key& k, const xlb_flow_value& v) {
                  EXPECT_EQ(v.backend_id, ntohs(k.sport) % 7u);
                  seen.insert(keyString(k));
                }).ok());
  EXPECT_EQ(seen.size(), kN);
}

}  // namespace
}  // namespace xlb::test
