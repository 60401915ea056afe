// SPDX-License-Identifier: Apache-2.0
// Announcer: keeps the routes a BGP daemon originates equal to what the health gate allows, with
// debounce, host drain (GRACEFUL_SHUTDOWN, then withdraw) and session watching; answers
// `lbctl bgp status`, feeds /metrics and the event stream. Restart-safe: on start it reads what
// the daemon already originates and changes only what differs, so an agent restart sends no
// withdraw for a VIP that is still healthy.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "bgp/gate.h"
#include "bgp/speaker.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::bgp {

class Announcer {
 public:
  using InputFn = std::function<GateInput()>;
  using EventFn = std::function<void(const v1::Event&)>;
  struct Options {
    // Peers are polled this often (session state, for status, metrics and events).
    std::chrono::milliseconds peer_poll{500};
    // Every this often the daemon's settings and routes are read back and corrected (a restarted
    // gobgpd is repopulated within this time).
    std::chrono::milliseconds resync{2000};
    // Drain state survives an agent restart in this file ("" = not persisted).
    std::string drain_file;
    // Exists while a bgp section is in effect: an agent that starts without one withdraws what
    // gobgpd still originates only when this file says an earlier agent announced ("" = never).
    std::string active_file;
  };

  Announcer(Speaker& speaker, InputFn input, EventFn publish, Options options);
  ~Announcer();

  // A thread runs tick() every bgp.check_interval_ms (and at once after drain / undrain).
  void start();
  void stop();
  // One round at `now_ms` (unix ms): the thread's body; tests call it with their own clock.
  void tick(uint64_t now_ms);
  // Runs a round now instead of at the next interval (State changed: see StateWaker).
  void wake();

  // Host drain. FAILED_PRECONDITION without a bgp section. With `wait`, returns once everything
  // is withdrawn (DEADLINE_EXCEEDED if that takes longer than drain_wait_ms + 10 s).
  absl::Status drain(bool wait);
  absl::Status undrain();
  // Both read the state as of the last round (or drain / undrain): they never wait for a round
  // that is talking to a slow daemon.
  v1::BgpStatus status() const;
  // Prometheus text: xlb_bgp_* families ("" without a bgp section).
  std::string renderMetrics() const;

 private:
  enum class Drain { kNone, kDraining, kDrained };
  struct PrefixState {
    PrefixVerdict verdict;                  // latest evaluation
    bool applied_pass = false;              // what the route follows (after debounce)
    std::string applied_reason;             // reason of the applied verdict
    std::optional<uint64_t> pending_since;  // the evaluation differs from applied since then
    uint64_t since_ms = 0;                  // last change of announced
    bool announced = false;                 // the daemon originates it (as far as we know)
    Route announced_route;
  };

  void tickLocked(uint64_t now_ms);
  bool syncDaemonLocked(const v1::BgpSettings& settings, uint64_t now_ms);
  void evaluateLocked(const GateInput& in, uint64_t now_ms);
  void reconcileLocked(const v1::BgpSettings& settings, uint64_t now_ms);
  void pollPeersLocked(uint64_t now_ms);
  void withdrawAllLocked(uint64_t now_ms, const std::string& reason);
  void daemonErrorLocked(const absl::Status& st, uint64_t now_ms);
  void publishLocked(v1::Event::Kind kind, const std::vector<v1::VipKey>& vips,
                     const std::string& message, uint64_t now_ms);
  void saveDrainLocked();
  void markActiveLocked(bool active);
  // Publishes status() and the counters for readers (end of every round, drain, undrain).
  void publishSnapshotLocked();
  v1::BgpStatus buildStatusLocked() const;
  void loadDrain();
  static const char* drainName(Drain d);

  Speaker& speaker_;
  InputFn input_;
  EventFn publish_;
  Options options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable drained_cv_;
  bool stop_ = false;
  bool wake_ = false;
  std::thread thread_;

  bool configured_ = false;
  // Without a bgp section, the first round still withdraws what gobgpd originates when
  // Options::active_file says a previous agent announced; a daemon that is not there is not an
  // error then.
  bool checked_leftovers_ = false;
  bool active_marked_ = false;
  v1::BgpSettings settings_;
  std::string settings_bytes_;  // last pushed to the daemon
  bool connected_ = false;
  std::string daemon_error_;
  uint64_t next_sync_ms_ = 0;
  uint64_t next_peer_poll_ms_ = 0;
  std::map<std::string, Route> daemon_routes_;  // what the daemon originates (read back + ours)
  std::map<std::string, PrefixState> prefixes_;
  std::vector<PeerInfo> peers_;
  Drain drain_ = Drain::kNone;
  uint64_t drain_since_ms_ = 0;
  uint32_t check_interval_ms_ = 50;
  uint64_t announces_ = 0, withdraws_ = 0, daemon_errors_ = 0;

  struct Snapshot {
    v1::BgpStatus status;
    uint64_t announces = 0, withdraws = 0, daemon_errors = 0;
  };
  mutable std::mutex snapshot_mu_;  // guards snapshot_ (the pointer) only
  std::shared_ptr<const Snapshot> snapshot_;
};

}  // namespace xlb::bgp
