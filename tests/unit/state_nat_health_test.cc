// SPDX-License-Identifier: Apache-2.0
// Health checks of nat/fullnat backends on ports of their own (issue 11): State hands the checker
// backend:Backend.port, not the VIP's port, for TCP, HTTP and gRPC checks; a real checker probes
// servers on loopback that listen only on the backend's port.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "config/yaml.h"
#include "dataplane/fake_dataplane.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "health/checker.h"
#include "health/loopback_listener.h"
#include "spdlog/spdlog.h"
#include "state/state.h"

namespace xlb::state {
namespace {

using dataplane::FakeDataplane;
using namespace std::chrono_literals;

const bool kQuiet = (spdlog::set_level(spdlog::level::err), true);

// A loopback port nobody listens on (bound, then closed): the VIP's port, where a check that
// ignored Backend.port would be refused.
uint16_t closedPort() {
  test::LoopbackListener l;
  return l.port();
}

// A server of one check type on 127.0.0.1:<ephemeral> that can be stopped (the port dies).
class Server {
 public:
  virtual ~Server() = default;
  virtual uint16_t port() const = 0;
  virtual void stop() = 0;
};

class TcpServer : public Server {
 public:
  uint16_t port() const override { return listener_.port(); }
  void stop() override { listener_.close(); }

 private:
  test::LoopbackListener listener_;
};

class HttpServer : public Server {
 public:
  HttpServer() {
    srv_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok", "text/plain");
    });
    port_ = static_cast<uint16_t>(srv_.bind_to_any_port("127.0.0.1"));
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
  }
  ~HttpServer() override { stop(); }
  uint16_t port() const override { return port_; }
  void stop() override {
    if (!thread_.joinable()) return;
    srv_.stop();
    thread_.join();
  }

 private:
  httplib::Server srv_;
  uint16_t port_ = 0;
  std::thread thread_;
};

// A grpc.health.v1 service answering SERVING for every service name.
class ServingHealth final : public grpc::health::v1::Health::Service {
  grpc::Status Check(grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest*,
                     grpc::health::v1::HealthCheckResponse* resp) override {
    resp->set_status(grpc::health::v1::HealthCheckResponse::SERVING);
    return grpc::Status::OK;
  }
};

class GrpcServer : public Server {
 public:
  GrpcServer() {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    port_ = static_cast<uint16_t>(port);
  }
  ~GrpcServer() override { stop(); }
  uint16_t port() const override { return port_; }
  void stop() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
  }

 private:
  ServingHealth service_;
  std::unique_ptr<grpc::Server> server_;
  uint16_t port_ = 0;
};

struct Case {
  const char* type;   // health_check.type in YAML
  const char* mode;   // forwarding
  const char* extra;  // more health_check fields
  std::unique_ptr<Server> (*make)();
};

class NatHealthTargetTest : public ::testing::TestWithParam<Case> {};

TEST_P(NatHealthTargetTest, ProbesBackendPortUpThenDownWhenItDies) {
  const Case& c = GetParam();
  std::unique_ptr<Server> server = c.make();
  ASSERT_NE(server->port(), 0);
  const uint16_t vip_port = closedPort();
  ASSERT_NE(vip_port, server->port());

  FakeDataplane dp;
  State state(dp);
  // fullnat pools are checked against the host's ephemeral range: keep this test off the host's.
  state.setLocalPortRangeReader(
      []() -> absl::StatusOr<nat::PortRange> { return absl::UnavailableError("not read"); });
  health::HealthChecker checker([&state](const std::string& key, const health::Transition& t) {
    state.onHealthTransition(key, t);
  });
  ASSERT_TRUE(checker.start().ok());
  state.attachHealthChecker(&checker);
  auto sub = state.events().subscribe();
  const std::string bport = std::to_string(server->port());
  // 127.0.0.1 stands in for the backend's address (a check address on the balancer host); the
  // port is the backend's own, the VIP's port is closed.
  auto applied = state.applyConfig(
      *config::parseConfigYaml(std::string("snat_pool: {addresses: [10.0.0.100]}\n"
                                           "vips:\n  - address: 10.0.0.10\n    port: ") +
                               std::to_string(vip_port) +
                               "\n    protocol: tcp\n    forwarding: " + c.mode +
                               "\n    maglev_table_size: 1021\n    health_check: {type: " + c.type +
                               ", interval_ms: 50, timeout_ms: 50, rise: 1, fall: 1" + c.extra +
                               "}\n    backends: [{address: 10.0.1.1, port: " + bport +
                               ", health_check: {address: 127.0.0.1}}]\n"),
      false, nullptr);
  ASSERT_TRUE(applied.ok()) << applied;
  const std::string label = "10.0.1.1:" + bport;
  auto next = [&](std::chrono::milliseconds limit) -> std::optional<v1::Event> {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      auto e = sub->next(20ms);
      if (e && e->kind() == v1::Event::KIND_BACKEND_HEALTH && e->backend() == label) return e;
    }
    return std::nullopt;
  };
  auto up = next(3s);
  ASSERT_TRUE(up.has_value()) << "no health verdict for " << label;
  EXPECT_EQ(up->health_transition().to(), v1::HEALTH_UP) << up->health_transition().reason();

  server->stop();  // the backend's port dies
  auto down = next(3s);
  ASSERT_TRUE(down.has_value()) << "no down verdict for " << label;
  EXPECT_EQ(down->health_transition().to(), v1::HEALTH_DOWN);
  state.attachHealthChecker(nullptr);
  checker.stop();
}

INSTANTIATE_TEST_SUITE_P(
    Types, NatHealthTargetTest,
    ::testing::Values(
        Case{"tcp", "nat", "", [] { return std::unique_ptr<Server>(new TcpServer); }},
        Case{"http", "nat", ", http: {path: /healthz}",
             [] { return std::unique_ptr<Server>(new HttpServer); }},
        Case{"grpc", "nat", "", [] { return std::unique_ptr<Server>(new GrpcServer); }},
        Case{"tcp", "fullnat", "", [] { return std::unique_ptr<Server>(new TcpServer); }},
        Case{"http", "fullnat", ", http: {path: /healthz}",
             [] { return std::unique_ptr<Server>(new HttpServer); }},
        Case{"grpc", "fullnat", "", [] { return std::unique_ptr<Server>(new GrpcServer); }}),
    [](const ::testing::TestParamInfo<Case>& info) {
      return std::string(info.param.type) + "_" + info.param.mode;
    });

}  // namespace
}  // namespace xlb::state
