// SPDX-License-Identifier: Apache-2.0
// Health checker event loop: epoll for TCP/HTTP probes, a gRPC completion queue for grpc.health.v1.
#include "health/checker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <cstring>
#include <queue>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "spdlog/spdlog.h"

namespace xlb::health {
namespace {

constexpr size_t kMaxResponse = 64 * 1024;
constexpr uint64_t kEventFdId = 0;

std::string lowerStrerror(int err) { return absl::AsciiStrToLower(std::strerror(err)); }

std::string timeoutReason(Millis timeout) {
  return absl::StrCat("timeout after ", timeout.count(), "ms");
}

const char* servingStatusName(grpc::health::v1::HealthCheckResponse::ServingStatus s) {
  switch (s) {
    case grpc::health::v1::HealthCheckResponse::SERVING: return "SERVING";
    case grpc::health::v1::HealthCheckResponse::NOT_SERVING: return "NOT_SERVING";
    case grpc::health::v1::HealthCheckResponse::SERVICE_UNKNOWN: return "SERVICE_UNKNOWN";
    default: return "UNKNOWN";
  }
}

}  // namespace

int parseHttpStatus(const std::string& head) {
  // "HTTP/1.1 200 OK": version, one space, three digits.
  if (head.size() < 12 || !absl::StartsWith(head, "HTTP/1.")) return -1;
  if (head[8] != ' ') return -1;
  int code = 0;
  for (int i = 9; i < 12; ++i) {
    if (head[i] < '0' || head[i] > '9') return -1;
    code = code * 10 + (head[i] - '0');
  }
  return code;
}

ProbeResult evaluateHttpResponse(const HttpCheck& check, const std::string& response,
                                 bool complete) {
  int code = parseHttpStatus(response);
  if (code < 0) {
    if (response.empty()) return {false, "http: connection closed without a response"};
    return {false, "http: malformed status line"};
  }
  bool accepted = false;
  for (const auto& [lo, hi] : check.statuses) accepted |= code >= lo && code <= hi;
  if (!accepted) return {false, absl::StrCat("http ", code)};
  if (!check.body_contains.empty()) {
    auto body_at = response.find("\r\n\r\n");
    bool found = body_at != std::string::npos &&
                 response.find(check.body_contains, body_at + 4) != std::string::npos;
    if (!found) {
      return {false, absl::StrCat("http ", code, ": body does not contain \"", check.body_contains,
                                  "\"", complete ? "" : " (response truncated)")};
    }
  }
  return {true, absl::StrCat("http ", code)};
}

struct HealthChecker::Impl {
  enum class Phase { kIdle, kConnecting, kSending, kReceiving, kGrpc };

  struct Target {
    TargetSpec ts;
    HealthStateMachine sm;
    uint64_t probes = 0;
    uint64_t failures = 0;
    // In-flight probe.
    Phase phase = Phase::kIdle;
    uint64_t probe_id = 0;  // 0 = none; epoll data and gRPC tags carry it
    int fd = -1;
    Clock::time_point started;
    std::string out;
    size_t out_off = 0;
    std::string in;
    // gRPC.
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<grpc::health::v1::Health::Stub> stub;

    explicit Target(TargetSpec s)
        : ts(std::move(s)), sm(ts.spec.rise, ts.spec.fall, ts.initial) {}
  };

  struct GrpcCall {
    std::string key;
    uint64_t probe_id;
    Millis timeout;
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<grpc::health::v1::HealthCheckResponse>> reader;
  };

  struct Timer {
    Clock::time_point at;
    std::string key;
    uint64_t probe_id;  // 0 = "start next probe", else the deadline of that probe
    bool operator>(const Timer& o) const { return at > o.at; }
  };

  struct Completion {
    std::string key;
    uint64_t probe_id;
    ProbeResult result;
  };

  Listener listener;
  int epfd = -1;
  int evfd = -1;
  std::atomic<bool> running{false};
  std::thread loop_thread;
  std::thread grpc_thread;
  grpc::CompletionQueue cq;

  mutable std::mutex mu;  // guards everything below
  std::map<std::string, std::unique_ptr<Target>> targets;
  std::map<uint64_t, std::string> probe_keys;  // in-flight probe id -> target key
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers;
  std::vector<Completion> completions;  // from the gRPC thread
  std::vector<std::pair<std::string, Transition>> pending_transitions;
  uint64_t next_probe_id = 1;
  std::mt19937_64 rng{std::random_device{}()};

