// SPDX-License-Identifier: Apache-2.0
// NAT forwarding (issue 11, bpf/lib/nat.h) against the real XDP balancer (BPF_PROG_TEST_RUN): nat
// and fullnat, IPv4 and IPv6, TCP and UDP, forward and reply, port allocation, the drops, the reply
// filter, ICMP errors. Each fixture: description, input, expected action, exact output bytes (built
// from scratch by PacketBuilder, whose checksums are computed over the whole packet) and the one
// counter that must move; every forwarded frame's checksums are also re-verified by summing them.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "fixture.h"
#include "nat/collector.h"

namespace xlb::test {
namespace {

using dataplane::BpfDataplane;
using dataplane::CounterSnapshot;

constexpr uint8_t kSyn = 0x02, kAck = 0x10, kFin = 0x01, kSynAck = 0x12, kFinAck = 0x11,
                  kRst = 0x04;
constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmp6 = 58;
constexpr const char* kSnat4 = "10.200.0.1";
constexpr const char* kSnat4Tiny = "10.200.0.2";
constexpr const char* kSnat6 = "fd00:5a::1";
constexpr uint16_t kPortMin = 61000, kPortMax = 61010;
constexpr uint16_t kTinyMin = 61100, kTinyMax = 61103;

BpfDataplane* g_dp = nullptr;

int natFd() { return g_dp->mapFd("xlb_nat"); }

struct Ep {
  std::string addr;
  uint16_t port;
  uint8_t proto;
};

// The NAT configuration the agent would write: settings filter, backend ports, pools, endpoints.
xlb_settings g_settings{};

void setBloom(__u64* bloom, const std::string& addr, uint16_t port) {
  bool v6 = false;
  auto a = parseAddr(addr, &v6);
  uint32_t a32;
  memcpy(&a32, a.data() + (v6 ? 12 : 0), 4);
  uint32_t bit = xlb_nat_bloom_bit(a32, htons(port));
  bloom[bit / 64] |= 1ull << (bit % 64);
}

bool bloomHas(const __u64* bloom, const std::string& addr, uint16_t port) {
  __u64 b[XLB_NAT_BLOOM_BITS / 64] = {};
  setBloom(b, addr, port);
  for (int i = 0; i < XLB_NAT_BLOOM_BITS / 64; ++i)
    if (b[i] & bloom[i]) return true;
  return false;
}

void addEp(const std::string& addr, uint16_t port, uint8_t proto) {
  xlb_nat_ep ep{};
  bool v6 = false;
  auto a = parseAddr(addr, &v6);
  memcpy(ep.addr, a.data(), 16);
  ep.port = htons(port);
  ep.proto = proto;
  ep.family = v6 ? XLB_AF_INET6 : XLB_AF_INET;
  uint32_t one = 1;
  ASSERT_EQ(bpf_map_update_elem(g_dp->mapFd("xlb_nat_eps"), &ep, &one, BPF_ANY), 0);
  if (port)
    setBloom(g_settings.nat_src_bloom, addr, port);
  else
    setBloom(g_settings.snat_dst_bloom, addr, 0);
}

void addBackend(uint32_t id, const std::string& addr, uint32_t vip, uint16_t port, bool ep = true,
                uint8_t proto = kTcp) {
  ASSERT_TRUE(g_dp->upsertBackend(id, makeBackend(addr, vip)).ok());
  xlb_be_nat bn{htons(port), 0};
  ASSERT_EQ(bpf_map_update_elem(g_dp->mapFd("xlb_be_nat"), &id, &bn, BPF_ANY), 0);
  if (ep) addEp(addr, port, proto);
}

void addVip(uint32_t id, const std::string& addr, uint16_t port, uint8_t proto, uint8_t mode,
            const std::vector<uint32_t>& table) {
  ASSERT_TRUE(g_dp->upsertVipAddr(makeAddrKey(addr), {1, 0}).ok());
  ASSERT_TRUE(g_dp->setSelectionTable(id, table).ok());
  ASSERT_TRUE(g_dp->upsertVip(makeVipKey(addr, port, proto), {id, XLB_ALG_MAGLEV, mode, 0}).ok());
}

void setPool(uint32_t vip, const char* a4, const char* a6, uint16_t lo, uint16_t hi) {
  xlb_snat p{};
  if (a4) {
    memcpy(p.addrs4[0], parseAddr(a4).data(), 4);
    p.nr4 = 1;
    addEp(a4, 0, kTcp);
    addEp(a4, 0, kUdp);
  }
  if (a6) {
    memcpy(p.addrs6[0], parseAddr(a6).data(), 16);
    p.nr6 = 1;
    addEp(a6, 0, kTcp);
  }
  p.port_min = lo;
  p.port_max = hi;
  ASSERT_EQ(bpf_map_update_elem(g_dp->mapFd("xlb_snat"), &vip, &p, BPF_ANY), 0);
}

void writeSettings() { ASSERT_TRUE(g_dp->setSettings(g_settings).ok()); }

class Env : public ::testing::Environment {
 public:
  void SetUp() override {
    setUpOrSkip("nat tests");
    g_dp = loadOrSkip("nat tests", 4096).release();
    g_settings = testSettings();
    g_settings.nat_flags = XLB_NAT_F_EPS | XLB_NAT_F_SNAT;
    g_settings.nat_port_min = kPortMin;
    g_settings.nat_port_max = kTinyMax;

    addBackend(11, "10.0.0.2", 10, 8080);
    addBackend(12, "10.0.0.3", 11, 9090, false);  // fullnat: no endpoint
    addBackend(13, "fd00::2", 12, 8080);
    addBackend(14, "fd00::3", 13, 9090, false);
    addBackend(15, "10.0.0.2", 14, 5353, true, kUdp);
    addBackend(16, "fd00::2", 15, 5353, true, kUdp);
    addBackend(17, "10.0.0.3", 16, 9191, false);
    addBackend(18, "10.0.0.2", 17, 8080);
    addBackend(19, "10.0.0.3", 18, 8080);
    addBackend(20, "10.0.0.2", 18, 8081);
    addVip(10, "10.100.1.10", 80, kTcp, XLB_FWD_NAT, {11});
    addVip(11, "10.100.1.11", 80, kTcp, XLB_FWD_FULLNAT, {12});
    addVip(12, "2001:db8::1:10", 80, kTcp, XLB_FWD_NAT, {13});
    addVip(13, "2001:db8::1:11", 80, kTcp, XLB_FWD_FULLNAT, {14});
    addVip(14, "10.100.1.14", 53, kUdp, XLB_FWD_NAT, {15});
    addVip(15, "2001:db8::1:15", 53, kUdp, XLB_FWD_NAT, {16});
    addVip(16, "10.100.1.16", 80, kTcp, XLB_FWD_FULLNAT, {17});
    addVip(17, "10.100.1.17", 80, kTcp, XLB_FWD_NAT, {18});
    addVip(18, "10.100.1.18", 80, kTcp, XLB_FWD_NAT, {19});
    setPool(11, kSnat4, nullptr, kPortMin, kPortMax);
    setPool(13, nullptr, kSnat6, kPortMin, kPortMax);
    setPool(16, kSnat4Tiny, nullptr, kTinyMin, kTinyMax);
    writeSettings();
  }
  void TearDown() override { delete g_dp; }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new Env);

CounterSnapshot counters() { return readCounters(*g_dp); }

// Independent of PacketBuilder: sums the IPv4 header and the TCP/UDP/ICMP checksum (with the
// pseudo-header where the protocol has one) of `f`; a UDP/IPv4 checksum 0 means none.
bool checksumsOk(const Bytes& f, std::string* why) {
  size_t l3 = 14;
  uint16_t et = static_cast<uint16_t>(f[12] << 8 | f[13]);
  if (et == 0x8100) l3 = 18, et = static_cast<uint16_t>(f[16] << 8 | f[17]);
  uint32_t seed = 0;
  size_t l4, len;
  uint8_t proto;
  if (et == 0x0800) {
    size_t ihl = (f[l3] & 0xf) * 4u;
    if (inetChecksum(&f[l3], ihl) != 0) return *why = "IPv4 header checksum", false;
    proto = f[l3 + 9];
    len = (f[l3 + 2] << 8 | f[l3 + 3]) - ihl;
    l4 = l3 + ihl;
    for (size_t i = 12; i < 20; i += 2) seed += f[l3 + i] << 8 | f[l3 + i + 1];
  } else {
    proto = f[l3 + 6];
    len = f[l3 + 4] << 8 | f[l3 + 5];
    l4 = l3 + 40;
    for (size_t i = 8; i < 40; i += 2) seed += f[l3 + i] << 8 | f[l3 + i + 1];
  }
  if (proto == kIcmp) {
    seed = 0;
  } else {
    seed += proto;
    seed += static_cast<uint32_t>(len);
  }
  if (proto == kUdp && et == 0x0800 && f[l4 + 6] == 0 && f[l4 + 7] == 0) return true;
  if (inetChecksum(&f[l4], len, seed) != 0) return *why = "L4 checksum", false;
  return true;
}

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
  if (f.action == XDP_TX || f.action == XDP_REDIRECT) {
    std::string why;
    EXPECT_TRUE(checksumsOk(r.out, &why)) << why;
  }
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

// Frames: client side (client MAC -> LB), backend side (backend MAC -> LB), and what leaves.
Bytes tcpFrame(const char* dmac, const char* smac, const std::string& src, const std::string& dst,
               uint16_t sport, uint16_t dport, uint8_t flags) {
  bool v6 = false;
  parseAddr(src, &v6);
  PacketBuilder p;
  p.eth(dmac, smac);
  if (v6)
    p.ipv6(src, dst);
  else
    p.ipv4(src, dst);
  return p.tcp(sport, dport, flags).payload(Bytes(13, 0x61)).build();
}
Bytes udpFrame(const char* dmac, const char* smac, const std::string& src, const std::string& dst,
               uint16_t sport, uint16_t dport) {
  bool v6 = false;
  parseAddr(src, &v6);
  PacketBuilder p;
  p.eth(dmac, smac);
  if (v6)
    p.ipv6(src, dst);
  else
    p.ipv4(src, dst);
  return p.udp(sport, dport).payload(Bytes(11, 0x7e)).build();
}

xlb_flow_key key(const std::string& src, const std::string& dst, uint16_t sport, uint16_t dport,
                 uint8_t proto) {
  return flowKey(src, dst, sport, dport, proto);
}

bool natEntry(const xlb_flow_key& k, xlb_nat_value* v) {
  return bpf_map_lookup_elem(natFd(), &k, v) == 0;
}

uint64_t conns(uint32_t be) {
  uint64_t v = 0;
  bpf_map_lookup_elem(g_dp->mapFd("xlb_be_conns"), &be, &v);
  return v;
}

uint64_t natFail(uint32_t be) {
  int n = libbpf_num_possible_cpus();
  std::vector<uint64_t> v(static_cast<size_t>(n));
  bpf_map_lookup_elem(g_dp->mapFd("xlb_nat_fail"), &be, v.data());
  uint64_t s = 0;
  for (auto x : v) s += x;
  return s;
}

// ---- nat, IPv4 TCP
// ---------------------------------------------------------------------------------

TEST(NatV4, TcpForwardNewHitReplyAndClose) {
  const char* c = "192.0.2.50";
  Bytes syn = tcpFrame(kLbMac, kClientMac, c, "10.100.1.10", 40000, 80, kSyn);
  CounterSnapshot before = counters();
  check({"SYN creates the pair, dst -> backend:8080", syn, XDP_TX,
         tcpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 40000, 8080, kSyn), XLB_STAT_NAT_NEW});
  CounterSnapshot after = counters();
  EXPECT_EQ(after.vips[10].new_flows, before.vips[10].new_flows + 1);
  EXPECT_EQ(after.backends[11].new_flows, before.backends[11].new_flows + 1);
  EXPECT_EQ(after.backends[11].packets, before.backends[11].packets + 1);
  EXPECT_EQ(conns(11), 1u);

