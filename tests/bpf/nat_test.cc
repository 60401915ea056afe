// SPDX-License-Identifier: Apache-2.0
// NAT forwarding (issue 11, bpf/lib/nat.h) against the real XDP balancer (BPF_PROG_TEST_RUN): nat
// and fullnat, IPv4 and IPv6, TCP and UDP, forward and reply, connection state and port
// allocation. Each fixture: description, input, expected action, exact output bytes (built from
// scratch by PacketBuilder, whose checksums are computed over the whole packet) and the one counter
// that must move; every forwarded frame's checksums are also re-verified by summing them. The drops,
// the reply filter, a full table and ICMP errors are in nat_edge_test.cc.
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

#include "dataplane/nat_layout.h"
#include "nat_fixture.h"
#include "nat/collector.h"

namespace xlb::test {
namespace {

using dataplane::CounterSnapshot;

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
  // In xlb_nat4's own layout: the 16-byte key, the 4-byte addresses behind the head.
  const xlb_nat4_key k4 = dataplane::natKey4(key(c, "10.100.1.10", 40000, 80, kTcp));
  xlb_nat4_value v4{};
  ASSERT_EQ(bpf_map_lookup_elem(natFd(XLB_AF_INET), &k4, &v4), 0);
  EXPECT_EQ(v4.h.dir, XLB_NAT_DIR_FWD);
  EXPECT_EQ(memcmp(&v4.new_src, parseAddr(c).data(), 4), 0);
  EXPECT_EQ(memcmp(&v4.new_dst, parseAddr("10.0.0.2").data(), 4), 0);

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
  EXPECT_EQ(natDelete(fk), 0);
  EXPECT_EQ(natDelete(rk), 0);
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
    EXPECT_EQ(natDelete(fk), 0);
    EXPECT_EQ(natDelete(rk), 0);
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
  EXPECT_EQ(natDelete(fk), 0);
  EXPECT_EQ(natDelete(rk), 0);
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
  EXPECT_EQ(natDelete(fk), 0);
  EXPECT_EQ(natDelete(rk), 0);
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
  EXPECT_EQ(natDelete(fk), 0);
  EXPECT_EQ(natDelete(rk), 0);
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
  EXPECT_EQ(natDelete(f), 0);
  EXPECT_EQ(natDelete(rv), 0);
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
    ASSERT_EQ(natInsert(k, v, BPF_NOEXIST), 0);
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
    ASSERT_EQ(natInsert(k, v, BPF_NOEXIST), 0);
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
  ASSERT_EQ(natDelete(k), 0);
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
    ASSERT_EQ(natInsert(k, v, BPF_NOEXIST), 0);
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
  // Both entries live in xlb_nat6 (keyed by the 40-byte tuple), in its layout (abi.h "NAT").
  const xlb_flow_key fk = key(c, "2001:db8::1:10", 40000, 80, kTcp);
  const xlb_flow_key rk = key("fd00::2", c, 8080, 40000, kTcp);
  xlb_nat6_value fv{}, rv{};
  ASSERT_EQ(bpf_map_lookup_elem(natFd(XLB_AF_INET6), &fk, &fv), 0);
  ASSERT_EQ(bpf_map_lookup_elem(natFd(XLB_AF_INET6), &rk, &rv), 0);
  EXPECT_EQ(fv.h.dir, XLB_NAT_DIR_FWD);
  EXPECT_EQ(fv.h.state, XLB_NAT_S_SEEN | XLB_NAT_S_ACK);
  EXPECT_EQ(fv.h.csum_l3, 0) << "no IPv6 header checksum";
  EXPECT_EQ(memcmp(fv.new_src, parseAddr(c).data(), 16), 0);
  EXPECT_EQ(memcmp(fv.new_dst, parseAddr("fd00::2").data(), 16), 0);
  EXPECT_EQ(ntohs(fv.h.new_dport), 8080);
  EXPECT_EQ(rv.h.dir, XLB_NAT_DIR_REV);
  EXPECT_EQ(rv.h.state, XLB_NAT_S_SEEN);
  EXPECT_EQ(memcmp(rv.new_src, parseAddr("2001:db8::1:10").data(), 16), 0);
  EXPECT_EQ(memcmp(rv.new_dst, parseAddr(c).data(), 16), 0);
  EXPECT_EQ(ntohs(rv.h.new_sport), 80);
  EXPECT_EQ(rv.h.ifindex, static_cast<uint32_t>(lbIfindex()));
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

}  // namespace
}  // namespace xlb::test
