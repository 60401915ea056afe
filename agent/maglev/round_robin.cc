// SPDX-License-Identifier: Apache-2.0
// Smooth weighted round-robin sequence construction.
#include "maglev/round_robin.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace xlb::maglev {

absl::StatusOr<std::vector<uint32_t>> buildRoundRobinSequence(
    std::span<const MaglevBackend> backends, uint32_t max_len) {
  std::vector<const MaglevBackend*> in;
  for (const auto& b : backends) {
    if (b.weight > 0) in.push_back(&b);
  }
  if (in.empty()) return std::vector<uint32_t>{};
  if (max_len < in.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "round-robin sequence of ", in.size(), " backends does not fit in ", max_len, " slots"));
  }
  std::sort(in.begin(), in.end(), [](auto* a, auto* b) { return a->key < b->key; });

  std::vector<uint64_t> w;
  for (auto* b : in) w.push_back(b->weight);
  uint64_t g = 0;
  for (uint64_t x : w) g = std::gcd(g, x);
  uint64_t total = 0;
  for (uint64_t& x : w) total += (x /= g);
  if (total > max_len) {
    // Scale so the sum fits: the floors keep it <= max_len, raising tiny weights to 1 may push it
    // over, and trimming the largest weight fixes that (it is > 1 while sum > max_len >= count).
    uint64_t scaled_total = 0;
    for (uint64_t& x : w) {
      x = std::max<uint64_t>(1, x * max_len / total);
      scaled_total += x;
    }
    while (scaled_total > max_len) {
      auto it = std::max_element(w.begin(), w.end());
      --*it;
      --scaled_total;
    }
    g = 0;
    for (uint64_t x : w) g = std::gcd(g, x);
    total = 0;
    for (uint64_t& x : w) total += (x /= g);
  }

  std::vector<uint32_t> seq;
  seq.reserve(total);
  std::vector<int64_t> current(w.size(), 0);
  for (uint64_t step = 0; step < total; ++step) {
    size_t best = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      current[i] += static_cast<int64_t>(w[i]);
      if (current[i] > current[best]) best = i;
    }
    current[best] -= static_cast<int64_t>(total);
    seq.push_back(in[best]->id);
  }
  return seq;
}

}  // namespace xlb::maglev
