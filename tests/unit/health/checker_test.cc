// SPDX-License-Identifier: Apache-2.0
// The health checker against real servers on loopback: TCP, HTTP (cpp-httplib), gRPC health service.
#include "health/checker.h"

#include "absl/strings/str_cat.h"

#include "grpc/health/v1/health.grpc.pb.h"
#include "loopback_listener.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace xlb::health {
namespace {

using namespace std::chrono_literals;

using Listener = xlb::test::LoopbackListener;

// A listening socket whose connections are accepted and closed at once (a healthy TCP service).
class Acceptor {
 public:
  Acceptor() {
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        pollfd pfd{fd(), POLLIN, 0};
        if (poll(&pfd, 1, 20) <= 0) continue;
        int c = accept(fd(), nullptr, nullptr);
        if (c >= 0) ::close(c);
      }
    });
  }
  ~Acceptor() {
    stop_ = true;
    thread_.join();
  }
  uint16_t port() const { return listener_.port(); }

 private:
  int fd() const { return listener_.fd(); }
  Listener listener_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A grpc.health.v1 service whose answers the test sets.
class FakeHealthService final : public grpc::health::v1::Health::Service {
 public:
  void set(const std::string& service, grpc::health::v1::HealthCheckResponse::ServingStatus s) {
    std::lock_guard lock(mu_);
    status_[service] = s;
  }
  grpc::Status Check(grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest* req,
                     grpc::health::v1::HealthCheckResponse* resp) override {
    std::lock_guard lock(mu_);
    auto it = status_.find(req->service());
    if (it == status_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service");
    resp->set_status(it->second);
    return grpc::Status::OK;
  }

 private:
  std::mutex mu_;
  std::map<std::string, grpc::health::v1::HealthCheckResponse::ServingStatus> status_;
};

// A port that refuses: bound, then closed.
uint16_t closedPort() {
  Listener l;
  uint16_t p = l.port();
  l.close();
  return p;
}

Endpoint loopback(uint16_t port) { return Endpoint{*parseIpAddress("127.0.0.1"), port}; }

CheckSpec fastSpec(CheckType type) {
  CheckSpec s;
  s.type = type;
  s.interval = 50ms;
  s.timeout = 200ms;
  s.rise = 2;
  s.fall = 2;
  s.jitter = 0.1;
  return s;
}

// Collects transitions and lets a test wait for one.
class Recorder {
 public:
  HealthChecker::Listener listener() {
    return [this](const std::string& key, const Transition& t) {
      std::lock_guard lock(mu_);
      seen_.emplace_back(key, t);
      cv_.notify_all();
    };
  }
  std::optional<Transition> waitFor(const std::string& key, Health to,
                                    std::chrono::milliseconds limit = 5s) {
    std::unique_lock lock(mu_);
    std::optional<Transition> found;
    cv_.wait_for(lock, limit, [&] {
      for (auto& [k, t] : seen_) {
        if (k == key && t.to == to) {
          found = t;
          return true;
        }
      }
      return false;
    });
    return found;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, Transition>> seen_;
};

TEST(CheckerTest, TcpUpAndRefusedDown) {
  Listener up;
  Recorder rec;
  HealthChecker checker(rec.listener());
  ASSERT_TRUE(checker.start().ok());
  checker.setTargets({{"up", loopback(up.port()), fastSpec(CheckType::kTcp)},
                      {"down", loopback(closedPort()), fastSpec(CheckType::kTcp)}});
  EXPECT_TRUE(rec.waitFor("up", Health::kUp).has_value());
  auto down = rec.waitFor("down", Health::kDown);
  ASSERT_TRUE(down.has_value());
  EXPECT_EQ(down->reason, "connect: connection refused");
  auto st = checker.status("down");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->health, Health::kDown);
  EXPECT_GE(st->probe_failures, 2u);
}

TEST(CheckerTest, TcpBackendThatDiesGoesDownWithinASecond) {
  auto l = std::make_unique<Listener>();
  uint16_t port = l->port();
  Recorder rec;
  HealthChecker checker(rec.listener());
  ASSERT_TRUE(checker.start().ok());
  checker.setTargets({{"be", loopback(port), fastSpec(CheckType::kTcp)}});
  ASSERT_TRUE(rec.waitFor("be", Health::kUp).has_value());
  auto killed = Clock::now();
  l->close();
  auto down = rec.waitFor("be", Health::kDown);
  ASSERT_TRUE(down.has_value());
  // fall=2 at a 50 ms interval (+10% jitter): well under a second.
  EXPECT_LT(down->at - killed, 1s);
}

TEST(CheckerTest, HttpStatusAndBody) {
  httplib::Server srv;
  std::atomic<int> code{200};
  srv.Get("/healthz", [&](const httplib::Request& req, httplib::Response& res) {
    res.status = code.load();
    res.set_content(req.get_header_value("Host") == "svc.example" ? "ok host" : "ok", "text/plain");
  });
  int port = srv.bind_to_any_port("127.0.0.1");
  std::thread t([&] { srv.listen_after_bind(); });
  Recorder rec;
  HealthChecker checker(rec.listener());
  ASSERT_TRUE(checker.start().ok());
  auto spec = fastSpec(CheckType::kHttp);
  spec.http.path = "/healthz";
  auto body = spec;
  body.http.host = "svc.example";
  body.http.body_contains = "ok host";
  auto missing = spec;
  missing.http.path = "/nope";
  checker.setTargets({{"http", loopback(port), spec},
                      {"body", loopback(port), body},
                      {"404", loopback(port), missing}});
  EXPECT_TRUE(rec.waitFor("http", Health::kUp).has_value());
  EXPECT_TRUE(rec.waitFor("body", Health::kUp).has_value());
  auto nf = rec.waitFor("404", Health::kDown);
  ASSERT_TRUE(nf.has_value());
  EXPECT_EQ(nf->reason, "http 404");
  code = 503;  // accepts TCP, answers unhealthy
  auto down = rec.waitFor("http", Health::kDown);
  ASSERT_TRUE(down.has_value());
  EXPECT_EQ(down->reason, "http 503");
  srv.stop();
  t.join();
}

TEST(CheckerTest, HttpTimeoutWhenServerNeverAnswers) {
  Listener silent;  // completes the handshake, never sends a byte
  Recorder rec;
  HealthChecker checker(rec.listener());
  ASSERT_TRUE(checker.start().ok());
  auto spec = fastSpec(CheckType::kHttp);
  spec.timeout = 100ms;
  checker.setTargets({{"silent", loopback(silent.port()), spec}});
  auto down = rec.waitFor("silent", Health::kDown);
  ASSERT_TRUE(down.has_value());
  EXPECT_EQ(down->reason, "timeout after 100ms");
}

TEST(CheckerTest, GrpcHealthService) {
  using grpc::health::v1::HealthCheckResponse;
  FakeHealthService health;
  health.set("svc.Good", HealthCheckResponse::SERVING);
  health.set("svc.Bad", HealthCheckResponse::NOT_SERVING);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&health);
  auto server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  Recorder rec;
  HealthChecker checker(rec.listener());
  ASSERT_TRUE(checker.start().ok());
  auto good = fastSpec(CheckType::kGrpc);
  good.grpc.service = "svc.Good";
  auto bad = good;
  bad.grpc.service = "svc.Bad";
  auto unknown = good;
  unknown.grpc.service = "svc.Nope";
  checker.setTargets({{"good", loopback(port), good},
                      {"bad", loopback(port), bad},
                      {"unknown", loopback(port), unknown}});
  EXPECT_TRUE(rec.waitFor("good", Health::kUp).has_value());
  auto b = rec.waitFor("bad", Health::kDown);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->reason, "grpc NOT_SERVING");
  auto u = rec.waitFor("unknown", Health::kDown);
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->reason, "grpc: unknown service");
  health.set("svc.Good", HealthCheckResponse::NOT_SERVING);
  auto g = rec.waitFor("good", Health::kDown);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->reason, "grpc NOT_SERVING");
  checker.stop();
  server->Shutdown();
}

