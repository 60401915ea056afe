// SPDX-License-Identifier: Apache-2.0
// Runs the real XDP balancer (and the decap programs) with BPF_PROG_TEST_RUN: fixtures with input
// packets, expected actions, exact expected output bytes and the counters each path must bump.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <net/if.h>
#include <unistd.h>
#include <filesystem>
#include <memory>
#include <set>
#include <vector>

#include "dataplane/bpf_contents.h"
#include "fixture.h"
#include "xlb_decap.skel.h"

namespace xlb::test {
namespace {

using dataplane::BpfDataplane;
using dataplane::CounterSnapshot;

constexpr uint8_t kSyn = 0x02, kAck = 0x10, kPshAck = 0x18;
constexpr uint8_t kTcp = 6, kUdp = 17;
constexpr int TC_OK = 0, TC_SHOT = 2;

BpfDataplane* g_dp = nullptr;
xlb_decap* g_decap = nullptr;

// Suite-wide set-up: skip (exit 77, reason printed) when the kernel/privileges are missing.
class Env : public ::testing::Environment {
 public:
  void SetUp() override {
    setUpOrSkip("bpf tests");
    g_dp = loadOrSkip("bpf tests", 4096).release();
    g_decap = xlb_decap__open_and_load();
    if (!g_decap) skipSuite("bpf tests", "cannot load the decap program");
  }
  void TearDown() override {
    delete g_dp;
    if (g_decap) xlb_decap__destroy(g_decap);
  }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new Env);

// VIP `id` at addr:port/proto with one backend `be_id` at be_addr (or none when be_addr is empty).
void addVip(uint32_t id, const std::string& addr, uint16_t port, uint8_t proto, uint8_t mode,
            uint32_t be_id, const std::string& be_addr) {
  ASSERT_TRUE(g_dp->upsertVipAddr(makeAddrKey(addr), {1, 0}).ok());
  if (!be_addr.empty()) {
    ASSERT_TRUE(g_dp->upsertBackend(be_id, makeBackend(be_addr, id)).ok());
    std::vector<uint32_t> table(7, be_id);  // any M works; 7 slots all on this backend
    ASSERT_TRUE(g_dp->setSelectionTable(id, table).ok());
  }
  xlb_vip_value v{id, XLB_ALG_MAGLEV, mode, 0};
  ASSERT_TRUE(g_dp->upsertVip(makeVipKey(addr, port, proto), v).ok());
}

CounterSnapshot counters() { return readCounters(*g_dp); }

Bytes ipipFrame(const std::string& dmac, const std::string& smac, int vlan_tci,
                const std::string& backend_addr, const xlb_flow_key& key, uint8_t tos,
                const Bytes& inner) {
  bool outer_v6 = false;
  auto dst = parseAddr(backend_addr, &outer_v6);
  const uint32_t hash = flowHash(key);
  const uint8_t inner_proto = key.family == XLB_AF_INET ? 4 : 41;
  Bytes b;
  Mac d = parseMac(dmac), s = parseMac(smac);
  b.insert(b.end(), d.begin(), d.end());
  b.insert(b.end(), s.begin(), s.end());
  if (vlan_tci >= 0) {
    b.push_back(0x81);
    b.push_back(0x00);
    b.push_back(static_cast<uint8_t>(vlan_tci >> 8));
    b.push_back(static_cast<uint8_t>(vlan_tci));
  }
  b.push_back(outer_v6 ? 0x86 : 0x08);
  b.push_back(outer_v6 ? 0xdd : 0x00);
  if (!outer_v6) {
    // Source 172.16.0.0/16 with host bits from the hash (settings below).
    uint32_t prefix, mask, saddr;
    uint8_t pfx[4] = {172, 16, 0, 0}, msk[4] = {0, 0, 255, 255};
    memcpy(&prefix, pfx, 4);
    memcpy(&mask, msk, 4);
    saddr = (prefix & ~mask) | (hash & mask);
    Bytes h = {0x45, tos, 0, 0, 0, 0, 0x40, 0, 64, inner_proto, 0, 0};
    uint16_t tot = static_cast<uint16_t>(inner.size() + 20);
    h[2] = static_cast<uint8_t>(tot >> 8);
    h[3] = static_cast<uint8_t>(tot);
    uint8_t sa[4];
    memcpy(sa, &saddr, 4);
    h.insert(h.end(), sa, sa + 4);
    h.insert(h.end(), dst.begin(), dst.begin() + 4);
    uint16_t c = inetChecksum(h.data(), h.size());
    h[10] = static_cast<uint8_t>(c >> 8);
    h[11] = static_cast<uint8_t>(c);
    b.insert(b.end(), h.begin(), h.end());
  } else {
    uint32_t w0 = (6u << 28) | (static_cast<uint32_t>(tos) << 20) | (hash & 0xfffff);
    Bytes h = {static_cast<uint8_t>(w0 >> 24), static_cast<uint8_t>(w0 >> 16),
               static_cast<uint8_t>(w0 >> 8), static_cast<uint8_t>(w0),
               static_cast<uint8_t>(inner.size() >> 8), static_cast<uint8_t>(inner.size()),
               inner_proto, 64};
    // Source fd00:7862::/64, last 32 bits from the hash (mask ffff:ffff).
    auto src = parseAddr("fd00:7862::");
    memcpy(src.data() + 12, &hash, 4);
    h.insert(h.end(), src.begin(), src.end());
    h.insert(h.end(), dst.begin(), dst.end());
    b.insert(b.end(), h.begin(), h.end());
  }
  b.insert(b.end(), inner.begin(), inner.end());
  return b;
}

// Strips `frame`'s L2 header and puts `inner` behind the same MACs/VLAN: what decap must output.
Bytes decapped(const Bytes& encapsulated, int vlan_tci, const Bytes& inner) {
  const size_t l2 = vlan_tci >= 0 ? 18 : 14;
  Bytes b(encapsulated.begin(), encapsulated.begin() + l2);
  bool v6 = (inner[0] >> 4) == 6;
  b[l2 - 2] = v6 ? 0x86 : 0x08;
  b[l2 - 1] = v6 ? 0xdd : 0x00;
  b.insert(b.end(), inner.begin(), inner.end());
  return b;
}

class BalancerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(g_dp->setSettings(testSettings(1)).ok());
    // The tagged fixtures below use these VLANs; unaccepted ones are malformed_icmp_test's.
    for (uint32_t vlan : {7u, 42u, 43u, 100u}) acceptVlan(*g_dp, vlan);

