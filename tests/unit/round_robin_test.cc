// SPDX-License-Identifier: Apache-2.0
// Smooth weighted round-robin sequences: exact order for small weights, exact shares, scaling.
#include "maglev/round_robin.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

namespace xlb::maglev {
namespace {

using ::testing::ElementsAre;

std::map<uint32_t, size_t> shares(const std::vector<uint32_t>& seq) {
  std::map<uint32_t, size_t> out;
  for (uint32_t id : seq) ++out[id];
  return out;
}

TEST(RoundRobinTest, SmoothOrderInterleavesByWeight) {
  // A=1 B=2 C=1 (ids 10, 20, 30): every step each backend gains its weight, the richest (ties to
  // the smaller key) is picked and pays the total 4. B A C B: B never twice in a row.
  std::vector<MaglevBackend> b = {{10, "a", 1}, {20, "b", 2}, {30, "c", 1}};
  auto seq = buildRoundRobinSequence(b, 1021);
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_THAT(*seq, ElementsAre(20, 10, 30, 20));
  // 5:1:1 (the nginx example): a a b a c a a, spread instead of five a's in a row.
  std::vector<MaglevBackend> n = {{1, "a", 5}, {2, "b", 1}, {3, "c", 1}};
  EXPECT_THAT(*buildRoundRobinSequence(n, 1021), ElementsAre(1, 1, 2, 1, 3, 1, 1));
}

TEST(RoundRobinTest, PeriodIsSumOverGcdAndInputOrderDoesNotMatter) {
  std::vector<MaglevBackend> b = {{3, "c", 30}, {1, "a", 10}, {2, "b", 20}};
  auto seq = buildRoundRobinSequence(b, 1021);
  ASSERT_TRUE(seq.ok());
  EXPECT_THAT(*seq, ElementsAre(3, 2, 1, 3, 2, 3));  // weights 1:2:3 -> c b a c b c
  std::vector<MaglevBackend> reversed(b.rbegin(), b.rend());
  EXPECT_EQ(*buildRoundRobinSequence(reversed, 1021), *seq);
}

TEST(RoundRobinTest, ZeroWeightsAreSkippedAndEmptyInputGivesEmptySequence) {
  std::vector<MaglevBackend> b = {{1, "a", 0}, {2, "b", 3}};
  EXPECT_THAT(*buildRoundRobinSequence(b, 1021), ElementsAre(2));
  std::vector<MaglevBackend> none = {{1, "a", 0}};
  EXPECT_TRUE(buildRoundRobinSequence(none, 1021)->empty());
}

TEST(RoundRobinTest, ExactSharesForCoprimeWeights) {
  std::vector<MaglevBackend> b = {{1, "a", 7}, {2, "b", 11}, {3, "c", 13}, {4, "d", 1}};
  auto seq = buildRoundRobinSequence(b, 65537);
  ASSERT_TRUE(seq.ok());
  ASSERT_EQ(seq->size(), 32u);
  auto s = shares(*seq);
  EXPECT_EQ(s[1], 7u);
  EXPECT_EQ(s[2], 11u);
  EXPECT_EQ(s[3], 13u);
  EXPECT_EQ(s[4], 1u);
  // Smoothness: within any window of `total` consecutive slots of the repeated sequence each
  // backend appears its weight times, and the heaviest never waits more than ceil(32/13)+1 slots.
  size_t last = 0, worst = 0;
  bool seen = false;
  for (size_t i = 0; i < 2 * seq->size(); ++i) {
    if ((*seq)[i % seq->size()] != 3) continue;
    if (seen) worst = std::max(worst, i - last);
    last = i;
    seen = true;
  }
  EXPECT_LE(worst, 4u);
}

TEST(RoundRobinTest, ScalesDownProportionallyToFit) {
  // 60000 + 30000 + 9999 + 1: the period would be 100000 > M 1021.
  std::vector<MaglevBackend> b = {{1, "a", 60000}, {2, "b", 30000}, {3, "c", 9999}, {4, "d", 1}};
  auto seq = buildRoundRobinSequence(b, 1021);
  ASSERT_TRUE(seq.ok());
  EXPECT_LE(seq->size(), 1021u);
  auto s = shares(*seq);
  const double n = static_cast<double>(seq->size());
  EXPECT_NEAR(s[1] / n, 0.60, 0.01);
  EXPECT_NEAR(s[2] / n, 0.30, 0.01);
  EXPECT_NEAR(s[3] / n, 0.10, 0.01);
  EXPECT_EQ(s[4], 1u);  // a positive weight never scales to nothing
}

TEST(RoundRobinTest, TooManyBackendsForTheTableIsAnError) {
  std::vector<MaglevBackend> b = {{1, "a", 1}, {2, "b", 1}, {3, "c", 1}};
  EXPECT_EQ(buildRoundRobinSequence(b, 2).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace xlb::maglev
