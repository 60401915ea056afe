// SPDX-License-Identifier: Apache-2.0
// Runs the real `lbctl top` against the real gRPC service (State + FakeDataplane) on a unix
// socket: JSON-lines structure, rates derived from counters that advance between polls, a counter
// reset, the text snapshot, --vip filtering and errors; no root.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>

#include "api/server.h"
#include "api/service.h"
#include "dataplane/fake_dataplane.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "state/state.h"
#include "xlb/abi.h"

namespace {

namespace fs = std::filesystem;
using google::protobuf::Struct;
using google::protobuf::Value;

// The real service, with every GetStats preceded by a scripted step of the fake's counters: the
// n-th GetStats sees script(n). GetStats runs on the server's threads while the test thread waits
// for lbctl; the mutex orders each step with the service's read of the counters, and nothing else
// touches them. Only the RPCs lbctl top and the test's `vip add` use are forwarded.
class ScriptedStatsService final : public xlb::v1::Balancer::Service {
 public:
  using Script = std::function<void(int n, xlb::dataplane::CounterSnapshot&)>;

  ScriptedStatsService(xlb::api::BalancerService& inner, xlb::dataplane::FakeDataplane& fake)
      : inner_(inner), fake_(fake) {}

  void setScript(Script s) {
    std::lock_guard lock(mu_);
    script_ = std::move(s);
    reads_ = 0;
  }
  int reads() {
    std::lock_guard lock(mu_);
    return reads_;
  }

  grpc::Status GetStats(grpc::ServerContext* ctx, const xlb::v1::GetStatsRequest* req,
                        xlb::v1::Stats* resp) override {
    std::lock_guard lock(mu_);
    if (script_) script_(reads_, fake_.counters());
    ++reads_;
    return inner_.GetStats(ctx, req, resp);
  }
  grpc::Status AddVip(grpc::ServerContext* ctx, const xlb::v1::AddVipRequest* req,
                      xlb::v1::Vip* resp) override {
    return inner_.AddVip(ctx, req, resp);
  }