    addVip(0, "10.100.0.10", 80, kTcp, XLB_FWD_DSR, 1, "10.0.0.2");
    addVip(1, "10.100.0.10", 53, kUdp, XLB_FWD_DSR, 2, "10.0.0.3");
    addVip(2, "2001:db8::10", 80, kTcp, XLB_FWD_DSR, 3, "fd00::2");
    addVip(3, "2001:db8::10", 53, kUdp, XLB_FWD_DSR, 4, "fd00::3");
    addVip(4, "10.100.0.20", 80, kTcp, XLB_FWD_IPIP, 5, "10.0.0.2");     // IPIP
    addVip(5, "10.100.0.20", 53, kUdp, XLB_FWD_IPIP, 6, "fd00::2");      // 4in6
    addVip(6, "2001:db8::20", 80, kTcp, XLB_FWD_IPIP, 7, "fd00::3");     // IP6IP6
    addVip(7, "2001:db8::20", 53, kUdp, XLB_FWD_IPIP, 8, "10.0.0.3");    // 6in4
    addVip(8, "10.100.0.30", 0, kTcp, XLB_FWD_DSR, 9, "10.0.0.2");       // every port
    addVip(9, "10.100.0.40", 80, kTcp, XLB_FWD_DSR, 0, "");              // no backend
    addVip(10, "10.100.0.50", 80, kTcp, XLB_FWD_DSR, 10, "10.0.0.9");    // no neighbour
    addVip(11, "10.100.0.50", 81, kTcp, XLB_FWD_IPIP, 11, "10.0.0.9");   // no neighbour, ipip
    addVip(12, "10.100.0.60", 80, kTcp, XLB_FWD_DSR, 12, "10.0.1.2");    // other interface
    addVip(13, "10.100.0.70", 80, kTcp, XLB_FWD_DSR, 13, "10.0.2.2");    // unreachable
    addVip(14, "10.100.0.80", 80, kTcp, XLB_FWD_DSR, 14, "10.0.0.2");    // stickiness
    addVip(15, "2001:db8::50", 80, kTcp, XLB_FWD_DSR, 15, "fd00::9");    // no neighbour v6
  }
};

struct Fixture {
  std::string description;
  Bytes input;
  uint32_t action;
  Bytes expected;                    // exact output bytes
  int stat = -1;                     // global counter that must grow by one
  int drop = -1;                     // drop reason that must grow by one
};

void check(const Fixture& f, int ifindex = 0) {
  SCOPED_TRACE(f.description);
  CounterSnapshot before = counters();
  RunResult r = runXdp(g_dp->programFd(), f.input, ifindex ? ifindex : lbIfindex());
  ASSERT_EQ(r.err, 0) << "test run failed";
  EXPECT_EQ(r.ret, f.action);
  EXPECT_EQ(r.out, f.expected) << "got:" << hexdump(r.out) << "\nwant:" << hexdump(f.expected);
  CounterSnapshot after = counters();
  EXPECT_EQ(after.global[XLB_STAT_RX], before.global[XLB_STAT_RX] + 1);
  EXPECT_EQ(after.global[f.action], before.global[f.action] + 1);
  if (f.stat >= 0) {
    EXPECT_EQ(after.global[f.stat], before.global[f.stat] + 1) << "stat " << f.stat;
  }
  if (f.drop >= 0) {
    EXPECT_EQ(after.drops[f.drop], before.drops[f.drop] + 1) << "drop " << f.drop;
  }
  for (int d = 0; d < XLB_DROP_MAX; ++d) {
    if (d != f.drop) {
      EXPECT_EQ(after.drops[d], before.drops[d]) << "unexpected drop reason " << d;
    }
  }
}

// ---- forwarding: v4/v6 x TCP/UDP x dsr ------------------------------------------------------------

