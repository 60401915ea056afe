// SPDX-License-Identifier: Apache-2.0
// NAT's edges against the real XDP balancer (BPF_PROG_TEST_RUN): the drops (hairpin, collision,
// malformed, backend gone), the reply filter and its misses, a full xlb_nat, and ICMP errors about
// NAT connections translated both ways (bpf/lib/nat_icmp.h). Fixtures as in nat_test.cc.
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

#include "nat_fixture.h"

namespace xlb::test {
namespace {

using dataplane::CounterSnapshot;

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
  // The IPv4 table (xlb_nat4, compact keys); IPv6 connections have a table of their own.
  const int fd = natFd(XLB_AF_INET);
  ASSERT_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
  const uint32_t n = info.max_entries;
  std::vector<xlb_nat4_key> keys(n);
  std::vector<xlb_nat4_value> vals(n);
  const uint8_t src[4] = {203, 0, 113, 1};
  for (uint32_t i = 0; i < n; ++i) {
    memcpy(&keys[i].src, src, 4);
    memcpy(&keys[i].dst, &i, 4);
    keys[i].proto = kUdp;
    vals[i].h.dir = XLB_NAT_DIR_REV;
  }
  uint32_t done = n;
  // Keys no test uses (203.0.113.1, UDP): BPF_ANY only adds (batch updates take no NOEXIST).
  int berr = bpf_map_update_batch(fd, keys.data(), vals.data(), &done, nullptr);
  // The preallocated table may hold a few more than max_entries (per-CPU spare elements): top it
  // up one by one until the kernel refuses.
  uint32_t extra = 0;
  int err = 0;
  for (; extra < 4096; ++extra) {
    xlb_nat4_key k = keys[0];
    reinterpret_cast<uint8_t*>(&k.src)[3] = 2;
    memcpy(&k.dst, &extra, 4);
    err = bpf_map_update_elem(fd, &k, &vals[0], BPF_NOEXIST);
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
  ASSERT_EQ(bpf_map_delete_batch(fd, keys.data(), &del, nullptr), 0);
  for (uint32_t i = 0; i < extra; ++i) {
    xlb_nat4_key k = keys[0];
    reinterpret_cast<uint8_t*>(&k.src)[3] = 2;
    memcpy(&k.dst, &i, 4);
    ASSERT_EQ(bpf_map_delete_elem(fd, &k), 0);
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
  return ipOf(p, src, dst).rawL4(v6 ? kIcmp6 : kIcmp, b).build();
}

// The quoted packet: src:sport -> dst:dport (TCP ACK with 32 bytes, or UDP with 16), `keep` bytes.
Bytes quote(const std::string& src, uint16_t sport, const std::string& dst, uint16_t dport,
            uint8_t proto, size_t keep = 0) {
  PacketBuilder p;
  ipOf(p, src, dst);
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
