// SPDX-License-Identifier: Apache-2.0
// The bgp module without a daemon (issue 13): the health gate's verdicts and the Announcer's
// decisions (debounce, removal, restart without withdraw, drain, daemon failures) against a fake
// speaker that records every call.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "bgp/announcer.h"
#include "bgp/gate.h"
#include "config/bgp.h"
#include "config/validate.h"
#include "config_helpers.h"
#include "exposition.h"
#include "spdlog/spdlog.h"

namespace xlb::bgp {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Keep the test output readable: the announce / withdraw lines are for operators.
const bool kQuiet = (spdlog::set_level(spdlog::level::err), true);

class FakeSpeaker : public Speaker {
 public:
  std::string address() const override { return "fake"; }
  absl::Status configure(const v1::BgpSettings& s) override {
    if (!up) return absl::UnavailableError("gobgpd GetBgp: connect: no such file");
    ++configures;
    settings = s;
    return absl::OkStatus();
  }
  absl::StatusOr<std::map<std::string, Route>> listRoutes() override {
    if (!up) return absl::UnavailableError("down");
    return routes;
  }
  absl::Status announce(const Route& r) override {
    if (!up) return absl::UnavailableError("down");
    calls.push_back(
        "announce " + r.prefix + " med " + std::to_string(r.med) +
        (std::count(r.communities.begin(), r.communities.end(), config::kGracefulShutdownCommunity)
             ? " gshut"
             : ""));
    routes[r.prefix] = r;
    return absl::OkStatus();
  }
  absl::Status withdraw(const Route& r) override {
    if (!up) return absl::UnavailableError("down");
    calls.push_back("withdraw " + r.prefix);
    routes.erase(r.prefix);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<PeerInfo>> listPeers() override {
    if (!up) return absl::UnavailableError("down");
    return peers;
  }
  bool up = true;
  int configures = 0;
  v1::BgpSettings settings;
  std::map<std::string, Route> routes;
  std::vector<PeerInfo> peers;
  std::vector<std::string> calls;
};

constexpr char kConfig[] = R"(
bgp:
  local_asn: 65001
  router_id: 10.0.0.1
  med: 10
  communities: ["65001:1"]
  drain_wait_ms: 1000
  check_interval_ms: 100
  announce_delay_ms: 300
  peers: [{address: 10.0.0.254, asn: 65000}]
vips:
  - address: 10.0.0.10
    port: 80
    protocol: tcp
    backends: [{address: 10.0.1.1}, {address: 10.0.1.2}]
  - address: 10.0.0.10
    port: 443
    protocol: tcp
    bgp: {min_healthy_backends: 2, communities: ["65001:2"], med: 20}
    backends: [{address: 10.0.1.1}, {address: 10.0.1.2}]
  - address: "fd00::10"
    port: 80
    protocol: tcp
    backends: [{address: "fd00:1::1"}]
  - address: 10.0.0.11
    port: 80
    protocol: tcp
    bgp: {announce: false}
    backends: [{address: 10.0.1.1}]
)";

// Every backend up, every table installed.
GateInput healthyInput(const v1::Config& c) {
  GateInput in;
  in.config = std::make_shared<v1::Config>(c);
  for (const v1::Vip& vip : c.vips()) {
    v1::VipStatus s;
    *s.mutable_vip() = config::vipKeyOf(vip)->toProto();
    s.set_table_size(1021);
    for (const v1::Backend& b : vip.backends()) {
      auto* bs = s.add_backends();
      bs->set_address(b.address());
      bs->set_health(v1::HEALTH_UP);
      bs->set_in_rotation(true);
    }
    in.vips.push_back(s);
  }
  return in;
}

void setHealth(GateInput& in, int vip, int backend, v1::Health h) {
  auto* b = in.vips[vip].mutable_backends(backend);
  b->set_health(h);
  b->set_in_rotation(h != v1::HEALTH_DOWN);
}

TEST(BgpGateTest, OneVerdictPerAddressWithAttributes) {
  auto v = evaluateGate(healthyInput(config::parseOk(kConfig)));
  ASSERT_EQ(v.size(), 3u);
  const PrefixVerdict& a = v.at("10.0.0.10/32");
  EXPECT_TRUE(a.pass) << a.reason;
  EXPECT_THAT(a.reason, HasSubstr("10.0.0.10:80/tcp 2/2"));
  EXPECT_EQ(a.route.med, 20u);  // the first VIP on the address that sets one
  EXPECT_THAT(a.route.communities, ElementsAre(0xfde90001u, 0xfde90002u));
  EXPECT_EQ(a.vips.size(), 2u);
  EXPECT_TRUE(v.at("fd00::10/128").pass);
  EXPECT_TRUE(v.at("fd00::10/128").route.v6);
  EXPECT_EQ(v.at("fd00::10/128").route.med, 10u);
  EXPECT_FALSE(v.at("10.0.0.11/32").pass);
  EXPECT_THAT(v.at("10.0.0.11/32").reason, HasSubstr("announce is false"));
}

TEST(BgpGateTest, AFailingVipTakesItsAddressDownAlone) {
  GateInput in = healthyInput(config::parseOk(kConfig));
  setHealth(in, 1, 0, v1::HEALTH_DOWN);  // :443 needs 2
  auto v = evaluateGate(in);
  EXPECT_FALSE(v.at("10.0.0.10/32").pass);
  EXPECT_EQ(v.at("10.0.0.10/32").reason, "vip 10.0.0.10:443/tcp: 1 of 2 backends healthy, needs 2");
  EXPECT_TRUE(v.at("fd00::10/128").pass);
  setHealth(in, 2, 0, v1::HEALTH_DOWN);
  EXPECT_THAT(evaluateGate(in).at("fd00::10/128").reason,
              HasSubstr("0 of 1 backends healthy, needs 1"));
}

TEST(BgpGateTest, UnknownHealthCountsAsHealthyTableAndAttachMatter) {
  GateInput in = healthyInput(config::parseOk(kConfig));
  setHealth(in, 2, 0, v1::HEALTH_UNKNOWN);  // not probed yet: in rotation
  EXPECT_TRUE(evaluateGate(in).at("fd00::10/128").pass);
  in.vips[2].set_table_size(0);
  EXPECT_THAT(evaluateGate(in).at("fd00::10/128").reason, HasSubstr("table not installed"));
  in = healthyInput(config::parseOk(kConfig));
  in.attached = false;
  EXPECT_EQ(evaluateGate(in).at("10.0.0.10/32").reason, "balancer program not attached");
  auto no_bgp = std::make_shared<v1::Config>(*in.config);
  no_bgp->clear_bgp();
  in.config = no_bgp;
  EXPECT_THAT(evaluateGate(in), IsEmpty());
}

class AnnouncerTest : public ::testing::Test {
 protected:
  AnnouncerTest() : in_(healthyInput(config::parseOk(kConfig))) {}
  std::unique_ptr<Announcer> make() {
    return std::make_unique<Announcer>(
        speaker_, [this] { return in_; }, [this](const v1::Event& e) { events_.push_back(e); },
        Announcer::Options{});
  }
  const v1::BgpPrefixStatus* prefix(const v1::BgpStatus& s, const std::string& p) {
    for (const auto& x : s.prefixes()) {
      if (x.prefix() == p) return &x;
    }
    return nullptr;
  }
  FakeSpeaker speaker_;
  GateInput in_;
  std::vector<v1::Event> events_;
};

TEST_F(AnnouncerTest, AnnouncesHealthyAddressesOnce) {
  auto a = make();
  a->tick(1000);
  EXPECT_THAT(speaker_.calls,
              ElementsAre("announce 10.0.0.10/32 med 20", "announce fd00::10/128 med 10"));
  a->tick(1100);
  EXPECT_EQ(speaker_.calls.size(), 2u);  // nothing changed: nothing sent
  EXPECT_EQ(speaker_.settings.local_asn(), 65001u);
  v1::BgpStatus s = a->status();
  EXPECT_TRUE(s.configured());
  EXPECT_TRUE(s.daemon_connected());
  EXPECT_TRUE(prefix(s, "10.0.0.10/32")->announced());
  EXPECT_FALSE(prefix(s, "10.0.0.11/32")->announced());
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[0].kind(), v1::Event::KIND_BGP_ANNOUNCED);
}

