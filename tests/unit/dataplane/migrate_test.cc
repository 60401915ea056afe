// SPDX-License-Identifier: Apache-2.0
// Unit tests of the map-layout migration planning (dataplane/migrate.h): no kernel, no root.
#include "dataplane/migrate.h"

#include <linux/bpf.h>

#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace xlb::dataplane {
namespace {

using ::testing::Test;

Layout structOf(uint32_t size, std::vector<LayoutMember> members) {
  return Layout{"struct", size, std::move(members)};
}

// xlb_flow_value of ABI 2 and of the test layout (a member appended).
Layout flowV2() {
  return structOf(24, {{"backend_id", 0, 4, "int"},
                       {"backend_gen", 4, 4, "int"},
                       {"last_seen_ns", 8, 8, "int"},
                       {"flags", 16, 4, "int"},
                       {"pad", 20, 4, "int"}});
}
Layout flowV3() {
  Layout l = flowV2();
  l.size = 32;
  l.members.push_back({"created_ns", 24, 8, "int"});
  return l;
}
Layout u32() { return Layout{"int", 4, {}}; }

MapShape shape(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries,
               std::optional<Layout> key, std::optional<Layout> value) {
  return MapShape{type, key_size, value_size, max_entries, 0, std::move(key), std::move(value)};
}

TEST(PlanLayout, IdenticalStructsCopyAsOneBlock) {
  LayoutPlan p = planLayout(flowV2(), flowV2());
  EXPECT_TRUE(p.identical);
  EXPECT_TRUE(p.complete);
  ASSERT_EQ(p.copies.size(), 1u);
  EXPECT_EQ(p.copies[0].size, 24u);
}

TEST(PlanLayout, AppendedMemberIsAddedAndTheRestCopied) {
  LayoutPlan p = planLayout(flowV2(), flowV3());
  EXPECT_FALSE(p.identical);
  EXPECT_FALSE(p.complete);  // fine for a value, not for a key
  EXPECT_TRUE(p.usable);
  EXPECT_EQ(p.added, std::vector<std::string>{"created_ns"});
  EXPECT_TRUE(p.dropped.empty());
  EXPECT_EQ(p.copies.size(), 5u);
}

TEST(PlanLayout, ReorderedMembersFollowTheirNames) {
  Layout from = structOf(8, {{"a", 0, 4, "int"}, {"b", 4, 4, "int"}});
  Layout to = structOf(8, {{"b", 0, 4, "int"}, {"a", 4, 4, "int"}});
  LayoutPlan p = planLayout(from, to);
  EXPECT_FALSE(p.identical);  // same size: reusing the map would swap a and b
  EXPECT_TRUE(p.complete);
  uint32_t in[2] = {11, 22}, out[2] = {0, 0};
  applyLayoutPlan(p, reinterpret_cast<const uint8_t*>(in), reinterpret_cast<uint8_t*>(out), 8);
  EXPECT_EQ(out[0], 22u);
  EXPECT_EQ(out[1], 11u);
}

TEST(PlanLayout, DroppedAndResizedMembersAreReportedAndZeroed) {
  Layout from =
      structOf(16, {{"keep", 0, 8, "int"}, {"gone", 8, 4, "int"}, {"grow", 12, 4, "int"}});
  Layout to = structOf(16, {{"keep", 0, 8, "int"}, {"grow", 8, 8, "int"}});
  LayoutPlan p = planLayout(from, to);
  EXPECT_TRUE(p.usable);
  EXPECT_FALSE(p.complete);
  EXPECT_EQ(p.dropped, std::vector<std::string>{"gone"});
  EXPECT_EQ(p.resized, std::vector<std::string>{"grow 4\u21928 bytes"});
  EXPECT_EQ(p.reason, "member grow 4\u21928 bytes");
  uint8_t in[16], out[16];
  std::memset(in, 0xab, sizeof(in));
  applyLayoutPlan(p, in, out, sizeof(out));
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[i], 0xab) << i;
  for (int i = 8; i < 16; ++i) EXPECT_EQ(out[i], 0) << i;
}