  xlb_nat_value fwd{}, rev{};
  ASSERT_TRUE(natEntry(key(c, "10.100.1.10", 40000, 80, kTcp), &fwd));
  EXPECT_EQ(fwd.dir, XLB_NAT_DIR_FWD);
  EXPECT_EQ(fwd.mode, XLB_FWD_NAT);
  EXPECT_EQ(fwd.backend_id, 11u);
  EXPECT_EQ(fwd.state, 0);
  EXPECT_EQ(ntohs(fwd.new_dport), 8080);
  ASSERT_TRUE(natEntry(key("10.0.0.2", c, 8080, 40000, kTcp), &rev));
  EXPECT_EQ(rev.dir, XLB_NAT_DIR_REV);
  EXPECT_EQ(rev.ifindex, static_cast<uint32_t>(lbIfindex()));
  Mac cm = parseMac(kClientMac), lm = parseMac(kLbMac);
  EXPECT_EQ(memcmp(rev.l2, cm.data(), 6), 0);
  EXPECT_EQ(memcmp(rev.l2 + 6, lm.data(), 6), 0);

  Bytes ack = tcpFrame(kLbMac, kClientMac, c, "10.100.1.10", 40000, 80, kAck);
  check({"ACK hits the entry", ack, XDP_TX,
         tcpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 40000, 8080, kAck), XLB_STAT_NAT_HIT});
  ASSERT_TRUE(natEntry(key(c, "10.100.1.10", 40000, 80, kTcp), &fwd));
  EXPECT_EQ(fwd.state, XLB_NAT_S_SEEN | XLB_NAT_S_ACK);

  Bytes sa = tcpFrame(kLbMac, kBackendMacA, "10.0.0.2", c, 8080, 40000, kSynAck);
  check({"backend's SYN-ACK: src -> VIP:80, client MACs", sa, XDP_TX,
         tcpFrame(kClientMac, kLbMac, "10.100.1.10", c, 80, 40000, kSynAck), XLB_STAT_NAT_REPLY});
  ASSERT_TRUE(natEntry(key("10.0.0.2", c, 8080, 40000, kTcp), &rev));
  EXPECT_EQ(rev.state, XLB_NAT_S_SEEN);

  Bytes fin = tcpFrame(kLbMac, kClientMac, c, "10.100.1.10", 40000, 80, kFinAck);
  check({"client FIN closes: open count back to 0", fin, XDP_TX,
         tcpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 40000, 8080, kFinAck), XLB_STAT_FLOW_CLOSE});
  EXPECT_EQ(conns(11), 0u);
  check({"second FIN: no second decrement", fin, XDP_TX,
         tcpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 40000, 8080, kFinAck), XLB_STAT_NAT_HIT});
  EXPECT_EQ(conns(11), 0u);
}

// The collector's view (agent/nat/collector.h) of the pair whose FWD key is `fk`, as the program
// wrote it.
nat::Connection connection(const xlb_flow_key& fk) {
  xlb_nat_value fv{}, rv{};
  EXPECT_TRUE(natEntry(fk, &fv));
  xlb_flow_key rk = nat::peerKey(fk, fv);
  EXPECT_TRUE(natEntry(rk, &rv));
  return nat::connectionOf({fk, fv}, {rk, rv});
}

// "Answered" needs the client's ACK after the backend's reply: the creating SYN, its retransmits
// and a backend's SYN-ACK (all a spoofed SYN flood produces) leave XLB_NAT_S_ACK unset; the
// client's ACK sets it. Only FWD entries carry it: a backend's ACK does not.
TEST(NatV4, ClientAckSetsAckBitSynRetransmitAndCreatorDoNot) {
  const char* c = "192.0.2.52";
  const xlb_flow_key fk = key(c, "10.100.1.10", 40100, 80, kTcp);
  const xlb_flow_key rk = key("10.0.0.2", c, 8080, 40100, kTcp);
  Bytes syn = tcpFrame(kLbMac, kClientMac, c, "10.100.1.10", 40100, 80, kSyn);
  check({"SYN creates", syn, XDP_TX,
         tcpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 40100, 8080, kSyn), XLB_STAT_NAT_NEW});
  xlb_nat_value fwd{}, rev{};
  ASSERT_TRUE(natEntry(fk, &fwd));
  EXPECT_EQ(fwd.state, 0) << "the creating packet sets nothing";
  check({"SYN retransmit hits", syn, XDP_TX,
         tcpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 40100, 8080, kSyn), XLB_STAT_NAT_HIT});
  ASSERT_TRUE(natEntry(fk, &fwd));
  EXPECT_EQ(fwd.state, XLB_NAT_S_SEEN) << "a SYN retransmit is no ACK";
  Bytes sa = tcpFrame(kLbMac, kBackendMacA, "10.0.0.2", c, 8080, 40100, kSynAck);
  check({"backend's SYN-ACK", sa, XDP_TX,
         tcpFrame(kClientMac, kLbMac, "10.100.1.10", c, 80, 40100, kSynAck), XLB_STAT_NAT_REPLY});
  ASSERT_TRUE(natEntry(rk, &rev));
  EXPECT_EQ(rev.state, XLB_NAT_S_SEEN);
  // What a spoofed SYN (retransmitted) leaves behind: replied, not answered, state syn.
  nat::Connection spoofed = connection(fk);
  EXPECT_TRUE(spoofed.replied);
  EXPECT_FALSE(spoofed.answered);
  EXPECT_EQ(spoofed.state, nat::ConnState::kSyn);
  // A forward SYN+ACK (simultaneous open) carries SYN: still no handshake completion.
  Bytes fsa = tcpFrame(kLbMac, kClientMac, c, "10.100.1.10", 40100, 80, kSynAck);
  check({"forward SYN-ACK hits", fsa, XDP_TX,
         tcpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 40100, 8080, kSynAck), XLB_STAT_NAT_HIT});
  ASSERT_TRUE(natEntry(fk, &fwd));
  EXPECT_EQ(fwd.state, XLB_NAT_S_SEEN);
  Bytes ack = tcpFrame(kLbMac, kClientMac, c, "10.100.1.10", 40100, 80, kAck);
  check({"client's ACK completes the handshake", ack, XDP_TX,
         tcpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 40100, 8080, kAck), XLB_STAT_NAT_HIT});
  ASSERT_TRUE(natEntry(fk, &fwd));
  EXPECT_EQ(fwd.state, XLB_NAT_S_SEEN | XLB_NAT_S_ACK);
  nat::Connection done = connection(fk);
  EXPECT_TRUE(done.answered);
  EXPECT_EQ(done.state, nat::ConnState::kEstablished);
  Bytes back = tcpFrame(kLbMac, kBackendMacA, "10.0.0.2", c, 8080, 40100, kAck);
  check({"backend's ACK", back, XDP_TX,
         tcpFrame(kClientMac, kLbMac, "10.100.1.10", c, 80, 40100, kAck), XLB_STAT_NAT_REPLY});
  ASSERT_TRUE(natEntry(rk, &rev));
  EXPECT_EQ(rev.state, XLB_NAT_S_SEEN) << "the ACK bit is the client's only";
  // Close (the backend's open count goes back) and clean up for the tests after this one.
  Bytes fin = tcpFrame(kLbMac, kClientMac, c, "10.100.1.10", 40100, 80, kFinAck);
  ASSERT_EQ(runXdp(g_dp->programFd(), fin, lbIfindex()).ret, XDP_TX);
  EXPECT_EQ(bpf_map_delete_elem(natFd(), &fk), 0);
  EXPECT_EQ(bpf_map_delete_elem(natFd(), &rk), 0);
}

