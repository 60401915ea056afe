// SPDX-License-Identifier: Apache-2.0
// The upgrade from ABI 4 (one xlb_nat map, xlb_flow_key -> xlb_nat_value, both families) to ABI 5
// (xlb_nat4 with compact keys and values, xlb_nat6): every live NAT entry of the old pinned map is
// carried into its family's new map, field for field, and the old pin goes (abi.h "NAT",
// dataplane/migrate.h MapSplit). Needs root (bpffs, map creation); skipped otherwise.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "dataplane/bpf_dataplane.h"
#include "fixture.h"

namespace xlb::test {
namespace {

constexpr uint8_t kTcp = IPPROTO_TCP;

// A connection's two entries in the wide (ABI 4) form, both directions filled as the data plane
// fills them, with distinct values in every field so that a field lost or moved shows.
std::vector<std::pair<xlb_flow_key, xlb_nat_value>> pairOf(const char* client, const char* vip,
                                                           const char* backend, uint16_t cport,
                                                           uint32_t seed) {
  xlb_flow_key f = flowKey(client, vip, cport, 80, kTcp);
  xlb_flow_key r = flowKey(backend, client, 8080, cport, kTcp);
  xlb_nat_value fv{}, rv{};
  memcpy(fv.new_src, f.src, 16);
  memcpy(fv.new_dst, r.src, 16);
  fv.new_sport = f.sport;
  fv.new_dport = htons(8080);
  memcpy(rv.new_src, f.dst, 16);
  memcpy(rv.new_dst, f.src, 16);
  rv.new_sport = htons(80);
  rv.new_dport = f.sport;
  for (auto* v : {&fv, &rv}) {
    v->csum_l3 = f.family == XLB_AF_INET ? 0x1234 + seed : 0;
    v->csum_l4 = 0xfedc - seed;
    v->backend_id = 40 + seed;
    v->backend_gen = 7 + seed;
    v->vip_id = 3 + seed;
    v->mode = XLB_FWD_NAT;
    v->state = XLB_NAT_S_SEEN;
    v->last_seen_ns = 1000000000ull * (50 + seed);
    v->created_ns = 1000000000ull * (40 + seed);
  }
  fv.dir = XLB_NAT_DIR_FWD;
  fv.state |= XLB_NAT_S_ACK;
  rv.dir = XLB_NAT_DIR_REV;
  for (int i = 0; i < 12; ++i) rv.l2[i] = static_cast<uint8_t>(0xa0 + i + seed);
  rv.ifindex = 17 + seed;
  return {{f, fv}, {r, rv}};
}

TEST(NatMigration, Abi4TableSplitsIntoTheFamilyTables) {
  if (geteuid() != 0) skipSuite("nat migration", "needs root (bpffs, map creation)");
  const std::string pin_dir = "/sys/fs/bpf/xlbt" + std::to_string(getpid()) + "-natmig";
  std::filesystem::remove_all(pin_dir);
  ASSERT_TRUE(std::filesystem::create_directories(pin_dir + "/v4"));

  // ABI 4's pinned table, as an ABI-4 agent left it (created without BTF: checked by sizes).
  ASSERT_EQ(sizeof(xlb_flow_key), 40u);
  ASSERT_EQ(sizeof(xlb_nat_value), 96u);
  int old_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "xlb_nat", sizeof(xlb_flow_key),
                              sizeof(xlb_nat_value), 4096, nullptr);
  ASSERT_GE(old_fd, 0) << strerror(-old_fd);
  ASSERT_EQ(bpf_obj_pin(old_fd, (pin_dir + "/v4/xlb_nat").c_str()), 0);
  std::vector<std::pair<xlb_flow_key, xlb_nat_value>> entries;
  for (uint32_t i = 0; i < 50; ++i) {
    for (auto& e :
         pairOf("192.0.2.9", "10.100.2.1", "10.0.0.2", static_cast<uint16_t>(30000 + i), i))
      entries.push_back(e);
    for (auto& e : pairOf("2001:db8:9::9", "2001:db8::2:1", "fd00::2",
                          static_cast<uint16_t>(30000 + i), i + 1))
      entries.push_back(e);
  }
  for (const auto& [k, v] : entries) ASSERT_EQ(bpf_map_update_elem(old_fd, &k, &v, BPF_NOEXIST), 0);
  close(old_fd);

  dataplane::BpfOptions opts;
  opts.pin_dir = pin_dir;
  opts.flow_table_size = 1024;
  opts.nat_table_size = 1024;  // the old table's size (4096) is kept instead
  auto dp = dataplane::BpfDataplane::create(opts);
  ASSERT_TRUE(dp.ok()) << dp.status();
  EXPECT_EQ((*dp)->natTableCapacity(), 4096u) << "the old table's size, per family";

  uint64_t migrated = 0;
  for (const auto& m : (*dp)->migration()) {
    if (m.map != "xlb_nat4" && m.map != "xlb_nat6") continue;
    EXPECT_EQ(m.outcome, dataplane::MapMigration::Outcome::kMigrated) << m.line();
    EXPECT_EQ(m.from, "v4");
    EXPECT_EQ(m.not_fit, 0u) << m.line();
    EXPECT_EQ(m.copied, 100u) << m.line();
    migrated += m.copied;
  }
  EXPECT_EQ(migrated, entries.size());
  // Every entry, in the wide form the agent reads, is the one the old table held.
  for (const auto& [k, v] : entries) {
    auto got = (*dp)->lookupNat(k);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value()) << "entry lost";
    EXPECT_EQ(memcmp(&**got, &v, sizeof(v)), 0) << "entry changed";
  }
  uint64_t seen = 0;
  ASSERT_TRUE(
      (*dp)->forEachNat([&seen](const xlb_flow_key&, const xlb_nat_value&) { ++seen; }).ok());
  EXPECT_EQ(seen, entries.size());
  // The IPv4 half in the compact layout.
  xlb_nat4_key k4{};
  memcpy(&k4.src, entries[0].first.src, 4);
  memcpy(&k4.dst, entries[0].first.dst, 4);
  k4.sport = entries[0].first.sport;
  k4.dport = entries[0].first.dport;
  k4.proto = kTcp;
  xlb_nat4_value v4{};
  ASSERT_EQ(bpf_map_lookup_elem((*dp)->mapFd("xlb_nat4"), &k4, &v4), 0);
  EXPECT_EQ(v4.h.dir, XLB_NAT_DIR_FWD);
  EXPECT_EQ(memcmp(&v4.new_dst, entries[0].second.new_dst, 4), 0);
  EXPECT_EQ(v4.h.csum_l3, 0x1234);

  struct stat st {};
  EXPECT_NE(stat((pin_dir + "/v4").c_str(), &st), 0) << "the ABI 4 directory is removed";
  EXPECT_EQ(stat((pin_dir + "/v5/xlb_nat4").c_str(), &st), 0);
  EXPECT_EQ(stat((pin_dir + "/v5/xlb_nat6").c_str(), &st), 0);

  // A restart of the same build reuses the new tables as they are.
  dp->reset();
  auto again = dataplane::BpfDataplane::create(opts);
  ASSERT_TRUE(again.ok()) << again.status();
  auto got = (*again)->lookupNat(entries[1].first);
  ASSERT_TRUE(got.ok() && got->has_value());
  for (const auto& m : (*again)->migration())
    EXPECT_NE(m.outcome, dataplane::MapMigration::Outcome::kMigrated) << m.line();
  again->reset();
  std::filesystem::remove_all(pin_dir);
}

}  // namespace
}  // namespace xlb::test
