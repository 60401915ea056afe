// SPDX-License-Identifier: Apache-2.0
// Rise/fall hysteresis implementation.
#include "health/state_machine.h"

#include <algorithm>

namespace xlb::health {

const char* healthName(Health h) {
  switch (h) {
    case Health::kUnknown: return "unknown";
    case Health::kUp: return "up";
    case Health::kDown: return "down";
  }
  return "unknown";
}

HealthStateMachine::HealthStateMachine(uint32_t rise, uint32_t fall, Health initial)
    : rise_(std::max<uint32_t>(rise, 1)), fall_(std::max<uint32_t>(fall, 1)), health_(initial) {}

void HealthStateMachine::setThresholds(uint32_t rise, uint32_t fall) {
  rise_ = std::max<uint32_t>(rise, 1);
  fall_ = std::max<uint32_t>(fall, 1);
}

std::optional<Transition> HealthStateMachine::onResult(const ProbeResult& result,
                                                       Clock::time_point now) {
  last_reason_ = result.reason;
  Health next = health_;
  if (result.ok) {
    failures_ = 0;
    ++successes_;
    // An unknown backend is already in rotation: one success confirms it; a down one needs `rise`.
    if (health_ == Health::kUnknown || (health_ == Health::kDown && successes_ >= rise_)) {
      next = Health::kUp;
    }
  } else {
    successes_ = 0;
    ++failures_;
    if (health_ != Health::kDown && failures_ >= fall_) next = Health::kDown;
  }
  if (next == health_) return std::nullopt;
  Transition t{health_, next, now, result.reason};
  health_ = next;
  last_ = t;
  return t;
}

}  // namespace xlb::health
