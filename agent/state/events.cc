// SPDX-License-Identifier: Apache-2.0
// Event bus: bounded per-subscriber queues.
#include "state/events.h"

#include <algorithm>

#include "spdlog/spdlog.h"

namespace xlb::state {

std::optional<v1::Event> EventBus::Subscription::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return !queue_.empty() || overflowed_; });
  if (overflowed_ || queue_.empty()) return std::nullopt;
  v1::Event e = std::move(queue_.front());
  queue_.pop_front();
  return e;
}

bool EventBus::Subscription::overflowed() const {
  std::lock_guard lock(mu_);
  return overflowed_;
}

size_t EventBus::Subscription::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void EventBus::Subscription::push(const v1::Event& e, size_t limit) {
  {
    std::lock_guard lock(mu_);
    if (overflowed_) {
      ++dropped_;
      return;
    }
    if (queue_.size() >= limit) {
      // The stream has a gap now; a silently gappy stream would mislead an orchestrator waiting
      // for a transition, so the subscriber is ended instead.
      overflowed_ = true;
      queue_.clear();
      dropped_ = 1;
      spdlog::warn("events: a subscriber fell {} events behind; dropping it", limit);
    } else {
      queue_.push_back(e);
    }
  }
  cv_.notify_all();
}

std::shared_ptr<EventBus::Subscription> EventBus::subscribe() {
  auto sub = std::make_shared<Subscription>();
  std::lock_guard lock(mu_);
  subs_.push_back(sub);
  return sub;
}

void EventBus::publish(const v1::Event& event) {
  std::vector<std::shared_ptr<Subscription>> live;
  {
    std::lock_guard lock(mu_);
    subs_.erase(std::remove_if(subs_.begin(), subs_.end(), [](auto& w) { return w.expired(); }),
                subs_.end());
    for (auto& w : subs_) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->push(event, limit_);
}

size_t EventBus::subscribers() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (auto& w : subs_) n += !w.expired();
  return n;
}

}  // namespace xlb::state