// A pair created by an ACK (no SYN seen, e.g. after its entries expired): the creating ACK does not
// count, the next one does. fullnat too: the bit lives in the FWD entry whatever the mode.
TEST(NatV4, CreatingAckDoesNotSetTheAckBitTheNextDoes) {
  const char* c = "192.0.2.53";
  for (const char* vip : {"10.100.1.10", "10.100.1.11"}) {
    const xlb_flow_key fk = key(c, vip, 40200, 80, kTcp);
    Bytes ack = tcpFrame(kLbMac, kClientMac, c, vip, 40200, 80, kAck);
    RunResult r = runXdp(g_dp->programFd(), ack, lbIfindex());
    ASSERT_EQ(r.ret, XDP_TX) << vip;
    xlb_nat_value fwd{};
    ASSERT_TRUE(natEntry(fk, &fwd));
    EXPECT_EQ(fwd.state, 0) << vip;
    r = runXdp(g_dp->programFd(), ack, lbIfindex());
    ASSERT_EQ(r.ret, XDP_TX) << vip;
    ASSERT_TRUE(natEntry(fk, &fwd));
    EXPECT_EQ(fwd.state, XLB_NAT_S_SEEN | XLB_NAT_S_ACK) << vip;
    nat::Connection conn = connection(fk);
    EXPECT_FALSE(conn.answered) << vip << ": the backend has not replied";
    Bytes fin = tcpFrame(kLbMac, kClientMac, c, vip, 40200, 80, kFinAck);
    ASSERT_EQ(runXdp(g_dp->programFd(), fin, lbIfindex()).ret, XDP_TX) << vip;
    xlb_flow_key rk = nat::peerKey(fk, fwd);
    EXPECT_EQ(bpf_map_delete_elem(natFd(), &fk), 0);
    EXPECT_EQ(bpf_map_delete_elem(natFd(), &rk), 0);
  }
}

// A client that reuses its tuple for a new connection (a SYN without ACK after its handshake
// completed, or after a FIN/RST) reopens the pair, counted as a new connection (state cleared):
// never the old closing entry, which the collector would expire under the new connection after
// the closing timeout. A SYN retransmit before the handshake completed keeps the entry.
TEST(NatV4, SynOnAReusedTupleIsANewConnection) {
  const char* c = "192.0.2.54";
  const char* vip = "10.100.1.10";
  const xlb_flow_key fk = key(c, vip, 40300, 80, kTcp);
  const xlb_flow_key rk = key("10.0.0.2", c, 8080, 40300, kTcp);
  const uint64_t open0 = conns(11);
  Bytes syn = tcpFrame(kLbMac, kClientMac, c, vip, 40300, 80, kSyn);
  Bytes syn_out = tcpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 40300, 8080, kSyn);
  Bytes ack = tcpFrame(kLbMac, kClientMac, c, vip, 40300, 80, kAck);
  Bytes ack_out = tcpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 40300, 8080, kAck);
  Bytes fin = tcpFrame(kLbMac, kClientMac, c, vip, 40300, 80, kFinAck);
  Bytes fin_out = tcpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 40300, 8080, kFinAck);
  Bytes sa = tcpFrame(kLbMac, kBackendMacA, "10.0.0.2", c, 8080, 40300, kSynAck);
  Bytes sa_out = tcpFrame(kClientMac, kLbMac, vip, c, 80, 40300, kSynAck);
  xlb_nat_value fwd{}, rev{};

  check({"SYN creates", syn, XDP_TX, syn_out, XLB_STAT_NAT_NEW});
  check({"SYN retransmit before the handshake completed: same entry", syn, XDP_TX, syn_out,
         XLB_STAT_NAT_HIT});
  check({"backend's SYN-ACK", sa, XDP_TX, sa_out, XLB_STAT_NAT_REPLY});
  check({"client's ACK", ack, XDP_TX, ack_out, XLB_STAT_NAT_HIT});
  EXPECT_EQ(conns(11), open0 + 1);

  // Reused without a FIN seen (the client restarted): the pair reopened, the open count unchanged.
  CounterSnapshot before = counters();
  check({"SYN after the handshake: a new connection", syn, XDP_TX, syn_out, XLB_STAT_NAT_NEW});
  CounterSnapshot after = counters();
  EXPECT_EQ(after.backends[11].new_flows, before.backends[11].new_flows + 1);
  EXPECT_EQ(after.global[XLB_STAT_NAT_HIT], before.global[XLB_STAT_NAT_HIT]);
  ASSERT_TRUE(natEntry(fk, &fwd));
  EXPECT_EQ(fwd.state, 0) << "reopened: state cleared";
  ASSERT_TRUE(natEntry(rk, &rev));
  EXPECT_EQ(rev.state, 0) << "the old connection's reply state is gone";
  EXPECT_EQ(conns(11), open0 + 1);

  // Reused after a FIN: the closed pair is replaced, the new connection counted open again.
  check({"client's ACK", ack, XDP_TX, ack_out, XLB_STAT_NAT_HIT});
  check({"client's FIN", fin, XDP_TX, fin_out, XLB_STAT_FLOW_CLOSE});
  EXPECT_EQ(conns(11), open0);
  check({"SYN after the FIN: a new connection", syn, XDP_TX, syn_out, XLB_STAT_NAT_NEW});
  ASSERT_TRUE(natEntry(fk, &fwd));
  EXPECT_EQ(fwd.state, 0);
  nat::Connection conn = connection(fk);
  EXPECT_EQ(conn.state, nat::ConnState::kSyn) << "not closing: the idle timeout is the SYN one";
  EXPECT_EQ(conns(11), open0 + 1);

  ASSERT_EQ(runXdp(g_dp->programFd(), fin, lbIfindex()).ret, XDP_TX);
  EXPECT_EQ(conns(11), open0);
  EXPECT_EQ(bpf_map_delete_elem(natFd(), &fk), 0);
  EXPECT_EQ(bpf_map_delete_elem(natFd(), &rk), 0);
}

