// SPDX-License-Identifier: Apache-2.0
// From the names' current sets to a VIP's discovered backends (pure): owns the pool-level rules.
//  - union of the names' records in config order; a backend the operator lists literally, or an
//    earlier name already gave, is not added twice;
//  - a pool never becomes empty through discovery unless allow_empty (the last active set stays);
//  - a backend that left every answer drains (state draining, source.gone_unix_ms set) and is
//    removed once its open flows reach 0 or drain_limit passed; one that comes back is active
//    again;
//  - a backend the operator drained stays drained.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "discovery/answer.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::discovery {

struct NameSet {
  std::string name;
  v1::BackendSourceKind kind = v1::BACKEND_SOURCE_KIND_DNS;
  const std::vector<Record>* records = nullptr;
};

struct PoolPlan {
  std::vector<v1::Backend> backends;  // the VIP's discovered backends as they should be
  bool changed = false;               // differs from the spec's
  bool kept_nonempty = false;         // the answers would empty the pool; the last set was kept
  std::vector<std::string> added, draining, removed;  // labels, for events and logs
};

// `spec`: the VIP as applied (literals and discovered backends); `open_flows` of a discovered
// backend (nullopt: unknown, i.e. wait for drain_limit).
PoolPlan planPool(const v1::Vip& spec, const std::vector<NameSet>& names, uint64_t now_unix_ms,
                  const std::function<std::optional<uint64_t>(const v1::Backend&)>& open_flows);

// The records a name's discovered backends in `spec` stand for (the saved last good set), in the
// form a fresh answer gives them. Draining ones are left out.
std::vector<Record> recordsOf(const v1::Vip& spec, const std::string& name);

}  // namespace xlb::discovery
