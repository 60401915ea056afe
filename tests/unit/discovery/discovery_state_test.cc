// SPDX-License-Identifier: Apache-2.0
// Backends by name end to end without a network: config validation and YAML round trip, the
// discovery manager driving State over the fake data plane with a fake resolver and clock
// (discovered backends planned, removal drains then removes, outages keep the set), and the last
// good set surviving a save and a restart.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/discovery.h"
#include "config/yaml.h"
#include "dataplane/fake_dataplane.h"
#include "discovery/manager.h"
#include "fake_resolver.h"
#include "persist/state_store.h"
#include "spdlog/spdlog.h"
#include "state/state.h"

namespace xlb::discovery {
namespace {

using namespace std::chrono_literals;

const bool kQuiet = (spdlog::set_level(spdlog::level::off), true);

constexpr const char* kPool = R"(vips:
  - name: users
    address: 10.0.0.10
    port: 80
    protocol: tcp
    backends:
      - address: 10.0.1.100
    dns:
      names: [user-service-1, user-service-2]
      family: ipv4
    discovery:
      min_ttl_ms: 1000
      hold_empty_ms: 3000
      drain_limit_ms: 10000
)";

v1::Config yaml(const std::string& text) {
  auto c = config::parseConfigYaml(text);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : v1::Config{};
}

TEST(DiscoveryConfig, YamlRoundTripKeepsNamesAndSources) {
  v1::Config c = yaml(std::string(kPool) + R"(    srv: _http._tcp.users
    allow_empty: true
)");
  ASSERT_EQ(c.vips(0).dns().names_size(), 2);
  EXPECT_EQ(c.vips(0).dns().family(), v1::DNS_FAMILY_IPV4);
  EXPECT_EQ(c.vips(0).srv(), "_http._tcp.users");
  EXPECT_TRUE(c.vips(0).allow_empty());
  EXPECT_EQ(c.vips(0).discovery().hold_empty_ms(), 3000u);
  auto* b = c.mutable_vips(0)->add_backends();
  b->set_address("10.0.1.1");
  b->mutable_source()->set_kind(v1::BACKEND_SOURCE_KIND_DNS);
  b->mutable_source()->set_name("user-service-1");
  const std::string text = config::toYaml(c);
  EXPECT_NE(text.find("kind: dns"), std::string::npos) << text;
  EXPECT_NE(text.find("family: ipv4"), std::string::npos) << text;
  auto back = config::parseConfigYaml(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), c.SerializeAsString());
  EXPECT_TRUE(config::validateConfig(c).ok()) << config::validateConfig(c);
}

TEST(DiscoveryConfig, ErrorsNameTheFieldAndTheValue) {
  v1::Config c = yaml(kPool);
  v1::Vip& v = *c.mutable_vips(0);
  v.mutable_dns()->add_names("bad name!");
  v.mutable_dns()->add_names("USER-service-1");
  v.mutable_dns()->set_port(8000);
  v.mutable_discovery()->set_min_ttl_ms(10);
  v.mutable_discovery()->set_max_ttl_ms(50);
  auto* b = v.add_backends();
  b->set_address("10.0.1.7");
  b->mutable_source()->set_kind(v1::BACKEND_SOURCE_KIND_DNS);
  b->mutable_source()->set_name("other");
  auto st = config::validateConfig(c);
  ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  const std::string m(st.message());
  EXPECT_NE(m.find("vips[0].dns.names[2]: \"bad name!\" is not a host name"), std::string::npos)
      << m;
  EXPECT_NE(m.find("vips[0].dns.names[3]: \"USER-service-1\" is listed twice"), std::string::npos)
      << m;
  EXPECT_NE(m.find("vips[0].dns.port: 8000 differs from the VIP's port 80"), std::string::npos)
      << m;
  EXPECT_NE(m.find("vips[0].discovery.min_ttl_ms: 10 is not in [100, 86400000]"), std::string::npos)
      << m;
  EXPECT_NE(m.find("vips[0].discovery.max_ttl_ms: 50"), std::string::npos) << m;
  EXPECT_NE(m.find("vips[0].backends[1].source.name: \"other\" is not a name this VIP lists"),
            std::string::npos)
      << m;
  auto unparsable = config::parseConfigYaml(std::string(kPool) + "    allow_emtpy: true\n");
  EXPECT_FALSE(unparsable.ok());
}

