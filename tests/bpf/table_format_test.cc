// SPDX-License-Identifier: Apache-2.0
// Issue 12: selection tables are BPF_F_MMAPABLE inner maps of two-half slots (xlb_table_slot: the
// agent fills a new table with one copy through its pages, and flips a table in place). A pinned
// xlb_tables made by an older agent takes only inner maps of u32 values, some without that flag,
// and the kernel refuses any other: loading must notice it (from a table the outer map holds, or
// by asking an empty one) and migrate the outer map, rebuilding every table in the new shape (the
// old ids become half 0, live), so that the tables keep forwarding, flip, and new ones can be
// swapped in. The same for the open-flow counts (xlb_be_conns), now read through a mapping.
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

constexpr uint8_t kSyn = 0x02, kTcp = 6;
constexpr uint32_t kOldInnerFlags = BPF_F_INNER_MAP;

class Env : public ::testing::Environment {
 public:
  void SetUp() override { setUpOrSkip("bpf table format tests"); }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new Env);

struct PinDir : ScopedPinDir {
  PinDir() : ScopedPinDir("tblfmt") {}
};

// Replaces the pinned xlb_tables by one an older agent would have made: its inner template, and
// `table` (when not empty) at vip id `vip_id`, are arrays of u32 with `flags` (by default without
// BPF_F_MMAPABLE; the release before the two-half slots had it).
void pinOldFormatTables(const PinDir& pins, uint32_t max_vips, uint32_t vip_id,
                        const std::vector<uint32_t>& table, uint32_t flags = kOldInnerFlags) {
  LIBBPF_OPTS(bpf_map_create_opts, inner_opts, .map_flags = flags);
  int tmpl = bpf_map_create(BPF_MAP_TYPE_ARRAY, "old_tmpl", 4, 4, 1, &inner_opts);
  ASSERT_GE(tmpl, 0);
  LIBBPF_OPTS(bpf_map_create_opts, outer_opts, .inner_map_fd = static_cast<__u32>(tmpl));
  int outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "xlb_tables", 4, 4, max_vips, &outer_opts);
  close(tmpl);
  ASSERT_GE(outer, 0);
  if (!table.empty()) {
    const uint32_t n = static_cast<uint32_t>(table.size()) + 1;
    int t = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xlb_table", 4, 4, n, &inner_opts);
    ASSERT_GE(t, 0);
    uint32_t zero = 0, m = static_cast<uint32_t>(table.size());
    ASSERT_EQ(bpf_map_update_elem(t, &zero, &m, BPF_ANY), 0);
    for (uint32_t i = 0; i < m; ++i) {
      uint32_t k = i + 1;
      ASSERT_EQ(bpf_map_update_elem(t, &k, &table[i], BPF_ANY), 0);
    }
    ASSERT_EQ(bpf_map_update_elem(outer, &vip_id, &t, BPF_ANY), 0);
    close(t);
  }
  const std::string pin = pins.maps + "/xlb_tables";
  ASSERT_EQ(unlink(pin.c_str()), 0);
  ASSERT_EQ(bpf_obj_pin(outer, pin.c_str()), 0);
  close(outer);
}

const dataplane::MapMigration* tablesReport(const dataplane::BpfDataplane& dp) {
  for (const auto& m : dp.migration())
    if (m.map == "xlb_tables") return &m;
  return nullptr;
}

// A plain restart reports nothing, or "reused".
::testing::AssertionResult reused(const dataplane::BpfDataplane& dp) {
  const auto* r = tablesReport(dp);
  if (r == nullptr || r->outcome == dataplane::MapMigration::Outcome::kReused)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << r->line();
}

// Flags of the inner map at vip_id of the program's xlb_tables (0 when the slot is empty).
uint32_t innerFlags(const dataplane::BpfDataplane& dp, uint32_t vip_id) {
  uint32_t id = 0;
  if (bpf_map_lookup_elem(dp.mapFd("xlb_tables"), &vip_id, &id) != 0) return 0;
  int fd = bpf_map_get_fd_by_id(id);
  if (fd < 0) return 0;
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  EXPECT_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
  close(fd);
  return info.map_flags;
}

dataplane::BpfOptions pinnedOptions(const PinDir& pins) {
  dataplane::BpfOptions opts;
  opts.pin_dir = pins.dir;
  opts.flow_table_size = 1024;
  return opts;
}

// A pinned data plane holding VIP 10.100.9.1:80/tcp as id 5 (maglev, dsr) with backends 100
// (10.0.0.2, MAC A) and 101 (10.0.0.3, MAC B), and no table: each test pins the table it starts from.
void pinVip5(const PinDir& pins) {
  auto first = dataplane::BpfDataplane::create(pinnedOptions(pins));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE((*first)->upsertVipAddr(makeAddrKey("10.100.9.1"), {1, 0}).ok());
  ASSERT_TRUE((*first)->upsertBackend(100, makeBackend("10.0.0.2", 5)).ok());
  ASSERT_TRUE((*first)->upsertBackend(101, makeBackend("10.0.0.3", 5)).ok());
  ASSERT_TRUE(
      (*first)->upsertVip(makeVipKey("10.100.9.1", 80, kTcp), {5, XLB_ALG_MAGLEV, XLB_FWD_DSR, 0})
          .ok());
}

