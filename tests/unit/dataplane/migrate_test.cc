// SPDX-License-Identifier: Apache-2.0
// Tests of the map-layout migration (dataplane/migrate.h): planning without a kernel; the entry
// copy on real maps when BPF maps can be created (root), skipped otherwise.
#include "dataplane/migrate.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

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

TEST(PlanMap, InnerValueSizeChangeMigrates) {
  MapShape from = shape(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 1024, u32(), std::nullopt);
  MapShape to = from;
  from.inner_flags = to.inner_flags = BPF_F_INNER_MAP | BPF_F_MMAPABLE;
  from.inner_value_size = 4;
  to.inner_value_size = 8;
  MapPlan p = planMap(from, to);
  EXPECT_EQ(p.action, MapAction::kMigrate);
  EXPECT_EQ(p.reason, "inner map value size 4\u21928");
  EXPECT_TRUE(to.innerDiffersFrom(from));
  from.inner_value_size = 8;
  EXPECT_EQ(planMap(from, to).action, MapAction::kReuse);
  EXPECT_FALSE(to.innerDiffersFrom(from));
  // An outer map holding no inner map says nothing of its shape: migrated (into an empty map).
  from.inner_flags.reset();
  from.inner_value_size.reset();
  p = planMap(from, to);
  EXPECT_EQ(p.action, MapAction::kMigrate);
  EXPECT_EQ(p.reason, "inner map flags unknown\u21920x1400, inner map value size unknown\u21928");
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

// ---- against the kernel: copyMapEntries on real maps (needs CAP_BPF; skipped otherwise)
// ----------

// An fd that closes itself.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

class MigrateKernel : public Test {
 protected:
  void SetUp() override {
    int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xlb_probe", 4, 4, 1, nullptr);
    if (fd < 0) GTEST_SKIP() << "cannot create BPF maps (needs root / CAP_BPF): " << strerror(-fd);
    close(fd);
    ncpus_ = libbpf_num_possible_cpus();
    ASSERT_GT(ncpus_, 0);
  }
  static int create(uint32_t type, uint32_t key, uint32_t value, uint32_t max) {
    int fd = bpf_map_create(static_cast<enum bpf_map_type>(type), "xlb_mig_test", key, value, max,
                            nullptr);
    EXPECT_GE(fd, 0) << strerror(-fd);
    return fd;
  }
  int ncpus_ = 1;
};

struct OldValue {  // a, b, c
  uint32_t a, b;
  uint64_t c;
};
struct NewValue {  // c, a, d: reordered, b dropped, d added
  uint64_t c;
  uint32_t a, d;
};

// Layouts read back from BTF the way the agent reads the kernel's and the object's.
std::pair<Layout, Layout> valueLayoutsFromBtf() {
  struct btf* b = btf__new_empty();
  int u32 = btf__add_int(b, "unsigned int", 4, 0);
  int u64 = btf__add_int(b, "unsigned long long", 8, 0);
  int td = btf__add_typedef(b, "__u32", u32);
  int old_id = btf__add_struct(b, "old_value", 16);
  btf__add_field(b, "a", td, 0, 0);
  btf__add_field(b, "b", u32, 32, 0);
  btf__add_field(b, "c", u64, 64, 0);
  int new_id = btf__add_struct(b, "new_value", 16);
  btf__add_field(b, "c", u64, 0, 0);
  btf__add_field(b, "a", u32, 64, 0);
  btf__add_field(b, "d", u32, 96, 0);
  auto from = layoutFromBtf(b, static_cast<uint32_t>(old_id));
  auto to = layoutFromBtf(b, static_cast<uint32_t>(new_id));
  btf__free(b);
  EXPECT_TRUE(from.ok() && to.ok());
  return {*from, *to};
}

TEST_F(MigrateKernel, HashFieldWiseThenCatchUpInsertsOnlyWhatIsMissing) {
  auto [from_l, to_l] = valueLayoutsFromBtf();
  ASSERT_EQ(from_l.members.size(), 3u);
  EXPECT_EQ(from_l.members[0].kind, "int");  // the typedef resolved
  MapShape from = shape(BPF_MAP_TYPE_LRU_HASH, 4, 16, 64, u32(), from_l);
  MapShape to = shape(BPF_MAP_TYPE_LRU_HASH, 4, 16, 64, u32(), to_l);
  MapPlan plan = planMap(from, to);
  ASSERT_EQ(plan.action, MapAction::kMigrate);
  EXPECT_EQ(plan.value.added, std::vector<std::string>{"d"});
  EXPECT_EQ(plan.value.dropped, std::vector<std::string>{"b"});

  Fd old_map(create(from.type, 4, 16, 64)), new_map(create(to.type, 4, 16, 64));
  for (uint32_t k = 1; k <= 5; ++k) {
    OldValue v{k * 10, 7, k * 1000ull};
    ASSERT_EQ(bpf_map_update_elem(old_map.fd, &k, &v, BPF_ANY), 0);
  }
  uint64_t not_fit = 0;
  auto copied = copyMapEntries(old_map.fd, from, new_map.fd, to, plan, ncpus_, 64, &not_fit);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(*copied, 5u);
  EXPECT_EQ(not_fit, 0u);
  for (uint32_t k = 1; k <= 5; ++k) {
    NewValue v{};
    ASSERT_EQ(bpf_map_lookup_elem(new_map.fd, &k, &v), 0);
    EXPECT_EQ(v.a, k * 10);
    EXPECT_EQ(v.c, k * 1000ull);
    EXPECT_EQ(v.d, 0u);
  }
  // Between the passes: the old program records two flows, the new one updates flow 1.
  for (uint32_t k = 6; k <= 7; ++k) {
    OldValue v{k * 10, 7, k * 1000ull};
    ASSERT_EQ(bpf_map_update_elem(old_map.fd, &k, &v, BPF_ANY), 0);
  }
  uint32_t one = 1;
  NewValue newer{42, 43, 44};
  ASSERT_EQ(bpf_map_update_elem(new_map.fd, &one, &newer, BPF_ANY), 0);
  auto more =
      copyMapEntries(old_map.fd, from, new_map.fd, to, plan, ncpus_, 64 - 5, &not_fit, true);
  ASSERT_TRUE(more.ok()) << more.status();
  EXPECT_EQ(*more, 2u);
  NewValue v{};
  ASSERT_EQ(bpf_map_lookup_elem(new_map.fd, &one, &v), 0);
  EXPECT_EQ(v.c, 42u);  // never overwritten by the older entry
  uint32_t seven = 7;
  ASSERT_EQ(bpf_map_lookup_elem(new_map.fd, &seven, &v), 0);
  EXPECT_EQ(v.a, 70u);
}

TEST_F(MigrateKernel, SmallerHashTakesUpToItsCapacity) {
  MapShape from = shape(BPF_MAP_TYPE_HASH, 4, 8, 16, u32(), Layout{"int", 8, {}});
  MapShape to = shape(BPF_MAP_TYPE_HASH, 4, 8, 4, u32(), Layout{"int", 8, {}});
  MapPlan plan = planMap(from, to);
  ASSERT_EQ(plan.action, MapAction::kMigrate);
  Fd old_map(create(from.type, 4, 8, 16)), new_map(create(to.type, 4, 8, 4));
  for (uint32_t k = 0; k < 10; ++k) {
    uint64_t v = k;
    ASSERT_EQ(bpf_map_update_elem(old_map.fd, &k, &v, BPF_ANY), 0);
  }
  uint64_t not_fit = 0;
  auto copied = copyMapEntries(old_map.fd, from, new_map.fd, to, plan, ncpus_, 4, &not_fit);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(*copied, 4u);
  EXPECT_EQ(not_fit, 6u);
}

TEST_F(MigrateKernel, PerCpuArrayKeepsEverySlotOfTheCommonRange) {
  MapShape from = shape(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 4, u32(), Layout{"int", 8, {}});
  MapShape to = shape(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 3, u32(), Layout{"int", 8, {}});
  MapPlan plan = planMap(from, to);
  ASSERT_EQ(plan.action, MapAction::kMigrate);
  Fd old_map(create(from.type, 4, 8, 4)), new_map(create(to.type, 4, 8, 3));
  std::vector<uint64_t> vals(static_cast<size_t>(ncpus_));
  for (uint32_t k = 0; k < 4; ++k) {
    for (int c = 0; c < ncpus_; ++c)
      vals[static_cast<size_t>(c)] = k * 100 + static_cast<uint64_t>(c);
    ASSERT_EQ(bpf_map_update_elem(old_map.fd, &k, vals.data(), BPF_ANY), 0);
  }
  uint64_t not_fit = 0;
  auto copied = copyMapEntries(old_map.fd, from, new_map.fd, to, plan, ncpus_, 3, &not_fit);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(*copied, 3u);
  EXPECT_EQ(not_fit, 1u);  // index 3 is beyond the new array
  for (uint32_t k = 0; k < 3; ++k) {
    ASSERT_EQ(bpf_map_lookup_elem(new_map.fd, &k, vals.data()), 0);
    for (int c = 0; c < ncpus_; ++c)
      EXPECT_EQ(vals[static_cast<size_t>(c)], k * 100 + static_cast<uint64_t>(c)) << k << "/" << c;
  }
}

TEST_F(MigrateKernel, MapInMapKeepsItsInnerMaps) {
  Fd inner(create(BPF_MAP_TYPE_ARRAY, 4, 4, 8));
  LIBBPF_OPTS(bpf_map_create_opts, opts, .inner_map_fd = static_cast<__u32>(inner.fd));
  Fd old_outer(bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "xlb_mig_outer", 4, 4, 2, &opts));
  Fd new_outer(bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "xlb_mig_outer", 4, 4, 4, &opts));
  ASSERT_GE(old_outer.fd, 0);
  ASSERT_GE(new_outer.fd, 0);
  uint32_t slot = 1;
  ASSERT_EQ(bpf_map_update_elem(old_outer.fd, &slot, &inner.fd, BPF_ANY), 0);
  MapShape from = shape(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, u32(), std::nullopt);
  MapShape to = shape(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 4, u32(), std::nullopt);
  MapPlan plan = planMap(from, to);
  ASSERT_EQ(plan.action, MapAction::kMigrate);
  uint64_t not_fit = 0;
  auto copied = copyMapEntries(old_outer.fd, from, new_outer.fd, to, plan, ncpus_, 4, &not_fit);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(*copied, 1u);  // slot 0 is empty: nothing to copy
  uint32_t old_id = 0, new_id = 0;
  ASSERT_EQ(bpf_map_lookup_elem(old_outer.fd, &slot, &old_id), 0);
  ASSERT_EQ(bpf_map_lookup_elem(new_outer.fd, &slot, &new_id), 0);
  EXPECT_EQ(new_id, old_id);
}