TEST_F(AnnouncerTest, HealthFailureWithdrawsAfterOneIntervalAndRecovers) {
  auto a = make();
  a->tick(1000);
  speaker_.calls.clear();
  setHealth(in_, 2, 0, v1::HEALTH_DOWN);
  a->tick(1100);  // first sight: pending
  EXPECT_THAT(speaker_.calls, IsEmpty());
  EXPECT_THAT(prefix(a->status(), "fd00::10/128")->reason(), HasSubstr("changing"));
  a->tick(1150);  // held for less than the interval
  EXPECT_THAT(speaker_.calls, IsEmpty());
  a->tick(1200);
  EXPECT_THAT(speaker_.calls, ElementsAre("withdraw fd00::10/128"));
  EXPECT_EQ(events_.back().kind(), v1::Event::KIND_BGP_WITHDRAWN);
  EXPECT_THAT(events_.back().message(), HasSubstr("0 of 1 backends healthy"));
  // A flap shorter than the interval changes nothing.
  setHealth(in_, 2, 0, v1::HEALTH_UP);
  a->tick(1300);
  setHealth(in_, 2, 0, v1::HEALTH_DOWN);
  a->tick(1350);
  a->tick(1500);
  EXPECT_THAT(speaker_.calls, ElementsAre("withdraw fd00::10/128"));
  // Back up: announced again once it has passed for announce_delay_ms (300), not one interval.
  setHealth(in_, 2, 0, v1::HEALTH_UP);
  a->tick(1600);
  a->tick(1700);
  a->tick(1800);
  EXPECT_THAT(speaker_.calls, ElementsAre("withdraw fd00::10/128"));
  a->tick(1900);
  EXPECT_THAT(speaker_.calls, ElementsAre("withdraw fd00::10/128", "announce fd00::10/128 med 10"));
}