  ~Impl() {
    if (epfd >= 0) close(epfd);
    if (evfd >= 0) close(evfd);
  }

  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] auto n = write(evfd, &one, sizeof(one));
  }

  Clock::duration jittered(const CheckSpec& spec) {
    double j = std::clamp(spec.jitter, 0.0, 0.5);
    std::uniform_real_distribution<double> d(1.0 - j, 1.0 + j);
    return std::chrono::duration_cast<Clock::duration>(spec.interval * d(rng));
  }

  void scheduleFirst(const Target& t, Clock::time_point now) {
    // Spread the first probes over a fraction of the interval so a large config does not probe in
    // one burst, yet a new backend is checked promptly.
    double j = std::clamp(t.ts.spec.jitter, 0.0, 0.5);
    std::uniform_real_distribution<double> d(0.0, j);
    auto delay = std::chrono::duration_cast<Clock::duration>(t.ts.spec.interval * d(rng));
    timers.push({now + delay, t.ts.key, 0});
  }

  // --- probe lifecycle (mu held) ---------------------------------------------------------------

  void closeProbe(Target& t) {
    if (t.fd >= 0) {
      epoll_ctl(epfd, EPOLL_CTL_DEL, t.fd, nullptr);
      // Abortive close: a checker probing 1000 backends a second would otherwise pile up TIME_WAIT.
      linger lg{1, 0};
      setsockopt(t.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
      close(t.fd);
      t.fd = -1;
    }
    if (t.probe_id) probe_keys.erase(t.probe_id);
    t.probe_id = 0;
    t.phase = Phase::kIdle;
    t.out.clear();
    t.out_off = 0;
    t.in.clear();
  }

  void finish(Target& t, ProbeResult result, Clock::time_point now) {
    auto started = t.started;
    closeProbe(t);
    ++t.probes;
    if (!result.ok) ++t.failures;
    if (auto tr = t.sm.onResult(result, now)) {
      pending_transitions.emplace_back(t.ts.key, *tr);
    }
    auto next = started + jittered(t.ts.spec);
    timers.push({std::max(next, now), t.ts.key, 0});
  }

  void startProbe(Target& t, Clock::time_point now) {
    t.started = now;
    t.probe_id = next_probe_id++;
    probe_keys[t.probe_id] = t.ts.key;
    if (t.ts.spec.type == CheckType::kGrpc) {
      startGrpc(t, now);
      return;
    }
    const auto& ep = t.ts.endpoint;
    int family = ep.address.isV4() ? AF_INET : AF_INET6;
    t.fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (t.fd < 0) {
      finish(t, {false, absl::StrCat("socket: ", lowerStrerror(errno))}, now);
      return;
    }
    sockaddr_storage ss{};
    socklen_t len;
    if (ep.address.isV4()) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
      sin->sin_family = AF_INET;
      sin->sin_port = htons(ep.port);
      std::memcpy(&sin->sin_addr, ep.address.bytes.data(), 4);
      len = sizeof(*sin);
    } else {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons(ep.port);
      std::memcpy(&sin6->sin6_addr, ep.address.bytes.data(), 16);
      len = sizeof(*sin6);
    }
    int rc = connect(t.fd, reinterpret_cast<sockaddr*>(&ss), len);
    if (rc < 0 && errno != EINPROGRESS) {
      finish(t, {false, absl::StrCat("connect: ", lowerStrerror(errno))}, now);
      return;
    }
    t.phase = Phase::kConnecting;
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u64 = t.probe_id;
    epoll_ctl(epfd, EPOLL_CTL_ADD, t.fd, &ev);
    timers.push({now + t.ts.spec.timeout, t.ts.key, t.probe_id});
  }

  void startGrpc(Target& t, Clock::time_point now) {
    if (!t.stub) {
      const auto& ep = t.ts.endpoint;
      std::string target = ep.address.isV4()
                               ? absl::StrCat("ipv4:", ep.address.toString(), ":", ep.port)
                               : absl::StrCat("ipv6:[", ep.address.toString(), "]:", ep.port);
      t.channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
      t.stub = grpc::health::v1::Health::NewStub(t.channel);
    }
    t.phase = Phase::kGrpc;
    auto* call = new GrpcCall{t.ts.key, t.probe_id, t.ts.spec.timeout, {}, {}, {}, {}};
    call->ctx.set_deadline(std::chrono::system_clock::now() + t.ts.spec.timeout);
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(t.ts.spec.grpc.service);
    call->reader = t.stub->PrepareAsyncCheck(&call->ctx, req, &cq);
    call->reader->StartCall();
    call->reader->Finish(&call->response, &call->status, call);
  }

  void onSocketEvent(uint64_t probe_id, uint32_t events, Clock::time_point now) {
    auto it = probe_keys.find(probe_id);
    if (it == probe_keys.end()) return;
    auto tit = targets.find(it->second);
    if (tit == targets.end()) return;
    Target& t = *tit->second;
    if (t.phase == Phase::kConnecting) {
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(t.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        finish(t, {false, absl::StrCat("connect: ", lowerStrerror(err))}, now);
        return;
      }
      if (t.ts.spec.type == CheckType::kTcp) {
        finish(t, {true, "connected"}, now);
        return;
      }
      const auto& h = t.ts.spec.http;
      std::string host = h.host.empty() ? formatHostPort(t.ts.endpoint.address, t.ts.endpoint.port)
                                        : h.host;
      t.out = absl::StrCat(h.method, " ", h.path, " HTTP/1.1\r\nHost: ", host,
                           "\r\nUser-Agent: xlb-health\r\nAccept: */*\r\nConnection: close\r\n\r\n");
      t.phase = Phase::kSending;
    }
    if (t.phase == Phase::kSending) {
      while (t.out_off < t.out.size()) {
        ssize_t n = send(t.fd, t.out.data() + t.out_off, t.out.size() - t.out_off, MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EAGAIN) return;
          finish(t, {false, absl::StrCat("send: ", lowerStrerror(errno))}, now);
          return;
        }
        t.out_off += n;
      }
      t.phase = Phase::kReceiving;
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP;
      ev.data.u64 = t.probe_id;
      epoll_ctl(epfd, EPOLL_CTL_MOD, t.fd, &ev);
      return;
    }
    if (t.phase == Phase::kReceiving) {
      char buf[4096];
      for (;;) {
        ssize_t n = recv(t.fd, buf, sizeof(buf), 0);
        if (n > 0) {
          t.in.append(buf, n);
          if (t.in.size() >= kMaxResponse) {
            finish(t, evaluateHttpResponse(t.ts.spec.http, t.in, false), now);
            return;
          }
          continue;
        }
        if (n == 0) {
          finish(t, evaluateHttpResponse(t.ts.spec.http, t.in, true), now);
          return;
        }
        if (errno == EAGAIN) break;
        if (!t.in.empty()) {
          finish(t, evaluateHttpResponse(t.ts.spec.http, t.in, true), now);
        } else {
          finish(t, {false, absl::StrCat("recv: ", lowerStrerror(errno))}, now);
        }
        return;
      }
      // A complete head with a satisfied status and no body requirement needs no more bytes.
      if (t.in.find("\r\n\r\n") != std::string::npos && t.ts.spec.http.body_contains.empty()) {
        finish(t, evaluateHttpResponse(t.ts.spec.http, t.in, true), now);
      }
    }
    (void)events;
  }

  void onTimer(const Timer& tm, Clock::time_point now) {
    auto it = targets.find(tm.key);
    if (it == targets.end()) return;
    Target& t = *it->second;
    if (tm.probe_id == 0) {
      if (t.phase == Phase::kIdle && t.ts.spec.type != CheckType::kNone) startProbe(t, now);
      return;
    }
    if (tm.probe_id != t.probe_id || t.phase == Phase::kGrpc) return;  // gRPC has its own deadline
    finish(t, {false, timeoutReason(t.ts.spec.timeout)}, now);
  }

  void onGrpcCompletion(Completion& c, Clock::time_point now) {
    auto it = targets.find(c.key);
    if (it == targets.end() || it->second->probe_id != c.probe_id) return;
    finish(*it->second, std::move(c.result), now);
  }

  // --- threads ------------------------------------------------------------------------------------

  void loop() {
    epoll_event events[64];
    while (running.load()) {
      int timeout_ms = 1000;
      {
        std::lock_guard lock(mu);
        if (!timers.empty()) {
          auto wait = timers.top().at - Clock::now();
          timeout_ms = static_cast<int>(
              std::clamp<int64_t>(std::chrono::ceil<Millis>(wait).count(), 0, 1000));
        }
      }
      int n = epoll_wait(epfd, events, 64, timeout_ms);
      std::vector<std::pair<std::string, Transition>> fired;
      {
        std::lock_guard lock(mu);
        auto now = Clock::now();
        for (int i = 0; i < n; ++i) {
          if (events[i].data.u64 == kEventFdId) {
            uint64_t v;
            [[maybe_unused]] auto r = read(evfd, &v, sizeof(v));
            continue;
          }
          onSocketEvent(events[i].data.u64, events[i].events, now);
        }
        auto done = std::move(completions);
        completions.clear();
        for (auto& c : done) onGrpcCompletion(c, now);
        while (!timers.empty() && timers.top().at <= now) {
          Timer tm = timers.top();
          timers.pop();
          onTimer(tm, now);
        }
        fired.swap(pending_transitions);
      }
      // Outside the lock: listeners may take their own locks that other threads hold while they
      // query this checker.
      for (const auto& [key, tr] : fired) {
        if (listener) listener(key, tr);
      }
    }
  }

  void grpcLoop() {
    void* tag;
    bool ok;
    while (cq.Next(&tag, &ok)) {
      std::unique_ptr<GrpcCall> call(static_cast<GrpcCall*>(tag));
      ProbeResult r;
      if (call->status.ok()) {
        auto s = call->response.status();
        r.ok = s == grpc::health::v1::HealthCheckResponse::SERVING;
        r.reason = absl::StrCat("grpc ", servingStatusName(s));
      } else if (call->status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        r.reason = timeoutReason(call->timeout);
      } else {
        r.reason = absl::StrCat("grpc: ", call->status.error_message().empty()
                                              ? std::to_string(call->status.error_code())
                                              : call->status.error_message());
      }
      {
        std::lock_guard lock(mu);
        completions.push_back({call->key, call->probe_id, std::move(r)});
      }
      wake();
    }
  }
};

