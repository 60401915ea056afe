// SPDX-License-Identifier: Apache-2.0
// ChunkedMap (agent/state/chunked_map.h) against std::map under random inserts, replacements and
// removals; copies that share chunks stay independent; a change copies one chunk, not the map.
#include "state/chunked_map.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

namespace xlb::state {
namespace {

using Small = ChunkedMap<int, std::string, 4>;  // small chunks: splits and merges happen often

template <class M>
std::map<int, std::string> asStdMap(const M& m) {
  std::map<int, std::string> out;
  int prev = 0;
  bool first = true;
  for (const auto& [k, v] : m) {
    EXPECT_TRUE(first || prev < k) << "keys out of order at " << k;
    first = false;
    prev = k;
    out.emplace(k, v);
  }
  EXPECT_EQ(out.size(), m.size());
  return out;
}

TEST(PlannerChunkedMap, MatchesStdMapUnderRandomChanges) {
  std::mt19937 rng(7);
  Small m;
  std::map<int, std::string> ref;
  for (int step = 0; step < 20000; ++step) {
    const int k = static_cast<int>(rng() % 500);
    switch (rng() % 3) {
      case 0:
      case 1: {
        const std::string v = std::to_string(step);
        m.set(k, v);
        ref[k] = v;
        break;
      }
      default:
        EXPECT_EQ(m.erase(k), ref.erase(k) == 1) << k;
    }
    if (step % 997 == 0) {
      ASSERT_EQ(asStdMap(m), ref) << "after step " << step;
    }
  }
  ASSERT_EQ(asStdMap(m), ref);
  for (int k = -1; k <= 501; ++k) {
    auto it = ref.find(k);
    const std::string* v = m.get(k);
    ASSERT_EQ(v != nullptr, it != ref.end()) << k;
    if (v != nullptr) {
      EXPECT_EQ(*v, it->second);
    }
    EXPECT_EQ(m.contains(k), ref.count(k) == 1);
    auto lb = m.lower_bound(k);
    auto rlb = ref.lower_bound(k);
    ASSERT_EQ(lb == m.end(), rlb == ref.end()) << k;
    if (rlb != ref.end()) {
      EXPECT_EQ(lb->first, rlb->first);
    }
    auto ub = m.upper_bound(k);
    auto rub = ref.upper_bound(k);
    ASSERT_EQ(ub == m.end(), rub == ref.end()) << k;
    if (rub != ref.end()) {
      EXPECT_EQ(ub->first, rub->first);
    }
  }
  std::vector<std::string> values;
  for (const std::string& v : m.values()) values.push_back(v);
  std::vector<std::string> ref_values;
  for (const auto& [k, v] : ref) ref_values.push_back(v);
  EXPECT_EQ(values, ref_values);
  // Removing everything leaves an empty map with no chunk.
  for (const auto& [k, v] : ref) ASSERT_TRUE(m.erase(k));
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.chunkCount(), 0u);
  EXPECT_EQ(m.begin(), m.end());
}

TEST(PlannerChunkedMap, CopiesShareChunksAndStayIndependent) {
  ChunkedMap<int, int, 64> a;
  for (int k = 0; k < 10000; ++k) a.set(k, k);
  const size_t chunks = a.chunkCount();
  ASSERT_GE(chunks, 10000u / 128);
  ASSERT_LE(chunks, 10000u / 64 + 1);

  ChunkedMap<int, int, 64> b = a;  // a plan's copy of the model
  for (size_t i = 0; i < chunks; ++i) ASSERT_TRUE(b.sharesChunkWith(a, i)) << i;

  b.set(5000, -1);  // one replaced value: one chunk copied
  size_t shared = 0;
  for (size_t i = 0; i < chunks; ++i) shared += b.sharesChunkWith(a, i);
  EXPECT_EQ(shared, chunks - 1);
  EXPECT_EQ(*a.get(5000), 5000) << "the original changed with its copy";
  EXPECT_EQ(*b.get(5000), -1);

  b.erase(17);  // another chunk
  b.set(100000, 1);  // appended to the last one
  EXPECT_EQ(a.size(), 10000u);
  EXPECT_EQ(b.size(), 10000u);
  EXPECT_TRUE(a.contains(17));
  EXPECT_FALSE(b.contains(17));
  EXPECT_FALSE(a.contains(100000));
  EXPECT_EQ(b.back().first, 100000);
  EXPECT_EQ(a.back().first, 9999);

  // The chunk b no longer shares is b's own: a second change to it copies nothing more.
  size_t after_one = 0;
  for (size_t i = 0; i < chunks; ++i) after_one += b.sharesChunkWith(a, i);
  b.set(5001, -2);
  size_t after_two = 0;
  for (size_t i = 0; i < chunks; ++i) after_two += b.sharesChunkWith(a, i);
  EXPECT_EQ(after_two, after_one);
  EXPECT_EQ(*a.get(5001), 5001);
}

}  // namespace
}  // namespace xlb::state