TEST_F(AnnouncerTest, RemovedVipIsWithdrawnAtOnce) {
  auto a = make();
  a->tick(1000);
  speaker_.calls.clear();
  auto c = std::make_shared<v1::Config>(*in_.config);
  c->mutable_vips()->DeleteSubrange(2, 1);
  in_.config = c;
  in_.vips.erase(in_.vips.begin() + 2);
  a->tick(1010);
  EXPECT_THAT(speaker_.calls, ElementsAre("withdraw fd00::10/128"));
  EXPECT_THAT(events_.back().message(), HasSubstr("no VIP on this address"));
}

TEST_F(AnnouncerTest, RestartKeepsWhatTheDaemonAnnouncesAndDropsWhatIsGone) {
  {
    auto a = make();
    a->tick(1000);
  }  // the agent exits: no withdraw
  EXPECT_EQ(speaker_.routes.size(), 2u);
  Route stale{"10.9.9.9/32", false, 0, {}};
  speaker_.routes[stale.prefix] = stale;  // announced by an older config
  speaker_.calls.clear();
  events_.clear();
  auto b = make();
  b->tick(5000);
  EXPECT_THAT(speaker_.calls, ElementsAre("withdraw 10.9.9.9/32"));
  EXPECT_TRUE(prefix(b->status(), "10.0.0.10/32")->announced());
}

TEST_F(AnnouncerTest, DrainAnnouncesGracefulShutdownThenWithdrawsAndUndrainRestores) {
  auto a = make();
  EXPECT_EQ(a->drain(false).code(), absl::StatusCode::kFailedPrecondition);  // not configured yet
  a->tick(1000);
  speaker_.calls.clear();
  ASSERT_TRUE(a->drain(false).ok());
  EXPECT_EQ(a->status().drain(), "draining");
  a->tick(1001);  // drain_since is the wall clock: far behind, but the wait has not passed
  EXPECT_THAT(speaker_.calls, ElementsAre("announce 10.0.0.10/32 med 120 gshut",
                                          "announce fd00::10/128 med 110 gshut"));
  EXPECT_TRUE(prefix(a->status(), "10.0.0.10/32")->graceful_shutdown());
  const uint64_t later = a->status().drain_since_unix_ms() + 1000;
  a->tick(later);
  EXPECT_EQ(a->status().drain(), "drained");
  EXPECT_THAT(speaker_.calls, ElementsAre("announce 10.0.0.10/32 med 120 gshut",
                                          "announce fd00::10/128 med 110 gshut",
                                          "withdraw 10.0.0.10/32", "withdraw fd00::10/128"));
  EXPECT_THAT(prefix(a->status(), "10.0.0.10/32")->reason(), HasSubstr("host drained"));
  speaker_.calls.clear();
  ASSERT_TRUE(a->undrain().ok());
  a->tick(later + 1);
  EXPECT_THAT(speaker_.calls,
              ElementsAre("announce 10.0.0.10/32 med 20", "announce fd00::10/128 med 10"));
  EXPECT_EQ(a->status().drain(), "none");
}

TEST_F(AnnouncerTest, DaemonDownIsReportedAndRetriedAndItsLostRoutesComeBack) {
  speaker_.up = false;
  auto a = make();
  a->tick(1000);
  v1::BgpStatus s = a->status();
  EXPECT_FALSE(s.daemon_connected());
  EXPECT_THAT(s.daemon_error(), HasSubstr("no such file"));
  EXPECT_THAT(a->renderMetrics(), HasSubstr("xlb_bgp_daemon_connected 0"));
  speaker_.up = true;
  a->tick(1500);  // within the one-second back-off
  EXPECT_THAT(speaker_.calls, IsEmpty());
  a->tick(2000);
  EXPECT_EQ(speaker_.calls.size(), 2u);
  // gobgpd restarted empty: the periodic resync puts the routes back.
  speaker_.routes.clear();
  speaker_.calls.clear();
  a->tick(4100);
  EXPECT_EQ(speaker_.calls.size(), 2u);
}

