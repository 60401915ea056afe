// SPDX-License-Identifier: Apache-2.0
// Runs the real lbctl binary against the real gRPC service (State + FakeDataplane) on a unix
// socket: every command's output, exit code and error line, without root or a kernel data plane.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "api/server.h"
#include "api/service.h"
#include "config/yaml.h"
#include "dataplane/fake_dataplane.h"
#include "state/state.h"

namespace {

namespace fs = std::filesystem;

struct Result {
  int rc = -1;
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string shellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

class LbctlApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lbctl_api_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    listen_ = "unix://" + (dir_ / "xlb.sock").string();
    state_ = std::make_unique<xlb::state::State>(dataplane_);
    service_ = std::make_unique<xlb::api::BalancerService>(*state_, dataplane_);
    auto server = xlb::api::startServer(listen_, service_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Runs lbctl with the test server and `args` (shell words, already quoted where needed).
  Result lbctl(const std::string& args, const std::string& server = "") {
    const fs::path out = dir_ / "out", err = dir_ / "err";
    std::string cmd = std::string(XLB_LBCTL_PATH) + " --server " +
                      shellQuote(server.empty() ? listen_ : server) + " " + args + " >" +
                      out.string() + " 2>" + err.string();
    int status = std::system(cmd.c_str());
    Result r;
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  void writeFile(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }

  fs::path dir_;
  std::string listen_;
  xlb::dataplane::FakeDataplane dataplane_;
  std::unique_ptr<xlb::state::State> state_;
  std::unique_ptr<xlb::api::BalancerService> service_;
  std::unique_ptr<grpc::Server> server_;
};

// Issue 12: lbctl asks for VIPs in pages of 500 and prints them all as one list (key order).
TEST_F(LbctlApiTest, VipListFollowsEveryPage) {
  xlb::v1::Config cfg;
  for (int i = 0; i < 1020; ++i) {
    xlb::v1::Vip* v = cfg.add_vips();
    v->set_address("10.200." + std::to_string(i / 250) + "." + std::to_string(i % 250));
    v->set_port(80);
    v->set_protocol(xlb::v1::PROTOCOL_TCP);
  }
  ASSERT_TRUE(state_->applyConfig(cfg, false, nullptr).ok());
  auto list = lbctl("vip list");
  ASSERT_EQ(list.rc, 0) << list.err;
  std::vector<std::string> lines;
  std::istringstream in(list.out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 1021u) << "header + every VIP (three pages)";
  EXPECT_EQ(lines[1].rfind("10.200.0.0:80/tcp", 0), 0u) << lines[1];
  EXPECT_EQ(lines[1020].rfind("10.200.4.19:80/tcp", 0), 0u) << lines[1020];
  auto json = lbctl("-o json vip list");
  ASSERT_EQ(json.rc, 0) << json.err;
  size_t n = 0;
  for (size_t at = 0; (at = json.out.find("\"address\": \"10.200.", at)) != std::string::npos; ++at) ++n;
  EXPECT_EQ(n, 2 * 1020u) << "each VIP's spec and status";
  EXPECT_NE(json.out.find("\"next_page_token\": \"\""), std::string::npos) << "one merged answer";
}

TEST_F(LbctlApiTest, VipAddListDelete) {
  auto add =
      lbctl("vip add 10.100.0.10:80/tcp --name web --backend 10.0.1.11 --backend 10.0.1.12:3");
  ASSERT_EQ(add.rc, 0) << add.err;
  EXPECT_NE(add.out.find("10.100.0.10:80/tcp"), std::string::npos) << add.out;
  EXPECT_NE(add.out.find("web"), std::string::npos) << add.out;

  auto add6 = lbctl("vip add '[2001:db8::10]:0/udp' --forwarding ipip --maglev-table-size 1021");
  ASSERT_EQ(add6.rc, 0) << add6.err;

  auto list = lbctl("vip list");
  ASSERT_EQ(list.rc, 0) << list.err;
  EXPECT_EQ(list.out.rfind("VIP ", 0), 0u) << list.out;  // header first
  EXPECT_NE(list.out.find("10.0.1.12*3"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("[2001:db8::10]:0/udp"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("ipip"), std::string::npos) << list.out;

  auto json = lbctl("-o json vip list");
  ASSERT_EQ(json.rc, 0) << json.err;
  EXPECT_NE(json.out.find("\"vips\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"maglev_table_size\": 1021"), std::string::npos) << json.out;

  auto del = lbctl("vip del 10.100.0.10:80/tcp");
  ASSERT_EQ(del.rc, 0) << del.err;
  EXPECT_EQ(del.out, "deleted vip 10.100.0.10:80/tcp\n");
  auto again = lbctl("vip del 10.100.0.10:80/tcp");
  EXPECT_EQ(again.rc, 1);
  EXPECT_EQ(again.err.rfind("lbctl: NOT_FOUND: ", 0), 0u) << again.err;
  EXPECT_TRUE(again.out.empty());
}

TEST_F(LbctlApiTest, ErrorsKeepTheirCodesAndChangeNothing) {
  ASSERT_EQ(lbctl("vip add 10.100.0.10:80/tcp --backend 10.0.1.11").rc, 0);
  const std::string before = lbctl("vip list").out;

  auto dup = lbctl("vip add 10.100.0.10:80/tcp");
  EXPECT_EQ(dup.rc, 1);
  EXPECT_EQ(dup.err.rfind("lbctl: ALREADY_EXISTS: ", 0), 0u) << dup.err;

  auto port = lbctl("vip add 10.100.0.11:70000/tcp");
  EXPECT_EQ(port.rc, 1);
  EXPECT_EQ(port.err.rfind("lbctl: INVALID_ARGUMENT: ", 0), 0u) << port.err;
  EXPECT_NE(port.err.find("70000 is not in [0, 65535]"), std::string::npos) << port.err;

  auto weight = lbctl("backend weight 10.100.0.10:80/tcp 10.0.1.11 70000");
  EXPECT_EQ(weight.rc, 1);
  EXPECT_NE(weight.err.find("INVALID_ARGUMENT"), std::string::npos) << weight.err;

  auto missing = lbctl("backend del 10.100.0.10:80/tcp 10.0.1.99");
  EXPECT_EQ(missing.rc, 1);
  EXPECT_EQ(missing.err.rfind("lbctl: NOT_FOUND: ", 0), 0u) << missing.err;

  auto usage = lbctl("vip add 10.100.0.300:80/tcp");
  EXPECT_EQ(usage.rc, 2);
  EXPECT_EQ(usage.err.rfind("lbctl: INVALID_ARGUMENT: vip \"10.100.0.300:80/tcp\"", 0), 0u)
      << usage.err;

  EXPECT_EQ(lbctl("vip list").out, before);
}

// NAT rules reach lbctl from the agent's shared validator (AddVip, AddBackend), with the field
// path and exit 1; options a forwarding mode cannot use are refused locally (exit 2). Nothing is
// added. (Creating NAT VIPs needs the NAT data plane: tests/e2e.)
TEST_F(LbctlApiTest, NatValidationThroughTheApi) {
  ASSERT_EQ(lbctl("vip add 10.100.0.10:80/tcp --backend 10.0.1.11").rc, 0);
  const std::string before = lbctl("vip list").out;

  auto port = lbctl("vip add 10.100.0.11:80/tcp --backend 10.0.1.11:8080:");
  EXPECT_EQ(port.rc, 1);
  EXPECT_EQ(port.err,
            "lbctl: INVALID_ARGUMENT: vip.backends[0].port: 8080 is not the VIP's port 80: a port "
            "of its own needs forwarding nat or fullnat: dsr and ipip deliver the client's packet "
            "unchanged (forwarding is dsr; remove the port, or set forwarding: nat or fullnat)\n");

  auto nat46 = lbctl("vip add 10.100.0.11:80/tcp --forwarding nat --backend '[2001:db8::1]:80:'");
  EXPECT_EQ(nat46.rc, 1);
  EXPECT_NE(nat46.err.find("vip.backends[0].address: \"2001:db8::1\" is IPv6 but the VIP is IPv4"),
            std::string::npos)
      << nat46.err;

  auto pool = lbctl("vip add 10.100.0.11:80/tcp --forwarding fullnat --snat 10.100.0.10");
  EXPECT_EQ(pool.rc, 1);
  EXPECT_NE(pool.err.find("snat_pool.addresses[0]: \"10.100.0.10\" is the address of vips[0]"),
            std::string::npos)
      << pool.err;

  auto backend = lbctl("backend add 10.100.0.10:80/tcp 10.0.1.12:8080");
  EXPECT_EQ(backend.rc, 1);
  EXPECT_NE(backend.err.find("backends[1].port: 8080 is not the VIP's port 80"), std::string::npos)
      << backend.err;

  auto local = lbctl("vip add 10.100.0.11:80/tcp --forwarding nat --snat 192.0.2.1");
  EXPECT_EQ(local.rc, 2);
  EXPECT_EQ(local.err, "lbctl: INVALID_ARGUMENT: --snat needs --forwarding fullnat (got nat)\n");

  EXPECT_EQ(lbctl("vip list").out, before);
}

TEST_F(LbctlApiTest, BackendCommands) {
  ASSERT_EQ(lbctl("vip add 10.100.0.10:80/tcp --backend 10.0.1.11").rc, 0);
  auto add = lbctl("backend add 10.100.0.10:80/tcp 10.0.1.12 --weight 3");
  ASSERT_EQ(add.rc, 0) << add.err;
  EXPECT_EQ(add.out,
            "BACKEND    WEIGHT  SHARE\n"
            "10.0.1.11       1  25.0%\n"
            "10.0.1.12       3  75.0%\n");
  auto w = lbctl("backend weight 10.100.0.10:80/tcp 10.0.1.11 0");
  ASSERT_EQ(w.rc, 0) << w.err;
  auto list = lbctl("backend list 10.100.0.10:80/tcp");
  ASSERT_EQ(list.rc, 0) << list.err;
  // ListBackends: a weight-0 backend is out of rotation; no health check means always up.
  EXPECT_EQ(list.out,
            "BACKEND    WEIGHT   SHARE  STATE   HEALTH  IN ROTATION  OPEN FLOWS  LAST TRANSITION\n"
            "10.0.1.11       0       -  active  up      no                    0  -\n"
            "10.0.1.12       3  100.0%  active  up      yes                   0  -\n");
  auto json = lbctl("-o json backend list 10.100.0.10:80/tcp");
  ASSERT_EQ(json.rc, 0) << json.err;
  EXPECT_NE(json.out.find("\"open_flows\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"in_rotation\": true"), std::string::npos) << json.out;
  auto del = lbctl("backend del 10.100.0.10:80/tcp 10.0.1.11");
  ASSERT_EQ(del.rc, 0) << del.err;
  EXPECT_EQ(del.out.find("10.0.1.11"), std::string::npos) << del.out;
  auto nolist = lbctl("backend list 10.100.0.99:80/tcp");
  EXPECT_EQ(nolist.rc, 1);
  EXPECT_EQ(nolist.err.rfind("lbctl: NOT_FOUND: vip 10.100.0.99:80/tcp", 0), 0u) << nolist.err;
}

TEST_F(LbctlApiTest, DrainUndrainAndWait) {
  ASSERT_EQ(lbctl("vip add 10.100.0.10:80/tcp --backend 10.0.1.11 --backend 10.0.1.12").rc, 0);
  auto drain = lbctl("backend drain 10.100.0.10:80/tcp 10.0.1.12");
  ASSERT_EQ(drain.rc, 0) << drain.err;
  EXPECT_NE(drain.out.find("10.0.1.12       1      -  draining"), std::string::npos) << drain.out;
  auto list = lbctl("backend list 10.100.0.10:80/tcp");
  EXPECT_NE(list.out.find("10.0.1.11       1  100.0%  active"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("10.0.1.12       1       -  draining  up      no"), std::string::npos)
      << list.out;
  // Idempotent.
  ASSERT_EQ(lbctl("backend drain 10.100.0.10:80/tcp 10.0.1.12").rc, 0);

  // Open flows come from the data plane's counters: with 3 open, --wait times out (exit 1, the
  // remaining count in the message); at 0 it returns at once.
  auto ids = state_->ids();
  ASSERT_EQ(ids.size(), 1u);
  uint32_t id12 = 0;
  for (const auto& b : ids[0].backends) {
    if (b.address == "10.0.1.12") id12 = b.id;
  }
  ASSERT_NE(id12, 0u);
  ASSERT_TRUE(dataplane_.setOpenFlows(id12, 3).ok());
  auto timeout = lbctl("backend drain 10.100.0.10:80/tcp 10.0.1.12 --wait --timeout 600ms");
  EXPECT_EQ(timeout.rc, 1) << timeout.err;
  EXPECT_TRUE(timeout.out.empty()) << timeout.out;
  EXPECT_NE(timeout.err.find("lbctl: waiting for 10.0.1.12 to drain: 3 open flows"),
            std::string::npos)
      << timeout.err;
  EXPECT_NE(timeout.err.find("lbctl: DEADLINE_EXCEEDED: backend 10.0.1.12 of 10.100.0.10:80/tcp "
                             "still has 3 open flows after 600ms"),
            std::string::npos)
      << timeout.err;
  ASSERT_TRUE(dataplane_.setOpenFlows(id12, 0).ok());
  auto done = lbctl("backend drain 10.100.0.10:80/tcp 10.0.1.12 --wait --timeout 5s");
  EXPECT_EQ(done.rc, 0) << done.err;
  EXPECT_NE(done.err.find("10.0.1.12 drained: 0 open flows"), std::string::npos) << done.err;
  EXPECT_NE(done.out.find("draining"), std::string::npos) << done.out;

  auto undrain = lbctl("backend undrain 10.100.0.10:80/tcp 10.0.1.12");
  ASSERT_EQ(undrain.rc, 0) << undrain.err;
  EXPECT_NE(undrain.out.find("active  up      yes"), std::string::npos) << undrain.out;

  auto missing = lbctl("backend drain 10.100.0.10:80/tcp 10.0.1.99");
  EXPECT_EQ(missing.rc, 1);
  EXPECT_EQ(missing.err.rfind("lbctl: NOT_FOUND: ", 0), 0u) << missing.err;
  auto bad = lbctl("backend drain 10.100.0.10:80/tcp 10.0.1.12 --wait --timeout soon");
  EXPECT_EQ(bad.rc, 2);
  EXPECT_EQ(bad.err,
            "lbctl: INVALID_ARGUMENT: --timeout \"soon\" is not a positive duration (e.g. "
            "5s, 500ms, 1m)\n");
}

TEST_F(LbctlApiTest, VipAddHealthCheckAndAlgorithmOptions) {
  auto add = lbctl(
      "-o json vip add 10.100.0.10:80/tcp --algorithm source_hash --source-hash-include-port "
      "--health-check http --hc-interval 100ms --hc-timeout 50ms --hc-rise 3 --hc-fall 2 "
      "--hc-port 8080 --hc-http-path /healthz --hc-http-status 200-299,418 --all-down drop "
      "--backend 10.0.1.11");
  ASSERT_EQ(add.rc, 0) << add.err;
  const xlb::v1::Config config = state_->config();  // a copy: config() returns by value
  ASSERT_EQ(config.vips_size(), 1);
  const auto& vip = config.vips(0);
  EXPECT_EQ(vip.algorithm(), xlb::v1::ALGORITHM_SOURCE_HASH);
  EXPECT_TRUE(vip.source_hash_include_port());
  EXPECT_EQ(vip.all_down_policy(), xlb::v1::ALL_DOWN_POLICY_DROP);
  const auto& hc = vip.health_check();
  EXPECT_EQ(hc.type(), xlb::v1::HEALTH_CHECK_TYPE_HTTP);
  EXPECT_EQ(hc.interval_ms(), 100u);
  EXPECT_EQ(hc.timeout_ms(), 50u);
  EXPECT_EQ(hc.rise(), 3u);
  EXPECT_EQ(hc.fall(), 2u);
  EXPECT_EQ(hc.port(), 8080u);
  EXPECT_EQ(hc.http().path(), "/healthz");
  ASSERT_EQ(hc.http().expected_statuses_size(), 2);
  EXPECT_EQ(hc.http().expected_statuses(1).low(), 418u);

  auto grpc = lbctl(
      "vip add 10.100.0.11:80/tcp --algorithm least_conn --health-check grpc "
      "--hc-grpc-service xlb.Test --backend 10.0.1.11");
  ASSERT_EQ(grpc.rc, 0) << grpc.err;
  ASSERT_EQ(state_->config().vips_size(), 2);
  EXPECT_EQ(state_->config().vips(1).health_check().grpc().service(), "xlb.Test");

  // Local usage errors name the option and value; nothing reaches the agent.
  const std::pair<const char*, const char*> usage[] = {
      {"--health-check tcp --hc-interval fast",
       "lbctl: INVALID_ARGUMENT: --hc-interval \"fast\" is not a positive duration"},
      {"--health-check http --hc-http-status 200-700",
       "lbctl: INVALID_ARGUMENT: --hc-http-status \"200-700\": \"200-700\" is outside"},
      {"--hc-interval 1s", "lbctl: INVALID_ARGUMENT: --hc-interval needs --health-check tcp"},
      {"--health-check tcp --hc-http-path /x",
       "lbctl: INVALID_ARGUMENT: --hc-http-path needs --health-check http"},
      {"--health-check http --hc-grpc-service x",
       "lbctl: INVALID_ARGUMENT: --hc-grpc-service needs --health-check grpc"},
      {"--health-check icmp", "lbctl: usage: "},
      {"--all-down panic", "lbctl: usage: "},
  };
  for (const auto& [args, err] : usage) {
    auto r = lbctl(std::string("vip add 10.100.0.12:80/tcp ") + args);
    EXPECT_EQ(r.rc, 2) << args << ": " << r.err;
    EXPECT_EQ(r.err.rfind(err, 0), 0u) << args << ": " << r.err;
  }
  // Range rules are the agent's: timeout above interval.
  auto range = lbctl(
      "vip add 10.100.0.12:80/tcp --health-check tcp --hc-interval 1s "
      "--hc-timeout 2s");
  EXPECT_EQ(range.rc, 1);
  EXPECT_NE(range.err.find("timeout_ms"), std::string::npos) << range.err;
  EXPECT_EQ(state_->config().vips_size(), 2);
}

TEST_F(LbctlApiTest, EventsStreamUntilSigterm) {
  ASSERT_EQ(lbctl("vip add 10.100.0.10:80/tcp --backend 10.0.1.11 --backend 10.0.1.12").rc, 0);
  const fs::path out = dir_ / "events.out", err = dir_ / "events.err";
  // fork+exec (not system()) so the test can signal lbctl itself and collect its exit code.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    FILE* o = freopen(out.c_str(), "w", stdout);
    FILE* e = freopen(err.c_str(), "w", stderr);
    if (o == nullptr || e == nullptr) _exit(127);
    execl(XLB_LBCTL_PATH, "lbctl", "--server", listen_.c_str(), "events", "--initial-state",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  // Bounded waits: poll the output file for up to 5 s.
  auto waitFor = [&](const std::string& needle) {
    for (int i = 0; i < 100; ++i) {
      if (slurp(out).find(needle) != std::string::npos) return true;
      usleep(50'000);
    }
    return false;
  };
  // The initial state: one backend-health line per backend.
  EXPECT_TRUE(waitFor("backend-health 10.100.0.10:80/tcp 10.0.1.12")) << slurp(out);
  ASSERT_EQ(lbctl("backend drain 10.100.0.10:80/tcp 10.0.1.12").rc, 0);
  EXPECT_TRUE(waitFor("backend-draining 10.100.0.10:80/tcp 10.0.1.12")) << slurp(out);
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  // lbctl exits 0 on SIGTERM, within a bounded time.
  int status = 0;
  pid_t got = 0;
  for (int i = 0; i < 100 && got == 0; ++i) {
    got = waitpid(pid, &status, WNOHANG);
    if (got == 0) usleep(50'000);
  }
  if (got == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    FAIL() << "lbctl events still running 5 s after SIGTERM";
  }
  ASSERT_TRUE(WIFEXITED(status)) << "lbctl events died of signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(slurp(err), "");
  // Every line is "<UTC time> <kind> ...".
  std::istringstream lines(slurp(out));
  std::string line;
  while (std::getline(lines, line)) {
    EXPECT_EQ(line.size() > 21 && line[4] == '-' && line[10] == 'T' && line[19] == 'Z', true)
        << line;
  }
}

TEST_F(LbctlApiTest, ApplyDryRunApplyIdempotentAndConfigGetRoundTrip) {
  writeFile("c.yaml",
            "vips:\n"
            "  - {name: web, address: 10.100.0.10, port: 80, protocol: tcp,\n"
            "     backends: [{address: 10.0.1.11}, {address: 10.0.1.12, weight: 2}]}\n"
            "  - {address: 'fd00::10', port: 53, protocol: udp, forwarding: ipip}\n");
  const std::string file = (dir_ / "c.yaml").string();

  auto dry = lbctl("apply --dry-run -f " + file);
  ASSERT_EQ(dry.rc, 0) << dry.err;
  EXPECT_EQ(dry.out.rfind("plan (dry run, nothing changed):\n", 0), 0u) << dry.out;
  EXPECT_NE(dry.out.find("10.100.0.10:80/tcp"), std::string::npos) << dry.out;
  EXPECT_EQ(lbctl("vip list").out, "VIP  NAME  FORWARDING  ALGORITHM  TABLE  KERNEL  BACKENDS\n");

  auto apply = lbctl("apply -f " + file);
  ASSERT_EQ(apply.rc, 0) << apply.err;
  EXPECT_EQ(apply.out.rfind("applied:\n", 0), 0u) << apply.out;

  auto again = lbctl("apply -f " + file);
  ASSERT_EQ(again.rc, 0) << again.err;
  EXPECT_EQ(again.out, "no changes: the agent already runs " + file + "\n");

  auto get = lbctl("config get");
  ASSERT_EQ(get.rc, 0) << get.err;
  auto parsed = xlb::config::parseConfigYaml(get.out);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << get.out;
  EXPECT_EQ(parsed->SerializeAsString(), state_->config().SerializeAsString()) << get.out;

  // What config get prints applies as "no changes".
  writeFile("got.yaml", get.out);
  auto reapply = lbctl("apply -f " + (dir_ / "got.yaml").string());
  ASSERT_EQ(reapply.rc, 0) << reapply.err;
  EXPECT_NE(reapply.out.find("no changes"), std::string::npos) << reapply.out;
}

// Issue 12: a re-apply of the document the agent last applied, with nothing changed since, is
// answered from its digest (GetAppliedDigest): lbctl neither parses nor sends it, so no apply
// reaches State. Anything else that changes the configuration makes the next apply a real one.
TEST_F(LbctlApiTest, ReapplyOfTheAppliedDocumentIsAnsweredFromItsDigest) {
  writeFile("c.yaml",
            "vips:\n"
            "  - {name: web, address: 10.100.0.10, port: 80, protocol: tcp,\n"
            "     backends: [{address: 10.0.1.11}, {address: 10.0.1.12, weight: 2}]}\n");
  const std::string file = (dir_ / "c.yaml").string();
  auto apply = lbctl("apply -f " + file);
  ASSERT_EQ(apply.rc, 0) << apply.err;
  EXPECT_EQ(state_->appliedDigest(), xlb::config::sourceDigest(slurp(dir_ / "c.yaml")));
  const uint64_t applies = state_->applyStats().total;

  auto again = lbctl("apply -f " + file);
  ASSERT_EQ(again.rc, 0) << again.err;
  EXPECT_EQ(again.out, "no changes: the agent already runs " + file + "\n");
  EXPECT_EQ(state_->applyStats().total, applies) << "answered without an apply";
  auto json = lbctl("-o json apply -f " + file);
  ASSERT_EQ(json.rc, 0) << json.err;
  EXPECT_NE(json.out.find("\"applied\": true"), std::string::npos) << json.out;
  EXPECT_EQ(state_->applyStats().total, applies);

  // An API edit since: the same file is a real apply again, and puts the weight back.
  ASSERT_EQ(lbctl("backend weight 10.100.0.10:80/tcp 10.0.1.12 5").rc, 0);
  auto back = lbctl("apply -f " + file);
  ASSERT_EQ(back.rc, 0) << back.err;
  EXPECT_EQ(back.out.rfind("applied:\n", 0), 0u) << back.out;
  EXPECT_NE(back.out.find("weight"), std::string::npos) << back.out;
  EXPECT_EQ(state_->applyStats().total, applies + 2);

  // One byte more is another document: parsed, sent and applied (no change to the VIPs).
  writeFile("c.yaml", slurp(dir_ / "c.yaml") + "\n");
  auto edited = lbctl("apply -f " + file);
  ASSERT_EQ(edited.rc, 0) << edited.err;
  EXPECT_EQ(state_->applyStats().total, applies + 3);
  EXPECT_EQ(state_->appliedDigest(), xlb::config::sourceDigest(slurp(dir_ / "c.yaml")));

  // A malformed digest is refused, naming the field, and changes nothing.
  auto channel = grpc::CreateChannel(listen_, grpc::InsecureChannelCredentials());
  auto stub = xlb::v1::Balancer::NewStub(channel);
  grpc::ClientContext ctx;
  xlb::v1::ApplyConfigRequest req;
  req.set_source_digest("sha256:not-hex");
  xlb::v1::ApplyConfigResponse resp;
  grpc::Status st = stub->ApplyConfig(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("source_digest"), std::string::npos) << st.error_message();
  EXPECT_EQ(state_->config().vips_size(), 1);
}

// lbctl is linked against static archives (XLB_STATIC_LBCTL): it needs no shared object beyond
// glibc's, so it starts without resolving thousands of symbols (BENCHMARKS.md).
TEST(LbctlBinary, NeedsOnlyGlibcSharedObjects) {
#if XLB_STATIC_LBCTL
  FILE* p = popen((std::string("readelf -d ") + XLB_LBCTL_PATH + " 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  ASSERT_EQ(pclose(p), 0) << out;
  std::istringstream in(out);
  int needed = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find("(NEEDED)") == std::string::npos) continue;
    ++needed;
    const bool glibc = line.find("[libc.so") != std::string::npos ||
                       line.find("[libm.so") != std::string::npos ||
                       line.find("[ld-linux") != std::string::npos;
    EXPECT_TRUE(glibc) << line;
  }
  EXPECT_GT(needed, 0) << out;
#else
  GTEST_SKIP() << "built with XLB_STATIC_LBCTL=OFF";
#endif
}

TEST_F(LbctlApiTest, ApplyReportsEveryError) {
  writeFile("bad.yaml",
            "vips:\n"
            "  - {address: 10.100.0.10, port: 70000, protocol: tcp}\n"
            "  - {address: 10.100.0.11, port: 80, protocol: tcp, maglev_table_size: 1000}\n");
  auto r = lbctl("apply -f " + (dir_ / "bad.yaml").string());
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("vips[0].port: 70000"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("vips[1].maglev_table_size: 1000"), std::string::npos) << r.err;

  writeFile("typo.yaml", "vips:\n  - {address: 10.100.0.10, prot: tcp}\n");
  auto t = lbctl("apply -f " + (dir_ / "typo.yaml").string());
  EXPECT_EQ(t.rc, 2);
  EXPECT_NE(t.err.find("prot"), std::string::npos) << t.err;
  EXPECT_EQ(t.err.rfind("lbctl: INVALID_ARGUMENT: ", 0), 0u) << t.err;
}

TEST_F(LbctlApiTest, Stats) {
  ASSERT_EQ(lbctl("vip add 10.100.0.10:80/tcp --backend 10.0.1.11").rc, 0);
  auto s = lbctl("stats");
  ASSERT_EQ(s.rc, 0) << s.err;
  for (const char* section : {"Global counters\n", "\nDrops\n", "\nVIPs\n", "\nBackends\n"}) {
    EXPECT_NE(s.out.find(section), std::string::npos) << section << "\n" << s.out;
  }
  EXPECT_NE(s.out.find("no_backend"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("10.0.1.11"), std::string::npos) << s.out;
  auto j = lbctl("stats -o json");
  ASSERT_EQ(j.rc, 0) << j.err;
  EXPECT_NE(j.out.find("\"new_flows\""), std::string::npos) << j.out;
}

TEST_F(LbctlApiTest, UnreachableAgentNamesTheSocket) {
  const std::string sock = "unix://" + (dir_ / "nope.sock").string();
  auto r = lbctl("--timeout 2s vip list", sock);
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err.rfind("lbctl: UNAVAILABLE: cannot reach xlb-agent at " + sock +
                            " (is xlb-agent running? is --server right?)",
                        0),
            0u)
      << r.err;
}

// ---- issue 4: connection options (TLS flags, plaintext TCP, XLB_SERVER) ----

TEST_F(LbctlApiTest, ContradictoryConnectionOptionsAreUsageErrors) {
  auto tls_on_unix = lbctl("--tls-ca /etc/ssl/certs/ca-certificates.crt vip list");
  EXPECT_EQ(tls_on_unix.rc, 2);
  EXPECT_EQ(tls_on_unix.err,
            "lbctl: INVALID_ARGUMENT: --tls-ca/--tls-cert/--tls-key/--tls-server-name (or "
            "LBCTL_TLS_*) apply to a host:port --server; " +
                listen_ + " is a unix socket, whose file mode and group decide who may connect\n");
  auto half = lbctl("--tls-cert /etc/hostname vip list", "127.0.0.1:1");
  EXPECT_EQ(half.rc, 2);
  EXPECT_EQ(half.err,
            "lbctl: INVALID_ARGUMENT: --tls-cert needs --tls-key too (the client certificate and "
            "its key, for mutual TLS)\n");
  auto both = lbctl("--insecure-plaintext --tls-ca /etc/hostname vip list", "127.0.0.1:1");
  EXPECT_EQ(both.rc, 2);
  EXPECT_NE(both.err.find("--insecure-plaintext contradicts"), std::string::npos) << both.err;
  const std::string missing = (dir_ / "missing-ca.pem").string();
  auto unreadable = lbctl("--tls-ca " + missing + " vip list", "127.0.0.1:1");
  EXPECT_EQ(unreadable.rc, 2);
  EXPECT_EQ(unreadable.err, "lbctl: INVALID_ARGUMENT: --tls-ca " + missing +
                                ": cannot read: No such file or directory\n");
  writeFile("notpem.txt", "hello\n");
  auto notpem = lbctl("--tls-ca " + (dir_ / "notpem.txt").string() + " vip list", "127.0.0.1:1");
  EXPECT_EQ(notpem.rc, 2);
  EXPECT_NE(notpem.err.find("not a PEM file"), std::string::npos) << notpem.err;
}

TEST_F(LbctlApiTest, ServerFromTheEnvironment) {
  const fs::path out = dir_ / "out";
  std::string cmd = "XLB_SERVER=" + shellQuote(listen_) + " " + XLB_LBCTL_PATH +
                    " vip add 10.100.0.20:80/tcp >" + out.string() + " 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << slurp(out);
  EXPECT_EQ(state_->config().vips_size(), 1);
}

TEST_F(LbctlApiTest, PlaintextTcpOnlyWithTheInsecureFlagOnBothSides) {
  xlb::api::ServerOptions o;
  o.listen = {"127.0.0.1:0"};
  o.insecure_plaintext_tcp = true;
  std::vector<int> ports;
  auto tcp = xlb::api::startServer(o, {service_.get()}, &ports);
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  const std::string server = "127.0.0.1:" + std::to_string(ports.at(0));
  auto plain = lbctl("--insecure-plaintext vip add 10.100.0.30:80/tcp", server);
  EXPECT_EQ(plain.rc, 0) << plain.err;
  // Without the flag lbctl speaks TLS (system roots), which a plaintext agent cannot answer.
  auto tls = lbctl("--timeout 3s vip list", server);
  EXPECT_EQ(tls.rc, 1);
  EXPECT_EQ(tls.err.rfind(
                "lbctl: UNAVAILABLE: cannot connect to " + server + ": TLS handshake failed (", 0),
            0u)
      << tls.err;
  (*tcp)->Shutdown();
}

// A listing larger than gRPC's default 4 MiB receive limit (6,000 VIPs x 10 backends, ~5 MB) is
// still printed: lbctl accepts whatever size the agent answers with (it failed with
// RESOURCE_EXHAUSTED "Received message larger than max" at 10,000 VIPs).
TEST(LbctlLargeResponses, VipListBeyondFourMebibytes) {
  char tmpl[] = "/tmp/lbctl_large_test.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const fs::path dir = tmpl;
  xlb::dataplane::FakeDataplane dp(xlb::Capacity{8192, 65536});
  xlb::state::State state(dp);
  xlb::v1::Config c;
  for (int i = 0; i < 6000; ++i) {
    auto* v = c.add_vips();
    v->set_address("10." + std::to_string(1 + i / 65536) + "." + std::to_string((i / 256) % 256) +
                   "." + std::to_string(i % 256));
    v->set_port(80);
    v->set_protocol(xlb::v1::PROTOCOL_TCP);
    v->set_maglev_table_size(1021);
    for (int b = 0; b < 10; ++b) {
      const int n = i * 10 + b;
      v->add_backends()->set_address("172." + std::to_string(16 + n / 65536) + "." +
                                     std::to_string((n / 256) % 256) + "." + std::to_string(n % 256));
    }
  }
  ASSERT_TRUE(state.applyConfig(c, false, nullptr).ok());
  xlb::api::BalancerService service(state, dp);
  const std::string listen = "unix://" + (dir / "xlb.sock").string();
  auto server = xlb::api::startServer(listen, &service);
  ASSERT_TRUE(server.ok()) << server.status();
  const fs::path out = dir / "out", err = dir / "err";
  const std::string cmd = std::string(XLB_LBCTL_PATH) + " --server " + shellQuote(listen) +
                          " -o json vip list >" + out.string() + " 2>" + err.string();
  const int status = std::system(cmd.c_str());
  const std::string text = slurp(out);
  EXPECT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0) << slurp(err);
  EXPECT_GT(text.size(), 4u << 20);
  EXPECT_NE(text.find("10.1.23.111"), std::string::npos);  // the last VIP
  (*server)->Shutdown();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