 private:
  xlb::api::BalancerService& inner_;
  xlb::dataplane::FakeDataplane& fake_;
  std::mutex mu_;
  Script script_;
  int reads_ = 0;
};

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

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

Struct parseJson(const std::string& line) {
  Struct s;
  auto st = google::protobuf::util::JsonStringToMessage(line, &s);
  EXPECT_TRUE(st.ok()) << st.message() << ": " << line;
  return s;
}

const Value& field(const Struct& s, const std::string& name) {
  static const Value kMissing;
  auto it = s.fields().find(name);
  EXPECT_NE(it, s.fields().end()) << "no field " << name;
  return it == s.fields().end() ? kMissing : it->second;
}

double number(const Struct& s, const std::string& name) { return field(s, name).number_value(); }
bool isNull(const Struct& s, const std::string& name) {
  return field(s, name).kind_case() == Value::kNullValue;
}

const Struct* findBackend(const Struct& vip, const std::string& address) {
  for (const auto& b : field(vip, "backends").list_value().values()) {
    if (field(b.struct_value(), "address").string_value() == address) return &b.struct_value();
  }
  return nullptr;
}

class LbctlTopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lbctl_top_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    listen_ = "unix://" + (dir_ / "xlb.sock").string();
    state_ = std::make_unique<xlb::state::State>(dataplane_);
    service_ = std::make_unique<xlb::api::BalancerService>(*state_, dataplane_);
    scripted_ = std::make_unique<ScriptedStatsService>(*service_, dataplane_);
    auto server = xlb::api::startServer(listen_, scripted_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  Result lbctl(const std::string& args, const std::string& server = "") {
    const fs::path out = dir_ / "out", err = dir_ / "err";
    std::string cmd = std::string(XLB_LBCTL_PATH) + " --server '" +
                      (server.empty() ? listen_ : server) + "' " + args + " >" + out.string() +
                      " 2>" + err.string() + " </dev/null";
    int status = std::system(cmd.c_str());
    Result r;
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  // Adds the VIP and returns {vip id, backend id by address}.
  std::pair<uint32_t, std::map<std::string, uint32_t>> addVip(const std::string& args,
                                                              const std::string& key_address) {
    Result add = lbctl("vip add " + args);
    EXPECT_EQ(add.rc, 0) << add.err;
    for (const auto& v : state_->ids()) {
      if (v.key.address.toString() != key_address) continue;
      std::map<std::string, uint32_t> backends;
      for (const auto& b : v.backends) backends[b.address] = b.id;
      return {v.id, backends};
    }
    ADD_FAILURE() << "vip " << key_address << " not in state";
    return {};
  }

  fs::path dir_;
  std::string listen_;
  xlb::dataplane::FakeDataplane dataplane_;
  std::unique_ptr<xlb::state::State> state_;
  std::unique_ptr<xlb::api::BalancerService> service_;
  std::unique_ptr<ScriptedStatsService> scripted_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(LbctlTopTest, JsonLinesRatesFromAdvancingCounters) {
  auto [vip_id, be] = addVip(
      "10.100.0.10:80/tcp --name web --backend 10.0.1.11 --backend 10.0.1.12:3", "10.100.0.10");
  const uint32_t b11 = be["10.0.1.11"], b12 = be["10.0.1.12"];
  ASSERT_NE(b11, b12);
  dataplane_.setOpenFlowsDirect(b11, 4);
  dataplane_.setOpenFlowsDirect(b12, 9);
  // Poll n sees n steps of traffic. On the third poll 10.0.1.12's slot is reset (as after an agent
  // restart): its rates must be unknown, not a wrapped-around 1.8e19.
  scripted_->setScript([=](int n, xlb::dataplane::CounterSnapshot& s) {
    const uint64_t k = static_cast<uint64_t>(n);
    s.vips[vip_id] = {1000 * k, 150000 * k, 20 * k};
    s.backends[b11] = {400 * k, 60000 * k, 8 * k};
    s.backends[b12] = n >= 2 ? xlb_counters{3, 300, 1} : xlb_counters{600 * k, 90000 * k, 12 * k};
    s.drops[XLB_DROP_NO_BACKEND] = 5 * k;
    s.global[XLB_STAT_RX] = 1005 * k;
  });

  Result r = lbctl("top --iterations 2 --interval 200ms -o json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(scripted_->reads(), 3);  // a baseline, then one poll per iteration
  auto ls = lines(r.out);
  ASSERT_EQ(ls.size(), 2u) << r.out;

  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE("iteration " + std::to_string(i + 1));
    Struct snap = parseJson(ls[i]);
    EXPECT_EQ(number(snap, "iteration"), i + 1);
    EXPECT_GT(number(snap, "time_unix_ms"), 1.7e12);
    const double elapsed_ms = number(snap, "elapsed_ms");
    // Measured with the steady clock between the polls; generous bounds for a loaded machine.
    EXPECT_GE(elapsed_ms, 150);
    EXPECT_LE(elapsed_ms, 3000);
    const double s = elapsed_ms / 1000;
    auto near = [s](double got, double per_step) {
      EXPECT_NEAR(got, per_step / s, per_step / s * 1e-3 + 1e-3);
    };

    const auto& vips = field(snap, "vips").list_value().values();
    ASSERT_EQ(vips.size(), 1);
    const Struct& vip = vips[0].struct_value();
    EXPECT_EQ(field(vip, "vip").string_value(), "10.100.0.10:80/tcp");
    EXPECT_EQ(field(vip, "name").string_value(), "web");
    EXPECT_EQ(number(vip, "open_flows"), 13);
    EXPECT_EQ(number(vip, "packets"), 1000.0 * (i + 1));
    near(number(vip, "pps"), 1000);
    near(number(vip, "bps"), 150000 * 8);
    near(number(vip, "new_flows_per_s"), 20);

    const Struct* s11 = findBackend(vip, "10.0.1.11");
    const Struct* s12 = findBackend(vip, "10.0.1.12");
    ASSERT_NE(s11, nullptr);
    ASSERT_NE(s12, nullptr);
    EXPECT_EQ(field(*s11, "state").string_value(), "active");
    EXPECT_EQ(field(*s11, "health").string_value(), "up");
    EXPECT_EQ(number(*s11, "weight"), 1);
    EXPECT_EQ(number(*s11, "open_flows"), 4);
    EXPECT_EQ(number(*s12, "weight"), 3);
    EXPECT_EQ(number(*s12, "open_flows"), 9);
    near(number(*s11, "pps"), 400);
    near(number(*s11, "bps"), 60000 * 8);
    near(number(*s11, "new_flows_per_s"), 8);
    if (i == 0) {
      near(number(*s12, "pps"), 600);
      near(number(*s12, "new_flows_per_s"), 12);
      // --sort pps (the default): the busier backend first.
      EXPECT_EQ(field(field(vip, "backends").list_value().values(0).struct_value(), "address")
                    .string_value(),
                "10.0.1.12");
    } else {
      EXPECT_TRUE(isNull(*s12, "pps"));
      EXPECT_TRUE(isNull(*s12, "bps"));
      EXPECT_TRUE(isNull(*s12, "new_flows_per_s"));
      EXPECT_EQ(number(*s12, "packets"), 3);
    }

    const Struct& drops = field(snap, "drops_per_s").struct_value();
    near(number(drops, "no_backend"), 5);
    EXPECT_EQ(number(drops, "fragment"), 0);
    near(number(field(snap, "global_per_s").struct_value(), "rx"), 1005);
  }
}

TEST_F(LbctlTopTest, TextSnapshotWhenNotATty) {
  auto [vip_id, be] = addVip("10.100.0.10:80/tcp --name web --backend 10.0.1.11", "10.100.0.10");
  const uint32_t b11 = be["10.0.1.11"];
  scripted_->setScript([=](int n, xlb::dataplane::CounterSnapshot& s) {
    const uint64_t k = static_cast<uint64_t>(n);
    s.vips[vip_id] = {2000000 * k, 1000000 * k, 0};
    s.backends[b11] = {2000000 * k, 1000000 * k, 0};
    s.drops[XLB_DROP_FRAGMENT] = 100 * k;
  });
  Result r = lbctl("top --iterations 2 --interval 100ms");
  ASSERT_EQ(r.rc, 0) << r.err;
  // Not a TTY: plain snapshots, no escape sequences, one per iteration.
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
  size_t headers = 0;
  for (size_t p = 0; (p = r.out.find("VIP / BACKEND", p)) != std::string::npos; ++p) ++headers;
  EXPECT_EQ(headers, 2u) << r.out;
  EXPECT_NE(r.out.find("lbctl top  unix://"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("10.100.0.10:80/tcp  web"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  10.0.1.11"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("active  up"), std::string::npos) << r.out;
  // About 20M packets/s in a 100 ms poll: SI-scaled, not a 9-digit number.
  EXPECT_NE(r.out.find("M  "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("DROP REASON"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fragment"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("no_backend"), std::string::npos) << r.out;  // zero drops are left out
}

TEST_F(LbctlTopTest, VipFilterByKeyOrName) {
  addVip("10.100.0.10:80/tcp --name web --backend 10.0.1.11", "10.100.0.10");
  addVip("10.100.0.20:53/udp --name dns --backend 10.0.2.11", "10.100.0.20");
  for (const std::string filter : {"dns", "10.100.0.20:53/udp"}) {
    Result r = lbctl("top --iterations 1 --interval 50ms -o json --vip " + filter);
    ASSERT_EQ(r.rc, 0) << r.err;
    Struct snap = parseJson(r.out);
    const auto& vips = field(snap, "vips").list_value().values();
    ASSERT_EQ(vips.size(), 1) << r.out;
    EXPECT_EQ(field(vips[0].struct_value(), "vip").string_value(), "10.100.0.20:53/udp");
  }
  Result missing = lbctl("top --iterations 1 --interval 50ms --vip nosuch");
  EXPECT_EQ(missing.rc, 1);
  EXPECT_EQ(missing.err,
            "lbctl: NOT_FOUND: --vip nosuch: no VIP with that name (see lbctl vip list)\n");
  Result bad = lbctl("top --iterations 1 --vip 10.100.0.300:80/tcp");
  EXPECT_EQ(bad.rc, 2);
  EXPECT_EQ(bad.err.rfind("lbctl: INVALID_ARGUMENT: --vip: vip \"10.100.0.300:80/tcp\"", 0), 0u)
      << bad.err;
}

TEST_F(LbctlTopTest, UsageAndUnreachableAgentErrors) {
  Result interval = lbctl("top --interval soon");
  EXPECT_EQ(interval.rc, 2);
  EXPECT_EQ(interval.err,
            "lbctl: INVALID_ARGUMENT: --interval \"soon\" is not a positive duration (e.g. 5s, "
            "500ms, 1m)\n");
  Result sort = lbctl("top --sort latency");
  EXPECT_EQ(sort.rc, 2);
  EXPECT_NE(sort.err.find("--sort"), std::string::npos) << sort.err;
  Result iterations = lbctl("top --iterations -1");
  EXPECT_EQ(iterations.rc, 2);

  Result down = lbctl("top --iterations 1 --interval 50ms --timeout 1s",
                      "unix://" + (dir_ / "nothing.sock").string());
  EXPECT_EQ(down.rc, 1);
  EXPECT_TRUE(down.out.empty()) << down.out;
  EXPECT_EQ(down.err.rfind("lbctl: UNAVAILABLE: ", 0), 0u) << down.err;
}

// On a terminal: the cursor is hidden, each refresh homes the cursor and redraws in place, and
// Ctrl-C (SIGINT) ends the loop cleanly with exit 0 and the cursor shown again.
TEST_F(LbctlTopTest, TerminalRedrawAndCtrlC) {
  addVip("10.100.0.10:80/tcp --name web --backend 10.0.1.11", "10.100.0.10");
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(master, 0);
  ASSERT_EQ(grantpt(master), 0);
  ASSERT_EQ(unlockpt(master), 0);
  const std::string slave_path = ptsname(master);
  const std::string server = listen_;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int slave = open(slave_path.c_str(), O_RDWR | O_NOCTTY);
    if (slave < 0) _exit(120);
    dup2(slave, STDOUT_FILENO);
    execl(XLB_LBCTL_PATH, "lbctl", "--server", server.c_str(), "top", "--interval", "100ms",
          static_cast<char*>(nullptr));
    _exit(121);
  }
  // Reads the terminal until `done` holds or 10 s pass.
  std::string screen;
  auto readUntil = [&](const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      pollfd p{master, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      ssize_t n = read(master, buf, sizeof buf);
      if (n <= 0) break;  // EIO once the child closed the terminal
      screen.append(buf, static_cast<size_t>(n));
    }
  };
  auto count = [&](const std::string& needle) {
    size_t c = 0;
    for (size_t p = 0; (p = screen.find(needle, p)) != std::string::npos; ++p) ++c;
    return c;
  };
  // The first frame at once (rates "-"), then refreshes: wait for three redraws.
  readUntil([&] { return count("VIP / BACKEND") >= 3; });
  EXPECT_GE(count("VIP / BACKEND"), 3u) << screen;
  EXPECT_EQ(screen.rfind("\x1b[?25l", 0), 0u) << "cursor hidden first";
  EXPECT_GE(count("\x1b[H"), 3u);
  EXPECT_NE(screen.find("10.100.0.10:80/tcp"), std::string::npos) << screen;
  ASSERT_EQ(kill(pid, SIGINT), 0);
  int status = 0;
  for (int i = 0; i < 100 && waitpid(pid, &status, WNOHANG) == 0; ++i) usleep(50000);
  if (waitpid(pid, &status, WNOHANG) == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    FAIL() << "lbctl top did not exit on SIGINT";
  }
  readUntil([] { return false; });
  close(master);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(screen.find("\x1b[?25h"), std::string::npos) << "cursor restored";
  EXPECT_GT(screen.rfind("\x1b[?25h"), screen.rfind("VIP / BACKEND"));
}

}  // namespace
