// SPDX-License-Identifier: Apache-2.0
// Issue 12: a selection table whose size stays is changed in place. Each slot holds two halves
// (xlb_table_slot): the agent writes the idle half through the map's pages and flips slot 0's
// live-half word, so a weight or health change costs no map-in-map update (no RCU grace period).
// These tests run the real program under BPF_PROG_TEST_RUN and check: the inner map stays the same
// map, the program selects from the live half only (new flows follow the flip, recorded flows stay),
// the exact slot words, every algorithm reading one half, and when the agent swaps instead (size
// change, empty table, a flip younger than the guard, a table adopted from an earlier process).
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "fixture.h"

namespace xlb::test {
namespace {

using dataplane::BpfDataplane;

constexpr uint8_t kSyn = 0x02, kAck = 0x10, kTcp = 6;
constexpr uint32_t kIdA = 1, kIdB = 2;  // backends 10.0.0.2 (MAC A) and 10.0.0.3 (MAC B)

class Env : public ::testing::Environment {
 public:
  // One CPU: round_robin's per-CPU position is predictable.
  void SetUp() override { setUpOrSkip("bpf table flip tests", true); }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new Env);

std::unique_ptr<BpfDataplane> load(std::chrono::milliseconds guard) {
  dataplane::BpfOptions opts;
  opts.flow_table_size = 4096;
  opts.table_flip_guard = guard;
  return loadOrSkip("bpf table flip tests", opts);
}

// Inner map id at xlb_tables[vip_id] (0 when empty).
uint32_t innerId(BpfDataplane& dp, uint32_t vip_id) {
  uint32_t id = 0;
  if (bpf_map_lookup_elem(dp.mapFd("xlb_tables"), &vip_id, &id) != 0) return 0;
  return id;
}

// Slot `i` of the VIP's live inner map, as the kernel holds it.
xlb_table_slot slotOf(BpfDataplane& dp, uint32_t vip_id, uint32_t i) {
  xlb_table_slot s{};
  int fd = bpf_map_get_fd_by_id(innerId(dp, vip_id));
  EXPECT_GE(fd, 0);
  if (fd < 0) return s;
  EXPECT_EQ(bpf_map_lookup_elem(fd, &i, &s), 0);
  close(fd);
  return s;
}

const char* kVip = "10.100.7.1";

void addVip(BpfDataplane& dp, uint32_t vip_id, uint8_t algorithm, const std::vector<uint32_t>& t) {
  ASSERT_TRUE(dp.upsertVipAddr(makeAddrKey(kVip), {1, 0}).ok());
  ASSERT_TRUE(dp.upsertBackend(kIdA, makeBackend("10.0.0.2", vip_id)).ok());
  ASSERT_TRUE(dp.upsertBackend(kIdB, makeBackend("10.0.0.3", vip_id)).ok());
  ASSERT_TRUE(dp.setSelectionTable(vip_id, t).ok());
  ASSERT_TRUE(dp.upsertVip(makeVipKey(kVip, 80, kTcp), {vip_id, algorithm, XLB_FWD_DSR, 0}).ok());
}

// One packet from 192.0.2.1:sport; the backend whose MAC the frame leaves with (0 = neither).
uint32_t send(BpfDataplane& dp, uint16_t sport, uint8_t flags) {
  Bytes in = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.1", kVip).tcp(sport, 80, flags).build();
  RunResult r = runXdp(dp.programFd(), in, lbIfindex());
  EXPECT_EQ(r.err, 0);
  EXPECT_EQ(r.ret, static_cast<uint32_t>(XDP_TX)) << "port " << sport;
  if (r.out.size() < 6) return 0;
  Mac a = parseMac(kBackendMacA), b = parseMac(kBackendMacB);
  if (std::memcmp(r.out.data(), a.data(), 6) == 0) return kIdA;
  if (std::memcmp(r.out.data(), b.data(), 6) == 0) return kIdB;
  return 0;
}

std::vector<uint32_t> all(uint32_t id, size_t m = 13) { return std::vector<uint32_t>(m, id); }

TEST(TableFlip, SameSizeFlipsInPlaceAndNewFlowsFollowIt) {
  auto dp = load(std::chrono::milliseconds(0));
  addVip(*dp, 4, XLB_ALG_MAGLEV, all(kIdA));
  const uint32_t map = innerId(*dp, 4);
  ASSERT_NE(map, 0u);
  EXPECT_EQ(dp->tableWrites().swapped, 1u);
  EXPECT_EQ(dp->tableWrites().flipped, 0u);
  // A new table is written with half 0 live and half 1 a copy.
  EXPECT_EQ(slotOf(*dp, 4, 0).w[0], 13u);
  EXPECT_EQ(slotOf(*dp, 4, 0).w[1], 0u);
  EXPECT_EQ(slotOf(*dp, 4, 5).w[0], kIdA);
  EXPECT_EQ(slotOf(*dp, 4, 5).w[1], kIdA);
  EXPECT_EQ(send(*dp, 1000, kSyn), kIdA);

  ASSERT_TRUE(dp->setSelectionTable(4, all(kIdB)).ok());
  EXPECT_EQ(innerId(*dp, 4), map) << "same size: the same map, no swap";
  EXPECT_EQ(dp->tableWrites().flipped, 1u);
  EXPECT_EQ(dp->tableWrites().swapped, 1u);
  xlb_table_slot head = slotOf(*dp, 4, 0), s = slotOf(*dp, 4, 13);
  EXPECT_EQ(head.w[0], 13u);
  EXPECT_EQ(head.w[1], 1u);
  EXPECT_EQ(s.w[0], kIdA) << "the old half is left as it was";
  EXPECT_EQ(s.w[1], kIdB);
  EXPECT_EQ(*dp->readSelectionTable(4), all(kIdB));
  for (uint16_t port = 2000; port < 2016; ++port) EXPECT_EQ(send(*dp, port, kSyn), kIdB);
  // A recorded flow keeps its backend.
  EXPECT_EQ(send(*dp, 1000, kAck), kIdA);

  // Back: half 0 again, rewritten.
  ASSERT_TRUE(dp->setSelectionTable(4, all(kIdA)).ok());
  EXPECT_EQ(innerId(*dp, 4), map);
  EXPECT_EQ(slotOf(*dp, 4, 0).w[1], 0u);
  EXPECT_EQ(dp->tableWrites().flipped, 2u);
  for (uint16_t port = 3000; port < 3016; ++port) EXPECT_EQ(send(*dp, port, kSyn), kIdA);
  EXPECT_EQ(send(*dp, 2000, kAck), kIdB);
}

// The program reads the live half for every algorithm, and each slot of it: a table whose two
// halves differ in every slot shows which half each selection came from.
TEST(TableFlip, EveryAlgorithmReadsOnlyTheLiveHalf) {
  for (uint8_t alg : {XLB_ALG_MAGLEV, XLB_ALG_SOURCE_HASH, XLB_ALG_ROUND_ROBIN, XLB_ALG_RANDOM,
                      XLB_ALG_LEAST_CONN}) {
    SCOPED_TRACE(static_cast<int>(alg));
    auto dp = load(std::chrono::milliseconds(0));
    std::vector<uint32_t> mixed(13);
    for (size_t i = 0; i < mixed.size(); ++i) mixed[i] = i % 2 ? kIdB : kIdA;
    std::vector<uint32_t> inverse = mixed;
    for (auto& id : inverse) id = id == kIdA ? kIdB : kIdA;
    addVip(*dp, 9, alg, mixed);
    ASSERT_TRUE(dp->setSelectionTable(9, all(kIdB)).ok());
    ASSERT_EQ(dp->tableWrites().flipped, 1u);
    for (uint16_t port = 100; port < 140; ++port) EXPECT_EQ(send(*dp, port, kSyn), kIdB);
    ASSERT_TRUE(dp->setSelectionTable(9, all(kIdA)).ok());
    for (uint16_t port = 200; port < 240; ++port) EXPECT_EQ(send(*dp, port, kSyn), kIdA);
    // Half 1 now holds `inverse`, half 0 `all(kIdA)` stays: only half 1's words may show.
    ASSERT_TRUE(dp->setSelectionTable(9, inverse).ok());
    ASSERT_EQ(dp->tableWrites().flipped, 3u);
    ASSERT_EQ(*dp->readSelectionTable(9), inverse);
    if (alg == XLB_ALG_ROUND_ROBIN) {
      // The walk continues over the live half: slot by slot, the inverse sequence.
      std::vector<uint32_t> seen;
      for (uint16_t port = 300; port < 300 + 2 * 13; ++port) seen.push_back(send(*dp, port, kSyn));
      size_t b = 0;
      for (uint32_t id : seen) b += id == kIdB;
      EXPECT_EQ(b, 14u) << "inverse has 7 of 13 slots on B: twice round is 14";
    } else {
      size_t a = 0, b = 0;
      for (uint16_t port = 300; port < 500; ++port) (send(*dp, port, kSyn) == kIdA ? a : b)++;
      if (alg == XLB_ALG_SOURCE_HASH) {
        EXPECT_TRUE(a == 200 || b == 200) << "one client, one slot";
      } else {
        EXPECT_GT(a, 0u);
        EXPECT_GT(b, 0u);
      }
    }
  }
}

TEST(TableFlip, SizeChangeAndEmptyTablesSwap) {
  auto dp = load(std::chrono::milliseconds(0));
  addVip(*dp, 4, XLB_ALG_MAGLEV, all(kIdA));
  const uint32_t first = innerId(*dp, 4);
  ASSERT_TRUE(dp->setSelectionTable(4, all(kIdB, 7)).ok());
  const uint32_t second = innerId(*dp, 4);
  EXPECT_NE(second, first) << "another size: a new map";
  EXPECT_EQ(dp->tableWrites().swapped, 2u);
  EXPECT_EQ(dp->tableWrites().flipped, 0u);
  EXPECT_EQ(send(*dp, 10, kSyn), kIdB);
  // No table: the shared empty one; the program drops new flows (no backend).
  ASSERT_TRUE(dp->setSelectionTable(4, {}).ok());
  EXPECT_TRUE(dp->readSelectionTable(4)->empty());
  EXPECT_EQ(dp->tableWrites().swapped, 3u);
  // Back to 7 slots: a new map again (the empty table is never written), which then flips.
  ASSERT_TRUE(dp->setSelectionTable(4, all(kIdA, 7)).ok());
  const uint32_t third = innerId(*dp, 4);
  EXPECT_NE(third, second);
  EXPECT_EQ(dp->tableWrites().swapped, 4u);
  ASSERT_TRUE(dp->setSelectionTable(4, all(kIdB, 7)).ok());
  EXPECT_EQ(innerId(*dp, 4), third);
  EXPECT_EQ(dp->tableWrites().flipped, 1u);
  EXPECT_EQ(send(*dp, 11, kSyn), kIdB);
}

// The guard: a half is rewritten only when its table's last flip is at least the guard old. A
// table this process swapped in may flip at once (its idle half was never read); a second change
// within the guard swaps in a new map instead.
TEST(TableFlip, RecentFlipSwapsInstead) {
  auto dp = load(std::chrono::hours(1));
  addVip(*dp, 4, XLB_ALG_MAGLEV, all(kIdA));
  const uint32_t first = innerId(*dp, 4);
  ASSERT_TRUE(dp->setSelectionTable(4, all(kIdB)).ok());
  EXPECT_EQ(innerId(*dp, 4), first) << "a table this process made flips at once";
  EXPECT_EQ(dp->tableWrites().flipped, 1u);
  ASSERT_TRUE(dp->setSelectionTable(4, all(kIdA)).ok());
  const uint32_t second = innerId(*dp, 4);
  EXPECT_NE(second, first) << "flipped within the guard: swapped";
  EXPECT_EQ(dp->tableWrites().flipped, 1u);
  EXPECT_EQ(dp->tableWrites().swapped, 2u);
  EXPECT_EQ(send(*dp, 20, kSyn), kIdA);
  // The swapped-in table may flip at once again.
  ASSERT_TRUE(dp->setSelectionTable(4, all(kIdB)).ok());
  EXPECT_EQ(innerId(*dp, 4), second);
  EXPECT_EQ(dp->tableWrites().flipped, 2u);
  EXPECT_EQ(send(*dp, 21, kSyn), kIdB);
}

// A restarted agent does not know when its predecessor last flipped a pinned table: it counts
// every table as flipped at load, so within the guard it swaps.
TEST(TableFlip, AdoptedTablesCountAsFlippedAtLoad) {
  const ScopedPinDir pins("flip");
  dataplane::BpfOptions opts;
  opts.pin_dir = pins.dir;
  opts.flow_table_size = 1024;
  uint32_t map = 0;
  {
    auto first = BpfDataplane::create(opts);
    ASSERT_TRUE(first.ok()) << first.status();
    addVip(**first, 4, XLB_ALG_MAGLEV, all(kIdA));
    map = innerId(**first, 4);
  }
  opts.table_flip_guard = std::chrono::hours(1);
  {
    auto again = BpfDataplane::create(opts);
    ASSERT_TRUE(again.ok()) << again.status();
    ASSERT_EQ(innerId(**again, 4), map) << "the pinned table is adopted";
    ASSERT_TRUE((*again)->setSelectionTable(4, all(kIdB)).ok());
    EXPECT_NE(innerId(**again, 4), map) << "adopted, within the guard of the load: swapped";
    EXPECT_EQ((*again)->tableWrites().flipped, 0u);
    map = innerId(**again, 4);
  }
  opts.table_flip_guard = std::chrono::milliseconds(0);
  auto third = BpfDataplane::create(opts);
  ASSERT_TRUE(third.ok()) << third.status();
  ASSERT_TRUE((*third)->setSelectionTable(4, all(kIdA)).ok());
  EXPECT_EQ(innerId(**third, 4), map) << "adopted, guard passed: flipped";
  EXPECT_EQ((*third)->tableWrites().flipped, 1u);
  EXPECT_EQ(*(*third)->readSelectionTable(4), all(kIdA));
}

}  // namespace
}  // namespace xlb::test