TEST(PlanLayout, SameNameOtherKindIsNotCopied) {
  Layout from = structOf(4, {{"x", 0, 4, "int"}});
  Layout to = structOf(4, {{"x", 0, 4, "array"}});
  LayoutPlan p = planLayout(from, to);
  EXPECT_FALSE(p.usable);
  EXPECT_EQ(p.resized, std::vector<std::string>{"x int\u2192array"});
}

TEST(PlanLayout, BitfieldsNeverMatch) {
  Layout from = structOf(4, {{"x", 0, 4, "bitfield"}, {"y", 0, 4, "int"}});
  LayoutPlan p = planLayout(from, from);
  EXPECT_TRUE(p.identical);  // byte-identical descriptions still reuse
  Layout to = structOf(8, {{"x", 0, 4, "bitfield"}, {"y", 4, 4, "int"}});
  p = planLayout(from, to);
  EXPECT_EQ(p.copies.size(), 1u);
  EXPECT_EQ(p.resized.size(), 1u);
}

TEST(PlanLayout, ScalarsAndArraysOfEqualSizeCopyAsIs) {
  LayoutPlan p = planLayout(u32(), Layout{"array", 4, {}});
  EXPECT_TRUE(p.complete);
  p = planLayout(u32(), Layout{"int", 8, {}});
  EXPECT_FALSE(p.usable);
  EXPECT_EQ(p.reason, "size 4\u21928");
  p = planLayout(u32(), structOf(4, {{"x", 0, 4, "int"}}));
  EXPECT_FALSE(p.usable);
  EXPECT_EQ(p.reason, "int\u2192struct");
}

TEST(PlanMap, SameShapeAndLayoutIsReused) {
  MapShape s = shape(BPF_MAP_TYPE_LRU_HASH, 40, 24, 65536, std::nullopt, flowV2());
  MapPlan p = planMap(s, s);
  EXPECT_EQ(p.action, MapAction::kReuse);
  EXPECT_TRUE(p.reason.empty());
}

TEST(PlanMap, GrownFlowValueMigratesFieldWise) {
  MapPlan p = planMap(shape(BPF_MAP_TYPE_LRU_HASH, 40, 24, 65536, std::nullopt, flowV2()),
                      shape(BPF_MAP_TYPE_LRU_HASH, 40, 32, 65536, std::nullopt, flowV3()));
  EXPECT_EQ(p.action, MapAction::kMigrate);
  EXPECT_EQ(p.reason, "value size 24\u219232");
  EXPECT_EQ(p.value.added, std::vector<std::string>{"created_ns"});
}

TEST(PlanMap, ResizedKeyIsReset) {
  MapPlan p = planMap(shape(BPF_MAP_TYPE_ARRAY, 4, 8, 16, u32(), std::nullopt),
                      shape(BPF_MAP_TYPE_ARRAY, 8, 8, 16, Layout{"int", 8, {}}, std::nullopt));
  EXPECT_EQ(p.action, MapAction::kReset);
  EXPECT_EQ(p.reason, "key size 4\u21928; no field mapping");
}

TEST(PlanMap, SameSizeKeyWithOtherMembersIsReset) {
  Layout from =
      structOf(20, {{"addr", 0, 16, "array"}, {"family", 16, 1, "int"}, {"pad", 17, 3, "array"}});
  Layout to = structOf(20, {{"addr", 0, 16, "array"},
                            {"family", 16, 1, "int"},
                            {"scope", 17, 1, "int"},
                            {"pad", 18, 2, "array"}});
  MapPlan p = planMap(shape(BPF_MAP_TYPE_HASH, 20, 8, 1024, from, std::nullopt),
                      shape(BPF_MAP_TYPE_HASH, 20, 8, 1024, to, std::nullopt));
  EXPECT_EQ(p.action, MapAction::kReset);
  EXPECT_EQ(p.reason, "key layout: member pad 3\u21922 bytes; key not mappable; no field mapping");
}

