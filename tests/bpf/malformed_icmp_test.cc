// SPDX-License-Identifier: Apache-2.0
// Hostile and odd frames against the real XDP balancer (BPF_PROG_TEST_RUN): the malformed-frame and
// VIP-sanity drops (TCP data offset, UDP length, martian sources, L2 multicast, VLAN acceptance) and
// ICMP errors about VIP flows forwarded to the flow's backend (path MTU discovery), each with the
// exact action, output bytes and the one counter that must move.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fixture.h"

namespace xlb::test {
namespace {

using dataplane::BpfDataplane;
using dataplane::CounterSnapshot;

constexpr uint8_t kSyn = 0x02, kAck = 0x10;
constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmp6 = 58;
constexpr const char* kRouter4 = "198.51.100.1";
constexpr const char* kRouter6 = "2001:db8:ffff::1";

BpfDataplane* g_dp = nullptr;

// VIP `id` at addr:port/proto whose table holds `be_ids` (backends already written).
void addVip(uint32_t id, const std::string& addr, uint16_t port, uint8_t proto, uint8_t mode,
            uint8_t alg, const std::vector<uint32_t>& table) {
  ASSERT_TRUE(g_dp->upsertVipAddr(makeAddrKey(addr), {1, 0}).ok());
  ASSERT_TRUE(g_dp->setSelectionTable(id, table).ok());
  ASSERT_TRUE(g_dp->upsertVip(makeVipKey(addr, port, proto), {id, alg, mode, 0}).ok());
}

class Env : public ::testing::Environment {
 public:
  void SetUp() override {
    setUpOrSkip("malformed/icmp tests");
    g_dp = loadOrSkip("malformed/icmp tests", 4096).release();

    ASSERT_TRUE(g_dp->setSettings(testSettings()).ok());

    ASSERT_TRUE(g_dp->upsertBackend(1, makeBackend("10.0.0.2", 0)).ok());  // A
    ASSERT_TRUE(g_dp->upsertBackend(2, makeBackend("10.0.0.3", 0)).ok());  // B
    ASSERT_TRUE(g_dp->upsertBackend(3, makeBackend("fd00::2", 2)).ok());
    ASSERT_TRUE(g_dp->upsertBackend(4, makeBackend("fd00::3", 2)).ok());
    ASSERT_TRUE(g_dp->upsertBackend(5, makeBackend("10.0.0.2", 5)).ok());
    addVip(0, "10.100.0.10", 80, kTcp, XLB_FWD_DSR, XLB_ALG_MAGLEV, std::vector<uint32_t>(7, 1));
    addVip(1, "10.100.0.10", 53, kUdp, XLB_FWD_DSR, XLB_ALG_MAGLEV, std::vector<uint32_t>(7, 2));
    addVip(2, "2001:db8::10", 80, kTcp, XLB_FWD_DSR, XLB_ALG_MAGLEV, std::vector<uint32_t>(7, 3));
    addVip(3, "10.100.0.20", 80, kTcp, XLB_FWD_IPIP, XLB_ALG_MAGLEV, std::vector<uint32_t>(7, 1));
    addVip(4, "2001:db8::20", 80, kTcp, XLB_FWD_IPIP, XLB_ALG_MAGLEV, std::vector<uint32_t>(7, 4));
    addVip(5, "10.100.0.30", 80, kTcp, XLB_FWD_DSR, XLB_ALG_ROUND_ROBIN, std::vector<uint32_t>(3, 5));
    // Tagged frames are balanced for VLAN 100 only.
    acceptVlan(*g_dp, 100);
  }
  void TearDown() override { delete g_dp; }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new Env);

CounterSnapshot counters() { return readCounters(*g_dp); }

struct Fixture {
  std::string description;
  Bytes input;
  uint32_t action;
  Bytes expected;  // exact output bytes
  int stat = -1;   // global counter that must grow by one
  int drop = -1;   // drop reason that must grow by one (and no other)
};

void check(const Fixture& f) {
  SCOPED_TRACE(f.description);
  CounterSnapshot before = counters();
  RunResult r = runXdp(g_dp->programFd(), f.input, lbIfindex());
  ASSERT_EQ(r.err, 0) << "test run failed";
  EXPECT_EQ(r.ret, f.action);
  EXPECT_EQ(r.out, f.expected) << "got:" << hexdump(r.out) << "\nwant:" << hexdump(f.expected);
  CounterSnapshot after = counters();
  EXPECT_EQ(after.global[XLB_STAT_RX], before.global[XLB_STAT_RX] + 1);
  EXPECT_EQ(after.global[f.action], before.global[f.action] + 1);
  if (f.stat >= 0) {
    EXPECT_EQ(after.global[f.stat], before.global[f.stat] + 1) << "stat " << f.stat;
  }
  for (int d = 0; d < XLB_DROP_MAX; ++d) {
    EXPECT_EQ(after.drops[d], before.drops[d] + (d == f.drop ? 1 : 0)) << "drop reason " << d;
  }
}

PacketBuilder v4(const std::string& src, const std::string& dst) {
  return PacketBuilder().eth(kLbMac, kClientMac).ipv4(src, dst);
}
PacketBuilder v6(const std::string& src, const std::string& dst) {
  return PacketBuilder().eth(kLbMac, kClientMac).ipv6(src, dst);
}

// A TCP header with the given data offset, padded with zero option bytes to `len` bytes.
Bytes tcpRaw(uint16_t sport, uint16_t dport, uint8_t doff, uint8_t flags, size_t len) {
  Bytes b(len, 0);
  b[0] = sport >> 8, b[1] = sport & 0xff, b[2] = dport >> 8, b[3] = dport & 0xff;
  if (len > 12) b[12] = static_cast<uint8_t>(doff << 4);
  if (len > 13) b[13] = flags;
  if (len > 15) b[14] = 0xff, b[15] = 0xff;  // window
  return b;
}

Bytes udpRaw(uint16_t sport, uint16_t dport, uint16_t len_field, size_t len) {
  Bytes b(len, 0);
  b[0] = sport >> 8, b[1] = sport & 0xff, b[2] = dport >> 8, b[3] = dport & 0xff;
  b[4] = len_field >> 8, b[5] = len_field & 0xff;
  return b;
}

// ---- transport header sanity -----------------------------------------------------------------------

TEST(Malformed, TcpDataOffsetAndUdpLength) {
  struct C {
    const char* d;
    PacketBuilder vip, other;
    int drop;
  };
  C cases[] = {
      {"IPv4 TCP data offset 4", v4("192.0.2.1", "10.100.0.10").rawL4(kTcp, tcpRaw(1, 80, 4, kSyn, 20)),
       v4("192.0.2.1", "10.9.9.9").rawL4(kTcp, tcpRaw(1, 80, 4, kSyn, 20)), XLB_DROP_TCP_DOFF_SHORT},
      {"IPv4 TCP data offset 0", v4("192.0.2.1", "10.100.0.10").rawL4(kTcp, tcpRaw(1, 80, 0, kAck, 40)),
       v4("192.0.2.1", "10.9.9.9").rawL4(kTcp, tcpRaw(1, 80, 0, kAck, 40)), XLB_DROP_TCP_DOFF_SHORT},
      {"IPv6 TCP data offset 3", v6("2001:db8:1::1", "2001:db8::10").rawL4(kTcp, tcpRaw(1, 80, 3, kSyn, 20)),
       v6("2001:db8:1::1", "2001:db8::99").rawL4(kTcp, tcpRaw(1, 80, 3, kSyn, 20)), XLB_DROP_TCP_DOFF_SHORT},
      {"IPv4 TCP data offset 15 in a 20-byte segment", v4("192.0.2.1", "10.100.0.10").rawL4(kTcp, tcpRaw(1, 80, 15, kSyn, 20)),
       v4("192.0.2.1", "10.9.9.9").rawL4(kTcp, tcpRaw(1, 80, 15, kSyn, 20)), XLB_DROP_TCP_DOFF_OVERRUN},
      {"IPv4 TCP data offset 6 in a 20-byte segment", v4("192.0.2.1", "10.100.0.10").rawL4(kTcp, tcpRaw(1, 80, 6, kAck, 20)),
       v4("192.0.2.1", "10.9.9.9").rawL4(kTcp, tcpRaw(1, 80, 6, kAck, 20)), XLB_DROP_TCP_DOFF_OVERRUN},
      {"IPv6 TCP data offset 8 in a 28-byte segment", v6("2001:db8:1::1", "2001:db8::10").rawL4(kTcp, tcpRaw(1, 80, 8, kSyn, 28)),
       v6("2001:db8:1::1", "2001:db8::99").rawL4(kTcp, tcpRaw(1, 80, 8, kSyn, 28)), XLB_DROP_TCP_DOFF_OVERRUN},
      {"IPv4 UDP length 4", v4("192.0.2.1", "10.100.0.10").rawL4(kUdp, udpRaw(1, 53, 4, 16)),
       v4("192.0.2.1", "10.9.9.9").rawL4(kUdp, udpRaw(1, 53, 4, 16)), XLB_DROP_BAD_LEN},
      {"IPv4 UDP length past the IP packet", v4("192.0.2.1", "10.100.0.10").rawL4(kUdp, udpRaw(1, 53, 17, 16)),
       v4("192.0.2.1", "10.9.9.9").rawL4(kUdp, udpRaw(1, 53, 17, 16)), XLB_DROP_BAD_LEN},
  };
  for (auto& c : cases) {
    Bytes in = c.vip.build();
    check({std::string(c.d) + " (to a VIP)", in, XDP_DROP, in, -1, c.drop});
    Bytes o = c.other.build();
    check({std::string(c.d) + " (not a VIP address)", o, XDP_PASS, o, XLB_STAT_MALFORMED_PASS});
  }
}

TEST(Malformed, HeaderMustFitTheIpPacketNotJustTheFrame) {
  // IP total length says 20 + 8 bytes of TCP; the frame carries 20 (Ethernet padding after).
  Bytes in = v4("192.0.2.1", "10.100.0.10").rawL4(kTcp, tcpRaw(1, 80, 5, kSyn, 20)).ipLenDelta(-12).build();
  check({"TCP header cut by the IP length", in, XDP_DROP, in, -1, XLB_DROP_TRUNCATED});
  Bytes u = v4("192.0.2.1", "10.100.0.10").rawL4(kUdp, udpRaw(1, 53, 8, 8)).ipLenDelta(-2).build();
  check({"UDP header cut by the IP length", u, XDP_DROP, u, -1, XLB_DROP_TRUNCATED});
}

TEST(Malformed, BoundaryValuesStillForward) {
  Bytes a = v4("192.0.2.1", "10.100.0.10").rawL4(kTcp, tcpRaw(2, 80, 6, kSyn, 24)).build();
  check({"TCP data offset 6 with 24 bytes", a, XDP_TX, withMacs(a, kBackendMacA, kLbMac), XLB_STAT_FLOW_NEW});
  Bytes b = v4("192.0.2.1", "10.100.0.10").rawL4(kTcp, tcpRaw(3, 80, 15, kSyn, 60)).build();
  check({"TCP data offset 15 with 60 bytes", b, XDP_TX, withMacs(b, kBackendMacA, kLbMac), XLB_STAT_FLOW_NEW});
  Bytes c = v4("192.0.2.1", "10.100.0.10").rawL4(kUdp, udpRaw(1, 53, 8, 16)).build();
  check({"UDP length shorter than the IP payload", c, XDP_TX, withMacs(c, kBackendMacB, kLbMac), XLB_STAT_FLOW_NEW});
  Bytes d = v4("192.0.2.1", "10.100.0.10").rawL4(kUdp, udpRaw(2, 53, 16, 16)).build();
  check({"UDP length = IP payload", d, XDP_TX, withMacs(d, kBackendMacB, kLbMac), XLB_STAT_FLOW_NEW});
}

// ---- VIP sanity: sources, L2 destination, VLAN -------------------------------------------------------

TEST(Malformed, MartianSourcesToAVipDrop) {
  const char* bad4[] = {"0.0.0.0", "0.1.2.3", "127.0.0.1", "127.255.0.9", "224.0.0.5", "239.1.1.1",
                        "240.0.0.1", "255.255.255.255", "10.100.0.10"};
  for (const char* s : bad4) {
    Bytes in = v4(s, "10.100.0.10").tcp(1234, 80, kSyn).build();
    check({std::string("IPv4 source ") + s, in, XDP_DROP, in, -1, XLB_DROP_BAD_SOURCE});
    Bytes o = v4(s, "10.9.9.9").tcp(1234, 80, kSyn).build();
    check({std::string("IPv4 source ") + s + " to a non-VIP", o, XDP_PASS, o, XLB_STAT_NON_VIP});
  }
  const char* bad6[] = {"::", "::1", "ff02::1", "ff0e::1234", "2001:db8::10"};
  for (const char* s : bad6) {
    Bytes in = v6(s, "2001:db8::10").tcp(1234, 80, kSyn).build();
    check({std::string("IPv6 source ") + s, in, XDP_DROP, in, -1, XLB_DROP_BAD_SOURCE});
  }
  // Neighbours of the martian ranges are clients.
  const char* good4[] = {"1.0.0.0", "126.255.255.255", "128.0.0.1", "223.255.255.254"};
  for (const char* s : good4) {
    Bytes in = v4(s, "10.100.0.10").tcp(4321, 80, kSyn).build();
    check({std::string("IPv4 source ") + s, in, XDP_TX, withMacs(in, kBackendMacA, kLbMac), XLB_STAT_FLOW_NEW});
  }
  const char* good6[] = {"::2", "fe80::1", "2001:db8:1::1"};
  for (const char* s : good6) {
    Bytes in = v6(s, "2001:db8::10").tcp(4321, 80, kSyn).build();
    check({std::string("IPv6 source ") + s, in, XDP_TX, withMacs(in, kBackendMacA, kLbMac), XLB_STAT_FLOW_NEW});
  }
}

TEST(Malformed, MulticastOrBroadcastMacToAVipDrops) {
  for (const char* mac : {"ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "33:33:00:00:00:01"}) {
    Bytes in = PacketBuilder().eth(mac, kClientMac).ipv4("192.0.2.1", "10.100.0.10").tcp(1, 80, kSyn).build();
    check({std::string("destination MAC ") + mac, in, XDP_DROP, in, -1, XLB_DROP_L2_MULTICAST});
    Bytes o = PacketBuilder().eth(mac, kClientMac).ipv4("192.0.2.1", "10.9.9.9").tcp(1, 80, kSyn).build();
    check({std::string("destination MAC ") + mac + " to a non-VIP", o, XDP_PASS, o, XLB_STAT_NON_VIP});
  }
}

TEST(Malformed, OnlyAcceptedVlansReachAVip) {
  PacketBuilder ok = PacketBuilder().eth(kLbMac, kClientMac).vlan(0x2064).ipv4("192.0.2.1", "10.100.0.10").tcp(7, 80, kSyn);
  Bytes a = ok.build();  // PCP 1, VLAN 100
  check({"VLAN 100 (accepted, priority bits ignored)", a, XDP_TX, withMacs(a, kBackendMacA, kLbMac), XLB_STAT_FLOW_NEW});
  Bytes b = PacketBuilder().eth(kLbMac, kClientMac).vlan(200).ipv4("192.0.2.1", "10.100.0.10").tcp(7, 80, kSyn).build();
  check({"VLAN 200 (not accepted)", b, XDP_DROP, b, -1, XLB_DROP_VLAN});
  Bytes c = PacketBuilder().eth(kLbMac, kClientMac).vlan(200, 0x88a8).ipv6("2001:db8:1::1", "2001:db8::10").tcp(7, 80, kSyn).build();
  check({"802.1ad VLAN 200 (not accepted)", c, XDP_DROP, c, -1, XLB_DROP_VLAN});
  Bytes d = PacketBuilder().eth(kLbMac, kClientMac).vlan(0).ipv4("192.0.2.1", "10.100.0.10").tcp(7, 80, kSyn).build();
  check({"priority tag (VLAN 0) is a tag", d, XDP_DROP, d, -1, XLB_DROP_VLAN});
  Bytes e = PacketBuilder().eth(kLbMac, kClientMac).vlan(200).ipv4("192.0.2.1", "10.9.9.9").tcp(7, 80, kSyn).build();
  check({"VLAN 200 to a non-VIP", e, XDP_PASS, e, XLB_STAT_NON_VIP});
  // Every check fails at once: the VLAN is checked first, then the MAC, then the source.
  Bytes f = PacketBuilder().eth("ff:ff:ff:ff:ff:ff", kClientMac).vlan(300).ipv4("127.0.0.1", "10.100.0.10").tcp(7, 80, kSyn).build();
  check({"VLAN, MAC and source all wrong", f, XDP_DROP, f, -1, XLB_DROP_VLAN});
  Bytes g = PacketBuilder().eth("ff:ff:ff:ff:ff:ff", kClientMac).ipv4("127.0.0.1", "10.100.0.10").tcp(7, 80, kSyn).build();
  check({"MAC and source wrong", g, XDP_DROP, g, -1, XLB_DROP_L2_MULTICAST});
}

// ---- ICMP errors about VIP flows ----------------------------------------------------------------------

// An ICMP(v6) error body: type, code, checksum 0, 4 bytes (MTU for frag-needed/PTB), the quote.
Bytes icmpError(uint8_t type, uint8_t code, uint32_t mtu, const Bytes& quote) {
  Bytes b = {type, code, 0, 0, static_cast<uint8_t>(mtu >> 24), static_cast<uint8_t>(mtu >> 16),
             static_cast<uint8_t>(mtu >> 8), static_cast<uint8_t>(mtu)};
  for (uint8_t byte : quote) b.push_back(byte);  // (insert() of an empty quote trips -Warray-bounds)
  return b;
}

// The VIP's reply vip:vport -> client:cport as a router quotes it (`keep` bytes of it; 0 = all).
Bytes quote4(const std::string& vip, uint16_t vport, const std::string& client, uint16_t cport,
             size_t keep = 0) {
  Bytes q = PacketBuilder().ipv4(vip, client).tcp(vport, cport, kAck).payload(Bytes(32, 0x5a)).l3();
  if (keep) q.resize(keep);
  return q;
}
Bytes quote6(const std::string& vip, uint16_t vport, const std::string& client, uint16_t cport,
             size_t keep = 0) {
  Bytes q = PacketBuilder().ipv6(vip, client).tcp(vport, cport, kAck).payload(Bytes(32, 0x5a)).l3();
  if (keep) q.resize(keep);
  return q;
}

Bytes icmp4To(const std::string& dst, const Bytes& body, const char* src = kRouter4) {
  return v4(src, dst).rawL4(kIcmp, body).build();
}
Bytes icmp6To(const std::string& dst, const Bytes& body, const char* src = kRouter6) {
  return v6(src, dst).rawL4(kIcmp6, body).build();
}

bool hasFlow(const xlb_flow_key& k) {
  xlb_flow_value v{};
  return bpf_map_lookup_elem(g_dp->mapFd("xlb_flows"), &k, &v) == 0;
}

TEST(Icmp, FragNeededFollowsTheRecordedFlowNotTheTable) {
  // The client's flow lands on A; then the table sends everything to B.
  Bytes syn = v4("192.0.2.7", "10.100.0.10").tcp(40000, 80, kSyn).build();
  check({"client SYN -> A", syn, XDP_TX, withMacs(syn, kBackendMacA, kLbMac), XLB_STAT_FLOW_NEW});
  ASSERT_TRUE(g_dp->setSelectionTable(0, std::vector<uint32_t>(7, 2)).ok());

  Bytes err = icmp4To("10.100.0.10", icmpError(3, 4, 1280, quote4("10.100.0.10", 80, "192.0.2.7", 40000)));
  check({"frag-needed about the flow -> A (recorded)", err, XDP_TX, withMacs(err, kBackendMacA, kLbMac), XLB_STAT_ICMP_FWD});
  Bytes te = icmp4To("10.100.0.10", icmpError(11, 0, 0, quote4("10.100.0.10", 80, "192.0.2.7", 40000, 28)));
  check({"time exceeded, 28-byte quote -> A", te, XDP_TX, withMacs(te, kBackendMacA, kLbMac), XLB_STAT_ICMP_FWD});
  Bytes un = icmp4To("10.100.0.10", icmpError(3, 1, 0, quote4("10.100.0.10", 80, "192.0.2.7", 40000)));
  check({"host unreachable -> A", un, XDP_TX, withMacs(un, kBackendMacA, kLbMac), XLB_STAT_ICMP_FWD});

  // No entry for another client port: maglev recomputes the choice, which is B now.
  const xlb_flow_key other = flowKey("192.0.2.7", "10.100.0.10", 40001, 80, kTcp);
  Bytes err2 = icmp4To("10.100.0.10", icmpError(3, 4, 1280, quote4("10.100.0.10", 80, "192.0.2.7", 40001)));
  CounterSnapshot before = counters();
  check({"frag-needed, no flow entry -> B (hash)", err2, XDP_TX, withMacs(err2, kBackendMacB, kLbMac), XLB_STAT_ICMP_FWD_HASH});
  EXPECT_FALSE(hasFlow(other)) << "an ICMP error must not create a flow entry";
  CounterSnapshot after = counters();
  EXPECT_EQ(after.vips[0].packets, before.vips[0].packets) << "ICMP is not VIP traffic";
  EXPECT_EQ(after.global[XLB_STAT_FLOW_NEW], before.global[XLB_STAT_FLOW_NEW]);
  ASSERT_TRUE(g_dp->setSelectionTable(0, std::vector<uint32_t>(7, 1)).ok());
}

TEST(Icmp, PacketTooBigV6FollowsTheFlow) {
  Bytes syn = v6("2001:db8:1::7", "2001:db8::10").tcp(40000, 80, kSyn).build();
  check({"client SYN", syn, XDP_TX, withMacs(syn, kBackendMacA, kLbMac), XLB_STAT_FLOW_NEW});
  for (uint8_t type : {2, 1, 3}) {
    Bytes err = icmp6To("2001:db8::10", icmpError(type, 0, 1280, quote6("2001:db8::10", 80, "2001:db8:1::7", 40000)));
    check({"ICMPv6 error type " + std::to_string(type), err, XDP_TX, withMacs(err, kBackendMacA, kLbMac), XLB_STAT_ICMP_FWD});
  }
  Bytes min = icmp6To("2001:db8::10", icmpError(2, 0, 1280, quote6("2001:db8::10", 80, "2001:db8:1::7", 40000, 48)));
  check({"packet too big, 48-byte quote", min, XDP_TX, withMacs(min, kBackendMacA, kLbMac), XLB_STAT_ICMP_FWD});
}

// The frame an ipip VIP emits: the whole ICMP packet behind an outer header whose source carries the
// hash of the client's flow (built independently of the BPF code, as in balancer_test.cc).
Bytes ipipOf(const Bytes& frame, const std::string& backend_addr, const char* backend_mac,
             const xlb_flow_key& flow) {
  bool outer_v6 = false;
  auto dst = parseAddr(backend_addr, &outer_v6);
  const uint32_t hash = flowHash(flow);
  Bytes inner(frame.begin() + 14, frame.end());
  Bytes b(frame.begin(), frame.begin() + 12);
  Mac d = parseMac(backend_mac), s = parseMac(kLbMac);
  memcpy(b.data(), d.data(), 6);
  memcpy(b.data() + 6, s.data(), 6);
  if (!outer_v6) {
    b.push_back(0x08), b.push_back(0x00);
    // Host bits (the /16's last two bytes) come from the hash word as the program stores it.
    uint8_t hb[4];
    memcpy(hb, &hash, 4);
    uint8_t sa[4] = {172, 16, hb[2], hb[3]};
    uint16_t tot = static_cast<uint16_t>(inner.size() + 20);
    Bytes h = {0x45, inner[1], static_cast<uint8_t>(tot >> 8), static_cast<uint8_t>(tot), 0, 0, 0x40, 0, 64,
               static_cast<uint8_t>(flow.family == XLB_AF_INET ? 4 : 41), 0, 0};
    h.insert(h.end(), sa, sa + 4);
    h.insert(h.end(), dst.begin(), dst.begin() + 4);
    uint16_t c = inetChecksum(h.data(), h.size());
    h[10] = static_cast<uint8_t>(c >> 8), h[11] = static_cast<uint8_t>(c);
    b.insert(b.end(), h.begin(), h.end());
  } else {
    b.push_back(0x86), b.push_back(0xdd);
    uint8_t tc = static_cast<uint8_t>(((inner[0] & 0x0f) << 4) | (inner[1] >> 4));
    uint32_t w0 = (6u << 28) | (static_cast<uint32_t>(tc) << 20) | (hash & 0xfffff);
    Bytes h = {static_cast<uint8_t>(w0 >> 24), static_cast<uint8_t>(w0 >> 16), static_cast<uint8_t>(w0 >> 8),
               static_cast<uint8_t>(w0), static_cast<uint8_t>(inner.size() >> 8), static_cast<uint8_t>(inner.size()),
               41, 64};
    auto src = parseAddr("fd00:7862::");
    memcpy(src.data() + 12, &hash, 4);
    h.insert(h.end(), src.begin(), src.end());
    h.insert(h.end(), dst.begin(), dst.end());
    b.insert(b.end(), h.begin(), h.end());
  }
  b.insert(b.end(), inner.begin(), inner.end());
  return b;
}

TEST(Icmp, IpipVipEncapsulatesTheWholeError) {
  Bytes syn = v4("192.0.2.8", "10.100.0.20").tcp(41000, 80, kSyn).build();
  RunResult r = runXdp(g_dp->programFd(), syn, lbIfindex());
  ASSERT_EQ(r.ret, XDP_TX);
  Bytes err = icmp4To("10.100.0.20", icmpError(3, 4, 1400, quote4("10.100.0.20", 80, "192.0.2.8", 41000)));
  check({"frag-needed to an ipip VIP", err, XDP_TX, ipipOf(err, "10.0.0.2", kBackendMacA, flowKey("192.0.2.8", "10.100.0.20", 41000, 80, kTcp)), XLB_STAT_ICMP_FWD});

  Bytes syn6 = v6("2001:db8:1::8", "2001:db8::20").tcp(41000, 80, kSyn).build();
  ASSERT_EQ(runXdp(g_dp->programFd(), syn6, lbIfindex()).ret, XDP_TX);
  Bytes ptb = icmp6To("2001:db8::20", icmpError(2, 0, 1400, quote6("2001:db8::20", 80, "2001:db8:1::8", 41000)));
  check({"packet too big to an ip6ip6 VIP", ptb, XDP_TX, ipipOf(ptb, "fd00::3", kBackendMacB, flowKey("2001:db8:1::8", "2001:db8::20", 41000, 80, kTcp)), XLB_STAT_ICMP_FWD});
}

TEST(Icmp, RoundRobinWithoutAFlowPasses) {
  Bytes err = icmp4To("10.100.0.30", icmpError(3, 4, 1280, quote4("10.100.0.30", 80, "192.0.2.9", 42000)));
  check({"no flow, round_robin: cannot recompute", err, XDP_PASS, err, XLB_STAT_ICMP_NO_FLOW_PASS});
  Bytes syn = v4("192.0.2.9", "10.100.0.30").tcp(42000, 80, kSyn).build();
  ASSERT_EQ(runXdp(g_dp->programFd(), syn, lbIfindex()).ret, XDP_TX);
  check({"with a flow entry, round_robin forwards", err, XDP_TX, withMacs(err, kBackendMacA, kLbMac), XLB_STAT_ICMP_FWD});
}

TEST(Icmp, ProtectedEntryWhoseLruCopyIsGoneStillOwnsTheFlow) {
  // A proven flow whose LRU entry a flood evicted lives on in xlb_flows_prot only: its errors follow
  // it there (round_robin could not recompute the choice), and nothing is promoted or refreshed.
  const xlb_flow_key k = flowKey("192.0.2.10", "10.100.0.30", 42100, 80, kTcp);
  xlb_flow_value v{};
  v.backend_id = 5;
  v.backend_gen = 1;
  v.flags = XLB_FLOW_F_PROTECTED;
  ASSERT_EQ(bpf_map_update_elem(g_dp->mapFd("xlb_flows_prot"), &k, &v, BPF_ANY), 0);
  Bytes err = icmp4To("10.100.0.30", icmpError(3, 4, 1280, quote4("10.100.0.30", 80, "192.0.2.10", 42100)));
  check({"frag-needed, protected entry only -> its backend", err, XDP_TX, withMacs(err, kBackendMacA, kLbMac), XLB_STAT_ICMP_FWD});
  EXPECT_FALSE(hasFlow(k)) << "an ICMP error must not re-create the LRU entry";
  xlb_flow_value got{};
  ASSERT_EQ(bpf_map_lookup_elem(g_dp->mapFd("xlb_flows_prot"), &k, &got), 0);
  EXPECT_EQ(memcmp(&got, &v, sizeof v), 0) << "an ICMP error must not touch the protected entry";
  ASSERT_EQ(bpf_map_delete_elem(g_dp->mapFd("xlb_flows_prot"), &k), 0);
}

TEST(Icmp, BadOrForeignQuotesPass) {
  const std::string vip = "10.100.0.10";
  Bytes opts = quote4(vip, 80, "192.0.2.7", 40000);
  opts[0] = 0x46;
  Bytes frag = quote4(vip, 80, "192.0.2.7", 40000);
  frag[7] = 0x10;  // fragment offset 16
  Bytes v6q = quote4(vip, 80, "192.0.2.7", 40000);
  v6q[0] = 0x65;
  struct C {
    const char* d;
    Bytes in;
    int stat;
  } cases[] = {
      {"quote: IP header only + 4 bytes", icmp4To(vip, icmpError(3, 4, 1280, quote4(vip, 80, "192.0.2.7", 40000, 24))), XLB_STAT_ICMP_BAD_QUOTE_PASS},
      {"quote: no IP header", icmp4To(vip, icmpError(3, 4, 1280, {})), XLB_STAT_ICMP_BAD_QUOTE_PASS},
      {"quote: IPv4 with options", icmp4To(vip, icmpError(3, 4, 1280, opts)), XLB_STAT_ICMP_BAD_QUOTE_PASS},
      {"quote: later fragment", icmp4To(vip, icmpError(3, 4, 1280, frag)), XLB_STAT_ICMP_BAD_QUOTE_PASS},
      {"quote: version 6 in ICMPv4", icmp4To(vip, icmpError(3, 4, 1280, v6q)), XLB_STAT_ICMP_BAD_QUOTE_PASS},
      {"quote: IPv6 with a fragment header",
       icmp6To("2001:db8::10", icmpError(2, 0, 1280, PacketBuilder().ipv6("2001:db8::10", "2001:db8:1::7").ipv6ExtHeader(44, {0, 1, 0, 0, 0, 1}).tcp(80, 40000, kAck).l3())),
       XLB_STAT_ICMP_BAD_QUOTE_PASS},
      {"quote: IPv6 cut in the TCP header", icmp6To("2001:db8::10", icmpError(2, 0, 1280, quote6("2001:db8::10", 80, "2001:db8:1::7", 40000, 44))), XLB_STAT_ICMP_BAD_QUOTE_PASS},
      {"quote: port with no VIP", icmp4To(vip, icmpError(3, 4, 1280, quote4(vip, 8080, "192.0.2.7", 40000))), XLB_STAT_ICMP_NON_VIP_QUOTE_PASS},
      {"quote: from another address", icmp4To(vip, icmpError(3, 4, 1280, quote4("10.100.0.20", 80, "192.0.2.7", 40000))), XLB_STAT_ICMP_NON_VIP_QUOTE_PASS},
      {"quote: an ICMP packet", icmp4To(vip, icmpError(3, 4, 1280, PacketBuilder().ipv4(vip, "192.0.2.7").icmpEcho().l3())), XLB_STAT_ICMP_NON_VIP_QUOTE_PASS},
      {"echo request to a VIP", v4("192.0.2.7", vip).icmpEcho().build(), XLB_STAT_ICMP_PASS},
      {"redirect to a VIP (not an error xlb forwards)", icmp4To(vip, icmpError(5, 1, 0, quote4(vip, 80, "192.0.2.7", 40000))), XLB_STAT_ICMP_PASS},
      {"ICMPv6 echo reply to a VIP", icmp6To("2001:db8::10", icmpError(129, 0, 0, {})), XLB_STAT_ICMP_PASS},
      {"ICMP header truncated", icmp4To(vip, {3, 4, 0}), XLB_STAT_ICMP_PASS},
      {"frag-needed to a non-VIP address", icmp4To("10.9.9.9", icmpError(3, 4, 1280, quote4("10.9.9.9", 80, "192.0.2.7", 40000))), XLB_STAT_NON_VIP},
  };
  for (auto& c : cases) check({c.d, c.in, XDP_PASS, c.in, c.stat});
}

TEST(Icmp, ForwardedErrorsPassTheVipChecks) {
  Bytes syn = v4("192.0.2.7", "10.100.0.10").tcp(43000, 80, kSyn).build();
  ASSERT_EQ(runXdp(g_dp->programFd(), syn, lbIfindex()).ret, XDP_TX);
  Bytes body = icmpError(3, 4, 1280, quote4("10.100.0.10", 80, "192.0.2.7", 43000));
  Bytes tagged = PacketBuilder().eth(kLbMac, kClientMac).vlan(200).ipv4(kRouter4, "10.100.0.10").rawL4(kIcmp, body).build();
  check({"VLAN not accepted", tagged, XDP_DROP, tagged, -1, XLB_DROP_VLAN});
  Bytes bcast = PacketBuilder().eth("ff:ff:ff:ff:ff:ff", kClientMac).ipv4(kRouter4, "10.100.0.10").rawL4(kIcmp, body).build();
  check({"broadcast MAC", bcast, XDP_DROP, bcast, -1, XLB_DROP_L2_MULTICAST});
  Bytes martian = icmp4To("10.100.0.10", body, "127.0.0.1");
  check({"loopback source", martian, XDP_DROP, martian, -1, XLB_DROP_BAD_SOURCE});
  // A fragmented ICMP error is a fragment like any other.
  Bytes fr = v4(kRouter4, "10.100.0.10").fragOff(0x2000).rawL4(kIcmp, body).build();
  check({"fragmented error", fr, XDP_DROP, fr, -1, XLB_DROP_FRAGMENT});
}

}  // namespace
}  // namespace xlb::test
