// SPDX-License-Identifier: Apache-2.0
// Smooth weighted round-robin sequences for round_robin VIPs: the selection table the data plane
// walks slot by slot (one counter per CPU).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "maglev/maglev.h"

namespace xlb::maglev {

// The nginx "smooth weighted round-robin" order (each step every backend gains its weight, the
// richest is picked and pays the total), which interleaves backends instead of sending runs:
// weights A1 B2 C1 give B A C B. One full period: sum(weights) / gcd(weights) entries. When that
// exceeds max_len, weights are scaled down proportionally (each positive weight keeps at least 1)
// so the sequence fits; the shares then deviate by at most one entry per backend. Backends are
// visited in key order (ties go to the smaller key), so the sequence is deterministic; weight 0
// is excluded; no positive weight yields an empty sequence. INVALID_ARGUMENT when max_len is
// smaller than the number of weighted backends.
absl::StatusOr<std::vector<uint32_t>> buildRoundRobinSequence(
    std::span<const MaglevBackend> backends, uint32_t max_len);

}  // namespace xlb::maglev
