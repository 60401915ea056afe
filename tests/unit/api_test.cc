// SPDX-License-Identifier: Apache-2.0
// The Balancer service over a real gRPC server on a unix socket, backed by State + the fake data
// plane.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "api/server.h"
#include "api/service.h"
#include "dataplane/fake_dataplane.h"
#include "spdlog/spdlog.h"
#include "state/state.h"
#include "xlb/v1/xlb.grpc.pb.h"

namespace xlb::api {
namespace {

const bool kQuiet = (spdlog::set_level(spdlog::level::err), true);

std::string makeTempDir() {
  std::string tmpl = std::filesystem::temp_directory_path().string() + "/xlb-api-test-XXXXXX";
  char* dir = mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  return tmpl;
}

v1::VipKey key(const std::string& addr, uint32_t port, v1::Protocol p = v1::PROTOCOL_TCP) {
  v1::VipKey k;
  k.set_address(addr);
  k.set_port(port);
  k.set_protocol(p);
  return k;
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = makeTempDir();
    socket_ = dir_ + "/sub/xlb.sock";  // parent directory does not exist yet
    auto server = startServer("unix://" + socket_, &service_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = v1::Balancer::NewStub(
        grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  grpc::Status addVip(const std::string& addr, uint32_t port, v1::Vip* out = nullptr) {
    grpc::ClientContext ctx;
    v1::AddVipRequest req;
    req.mutable_vip()->set_address(addr);
    req.mutable_vip()->set_port(port);
    req.mutable_vip()->set_protocol(v1::PROTOCOL_TCP);
    req.mutable_vip()->set_maglev_table_size(1021);
    v1::Vip resp;
    auto st = stub_->AddVip(&ctx, req, &resp);
    if (out) *out = resp;
    return st;
  }

  dataplane::FakeDataplane dp_;
  state::State state_{dp_};
  BalancerService service_{state_, dp_};
  std::string dir_, socket_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Balancer::Stub> stub_;
};

TEST_F(ApiTest, SocketIsCreatedWithMode0660) {
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST_F(ApiTest, SecondServerOnALiveSocketIsRefused) {
  BalancerService other(state_, dp_);
  auto second = startServer("unix://" + socket_, &other);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ApiTest, StaleSocketIsReplaced) {
  std::string stale = dir_ + "/stale.sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, stale.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);  // bound, never listened, closed: a stale file like a crashed agent leaves
  BalancerService other(state_, dp_);
  auto server = startServer("unix:" + stale, &other);
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->Shutdown();
}

TEST_F(ApiTest, VipAndBackendLifecycle) {
  v1::Vip vip;
  ASSERT_TRUE(addVip("10.0.0.10", 80, &vip).ok());
  EXPECT_EQ(vip.address(), "10.0.0.10");
  EXPECT_EQ(vip.forwarding(), v1::FORWARDING_MODE_DSR);

  {
    grpc::ClientContext ctx;
    v1::AddBackendRequest req;
    *req.mutable_vip() = key("10.0.0.10", 80);
    req.mutable_backend()->set_address("10.0.1.1");
    v1::Vip resp;
    ASSERT_TRUE(stub_->AddBackend(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.backends_size(), 1);
    EXPECT_EQ(resp.backends(0).weight(), 1u);
  }
  EXPECT_EQ(dp_.table(0).size(), 1021u);
  {
    grpc::ClientContext ctx;
    v1::SetBackendWeightRequest req;
    *req.mutable_vip() = key("10.0.0.10", 80);
    req.set_address("10.0.1.1");
    req.set_weight(0);
    v1::Vip resp;
    ASSERT_TRUE(stub_->SetBackendWeight(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.backends(0).weight(), 0u);
  }
  EXPECT_TRUE(dp_.table(0).empty());
  {
    grpc::ClientContext ctx;
    v1::ListVipsResponse resp;
    ASSERT_TRUE(stub_->ListVips(&ctx, v1::ListVipsRequest{}, &resp).ok());
    ASSERT_EQ(resp.vips_size(), 1);
    EXPECT_EQ(resp.vips(0).backends(0).address(), "10.0.1.1");
  }
  {
    grpc::ClientContext ctx;
    v1::DeleteBackendRequest req;
    *req.mutable_vip() = key("10.0.0.10", 80);
    req.set_address("10.0.1.1");
    v1::Vip resp;
    ASSERT_TRUE(stub_->DeleteBackend(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.backends_size(), 0);
  }
  {
    grpc::ClientContext ctx;
    v1::DeleteVipRequest req;
    *req.mutable_vip() = key("10.0.0.10", 80);
    v1::Empty resp;
    ASSERT_TRUE(stub_->DeleteVip(&ctx, req, &resp).ok());
  }
  EXPECT_EQ(dp_.vipCount(), 0u);
  EXPECT_EQ(dp_.activeBackendCount(), 0u);
}

TEST_F(ApiTest, ErrorsKeepTheirCodesAndPaths) {
  ASSERT_TRUE(addVip("10.0.0.10", 80).ok());
  auto dup = addVip("10.0.0.10", 80);
  EXPECT_EQ(dup.error_code(), grpc::StatusCode::ALREADY_EXISTS);

  auto bad = addVip("10.0.0.10", 70000);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad.error_message(), "vip.port: 70000 is not in [0, 65535]");

  grpc::ClientContext ctx;
  v1::DeleteVipRequest req;
  *req.mutable_vip() = key("10.0.0.99", 80);
  v1::Empty empty;
  auto missing = stub_->DeleteVip(&ctx, req, &empty);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(missing.error_message(), "vip 10.0.0.99:80/tcp not found");

  grpc::ClientContext ctx2;
  v1::AddBackendRequest breq;
  *breq.mutable_vip() = key("10.0.0.10", 80);
  breq.mutable_backend()->set_address("10.0.1.1");
  breq.mutable_backend()->set_weight(70000);
  v1::Vip vip;
  auto weight = stub_->AddBackend(&ctx2, breq, &vip);
  EXPECT_EQ(weight.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(weight.error_message(), "backend.weight: 70000 is not in [0, 65535]");

  // A data-plane failure: code preserved, state unchanged.
  dp_.failOp("upsertVip",
             absl::ResourceExhaustedError("update map xlb_vips: No space left on device (ENOSPC)"));
  auto full = addVip("10.0.0.11", 80);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(full.error_message().find("ENOSPC"), std::string::npos) << full.error_message();
  grpc::ClientContext ctx3;
  v1::ListVipsResponse list;
  ASSERT_TRUE(stub_->ListVips(&ctx3, v1::ListVipsRequest{}, &list).ok());
  EXPECT_EQ(list.vips_size(), 1);
}

TEST_F(ApiTest, ApplyConfigDryRunThenApplyThenGetConfig) {
  v1::ApplyConfigRequest req;
  auto* vip = req.mutable_config()->add_vips();
  vip->set_address("10.0.0.10");
  vip->set_port(80);
  vip->set_protocol(v1::PROTOCOL_TCP);
  vip->add_backends()->set_address("10.0.1.1");
  req.set_dry_run(true);
  {
    grpc::ClientContext ctx;
    v1::ApplyConfigResponse resp;
    ASSERT_TRUE(stub_->ApplyConfig(&ctx, req, &resp).ok());
    EXPECT_FALSE(resp.applied());
    ASSERT_GE(resp.changes_size(), 1);
    EXPECT_EQ(resp.changes(0), "add vip 10.0.0.10:80/tcp (id 0, maglev, dsr)");
    EXPECT_EQ(dp_.vipCount(), 0u);
  }
  req.set_dry_run(false);
  {
    grpc::ClientContext ctx;
    v1::ApplyConfigResponse resp;
    ASSERT_TRUE(stub_->ApplyConfig(&ctx, req, &resp).ok());
    EXPECT_TRUE(resp.applied());
    EXPECT_EQ(dp_.vipCount(), 1u);
  }
  {
    grpc::ClientContext ctx;
    v1::Config config;
    ASSERT_TRUE(stub_->GetConfig(&ctx, v1::GetConfigRequest{}, &config).ok());
    EXPECT_EQ(config.vips(0).maglev_table_size(), 65537u);
    EXPECT_EQ(config.encap().source_v6_prefix(), "fd00:7862::/64");
  }
  // Invalid config: every error at once, INVALID_ARGUMENT.
  vip->set_port(70000);
  vip->mutable_backends(0)->set_weight(70000);
  {
    grpc::ClientContext ctx;
    v1::ApplyConfigResponse resp;
    auto st = stub_->ApplyConfig(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(st.error_message(),
              "vips[0].port: 70000 is not in [0, 65535]\n"
              "vips[0].backends[0].weight: 70000 is not in [0, 65535]");
  }
}

TEST_F(ApiTest, GetStats) {
  ASSERT_TRUE(addVip("10.0.0.10", 80).ok());
  dp_.counters().global[XLB_STAT_RX] = 42;
  dp_.counters().drops[XLB_DROP_NO_BACKEND] = 3;
  dp_.counters().vips[0] = {9, 900, 2};
  grpc::ClientContext ctx;
  v1::Stats stats;
  ASSERT_TRUE(stub_->GetStats(&ctx, v1::GetStatsRequest{}, &stats).ok());
  EXPECT_EQ(stats.global(0).name(), "rx");
  EXPECT_EQ(stats.global(0).value(), 42u);
  bool found = false;
  for (const auto& d : stats.drops()) {
    if (d.name() == "no_backend") found = d.value() == 3;
  }
  EXPECT_TRUE(found);
  ASSERT_EQ(stats.vips_size(), 1);
  EXPECT_EQ(stats.vips(0).counters().bytes(), 900u);

  dp_.failReadCounters(absl::UnavailableError("read map xlb_stats: Bad file descriptor (EBADF)"));
  grpc::ClientContext ctx2;
  EXPECT_EQ(stub_->GetStats(&ctx2, v1::GetStatsRequest{}, &stats).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST(ApiServerTest, UnixSocketPath) {
  EXPECT_EQ(unixSocketPath("unix:///run/xlb/xlb.sock"), "/run/xlb/xlb.sock");
  EXPECT_EQ(unixSocketPath("unix:/tmp/a.sock"), "/tmp/a.sock");
  EXPECT_EQ(unixSocketPath("127.0.0.1:50051"), "");
}

// ---- issue 3: backend status, drain/undrain, event stream ----

class ApiHealthTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    v1::Config c;
    auto* vip = c.add_vips();
    vip->set_address("10.0.0.10");
    vip->set_port(80);
    vip->set_protocol(v1::PROTOCOL_TCP);
    vip->set_maglev_table_size(1021);
    vip->mutable_health_check()->set_type(v1::HEALTH_CHECK_TYPE_TCP);
    vip->add_backends()->set_address("10.0.1.1");
    vip->add_backends()->set_address("10.0.1.2");
    ASSERT_TRUE(state_.applyConfig(c, false, nullptr).ok());
  }
  void inject(const std::string& backend, health::Health from, health::Health to,
              const std::string& reason) {
    state_.onHealthTransition("10.0.0.10:80/tcp " + backend,
                              {from, to, health::Clock::now(), reason});
  }
};

TEST_F(ApiHealthTest, ListBackendsShowsHealthRotationAndOpenFlows) {
  inject("10.0.1.2", health::Health::kUnknown, health::Health::kDown,
         "connect: connection refused");
  dp_.setOpenFlowsDirect(state_.ids()[0].backends[0].id, 5);
  grpc::ClientContext ctx;
  v1::ListBackendsRequest req;
  *req.mutable_vip() = key("10.0.0.10", 80);
  v1::ListBackendsResponse resp;
  ASSERT_TRUE(stub_->ListBackends(&ctx, req, &resp).ok());
  const v1::VipStatus& v = resp.vip();
  EXPECT_EQ(v.algorithm(), v1::ALGORITHM_MAGLEV);
  EXPECT_FALSE(v.all_down());
  ASSERT_EQ(v.backends_size(), 2);
  EXPECT_EQ(v.backends(0).address(), "10.0.1.1");
  EXPECT_EQ(v.backends(0).health(), v1::HEALTH_UNKNOWN);
  EXPECT_TRUE(v.backends(0).in_rotation());
  EXPECT_EQ(v.backends(0).open_flows(), 5u);
  EXPECT_EQ(v.backends(1).health(), v1::HEALTH_DOWN);
  EXPECT_FALSE(v.backends(1).in_rotation());
  EXPECT_EQ(v.backends(1).last_transition().from(), v1::HEALTH_UNKNOWN);
  EXPECT_EQ(v.backends(1).last_transition().to(), v1::HEALTH_DOWN);
  EXPECT_EQ(v.backends(1).last_transition().reason(), "connect: connection refused");
  EXPECT_GT(v.backends(1).last_transition().time_unix_ms(), 1'600'000'000'000u);

  grpc::ClientContext c2;
  *req.mutable_vip() = key("10.0.0.11", 80);
  auto st = stub_->ListBackends(&c2, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message(), "vip 10.0.0.11:80/tcp not found");
  grpc::ClientContext c3;
  req.mutable_vip()->set_address("10.0.0.300");
  st = stub_->ListBackends(&c3, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message().substr(0, 13), "vip.address: ");
}

TEST_F(ApiHealthTest, DrainAndUndrain) {
  grpc::ClientContext ctx;
  v1::DrainBackendRequest req;
  *req.mutable_vip() = key("10.0.0.10", 80);
  req.set_address("10.0.1.1");
  v1::BackendStatus resp;
  ASSERT_TRUE(stub_->DrainBackend(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.state(), v1::BACKEND_STATE_DRAINING);
  EXPECT_FALSE(resp.in_rotation());
  uint32_t id = state_.ids()[0].backends[0].id;
  EXPECT_EQ(dp_.backend(id).flags, XLB_BE_F_ACTIVE);  // existing flows continue
  for (uint32_t slot : dp_.table(0)) EXPECT_NE(slot, id);
  grpc::ClientContext again;
  ASSERT_TRUE(stub_->DrainBackend(&again, req, &resp).ok());  // idempotent
  EXPECT_EQ(resp.state(), v1::BACKEND_STATE_DRAINING);

  grpc::ClientContext c2;
  v1::UndrainBackendRequest ureq;
  *ureq.mutable_vip() = key("10.0.0.10", 80);
  ureq.set_address("10.0.1.1");
  ASSERT_TRUE(stub_->UndrainBackend(&c2, ureq, &resp).ok());
  EXPECT_EQ(resp.state(), v1::BACKEND_STATE_ACTIVE);
  EXPECT_TRUE(resp.in_rotation());

  grpc::ClientContext c3;
  req.set_address("10.0.1.9");
  auto st = stub_->DrainBackend(&c3, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message(), "backend 10.0.1.9 not found in vip 10.0.0.10:80/tcp");
}

TEST_F(ApiHealthTest, WatchEventsStreamsInitialStateDrainsAndHealthTransitions) {
  grpc::ClientContext ctx;
  v1::WatchEventsRequest req;
  req.set_initial_state(true);
  auto reader = stub_->WatchEvents(&ctx, req);
  v1::Event e;
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.kind(), v1::Event::KIND_BACKEND_HEALTH);
  EXPECT_EQ(e.backend(), "10.0.1.1");
  EXPECT_EQ(e.health_transition().to(), v1::HEALTH_UNKNOWN);
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.backend(), "10.0.1.2");

  // The subscription exists once the initial state is out: a drain through the API...
  {
    grpc::ClientContext c;
    v1::DrainBackendRequest d;
    *d.mutable_vip() = key("10.0.0.10", 80);
    d.set_address("10.0.1.2");
    v1::BackendStatus resp;
    ASSERT_TRUE(stub_->DrainBackend(&c, d, &resp).ok());
  }
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.kind(), v1::Event::KIND_BACKEND_DRAINING);
  EXPECT_EQ(e.vip().address(), "10.0.0.10");
  EXPECT_EQ(e.vip().port(), 80u);
  EXPECT_EQ(e.backend(), "10.0.1.2");
  // ...and a health transition from the checker.
  inject("10.0.1.1", health::Health::kUnknown, health::Health::kDown, "http 503");
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.kind(), v1::Event::KIND_BACKEND_HEALTH);
  EXPECT_EQ(e.backend(), "10.0.1.1");
  EXPECT_EQ(e.health_transition().to(), v1::HEALTH_DOWN);
  EXPECT_EQ(e.health_transition().reason(), "http 503");
  // 10.0.1.2 drains and the only other backend is down: all down, keep_last_healthy keeps it.
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.kind(), v1::Event::KIND_VIP_ALL_DOWN);
  ctx.TryCancel();
  while (reader->Read(&e)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(ApiHealthTest, GetStatsCarriesOpenFlowsHealthAndState) {
  inject("10.0.1.2", health::Health::kUnknown, health::Health::kDown, "x");
  ASSERT_TRUE(state_.drainBackend(key("10.0.0.10", 80), "10.0.1.1").ok());
  dp_.setOpenFlowsDirect(state_.ids()[0].backends[0].id, 3);
  grpc::ClientContext ctx;
  v1::Stats stats;
  ASSERT_TRUE(stub_->GetStats(&ctx, v1::GetStatsRequest{}, &stats).ok());
  ASSERT_EQ(stats.vips_size(), 1);
  const auto& b = stats.vips(0).backends();
  EXPECT_EQ(b[0].open_flows(), 3u);
  EXPECT_EQ(b[0].state(), v1::BACKEND_STATE_DRAINING);
  EXPECT_EQ(b[1].health(), v1::HEALTH_DOWN);
  EXPECT_EQ(b[1].state(), v1::BACKEND_STATE_ACTIVE);
}

}  // namespace
}  // namespace xlb::api
