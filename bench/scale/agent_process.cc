// SPDX-License-Identifier: Apache-2.0
// Agent and lbctl child processes of the scale bench (see agent_process.h).
#include "agent_process.h"

#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace xlb::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<pid_t> g_children[2] = {-1, -1};  // [0] the agent, [1] a command
std::atomic<bool> g_interrupted{false};

void onSignal(int) {
  g_interrupted = true;
  for (auto& c : g_children) {
    pid_t p = c.load();
    if (p > 0) kill(p, SIGKILL);
  }
}

// Child side, between fork and exec: only async-signal-safe calls. A network namespace of its
// own with lo up, so the agent's metrics listener (127.0.0.1:9440) binds nothing of the host's.
void enterPrivateNetns() {
  if (unshare(CLONE_NEWNET) != 0) _exit(126);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, "lo", 3);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
      ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
      ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    close(fd);
  }
}

std::vector<char*> cstrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Waits up to `timeout` for the child to exit (woken at once through a pidfd, so short commands
// are timed to the microsecond); kills it (SIGKILL) after that. Returns the wait status.
int reap(pid_t pid, std::chrono::milliseconds timeout) {
  int status = 0;
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    auto deadline = Clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || interrupted()) break;
      int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 200)));
      if (n > 0) break;
    }
    close(pidfd);
  }
  if (waitpid(pid, &status, WNOHANG) == pid) return status;
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return status;
}

std::string readFile(const std::string& path, size_t offset = 0) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "";
  f.seekg(static_cast<std::streamoff>(offset));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

double procStatusMiB(pid_t pid, const char* field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field, 0) == 0)
      return std::strtod(line.c_str() + std::strlen(field), nullptr) / 1024;
  }
  return -1;
}

}  // namespace

void installSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupted() { return g_interrupted; }

TempDir::TempDir() {
  char tmpl[] = "/tmp/xlb-scale.XXXXXX";
  if (mkdtemp(tmpl) != nullptr) path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

AgentProcess::~AgentProcess() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(opts_.pin_dir, ec);
}

absl::StatusOr<std::chrono::duration<double>> AgentProcess::startAndWaitReady(
    std::chrono::seconds timeout) {
  // The notify socket: what systemd would listen on for the agent's sd_notify(READY=1).
  const std::string notify_path = opts_.dir + "/notify.sock";
  notify_fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (notify_path.size() >= sizeof(sun.sun_path)) return absl::InternalError("path too long");
  std::memcpy(sun.sun_path, notify_path.c_str(), notify_path.size() + 1);
  if (notify_fd_ < 0 || bind(notify_fd_, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) != 0) {
    return absl::InternalError(absl::StrCat("notify socket ", notify_path, ": ", strerror(errno)));
  }
  std::vector<std::string> args = {
      opts_.agent_bin,          "--no-attach", "--config",    opts_.config,  "--listen",
      "unix://" + socketPath(), "--pin-dir",   opts_.pin_dir, "--state-dir", opts_.dir + "/state"};
  args.insert(args.end(), opts_.extra_args.begin(), opts_.extra_args.end());
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "NOTIFY_SOCKET=", 14) != 0 && std::strncmp(*e, "WATCHDOG_", 9) != 0) {
      env.emplace_back(*e);
    }
  }
  env.push_back("NOTIFY_SOCKET=" + notify_path);
  auto argv = cstrings(args);
  auto envp = cstrings(env);
  int log_fd = open(logPath().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0)
    return absl::InternalError(absl::StrCat("open ", logPath(), ": ", strerror(errno)));

  const auto t0 = Clock::now();
  pid_ = fork();
  if (pid_ == 0) {
    setpgid(0, 0);
    enterPrivateNetns();
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(log_fd);
  if (pid_ < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  g_children[0] = pid_;

  const auto deadline = t0 + timeout;
  for (;;) {
    pollfd p{notify_fd_, POLLIN, 0};
    if (poll(&p, 1, 20) > 0) {
      char buf[4096];
      ssize_t n = recv(notify_fd_, buf, sizeof(buf) - 1, 0);
      if (n > 0) {
        buf[n] = 0;
        if (std::strstr(buf, "READY=1") != nullptr) return Clock::now() - t0;
      }
      continue;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      g_children[0] = -1;
      return absl::FailedPreconditionError(failureReason());
    }
    if (interrupted()) return absl::CancelledError("interrupted");
    if (Clock::now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("not ready after ", timeout.count(), " s"));
    }
  }
}