// The inner maps' value size grew (selection tables: u32 -> two-half slots): each inner map is
// rebuilt at the new size, every old value first and zero after it.
TEST_F(MigrateKernel, MapInMapRebuildsInnerMapsOfAnotherValueSize) {
  Fd old_tmpl(create(BPF_MAP_TYPE_ARRAY, 4, 4, 3));
  Fd new_tmpl(create(BPF_MAP_TYPE_ARRAY, 4, 8, 3));  // no BPF_F_INNER_MAP: sizes match
  Fd inner(create(BPF_MAP_TYPE_ARRAY, 4, 4, 3));
  LIBBPF_OPTS(bpf_map_create_opts, old_opts, .inner_map_fd = static_cast<__u32>(old_tmpl.fd));
  LIBBPF_OPTS(bpf_map_create_opts, new_opts, .inner_map_fd = static_cast<__u32>(new_tmpl.fd));
  Fd old_outer(bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "xlb_mig_outer", 4, 4, 2, &old_opts));
  Fd new_outer(bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "xlb_mig_outer", 4, 4, 2, &new_opts));
  ASSERT_GE(old_outer.fd, 0);
  ASSERT_GE(new_outer.fd, 0);
  for (uint32_t k = 0; k < 3; ++k) {
    uint32_t v = 0xA0 + k;
    ASSERT_EQ(bpf_map_update_elem(inner.fd, &k, &v, BPF_ANY), 0);
  }
  uint32_t slot = 1;
  ASSERT_EQ(bpf_map_update_elem(old_outer.fd, &slot, &inner.fd, BPF_ANY), 0);
  MapShape from = shape(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, u32(), std::nullopt);
  MapShape to = from;
  from.inner_flags = to.inner_flags = 0;
  from.inner_value_size = 4;
  to.inner_value_size = 8;
  MapPlan plan = planMap(from, to);
  ASSERT_EQ(plan.action, MapAction::kMigrate);
  uint64_t not_fit = 0;
  auto copied = copyMapEntries(old_outer.fd, from, new_outer.fd, to, plan, ncpus_, 2, &not_fit);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(*copied, 1u);
  uint32_t id = 0;
  ASSERT_EQ(bpf_map_lookup_elem(new_outer.fd, &slot, &id), 0);
  Fd rebuilt(bpf_map_get_fd_by_id(id));
  ASSERT_GE(rebuilt.fd, 0);
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(rebuilt.fd, &info, &len), 0);
  EXPECT_EQ(info.value_size, 8u);
  EXPECT_EQ(info.max_entries, 3u);
  for (uint32_t k = 0; k < 3; ++k) {
    uint32_t v[2] = {1, 1};
    ASSERT_EQ(bpf_map_lookup_elem(rebuilt.fd, &k, v), 0);
    EXPECT_EQ(v[0], 0xA0 + k);
    EXPECT_EQ(v[1], 0u);
  }
}

}  // namespace
}  // namespace xlb::dataplane