// The backend's RST closes the connection in the open count at once (its client may never send
// again), once: the FWD entry records it, so the client's FIN or RST after it subtracts nothing.
TEST(NatV4, BackendResetLeavesTheOpenCountOnce) {
  const char* c = "192.0.2.56";
  const char* vip = "10.100.1.10";
  const xlb_flow_key fk = key(c, vip, 40400, 80, kTcp);
  const xlb_flow_key rk = key("10.0.0.2", c, 8080, 40400, kTcp);
  const uint64_t open0 = conns(11);
  Bytes syn = tcpFrame(kLbMac, kClientMac, c, vip, 40400, 80, kSyn);
  Bytes ack = tcpFrame(kLbMac, kClientMac, c, vip, 40400, 80, kAck);
  ASSERT_EQ(runXdp(g_dp->programFd(), syn, lbIfindex()).ret, XDP_TX);
  ASSERT_EQ(runXdp(g_dp->programFd(), ack, lbIfindex()).ret, XDP_TX);
  EXPECT_EQ(conns(11), open0 + 1);
  Bytes rst = tcpFrame(kLbMac, kBackendMacA, "10.0.0.2", c, 8080, 40400, kRst);
  check({"backend's RST: translated, the connection closes", rst, XDP_TX,
         tcpFrame(kClientMac, kLbMac, vip, c, 80, 40400, kRst), XLB_STAT_FLOW_CLOSE});
  EXPECT_EQ(conns(11), open0);
  xlb_nat_value fwd{}, rev{};
  ASSERT_TRUE(natEntry(fk, &fwd));
  EXPECT_EQ(fwd.state & XLB_NAT_S_RST, XLB_NAT_S_RST) << "recorded on the FWD entry";
  ASSERT_TRUE(natEntry(rk, &rev));
  EXPECT_EQ(rev.state & XLB_NAT_S_RST, XLB_NAT_S_RST);
  check({"a second backend RST: no second close", rst, XDP_TX,
         tcpFrame(kClientMac, kLbMac, vip, c, 80, 40400, kRst), XLB_STAT_NAT_REPLY});
  Bytes fin = tcpFrame(kLbMac, kClientMac, c, vip, 40400, 80, kFinAck);
  check({"the client's FIN after it: no second close", fin, XDP_TX,
         tcpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 40400, 8080, kFinAck), XLB_STAT_NAT_HIT});
  EXPECT_EQ(conns(11), open0);
  EXPECT_EQ(connection(fk).state, nat::ConnState::kClosing);
  EXPECT_EQ(bpf_map_delete_elem(natFd(), &fk), 0);
  EXPECT_EQ(bpf_map_delete_elem(natFd(), &rk), 0);
}

// fullnat: the reused tuple reopens the pair on its SNAT endpoint (the client's port, kept).
TEST(FullnatV4, SynOnAReusedTupleIsANewConnection) {
  const char* c = "192.0.2.55";
  const char* vip = "10.100.1.11";
  const xlb_flow_key fk = key(c, vip, 61004, 80, kTcp);
  Bytes syn = tcpFrame(kLbMac, kClientMac, c, vip, 61004, 80, kSyn);
  Bytes ack = tcpFrame(kLbMac, kClientMac, c, vip, 61004, 80, kAck);
  ASSERT_EQ(runXdp(g_dp->programFd(), syn, lbIfindex()).ret, XDP_TX);
  ASSERT_EQ(runXdp(g_dp->programFd(), ack, lbIfindex()).ret, XDP_TX);
  xlb_nat_value fwd{};
  ASSERT_TRUE(natEntry(fk, &fwd));
  EXPECT_EQ(fwd.state, XLB_NAT_S_SEEN | XLB_NAT_S_ACK);
  const uint64_t created = fwd.created_ns;
  CounterSnapshot before = counters();
  ASSERT_EQ(runXdp(g_dp->programFd(), syn, lbIfindex()).ret, XDP_TX);
  CounterSnapshot after = counters();
  EXPECT_EQ(after.global[XLB_STAT_NAT_NEW], before.global[XLB_STAT_NAT_NEW] + 1);
  ASSERT_TRUE(natEntry(fk, &fwd));
  EXPECT_EQ(fwd.state, 0);
  EXPECT_GE(fwd.created_ns, created);
  EXPECT_EQ(ntohs(fwd.new_sport), 61004) << "the same SNAT endpoint (the client's port)";
  xlb_flow_key rk = nat::peerKey(fk, fwd);
  xlb_nat_value rev{};
  ASSERT_TRUE(natEntry(rk, &rev));
  EXPECT_EQ(rev.dir, XLB_NAT_DIR_REV);
  Bytes fin = tcpFrame(kLbMac, kClientMac, c, vip, 61004, 80, kFinAck);
  ASSERT_EQ(runXdp(g_dp->programFd(), fin, lbIfindex()).ret, XDP_TX);
  EXPECT_EQ(bpf_map_delete_elem(natFd(), &fk), 0);
  EXPECT_EQ(bpf_map_delete_elem(natFd(), &rk), 0);
}

TEST(NatV4, NonSynCreatesAndFinCreatesClosing) {
  Bytes ack = tcpFrame(kLbMac, kClientMac, "192.0.2.51", "10.100.1.10", 40001, 80, kAck);
  check({"ACK without entry creates (as dsr records any packet)", ack, XDP_TX,
         tcpFrame(kBackendMacA, kLbMac, "192.0.2.51", "10.0.0.2", 40001, 8080, kAck),
         XLB_STAT_NAT_NEW});
  uint64_t open = conns(11);
  Bytes fin = tcpFrame(kLbMac, kClientMac, "192.0.2.51", "10.100.1.10", 40002, 80, kFin);
  check({"FIN without entry: pair born closing", fin, XDP_TX,
         tcpFrame(kBackendMacA, kLbMac, "192.0.2.51", "10.0.0.2", 40002, 8080, kFin),
         XLB_STAT_NAT_NEW});
  EXPECT_EQ(conns(11), open) << "a pair born closing is not counted";
}

// ---- fullnat, IPv4 TCP
// ------------------------------------------------------------------------------

TEST(FullnatV4, ClientPortOutsideRangeGetsAPoolPort) {
  const char* c = "192.0.2.60";
  Bytes syn = tcpFrame(kLbMac, kClientMac, c, "10.100.1.11", 40000, 80, kSyn);
  RunResult r = runXdp(g_dp->programFd(), syn, lbIfindex());
  ASSERT_EQ(r.ret, XDP_TX);
  xlb_nat_value fwd{};
  ASSERT_TRUE(natEntry(key(c, "10.100.1.11", 40000, 80, kTcp), &fwd));
  uint16_t sport = ntohs(fwd.new_sport);
  EXPECT_GE(sport, kPortMin);
  EXPECT_LE(sport, kPortMax);
  EXPECT_EQ(memcmp(fwd.new_src, parseAddr(kSnat4).data(), 16), 0);
  Bytes want = tcpFrame(kBackendMacB, kLbMac, kSnat4, "10.0.0.3", sport, 9090, kSyn);
  EXPECT_EQ(r.out, want) << hexdump(r.out);
  std::string why;
  EXPECT_TRUE(checksumsOk(r.out, &why)) << why;

  Bytes ack = tcpFrame(kLbMac, kClientMac, c, "10.100.1.11", 40000, 80, kAck);
  check({"fullnat hit", ack, XDP_TX,
         tcpFrame(kBackendMacB, kLbMac, kSnat4, "10.0.0.3", sport, 9090, kAck), XLB_STAT_NAT_HIT});
  Bytes sa = tcpFrame(kLbMac, kBackendMacB, "10.0.0.3", kSnat4, 9090, sport, kSynAck);
  check({"fullnat reply to the SNAT address -> client", sa, XDP_TX,
         tcpFrame(kClientMac, kLbMac, "10.100.1.11", c, 80, 40000, kSynAck), XLB_STAT_NAT_REPLY});
  // Free the hashed port again: the next test predicts the ports it gets.
  xlb_flow_key f = key(c, "10.100.1.11", 40000, 80, kTcp),
               rv = key("10.0.0.3", kSnat4, 9090, sport, kTcp);
  EXPECT_EQ(bpf_map_delete_elem(natFd(), &f), 0);
  EXPECT_EQ(bpf_map_delete_elem(natFd(), &rv), 0);
}

TEST(FullnatV4, ClientPortKeptWhenFreeElseProbed) {
  Bytes syn = tcpFrame(kLbMac, kClientMac, "192.0.2.61", "10.100.1.11", 61005, 80, kSyn);
  check({"client port 61005 is in the range and free: kept", syn, XDP_TX,
         tcpFrame(kBackendMacB, kLbMac, kSnat4, "10.0.0.3", 61005, 9090, kSyn), XLB_STAT_NAT_NEW});
  // Another client with the same port: 61005 is taken toward this backend, 61006 next.
  CounterSnapshot before = counters();
  Bytes syn2 = tcpFrame(kLbMac, kClientMac, "192.0.2.62", "10.100.1.11", 61005, 80, kSyn);
  check({"61005 taken: probes to 61006", syn2, XDP_TX,
         tcpFrame(kBackendMacB, kLbMac, kSnat4, "10.0.0.3", 61006, 9090, kSyn), XLB_STAT_NAT_NEW});
  EXPECT_EQ(counters().global[XLB_STAT_NAT_PORT_PROBE], before.global[XLB_STAT_NAT_PORT_PROBE] + 1);
  // Occupy 61007 and 61008 with foreign REV entries: the next one probes past them (wraps at
  // 61010).
  for (uint16_t p : {61007, 61008}) {
    xlb_nat_value v{};
    v.dir = XLB_NAT_DIR_REV;
    xlb_flow_key k = key("10.0.0.3", kSnat4, 9090, p, kTcp);
    ASSERT_EQ(bpf_map_update_elem(natFd(), &k, &v, BPF_NOEXIST), 0);
  }
  before = counters();
  Bytes syn3 = tcpFrame(kLbMac, kClientMac, "192.0.2.63", "10.100.1.11", 61006, 80, kSyn);
  check({"61006..61008 taken: 61009", syn3, XDP_TX,
         tcpFrame(kBackendMacB, kLbMac, kSnat4, "10.0.0.3", 61009, 9090, kSyn), XLB_STAT_NAT_NEW});
  EXPECT_EQ(counters().global[XLB_STAT_NAT_PORT_PROBE], before.global[XLB_STAT_NAT_PORT_PROBE] + 3);
  Bytes syn4 = tcpFrame(kLbMac, kClientMac, "192.0.2.64", "10.100.1.11", 61010, 80, kSyn);
  check({"61010 free: kept", syn4, XDP_TX,
         tcpFrame(kBackendMacB, kLbMac, kSnat4, "10.0.0.3", 61010, 9090, kSyn), XLB_STAT_NAT_NEW});
  Bytes syn5 = tcpFrame(kLbMac, kClientMac, "192.0.2.65", "10.100.1.11", 61010, 80, kSyn);
  RunResult r = runXdp(g_dp->programFd(), syn5, lbIfindex());
  ASSERT_EQ(r.ret, XDP_TX);
  xlb_nat_value fwd{};
  ASSERT_TRUE(natEntry(key("192.0.2.65", "10.100.1.11", 61010, 80, kTcp), &fwd));
  EXPECT_EQ(ntohs(fwd.new_sport), 61000) << "wraps to the range's start";
}

