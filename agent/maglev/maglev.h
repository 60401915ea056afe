// SPDX-License-Identifier: Apache-2.0
// Weighted Maglev lookup-table construction (Eisenbud et al., NSDI'16 §3.4): pure and
// deterministic.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace xlb::maglev {

struct MaglevBackend {
  uint32_t id;      // value written into the table (the data plane's backend id)
  std::string key;  // stable identity (e.g. the backend address): drives the permutation, not `id`
  uint32_t weight;  // relative share of slots; 0 = excluded from the table
};

// Returns `m` backend ids (m must be prime). Backends with weight 0 get no slot; no backend with a
// positive weight yields an empty table. Deterministic across processes and independent of the
// order of `backends` (they are visited in key order), so a restarted agent rebuilds the same
// table.
absl::StatusOr<std::vector<uint32_t>> buildTable(std::span<const MaglevBackend> backends,
                                                 uint32_t m);

bool isPrime(uint32_t n);

}  // namespace xlb::maglev