// The destination MAC of the frame a SYN from 192.0.2.9:sport to VIP 5 leaves with (XDP_TX).
Mac synDestination(dataplane::BpfDataplane& dp, uint16_t sport) {
  Bytes syn =
      PacketBuilder().eth(kLbMac, kClientMac).ipv4("192.0.2.9", "10.100.9.1").tcp(sport, 80, kSyn).build();
  RunResult r = runXdp(dp.programFd(), syn, lbIfindex());
  EXPECT_EQ(r.err, 0);
  EXPECT_EQ(r.ret, static_cast<uint32_t>(XDP_TX));
  Mac out{};
  EXPECT_GE(r.out.size(), out.size());
  if (r.out.size() >= out.size()) std::memcpy(out.data(), r.out.data(), out.size());
  return out;
}

TEST(TableFormat, NewTablesAreMmapable) {
  PinDir pins;
  auto dp = dataplane::BpfDataplane::create(pinnedOptions(pins));
  ASSERT_TRUE(dp.ok()) << dp.status();
  std::vector<uint32_t> table(1021);
  for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<uint32_t>(i % 7);
  ASSERT_TRUE((*dp)->setSelectionTable(3, table).ok());
  EXPECT_EQ(innerFlags(**dp, 3), BPF_F_INNER_MAP | BPF_F_MMAPABLE);
  // Written through the pages, read back through the syscall: slot for slot.
  auto got = (*dp)->readSelectionTable(3);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, table);
  // A restart of the same build reuses the outer map as it is (holding a table, and empty).
  dp->reset();
  auto again = dataplane::BpfDataplane::create(pinnedOptions(pins));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(reused(**again));
  ASSERT_TRUE((*again)->setSelectionTable(3, {}).ok());
  again->reset();
  auto empty = dataplane::BpfDataplane::create(pinnedOptions(pins));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(reused(**empty));
}

TEST(TableFormat, OlderTablesAreRebuiltAndKeepForwarding) {
  PinDir pins;
  ASSERT_NO_FATAL_FAILURE(pinVip5(pins));
  pinOldFormatTables(pins, Capacity{}.vips, 5, std::vector<uint32_t>(13, 100));

  auto dp = dataplane::BpfDataplane::create(pinnedOptions(pins));
  ASSERT_TRUE(dp.ok()) << dp.status();
  const auto* report = tablesReport(**dp);
  ASSERT_NE(report, nullptr);
  EXPECT_EQ(report->outcome, dataplane::MapMigration::Outcome::kMigrated) << report->line();
  EXPECT_NE(report->reason.find("inner map flags 0x1000"), std::string::npos) << report->line();
  EXPECT_EQ(report->copied, 1u) << report->line();
  // The table is the old one, now in a map of the new format.
  EXPECT_EQ(innerFlags(**dp, 5), BPF_F_INNER_MAP | BPF_F_MMAPABLE);
  auto got = (*dp)->readSelectionTable(5);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, std::vector<uint32_t>(13, 100));
  // The program selects through it.
  EXPECT_EQ(synDestination(**dp, 9), parseMac(kBackendMacA)) << "sent to backend id 100's MAC";
  // And it takes new tables (the old outer map would refuse them: EINVAL).
  EXPECT_TRUE((*dp)->setSelectionTable(6, std::vector<uint32_t>(7, 100)).ok());
  EXPECT_TRUE((*dp)->setSelectionTable(5, std::vector<uint32_t>(11, 100)).ok());
}

// The release before the two-half slots: mmapable tables of u32. Rebuilt with 8-byte slots, half 0
// live, so the program forwards as before and the next change flips in place.
TEST(TableFormat, SingleHalfTablesGainAnIdleHalfAndFlip) {
  PinDir pins;
  ASSERT_NO_FATAL_FAILURE(pinVip5(pins));
  pinOldFormatTables(pins, Capacity{}.vips, 5, std::vector<uint32_t>(13, 100),
                     BPF_F_INNER_MAP | BPF_F_MMAPABLE);

  auto opts = pinnedOptions(pins);
  opts.table_flip_guard = std::chrono::milliseconds(0);
  auto dp = dataplane::BpfDataplane::create(opts);
  ASSERT_TRUE(dp.ok()) << dp.status();
  const auto* report = tablesReport(**dp);
  ASSERT_NE(report, nullptr);
  EXPECT_EQ(report->outcome, dataplane::MapMigration::Outcome::kMigrated) << report->line();
  EXPECT_NE(report->reason.find("inner map value size 4"), std::string::npos) << report->line();
  EXPECT_EQ(report->reason.find("inner map flags"), std::string::npos) << report->line();
  EXPECT_EQ(report->copied, 1u) << report->line();
  const uint32_t vip = 5;
  uint32_t map = 0;
  ASSERT_EQ(bpf_map_lookup_elem((*dp)->mapFd("xlb_tables"), &vip, &map), 0);
  {
    int fd = bpf_map_get_fd_by_id(map);
    ASSERT_GE(fd, 0);
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    ASSERT_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
    EXPECT_EQ(info.value_size, sizeof(xlb_table_slot));
    xlb_table_slot head{}, s{};
    uint32_t k = 0;
    ASSERT_EQ(bpf_map_lookup_elem(fd, &k, &head), 0);
    k = 13;
    ASSERT_EQ(bpf_map_lookup_elem(fd, &k, &s), 0);
    close(fd);
    EXPECT_EQ(head.w[0], 13u);
    EXPECT_EQ(head.w[1], 0u) << "half 0 live";
    EXPECT_EQ(s.w[0], 100u);
    EXPECT_EQ(s.w[1], 0u);
  }
  EXPECT_EQ(synDestination(**dp, 9), parseMac(kBackendMacA)) << "backend id 100";
  ASSERT_TRUE((*dp)->setSelectionTable(5, std::vector<uint32_t>(13, 101)).ok());
  EXPECT_EQ((*dp)->tableWrites().flipped, 1u);
  uint32_t after = 0;
  ASSERT_EQ(bpf_map_lookup_elem((*dp)->mapFd("xlb_tables"), &vip, &after), 0);
  EXPECT_EQ(after, map) << "flipped in place";
  EXPECT_EQ(synDestination(**dp, 10), parseMac(kBackendMacB)) << "backend id 101";
}