TEST(FullnatV4, ExhaustedPoolDropsAndCountsPerBackend) {
  for (uint16_t p = kTinyMin; p <= kTinyMax; ++p) {
    xlb_nat_value v{};
    v.dir = XLB_NAT_DIR_REV;
    xlb_flow_key k = key("10.0.0.3", kSnat4Tiny, 9191, p, kTcp);
    ASSERT_EQ(bpf_map_update_elem(natFd(), &k, &v, BPF_NOEXIST), 0);
  }
  uint64_t fail = natFail(17);
  CounterSnapshot before = counters();
  Bytes syn = tcpFrame(kLbMac, kClientMac, "192.0.2.70", "10.100.1.16", 40000, 80, kSyn);
  check({"all 4 ports taken", syn, XDP_DROP, syn, -1, XLB_DROP_NAT_NO_PORT});
  EXPECT_EQ(natFail(17), fail + 1);
  EXPECT_EQ(counters().global[XLB_STAT_NAT_PORT_PROBE], before.global[XLB_STAT_NAT_PORT_PROBE] + 3);
  xlb_nat_value v{};
  EXPECT_FALSE(natEntry(key("192.0.2.70", "10.100.1.16", 40000, 80, kTcp), &v));
  // One port freed: the next connection gets it.
  xlb_flow_key k = key("10.0.0.3", kSnat4Tiny, 9191, 61102, kTcp);
  ASSERT_EQ(bpf_map_delete_elem(natFd(), &k), 0);
  check({"one port free again", syn, XDP_TX,
         tcpFrame(kBackendMacB, kLbMac, kSnat4Tiny, "10.0.0.3", 61102, 9191, kSyn),
         XLB_STAT_NAT_NEW});
}

TEST(FullnatV4, FullAddressFallsBackToTheOtherPoolAddresses) {
  // VIP 19: a two-address pool of 4 ports each; every port of the first address is taken.
  const char* a = kSnat4Tiny;
  const char* b = "10.200.0.6";
  addBackend(21, "10.0.0.3", 19, 9292, false);
  addVip(19, "10.100.1.19", 80, kTcp, XLB_FWD_FULLNAT, {21});
  xlb_snat pool{};
  memcpy(pool.addrs4[0], parseAddr(a).data(), 4);
  memcpy(pool.addrs4[1], parseAddr(b).data(), 4);
  pool.nr4 = 2;
  pool.port_min = kTinyMin;
  pool.port_max = kTinyMax;
  ASSERT_EQ(bpf_map_update_elem(g_dp->mapFd("xlb_snat"), &(const uint32_t&)19u, &pool, BPF_ANY), 0);
  addEp(b, 0, kTcp);
  writeSettings();
  for (uint16_t p = kTinyMin; p <= kTinyMax; ++p) {
    xlb_nat_value v{};
    v.dir = XLB_NAT_DIR_REV;
    xlb_flow_key k = key("10.0.0.3", a, 9292, p, kTcp);
    ASSERT_EQ(bpf_map_update_elem(natFd(), &k, &v, BPF_NOEXIST), 0);
  }
  // A client port inside the range stays the client's on the address where it is free.
  Bytes syn = tcpFrame(kLbMac, kClientMac, "192.0.2.80", "10.100.1.19", 61101, 80, kSyn);
  check({"client port kept on the second address", syn, XDP_TX,
         tcpFrame(kBackendMacB, kLbMac, b, "10.0.0.3", 61101, 9292, kSyn), XLB_STAT_NAT_NEW});
  // Ports from a hashed start: the other three ports of the second address, then none.
  std::set<uint16_t> got = {61101};
  for (int i = 0; i < 3; ++i) {
    const std::string c = "192.0.2." + std::to_string(81 + i);
    Bytes s = tcpFrame(kLbMac, kClientMac, c, "10.100.1.19", 40000, 80, kSyn);
    RunResult r = runXdp(g_dp->programFd(), s, lbIfindex());
    ASSERT_EQ(r.ret, XDP_TX) << c;
    xlb_nat_value fwd{};
    ASSERT_TRUE(natEntry(key(c, "10.100.1.19", 40000, 80, kTcp), &fwd)) << c;
    EXPECT_EQ(memcmp(fwd.new_src, parseAddr(b).data(), 16), 0) << c;
    got.insert(ntohs(fwd.new_sport));
  }
  EXPECT_EQ(got, (std::set<uint16_t>{61100, 61101, 61102, 61103}));
  uint64_t fail = natFail(21);
  Bytes last = tcpFrame(kLbMac, kClientMac, "192.0.2.90", "10.100.1.19", 40000, 80, kSyn);
  CounterSnapshot before = counters();
  check({"both addresses full", last, XDP_DROP, last, -1, XLB_DROP_NAT_NO_PORT});
  EXPECT_EQ(natFail(21), fail + 1);
  EXPECT_EQ(counters().global[XLB_STAT_NAT_PORT_PROBE], before.global[XLB_STAT_NAT_PORT_PROBE] + 7)
      << "8 endpoints tried, the first not counted";
}

// ---- IPv6
// ---------------------------------------------------------------------------------------------

TEST(NatV6, TcpForwardAndReply) {
  const char* c = "2001:db8:7::50";
  Bytes syn = tcpFrame(kLbMac, kClientMac, c, "2001:db8::1:10", 40000, 80, kSyn);
  check({"nat v6 SYN", syn, XDP_TX, tcpFrame(kBackendMacA, kLbMac, c, "fd00::2", 40000, 8080, kSyn),
         XLB_STAT_NAT_NEW});
  Bytes ack = tcpFrame(kLbMac, kClientMac, c, "2001:db8::1:10", 40000, 80, kAck);
  check({"nat v6 hit", ack, XDP_TX, tcpFrame(kBackendMacA, kLbMac, c, "fd00::2", 40000, 8080, kAck),
         XLB_STAT_NAT_HIT});
  Bytes sa = tcpFrame(kLbMac, kBackendMacA, "fd00::2", c, 8080, 40000, kSynAck);
  check({"nat v6 reply", sa, XDP_TX,
         tcpFrame(kClientMac, kLbMac, "2001:db8::1:10", c, 80, 40000, kSynAck),
         XLB_STAT_NAT_REPLY});
}

TEST(FullnatV6, TcpForwardAndReply) {
  const char* c = "2001:db8:7::60";
  Bytes syn = tcpFrame(kLbMac, kClientMac, c, "2001:db8::1:11", 61001, 80, kSyn);
  check({"fullnat v6 SYN, client port kept", syn, XDP_TX,
         tcpFrame(kBackendMacB, kLbMac, kSnat6, "fd00::3", 61001, 9090, kSyn), XLB_STAT_NAT_NEW});
  Bytes sa = tcpFrame(kLbMac, kBackendMacB, "fd00::3", kSnat6, 9090, 61001, kSynAck);
  check({"fullnat v6 reply", sa, XDP_TX,
         tcpFrame(kClientMac, kLbMac, "2001:db8::1:11", c, 80, 61001, kSynAck),
         XLB_STAT_NAT_REPLY});
}

// ---- UDP
// ----------------------------------------------------------------------------------------------

Bytes zeroUdpCsum(Bytes f) {
  f[14 + 20 + 6] = 0;
  f[14 + 20 + 7] = 0;
  return f;
}