HealthChecker::HealthChecker(Listener listener) : impl_(std::make_unique<Impl>()) {
  impl_->listener = std::move(listener);
}

HealthChecker::~HealthChecker() { stop(); }

absl::Status HealthChecker::start() {
  if (impl_->running.load()) return absl::OkStatus();
  impl_->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (impl_->epfd < 0) return errnoStatus("health: epoll_create1", errno);
  impl_->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl_->evfd < 0) return errnoStatus("health: eventfd", errno);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kEventFdId;
  if (epoll_ctl(impl_->epfd, EPOLL_CTL_ADD, impl_->evfd, &ev) < 0) {
    return errnoStatus("health: epoll_ctl", errno);
  }
  impl_->running = true;
  impl_->loop_thread = std::thread([this] { impl_->loop(); });
  impl_->grpc_thread = std::thread([this] { impl_->grpcLoop(); });
  return absl::OkStatus();
}

void HealthChecker::stop() {
  if (!impl_ || !impl_->running.exchange(false)) return;
  impl_->wake();
  impl_->loop_thread.join();
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [key, t] : impl_->targets) impl_->closeProbe(*t);
  }
  impl_->cq.Shutdown();
  impl_->grpc_thread.join();
}

void HealthChecker::setTargets(std::vector<TargetSpec> specs) {
  std::vector<std::string> remove;
  {
    std::lock_guard lock(impl_->mu);
    std::set<std::string> keep;
    for (const auto& s : specs) keep.insert(s.key);
    for (const auto& [key, t] : impl_->targets) {
      if (!keep.count(key)) remove.push_back(key);
    }
  }
  updateTargets(std::move(specs), remove);
}

