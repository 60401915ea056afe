// SPDX-License-Identifier: Apache-2.0
// Flood protection (bpf/lib/flow.h) on the real XDP program under BPF_PROG_TEST_RUN: promotion into
// xlb_flows_prot, protected hits after the LRU copy is gone, the pure-SYN bypass, a full protected
// table, and the two copies and the open-flow counts kept consistent on close, re-open and re-steer.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "fixture.h"

namespace xlb::test {
namespace {

using dataplane::BpfDataplane;

constexpr uint8_t kSyn = 0x02, kAck = 0x10, kFinAck = 0x11, kTcp = 6;
constexpr uint32_t kVipId = 7, kBeA = 70, kBeB = 71, kProtSize = 8;
constexpr const char* kVip = "10.100.7.1";
constexpr const char* kClient = "192.0.2.7";

class Env : public ::testing::Environment {
 public:
  // One CPU: one round-robin position, so the next selection is predictable.
  void SetUp() override { setUpOrSkip("bpf flood tests", true); }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new Env);

xlb_backend backend(const char* addr, bool active = true) {
  return makeBackend(addr, kVipId, 1, 1, active);
}

// A fresh balancer per test (empty tables and counters): a round_robin DSR VIP with backends A, B.
class FloodTest : public ::testing::Test {
 protected:
  void SetUp() override { load(1000); }

  void load(uint32_t protect_after_ms) {
    dp_.reset();
    dataplane::BpfOptions opts;
    opts.flow_table_size = 1024;
    opts.protected_flow_table_size = kProtSize;
    opts.flow_protect_after_ms = protect_after_ms;
    dp_ = loadOrSkip("bpf flood tests", opts);
    ASSERT_TRUE(dp_->upsertBackend(kBeA, backend("10.0.0.2")).ok());
    ASSERT_TRUE(dp_->upsertBackend(kBeB, backend("10.0.0.3")).ok());
    ASSERT_TRUE(dp_->setSelectionTable(kVipId, std::vector<uint32_t>{kBeA, kBeB}).ok());
    ASSERT_TRUE(dp_->upsertVipAddr(makeAddrKey(kVip), {1, 0}).ok());
    ASSERT_TRUE(dp_->upsertVip(makeVipKey(kVip, 80, kTcp), {kVipId, XLB_ALG_ROUND_ROBIN, XLB_FWD_DSR, 0}).ok());
  }

  static xlb_flow_key key(uint16_t sport) { return flowKey(kClient, kVip, sport, 80, kTcp); }

  // Sends one packet; returns the backend id whose MAC the frame went out to (~0u if not forwarded).
  uint32_t send(uint16_t sport, uint8_t flags) {
    PacketBuilder p;
    p.eth(kLbMac, kClientMac).ipv4(kClient, kVip);
    Bytes in = p.tcp(sport, 80, flags).build();
    RunResult r = runXdp(dp_->programFd(), in, lbIfindex());
    EXPECT_EQ(r.err, 0);
    if (r.ret != XDP_TX || r.out.size() != in.size()) return ~0u;
    Bytes want = in;
    Mac s = parseMac(kLbMac);
    memcpy(want.data() + 6, s.data(), 6);
    for (auto [id, mac] : {std::pair{kBeA, kBackendMacA}, std::pair{kBeB, kBackendMacB}}) {
      Mac d = parseMac(mac);
      memcpy(want.data(), d.data(), 6);
      if (r.out == want) return id;
    }
    ADD_FAILURE() << "unexpected output " << hexdump(r.out);
    return ~0u;
  }

  std::optional<xlb_flow_value> entry(const char* map, uint16_t sport) {
    xlb_flow_key k = key(sport);
    xlb_flow_value v{};
    if (bpf_map_lookup_elem(dp_->mapFd(map), &k, &v) != 0) return std::nullopt;
    return v;
  }
  std::optional<xlb_flow_value> lru(uint16_t sport) { return entry("xlb_flows", sport); }
  std::optional<xlb_flow_value> prot(uint16_t sport) { return entry("xlb_flows_prot", sport); }

  // Makes the LRU entry old (created 0, as a migrated entry), so its next packet promotes it.
  void age(uint16_t sport) {
    auto v = lru(sport);
    ASSERT_TRUE(v);
    v->created = 0;
    xlb_flow_key k = key(sport);
    ASSERT_EQ(bpf_map_update_elem(dp_->mapFd("xlb_flows"), &k, &*v, BPF_EXIST), 0);
  }
  void evict(uint16_t sport) {
    xlb_flow_key k = key(sport);
    ASSERT_EQ(bpf_map_delete_elem(dp_->mapFd("xlb_flows"), &k), 0);
  }
  // SYN, then an ACK once the flow is old: the flow is protected; returns its backend.
  uint32_t established(uint16_t sport) {
    uint32_t be = send(sport, kSyn);
    age(sport);
    EXPECT_EQ(send(sport, kAck), be);
    return be;
  }