TEST(NatUdp, V4WithAndWithoutChecksumAndV6) {
  const char* c = "192.0.2.80";
  Bytes q = udpFrame(kLbMac, kClientMac, c, "10.100.1.14", 5000, 53);
  check({"UDP v4 with a checksum", q, XDP_TX,
         udpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 5000, 5353), XLB_STAT_NAT_NEW});
  check({"UDP v4 checksum 0 stays 0", zeroUdpCsum(q), XDP_TX,
         zeroUdpCsum(udpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 5000, 5353)), XLB_STAT_NAT_HIT});
  Bytes a = udpFrame(kLbMac, kBackendMacA, "10.0.0.2", c, 5353, 5000);
  check({"UDP v4 reply", a, XDP_TX, udpFrame(kClientMac, kLbMac, "10.100.1.14", c, 53, 5000),
         XLB_STAT_NAT_REPLY});
  check({"UDP v4 reply, checksum 0", zeroUdpCsum(a), XDP_TX,
         zeroUdpCsum(udpFrame(kClientMac, kLbMac, "10.100.1.14", c, 53, 5000)),
         XLB_STAT_NAT_REPLY});

  const char* c6 = "2001:db8:7::80";
  Bytes q6 = udpFrame(kLbMac, kClientMac, c6, "2001:db8::1:15", 5000, 53);
  check({"UDP v6", q6, XDP_TX, udpFrame(kBackendMacA, kLbMac, c6, "fd00::2", 5000, 5353),
         XLB_STAT_NAT_NEW});
  Bytes a6 = udpFrame(kLbMac, kBackendMacA, "fd00::2", c6, 5353, 5000);
  check({"UDP v6 reply", a6, XDP_TX, udpFrame(kClientMac, kLbMac, "2001:db8::1:15", c6, 53, 5000),
         XLB_STAT_NAT_REPLY});
}

// UDP is answered once both sides sent after the creating packet: a one-shot request/response
// stays unanswered (first to go under pressure); UDP never sets the TCP ACK bit.
TEST(NatUdp, OneShotStaysUnansweredASecondRequestAnswers) {
  const char* c = "192.0.2.81";
  const xlb_flow_key fk = key(c, "10.100.1.14", 5001, 53, kUdp);
  Bytes q = udpFrame(kLbMac, kClientMac, c, "10.100.1.14", 5001, 53);
  Bytes a = udpFrame(kLbMac, kBackendMacA, "10.0.0.2", c, 5353, 5001);
  check({"UDP request creates", q, XDP_TX,
         udpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 5001, 5353), XLB_STAT_NAT_NEW});
  check({"UDP response", a, XDP_TX, udpFrame(kClientMac, kLbMac, "10.100.1.14", c, 53, 5001),
         XLB_STAT_NAT_REPLY});
  nat::Connection one = connection(fk);
  EXPECT_TRUE(one.replied);
  EXPECT_FALSE(one.answered);
  check({"second UDP request", q, XDP_TX, udpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 5001, 5353),
         XLB_STAT_NAT_HIT});
  xlb_nat_value fwd{};
  ASSERT_TRUE(natEntry(fk, &fwd));
  EXPECT_EQ(fwd.state, XLB_NAT_S_SEEN);
  EXPECT_TRUE(connection(fk).answered);
}

TEST(NatUdp, ComputedZeroChecksumIsSentAsFfff) {
  // Search a client port whose translated UDP checksum is 0 (one in 65535): the builder sends it
  // as 0xffff, and so must the incremental update.
  const char* c = "192.0.2.81";
  for (uint32_t port = 1024; port < 65536; ++port) {
    Bytes want = udpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", static_cast<uint16_t>(port), 5353);
    if (want[14 + 20 + 6] != 0xff || want[14 + 20 + 7] != 0xff) continue;
    Bytes q = udpFrame(kLbMac, kClientMac, c, "10.100.1.14", static_cast<uint16_t>(port), 53);
    check({"translated checksum 0 -> 0xffff", q, XDP_TX, want, XLB_STAT_NAT_NEW});
    return;
  }
  GTEST_SKIP() << "no port gives a zero checksum for this tuple";
}

// ---- drops
// ----------------------------------------------------------------------------------------------

TEST(NatDrops, HairpinAndCollision) {
  Bytes h = tcpFrame(kLbMac, kBackendMacA, "10.0.0.2", "10.100.1.10", 40000, 80, kSyn);
  check({"client is the backend (nat)", h, XDP_DROP, h, -1, XLB_DROP_NAT_HAIRPIN});
  Bytes a = tcpFrame(kLbMac, kClientMac, "192.0.2.90", "10.100.1.10", 41000, 80, kSyn);
  check({"through VIP 10", a, XDP_TX,
         tcpFrame(kBackendMacA, kLbMac, "192.0.2.90", "10.0.0.2", 41000, 8080, kSyn),
         XLB_STAT_NAT_NEW});
  Bytes b = tcpFrame(kLbMac, kClientMac, "192.0.2.90", "10.100.1.17", 41000, 80, kSyn);
  check({"same client:port through VIP 17 to the same backend endpoint", b, XDP_DROP, b, -1,
         XLB_DROP_NAT_COLLISION});
  xlb_nat_value v{};
  EXPECT_FALSE(natEntry(key("192.0.2.90", "10.100.1.17", 41000, 80, kTcp), &v));
}

TEST(NatDrops, MalformedToANatVipDropBeforeAnyRewrite) {
  Bytes opts = PacketBuilder()
                   .eth(kLbMac, kClientMac)
                   .ipv4("192.0.2.91", "10.100.1.10")
                   .ipv4Options({1, 1, 1, 1})
                   .tcp(42000, 80, kSyn)
                   .build();
  check({"IPv4 options", opts, XDP_DROP, opts, -1, XLB_DROP_IP_OPTIONS});
  Bytes doff = tcpFrame(kLbMac, kClientMac, "192.0.2.91", "10.100.1.10", 42000, 80, kSyn);
  doff[14 + 20 + 12] = 4 << 4;
  check({"TCP data offset 4", doff, XDP_DROP, doff, -1, XLB_DROP_TCP_DOFF_SHORT});
  Bytes frag = PacketBuilder()
                   .eth(kLbMac, kClientMac)
                   .ipv4("192.0.2.91", "10.100.1.10")
                   .fragOff(0x2000)
                   .tcp(42000, 80, kSyn)
                   .build();
  check({"fragment", frag, XDP_DROP, frag, -1, XLB_DROP_FRAGMENT});
  Bytes mart = tcpFrame(kLbMac, kClientMac, "127.0.0.1", "10.100.1.10", 42000, 80, kSyn);
  check({"martian source", mart, XDP_DROP, mart, -1, XLB_DROP_BAD_SOURCE});
  xlb_nat_value v{};
  EXPECT_FALSE(natEntry(key("192.0.2.91", "10.100.1.10", 42000, 80, kTcp), &v));
}

TEST(NatDrops, BackendGoneResteers) {
  const char* c = "192.0.2.92";
  Bytes syn = tcpFrame(kLbMac, kClientMac, c, "10.100.1.18", 43000, 80, kSyn);
  check({"to backend 19", syn, XDP_TX,
         tcpFrame(kBackendMacB, kLbMac, c, "10.0.0.3", 43000, 8080, kSyn), XLB_STAT_NAT_NEW});
  EXPECT_EQ(conns(19), 1u);
  // Health-down: ACTIVE cleared, gen unchanged; the table moves to backend 20.
  ASSERT_TRUE(g_dp->upsertBackend(19, makeBackend("10.0.0.3", 18, 1, 0, false)).ok());
  ASSERT_TRUE(g_dp->setSelectionTable(18, std::vector<uint32_t>{20}).ok());
  CounterSnapshot before = counters();
  Bytes ack = tcpFrame(kLbMac, kClientMac, c, "10.100.1.18", 43000, 80, kAck);
  check({"backend down: re-created on backend 20", ack, XDP_TX,
         tcpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 43000, 8081, kAck), XLB_STAT_NAT_RESTEER});
  EXPECT_EQ(counters().global[XLB_STAT_NAT_NEW], before.global[XLB_STAT_NAT_NEW] + 1);
  EXPECT_EQ(conns(19), 0u);
  EXPECT_EQ(conns(20), 1u);
  xlb_nat_value v{};
  EXPECT_FALSE(natEntry(key("10.0.0.3", c, 8080, 43000, kTcp), &v)) << "old REV deleted";
  EXPECT_TRUE(natEntry(key("10.0.0.2", c, 8081, 43000, kTcp), &v));
}

// ---- reply filter
// -------------------------------------------------------------------------------------

