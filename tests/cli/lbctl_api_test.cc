// SPDX-License-Identifier: Apache-2.0
// Runs the real lbctl binary against the real gRPC service (State + FakeDataplane) on a unix
// socket: every command's output, exit code and error line, without root or a kernel data plane.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

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
  EXPECT_EQ(list.out,
            "BACKEND    WEIGHT   SHARE\n"
            "10.0.1.11       0    0.0%\n"
            "10.0.1.12       3  100.0%\n");
  auto del = lbctl("backend del 10.100.0.10:80/tcp 10.0.1.11");
  ASSERT_EQ(del.rc, 0) << del.err;
  EXPECT_EQ(del.out.find("10.0.1.11"), std::string::npos) << del.out;
  auto nolist = lbctl("backend list 10.100.0.99:80/tcp");
  EXPECT_EQ(nolist.rc, 1);
  EXPECT_EQ(nolist.err.rfind("lbctl: NOT_FOUND: vip 10.100.0.99:80/tcp does not exist", 0), 0u)
      << nolist.err;
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
  EXPECT_EQ(lbctl("vip list").out, "VIP  NAME  FORWARDING  ALGORITHM  TABLE  BACKENDS\n");

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

}  // namespace