TEST(DiscoveryConfig, ConfigOverridingTheSavedStateKeepsItsDiscoveredBackends) {
  v1::Config saved = yaml(kPool);
  for (const char* n : {"user-service-1", "gone-name"}) {
    auto* b = saved.mutable_vips(0)->add_backends();
    b->set_address(n == std::string("gone-name") ? "10.0.1.9" : "10.0.1.1");
    b->mutable_source()->set_kind(v1::BACKEND_SOURCE_KIND_DNS);
    b->mutable_source()->set_name(n);
  }
  v1::Config file = yaml(kPool);
  EXPECT_EQ(config::copyDiscoveredBackends(saved, &file), 1) << "only names the file still lists";
  EXPECT_EQ(file.vips(0).backends(1).address(), "10.0.1.1");
  EXPECT_TRUE(config::validateConfig(file).ok());
  EXPECT_EQ(config::copyDiscoveredBackends(saved, &file), 0) << "a VIP that has some keeps them";
}

// One State over the fake data plane, with the manager on a fake resolver and clock.
class DiscoveryStateTest : public ::testing::Test {
 protected:
  DiscoveryStateTest() { start(); }

  void start() {
    auto r = std::make_unique<FakeResolver>();
    resolver_ = r.get();
    DiscoveryManager::Options o;
    o.resolv_conf = resolv_conf_;
    o.jitter = [] { return 0.0; };
    o.clock = [this] { return now_; };
    manager_ = std::make_unique<DiscoveryManager>(*state_, std::move(r), o);
  }
  // Advance the clock in 100 ms steps for `d`, running the thread's loop body each step.
  void run(Clock::duration d) {
    for (auto end = now_ + d; now_ < end; now_ += 100ms) {
      manager_->tick();
      resolver_->process(0ms);
    }
    manager_->tick();
  }
  // Discovered backends of the VIP as applied: address -> state.
  std::map<std::string, v1::BackendState> discovered() {
    std::map<std::string, v1::BackendState> out;
    const v1::Config config = state_->config();
    for (const auto& b : config.vips(0).backends()) {
      if (config::isDiscovered(b)) out[b.address()] = b.state();
    }
    return out;
  }
  std::vector<v1::Event::Kind> eventKinds() {
    std::vector<v1::Event::Kind> out;
    while (auto e = sub_->next(std::chrono::milliseconds(0))) out.push_back(e->kind());
    return out;
  }

  std::string resolv_conf_ = "/nonexistent/resolv.conf";
  Clock::time_point now_ = Clock::time_point{} + 1000h;
  dataplane::FakeDataplane dp_;
  std::unique_ptr<state::State> state_ = std::make_unique<state::State>(dp_);
  std::shared_ptr<state::EventBus::Subscription> sub_ = state_->events().subscribe();
  FakeResolver* resolver_ = nullptr;
  std::unique_ptr<DiscoveryManager> manager_;
};

using A = v1::BackendState;
constexpr A kActive = v1::BACKEND_STATE_ACTIVE;
constexpr A kDraining = v1::BACKEND_STATE_DRAINING;

TEST_F(DiscoveryStateTest, NamesBecomeBackendsThroughStateAndJoinAsResolved) {
  resolver_->setA("user-service-1", {"10.0.1.1"}, 2);
  resolver_->setA("user-service-2", {"10.0.1.2"}, 2);
  ASSERT_TRUE(state_->applyConfig(yaml(kPool), false, nullptr).ok());
  run(200ms);
  EXPECT_EQ(discovered(), (std::map<std::string, A>{{"10.0.1.1", kActive}, {"10.0.1.2", kActive}}));
  auto ids = state_->ids();
  EXPECT_EQ(ids[0].backends.size(), 3u) << "the literal and two discovered, in the data plane";
  state_->setDiscoveryStatus(
      [this](const config::VipKey& k, v1::BackendSource* s) { manager_->fillStatus(k, s); });
  auto status = state_->vipStatus(ids[0].key.toProto());
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->backends(1).source().name(), "user-service-1");
  EXPECT_GT(status->backends(1).source().last_resolved_unix_ms(), 0u) << "live, from the manager";
  EXPECT_FALSE(status->backends(1).source().stale());
  EXPECT_EQ(state_->config().vips(0).backends(1).source().last_resolved_unix_ms(), 0u)
      << "never in the config";
  EXPECT_FALSE(status->backends(0).has_source()) << "a literal";
  resolver_->setA("user-service-2", {"10.0.1.2", "10.0.1.3"}, 2);
  run(2100ms);
  EXPECT_EQ(discovered().count("10.0.1.3"), 1u) << "within the TTL + one round";
  // config get keeps the names; re-applying it (as an operator would) changes nothing.
  v1::Config got = state_->config();
  EXPECT_EQ(got.vips(0).dns().names_size(), 2);
  std::vector<std::string> lines;
  ASSERT_TRUE(state_->applyConfig(yaml(kPool), false, &lines).ok());
  EXPECT_EQ(discovered().size(), 3u) << "an apply of the names keeps the discovered set";
}