TEST(NatReply, FilterAndMisses) {
  // The client is one the kernel would route to (10.0.1.2, behind lb1): passing the packet would
  // leak it untranslated.
  Bytes miss = tcpFrame(kLbMac, kBackendMacA, "10.0.0.2", "10.0.1.2", 8080, 45000, kAck);
  check({"from a nat backend endpoint, no entry: never leaked", miss, XDP_DROP, miss, -1,
         XLB_DROP_NAT_REPLY_MISS});
  Bytes miss6 = tcpFrame(kLbMac, kBackendMacA, "fd00::2", "fd00::9", 8080, 45000, kAck);
  check({"IPv6: from a nat backend endpoint to a routed address, no entry", miss6, XDP_DROP, miss6,
         -1, XLB_DROP_NAT_REPLY_MISS});
  Bytes unreach = tcpFrame(kLbMac, kBackendMacA, "10.0.0.2", "10.0.2.5", 8080, 45000, kAck);
  check({"from a nat backend endpoint to an unreachable route, no entry", unreach, XDP_DROP,
         unreach, -1, XLB_DROP_NAT_REPLY_MISS});
  // The host's own connection to the backend endpoint (the agent's health check of backend:port):
  // the answer is the kernel's, not a reply miss.
  Bytes hc = tcpFrame(kLbMac, kBackendMacA, "10.0.0.2", "10.0.0.1", 8080, 45000, kSynAck);
  check({"from a nat backend endpoint to this host (health check answer)", hc, XDP_PASS, hc,
         XLB_STAT_NAT_FILTER_MISS});
  Bytes hc6 = tcpFrame(kLbMac, kBackendMacA, "fd00::2", "fd00::1", 8080, 45000, kSynAck);
  check({"IPv6: from a nat backend endpoint to this host", hc6, XDP_PASS, hc6,
         XLB_STAT_NAT_FILTER_MISS});
  // No route at all: the kernel would not forward it either (NOT_FWDED, like a local address).
  Bytes noroute = tcpFrame(kLbMac, kBackendMacA, "10.0.0.2", "192.0.2.99", 8080, 45000, kAck);
  check({"from a nat backend endpoint to an unrouted address: the kernel drops it", noroute,
         XDP_PASS, noroute, XLB_STAT_NAT_FILTER_MISS});
  Bytes snat = tcpFrame(kLbMac, kBackendMacB, "10.0.0.3", kSnat4, 9090, 61003, kAck);
  check({"to a SNAT address in the range, no entry", snat, XDP_DROP, snat, -1,
         XLB_DROP_NAT_REPLY_MISS});
  Bytes other = tcpFrame(kLbMac, kBackendMacA, "10.0.0.2", "192.0.2.99", 22, 45000, kAck);
  check({"another port of the backend host: not NAT", other, XDP_PASS, other,
         bloomHas(g_settings.nat_src_bloom, "10.0.0.2", 22) ? XLB_STAT_NAT_FILTER_MISS
                                                            : XLB_STAT_NON_VIP});
  Bytes lowport = tcpFrame(kLbMac, kBackendMacB, "10.0.0.3", kSnat4, 9090, 22, kAck);
  check({"to the SNAT address below the range", lowport, XDP_PASS, lowport, XLB_STAT_NON_VIP});
  // A bloom bit shared by an endpoint that is not one: filter passes, exact check says no.
  xlb_settings saved = g_settings;
  setBloom(g_settings.nat_src_bloom, "10.0.0.7", 8080);
  writeSettings();
  Bytes fp = tcpFrame(kLbMac, kBackendMacA, "10.0.0.7", "192.0.2.99", 8080, 45000, kAck);
  check({"filter false positive", fp, XDP_PASS, fp, XLB_STAT_NAT_FILTER_MISS});
  g_settings = saved;
  writeSettings();
  // No NAT VIP: nat_flags 0, nothing looked at; even a real reply's tuple passes untouched.
  xlb_settings off = g_settings;
  off.nat_flags = 0;
  ASSERT_TRUE(g_dp->setSettings(off).ok());
  check({"nat_flags 0: pass as today", miss, XDP_PASS, miss, XLB_STAT_NON_VIP});
  writeSettings();
}

// ---- table full
// ----------------------------------------------------------------------------------------

TEST(NatFull, NewConnectionsRefusedEstablishedGoOn) {
  const char* c = "192.0.2.100";
  Bytes syn = tcpFrame(kLbMac, kClientMac, c, "10.100.1.10", 46000, 80, kSyn);
  ASSERT_EQ(runXdp(g_dp->programFd(), syn, lbIfindex()).ret, XDP_TX);

  bpf_map_info info{};
  uint32_t len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(natFd(), &info, &len), 0);
  const uint32_t n = info.max_entries;
  std::vector<xlb_flow_key> keys(n);
  std::vector<xlb_nat_value> vals(n);
  for (uint32_t i = 0; i < n; ++i) {
    keys[i].src[0] = 203, keys[i].src[1] = 0, keys[i].src[2] = 113, keys[i].src[3] = 1;
    memcpy(keys[i].dst, &i, 4);
    keys[i].proto = kUdp;
    keys[i].family = XLB_AF_INET;
    vals[i].dir = XLB_NAT_DIR_REV;
  }
  uint32_t done = n;
  // Keys no test uses (203.0.113.1, UDP): BPF_ANY only adds (batch updates take no NOEXIST).
  int berr = bpf_map_update_batch(natFd(), keys.data(), vals.data(), &done, nullptr);
  // The preallocated table may hold a few more than max_entries (per-CPU spare elements): top it
  // up one by one until the kernel refuses.
  uint32_t extra = 0;
  int err = 0;
  for (; extra < 4096; ++extra) {
    xlb_flow_key k = keys[0];
    k.src[3] = 2;
    memcpy(k.dst, &extra, 4);
    err = bpf_map_update_elem(natFd(), &k, &vals[0], BPF_NOEXIST);
    if (err) break;
  }
  fprintf(
      stderr,
      "nat table: max_entries %u, batch %d inserted %u, then %u more, last error %d (errno %d)\n",
      n, berr, done, extra, err, errno);
  ASSERT_NE(err, 0) << "the table should have filled up";

  Bytes other = tcpFrame(kLbMac, kClientMac, c, "10.100.1.10", 46001, 80, kSyn);
  check({"table full: new connection refused", other, XDP_DROP, other, -1, XLB_DROP_NAT_FULL});
  Bytes other6 = tcpFrame(kLbMac, kClientMac, "192.0.2.101", "10.100.1.11", 46001, 80, kSyn);
  check({"table full: fullnat refused too", other6, XDP_DROP, other6, -1, XLB_DROP_NAT_FULL});
  Bytes ack = tcpFrame(kLbMac, kClientMac, c, "10.100.1.10", 46000, 80, kAck);
  check({"established connection goes on", ack, XDP_TX,
         tcpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 46000, 8080, kAck), XLB_STAT_NAT_HIT});
  Bytes sa = tcpFrame(kLbMac, kBackendMacA, "10.0.0.2", c, 8080, 46000, kSynAck);
  check({"and its replies", sa, XDP_TX,
         tcpFrame(kClientMac, kLbMac, "10.100.1.10", c, 80, 46000, kSynAck), XLB_STAT_NAT_REPLY});

  uint32_t del = done;
  ASSERT_EQ(bpf_map_delete_batch(natFd(), keys.data(), &del, nullptr), 0);
  for (uint32_t i = 0; i < extra; ++i) {
    xlb_flow_key k = keys[0];
    k.src[3] = 2;
    memcpy(k.dst, &i, 4);
    ASSERT_EQ(bpf_map_delete_elem(natFd(), &k), 0);
  }
  check({"space again", other, XDP_TX,
         tcpFrame(kBackendMacA, kLbMac, c, "10.0.0.2", 46001, 8080, kSyn), XLB_STAT_NAT_NEW});
}

// ---- ICMP errors
// -----------------------------------------------------------------------------------------

constexpr const char* kRouter4 = "198.51.100.1";
constexpr const char* kRouter6 = "2001:db8:ffff::1";

// An ICMP(v6) error frame with a correct checksum (ICMPv6: over the pseudo-header too).
Bytes icmpFrame(const char* dmac, const char* smac, const std::string& src, const std::string& dst,
                uint8_t type, uint8_t code, uint32_t mtu, const Bytes& quote) {
  bool v6 = false;
  auto sa = parseAddr(src, &v6);
  auto da = parseAddr(dst);
  Bytes b = {type,
             code,
             0,
             0,
             static_cast<uint8_t>(mtu >> 24),
             static_cast<uint8_t>(mtu >> 16),
             static_cast<uint8_t>(mtu >> 8),
             static_cast<uint8_t>(mtu)};
  for (uint8_t x : quote) b.push_back(x);
  uint32_t seed = 0;
  if (v6) {
    for (size_t i = 0; i < 16; i += 2) seed += (sa[i] << 8 | sa[i + 1]) + (da[i] << 8 | da[i + 1]);
    seed += kIcmp6 + static_cast<uint32_t>(b.size());
  }
  uint16_t c = inetChecksum(b.data(), b.size(), seed);
  b[2] = static_cast<uint8_t>(c >> 8);
  b[3] = static_cast<uint8_t>(c);
  PacketBuilder p;
  p.eth(dmac, smac);
  if (v6)
    p.ipv6(src, dst);
  else
    p.ipv4(src, dst);
  return p.rawL4(v6 ? kIcmp6 : kIcmp, b).build();
}

