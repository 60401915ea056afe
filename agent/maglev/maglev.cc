// SPDX-License-Identifier: Apache-2.0
// Weighted Maglev population (NSDI'16 §3.4, Pseudocode 1) with a credit scheme for weights.
#include "maglev/maglev.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace xlb::maglev {
namespace {

// Stable 64-bit hash of a byte string: FNV-1a followed by the murmur3 finalizer for avalanche. We
// can not use std::hash or absl::Hash: both may differ between processes, and a restarted agent
// must produce the same table or established flows would move.
uint64_t stableHash(const std::string& s, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ULL ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

// Two independent seeds give the paper's h1 (offset) and h2 (skip).
constexpr uint64_t kOffsetSeed = 0x5851f42d4c957f2dULL;
constexpr uint64_t kSkipSeed = 0x14057b7ef767814fULL;

uint32_t advance(uint32_t pos, uint32_t skip, uint32_t m) {
  uint64_t p = uint64_t{pos} + skip;  // skip < m, so one subtraction is enough
  return static_cast<uint32_t>(p >= m ? p - m : p);
}

}  // namespace

bool isPrime(uint32_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint64_t d = 3; d * d <= n; d += 2) {
    if (n % d == 0) return false;
  }
  return true;
}

absl::StatusOr<std::vector<uint32_t>> buildTable(std::span<const MaglevBackend> backends,
                                                 uint32_t m) {
  if (!isPrime(m)) {
    return absl::InvalidArgumentError(absl::StrCat("maglev table size ", m, " is not a prime"));
  }
  // Visit backends in key order so the caller's ordering cannot change the result.
  std::vector<const MaglevBackend*> live;
  for (const auto& b : backends) {
    if (b.weight > 0) live.push_back(&b);
  }
  if (live.empty()) return std::vector<uint32_t>{};
  std::sort(live.begin(), live.end(),
            [](const MaglevBackend* a, const MaglevBackend* b) { return a->key < b->key; });
  for (size_t i = 1; i < live.size(); ++i) {
    if (live[i]->key == live[i - 1]->key) {
      return absl::InvalidArgumentError(
          absl::StrCat("maglev backend key \"", live[i]->key, "\" appears twice"));
    }
  }
  if (live.size() > m) {
    return absl::InvalidArgumentError(
        absl::StrCat("maglev table size ", m, " is smaller than ", live.size(), " backends"));
  }

  const size_t n = live.size();
  // pos[i] is backend i's current permutation entry (offset + j*skip) mod m, advanced
  // incrementally.
  std::vector<uint32_t> pos(n), skip(n);
  std::vector<uint64_t> credit(n, 0);
  uint32_t max_weight = 0;
  for (size_t i = 0; i < n; ++i) {
    pos[i] = static_cast<uint32_t>(stableHash(live[i]->key, kOffsetSeed) % m);
    skip[i] = static_cast<uint32_t>(stableHash(live[i]->key, kSkipSeed) % (m - 1) + 1);
    max_weight = std::max(max_weight, live[i]->weight);
  }

  constexpr uint32_t kEmpty = UINT32_MAX;
  std::vector<uint32_t> table(m, kEmpty);
  uint32_t filled = 0;
  // Each round every backend earns `weight` credit and claims one preferred slot per `max_weight`
  // credit, so the heaviest backend claims one slot per round and the others proportionally fewer.
  // With equal weights this is exactly the paper's round robin.
  while (true) {
    for (size_t i = 0; i < n; ++i) {
      credit[i] += live[i]->weight;
      while (credit[i] >= max_weight) {
        credit[i] -= max_weight;
        // Walk backend i's permutation to its next free slot.
        while (table[pos[i]] != kEmpty) pos[i] = advance(pos[i], skip[i], m);
        table[pos[i]] = live[i]->id;
        pos[i] = advance(pos[i], skip[i], m);
        if (++filled == m) return table;
      }
    }
  }
}

}  // namespace xlb::maglev
