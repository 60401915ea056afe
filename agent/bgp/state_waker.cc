// SPDX-License-Identifier: Apache-2.0
// StateWaker: one thread reading State's event stream, calling Announcer::wake().
#include "bgp/state_waker.h"

#include <chrono>

namespace xlb::bgp {
namespace {

bool isBgpEvent(v1::Event::Kind k) {
  return k == v1::Event::KIND_BGP_ANNOUNCED || k == v1::Event::KIND_BGP_WITHDRAWN ||
         k == v1::Event::KIND_BGP_PEER || k == v1::Event::KIND_BGP_DRAIN;
}

}  // namespace

StateWaker::StateWaker(state::EventBus& bus, Announcer& announcer)
    : bus_(bus), announcer_(announcer) {
  thread_ = std::thread([this] {
    auto sub = bus_.subscribe();
    while (!stop_.load()) {
      // A subscriber that fell behind is cut off: subscribe again (and look at everything).
      if (sub->overflowed()) {
        sub = bus_.subscribe();
        announcer_.wake();
      }
      auto e = sub->next(std::chrono::milliseconds(200));
      // The announcer's own events come back through the same bus: they change nothing.
      if (e && !isBgpEvent(e->kind())) announcer_.wake();
    }
  });
}

StateWaker::~StateWaker() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

}  // namespace xlb::bgp
