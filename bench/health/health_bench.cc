// SPDX-License-Identifier: Apache-2.0
// Health-checker cost: N backends probed at a fixed interval for a while; reports the checker's CPU.
//
// The checker runs in a forked child so that its CPU time (getrusage of the child) excludes the
// loopback servers that answer the probes, which run in the parent.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "health/checker.h"

namespace {

using namespace std::chrono_literals;
using xlb::health::CheckType;

// A loopback server that accepts and (for HTTP) answers "200 OK" then closes.
class Responder {
 public:
  explicit Responder(bool http) : http_(http) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof(sin));
    listen(fd_, 4096);
    socklen_t len = sizeof(sin);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&sin), &len);
    port_ = ntohs(sin.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Responder() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void run() {
    static const char kResp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      for (;;) {
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) break;
        if (http_) {
          // The request is small and arrives right after the handshake; a short wait suffices.
          pollfd q{c, POLLIN, 0};
          char buf[1024];
          if (poll(&q, 1, 100) > 0 && read(c, buf, sizeof(buf)) > 0) {
            [[maybe_unused]] auto n = write(c, kResp, sizeof(kResp) - 1);
          }
        }
        close(c);
      }
    }
  }
  bool http_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Result {
  double cpu_seconds = 0;
  uint64_t probes = 0;
  uint64_t failures = 0;
  int up = 0;
};

// Child: run the checker, then report through a pipe.
Result runChecker(int targets, int interval_ms, int seconds, CheckType type,
                  const std::vector<uint16_t>& ports) {
  auto childCpu = [] {
    rusage ru{};
    getrusage(RUSAGE_CHILDREN, &ru);  // cumulative over every child waited for so far
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
  };
  double cpu_before = childCpu();
  int pfd[2];
  if (pipe(pfd) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    close(pfd[0]);
    xlb::health::HealthChecker checker(nullptr);
    if (!checker.start().ok()) _exit(1);
    std::vector<xlb::health::TargetSpec> specs;
    for (int i = 0; i < targets; ++i) {
      xlb::health::CheckSpec spec;
      spec.type = type;
      spec.interval = std::chrono::milliseconds(interval_ms);
      spec.timeout = std::chrono::milliseconds(std::min(interval_ms / 2, 500));
      xlb::health::Endpoint ep{*xlb::parseIpAddress("127.0.0.1"), ports[i % ports.size()]};
      specs.push_back({"backend-" + std::to_string(i), ep, spec});
    }
    checker.setTargets(specs);
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    Result r;
    for (const auto& [key, st] : checker.statuses()) {
      r.probes += st.probes;
      r.failures += st.probe_failures;
      r.up += st.health == xlb::health::Health::kUp;
    }
    checker.stop();
    [[maybe_unused]] auto n = write(pfd[1], &r, sizeof(r));
    _exit(0);
  }
  close(pfd[1]);
  Result r;
  [[maybe_unused]] auto n = read(pfd[0], &r, sizeof(r));
  close(pfd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.cpu_seconds = childCpu() - cpu_before;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"xlb health-checker benchmark"};
  int targets = 1000, interval_ms = 1000, seconds = 10;
  std::vector<std::string> types = {"tcp", "http"};
  std::string append;
  app.add_option("--targets", targets, "backends to check")->check(CLI::Range(1, 100000));
  app.add_option("--interval-ms", interval_ms, "check interval")->check(CLI::Range(10, 60000));
  app.add_option("--seconds", seconds, "how long each run lasts")->check(CLI::Range(1, 600));
  app.add_option("--types", types, "check types to run")
      ->delimiter(',')
      ->check(CLI::IsMember({"tcp", "http"}));
  app.add_option("--append", append, "append a markdown section to this file");
  CLI11_PARSE(app, argc, argv);

  std::ofstream out;
  if (!append.empty()) {
    out.open(append, std::ios::app);
    out << "\n## Health checker (agent side)\n\n"
        << "`build/bench/health/xlb-health-bench`: the event-driven checker (one epoll thread plus one "
           "gRPC completion-queue thread) probes N backends on loopback; its CPU time is measured "
           "in a forked child, so the loopback servers answering the probes are not counted.\n\n"
        << "| Check | Backends | Interval | Run | Probes | Failed | Up at end | Checker CPU (one core) "
           "|\n|---|---:|---:|---:|---:|---:|---:|---:|\n";
  }
  bool all_up = true;
  for (const auto& type_name : types) {
    bool http = type_name == "http";
    std::vector<std::unique_ptr<Responder>> servers;
    std::vector<uint16_t> ports;
    for (int i = 0; i < 8; ++i) {
      servers.push_back(std::make_unique<Responder>(http));
      ports.push_back(servers.back()->port());
    }
    auto r = runChecker(targets, interval_ms, seconds, http ? CheckType::kHttp : CheckType::kTcp,
                        ports);
    double cpu_pct = 100.0 * r.cpu_seconds / seconds;
    double rate = static_cast<double>(r.probes) / seconds;
    std::printf("%s checks: %d backends every %d ms for %d s: %lu probes (%.0f/s), %lu failed, "
                "%d up at the end; checker CPU %.2f s = %.1f%% of one core\n",
                type_name.c_str(), targets, interval_ms, seconds,
                static_cast<unsigned long>(r.probes), rate, static_cast<unsigned long>(r.failures),
                r.up, r.cpu_seconds, cpu_pct);
    if (out.is_open()) {
      char pct[32];
      std::snprintf(pct, sizeof(pct), "%.1f%%", cpu_pct);
      out << "| " << type_name << " | " << targets << " | " << interval_ms << " ms | " << seconds
          << " s | " << r.probes << " (" << static_cast<long>(rate) << "/s) | " << r.failures
          << " | " << r.up << "/" << targets << " | " << pct << " |\n";
    }
    all_up &= r.up == targets;
  }
  return all_up ? 0 : 1;
}
