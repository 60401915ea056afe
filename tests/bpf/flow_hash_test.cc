// SPDX-License-Identifier: Apache-2.0
// The agent's C++ hashes (agent/dataplane/flow_hash.h) against bpf/lib/hash.h, observed on the real
// balancer under BPF_PROG_TEST_RUN: the flow hash byte for byte in the outer source of ipip frames
// (the host mask covers the whole address), the source hash through the slot it picks.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "fixture.h"

namespace xlb::test {
namespace {

using dataplane::BpfDataplane;

constexpr uint8_t kSyn = 0x02, kTcp = 6, kUdp = 17;
// Random tuples replay from this seed (printed with every mismatch).
constexpr uint32_t kSeed = 0x5eed1234;

BpfDataplane* g_dp = nullptr;

// Outer sources are all host bits: IPv4 0.0.0.0 mask 255.255.255.255 and IPv6 :: with the last
// word masked, so the outer source carries the program's 32-bit flow hash unchanged.
xlb_settings wholeHashSettings() {
  xlb_settings s{};
  s.encap_v4_host_mask = 0xffffffff;
  s.encap_v6_host_mask = 0xffffffff;
  s.nr_wildcard_vips = 1;
  return s;
}

class Env : public ::testing::Environment {
 public:
  void SetUp() override {
    setUpOrSkip("bpf flow hash tests");
    g_dp = loadOrSkip("bpf flow hash tests", 65536).release();
    ASSERT_TRUE(g_dp->setSettings(wholeHashSettings()).ok());
  }
  void TearDown() override { delete g_dp; }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new Env);

struct Tuple {
  std::string what;  // why this tuple is here ("random #12", "sport 0xff00")
  std::string src, dst;
  uint16_t sport, dport;
  uint8_t proto;
};

std::string describe(const Tuple& t) {
  return t.what + ": " + t.src + ":" + std::to_string(t.sport) + " -> " + t.dst + ":" +
         std::to_string(t.dport) + (t.proto == kTcp ? "/tcp" : "/udp") + " (seed " +
         std::to_string(kSeed) + ")";
}

Bytes frameOf(const Tuple& t) {
  PacketBuilder p;
  p.eth(kLbMac, kClientMac);
  if (t.src.find(':') != std::string::npos)
    p.ipv6(t.src, t.dst);
  else
    p.ipv4(t.src, t.dst);
  if (t.proto == kTcp) return p.tcp(t.sport, t.dport, kSyn).build();
  return p.udp(t.sport, t.dport).build();
}

std::string v4Text(uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char buf[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, &a, buf, sizeof(buf));
}

std::string v6Text(const uint8_t bytes[16]) {
  char buf[INET6_ADDRSTRLEN];
  return inet_ntop(AF_INET6, bytes, buf, sizeof(buf));
}

// A unicast IPv4 client the program balances (not 0/8, 127/8, 224/4 or 240/4).
std::string randomClient4(std::mt19937& rng) {
  for (;;) {
    const uint32_t a = rng();
    const uint32_t first = a >> 24;
    if (first != 0 && first != 127 && first < 224) return v4Text(a);
  }
}

// An IPv6 client outside ::/32 and ff00::/8 (the parser's cheap martian test).
std::string randomClient6(std::mt19937& rng) {
  uint8_t b[16];
  for (;;) {
    for (int i = 0; i < 16; i += 4) {
      const uint32_t w = rng();
      memcpy(b + i, &w, 4);
    }
    if (b[0] != 0xff && (b[0] | b[1] | b[2] | b[3]) != 0) return v6Text(b);
  }
}

// Destinations: port-0 VIPs (every destination port balanced), tcp and udp, alternately
// encapsulated toward an IPv4 and an IPv6 backend so IPIP, 4in6, 6in4 and IP6IP6 all carry the
// hash.
struct Vips {
  std::vector<std::string> v4, v6;
};

Vips installVips(std::mt19937& rng) {
  Vips vips;
  vips.v4 = {"10.100.0.1", "198.51.100.255", "223.255.255.254", "1.0.0.0", "128.0.0.1"};
  vips.v6 = {"2001:db8::1", "fd00:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "2001:db8:8000::8000"};
  for (int i = 0; i < 11; ++i) vips.v4.push_back(randomClient4(rng));
  for (int i = 0; i < 5; ++i) vips.v6.push_back(randomClient6(rng));
  uint32_t id = 1;
  auto add = [&](const std::string& addr) {
    EXPECT_TRUE(g_dp->upsertVipAddr(makeAddrKey(addr), {2, 2}).ok()) << addr;
    for (uint8_t proto : {kTcp, kUdp}) {
      const std::string backend = id % 2 ? "10.0.0.2" : "fd00::2";
      EXPECT_TRUE(g_dp->upsertBackend(id, makeBackend(backend, id)).ok());
      EXPECT_TRUE(g_dp->setSelectionTable(id, std::vector<uint32_t>(7, id)).ok());
      xlb_vip_value v{id, XLB_ALG_MAGLEV, XLB_FWD_IPIP, 0};
      EXPECT_TRUE(g_dp->upsertVip(makeVipKey(addr, 0, proto), v).ok()) << addr;
      ++id;
    }
  };
  for (const auto& a : vips.v4) add(a);
  for (const auto& a : vips.v6) add(a);
  return vips;
}

// The hash the program wrote into the outer source (and, outer IPv6, the flow label's 20 bits).
// Returns false, with a failure recorded, when the frame is not an encapsulated XDP_TX.
bool outerHash(const Tuple& t, const RunResult& r, uint32_t* hash) {
  EXPECT_EQ(r.err, 0) << describe(t);
  EXPECT_EQ(r.ret, static_cast<uint32_t>(XDP_TX)) << describe(t);
  if (r.err != 0 || r.ret != XDP_TX || r.out.size() < 14 + 40) return false;
  const uint16_t ethertype = static_cast<uint16_t>(r.out[12] << 8 | r.out[13]);
  if (ethertype == 0x0800) {
    memcpy(hash, r.out.data() + 14 + 12, 4);  // saddr
    return true;
  }
  EXPECT_EQ(ethertype, 0x86dd) << describe(t);
  memcpy(hash, r.out.data() + 14 + 8 + 12, 4);  // last word of the source
  const uint32_t label = (r.out[15] & 0x0fu) << 16 | r.out[16] << 8 | r.out[17];
  EXPECT_EQ(label, *hash & 0xfffff) << "flow label, " << describe(t);
  return true;
}

void expectSameFlowHash(const std::vector<Tuple>& tuples) {
  int checked = 0;
  for (const Tuple& t : tuples) {
    RunResult r = runXdp(g_dp->programFd(), frameOf(t), lbIfindex());
    uint32_t got = 0;
    if (!outerHash(t, r, &got)) continue;
    const uint32_t want = flowHash(flowKey(t.src, t.dst, t.sport, t.dport, t.proto));
    EXPECT_EQ(got, want) << describe(t);
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(tuples.size()));
}

// Ports whose bytes differ in order or sign: a byte-order or sign-extension slip shows on these.
const uint16_t kEdgePorts[] = {0, 1, 0x00ff, 0x0100, 0x7fff, 0x8000, 0xff00, 0xfffe, 0xffff};

class FlowHashTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rng_ = std::make_unique<std::mt19937>(kSeed);
    vips_ = installVips(*rng_);
  }
  static std::vector<Tuple> randomTuples(bool v6, uint8_t proto, int n) {
    std::vector<Tuple> out;
    const auto& dsts = v6 ? vips_.v6 : vips_.v4;
    std::uniform_int_distribution<uint32_t> port(0, 65535);
    for (int i = 0; i < n; ++i) {
      out.push_back({"random #" + std::to_string(i),
                     v6 ? randomClient6(*rng_) : randomClient4(*rng_),
                     dsts[(*rng_)() % dsts.size()], static_cast<uint16_t>(port(*rng_)),
                     static_cast<uint16_t>(port(*rng_)), proto});
    }
    return out;
  }
  static std::unique_ptr<std::mt19937> rng_;
  static Vips vips_;
};
std::unique_ptr<std::mt19937> FlowHashTest::rng_;
Vips FlowHashTest::vips_;

TEST_F(FlowHashTest, RandomIpv4TcpAndUdpTuples) {
  expectSameFlowHash(randomTuples(false, kTcp, 500));
  expectSameFlowHash(randomTuples(false, kUdp, 500));
}

TEST_F(FlowHashTest, RandomIpv6TcpAndUdpTuples) {
  expectSameFlowHash(randomTuples(true, kTcp, 500));
  expectSameFlowHash(randomTuples(true, kUdp, 500));
}

TEST_F(FlowHashTest, EdgeTuples) {
  std::vector<Tuple> tuples;
  const std::vector<std::string> clients4 = {"1.0.0.0",   "1.0.0.1",         "126.255.255.255",
                                             "128.0.0.0", "223.255.255.255", "192.0.2.1",
                                             "10.100.0.2"};
  const std::vector<std::string> clients6 = {
      "2001:db8::2",         "::2",   "::ffff:192.0.2.1", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
      "2001:db8::ffff:ffff", "8000::"};
  for (uint8_t proto : {kTcp, kUdp}) {
    for (const auto& c : clients4) {
      for (uint16_t sp : kEdgePorts) {
        tuples.push_back({"edge sport", c, vips_.v4[0], sp, 80, proto});
        tuples.push_back({"edge dport", c, vips_.v4[1], 40000, sp, proto});
      }
    }
    for (const auto& c : clients6) {
      for (uint16_t sp : kEdgePorts) {
        tuples.push_back({"edge sport", c, vips_.v6[0], sp, 443, proto});
        tuples.push_back({"edge dport", c, vips_.v6[1], 40000, sp, proto});
      }
    }
    // The same ports swapped, and the same tuple toward each VIP: only one word differs.
    tuples.push_back({"ports a", "192.0.2.7", vips_.v4[2], 1234, 4321, proto});
    tuples.push_back({"ports b", "192.0.2.7", vips_.v4[2], 4321, 1234, proto});
    for (const auto& d : vips_.v4) tuples.push_back({"each v4 VIP", "192.0.2.8", d, 5, 6, proto});
    for (const auto& d : vips_.v6) tuples.push_back({"each v6 VIP", "2001:db8::8", d, 5, 6, proto});
  }
  expectSameFlowHash(tuples);
}

// The source_hash algorithm's hash, seen through the slot it picks: a table of kM distinct backends
// (slot i holds backend base + i) and the flow table says which backend, hence which slot, the
// program chose for each new flow.
TEST(SourceHashTest, SlotOfEveryClientIsTheOneTheCxxHashPicks) {
  constexpr uint32_t kM = 1021;
  std::mt19937 rng(kSeed + 1);
  struct Case {
    const char* vip;
    uint32_t vip_id, base;
    bool with_port;
  };
  const Case cases[] = {{"10.200.0.1", 100, 1000, false},
                        {"10.200.0.2", 101, 3000, true},
                        {"2001:db8:200::1", 102, 5000, false},
                        {"2001:db8:200::2", 103, 7000, true}};
  for (const Case& c : cases) {
    const bool v6 = std::string(c.vip).find(':') != std::string::npos;
    std::vector<uint32_t> table;
    for (uint32_t i = 0; i < kM; ++i) {
      ASSERT_TRUE(
          g_dp->upsertBackend(c.base + i, makeBackend(v6 ? "fd00::2" : "10.0.0.2", c.vip_id)).ok());
      table.push_back(c.base + i);
    }
    ASSERT_TRUE(g_dp->setSelectionTable(c.vip_id, table).ok());
    ASSERT_TRUE(g_dp->upsertVipAddr(makeAddrKey(c.vip), {1, 0}).ok());
    xlb_vip_value v{c.vip_id, XLB_ALG_SOURCE_HASH, XLB_FWD_IPIP,
                    static_cast<uint16_t>(c.with_port ? XLB_VIP_F_HASH_SRC_PORT : 0)};
    ASSERT_TRUE(g_dp->upsertVip(makeVipKey(c.vip, 80, kTcp), v).ok());

    for (int i = 0; i < 300; ++i) {
      const Tuple t{std::string(c.vip) + (c.with_port ? " +port #" : " #") + std::to_string(i),
                    v6 ? randomClient6(rng) : randomClient4(rng),
                    c.vip,
                    static_cast<uint16_t>(rng()),
                    80,
                    kTcp};
      RunResult r = runXdp(g_dp->programFd(), frameOf(t), lbIfindex());
      ASSERT_EQ(r.err, 0) << describe(t);
      const xlb_flow_key k = flowKey(t.src, t.dst, t.sport, t.dport, kTcp);
      xlb_flow_value fv{};
      ASSERT_EQ(bpf_map_lookup_elem(g_dp->mapFd("xlb_flows"), &k, &fv), 0) << describe(t);
      const uint32_t want = dataplane::slotOfHash(sourceHash(k, c.with_port), kM);
      EXPECT_EQ(fv.backend_id - c.base, want) << describe(t);
    }
  }
}

}  // namespace
}  // namespace xlb::test
