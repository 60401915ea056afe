// SPDX-License-Identifier: Apache-2.0
// Wakes the Announcer as soon as State reports a change (health transition, drain, VIP or config
// change) instead of at its next check interval, so a VIP whose last backend goes down is
// withdrawn one debounce interval after the verdict, not up to two.
#pragma once

#include <atomic>
#include <thread>

#include "bgp/announcer.h"
#include "state/events.h"

namespace xlb::bgp {

class StateWaker {
 public:
  // Subscribes to `bus` and starts the thread; both must outlive this object.
  StateWaker(state::EventBus& bus, Announcer& announcer);
  ~StateWaker();  // stops the thread
  StateWaker(const StateWaker&) = delete;
  StateWaker& operator=(const StateWaker&) = delete;

 private:
  state::EventBus& bus_;
  Announcer& announcer_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace xlb::bgp
