// SPDX-License-Identifier: Apache-2.0
// The per-name failure rules (name_state.h).
#include "discovery/name_state.h"

#include <algorithm>
#include <set>
#include <utility>

namespace xlb::discovery {

const char* outcomeName(Outcome o) {
  switch (o) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kEmpty:
      return "empty";
    case Outcome::kNxDomain:
      return "nxdomain";
    case Outcome::kFailure:
      return "failure";
  }
  return "failure";
}

uint64_t unixMsNow() {
  return std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {
constexpr Millis kMaxFailureRetry{10000};
}  // namespace

NameState::NameState(NameTiming timing, std::function<double()> jitter)
    : timing_(timing), jitter_(std::move(jitter)) {}

void NameState::seed(std::vector<Record> records) {
  std::sort(records.begin(), records.end());
  records_ = std::move(records);
}

Millis NameState::refreshAfter(Millis base) const {
  Millis clamped = std::clamp(base, timing_.min_ttl, timing_.max_ttl);
  // Jitter only ever delays: a refresh never comes before the TTL ran out.
  const double j = std::clamp(jitter_ ? jitter_() : 0.0, 0.0, 1.0);
  return clamped + Millis(static_cast<int64_t>(static_cast<double>(clamped.count()) * 0.1 * j));
}

bool NameState::onAnswer(const Answer& answer, Clock::time_point now) {
  ++answers_;
  if (answer.outcome == Outcome::kFailure) {
    stale_ = true;
    last_error_ = answer.error.empty() ? "failure" : answer.error;
    const Millis cap = std::min(kMaxFailureRetry, timing_.max_ttl);
    Millis wait = timing_.min_ttl;
    for (int i = 0; i < failures_ && wait < cap; ++i) wait *= 2;
    ++failures_;
    next_ = now + std::max(timing_.min_ttl, std::min(wait, cap));
    return false;
  }
  stale_ = false;
  failures_ = 0;
  std::vector<Record> got;
  if (answer.outcome == Outcome::kOk) {
    last_error_.clear();
    last_ok_unix_ms_ = unixMsNow();
    got = answer.records;
    next_ = now + refreshAfter(Millis(int64_t{answer.ttl_s} * 1000));
  } else {
    last_error_ = outcomeName(answer.outcome);
    // RFC 2308: the negative answer holds for its SOA's negative TTL (clamped and jittered like a
    // positive one); without an SOA there is nothing to go by: ask again after min_ttl.
    const Millis negative =
        answer.negative_ttl_s ? Millis(int64_t{*answer.negative_ttl_s} * 1000) : timing_.min_ttl;
    next_ = now + refreshAfter(negative);
  }
  std::sort(got.begin(), got.end());
  got.erase(std::unique(got.begin(), got.end()), got.end());
  // Records of the set this answer lacks: kept until held long enough, over two answers.
  // A record is identified by address and port (an SRV weight change is the same backend).
  std::set<std::pair<IpAddress, uint16_t>> present;
  for (const Record& r : got) present.emplace(r.address, r.port);
  std::vector<Record> next = got;
  std::map<Record, Missing> missing;
  for (const Record& r : records_) {
    if (present.count({r.address, r.port})) continue;
    Missing m = missing_.count(r) ? missing_[r] : Missing{0, now};
    ++m.answers;
    if (m.answers >= 2 && now - m.since >= timing_.hold_empty) continue;  // dropped
    missing.emplace(r, m);
    next.push_back(r);
  }
  missing_ = std::move(missing);
  std::sort(next.begin(), next.end());
  if (next == records_) return false;
  records_ = std::move(next);
  return true;
}

}  // namespace xlb::discovery
