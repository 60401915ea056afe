// SPDX-License-Identifier: Apache-2.0
// Unit tests for weighted Maglev: balance, weights, minimal disruption, determinism, edge cases.
#include "maglev/maglev.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>

namespace xlb::maglev {
namespace {

std::vector<MaglevBackend> makeBackends(int n, uint32_t weight = 1) {
  std::vector<MaglevBackend> out;
  for (int i = 0; i < n; ++i) {
    out.push_back({static_cast<uint32_t>(i),
                   "10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256), weight});
  }
  return out;
}

std::map<uint32_t, int> countSlots(const std::vector<uint32_t>& table) {
  std::map<uint32_t, int> counts;
  for (uint32_t id : table) counts[id]++;
  return counts;
}

TEST(MaglevTest, IsPrime) {
  EXPECT_FALSE(isPrime(0));
  EXPECT_FALSE(isPrime(1));
  EXPECT_TRUE(isPrime(2));
  EXPECT_TRUE(isPrime(1021));
  EXPECT_TRUE(isPrime(65537));
  EXPECT_TRUE(isPrime(1000003));
  EXPECT_FALSE(isPrime(65536));
  EXPECT_FALSE(isPrime(1000001));
  EXPECT_TRUE(isPrime(4294967291u));  // largest 32-bit prime: no overflow in the trial division
}

TEST(MaglevTest, EqualWeightsAreBalancedWithinOnePercent) {
  for (int n : {10, 37, 100}) {
    auto table = buildTable(makeBackends(n), 65537);
    ASSERT_TRUE(table.ok()) << table.status();
    ASSERT_EQ(table->size(), 65537u);
    auto counts = countSlots(*table);
    ASSERT_EQ(counts.size(), static_cast<size_t>(n));
    int mx = 0, mn = 1 << 30;
    for (auto [id, c] : counts) {
      mx = std::max(mx, c);
      mn = std::min(mn, c);
    }
    EXPECT_LE(mx - mn, static_cast<int>(0.01 * 65537 / n) + 1) << "n=" << n;
  }
}

TEST(MaglevTest, WeightsAreHonoured) {
  std::vector<MaglevBackend> backends = {
      {0, "10.0.0.1", 1}, {1, "10.0.0.2", 2}, {2, "10.0.0.3", 3}, {3, "10.0.0.4", 10}};
  auto table = buildTable(backends, 65537);
  ASSERT_TRUE(table.ok());
  auto counts = countSlots(*table);
  double total_weight = 16;
  for (const auto& b : backends) {
    double expected = 65537 * b.weight / total_weight;
    EXPECT_NEAR(counts[b.id], expected, expected * 0.01 + 1) << b.key;
  }
}

TEST(MaglevTest, ZeroWeightBackendsGetNoSlots) {
  std::vector<MaglevBackend> backends = {{0, "a", 1}, {1, "b", 0}, {2, "c", 1}};
  auto table = buildTable(backends, 1021);
  ASSERT_TRUE(table.ok());
  auto counts = countSlots(*table);
  EXPECT_EQ(counts.count(1), 0u);
  EXPECT_EQ(counts[0] + counts[2], 1021);
}

TEST(MaglevTest, RemovingOneBackendMovesLittleElse) {
  for (int n : {10, 100}) {
    auto before = makeBackends(n);
    auto after = before;
    after.erase(after.begin() + n / 2);
    uint32_t removed = before[n / 2].id;
    auto t1 = buildTable(before, 65537);
    auto t2 = buildTable(after, 65537);
    ASSERT_TRUE(t1.ok() && t2.ok());
    int extra = 0;
    for (size_t i = 0; i < t1->size(); ++i) {
      if ((*t1)[i] != removed && (*t1)[i] != (*t2)[i]) ++extra;
    }
    EXPECT_LE(extra, 65537 / 100) << "n=" << n << ": " << extra
                                  << " slots of surviving backends moved";
  }
}

TEST(MaglevTest, AddingOneBackendMovesLittleElse) {
  auto before = makeBackends(50);
  auto after = makeBackends(51);
  auto t1 = buildTable(before, 65537);
  auto t2 = buildTable(after, 65537);
  ASSERT_TRUE(t1.ok() && t2.ok());
  int moved_not_to_new = 0;
  for (size_t i = 0; i < t1->size(); ++i) {
    if ((*t1)[i] != (*t2)[i] && (*t2)[i] != 50) ++moved_not_to_new;
  }
  EXPECT_LE(moved_not_to_new, 65537 / 100);
}

TEST(MaglevTest, DeterministicAndOrderIndependent) {
  auto backends = makeBackends(20);
  auto t1 = buildTable(backends, 65537);
  std::reverse(backends.begin(), backends.end());
  auto t2 = buildTable(backends, 65537);
  ASSERT_TRUE(t1.ok() && t2.ok());
  EXPECT_EQ(*t1, *t2);
}

TEST(MaglevTest, PermutationFollowsKeyNotId) {
  // Renumbering ids must not move slots between backends: the same key owns the same slots.
  auto backends = makeBackends(8);
  auto t1 = buildTable(backends, 1021);
  for (auto& b : backends) b.id += 100;
  auto t2 = buildTable(backends, 1021);
  ASSERT_TRUE(t1.ok() && t2.ok());
  for (size_t i = 0; i < t1->size(); ++i) EXPECT_EQ((*t1)[i] + 100, (*t2)[i]);
}

TEST(MaglevTest, EdgeCases) {
  auto empty = buildTable({}, 65537);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());

  std::vector<MaglevBackend> all_zero = {{0, "a", 0}, {1, "b", 0}};
  auto zero = buildTable(all_zero, 1021);
  ASSERT_TRUE(zero.ok());
  EXPECT_TRUE(zero->empty());

  std::vector<MaglevBackend> one = {{7, "only", 3}};
  auto single = buildTable(one, 1021);
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(countSlots(*single)[7], 1021);

  EXPECT_EQ(buildTable(one, 65536).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(buildTable(makeBackends(20), 17).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<MaglevBackend> dup = {{0, "a", 1}, {1, "a", 1}};
  EXPECT_EQ(buildTable(dup, 1021).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MaglevTest, ExtremeWeightsStillFillTheTable) {
  std::vector<MaglevBackend> backends = {{0, "heavy", 65535}, {1, "light", 1}};
  auto table = buildTable(backends, 65537);
  ASSERT_TRUE(table.ok());
  auto counts = countSlots(*table);
  EXPECT_EQ(counts[0] + counts[1], 65537);
  EXPECT_LE(counts[1], 3);
}

TEST(MaglevTest, ThousandBackendsIsFast) {
  auto backends = makeBackends(1000);
  auto start = std::chrono::steady_clock::now();
  auto table = buildTable(backends, 65537);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(countSlots(*table).size(), 1000u);
  EXPECT_LT(ms, 200) << "1000 backends x 65537 took " << ms << " ms";
}

}  // namespace
}  // namespace xlb::maglev
