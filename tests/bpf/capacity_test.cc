// SPDX-License-Identifier: Apache-2.0
// Issue 12: the data plane's id ranges are chosen at load (BpfOptions.capacity, xlb-agent
// --max-vips/--max-backends): every VIP- and backend-indexed map takes that size, ids are checked
// against it, the program forwards through ids beyond the compiled-in defaults, and a pinned data
// plane reloaded with a larger capacity keeps its VIPs, backends and tables (migrated).
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "dataplane/bpf_contents.h"
#include "fixture.h"

namespace xlb::test {
namespace {

constexpr uint8_t kSyn = 0x02, kTcp = 6;

uint32_t maxEntries(const dataplane::BpfDataplane& dp, const char* map) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  EXPECT_EQ(bpf_obj_get_info_by_fd(dp.mapFd(map), &info, &len), 0) << map;
  return info.max_entries;
}

class Env : public ::testing::Environment {
 public:
  void SetUp() override { setUpOrSkip("bpf capacity tests"); }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new Env);

TEST(Capacity, MapsAreSizedAtLoadAndIdsBeyondTheDefaultsForward) {
  dataplane::BpfOptions opts;
  opts.flow_table_size = 4096;
  opts.capacity = Capacity{2048, 40000};
  auto dp = loadOrSkip("bpf capacity tests", opts);
  EXPECT_EQ(dp->capacity(), opts.capacity);
  for (const char* m : {"xlb_vips", "xlb_vip_addrs", "xlb_tables", "xlb_vip_stats", "xlb_rr",
                        "xlb_snat"}) {
    EXPECT_EQ(maxEntries(*dp, m), 2048u) << m;
  }
  for (const char* m : {"xlb_backends", "xlb_nh_cache", "xlb_be_stats", "xlb_be_conns",
                        "xlb_be_nat", "xlb_nat_fail"}) {
    EXPECT_EQ(maxEntries(*dp, m), 40000u) << m;
  }
  EXPECT_EQ(maxEntries(*dp, "xlb_nat_eps"), 42048u);

  // Ids are checked against the loaded ranges, not the compiled-in defaults.
  EXPECT_EQ(dp->upsertBackend(40000, makeBackend("10.0.0.2", 2000)).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<uint32_t> bad(7, 40000);
  EXPECT_EQ(dp->setSelectionTable(2000, bad).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(dp->setSelectionTable(2048, {}).code(), absl::StatusCode::kInvalidArgument);

  ASSERT_TRUE(dp->upsertVipAddr(makeAddrKey("10.100.7.1"), {1, 0}).ok());
  ASSERT_TRUE(dp->upsertBackend(39999, makeBackend("10.0.0.2", 2047)).ok());
  std::vector<uint32_t> table(7, 39999);
  ASSERT_TRUE(dp->setSelectionTable(2047, table).ok());
  ASSERT_TRUE(dp->upsertVip(makeVipKey("10.100.7.1", 80, kTcp), {2047, XLB_ALG_MAGLEV, XLB_FWD_DSR, 0}).ok());
  Bytes syn = PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.9", "10.100.7.1").tcp(9, 80, kSyn).build();
  RunResult r = runXdp(dp->programFd(), syn, lbIfindex());
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.ret, static_cast<uint32_t>(XDP_TX));
  Mac want = parseMac(kBackendMacA);
  ASSERT_GE(r.out.size(), 6u);
  EXPECT_EQ(std::memcmp(r.out.data(), want.data(), 6), 0) << "sent to backend id 39999's MAC";
  auto counters = readCounters(*dp);
  ASSERT_EQ(counters.vips.size(), 2048u);
  ASSERT_EQ(counters.backends.size(), 40000u);
  EXPECT_EQ(counters.vips[2047].packets, 1u);
  EXPECT_EQ(counters.backends[39999].packets, 1u);
}

// Start-up and large applies write backend slots and ports in batches of a few thousand: every
// slot lands (across batch boundaries), and an id out of range refuses the whole batch before
// anything is written.
TEST(Capacity, BatchedSlotWritesLandWholeOrNotAtAll) {
  dataplane::BpfOptions opts;
  opts.flow_table_size = 1024;
  opts.capacity = Capacity{1024, 20000};
  auto dp = loadOrSkip("bpf capacity tests", opts);
  std::vector<std::pair<uint32_t, xlb_backend>> slots;
  std::vector<std::pair<uint32_t, xlb_be_nat>> ports;
  for (uint32_t id = 0; id < 9000; ++id) {
    xlb_backend b = makeBackend("10.0.0.2", id % 1024);
    b.weight = static_cast<uint16_t>(id % 100 + 1);
    b.gen = id + 1;
    slots.emplace_back(id * 2, b);
    xlb_be_nat n{};
    n.port = htons(static_cast<uint16_t>(1000 + id));
    ports.emplace_back(id * 2, n);
  }
  ASSERT_TRUE(dp->setBackendNats(ports).ok());
  ASSERT_TRUE(dp->upsertBackends(slots).ok());
  for (const auto& [id, want] : slots) {
    auto got = dp->readBackend(id);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(std::memcmp(&*got, &want, sizeof(want)), 0) << "slot " << id;
    auto port = dp->readBackendNat(id);
    ASSERT_TRUE(port.ok()) << port.status();
    ASSERT_EQ(port->port, htons(static_cast<uint16_t>(1000 + id / 2))) << "port of slot " << id;
  }
  auto untouched = dp->readBackend(1);
  ASSERT_TRUE(untouched.ok());
  EXPECT_EQ(untouched->gen, 0u) << "odd ids were never written";

  // One id beyond the capacity: INVALID_ARGUMENT, and not even the valid ones before it land.
  std::vector<std::pair<uint32_t, xlb_backend>> bad = {{3, makeBackend("10.0.0.3", 1)},
                                                       {20000, makeBackend("10.0.0.3", 1)}};
  EXPECT_EQ(dp->upsertBackends(bad).code(), absl::StatusCode::kInvalidArgument);
  auto three = dp->readBackend(3);
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(three->gen, 0u);
  std::vector<std::pair<uint32_t, xlb_be_nat>> bad_ports = {{5, xlb_be_nat{}}, {20000, xlb_be_nat{}}};
  EXPECT_EQ(dp->setBackendNats(bad_ports).code(), absl::StatusCode::kInvalidArgument);
}

TEST(Capacity, PinnedDataPlaneGrowsWithoutLosingEntries) {
  const ScopedPinDir pins("cap");
  dataplane::BpfOptions opts;
  opts.pin_dir = pins.dir;
  opts.flow_table_size = 1024;
  {
    auto first = dataplane::BpfDataplane::create(opts);
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ((*first)->capacity(), Capacity{});
    ASSERT_TRUE((*first)->upsertVip(makeVipKey("10.100.8.1", 80, kTcp), {5, XLB_ALG_MAGLEV, XLB_FWD_DSR, 0}).ok());
    ASSERT_TRUE((*first)->upsertBackend(100, makeBackend("10.0.0.2", 5)).ok());
    std::vector<uint32_t> table(13, 100);
    ASSERT_TRUE((*first)->setSelectionTable(5, table).ok());
  }
  opts.capacity = Capacity{4096, 65536};
  auto second = dataplane::BpfDataplane::create(opts);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)->capacity(), opts.capacity);
  EXPECT_EQ(maxEntries(**second, "xlb_tables"), 4096u);
  EXPECT_EQ(maxEntries(**second, "xlb_backends"), 65536u);
  auto vip = (*second)->lookupVip(makeVipKey("10.100.8.1", 80, kTcp));
  ASSERT_TRUE(vip.ok() && vip->has_value());
  EXPECT_EQ((*vip)->vip_id, 5u);
  auto be = (*second)->readBackend(100);
  ASSERT_TRUE(be.ok());
  EXPECT_EQ(be->flags & XLB_BE_F_ACTIVE, XLB_BE_F_ACTIVE);
  auto t = (*second)->readSelectionTable(5);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, std::vector<uint32_t>(13, 100));
  // The grown maps take ids the old ones could not hold.
  EXPECT_TRUE((*second)->upsertBackend(60000, makeBackend("10.0.0.3", 4000)).ok());
  EXPECT_TRUE((*second)->setSelectionTable(4000, std::vector<uint32_t>(7, 60000)).ok());
}

}  // namespace
}  // namespace xlb::test