  // Through readGlobal (what the flood monitor reads every second), checked against the global
  // part of the whole snapshot.
  uint64_t stat(int idx) {
    auto c = dp_->readCounters();
    auto g = dp_->readGlobal();
    EXPECT_TRUE(c.ok() && g.ok());
    if (!c.ok() || !g.ok()) return 0;
    EXPECT_EQ(*g, c->global);
    return (*g)[idx];
  }
  uint64_t open(uint32_t id) {
    auto o = dp_->readOpenFlows();
    EXPECT_TRUE(o.ok());
    return o.ok() ? (*o)[id] : ~0ull;
  }

  std::unique_ptr<BpfDataplane> dp_;
};

TEST_F(FloodTest, YoungFlowIsNotPromotedOldFlowIsOnItsNextPacket) {
  uint32_t be = send(3000, kSyn);
  EXPECT_EQ(send(3000, kAck), be);
  ASSERT_TRUE(lru(3000));
  EXPECT_EQ(lru(3000)->flags, 0u) << "seen again within protect_after: still young";
  EXPECT_NE(lru(3000)->created, 0u);
  EXPECT_FALSE(prot(3000));
  EXPECT_EQ(stat(XLB_STAT_FLOW_PROTECT), 0u);

  age(3000);
  EXPECT_EQ(send(3000, kAck), be);
  EXPECT_EQ(lru(3000)->flags, uint32_t{XLB_FLOW_F_PROTECTED});
  ASSERT_TRUE(prot(3000));
  EXPECT_EQ(prot(3000)->flags, uint32_t{XLB_FLOW_F_PROTECTED});
  EXPECT_EQ(prot(3000)->backend_id, be);
  EXPECT_EQ(stat(XLB_STAT_FLOW_PROTECT), 1u);
  EXPECT_EQ(send(3000, kAck), be);
  EXPECT_EQ(stat(XLB_STAT_FLOW_PROTECT), 1u) << "promoted once";
  EXPECT_EQ(open(be), 1u) << "one flow in two tables counts once";
}

TEST_F(FloodTest, LruEvictedFlowFollowsItsProtectedCopyUnderRoundRobin) {
  // Four flows alternate A/B; after the LRU copies are gone each must stay where it was (a new
  // selection under round_robin would put at least one elsewhere).
  uint32_t be[4];
  for (uint16_t i = 0; i < 4; ++i) be[i] = established(3100 + i);
  for (uint16_t i = 0; i < 4; ++i) evict(3100 + i);
  send(3199, kSyn);  // moves the round-robin position by one: re-selection would now swap A and B
  const uint64_t new_flows = stat(XLB_STAT_FLOW_NEW), hits = stat(XLB_STAT_FLOW_PROT_HIT);
  for (uint16_t i = 0; i < 4; ++i) {
    EXPECT_EQ(send(3100 + i, kAck), be[i]) << "flow " << i;
    EXPECT_FALSE(lru(3100 + i)) << "not put back into the LRU (a flood would evict it again)";
  }
  EXPECT_EQ(stat(XLB_STAT_FLOW_NEW), new_flows);
  EXPECT_EQ(stat(XLB_STAT_FLOW_PROT_HIT), hits + 4);
  EXPECT_EQ(open(kBeA) + open(kBeB), 5u);
}

TEST_F(FloodTest, ProtectionOffNothingIsCopied) {
  load(0);
  uint32_t be = send(3200, kSyn);
  age(3200);
  EXPECT_EQ(send(3200, kAck), be);
  EXPECT_EQ(lru(3200)->flags, 0u);
  EXPECT_FALSE(prot(3200));
  EXPECT_EQ(stat(XLB_STAT_FLOW_PROTECT), 0u);
}

TEST_F(FloodTest, PureSynSkipsTheProtectedTable) {
  uint32_t be = established(3300);
  evict(3300);
  const uint64_t hits = stat(XLB_STAT_FLOW_PROT_HIT), new_flows = stat(XLB_STAT_FLOW_NEW);
  uint32_t got = send(3300, kSyn);
  EXPECT_NE(got, be) << "round_robin ran for the SYN (the protected copy was not consulted)";
  EXPECT_EQ(stat(XLB_STAT_FLOW_PROT_HIT), hits);
  EXPECT_EQ(stat(XLB_STAT_FLOW_NEW), new_flows + 1);
  ASSERT_TRUE(lru(3300));
  EXPECT_EQ(lru(3300)->flags, 0u) << "the new connection is young";
  // Once old, the new connection's copy replaces the stale one.
  age(3300);
  EXPECT_EQ(send(3300, kAck), got);
  ASSERT_TRUE(prot(3300));
  EXPECT_EQ(prot(3300)->backend_id, got);
}

TEST_F(FloodTest, FullProtectedTableIsCountedAndNotRetriedPerPacket) {
  for (uint16_t i = 0; i < kProtSize; ++i) established(3400 + i);
  EXPECT_EQ(stat(XLB_STAT_FLOW_PROTECT), uint64_t{kProtSize});
  uint32_t be = send(3450, kSyn);
  age(3450);
  EXPECT_EQ(send(3450, kAck), be);
  EXPECT_EQ(stat(XLB_STAT_FLOW_PROTECT_FULL), 1u);
  EXPECT_EQ(lru(3450)->flags, 0u) << "stays young in the LRU";
  EXPECT_NE(lru(3450)->created, 0u) << "its clock restarted";
  EXPECT_EQ(send(3450, kAck), be);
  EXPECT_EQ(stat(XLB_STAT_FLOW_PROTECT_FULL), 1u) << "no retry before protect_after has passed";
  EXPECT_FALSE(prot(3450));
}

TEST_F(FloodTest, FinClosesBothCopiesOnceAndSynReopensYoung) {
  uint32_t be = established(3500);
  EXPECT_EQ(open(be), 1u);
  EXPECT_EQ(send(3500, kFinAck), be);
  EXPECT_EQ(lru(3500)->flags, uint32_t{XLB_FLOW_F_CLOSING | XLB_FLOW_F_PROTECTED});
  EXPECT_EQ(prot(3500)->flags, uint32_t{XLB_FLOW_F_CLOSING | XLB_FLOW_F_PROTECTED});
  EXPECT_EQ(open(be), 0u);
  EXPECT_EQ(send(3500, kFinAck), be);
  EXPECT_EQ(open(be), 0u) << "subtracted once";
  // The closing flow's LRU copy is evicted: late packets follow the protected copy, no count moves.
  evict(3500);
  EXPECT_EQ(send(3500, kAck), be);
  EXPECT_EQ(send(3500, kFinAck), be);
  EXPECT_EQ(open(be), 0u);
  // A SYN re-opening a closing tuple is a new, young, counted connection; the old copy goes.
  uint32_t be2 = established(3502);
  EXPECT_EQ(send(3502, kFinAck), be2);
  const uint64_t before = open(kBeA) + open(kBeB);
  uint32_t re = send(3502, kSyn);
  EXPECT_NE(re, ~0u);
  EXPECT_EQ(lru(3502)->flags, 0u);
  EXPECT_FALSE(prot(3502)) << "the old connection's protected copy is removed";
  EXPECT_EQ(open(kBeA) + open(kBeB), before + 1);
}

TEST_F(FloodTest, ResteerMovesBothCopiesAndTheCounts) {
  uint32_t be = established(3600);
  const uint32_t other = be == kBeA ? kBeB : kBeA;
  const uint64_t open_other = open(other);
  ASSERT_TRUE(dp_->upsertBackend(be, backend(be == kBeA ? "10.0.0.2" : "10.0.0.3", false)).ok());
  ASSERT_TRUE(dp_->setSelectionTable(kVipId, std::vector<uint32_t>{other}).ok());
  EXPECT_EQ(send(3600, kAck), other);
  EXPECT_EQ(lru(3600)->backend_id, other);
  EXPECT_EQ(lru(3600)->flags, uint32_t{XLB_FLOW_F_PROTECTED}) << "stays protected";
  EXPECT_EQ(prot(3600)->backend_id, other);
  EXPECT_EQ(prot(3600)->flags, uint32_t{XLB_FLOW_F_PROTECTED});
  EXPECT_EQ(open(be), 0u);
  EXPECT_EQ(open(other), open_other + 1);

  // The same through the protected copy alone (LRU copy gone): the copy moves in place.
  uint32_t be2 = established(3601);
  ASSERT_EQ(be2, other);
  evict(3601);
  ASSERT_TRUE(dp_->upsertBackend(be, backend(be == kBeA ? "10.0.0.2" : "10.0.0.3")).ok());
  ASSERT_TRUE(dp_->upsertBackend(other, backend(other == kBeA ? "10.0.0.2" : "10.0.0.3", false)).ok());
  ASSERT_TRUE(dp_->setSelectionTable(kVipId, std::vector<uint32_t>{be}).ok());
  const uint64_t open_be = open(be), open_o = open(other);
  EXPECT_EQ(send(3601, kAck), be);
  EXPECT_FALSE(lru(3601));
  EXPECT_EQ(prot(3601)->backend_id, be);
  EXPECT_EQ(prot(3601)->flags, uint32_t{XLB_FLOW_F_PROTECTED});
  EXPECT_EQ(open(be), open_be + 1);
  EXPECT_EQ(open(other), open_o - 1);
  EXPECT_EQ(send(3601, kAck), be);
  EXPECT_EQ(open(be), open_be + 1) << "counted once";
}

}  // namespace
}  // namespace xlb::test
