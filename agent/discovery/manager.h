// SPDX-License-Identifier: Apache-2.0
// The discovery thread: follows State's config for VIPs that list names, asks the resolver when
// each name is due (name_state.h), turns the names' sets into each VIP's discovered backends
// (pool.h) and hands them to State::setDiscovered, the same validate -> plan -> apply path as the
// API. Owns the per-name states, the --resolv-conf watch, the discovery events and metrics.
// Nothing here blocks on DNS: questions go out and answers come back through Resolver::process.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "config/validate.h"
#include "discovery/name_state.h"
#include "discovery/resolver.h"
#include "state/state.h"

namespace xlb::discovery {

class DiscoveryManager {
 public:
  struct Options {
    std::string resolv_conf = "/etc/resolv.conf";  // re-read when its mtime, size or inode change
    std::function<double()> jitter;                // uniform [0, 1); default a seeded PRNG
    std::function<Clock::time_point()> clock;      // default steady_clock::now
  };
  DiscoveryManager(state::State& state, std::unique_ptr<Resolver> resolver, Options options);
  ~DiscoveryManager();

  void start();
  void stop();

  // One round of the thread (tests call it with a fake resolver and clock): follow the config,
  // re-read resolv.conf when it changed, send the questions that are due, apply the VIPs whose
  // names changed and finish drains. Then the thread waits in Resolver::process.
  void tick();

  // Per-name gauges and counters for /metrics (xlb_discovery_*).
  std::string renderMetrics() const;

  struct NameStatus {
    config::VipKey vip;
    std::string name;
    bool stale = false;
    bool holding_empty = false;
    size_t records = 0;
    uint64_t queries = 0;
    uint64_t last_ok_unix_ms = 0;
    std::string last_error;
  };
  std::vector<NameStatus> names() const;
  // For State::setDiscoveryStatus: the name's last good answer and stale flag.
  void fillStatus(const config::VipKey& vip, v1::BackendSource* source) const;

 private:
  struct Entry {
    config::VipKey vip;
    std::string name;
    v1::BackendSourceKind kind = v1::BACKEND_SOURCE_KIND_DNS;
    v1::DnsFamily family = v1::DNS_FAMILY_ANY;
    NameState state;
    bool in_flight = false;
    uint64_t queries = 0;
    std::map<std::string, uint64_t> outcomes;  // by outcomeName
    Entry(NameTiming t, std::function<double()> j) : state(t, std::move(j)) {}
  };
  using EntryKey = std::pair<config::VipKey, std::string>;  // VIP, lower-case name

  void followConfigLocked(Clock::time_point now);
  void checkResolvConfLocked(Clock::time_point now);
  void onAnswer(const std::weak_ptr<Entry>& weak, Answer answer);
  void applyVipLocked(const config::VipKey& key, const v1::Vip& spec);
  void publish(v1::Event::Kind kind, const config::VipKey& vip, const std::string& message);
  void run();

  state::State& state_;
  std::unique_ptr<Resolver> resolver_;
  Options opts_;
  mutable std::mutex mu_;
  std::map<EntryKey, std::shared_ptr<Entry>> entries_;
  std::set<config::VipKey> dirty_;
  std::map<config::VipKey, v1::Vip> specs_;  // VIPs with names, as last read from State
  std::shared_ptr<const void> token_;
  Clock::time_point next_follow_{};
  Clock::time_point next_resolv_check_{};
  Clock::time_point next_drain_check_{};
  std::string resolv_sig_;
  uint64_t resolv_reloads_ = 0;
  uint64_t apply_errors_ = 0;
  // (VIP, lower-case name) -> last ok unix ms, stale; apart from mu_ so that status reads (which
  // the thread itself makes while holding mu_) never wait for it.
  mutable std::mutex status_mu_;
  std::map<EntryKey, std::pair<uint64_t, bool>> status_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace xlb::discovery
