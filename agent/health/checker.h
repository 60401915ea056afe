// SPDX-License-Identifier: Apache-2.0
// Event-driven health checker: one epoll thread probes every target (TCP, HTTP, gRPC health).
#pragma once

#include <atomic>
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
#include "health/state_machine.h"
#include "health/types.h"

namespace xlb::health {

struct TargetSpec {
  std::string key;  // caller's stable identity of the backend, e.g. "10.0.0.10:80/tcp 10.0.1.11"
  Endpoint endpoint;
  CheckSpec spec;
  // Verdict a new target starts from (e.g. kDown adopted from a previous agent: `rise` successes
  // bring it back). Ignored for a key the checker already has.
  Health initial = Health::kUnknown;
};

struct TargetStatus {
  Health health = Health::kUnknown;
  std::string last_reason;
  std::optional<Transition> last_transition;
  uint64_t probes = 0;
  uint64_t probe_failures = 0;
};

// Probes run on one thread with non-blocking sockets (epoll), so the cost grows with the probe rate,
// not with a thread per backend; gRPC probes use the gRPC async API on one completion-queue thread.
// Listener calls come from the checker thread; they must not call back into the checker.
class HealthChecker {
 public:
  using Listener = std::function<void(const std::string& key, const Transition&)>;

  explicit HealthChecker(Listener listener);
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  absl::Status start();
  void stop();

  // Replaces the target set. A key whose endpoint and spec are unchanged keeps its health and schedule;
  // a changed one keeps its health but restarts probing; kNone targets are not probed (and are up).
  void setTargets(std::vector<TargetSpec> targets);
  // Changes only the targets named: `upsert` as setTargets treats each of them, `remove` closed
  // and forgotten; every other target keeps its state. Costs what it changes, not the target count.
  void updateTargets(std::vector<TargetSpec> upsert, const std::vector<std::string>& remove);

  std::optional<TargetStatus> status(const std::string& key) const;
  std::map<std::string, TargetStatus> statuses() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses the status code of an HTTP/1.x response head ("HTTP/1.1 503 Service Unavailable"); -1 if the
// text does not start with a status line.
int parseHttpStatus(const std::string& head);

// Evaluates an HTTP response (as much as was read) against a check: ok, or why not.
ProbeResult evaluateHttpResponse(const HttpCheck& check, const std::string& response,
                                 bool complete);

}  // namespace xlb::health
