// SPDX-License-Identifier: Apache-2.0
// Child processes of the scale bench: xlb-agent in a network namespace of its own (no attach, its
// own pin dir, socket and state dir under a temp dir), readiness through a NOTIFY_SOCKET the bench
// owns (the agent's sd_notify READY=1), and lbctl runs with a deadline. Every child is killed and
// every directory removed by the destructors or, on SIGINT/SIGTERM, by the signal handler.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace xlb::bench {

// SIGINT/SIGTERM kill the children (SIGKILL) and set interrupted(); waits then give up.
void installSignalHandlers();
bool interrupted();

// A private directory under /tmp, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct AgentOptions {
  std::string agent_bin;
  std::string config;
  std::string dir;  // socket, notify socket, log, state dir
  std::string pin_dir;
  std::vector<std::string> extra_args;
};

class AgentProcess {
 public:
  explicit AgentProcess(AgentOptions opts) : opts_(std::move(opts)) {}
  ~AgentProcess();  // stop(), then the pin dir is removed
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  // Forks the agent; returns once it sent READY=1 (the time from fork to READY), or an error
  // carrying the agent's own reason when it exited first (FAILED_PRECONDITION), or
  // DEADLINE_EXCEEDED after `timeout`.
  absl::StatusOr<std::chrono::duration<double>> startAndWaitReady(std::chrono::seconds timeout);
  // SIGTERM, SIGKILL after 10 s.
  void stop();

  std::string socketPath() const { return opts_.dir + "/xlb.sock"; }
  std::string logPath() const { return opts_.dir + "/agent.log"; }
  pid_t pid() const { return pid_; }
  // /proc/PID/status fields in MiB (VmRSS now, VmHWM the peak); -1 when unreadable.
  double rssMiB() const;
  double peakRssMiB() const;
  // CPU time the agent used so far (utime + stime of every thread) in seconds; -1 when unreadable.
  double cpuSeconds() const;
  // Bytes of the log so far, and what it gained since an offset.
  size_t logSize() const;
  std::string logSince(size_t offset) const;
  // The agent's reason when it refused to start: its critical/error lines (or the log's tail).
  std::string failureReason() const;

 private:
  AgentOptions opts_;
  pid_t pid_ = -1;
  int notify_fd_ = -1;
};

struct CommandResult {
  int exit_code = -1;  // -1: killed at the deadline (or by a signal)
  std::chrono::duration<double> wall{};
  std::string output;  // stdout and stderr
};
// Runs argv with a deadline; output is collected through a temp file in `dir`.
CommandResult runCommand(const std::vector<std::string>& argv, const std::string& dir,
                         std::chrono::seconds timeout);

// The agent's "state: applied N data-plane writes" lines in `log` (none when nothing was written).
struct WriteCount {
  int lines = 0;
  long writes = 0;  // the sum of N
};
WriteCount dataPlaneWrites(const std::string& log);

}  // namespace xlb::bench