void AgentProcess::stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    reap(pid_, std::chrono::seconds(10));
    pid_ = -1;
    g_children[0] = -1;
  }
  if (notify_fd_ >= 0) {
    close(notify_fd_);
    notify_fd_ = -1;
  }
}

double AgentProcess::rssMiB() const { return procStatusMiB(pid_, "VmRSS:"); }
double AgentProcess::peakRssMiB() const { return procStatusMiB(pid_, "VmHWM:"); }

double AgentProcess::cpuSeconds() const {
  std::ifstream in(absl::StrCat("/proc/", pid_, "/stat"));
  std::string line;
  std::getline(in, line);
  // The fields after the command (which may hold spaces) start past its last ')'.
  auto pos = line.rfind(')');
  if (pos == std::string::npos || pos + 2 > line.size()) return -1;
  std::istringstream rest(line.substr(pos + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

size_t AgentProcess::logSize() const {
  std::error_code ec;
  auto n = std::filesystem::file_size(logPath(), ec);
  return ec ? 0 : static_cast<size_t>(n);
}

std::string AgentProcess::logSince(size_t offset) const { return readFile(logPath(), offset); }

std::string AgentProcess::failureReason() const {
  std::istringstream in(readFile(logPath()));
  std::string line, reason, last;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    last = line;
    // "[time] [agent] [critical] agent: ..." or the plain "xlb-agent: invalid config ..." lines.
    auto pos = line.find("[critical] ");
    if (pos == std::string::npos) pos = line.find("[error] ");
    if (pos != std::string::npos) {
      reason = line.substr(line.find("] ", pos) + 2);
    } else if (line.rfind("xlb-agent: ", 0) == 0 || (!reason.empty() && line[0] != '[')) {
      // The validator lists its errors one per line after "invalid config FILE:".
      const bool after_colon = reason.empty() || reason.back() == ':';
      reason += (reason.empty() ? ""
                 : after_colon  ? " "
                                : "; ") +
                line.substr(std::min(line.find_first_not_of(' '), line.size()));
    }
  }
  return reason.empty() ? last : reason;
}

CommandResult runCommand(const std::vector<std::string>& argv_in, const std::string& dir,
                         std::chrono::seconds timeout) {
  CommandResult r;
  std::vector<std::string> args = argv_in;
  auto argv = cstrings(args);
  const std::string out_path = dir + "/command.out";
  int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return r;
  // posix_spawn, not fork: glibc spawns with CLONE_VM|CLONE_VFORK, so the time does not include
  // copying this process's page tables (2.5-4 ms measured for 50 MiB, the bench's size at 10,000
  // VIPs; a shell that runs lbctl for an operator is a few MiB). What is timed is lbctl, as an
  // operator runs it.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fd, 1);
  posix_spawn_file_actions_adddup2(&actions, fd, 2);
  const auto t0 = Clock::now();
  pid_t pid = -1;
  const int err = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fd);
  if (err != 0) return r;
  g_children[1] = pid;
  int status = reap(pid, timeout);
  r.wall = Clock::now() - t0;
  g_children[1] = -1;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.output = readFile(out_path);
  return r;
}

WriteCount dataPlaneWrites(const std::string& log) {
  static const std::regex re("applied ([0-9]+) data-plane writes");
  WriteCount c;
  for (std::sregex_iterator it(log.begin(), log.end(), re), end; it != end; ++it) {
    ++c.lines;
    c.writes += std::stol((*it)[1].str());
  }
  return c;
}

}  // namespace xlb::bench
