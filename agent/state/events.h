// SPDX-License-Identifier: Apache-2.0
// In-process event bus for WatchEvents: publishers never block; each subscriber has a bounded
// queue, and one that falls behind is cut off instead of slowing the agent down.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "xlb/v1/xlb.pb.h"

namespace xlb::state {

class EventBus {
 public:
  class Subscription {
   public:
    // The next event, or nullopt after `timeout` (or at once when overflowed/closed).
    std::optional<v1::Event> next(std::chrono::milliseconds timeout);
    // The queue filled up: events were lost, the subscriber must resubscribe.
    bool overflowed() const;
    size_t dropped() const;  // events not delivered since the overflow

   private:
    friend class EventBus;
    void push(const v1::Event& e, size_t limit);

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<v1::Event> queue_;
    bool overflowed_ = false;
    size_t dropped_ = 0;
  };

  explicit EventBus(size_t queue_limit = 4096) : limit_(queue_limit) {}

  // Unsubscribes when the last reference goes away.
  std::shared_ptr<Subscription> subscribe();
  // Never blocks on a subscriber: a full queue marks it overflowed (logged once).
  void publish(const v1::Event& event);
  size_t subscribers() const;

 private:
  size_t limit_;
  mutable std::mutex mu_;
  std::vector<std::weak_ptr<Subscription>> subs_;
};

}  // namespace xlb::state