TEST_F(BalancerTest, DsrForwardsWithRewrittenMacsOnly) {
  struct C {
    const char* d;
    PacketBuilder p;
    const char* be_mac;
  } cases[] = {
      {"dsr v4 tcp syn", PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.100.0.10").tcp(40000, 80, kSyn), kBackendMacA},
      {"dsr v4 udp", PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.100.0.10").udp(40000, 53).payload({1, 2, 3}), kBackendMacB},
      {"dsr v6 tcp syn", PacketBuilder().eth(kLbMac, kClientMac).ipv6("2001:db8:1::1", "2001:db8::10").tcp(40000, 80, kSyn), kBackendMacA},
      {"dsr v6 udp", PacketBuilder().eth(kLbMac, kClientMac).ipv6("2001:db8:1::1", "2001:db8::10").udp(40000, 53).payload({9}), kBackendMacB},
      {"dsr v4 tcp with VLAN tag kept", PacketBuilder().eth(kLbMac, kClientMac).vlan(100).ipv4("192.0.2.1", "10.100.0.10").tcp(40001, 80, kSyn), kBackendMacA},
      {"dsr v6 tcp with 802.1ad tag kept", PacketBuilder().eth(kLbMac, kClientMac).vlan(7, 0x88a8).ipv6("2001:db8:1::1", "2001:db8::10").tcp(40001, 80, kSyn), kBackendMacA},
      {"dsr wildcard-port VIP", PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.100.0.30").tcp(40000, 8443, kSyn), kBackendMacA},
  };
  for (auto& c : cases) {
    Bytes in = c.p.build();
    check({c.d, in, XDP_TX, withMacs(in, c.be_mac, kLbMac), XLB_STAT_FLOW_NEW});
  }
}

TEST_F(BalancerTest, DsrRedirectsToAnotherInterface) {
  Bytes in = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.100.0.60").tcp(1000, 80, kSyn).build();
  check({"backend behind lb1: XDP_REDIRECT with lb1's MAC", in, XDP_REDIRECT,
         withMacs(in, kBackendMacC, kLb1Mac), XLB_STAT_FLOW_NEW});
}

// ---- forwarding: ipip, every family mix, exact outer headers --------------------------------------

TEST_F(BalancerTest, IpipEncapsulatesExactly) {
  struct C {
    const char* d;
    PacketBuilder p;
    const char* src;
    const char* dst;
    uint16_t sport, dport;
    uint8_t proto, tos;
    const char* be_addr;
    const char* be_mac;
    int vlan;
  } cases[] = {
      {"ipip v4 in v4 tcp", PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.100.0.20", 0x28).tcp(40000, 80, kSyn),
       "192.0.2.1", "10.100.0.20", 40000, 80, kTcp, 0x28, "10.0.0.2", kBackendMacA, -1},
      {"ipip v4 in v6 (4in6) udp", PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.100.0.20").udp(40000, 53).payload({1, 2, 3, 4}),
       "192.0.2.1", "10.100.0.20", 40000, 53, kUdp, 0, "fd00::2", kBackendMacA, -1},
      {"ipip v6 in v6 tcp", PacketBuilder().eth(kLbMac, kClientMac).ipv6("2001:db8:1::1", "2001:db8::20", 0xb8).tcp(40000, 80, kSyn),
       "2001:db8:1::1", "2001:db8::20", 40000, 80, kTcp, 0xb8, "fd00::3", kBackendMacB, -1},
      {"ipip v6 in v4 (6in4) udp", PacketBuilder().eth(kLbMac, kClientMac).ipv6("2001:db8:1::1", "2001:db8::20").udp(40000, 53),
       "2001:db8:1::1", "2001:db8::20", 40000, 53, kUdp, 0, "10.0.0.3", kBackendMacB, -1},
      {"ipip v4 in v4 with VLAN tag", PacketBuilder().eth(kLbMac, kClientMac).vlan(42).ipv4("192.0.2.7", "10.100.0.20").tcp(40002, 80, kSyn),
       "192.0.2.7", "10.100.0.20", 40002, 80, kTcp, 0, "10.0.0.2", kBackendMacA, 42},
      {"ipip v6 in v4 with VLAN tag and padding", PacketBuilder().eth(kLbMac, kClientMac).vlan(43).ipv6("2001:db8:1::7", "2001:db8::20").udp(5, 53),
       "2001:db8:1::7", "2001:db8::20", 5, 53, kUdp, 0, "10.0.0.3", kBackendMacB, 43},
  };
  for (auto& c : cases) {
    Bytes in = c.p.build();
    Bytes inner = c.p.l3();
    xlb_flow_key key = flowKey(c.src, c.dst, c.sport, c.dport, c.proto);
    Bytes want = ipipFrame(c.be_mac, kLbMac, c.vlan, c.be_addr, key, c.tos, inner);
    check({c.d, in, XDP_TX, want, XLB_STAT_FLOW_NEW});

    // The backend's decap programs must give back exactly the original IP packet.
    SCOPED_TRACE(c.d);
    RunResult x = runXdp(bpf_program__fd(g_decap->progs.xlb_decap_xdp), want, lbIfindex());
    ASSERT_EQ(x.err, 0);
    EXPECT_EQ(x.ret, XDP_PASS);
    EXPECT_EQ(x.out, decapped(want, c.vlan, inner)) << "got:" << hexdump(x.out);
    if (c.vlan < 0) {
      RunResult t = runTc(bpf_program__fd(g_decap->progs.xlb_decap_tc), want);
      ASSERT_EQ(t.err, 0);
      EXPECT_EQ(t.ret, static_cast<uint32_t>(TC_OK));
      EXPECT_EQ(t.out, decapped(want, c.vlan, inner)) << "tc got:" << hexdump(t.out);
    }
  }
}

TEST_F(BalancerTest, IpipPadsFrameTrailerUntouched) {
  // A 60-byte minimum Ethernet frame carries padding after the IP packet; the outer length must
  // cover only the IP packet, and the padding stays as trailer.
  PacketBuilder p = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.9", "10.100.0.20").tcp(7, 80, kSyn);
  Bytes in = p.build();
  in.resize(60 + 4, 0);  // 54 + padding
  Bytes want = ipipFrame(kBackendMacA, kLbMac, -1, "10.0.0.2", flowKey("192.0.2.9", "10.100.0.20", 7, 80, kTcp), 0, p.l3());
  want.resize(want.size() + 10, 0);
  check({"padded frame", in, XDP_TX, want, XLB_STAT_FLOW_NEW});
}

TEST_F(BalancerTest, OuterSourceSpreadsAcrossFlowsInsidePrefix) {
  std::set<uint32_t> sources;
  for (uint16_t port = 1000; port < 1064; ++port) {
    Bytes in = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.100.0.20").tcp(port, 80, kSyn).build();
    RunResult r = runXdp(g_dp->programFd(), in, lbIfindex());
    ASSERT_EQ(r.ret, XDP_TX);
    ASSERT_EQ(r.out[14 + 12], 172);
    ASSERT_EQ(r.out[14 + 13], 16);
    sources.insert((r.out[14 + 14] << 8) | r.out[14 + 15]);
  }
  EXPECT_GT(sources.size(), 60u) << "outer sources should differ per flow";
}

// ---- pass / drop paths ----------------------------------------------------------------------------

TEST_F(BalancerTest, NonVipAndNonIpPassUntouched) {
  Bytes a = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.100.0.99").tcp(1, 80, kSyn).build();
  check({"tcp to a non-VIP address", a, XDP_PASS, a, XLB_STAT_NON_VIP});
  Bytes b = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.100.0.10").tcp(1, 8080, kSyn).build();
  check({"tcp to a VIP address, other port", b, XDP_PASS, b, XLB_STAT_NON_VIP});
  Bytes c = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.100.0.10").udp(1, 80).build();
  check({"udp to a tcp-only VIP port", c, XDP_PASS, c, XLB_STAT_NON_VIP});
  Bytes d = PacketBuilder().eth(kLbMac, kClientMac).ipv6("2001:db8:1::1", "2001:db8::99").udp(1, 53).build();
  check({"v6 udp to a non-VIP", d, XDP_PASS, d, XLB_STAT_NON_VIP});
  Bytes arp = PacketBuilder().eth("ff:ff:ff:ff:ff:ff", kClientMac).ethertype(0x0806).build();
  arp.resize(60, 0);
  check({"ARP", arp, XDP_PASS, arp, XLB_STAT_NON_IP});
  Bytes qinq = PacketBuilder().eth(kLbMac, kClientMac).vlan(1, 0x88a8).vlan(2).ipv4("192.0.2.1", "10.100.0.10").tcp(1, 80, kSyn).build();
  check({"double-tagged frame (only one tag is parsed)", qinq, XDP_PASS, qinq, XLB_STAT_NON_IP});
}

TEST_F(BalancerTest, MalformedPacketsDropForVipPassOtherwise) {
  struct C {
    const char* d;
    PacketBuilder vip;   // addressed to a VIP address
    PacketBuilder other; // same malformation, not a VIP address
    int drop;
  };
  auto v4 = [](const char* dst) { return PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", dst); };
  auto v6 = [](const char* dst) { return PacketBuilder().eth(kLbMac, kClientMac).ipv6("2001:db8:1::1", dst); };
  C cases[] = {
      {"IPv4 IHL < 5", v4("10.100.0.10").tcp(1, 80, kSyn).ihl(4), v4("10.9.9.9").tcp(1, 80, kSyn).ihl(4), XLB_DROP_BAD_IHL},
      {"IPv4 options", v4("10.100.0.10").ipv4Options({1, 1, 1, 0}).tcp(1, 80, kSyn), v4("10.9.9.9").ipv4Options({1, 1, 1, 0}).tcp(1, 80, kSyn), XLB_DROP_IP_OPTIONS},
      {"IPv4 first fragment (MF)", v4("10.100.0.10").fragOff(0x2000).tcp(1, 80, kSyn), v4("10.9.9.9").fragOff(0x2000).tcp(1, 80, kSyn), XLB_DROP_FRAGMENT},
      {"IPv4 later fragment (offset)", v4("10.100.0.10").fragOff(0x0010).udp(1, 53), v4("10.9.9.9").fragOff(0x0010).udp(1, 53), XLB_DROP_FRAGMENT},
      {"IPv4 total length > frame", v4("10.100.0.10").tcp(1, 80, kSyn).ipLenDelta(100), v4("10.9.9.9").tcp(1, 80, kSyn).ipLenDelta(100), XLB_DROP_BAD_LEN},
      {"IPv4 truncated TCP header", v4("10.100.0.10").rawL4(6, {0, 1, 0, 80, 0, 0}), v4("10.9.9.9").rawL4(6, {0, 1, 0, 80, 0, 0}), XLB_DROP_TRUNCATED},
      {"IPv4 truncated UDP header", v4("10.100.0.10").rawL4(17, {0, 1, 0, 53}), v4("10.9.9.9").rawL4(17, {0, 1, 0, 53}), XLB_DROP_TRUNCATED},
      {"IPv4 GRE to a VIP address", v4("10.100.0.10").rawL4(47, {0, 0, 8, 0}), v4("10.9.9.9").rawL4(47, {0, 0, 8, 0}), XLB_DROP_UNKNOWN_PROTO},
      {"IPv6 fragment header", v6("2001:db8::10").ipv6ExtHeader(44, {0, 1, 0, 0, 0, 1}).udp(1, 53), v6("2001:db8::99").ipv6ExtHeader(44, {0, 1, 0, 0, 0, 1}).udp(1, 53), XLB_DROP_FRAGMENT},
      {"IPv6 hop-by-hop header", v6("2001:db8::10").ipv6ExtHeader(0, {1, 4, 0, 0, 0, 0}).tcp(1, 80, kSyn), v6("2001:db8::99").ipv6ExtHeader(0, {1, 4, 0, 0, 0, 0}).tcp(1, 80, kSyn), XLB_DROP_IP_OPTIONS},
      {"IPv6 destination options", v6("2001:db8::10").ipv6ExtHeader(60, {1, 4, 0, 0, 0, 0}).tcp(1, 80, kSyn), v6("2001:db8::99").ipv6ExtHeader(60, {1, 4, 0, 0, 0, 0}).tcp(1, 80, kSyn), XLB_DROP_IP_OPTIONS},
      {"IPv6 payload length > frame", v6("2001:db8::10").tcp(1, 80, kSyn).ipLenDelta(8), v6("2001:db8::99").tcp(1, 80, kSyn).ipLenDelta(8), XLB_DROP_BAD_LEN},
      {"IPv6 truncated TCP header", v6("2001:db8::10").rawL4(6, {0, 1}), v6("2001:db8::99").rawL4(6, {0, 1}), XLB_DROP_TRUNCATED},
      {"IPv6 unknown next header (SCTP)", v6("2001:db8::10").rawL4(132, {0, 0, 0, 0}), v6("2001:db8::99").rawL4(132, {0, 0, 0, 0}), XLB_DROP_UNKNOWN_PROTO},
  };
  for (auto& c : cases) {
    Bytes in = c.vip.build();
    check({std::string(c.d) + " (to a VIP address)", in, XDP_DROP, in, -1, c.drop});
    Bytes o = c.other.build();
    int pass_stat = c.drop == XLB_DROP_UNKNOWN_PROTO ? XLB_STAT_NON_VIP : XLB_STAT_MALFORMED_PASS;
    check({std::string(c.d) + " (not a VIP address)", o, XDP_PASS, o, pass_stat});
  }
}

TEST_F(BalancerTest, TruncatedHeadersWithUnknownDestinationPass) {
  Bytes tag = PacketBuilder().eth(kLbMac, kClientMac).vlan(5).ipv4("192.0.2.1", "10.100.0.10").tcp(1, 80, kSyn).truncateTo(16).build();
  check({"truncated VLAN tag", tag, XDP_PASS, tag, XLB_STAT_MALFORMED_PASS});
  Bytes ip4 = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.100.0.10").tcp(1, 80, kSyn).truncateTo(14 + 12).build();
  check({"truncated IPv4 header", ip4, XDP_PASS, ip4, XLB_STAT_MALFORMED_PASS});
  Bytes ip6 = PacketBuilder().eth(kLbMac, kClientMac).ipv6("2001:db8:1::1", "2001:db8::10").tcp(1, 80, kSyn).truncateTo(14 + 30).build();
  check({"truncated IPv6 header", ip6, XDP_PASS, ip6, XLB_STAT_MALFORMED_PASS});
  // A frame shorter than an Ethernet header cannot be fed to BPF_PROG_TEST_RUN (EINVAL): the
  // kernel never hands XDP less than ETH_HLEN either; the program's check is defensive.
}

TEST_F(BalancerTest, IcmpToVipAddressPasses) {
  Bytes a = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.100.0.10").icmpEcho().build();
  check({"ICMP echo to a VIP address", a, XDP_PASS, a, XLB_STAT_ICMP_PASS});
  Bytes b = PacketBuilder().eth(kLbMac, kClientMac).ipv6("2001:db8:1::1", "2001:db8::10").icmpEcho().build();
  check({"ICMPv6 echo to a VIP address", b, XDP_PASS, b, XLB_STAT_ICMP_PASS});
  Bytes c = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.9.9.9").icmpEcho().build();
  check({"ICMP to another address", c, XDP_PASS, c, XLB_STAT_NON_VIP});
}

TEST_F(BalancerTest, NoBackendNoRouteNoNeighbour) {
  Bytes a = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.100.0.40").tcp(1, 80, kSyn).build();
  check({"VIP without a table", a, XDP_DROP, a, -1, XLB_DROP_NO_BACKEND});
  Bytes b = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.100.0.70").tcp(1, 80, kSyn).build();
  check({"backend behind an unreachable route", b, XDP_DROP, b, XLB_STAT_FIB_LOOKUP, XLB_DROP_FIB});
  Bytes c = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.100.0.50").tcp(1, 80, kSyn).build();
  check({"dsr, neighbour unresolved", c, XDP_DROP, c, XLB_STAT_FIB_LOOKUP, XLB_DROP_NO_NEIGH});
  Bytes c6 = PacketBuilder().eth(kLbMac, kClientMac).ipv6("2001:db8:1::1", "2001:db8::50").tcp(1, 80, kSyn).build();
  check({"dsr v6, neighbour unresolved", c6, XDP_DROP, c6, XLB_STAT_FIB_LOOKUP, XLB_DROP_NO_NEIGH});
  // ipip: the encapsulated packet goes to the kernel with the original MACs (addressed to us) so
  // the kernel resolves the neighbour and forwards it.
  PacketBuilder p = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.100.0.50").tcp(1, 81, kSyn);
  Bytes d = p.build();
  Bytes want = ipipFrame(kLbMac, kClientMac, -1, "10.0.0.9", flowKey("192.0.2.1", "10.100.0.50", 1, 81, kTcp), 0, p.l3());
  check({"ipip, neighbour unresolved: encapsulated PASS", d, XDP_PASS, want, XLB_STAT_NO_NEIGH_PASS});
  // Failures are not cached: the next packet asks the FIB again.
  check({"no negative caching", d, XDP_PASS, want, XLB_STAT_FIB_LOOKUP});
}

TEST_F(BalancerTest, BackendDeletedDropsNewFlowsWhenTableEmpty) {
  ASSERT_TRUE(g_dp->upsertBackend(20, makeBackend("10.0.0.2", 16)).ok());
  std::vector<uint32_t> t(3, 20);
  ASSERT_TRUE(g_dp->setSelectionTable(16, t).ok());
  ASSERT_TRUE(g_dp->upsertVip(makeVipKey("10.100.0.90", 80, kTcp), {16, XLB_ALG_MAGLEV, XLB_FWD_DSR, 0}).ok());
  Bytes a = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.100.0.90").tcp(1, 80, kSyn).build();
  check({"inactive backend in table", a, XDP_TX, withMacs(a, kBackendMacA, kLbMac), XLB_STAT_FLOW_NEW});
  ASSERT_TRUE(g_dp->deleteBackend(20).ok());
  check({"table points at a deleted backend", a, XDP_DROP, a, -1, XLB_DROP_NO_BACKEND});
  ASSERT_TRUE(g_dp->setSelectionTable(16, {}).ok());
  check({"table removed", a, XDP_DROP, a, -1, XLB_DROP_NO_BACKEND});
}

TEST_F(BalancerTest, BatchedTableSwapInstallsAndRemovesEveryTableAtOnce) {
  // Three VIPs (ids 40..42), each with its own backend; their tables go in with one batch.
  const std::vector<std::string> addrs = {"10.100.0.140", "10.100.0.141", "10.100.0.142"};
  std::vector<dataplane::TableWrite> writes;
  for (uint32_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(g_dp->upsertBackend(60 + i, makeBackend(i == 1 ? "10.0.0.3" : "10.0.0.2", 40 + i)).ok());
    writes.push_back({40 + i, std::vector<uint32_t>(5 + i, 60 + i)});
  }
  // A batch with one bad entry writes nothing.
  std::vector<dataplane::TableWrite> bad = writes;
  bad.push_back({41, {60}});  // the same VIP twice
  EXPECT_EQ(g_dp->setSelectionTables(bad).code(), absl::StatusCode::kInvalidArgument);
  bad.back() = {43, {XLB_MAX_BACKENDS}};
  EXPECT_EQ(g_dp->setSelectionTables(bad).code(), absl::StatusCode::kInvalidArgument);
  for (uint32_t i = 0; i < 3; ++i) EXPECT_TRUE(g_dp->readSelectionTable(40 + i)->empty());

  ASSERT_TRUE(g_dp->setSelectionTables(writes).ok());
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(*g_dp->readSelectionTable(40 + i), writes[i].table);
    ASSERT_TRUE(g_dp->upsertVip(makeVipKey(addrs[i], 80, kTcp), {40 + i, XLB_ALG_MAGLEV, XLB_FWD_DSR, 0}).ok());
  }
  Bytes a = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", addrs[0]).tcp(7, 80, kSyn).build();
  Bytes b = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", addrs[1]).tcp(7, 80, kSyn).build();
  check({"batched table of vip 40", a, XDP_TX, withMacs(a, kBackendMacA, kLbMac), XLB_STAT_FLOW_NEW});
  check({"batched table of vip 41", b, XDP_TX, withMacs(b, kBackendMacB, kLbMac), XLB_STAT_FLOW_NEW});

  // Removal (empty tables) and a replacement in one batch: 40 and 41 lose their tables, 42 gets a
  // new one. A removed slot reads as no table, and the adopted-contents scan does not list it.
  std::vector<dataplane::TableWrite> second = {{40, {}}, {41, {}}, {42, std::vector<uint32_t>(11, 62)}};
  ASSERT_TRUE(g_dp->setSelectionTables(second).ok());
  EXPECT_TRUE(g_dp->readSelectionTable(40)->empty());
  EXPECT_TRUE(g_dp->readSelectionTable(41)->empty());
  EXPECT_EQ(g_dp->readSelectionTable(42)->size(), 11u);
  Bytes a2 = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.2", addrs[0]).tcp(8, 80, kSyn).build();
  check({"removed table: no backend", a2, XDP_DROP, a2, -1, XLB_DROP_NO_BACKEND});
  auto contents = dataplane::readBpfContents(*g_dp);
  ASSERT_TRUE(contents.ok()) << contents.status();
  for (uint32_t id : contents->table_vip_ids) EXPECT_TRUE(id != 40 && id != 41) << id;
  EXPECT_NE(std::find(contents->table_vip_ids.begin(), contents->table_vip_ids.end(), 42u),
            contents->table_vip_ids.end());
  for (uint32_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(g_dp->deleteVip(makeVipKey(addrs[i], 80, kTcp)).ok());
  }
  ASSERT_TRUE(g_dp->setSelectionTable(42, {}).ok());
}

// ---- flow table -------------------------------------------------------------------------------------

TEST_F(BalancerTest, FlowsStickAcrossTableChangesAndResteerWhenBackendGoes) {
  const uint32_t vip = 14;
  ASSERT_TRUE(g_dp->upsertBackend(21, makeBackend("10.0.0.3", vip, 5)).ok());
  auto pkt = [](uint16_t sport, uint8_t flags) {
    return PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.44", "10.100.0.80").tcp(sport, 80, flags).build();
  };
  // Flow 1 established on backend 14 (10.0.0.2).
  Bytes syn = pkt(5000, kSyn), ack = pkt(5000, kAck);
  check({"flow 1 SYN -> A", syn, XDP_TX, withMacs(syn, kBackendMacA, kLbMac), XLB_STAT_FLOW_NEW});
  check({"flow 1 ACK -> A (hit)", ack, XDP_TX, withMacs(ack, kBackendMacA, kLbMac), XLB_STAT_FLOW_HIT});

  // The table now sends everything to backend 21 (10.0.0.3); flow 1 keeps its backend.
  std::vector<uint32_t> t(11, 21);
  ASSERT_TRUE(g_dp->setSelectionTable(vip, t).ok());
  Bytes data = pkt(5000, kPshAck);
  check({"flow 1 data after table change stays on A", data, XDP_TX, withMacs(data, kBackendMacA, kLbMac), XLB_STAT_FLOW_HIT});
  Bytes syn2 = pkt(5001, kSyn);
  check({"flow 2 SYN -> B", syn2, XDP_TX, withMacs(syn2, kBackendMacB, kLbMac), XLB_STAT_FLOW_NEW});
  Bytes mid = pkt(5002, kAck);
  check({"mid-stream packet without a flow entry runs selection", mid, XDP_TX, withMacs(mid, kBackendMacB, kLbMac), XLB_STAT_FLOW_NEW});

  // Backend A goes away: flow 1 is re-steered to the table's choice and then sticks there.
  ASSERT_TRUE(g_dp->deleteBackend(14).ok());
  check({"flow 1 re-steered", data, XDP_TX, withMacs(data, kBackendMacB, kLbMac), XLB_STAT_FLOW_RESTEER});
  check({"flow 1 sticks to B", data, XDP_TX, withMacs(data, kBackendMacB, kLbMac), XLB_STAT_FLOW_HIT});

  // Same id reassigned (gen bumped) to another address: flows recorded for the old gen re-steer.
  ASSERT_TRUE(g_dp->upsertBackend(21, makeBackend("10.0.0.2", vip, 6)).ok());
  check({"gen change re-steers", data, XDP_TX, withMacs(data, kBackendMacA, kLbMac), XLB_STAT_FLOW_RESTEER});

  // The flow entry itself records backend id and gen.
  xlb_flow_key k = flowKey("192.0.2.44", "10.100.0.80", 5000, 80, kTcp);
  xlb_flow_value v{};
  ASSERT_EQ(bpf_map_lookup_elem(g_dp->mapFd("xlb_flows"), &k, &v), 0);
  EXPECT_EQ(v.backend_id, 21u);
  EXPECT_EQ(v.backend_gen, 6u);
  EXPECT_GT(v.last_seen_ns, 0u);
}

TEST_F(BalancerTest, PerVipAndBackendCounters) {
  CounterSnapshot before = counters();
  Bytes syn = PacketBuilder().eth(kLbMac, kClientMac).ipv6("2001:db8:1::77", "2001:db8::10").tcp(777, 80, kSyn).build();
  Bytes ack = PacketBuilder().eth(kLbMac, kClientMac).ipv6("2001:db8:1::77", "2001:db8::10").tcp(777, 80, kAck).payload(Bytes(100, 0x61)).build();
  ASSERT_EQ(runXdp(g_dp->programFd(), syn, lbIfindex()).ret, XDP_TX);
  ASSERT_EQ(runXdp(g_dp->programFd(), ack, lbIfindex()).ret, XDP_TX);
  ASSERT_EQ(runXdp(g_dp->programFd(), ack, lbIfindex()).ret, XDP_TX);
  CounterSnapshot after = counters();
  EXPECT_EQ(after.vips[2].packets - before.vips[2].packets, 3u);
  EXPECT_EQ(after.vips[2].bytes - before.vips[2].bytes, syn.size() + 2 * ack.size());
  EXPECT_EQ(after.vips[2].new_flows - before.vips[2].new_flows, 1u);
  EXPECT_EQ(after.backends[3].packets - before.backends[3].packets, 3u);
  EXPECT_EQ(after.backends[3].bytes - before.backends[3].bytes, syn.size() + 2 * ack.size());
  EXPECT_EQ(after.backends[3].new_flows - before.backends[3].new_flows, 1u);
  EXPECT_EQ(after.global[XLB_STAT_FLOW_HIT] - before.global[XLB_STAT_FLOW_HIT], 2u);
  EXPECT_EQ(after.vips[1].packets, before.vips[1].packets) << "other VIPs untouched";
}

// ---- decap program ------------------------------------------------------------------------------------

TEST_F(BalancerTest, DecapLeavesPlainTrafficAndDropsBrokenTunnels) {
  int xdp = bpf_program__fd(g_decap->progs.xlb_decap_xdp);
  int tc = bpf_program__fd(g_decap->progs.xlb_decap_tc);
  Bytes plain = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", "10.0.0.2").tcp(1, 80, kSyn).build();
  RunResult r = runXdp(xdp, plain, lbIfindex());
  EXPECT_EQ(r.ret, XDP_PASS);
  EXPECT_EQ(r.out, plain);
  r = runTc(tc, plain);
  EXPECT_EQ(r.ret, static_cast<uint32_t>(TC_OK));
  EXPECT_EQ(r.out, plain);

  // Outer IPv4 proto 4 whose inner header is cut short.
  Bytes inner = PacketBuilder().ipv4("192.0.2.1", "10.100.0.20").tcp(1, 80, kSyn).l3();
  Bytes broken = PacketBuilder().eth(kLbMac, kClientMac).ipv4("172.16.0.1", "10.0.0.2").rawL4(4, Bytes(inner.begin(), inner.begin() + 12)).build();
  r = runXdp(xdp, broken, lbIfindex());
  EXPECT_EQ(r.ret, XDP_DROP);
  r = runTc(tc, broken);
  EXPECT_EQ(r.ret, static_cast<uint32_t>(TC_SHOT));
  // Fragmented outer header.
  Bytes frag = PacketBuilder().eth(kLbMac, kClientMac).ipv4("172.16.0.1", "10.0.0.2").fragOff(0x2000).rawL4(4, inner).build();
  r = runXdp(xdp, frag, lbIfindex());
  EXPECT_EQ(r.ret, XDP_DROP);

  uint64_t sums[XLB_DC_MAX] = {};
  int ncpu = libbpf_num_possible_cpus();
  std::vector<uint64_t> vals(ncpu);
  for (uint32_t i = 0; i < XLB_DC_MAX; ++i) {
    ASSERT_EQ(bpf_map_lookup_elem(bpf_map__fd(g_decap->maps.xlb_dc_stats), &i, vals.data()), 0);
    for (auto v : vals) sums[i] += v;
  }
  EXPECT_GE(sums[XLB_DC_MALFORMED], 3u);
  EXPECT_GE(sums[XLB_DC_PASS], 2u);
  EXPECT_GE(sums[XLB_DC_RX], 5u);
}

}  // namespace
}  // namespace xlb::test

namespace xlb::test {
namespace {

// The agent path: maps pinned under <pin_dir>/v1, link pinned; a second instance (agent restart)
// reuses the maps and swaps the program on the same link; detach() removes it.
TEST(BpfDataplanePinning, RestartReusesMapsAndLinkThenDetaches) {
  const std::string pin_dir = "/sys/fs/bpf/xlbt" + std::to_string(getpid());
  dataplane::BpfOptions opts;
  opts.interface = "peer1";
  opts.pin_dir = pin_dir;
  opts.flow_table_size = 1024;
  auto first = dataplane::BpfDataplane::create(opts);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE((*first)->upsertVip(makeVipKey("10.200.0.1", 80, kTcp), {3, XLB_ALG_MAGLEV, XLB_FWD_DSR, 0}).ok());
  int link = bpf_obj_get((pin_dir + "/link_peer1").c_str());
  ASSERT_GE(link, 0) << "link not pinned";
  bpf_link_info info{};
  uint32_t len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(link, &info, &len), 0);
  const uint32_t link_id = info.id;
  EXPECT_EQ(info.xdp.ifindex, if_nametoindex("peer1"));
  close(link);
  first->reset();  // agent exits: program stays attached through the pinned link

  opts.flow_table_size = 2048;  // a different size must not break the restart
  auto second = dataplane::BpfDataplane::create(opts);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)->flowTableSize(), 1024u) << "pinned flow table reused with its size";
  xlb_vip_key k = makeVipKey("10.200.0.1", 80, kTcp);
  xlb_vip_value v{};
  EXPECT_EQ(bpf_map_lookup_elem((*second)->mapFd("xlb_vips"), &k, &v), 0) << "pinned map reused";
  EXPECT_EQ(v.vip_id, 3u);
  link = bpf_obj_get((pin_dir + "/link_peer1").c_str());
  ASSERT_GE(link, 0);
  info = {};
  len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(link, &info, &len), 0);
  EXPECT_EQ(info.id, link_id) << "the same link was updated, not re-created";
  bpf_prog_info pinfo{};
  uint32_t plen = sizeof(pinfo);
  ASSERT_EQ(bpf_obj_get_info_by_fd((*second)->programFd(), &pinfo, &plen), 0);
  EXPECT_EQ(info.prog_id, pinfo.id) << "link runs the new program";
  close(link);

  ASSERT_TRUE((*second)->detach().ok());
  EXPECT_LT(bpf_obj_get((pin_dir + "/link_peer1").c_str()), 0);
  second->reset();
  std::filesystem::remove_all(pin_dir);
}

}  // namespace
}  // namespace xlb::test