TEST(PlanMap, ReorderedKeyMembersStillMigrate) {
  Layout from = structOf(8, {{"a", 0, 4, "int"}, {"b", 4, 4, "int"}});
  Layout to = structOf(8, {{"b", 0, 4, "int"}, {"a", 4, 4, "int"}});
  MapPlan p = planMap(shape(BPF_MAP_TYPE_HASH, 8, 8, 16, from, u32()),
                      shape(BPF_MAP_TYPE_HASH, 8, 8, 16, to, u32()));
  EXPECT_EQ(p.action, MapAction::kMigrate);
  EXPECT_EQ(p.reason, "key layout: changed");
}

TEST(PlanMap, ArrayWithMoreEntriesMigratesTheCommonRange) {
  Layout u64{"int", 8, {}};
  MapPlan p = planMap(shape(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 18, u32(), u64),
                      shape(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 19, u32(), u64));
  EXPECT_EQ(p.action, MapAction::kMigrate);
  EXPECT_EQ(p.reason, "max_entries 18\u219219");
}

TEST(PlanMap, OtherMapTypeIsReset) {
  MapPlan p = planMap(shape(BPF_MAP_TYPE_HASH, 4, 4, 16, u32(), u32()),
                      shape(BPF_MAP_TYPE_LRU_HASH, 4, 4, 16, u32(), u32()));
  EXPECT_EQ(p.action, MapAction::kReset);
  EXPECT_EQ(p.reason, "map type hash\u2192lru_hash");
}

TEST(PlanMap, WithoutBtfSizesDecide) {
  MapPlan p = planMap(shape(BPF_MAP_TYPE_HASH, 4, 8, 16, std::nullopt, std::nullopt),
                      shape(BPF_MAP_TYPE_HASH, 4, 8, 32, u32(), std::nullopt));
  EXPECT_EQ(p.action, MapAction::kMigrate);
  p = planMap(shape(BPF_MAP_TYPE_HASH, 4, 8, 16, std::nullopt, std::nullopt),
              shape(BPF_MAP_TYPE_HASH, 4, 16, 16, std::nullopt, std::nullopt));
  EXPECT_EQ(p.action, MapAction::kReset);
  EXPECT_EQ(p.reason, "value size 8\u219216; no field mapping");
}

TEST(PlanMap, MapInMapValuesAreInnerMapIds) {
  // BTF of the values differs per side (or is absent): only the inner map ids are compared.
  MapPlan p = planMap(shape(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 1024, u32(), std::nullopt),
                      shape(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2048, u32(), flowV2()));
  EXPECT_EQ(p.action, MapAction::kMigrate);
}

TEST(MapMigrationLine, SaysExactlyWhatHappened) {
  MapMigration m{"xlb_flows", "v2", "v3"};
  m.outcome = MapMigration::Outcome::kMigrated;
  m.reason = "value size 24\u219232";
  m.copied = 1234;
  m.caught_up = 3;
  m.added = {"created_ns"};
  EXPECT_EQ(m.line(),
            "migrate: xlb_flows v2\u2192v3: 1234 entries migrated field-wise (value size "
            "24\u219232; added: created_ns; dropped: none), 3 more caught up after the switch");
  m.not_fit = 7;
  EXPECT_NE(m.line().find(", 7 did not fit"), std::string::npos);

  MapMigration r{"xlb_be_conns", "v2", "v3"};
  r.outcome = MapMigration::Outcome::kReset;
  r.reason = "key size 4\u21928; no field mapping";
  EXPECT_EQ(r.line(),
            "migrate: xlb_be_conns v2\u2192v3: reset (key size 4\u21928; no field mapping)");
  MapMigration u{"xlb_vips", "v2", "v3"};
  EXPECT_EQ(u.line(), "migrate: xlb_vips v2\u2192v3: reused");
}

}  // namespace
}  // namespace xlb::dataplane