// The quoted packet: src:sport -> dst:dport (TCP ACK with 32 bytes, or UDP with 16), `keep` bytes.
Bytes quote(const std::string& src, uint16_t sport, const std::string& dst, uint16_t dport,
            uint8_t proto, size_t keep = 0) {
  bool v6 = false;
  parseAddr(src, &v6);
  PacketBuilder p;
  if (v6)
    p.ipv6(src, dst);
  else
    p.ipv4(src, dst);
  if (proto == kTcp)
    p.tcp(sport, dport, kAck).payload(Bytes(32, 0x5a));
  else
    p.udp(sport, dport).payload(Bytes(16, 0x5b));
  Bytes q = p.l3();
  if (keep) q.resize(keep);
  return q;
}

TEST(NatIcmp, FragNeededToTheVipGoesToTheBackendTranslated) {
  const char* c = "192.0.2.110";
  Bytes syn = tcpFrame(kLbMac, kClientMac, c, "10.100.1.10", 47000, 80, kSyn);
  ASSERT_EQ(runXdp(g_dp->programFd(), syn, lbIfindex()).ret, XDP_TX);
  Bytes err = icmpFrame(kLbMac, kClientMac, kRouter4, "10.100.1.10", 3, 4, 1280,
                        quote("10.100.1.10", 80, c, 47000, kTcp));
  check({"nat: frag-needed about VIP:80 -> client", err, XDP_TX,
         icmpFrame(kBackendMacA, kLbMac, kRouter4, "10.0.0.2", 3, 4, 1280,
                   quote("10.0.0.2", 8080, c, 47000, kTcp)),
         XLB_STAT_NAT_ICMP_FWD});
  // A quote cut after the ports (28 bytes): the quoted TCP checksum is not in it.
  Bytes q28 = quote("10.100.1.10", 80, c, 47000, kTcp, 28);
  Bytes e28 = icmpFrame(kLbMac, kClientMac, kRouter4, "10.100.1.10", 11, 0, 0, q28);
  Bytes w28 = quote("10.0.0.2", 8080, c, 47000, kTcp, 28);
  check({"nat: time exceeded, 28-byte quote", e28, XDP_TX,
         icmpFrame(kBackendMacA, kLbMac, kRouter4, "10.0.0.2", 11, 0, 0, w28),
         XLB_STAT_NAT_ICMP_FWD});
  Bytes bad = icmpFrame(kLbMac, kClientMac, kRouter4, "10.100.1.10", 3, 4, 1280,
                        quote("10.100.1.10", 80, c, 47000, kTcp, 24));
  check({"truncated quote to a NAT VIP: passed", bad, XDP_PASS, bad, XLB_STAT_ICMP_BAD_QUOTE_PASS});
  Bytes none = icmpFrame(kLbMac, kClientMac, kRouter4, "10.100.1.10", 3, 4, 1280,
                         quote("10.100.1.10", 80, c, 47999, kTcp));
  check({"no connection: passed", none, XDP_PASS, none, XLB_STAT_ICMP_NO_FLOW_PASS});
}

TEST(NatIcmp, FullnatFragNeededAndPortUnreachableBack) {
  const char* c = "192.0.2.111";
  Bytes syn = tcpFrame(kLbMac, kClientMac, c, "10.100.1.11", 61004, 80, kSyn);
  ASSERT_EQ(runXdp(g_dp->programFd(), syn, lbIfindex()).ret, XDP_TX);
  xlb_nat_value fwd{};
  ASSERT_TRUE(natEntry(key(c, "10.100.1.11", 61004, 80, kTcp), &fwd));
  const uint16_t sp = ntohs(fwd.new_sport);
  Bytes err = icmpFrame(kLbMac, kClientMac, kRouter4, "10.100.1.11", 3, 4, 1200,
                        quote("10.100.1.11", 80, c, 61004, kTcp));
  check({"fullnat: frag-needed -> backend, quote backend:9090 -> snat:port", err, XDP_TX,
         icmpFrame(kBackendMacB, kLbMac, kRouter4, "10.0.0.3", 3, 4, 1200,
                   quote("10.0.0.3", 9090, kSnat4, sp, kTcp)),
         XLB_STAT_NAT_ICMP_FWD});
  // The backend refuses: its error to the SNAT address goes back to the client from the VIP.
  Bytes unr = icmpFrame(kLbMac, kBackendMacB, "10.0.0.3", kSnat4, 3, 3, 0,
                        quote(kSnat4, sp, "10.0.0.3", 9090, kTcp));
  check({"fullnat: error from the backend -> client", unr, XDP_TX,
         icmpFrame(kClientMac, kLbMac, "10.100.1.11", c, 3, 3, 0,
                   quote(c, 61004, "10.100.1.11", 80, kTcp)),
         XLB_STAT_NAT_ICMP_REPLY});
}

TEST(NatIcmp, UdpPortUnreachableFromTheBackendReachesTheClient) {
  const char* c = "192.0.2.120";
  Bytes q = udpFrame(kLbMac, kClientMac, c, "10.100.1.14", 5001, 53);
  ASSERT_EQ(runXdp(g_dp->programFd(), q, lbIfindex()).ret, XDP_TX);
  Bytes unr = icmpFrame(kLbMac, kBackendMacA, "10.0.0.2", c, 3, 3, 0,
                        quote(c, 5001, "10.0.0.2", 5353, kUdp));
  check({"port unreachable: outer src VIP, quote client:5001 -> VIP:53", unr, XDP_TX,
         icmpFrame(kClientMac, kLbMac, "10.100.1.14", c, 3, 3, 0,
                   quote(c, 5001, "10.100.1.14", 53, kUdp)),
         XLB_STAT_NAT_ICMP_REPLY});
  Bytes other = icmpFrame(kLbMac, kBackendMacA, "10.0.0.2", c, 3, 3, 0,
                          quote(c, 5002, "10.0.0.2", 5353, kUdp));
  check({"no connection: passed as today", other, XDP_PASS, other, XLB_STAT_NON_VIP});
  Bytes cut = icmpFrame(kLbMac, kBackendMacA, "10.0.0.2", c, 3, 3, 0,
                        quote(c, 5001, "10.0.0.2", 5353, kUdp, 24));
  check({"truncated quote from the backend side: passed as today", cut, XDP_PASS, cut,
         XLB_STAT_NON_VIP});
  xlb_settings off = g_settings;
  off.nat_flags = 0;
  ASSERT_TRUE(g_dp->setSettings(off).ok());
  check({"nat_flags 0: not even parsed", unr, XDP_PASS, unr, XLB_STAT_NON_VIP});
  writeSettings();
}

TEST(NatIcmp, V6PacketTooBigBothWays) {
  const char* c = "2001:db8:7::110";
  Bytes syn = tcpFrame(kLbMac, kClientMac, c, "2001:db8::1:10", 47000, 80, kSyn);
  ASSERT_EQ(runXdp(g_dp->programFd(), syn, lbIfindex()).ret, XDP_TX);
  Bytes ptb = icmpFrame(kLbMac, kClientMac, kRouter6, "2001:db8::1:10", 2, 0, 1280,
                        quote("2001:db8::1:10", 80, c, 47000, kTcp));
  check({"nat v6: packet too big -> backend", ptb, XDP_TX,
         icmpFrame(kBackendMacA, kLbMac, kRouter6, "fd00::2", 2, 0, 1280,
                   quote("fd00::2", 8080, c, 47000, kTcp)),
         XLB_STAT_NAT_ICMP_FWD});

  const char* c2 = "2001:db8:7::111";
  Bytes syn2 = tcpFrame(kLbMac, kClientMac, c2, "2001:db8::1:11", 61002, 80, kSyn);
  ASSERT_EQ(runXdp(g_dp->programFd(), syn2, lbIfindex()).ret, XDP_TX);
  Bytes back = icmpFrame(kLbMac, kBackendMacB, "fd00::3", kSnat6, 2, 0, 1400,
                         quote(kSnat6, 61002, "fd00::3", 9090, kTcp));
  check({"fullnat v6: packet too big from the backend side -> client", back, XDP_TX,
         icmpFrame(kClientMac, kLbMac, "2001:db8::1:11", c2, 2, 0, 1400,
                   quote(c2, 61002, "2001:db8::1:11", 80, kTcp)),
         XLB_STAT_NAT_ICMP_REPLY});
  Bytes echo = PacketBuilder().eth(kLbMac, kClientMac).ipv6(c, "2001:db8::1:10").icmpEcho().build();
  check({"echo to a NAT VIP still passes", echo, XDP_PASS, echo, XLB_STAT_ICMP_PASS});
}

}  // namespace
}  // namespace xlb::test
