// SPDX-License-Identifier: Apache-2.0
// What one lookup of a name produced, in the terms the failure rules need (README "Backends by
// name"): the vocabulary shared by the resolver, the per-name state machine and the pool planner.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/address.h"

namespace xlb::discovery {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

enum class Outcome {
  kOk,        // NOERROR with records
  kEmpty,     // NOERROR without a record of the asked type
  kNxDomain,  // the name does not exist
  kFailure,   // timeout, SERVFAIL, REFUSED, unreachable server, malformed answer
};
const char* outcomeName(Outcome o);  // "ok", "empty", "nxdomain", "failure"
// Wall-clock unix milliseconds (what sources and metrics report; timing uses Clock).
uint64_t unixMsNow();

// One backend an answer names.
struct Record {
  IpAddress address;
  uint16_t port = 0;  // 0 = the pool's port (A/AAAA); the record's port for SRV
  uint32_t weight = 1;
  std::string record;  // "A", "AAAA", or the SRV target "host:port prio/weight"
  auto operator<=>(const Record&) const = default;
};

struct Answer {
  Outcome outcome = Outcome::kFailure;
  std::vector<Record> records;  // kOk only
  uint32_t ttl_s = 0;           // the smallest TTL of the answer (CNAMEs included); kOk only
  std::string error;            // kFailure: why ("timeout", "SERVFAIL", ...)
  // kNxDomain / kEmpty: how long the negative answer may be cached (RFC 2308 §5, wire.h), when
  // every negative answer it came from carried an SOA; nullopt otherwise (ask after min_ttl).
  std::optional<uint32_t> negative_ttl_s;
};

}  // namespace xlb::discovery