void HealthChecker::updateTargets(std::vector<TargetSpec> upsert,
                                  const std::vector<std::string>& remove) {
  {
    std::lock_guard lock(impl_->mu);
    auto now = Clock::now();
    for (const std::string& key : remove) {
      auto it = impl_->targets.find(key);
      if (it == impl_->targets.end()) continue;
      impl_->closeProbe(*it->second);
      impl_->targets.erase(it);
    }
    for (auto& s : upsert) {
      auto it = impl_->targets.find(s.key);
      if (it != impl_->targets.end()) {
        Impl::Target& t = *it->second;
        if (t.ts.endpoint == s.endpoint && t.ts.spec == s.spec) continue;
        // Keep the health verdict; restart probing with the new parameters.
        impl_->closeProbe(t);
        t.sm.setThresholds(s.spec.rise, s.spec.fall);
        if (!(t.ts.endpoint == s.endpoint) || t.ts.spec.type != s.spec.type) {
          t.stub.reset();
          t.channel.reset();
        }
        t.ts = std::move(s);
        impl_->scheduleFirst(t, now);
        continue;
      }
      auto t = std::make_unique<Impl::Target>(std::move(s));
      if (t->ts.spec.type != CheckType::kNone) impl_->scheduleFirst(*t, now);
      std::string key = t->ts.key;
      impl_->targets[key] = std::move(t);
    }
  }
  impl_->wake();
}

std::optional<TargetStatus> HealthChecker::status(const std::string& key) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->targets.find(key);
  if (it == impl_->targets.end()) return std::nullopt;
  const auto& t = *it->second;
  TargetStatus s;
  s.health = t.ts.spec.type == CheckType::kNone ? Health::kUp : t.sm.health();
  s.last_reason = t.sm.lastReason();
  s.last_transition = t.sm.lastTransition();
  s.probes = t.probes;
  s.probe_failures = t.failures;
  return s;
}

std::map<std::string, TargetStatus> HealthChecker::statuses() const {
  std::map<std::string, TargetStatus> out;
  std::vector<std::string> keys;
  {
    std::lock_guard lock(impl_->mu);
    for (const auto& [key, t] : impl_->targets) keys.push_back(key);
  }
  for (const auto& k : keys) {
    if (auto s = status(k)) out[k] = *s;
  }
  return out;
}

}  // namespace xlb::health
