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
#include <fstream>
#include <sstream>

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
    // The status beside it: the size chosen for one backend, and the kernel memory of its entries.
    ASSERT_EQ(resp.statuses_size(), 1);
    EXPECT_EQ(resp.statuses(0).vip().address(), "10.0.0.10");
    EXPECT_EQ(resp.statuses(0).table_size(), 1021u);
    EXPECT_GT(resp.statuses(0).kernel_bytes(), 0u);
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
    EXPECT_FALSE(config.vips(0).has_maglev_table_size());  // automatic
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

// ---- issue 4: API security (listeners, socket group, TLS/mTLS, request limits) ----

v1::Vip vipWithBackends(const std::string& addr, int backends) {
  v1::Vip vip;
  vip.set_address(addr);
  vip.set_port(80);
  vip.set_protocol(v1::PROTOCOL_TCP);
  vip.set_maglev_table_size(1021);
  for (int i = 0; i < backends; ++i) {
    vip.add_backends()->set_address("10.0.1." + std::to_string(i + 1));
  }
  return vip;
}

class ApiLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = makeTempDir();
    limits_.max_vips_per_request = 2;
    limits_.max_backends_per_request = 3;
    limits_.max_request_bytes = 4096;
    service_ = std::make_unique<BalancerService>(state_, dp_, limits_);
    ServerOptions o;
    o.listen = {"unix://" + dir_ + "/xlb.sock"};
    o.socket_group.clear();
    o.limits = limits_;
    auto server = startServer(o, {service_.get()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ =
        v1::Balancer::NewStub(grpc::CreateChannel(o.listen[0], grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    std::filesystem::remove_all(dir_);
  }
  grpc::Status apply(const v1::Config& config, bool dry_run = false) {
    grpc::ClientContext ctx;
    v1::ApplyConfigRequest req;
    *req.mutable_config() = config;
    req.set_dry_run(dry_run);
    v1::ApplyConfigResponse resp;
    return stub_->ApplyConfig(&ctx, req, &resp);
  }

  dataplane::FakeDataplane dp_;
  state::State state_{dp_};
  RequestLimits limits_;
  std::unique_ptr<BalancerService> service_;
  std::string dir_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Balancer::Stub> stub_;
};

TEST_F(ApiLimitsTest, TooManyVipsOrBackendsAreRefusedBeforeAnythingChanges) {
  v1::Config ok;
  *ok.add_vips() = vipWithBackends("10.0.0.1", 1);
  ASSERT_TRUE(apply(ok).ok());
  const std::string before = state_.config().DebugString();

  v1::Config vips;
  for (int i = 0; i < 3; ++i)
    *vips.add_vips() = vipWithBackends("10.0.0." + std::to_string(i + 1), 0);
  for (bool dry_run : {true, false}) {
    auto st = apply(vips, dry_run);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_EQ(st.error_message(),
              "config.vips: 3 VIPs in one request exceed the limit of 2 (--max-vips-per-request=2; "
              "raise it, up to the data plane's 1024, or send fewer per request)");
  }
  // Counted over all VIPs: 2 + 2 backends > 3, although each VIP alone is within the limit.
  v1::Config backends;
  *backends.add_vips() = vipWithBackends("10.0.0.1", 2);
  *backends.add_vips() = vipWithBackends("10.0.0.2", 2);
  auto st = apply(backends);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(st.error_message(),
            "config.vips[*].backends: 4 backends in one request exceed the limit of 3 "
            "(--max-backends-per-request=3; raise it, up to the data plane's 16384, or send fewer "
            "per request)");

  grpc::ClientContext ctx;
  v1::AddVipRequest add;
  *add.mutable_vip() = vipWithBackends("10.0.0.9", 4);
  v1::Vip resp;
  st = stub_->AddVip(&ctx, add, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(st.error_message().substr(0, 62),
            "vip.backends: 4 backends in one request exceed the limit of 3 ");

  EXPECT_EQ(state_.config().DebugString(), before);
  EXPECT_EQ(dp_.vipCount(), 1u);
  // At the limit is fine.
  v1::Config at_limit;
  *at_limit.add_vips() = vipWithBackends("10.0.0.1", 2);
  *at_limit.add_vips() = vipWithBackends("10.0.0.2", 1);
  EXPECT_TRUE(apply(at_limit).ok());
  EXPECT_EQ(dp_.vipCount(), 2u);
}

TEST(ApiLimitsMessageTest, DefaultLimitsAreTheDataPlaneCapacity) {
  RequestLimits d;
  EXPECT_EQ(d.max_request_bytes, 4u << 20);
  EXPECT_EQ(d.max_vips_per_request, static_cast<uint32_t>(XLB_MAX_VIPS));
  EXPECT_EQ(d.max_backends_per_request, static_cast<uint32_t>(XLB_MAX_BACKENDS));
  v1::Config c;
  for (int i = 0; i <= XLB_MAX_VIPS; ++i) c.add_vips();
  auto st = checkConfigLimits(c, d, "config");
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(st.message(),
            "config.vips: 1025 VIPs in one request exceed the limit of 1024 "
            "(--max-vips-per-request=1024; the data plane holds at most 1024 VIPs: split the "
            "configuration across balancers)");
}

TEST_F(ApiLimitsTest, OversizedMessageIsRefusedByGrpc) {
  v1::Config big;
  auto* vip = big.add_vips();
  *vip = vipWithBackends("10.0.0.1", 1);
  vip->set_name(std::string(5000, 'x'));  // > max_request_bytes 4096
  auto st = apply(big);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(st.error_message().find("larger than max"), std::string::npos) << st.error_message();
  EXPECT_EQ(dp_.vipCount(), 0u);
  EXPECT_EQ(state_.config().vips_size(), 0);
}

TEST(ApiServerOptionsTest, TcpListenerWithoutTlsIsRefusedUnlessExplicitlyInsecure) {
  dataplane::FakeDataplane dp;
  state::State state{dp};
  BalancerService service{state, dp};
  ServerOptions o;
  o.listen = {"127.0.0.1:0"};
  auto refused = startServer(o, {&service});
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(),
            "--listen 127.0.0.1:0: a TCP listener serves TLS only: give --tls-cert FILE --tls-key "
            "FILE (and --client-ca FILE to require client certificates), or "
            "--insecure-plaintext-tcp to let anyone who can reach the port control the balancer");

  o.insecure_plaintext_tcp = true;
  std::vector<int> ports;
  auto server = startServer(o, {&service}, &ports);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_EQ(ports.size(), 1u);
  ASSERT_GT(ports[0], 0);
  auto stub = v1::Balancer::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(ports[0]),
                                                        grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::ListVipsResponse resp;
  EXPECT_TRUE(stub->ListVips(&ctx, v1::ListVipsRequest{}, &resp).ok());
  (*server)->Shutdown();
}

TEST(ApiServerOptionsTest, MisconfigurationsNameTheFlag) {
  auto msg = [](ServerOptions o) { return std::string(checkServerOptions(o).message()); };
  ServerOptions o;
  o.listen = {"unix:///tmp/x.sock"};
  o.tls_cert = "/nonexistent/cert.pem";
  o.tls_key = "/nonexistent/key.pem";
  EXPECT_EQ(
      msg(o),
      "--tls-cert/--tls-key/--client-ca/--insecure-plaintext-tcp configure TCP listeners, but "
      "every --listen is a unix socket (protected by its file mode, no TLS); add --listen "
      "HOST:PORT or drop them");
  o.listen.push_back("127.0.0.1:9443");
  EXPECT_EQ(msg(o), "--tls-cert /nonexistent/cert.pem: cannot read: No such file or directory");
  o.tls_key.clear();
  EXPECT_EQ(msg(o), "--tls-cert needs --tls-key too (the server's certificate and key)");
  o.tls_cert.clear();
  o.client_ca = "/etc/ssl/certs/ca-certificates.crt";
  EXPECT_EQ(msg(o), "--client-ca needs the server's own --tls-cert and --tls-key");
  o.client_ca.clear();
  o.listen = {"[::1]:70000"};
  o.insecure_plaintext_tcp = true;
  EXPECT_EQ(msg(o),
            "--listen \"[::1]:70000\": has an invalid port (expected unix:///path.sock, HOST:PORT "
            "or [IPV6]:PORT, e.g. 127.0.0.1:9443)");
  o.listen = {"::1:9443"};
  EXPECT_NE(msg(o).find("IPv6 address without brackets"), std::string::npos);
  o.listen.clear();
  EXPECT_EQ(msg(o), "--listen: no listener given (the default is unix:///run/xlb/xlb.sock)");
}

// The group a test may give away: 65534 (nogroup) as root, else one of the caller's own groups.
gid_t testGroup() { return ::geteuid() == 0 ? 65534 : ::getegid(); }

TEST(ApiSocketTest, SocketAndCreatedDirectoryGetTheGroup) {
  const std::string dir = makeTempDir();
  dataplane::FakeDataplane dp;
  state::State state{dp};
  BalancerService service{state, dp};
  ServerOptions o;
  o.listen = {"unix://" + dir + "/run/xlb.sock", "unix:" + dir + "/second.sock"};
  o.socket_group = std::to_string(testGroup());  // numeric: no /etc/group entry needed
  auto server = startServer(o, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_gid, testGroup());
  for (const char* sock : {"/run/xlb.sock", "/second.sock"}) {
    ASSERT_EQ(::stat((dir + sock).c_str(), &st), 0) << sock;
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0660u) << sock;
    EXPECT_EQ(st.st_gid, testGroup()) << sock;
  }
  // The temp dir itself (0700: private, not made for a group) is never regrouped.
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, ::getegid());
  (*server)->Shutdown();
  std::filesystem::remove_all(dir);
}