TEST(TableFormat, EmptyOlderOuterMapIsReplaced) {
  PinDir pins;
  {
    auto first = dataplane::BpfDataplane::create(pinnedOptions(pins));
    ASSERT_TRUE(first.ok()) << first.status();
  }
  pinOldFormatTables(pins, Capacity{}.vips, 0, {});
  auto dp = dataplane::BpfDataplane::create(pinnedOptions(pins));
  ASSERT_TRUE(dp.ok()) << dp.status();
  const auto* report = tablesReport(**dp);
  ASSERT_NE(report, nullptr);
  EXPECT_EQ(report->outcome, dataplane::MapMigration::Outcome::kMigrated) << report->line();
  EXPECT_NE(report->reason.find("inner map flags unknown"), std::string::npos) << report->line();
  // The probe left nothing behind, and the new outer map takes tables.
  EXPECT_EQ(innerFlags(**dp, 0), 0u);
  EXPECT_TRUE((*dp)->setSelectionTable(0, std::vector<uint32_t>(7, 1)).ok());
}

// xlb_be_conns became BPF_F_MMAPABLE too (the agent reads the counts through a mapping): a pinned
// one of the older flags is migrated with its counts, which the mapping then shows.
TEST(TableFormat, OlderOpenFlowCountsAreMigratedAndMapped) {
  PinDir pins;
  {
    auto first = dataplane::BpfDataplane::create(pinnedOptions(pins));
    ASSERT_TRUE(first.ok()) << first.status();
  }
  int old = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xlb_be_conns", 4, 8, Capacity{}.backends, nullptr);
  ASSERT_GE(old, 0);
  const uint32_t id = 7;
  const uint64_t count = 42;
  ASSERT_EQ(bpf_map_update_elem(old, &id, &count, BPF_ANY), 0);
  const std::string pin = pins.maps + "/xlb_be_conns";
  ASSERT_EQ(unlink(pin.c_str()), 0);
  ASSERT_EQ(bpf_obj_pin(old, pin.c_str()), 0);
  close(old);

  auto dp = dataplane::BpfDataplane::create(pinnedOptions(pins));
  ASSERT_TRUE(dp.ok()) << dp.status();
  const dataplane::MapMigration* report = nullptr;
  for (const auto& m : (*dp)->migration())
    if (m.map == "xlb_be_conns") report = &m;
  ASSERT_NE(report, nullptr);
  EXPECT_EQ(report->outcome, dataplane::MapMigration::Outcome::kMigrated) << report->line();
  EXPECT_NE(report->reason.find("flags 0x0"), std::string::npos) << report->line();
  auto open = (*dp)->readOpenFlows();
  ASSERT_TRUE(open.ok()) << open.status();
  ASSERT_EQ(open->size(), Capacity{}.backends);
  EXPECT_EQ((*open)[id], count);
  // Later writes show through the mapping at once.
  ASSERT_TRUE((*dp)->setOpenFlows(id, 5).ok());
  EXPECT_EQ((*(*dp)->readOpenFlows())[id], 5u);
  // openFlowCounts reads the same mapping in place (no copy), so a count taken before a write
  // shows the write; ids past the capacity read 0.
  auto live = (*dp)->openFlowCounts();
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_EQ(live->size(), Capacity{}.backends);
  EXPECT_EQ((*live)[id], 5u);
  EXPECT_EQ((*live)[id + 1], (*(*dp)->readOpenFlows())[id + 1]);
  ASSERT_TRUE((*dp)->setOpenFlows(id, 9).ok());
  EXPECT_EQ((*live)[id], 9u);
  EXPECT_EQ((*live)[Capacity{}.backends], 0u);
}

}  // namespace
}  // namespace xlb::test