TEST_F(DiscoveryStateTest, RemovalDrainsAfterHoldThenRemovesAtTheDrainLimit) {
  resolver_->setA("user-service-1", {"10.0.1.1", "10.0.1.2"}, 1);
  resolver_->setA("user-service-2", {"10.0.1.3"}, 1);
  ASSERT_TRUE(state_->applyConfig(yaml(kPool), false, nullptr).ok());
  run(200ms);
  (void)eventKinds();
  resolver_->setA("user-service-1", {"10.0.1.1"}, 1);  // one address gone from a good answer
  run(2500ms);
  EXPECT_EQ(discovered()["10.0.1.2"], kActive) << "missing, but within the 3 s hold";
  run(2000ms);
  EXPECT_EQ(discovered()["10.0.1.2"], kDraining) << "missing past the hold, in two answers";
  auto kinds = eventKinds();
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), v1::Event::KIND_DISCOVERY_CHANGED), kinds.end());
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), v1::Event::KIND_BACKEND_DRAINING), kinds.end());
  // NXDOMAIN for user-service-2: kept through the 3 s hold, then drained.
  resolver_->set("user-service-2", QueryType::kA, FakeResolver::nx());
  run(2500ms);
  EXPECT_EQ(discovered()["10.0.1.3"], kActive) << "within the hold";
  run(2000ms);
  // Hold passed over two answers: drained, and (the fake data plane counts no open flow) removed
  // at the next drain check.
  EXPECT_NE(discovered()["10.0.1.3"], kActive) << "hold passed, two answers";
  run(1100ms);
  EXPECT_EQ(discovered(), (std::map<std::string, A>{{"10.0.1.1", kActive}}));
}

TEST_F(DiscoveryStateTest, OutageKeepsTheSetRaisesStaleAndRecovers) {
  resolver_->setA("user-service-1", {"10.0.1.1"}, 1);
  resolver_->setA("user-service-2", {"10.0.1.2"}, 1);
  ASSERT_TRUE(state_->applyConfig(yaml(kPool), false, nullptr).ok());
  run(200ms);
  (void)eventKinds();
  for (const char* n : {"user-service-1", "user-service-2"}) {
    resolver_->set(n, QueryType::kA, FakeResolver::fail("timeout"));
  }
  const int before = resolver_->queries("user-service-1");
  run(60s);
  EXPECT_EQ(discovered().size(), 2u);
  EXPECT_NE(manager_->renderMetrics().find(
                "xlb_discovery_stale{vip=\"10.0.0.10:80/tcp\",name=\"user-service-1\"} 1"),
            std::string::npos);
  EXPECT_LE(resolver_->queries("user-service-1") - before, 12) << "failures back off to 10 s";
  auto kinds = eventKinds();
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), v1::Event::KIND_DISCOVERY_STALE), 2);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), v1::Event::KIND_BACKEND_REMOVED), 0);
  resolver_->setA("user-service-1", {"10.0.1.1"}, 1);
  resolver_->setA("user-service-2", {"10.0.1.2"}, 1);
  run(11s);
  kinds = eventKinds();
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), v1::Event::KIND_DISCOVERY_RECOVERED), 2);
  EXPECT_NE(manager_->renderMetrics().find(
                "xlb_discovery_stale{vip=\"10.0.0.10:80/tcp\",name=\"user-service-1\"} 0"),
            std::string::npos);
}