TEST(CheckerTest, SetTargetsKeepsStateOfUnchangedAndDropsRemoved) {
  Listener up;
  Recorder rec;
  HealthChecker checker(rec.listener());
  ASSERT_TRUE(checker.start().ok());
  auto spec = fastSpec(CheckType::kTcp);
  checker.setTargets({{"a", loopback(up.port()), spec}, {"b", loopback(up.port()), spec}});
  ASSERT_TRUE(rec.waitFor("a", Health::kUp).has_value());
  auto probes_before = checker.status("a")->probes;
  checker.setTargets({{"a", loopback(up.port()), spec}});
  EXPECT_EQ(checker.status("a")->health, Health::kUp);
  EXPECT_GE(checker.status("a")->probes, probes_before);
  EXPECT_FALSE(checker.status("b").has_value());
  // kNone: never probed, reported up.
  auto none = spec;
  none.type = CheckType::kNone;
  checker.setTargets({{"n", loopback(closedPort()), none}});
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(checker.status("n")->health, Health::kUp);
  EXPECT_EQ(checker.status("n")->probes, 0u);
}

TEST(CheckerTest, ManyTargetsOneThread) {
  Acceptor up;
  Recorder rec;
  HealthChecker checker(rec.listener());
  ASSERT_TRUE(checker.start().ok());
  std::vector<TargetSpec> specs;
  auto spec = fastSpec(CheckType::kTcp);
  spec.interval = 100ms;
  // (Not "t" + std::to_string(i): GCC 12 -Wrestrict false positive on that operator+.)
  auto name = [](int i) { return absl::StrCat("t", i); };
  for (int i = 0; i < 300; ++i) specs.push_back({name(i), loopback(up.port()), spec});
  checker.setTargets(specs);
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(rec.waitFor(name(i), Health::kUp).has_value()) << i;
  }
}

}  // namespace
}  // namespace xlb::health
