// SPDX-License-Identifier: Apache-2.0
// The resolver seam: one DNS question in, one Answer out through a callback, never blocking the
// caller. CaresResolver is the production implementation (c-ares, its sockets polled by the
// discovery thread); tests use a fake. lookupName / lookupSrv compose questions into what a pool
// needs (A + AAAA for family any; SRV, then the targets' addresses).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "discovery/answer.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::discovery {

enum class QueryType { kA, kAAAA, kSrv };

class Resolver {
 public:
  using Callback = std::function<void(Answer)>;
  virtual ~Resolver() = default;
  // Starts one question; `done` runs later, from process(), exactly once. For kSrv the records
  // carry no address: `record` is "target:port prio/weight" and port/weight are set, and only
  // the lowest priority's targets are returned.
  virtual void query(const std::string& name, QueryType type, Callback done) = 0;
  // Waits up to `max` for answers and runs the callbacks of the questions that completed (or
  // timed out).
  virtual void process(std::chrono::milliseconds max) = 0;
  // Questions not answered yet.
  virtual size_t inFlight() const = 0;
  // The resolver configuration changed: new questions use it (questions in flight finish first).
  virtual absl::Status reload() = 0;
};

// Either A/AAAA lookup combined by `family`: records from any answer make it ok (TTL: the
// smallest); otherwise a failure of either question is a failure (the set is kept), else NXDOMAIN
// when either said so, else empty.
void lookupName(Resolver& r, const std::string& name, v1::DnsFamily family,
                Resolver::Callback done);
// SRV, then the addresses of each target of the lowest priority (family any): one Record per
// address, with the SRV port and weight (0 counts as 1). A target without addresses is left out;
// if no target has one the answer is empty; a failed target lookup fails the whole answer.
void lookupSrv(Resolver& r, const std::string& name, Resolver::Callback done);

// c-ares, reading nameservers and search domains from `resolv_conf` (each reload() re-reads it),
// asking the nameservers on `port`. Timeout per try 1 s, 2 tries. A NXDOMAIN or NODATA answer
// carries its negative TTL (Answer::negative_ttl_s) when every answer of the search-list walk had
// an SOA in its authority section.
absl::StatusOr<std::unique_ptr<Resolver>> makeCaresResolver(const std::string& resolv_conf,
                                                            uint16_t port = 53);

}  // namespace xlb::discovery
