// SPDX-License-Identifier: Apache-2.0
// The failure rules of one name (README "Backends by name"), pure and clock-injected: it owns the
// name's last good set, its stale flag, the empty/NXDOMAIN hold and when to ask again.
//  - ok: the set is the answer; refresh after the TTL clamped to [min_ttl, max_ttl] plus 0-10 %
//    jitter (never earlier, so at most one query per clamped TTL; TTL 0 means min_ttl);
//  - NXDOMAIN / NODATA: asked again after the answer's negative TTL (RFC 2308: min of the SOA's
//    TTL and MINIMUM) clamped and jittered the same way, or after min_ttl when it had no SOA;
//  - failure (timeout, SERVFAIL, REFUSED): the set is kept however long it lasts, stale is raised;
//    retried after min_ttl, doubling up to 10 s (bounded by max_ttl);
//  - a record missing from an answer (an ok answer without it, an empty or NXDOMAIN answer) is
//    dropped only once hold_empty has passed since the first of at least two answers in a row
//    without it (an answer with it resets the count; a failure is no answer and does not count).
//    New records join at once (HAProxy's DOWN->UP is immediate too).
#pragma once

#include <functional>
#include <map>
#include <vector>

#include "discovery/answer.h"

namespace xlb::discovery {

struct NameTiming {
  Millis min_ttl{1000};
  Millis max_ttl{300000};
  Millis hold_empty{30000};
};

class NameState {
 public:
  // `jitter` returns a uniform value in [0, 1) (tests pass a fixed one).
  NameState(NameTiming timing, std::function<double()> jitter);

  // A restored last good set (saved state): used until the first answer; the name is not stale.
  void seed(std::vector<Record> records);
  // The next query goes out at once (the resolver configuration changed).
  void askNow() { next_ = Clock::time_point{}; }
  // Feeds one answer received at `now`. True when the name's set changed.
  bool onAnswer(const Answer& answer, Clock::time_point now);

  const std::vector<Record>& records() const { return records_; }
  bool stale() const { return stale_; }
  // Some record missing from the answers is being held (still in the set).
  bool holdingEmpty() const { return !missing_.empty(); }
  Clock::time_point nextQuery() const { return next_; }
  const std::string& lastError() const { return last_error_; }
  // Answers seen since creation (any outcome), and the wall time of the last ok answer.
  uint64_t answers() const { return answers_; }
  uint64_t lastOkUnixMs() const { return last_ok_unix_ms_; }
  const NameTiming& timing() const { return timing_; }

 private:
  Millis refreshAfter(Millis base) const;

  NameTiming timing_;
  std::function<double()> jitter_;
  std::vector<Record> records_;
  bool stale_ = false;
  struct Missing {
    int answers = 0;
    Clock::time_point since{};
  };
  std::map<Record, Missing> missing_;  // records of the set the last answers lacked
  int failures_ = 0;
  Clock::time_point next_{};  // epoch: ask at once
  std::string last_error_;
  uint64_t answers_ = 0;
  uint64_t last_ok_unix_ms_ = 0;
};

}  // namespace xlb::discovery