TEST(ApiSocketTest, PrivateRootDirectoryIsGivenTheGroupAndAMissingGroupIsOnlyAWarning) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (a root:root directory to regroup)";
  const std::string dir = makeTempDir();
  const std::string run = dir + "/run";  // like systemd's RuntimeDirectory=xlb (0750 root:root)
  ASSERT_EQ(::mkdir(run.c_str(), 0750), 0);
  ASSERT_EQ(::chown(run.c_str(), 0, 0), 0);
  dataplane::FakeDataplane dp;
  state::State state{dp};
  BalancerService service{state, dp};
  ServerOptions o;
  o.listen = {"unix://" + run + "/xlb.sock"};
  o.socket_group = "65534";
  auto server = startServer(o, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  struct stat st {};
  ASSERT_EQ(::stat(run.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, 65534u);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  (*server)->Shutdown();

  ASSERT_EQ(::chown(run.c_str(), 0, 0), 0);
  o.socket_group = "xlb-test-no-such-group";
  server = startServer(o, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_EQ(::stat((run + "/xlb.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, 0u);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  ASSERT_EQ(::stat(run.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, 0u);
  (*server)->Shutdown();
  std::filesystem::remove_all(dir);
}

// ---- TLS with certificates made by the openssl command (skipped without it) ----

class ApiTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::system("command -v openssl >/dev/null 2>&1") != 0) return;
    dir_ = new std::string(makeTempDir());
    const std::string d = *dir_;
    // A CA, a server certificate for 127.0.0.1 and a client certificate, both signed by it; a
    // rogue client certificate from another CA.
    const std::string script =
        "set -e; cd " + d +
        "; ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "-days 2 -subj /CN=$1 -keyout $1.key -out $1.crt; }; "
        "leaf() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "
        "/CN=$1 -keyout $1.key -out $1.csr; printf '%s\\n' \"$3\" >$1.ext; openssl x509 -req -in "
        "$1.csr -CA $2.crt -CAkey $2.key -CAcreateserial -days 2 -extfile $1.ext -out $1.crt; }; "
        "ca ca; ca rogueca; leaf server ca subjectAltName=IP:127.0.0.1; "
        "leaf client ca extendedKeyUsage=clientAuth; leaf rogue rogueca "
        "extendedKeyUsage=clientAuth";
    ok_ = std::system(
              ("bash -c '" + shellEscape(script) + "' >" + d + "/openssl.log 2>&1").c_str()) == 0;
  }
  static void TearDownTestSuite() {
    if (dir_) std::filesystem::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }
  static std::string shellEscape(const std::string& s) {
    std::string out;
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out;
  }
  static std::string read(const std::string& name) {
    std::ifstream in(*dir_ + "/" + name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void SetUp() override {
    if (dir_ == nullptr) GTEST_SKIP() << "openssl command not installed";
    ASSERT_TRUE(ok_) << "openssl failed, see " << *dir_ << "/openssl.log";
  }
  ServerOptions tlsOptions() const {
    ServerOptions o;
    o.listen = {"127.0.0.1:0"};
    o.tls_cert = *dir_ + "/server.crt";
    o.tls_key = *dir_ + "/server.key";
    o.client_ca = *dir_ + "/ca.crt";
    return o;
  }
  grpc::Status listVips(int port, const std::string& cert, const std::string& key) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = read("ca.crt");
    if (!cert.empty()) {
      ssl.pem_cert_chain = read(cert);
      ssl.pem_private_key = read(key);
    }
    auto stub = v1::Balancer::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::SslCredentials(ssl)));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::ListVipsResponse resp;
    return stub->ListVips(&ctx, v1::ListVipsRequest{}, &resp);
  }

  static std::string* dir_;
  static bool ok_;
  dataplane::FakeDataplane dp_;
  state::State state_{dp_};
  BalancerService service_{state_, dp_};
};
std::string* ApiTlsTest::dir_ = nullptr;
bool ApiTlsTest::ok_ = false;