TEST_F(AnnouncerTest, PeerChangesAreEventsAndMetrics) {
  speaker_.peers = {{"10.0.0.254", 65000, "", "active", 0, 0, 0, 0}};
  auto a = make();
  a->tick(1000);
  speaker_.peers[0].session_state = "established";
  a->tick(1600);
  EXPECT_EQ(events_.back().kind(), v1::Event::KIND_BGP_PEER);
  EXPECT_THAT(events_.back().message(), HasSubstr("active -> established"));
  EXPECT_THAT(a->renderMetrics(), HasSubstr("xlb_bgp_peer_up{peer=\"10.0.0.254\"} 1"));
  EXPECT_EQ(a->status().peers(0).session_state(), "established");
}

TEST_F(AnnouncerTest, NewAttributesAreOneUpdateNotAWithdraw) {
  auto a = make();
  a->tick(1000);
  speaker_.calls.clear();
  auto c = std::make_shared<v1::Config>(*in_.config);
  c->mutable_bgp()->set_med(33);
  c->mutable_vips(0)->mutable_bgp()->add_communities("65001:9");
  in_.config = c;
  a->tick(1010);
  EXPECT_THAT(speaker_.calls,
              ElementsAre("announce 10.0.0.10/32 med 20", "announce fd00::10/128 med 33"));
  EXPECT_THAT(speaker_.routes.at("10.0.0.10/32").communities,
              ElementsAre(0xfde90001u, 0xfde90002u, 0xfde90009u));
  EXPECT_THAT(events_.back().message(), HasSubstr("re-announced fd00::10/128 med 33"));
}

TEST_F(AnnouncerTest, StartWithoutBgpWithdrawsWhatAnEarlierAgentLeft) {
  const std::string marker = ::testing::TempDir() + "bgp-active-test";
  Announcer::Options opts;
  opts.active_file = marker;
  {
    Announcer earlier(
        speaker_, [this] { return in_; }, nullptr, opts);
    earlier.tick(500);  // announces, marks the host as announcing
  }
  ASSERT_TRUE(std::ifstream(marker).good());
  speaker_.calls.clear();
  auto no_bgp = std::make_shared<v1::Config>(*in_.config);
  no_bgp->clear_bgp();
  in_.config = no_bgp;
  // Another agent without the marker leaves gobgpd alone (e.g. a test agent on a host that runs
  // gobgpd for its real one).
  Announcer stranger(
      speaker_, [this] { return in_; }, nullptr, Announcer::Options{});
  stranger.tick(900);
  EXPECT_THAT(speaker_.calls, IsEmpty());
  Announcer a(
      speaker_, [this] { return in_; }, nullptr, opts);
  a.tick(1000);
  EXPECT_THAT(speaker_.calls, ElementsAre("withdraw 10.0.0.10/32", "withdraw fd00::10/128"));
  EXPECT_FALSE(std::ifstream(marker).good());
  a.tick(1100);  // checked once
  EXPECT_EQ(speaker_.calls.size(), 2u);
  // No daemon at all: nothing to do, no error reported.
  FakeSpeaker none;
  none.up = false;
  Announcer b(
      none, [this] { return in_; }, nullptr, Announcer::Options{});
  b.tick(1000);
  EXPECT_FALSE(b.status().configured());
  EXPECT_EQ(b.status().daemon_error(), "");
}

TEST_F(AnnouncerTest, MetricsAreStrictExpositionAndEmptyWithoutBgp) {
  speaker_.peers = {{"10.0.0.254", 65000, "", "established", 1, 0, 3, 2}};
  auto a = make();
  EXPECT_EQ(a->renderMetrics(), "");  // before the first round
  a->tick(1000);
  test::Exposition e = test::parseStrict(a->renderMetrics());
  EXPECT_EQ(test::valueOf(e, "xlb_bgp_peer_up", {{"peer", "10.0.0.254"}}), 1);
  EXPECT_EQ(test::valueOf(e, "xlb_bgp_peer_flops_total", {{"peer", "10.0.0.254"}}), 2);
  EXPECT_EQ(test::valueOf(e, "xlb_bgp_prefix_announced", {{"prefix", "10.0.0.10/32"}}), 1);
  EXPECT_EQ(test::valueOf(e, "xlb_bgp_prefix_announced", {{"prefix", "10.0.0.11/32"}}), 0);
  EXPECT_EQ(test::valueOf(e, "xlb_bgp_announcements_total", {}), 2);
  EXPECT_EQ(test::valueOf(e, "xlb_bgp_drain_state", {}), 0);
  auto no_bgp = std::make_shared<v1::Config>(*in_.config);
  no_bgp->clear_bgp();
  in_.config = no_bgp;
  a->tick(1100);  // the section is gone: everything is withdrawn
  EXPECT_THAT(speaker_.routes, IsEmpty());
  EXPECT_EQ(a->renderMetrics(), "");
  EXPECT_FALSE(a->status().configured());
}

}  // namespace
}  // namespace xlb::bgp