TEST_F(DiscoveryStateTest, NxdomainForEveryNameKeepsThePool) {
  v1::Config c = yaml(kPool);
  c.mutable_vips(0)->clear_backends();  // no literal to fall back on
  resolver_->setA("user-service-1", {"10.0.1.1"}, 1);
  resolver_->setA("user-service-2", {"10.0.1.2"}, 1);
  ASSERT_TRUE(state_->applyConfig(c, false, nullptr).ok());
  run(200ms);
  resolver_->set("user-service-1", QueryType::kA, FakeResolver::nx());
  resolver_->set("user-service-2", QueryType::kA, FakeResolver::nx());
  run(10s);
  EXPECT_EQ(discovered(), (std::map<std::string, A>{{"10.0.1.1", kActive}, {"10.0.1.2", kActive}}));
}

TEST_F(DiscoveryStateTest, TtlZeroAsksOncePerMinTtl) {
  resolver_->setA("user-service-1", {"10.0.1.1"}, 0);
  resolver_->setA("user-service-2", {"10.0.1.2"}, 0);
  ASSERT_TRUE(state_->applyConfig(yaml(kPool), false, nullptr).ok());
  run(30s);
  EXPECT_LE(resolver_->queries("user-service-1"), 31);
  EXPECT_GE(resolver_->queries("user-service-1"), 25);
}

TEST_F(DiscoveryStateTest, NegativeAnswersAreAskedAgainAfterTheirSoaNegativeTtl) {
  // user-service-1: NXDOMAIN whose SOA says 5 s; user-service-2: NXDOMAIN without an SOA
  // (min_ttl, 1 s). Over 60 s: one question per 5 s against one per second.
  Answer nx_soa = FakeResolver::nx();
  nx_soa.negative_ttl_s = 5;
  resolver_->set("user-service-1", QueryType::kA, nx_soa);
  ASSERT_TRUE(state_->applyConfig(yaml(kPool), false, nullptr).ok());
  run(60s);
  EXPECT_GE(resolver_->queries("user-service-1"), 12);
  EXPECT_LE(resolver_->queries("user-service-1"), 13);
  EXPECT_GE(resolver_->queries("user-service-2"), 59);
  EXPECT_LE(resolver_->queries("user-service-2"), 61);
}

TEST_F(DiscoveryStateTest, ResolvConfChangeReloadsTheResolverAndAsksAgain) {
  resolv_conf_ = (std::filesystem::temp_directory_path() /
                  ("xlb-resolv-test-" + std::to_string(::getpid()))).string();
  std::ofstream(resolv_conf_) << "nameserver 192.0.2.1\n";
  start();
  resolver_->setA("user-service-1", {"10.0.1.1"}, 300);
  resolver_->setA("user-service-2", {"10.0.1.2"}, 300);
  ASSERT_TRUE(state_->applyConfig(yaml(kPool), false, nullptr).ok());
  run(2s);
  const int before = resolver_->queries("user-service-1");
  EXPECT_EQ(resolver_->reloads(), 0);
  std::ofstream(resolv_conf_) << "nameserver 192.0.2.2\n";
  run(1100ms);
  EXPECT_EQ(resolver_->reloads(), 1);
  EXPECT_EQ(resolver_->queries("user-service-1"), before + 1) << "asked again under the new config";
  std::filesystem::remove(resolv_conf_);
}

TEST_F(DiscoveryStateTest, LastGoodSetSurvivesARestartDuringAnOutage) {
  resolver_->setA("user-service-1", {"10.0.1.1"}, 1);
  resolver_->setA("user-service-2", {"10.0.1.2"}, 1);
  ASSERT_TRUE(state_->applyConfig(yaml(kPool), false, nullptr).ok());
  run(200ms);
  const auto dir =
      std::filesystem::temp_directory_path() / ("xlb-discovery-test-" + std::to_string(::getpid()));
  persist::StateStore store(dir.string());
  ASSERT_TRUE(store.save(state_->config()).ok());
  // A new agent: saved state applied, every lookup failing.
  manager_.reset();
  sub_.reset();
  state_ = std::make_unique<state::State>(dp_);
  start();
  for (const char* n : {"user-service-1", "user-service-2"}) {
    resolver_->set(n, QueryType::kA, FakeResolver::fail("timeout"));
  }
  auto loaded = store.load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(state_->applyConfig(*loaded, false, nullptr).ok());
  run(30s);
  EXPECT_EQ(discovered(), (std::map<std::string, A>{{"10.0.1.1", kActive}, {"10.0.1.2", kActive}}));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace xlb::discovery