TEST_F(ApiTlsTest, MutualTlsRequiresAClientCertificateFromTheClientCa) {
  std::vector<int> ports;
  auto server = startServer(tlsOptions(), {&service_}, &ports);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(listVips(ports[0], "", "").error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(listVips(ports[0], "rogue.crt", "rogue.key").error_code(),
            grpc::StatusCode::UNAVAILABLE);
  auto st = listVips(ports[0], "client.crt", "client.key");
  EXPECT_TRUE(st.ok()) << st.error_message();
  (*server)->Shutdown();
}

TEST_F(ApiTlsTest, TlsWithoutClientCaAcceptsAnyTlsClient) {
  ServerOptions o = tlsOptions();
  o.client_ca.clear();
  std::vector<int> ports;
  auto server = startServer(o, {&service_}, &ports);
  ASSERT_TRUE(server.ok()) << server.status();
  auto st = listVips(ports[0], "", "");
  EXPECT_TRUE(st.ok()) << st.error_message();
  (*server)->Shutdown();
}

TEST_F(ApiTlsTest, BadPemFilesAreNamed) {
  ServerOptions o = tlsOptions();
  o.tls_key = *dir_ + "/client.key";  // a valid key, but not the certificate's
  EXPECT_EQ(checkServerOptions(o).message(),
            "--tls-key " + o.tls_key + " does not match the certificate in --tls-cert " +
                o.tls_cert + " (a key/cert pair from the same CSR?)");
  o = tlsOptions();
  o.tls_cert = *dir_ + "/server.key";
  EXPECT_EQ(checkServerOptions(o).message().find(
                "--tls-cert " + o.tls_cert +
                ": not a PEM certificate (expected \"-----BEGIN CERTIFICATE-----\")"),
            0u)
      << checkServerOptions(o).message();
  o = tlsOptions();
  o.client_ca = *dir_ + "/openssl.log";
  EXPECT_NE(checkServerOptions(o).message().find("--client-ca " + o.client_ca +
                                                 ": not a PEM certificate"),
            std::string::npos);
  EXPECT_TRUE(checkServerOptions(tlsOptions()).ok());
}

}  // namespace
}  // namespace xlb::api
