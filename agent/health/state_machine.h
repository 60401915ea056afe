// SPDX-License-Identifier: Apache-2.0
// Rise/fall hysteresis for one backend: turns a stream of probe results into up/down transitions.
#pragma once

#include <optional>
#include <string>

#include "health/types.h"

namespace xlb::health {

struct Transition {
  Health from = Health::kUnknown;
  Health to = Health::kUnknown;
  Clock::time_point at;
  std::string reason;
};

// A backend starts kUnknown, which the balancer treats like up so that a freshly configured VIP carries
// traffic at once. The first success makes it kUp; `fall` consecutive failures make it kDown (from
// kUnknown as well as kUp); `rise` consecutive successes bring a kDown backend back.
class HealthStateMachine {
 public:
  // `initial` kDown: a verdict carried over (from a previous agent) that needs `rise` successes.
  HealthStateMachine(uint32_t rise, uint32_t fall, Health initial = Health::kUnknown);

  // Feeds one result; returns the transition it caused, if any.
  std::optional<Transition> onResult(const ProbeResult& result, Clock::time_point now);

  Health health() const { return health_; }
  const std::optional<Transition>& lastTransition() const { return last_; }
  const std::string& lastReason() const { return last_reason_; }
  uint32_t consecutiveSuccesses() const { return successes_; }
  uint32_t consecutiveFailures() const { return failures_; }

  // New thresholds keep the current health and counts.
  void setThresholds(uint32_t rise, uint32_t fall);

 private:
  uint32_t rise_;
  uint32_t fall_;
  Health health_ = Health::kUnknown;
  uint32_t successes_ = 0;
  uint32_t failures_ = 0;
  std::string last_reason_;
  std::optional<Transition> last_;
};

}  // namespace xlb::health
