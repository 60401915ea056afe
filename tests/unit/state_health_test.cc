// SPDX-License-Identifier: Apache-2.0
// State's issue-3 behaviour against the fake data plane: algorithms in the VIP entry and table,
// health verdicts (injected, and from a real checker on loopback), all-down policies, draining,
// events, open-flow reconciliation.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "config/yaml.h"
#include "dataplane/fake_dataplane.h"
#include "maglev/round_robin.h"
#include "spdlog/spdlog.h"
#include "state/reconciler.h"
#include "state/state.h"

namespace xlb::state {
namespace {

using dataplane::FakeDataplane;
using ::testing::ElementsAre;
using namespace std::chrono_literals;

const bool kQuiet = (spdlog::set_level(spdlog::level::err), true);

v1::Config yaml(const std::string& text) {
  auto c = config::parseConfigYaml(text);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : v1::Config{};
}

xlb_vip_key vipKey(const std::string& addr, uint16_t port) {
  auto a = *parseIpAddress(addr);
  xlb_vip_key k{};
  std::memcpy(k.addr, a.bytes.data(), 16);
  k.family = a.family;
  k.port = htons(port);
  k.proto = IPPROTO_TCP;
  return k;
}

v1::VipKey protoKey(const std::string& addr, uint32_t port) {
  v1::VipKey k;
  k.set_address(addr);
  k.set_port(port);
  k.set_protocol(v1::PROTOCOL_TCP);
  return k;
}

health::Transition tr(health::Health from, health::Health to, const std::string& reason) {
  return {from, to, health::Clock::now(), reason};
}

constexpr char kWeb[] = R"(
vips:
  - address: 10.0.0.10
    port: 80
    protocol: tcp
    maglev_table_size: 1021
    health_check: {type: tcp}
    backends:
      - {address: 10.0.1.1}
      - {address: 10.0.1.2, weight: 2}
      - {address: 10.0.1.3}
)";

class StateHealthTest : public ::testing::Test {
 protected:
  uint32_t id(const std::string& be) {
    for (const auto& v : state_.ids()) {
      for (const auto& b : v.backends) {
        if (b.address == be) return b.id;
      }
    }
    ADD_FAILURE() << "no backend " << be;
    return UINT32_MAX;
  }
  std::map<uint32_t, int> slots(uint32_t vip_id = 0) {
    std::map<uint32_t, int> counts;
    for (uint32_t x : dp_.table(vip_id)) counts[x]++;
    return counts;
  }
  bool active(const std::string& be) { return dp_.backend(id(be)).flags & XLB_BE_F_ACTIVE; }
  void down(const std::string& be, const std::string& reason = "connect: connection refused") {
    state_.onHealthTransition("10.0.0.10:80/tcp " + be,
                              tr(health::Health::kUnknown, health::Health::kDown, reason));
  }
  void up(const std::string& be) {
    state_.onHealthTransition("10.0.0.10:80/tcp " + be,
                              tr(health::Health::kDown, health::Health::kUp, "connected"));
  }
  std::vector<v1::Event> drain(EventBus::Subscription& sub) {
    std::vector<v1::Event> out;
    while (auto e = sub.next(0ms)) out.push_back(*e);
    return out;
  }
  std::vector<v1::Event::Kind> kinds(EventBus::Subscription& sub) {
    std::vector<v1::Event::Kind> out;
    for (auto& e : drain(sub)) out.push_back(e.kind());
    return out;
  }

  FakeDataplane dp_;
  State state_{dp_};
};

TEST_F(StateHealthTest, AlgorithmsAndFlagsReachTheVipEntry) {
  const std::pair<const char*, uint8_t> cases[] = {{"maglev", XLB_ALG_MAGLEV},
                                                   {"source_hash", XLB_ALG_SOURCE_HASH},
                                                   {"round_robin", XLB_ALG_ROUND_ROBIN},
                                                   {"random", XLB_ALG_RANDOM},
                                                   {"least_conn", XLB_ALG_LEAST_CONN}};
  for (auto [name, alg] : cases) {
    ASSERT_TRUE(state_
                    .applyConfig(yaml(std::string("vips:\n  - {address: 10.0.0.10, port: 80, "
                                                  "protocol: tcp, maglev_table_size: 1021, "
                                                  "algorithm: ") +
                                      name + ", backends: [{address: 10.0.1.1}]}\n"),
                                 false, nullptr)
                    .ok());
    auto v = dp_.vip(vipKey("10.0.0.10", 80));
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->algorithm, alg) << name;
    EXPECT_EQ(v->flags, XLB_VIP_F_NONE) << name;
  }
  ASSERT_TRUE(state_
                  .applyConfig(yaml("vips:\n  - {address: 10.0.0.10, port: 80, protocol: tcp, "
                                    "algorithm: source_hash, source_hash_include_port: true}\n"),
                               false, nullptr)
                  .ok());
  EXPECT_EQ(dp_.vip(vipKey("10.0.0.10", 80))->flags, XLB_VIP_F_HASH_SRC_PORT);
}

TEST_F(StateHealthTest, ChangingTheAlgorithmRewritesOnlyTheEntryAndTable) {
  ASSERT_TRUE(state_.applyConfig(yaml(kWeb), false, nullptr).ok());
  EXPECT_EQ(dp_.backend(id("10.0.1.2")).weight, 2u);
  auto maglev_table = dp_.table(0);
  v1::Config c = yaml(kWeb);
  // Maglev -> least_conn: same weighted Maglev table, only the entry changes (flows untouched).
  c.mutable_vips(0)->set_algorithm(v1::ALGORITHM_LEAST_CONN);
  dp_.clearCalls();
  ASSERT_TRUE(state_.applyConfig(c, false, nullptr).ok());
  EXPECT_THAT(dp_.ops(), ElementsAre("upsertVip"));
  // -> round_robin: the smooth WRR sequence (ids in address order, weights 1:2:1).
  c.mutable_vips(0)->set_algorithm(v1::ALGORITHM_ROUND_ROBIN);
  dp_.clearCalls();
  std::vector<std::string> lines;
  ASSERT_TRUE(state_.applyConfig(c, false, &lines).ok());
  EXPECT_THAT(dp_.ops(), ElementsAre("setSelectionTables", "upsertVip"));
  EXPECT_THAT(dp_.table(0),
              ElementsAre(id("10.0.1.2"), id("10.0.1.1"), id("10.0.1.3"), id("10.0.1.2")));
  EXPECT_THAT(lines, ElementsAre("rebuild round-robin table of vip 10.0.0.10:80/tcp (M 1021, 3 "
                                 "backends)"));
  // Back to maglev: the same table as before.
  c.mutable_vips(0)->set_algorithm(v1::ALGORITHM_MAGLEV);
  ASSERT_TRUE(state_.applyConfig(c, false, nullptr).ok());
  EXPECT_EQ(dp_.table(0), maglev_table);
}

TEST_F(StateHealthTest, DownBackendLeavesTheTableAndItsFlowsAreResteered) {
  ASSERT_TRUE(state_.applyConfig(yaml(kWeb), false, nullptr).ok());
  auto sub = state_.events().subscribe();
  EXPECT_EQ(slots().size(), 3u);
  dp_.clearCalls();
  down("10.0.1.2");
  // Slot rewritten without ACTIVE (the data plane re-steers its flows), then the table swapped.
  EXPECT_THAT(dp_.ops(), ElementsAre("upsertBackend", "setSelectionTables"));
  EXPECT_FALSE(active("10.0.1.2"));
  EXPECT_EQ(slots().count(id("10.0.1.2")), 0u);
  EXPECT_EQ(slots().size(), 2u);
  auto events = drain(*sub);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind(), v1::Event::KIND_BACKEND_HEALTH);
  EXPECT_EQ(events[0].backend(), "10.0.1.2");
  EXPECT_EQ(events[0].health_transition().to(), v1::HEALTH_DOWN);
  EXPECT_EQ(events[0].health_transition().reason(), "connect: connection refused");

  auto st = state_.vipStatus(protoKey("10.0.0.10", 80));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->backends(1).health(), v1::HEALTH_DOWN);
  EXPECT_FALSE(st->backends(1).in_rotation());
  EXPECT_EQ(st->backends(1).last_transition().reason(), "connect: connection refused");
  EXPECT_EQ(st->backends(0).health(), v1::HEALTH_UNKNOWN);  // not probed yet: in rotation
  EXPECT_TRUE(st->backends(0).in_rotation());

  // Up again (after `rise` successes, the checker's job): flag and slots back.
  up("10.0.1.2");
  EXPECT_TRUE(active("10.0.1.2"));
  EXPECT_EQ(slots().size(), 3u);
  // An unknown -> up transition changes nothing in the data plane.
  dp_.clearCalls();
  state_.onHealthTransition("10.0.0.10:80/tcp 10.0.1.1",
                            tr(health::Health::kUnknown, health::Health::kUp, "connected"));
  EXPECT_TRUE(dp_.ops().empty());
  // Stale keys (a backend removed meanwhile) are ignored.
  state_.onHealthTransition("10.0.0.10:80/tcp 10.9.9.9",
                            tr(health::Health::kUp, health::Health::kDown, "x"));
  EXPECT_TRUE(dp_.ops().empty());
}

TEST_F(StateHealthTest, HealthDownSurvivesAnAgentRestart) {
  ASSERT_TRUE(state_.applyConfig(yaml(kWeb), false, nullptr).ok());
  down("10.0.1.2");
  const uint32_t down_id = id("10.0.1.2");
  EXPECT_EQ(dp_.backend(down_id).flags, XLB_BE_F_DOWN);  // in use, not ACTIVE
  const auto table_before = dp_.table(0);

  // A new agent over the same maps, with the same config: the backend stays a member with its id
  // and stays out of rotation (no data-plane write at all), reported down with the reason.
  State restarted(dp_);
  ASSERT_TRUE(restarted.adopt(dp_.contents()).ok());
  ASSERT_TRUE(restarted.applyConfig(yaml(kWeb), false, nullptr).ok());
  EXPECT_EQ(dp_.backend(down_id).flags, XLB_BE_F_DOWN);
  EXPECT_EQ(dp_.table(0), table_before);
  for (const auto& v : restarted.ids()) {
    for (const auto& b : v.backends) {
      if (b.address == "10.0.1.2") {
        EXPECT_EQ(b.id, down_id);
      }
    }
  }
  auto st = restarted.vipStatus(protoKey("10.0.0.10", 80));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->backends(1).address(), "10.0.1.2");
  EXPECT_EQ(st->backends(1).health(), v1::HEALTH_DOWN);
  EXPECT_FALSE(st->backends(1).in_rotation());
  EXPECT_TRUE(st->backends(0).in_rotation());

  // The checker's down -> up transition (after `rise` successes) brings it back.
  restarted.onHealthTransition("10.0.0.10:80/tcp 10.0.1.2",
                               tr(health::Health::kDown, health::Health::kUp, "connected"));
  EXPECT_EQ(dp_.backend(down_id).flags, XLB_BE_F_ACTIVE);
  std::map<uint32_t, int> counts;
  for (uint32_t x : dp_.table(0)) counts[x]++;
  EXPECT_EQ(counts.size(), 3u);
}

TEST_F(StateHealthTest, AllDownKeepsTheLastHealthySetByDefault) {
  ASSERT_TRUE(state_.applyConfig(yaml(kWeb), false, nullptr).ok());
  auto sub = state_.events().subscribe();
  down("10.0.1.1");
  down("10.0.1.3");
  EXPECT_EQ(slots().size(), 1u);  // only 10.0.1.2 left
  down("10.0.1.2");
  // Every backend down: the last healthy set (10.0.1.2) stays in the table and ACTIVE.
  EXPECT_EQ(slots().size(), 1u);
  EXPECT_EQ(slots().count(id("10.0.1.2")), 1u);
  EXPECT_TRUE(active("10.0.1.2"));
  EXPECT_FALSE(active("10.0.1.1"));
  auto st = state_.vipStatus(protoKey("10.0.0.10", 80));
  EXPECT_TRUE(st->all_down());
  EXPECT_TRUE(st->backends(1).in_rotation());
  EXPECT_THAT(kinds(*sub),
              ElementsAre(v1::Event::KIND_BACKEND_HEALTH, v1::Event::KIND_BACKEND_HEALTH,
                          v1::Event::KIND_BACKEND_HEALTH, v1::Event::KIND_VIP_ALL_DOWN));
  // One comes back: it alone is in rotation, the kept one is released (flows re-steered).
  up("10.0.1.1");
  EXPECT_THAT(slots(), ElementsAre(std::pair<const uint32_t, int>{id("10.0.1.1"), 1021}));
  EXPECT_FALSE(active("10.0.1.2"));
  EXPECT_FALSE(state_.vipStatus(protoKey("10.0.0.10", 80))->all_down());
  EXPECT_THAT(kinds(*sub),
              ElementsAre(v1::Event::KIND_BACKEND_HEALTH, v1::Event::KIND_VIP_RECOVERED));
}

TEST_F(StateHealthTest, AllDownWithDropEmptiesTheTable) {
  v1::Config c = yaml(kWeb);
  c.mutable_vips(0)->set_all_down_policy(v1::ALL_DOWN_POLICY_DROP);
  ASSERT_TRUE(state_.applyConfig(c, false, nullptr).ok());
  down("10.0.1.1");
  down("10.0.1.2");
  down("10.0.1.3");
  EXPECT_TRUE(dp_.table(0).empty());  // new flows: no_backend drops
  EXPECT_FALSE(active("10.0.1.2"));
  EXPECT_TRUE(dp_.vip(vipKey("10.0.0.10", 80)).has_value());
  up("10.0.1.3");
  EXPECT_EQ(slots().size(), 1u);
}

TEST_F(StateHealthTest, DrainKeepsFlowsButLeavesTheTableAndIsIdempotent) {
  ASSERT_TRUE(state_.applyConfig(yaml(kWeb), false, nullptr).ok());
  auto sub = state_.events().subscribe();
  dp_.clearCalls();
  auto st = state_.drainBackend(protoKey("10.0.0.10", 80), "10.0.1.2");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->state(), v1::BACKEND_STATE_DRAINING);
  EXPECT_FALSE(st->in_rotation());
  EXPECT_THAT(dp_.ops(), ElementsAre("setSelectionTables"));  // slot untouched: still ACTIVE
  EXPECT_TRUE(active("10.0.1.2"));
  EXPECT_EQ(slots().count(id("10.0.1.2")), 0u);
  EXPECT_EQ(state_.config().vips(0).backends(1).state(), v1::BACKEND_STATE_DRAINING);
  EXPECT_THAT(kinds(*sub), ElementsAre(v1::Event::KIND_BACKEND_DRAINING));
  // Again: nothing written, no event.
  dp_.clearCalls();
  ASSERT_TRUE(state_.drainBackend(protoKey("10.0.0.10", 80), "10.0.1.2").ok());
  EXPECT_TRUE(dp_.ops().empty());
  EXPECT_TRUE(kinds(*sub).empty());
  // Undrain.
  st = state_.undrainBackend(protoKey("10.0.0.10", 80), "10.0.1.2");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state(), v1::BACKEND_STATE_ACTIVE);
  EXPECT_TRUE(st->in_rotation());
  EXPECT_EQ(slots().count(id("10.0.1.2")), 1u);
  EXPECT_THAT(kinds(*sub), ElementsAre(v1::Event::KIND_BACKEND_ACTIVE));
  // Codes.
  EXPECT_EQ(state_.drainBackend(protoKey("10.0.0.11", 80), "10.0.1.2").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(state_.drainBackend(protoKey("10.0.0.10", 80), "10.0.1.9").status().code(),
            absl::StatusCode::kNotFound);
  auto bad = state_.drainBackend(protoKey("10.0.0.10", 80), "nope");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message().substr(0, 9), "address: ");
  // A draining backend that dies loses its flag too (its flows have nowhere to go).
  ASSERT_TRUE(state_.drainBackend(protoKey("10.0.0.10", 80), "10.0.1.2").ok());
  down("10.0.1.2");
  EXPECT_FALSE(active("10.0.1.2"));
}

TEST_F(StateHealthTest, DrainingFromConfigAndAllDrainedIsNotAllDown) {
  v1::Config c = yaml(kWeb);
  for (auto& b : *c.mutable_vips(0)->mutable_backends()) b.set_state(v1::BACKEND_STATE_DRAINING);
  ASSERT_TRUE(state_.applyConfig(c, false, nullptr).ok());
  EXPECT_TRUE(dp_.table(0).empty());
  EXPECT_EQ(dp_.activeBackendCount(), 3u);
  EXPECT_FALSE(state_.vipStatus(protoKey("10.0.0.10", 80))->all_down());
}

TEST_F(StateHealthTest, ReconcilerWritesExactOpenFlowCounts) {
  ASSERT_TRUE(state_.applyConfig(yaml(kWeb), false, nullptr).ok());
  const uint32_t a = id("10.0.1.1"), b = id("10.0.1.2");
  const uint64_t now = dp_.monotonicNowNs();
  auto flow = [&](uint16_t sport, uint32_t be, uint64_t age_ns, uint32_t flags = 0) {
    xlb_flow_key k{};
    k.sport = htons(sport);
    xlb_flow_value v{};
    v.backend_id = be;
    v.backend_gen = dp_.backend(be).gen;
    v.last_seen_ns = now - age_ns;
    v.flags = flags;
    dp_.putFlow(k, v);
  };
  flow(1, a, 0);
  flow(2, a, 1'000'000'000);
  flow(3, a, 400'000'000'000);  // idle longer than 300 s: not open
  flow(4, b, 0, XLB_FLOW_F_CLOSING);
  flow(5, b, 0);
  dp_.setOpenFlowsDirect(a, 7);  // drifted
  dp_.setOpenFlowsDirect(b, 1);  // right already: not rewritten
  dp_.clearCalls();
  Reconciler r(state_, 5s, 300s);
  r.runOnce();
  EXPECT_THAT(dp_.ops(), ElementsAre("setOpenFlows"));
  EXPECT_EQ(dp_.openFlows(a), 2u);
  EXPECT_EQ(dp_.openFlows(b), 1u);
  auto st = state_.vipStatus(protoKey("10.0.0.10", 80));
  EXPECT_EQ(st->backends(0).open_flows(), 2u);
  EXPECT_EQ(st->backends(1).open_flows(), 1u);
  // Draining shows the count an orchestrator waits on.
  auto d = state_.drainBackend(protoKey("10.0.0.10", 80), "10.0.1.1");
  EXPECT_EQ(d->open_flows(), 2u);
}

// Issue 12: a scan of more than Reconciler::kScanSlice entries pauses (the count is the same as an
// unpaced one), and the flow-table status reports the scan's duration and pauses.
TEST_F(StateHealthTest, ReconcilerPacesALargeScanAndReportsIt) {
  ASSERT_TRUE(state_.applyConfig(yaml(kWeb), false, nullptr).ok());
  const uint32_t a = id("10.0.1.1");
  const uint64_t now = dp_.monotonicNowNs();
  const uint32_t n = Reconciler::kScanSlice + 4464;  // 70,000: one pause
  for (uint32_t i = 0; i < n; ++i) {
    xlb_flow_key k{};
    std::memcpy(k.src, &i, sizeof(i));
    xlb_flow_value v{};
    v.backend_id = a;
    v.backend_gen = dp_.backend(a).gen;
    v.last_seen_ns = now;
    dp_.putFlow(k, v);
  }
  dp_.setOpenFlowsDirect(a, n + 5);  // drifted high
  Reconciler r(state_, 5s, 300s);
  r.runOnce(/*paced=*/false);
  EXPECT_EQ(dp_.openFlows(a), n);
  auto unpaced = state_.flowTableStatus();
  EXPECT_EQ(unpaced.lru_entries, n);
  EXPECT_EQ(unpaced.scan_paused_seconds, 0.0);
  EXPECT_GT(unpaced.scan_seconds, 0.0);

  dp_.setOpenFlowsDirect(a, n + 3);
  r.runOnce();
  EXPECT_EQ(dp_.openFlows(a), n);
  auto paced = state_.flowTableStatus();
  EXPECT_GT(paced.scan_paused_seconds, 0.0);
  EXPECT_GT(paced.scan_seconds, paced.scan_paused_seconds);
}

// Issue 10, the e2e_algorithms flake: the data plane keeps counting while the reconciler scans.
// A flow the scan saw open and that closed before the write must not come back (it is closing:
// nothing would subtract it again), and an open during the scan must not be lost.
TEST_F(StateHealthTest, ReconcilerKeepsChangesMadeDuringTheScan) {
  ASSERT_TRUE(state_.applyConfig(yaml(kWeb), false, nullptr).ok());
  const uint32_t a = id("10.0.1.1"), b = id("10.0.1.2"), c = id("10.0.1.3");
  const uint64_t now = dp_.monotonicNowNs();
  auto flow = [&](uint16_t sport, uint32_t be, uint64_t age_ns) {
    xlb_flow_key k{};
    k.sport = htons(sport);
    xlb_flow_value v{};
    v.backend_id = be;
    v.backend_gen = dp_.backend(be).gen;
    v.last_seen_ns = now - age_ns;
    dp_.putFlow(k, v);
  };
  flow(1, a, 0);
  flow(2, a, 0);
  flow(3, b, 0);
  flow(4, c, 400'000'000'000);  // idle for longer than the timeout: ended silently
  dp_.setOpenFlowsDirect(a, 2);
  dp_.setOpenFlowsDirect(b, 1);
  dp_.setOpenFlowsDirect(c, 1);
  dp_.duringFlowScan([&] {
    dp_.setOpenFlowsDirect(a, 1);  // flow 1 closed after it was scanned
    dp_.setOpenFlowsDirect(b, 2);  // a new flow on b after its bucket was scanned
  });
  dp_.clearCalls();
  Reconciler r(state_, 5s, 300s);
  r.runOnce();
  EXPECT_EQ(dp_.openFlows(a), 1u);  // an absolute rewrite would have put back 2
  EXPECT_EQ(dp_.openFlows(b), 2u);  // ... and 1
  EXPECT_EQ(dp_.openFlows(c), 0u);  // the silent end is still corrected at once
  EXPECT_THAT(dp_.ops(), ElementsAre("setOpenFlows"));

  // A count that runs short (a short-lived flow opened and closed inside the scan looks the same)
  // is raised only when two rounds in a row find it short, by the smaller shortfall.
  dp_.duringFlowScan(nullptr);
  dp_.setOpenFlowsDirect(a, 0);
  dp_.setOpenFlowsDirect(b, 1);
  r.runOnce();
  EXPECT_EQ(dp_.openFlows(a), 0u);
  EXPECT_EQ(dp_.openFlows(b), 1u);
  r.runOnce();
  EXPECT_EQ(dp_.openFlows(a), 2u);  // flows 1 and 2 are open in the table
  EXPECT_EQ(dp_.openFlows(b), 1u);
}

TEST_F(StateHealthTest, HealthSnapshotListsEveryBackend) {
  ASSERT_TRUE(state_.applyConfig(yaml(kWeb), false, nullptr).ok());
  down("10.0.1.3", "timeout after 500ms");
  auto snap = state_.healthSnapshot();
  ASSERT_EQ(snap.size(), 3u);
  EXPECT_EQ(snap[0].health_transition().to(), v1::HEALTH_UNKNOWN);
  EXPECT_EQ(snap[2].backend(), "10.0.1.3");
  EXPECT_EQ(snap[2].health_transition().to(), v1::HEALTH_DOWN);
  EXPECT_EQ(snap[2].health_transition().reason(), "timeout after 500ms");
}

TEST(EventBusTest, SlowSubscriberIsCutOffWithoutBlockingThePublisher) {
  EventBus bus(3);
  auto slow = bus.subscribe();
  auto fast = bus.subscribe();
  v1::Event e;
  for (int i = 0; i < 5; ++i) {
    e.set_message(std::to_string(i));
    bus.publish(e);  // never blocks
    if (i < 2) {
      ASSERT_TRUE(fast->next(0ms).has_value());
    }
  }
  EXPECT_TRUE(slow->overflowed());
  EXPECT_FALSE(slow->next(0ms).has_value());
  EXPECT_EQ(slow->dropped(), 2u);  // the overflowing one and the one after
  EXPECT_FALSE(fast->overflowed());
  EXPECT_EQ(fast->next(0ms)->message(), "2");
  slow.reset();
  EXPECT_EQ(bus.subscribers(), 1u);
}

// A real checker on loopback: the backend's listener closes mid-test and the backend leaves the
// table within interval x fall (+ slack), with no call from the test into State.
TEST(StateRealCheckerTest, ClosedListenerLeavesRotationAndReturns) {
  auto listen_on = [](uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons(port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0) {
      ::close(fd);
      return -1;
    }
    listen(fd, 128);
    return fd;
  };
  int fd = listen_on(0);
  ASSERT_GE(fd, 0);
  sockaddr_in sin{};
  socklen_t len = sizeof(sin);
  getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
  const uint16_t port = ntohs(sin.sin_port);

  FakeDataplane dp;
  State state(dp);
  health::HealthChecker checker([&state](const std::string& key, const health::Transition& t) {
    state.onHealthTransition(key, t);
  });
  ASSERT_TRUE(checker.start().ok());
  state.attachHealthChecker(&checker);
  auto sub = state.events().subscribe();
  // 127.0.0.1 is the checked address (a checker target on the balancer host: loopback is allowed
  // there, not as a backend); the VIP port is the probe port.
  ASSERT_TRUE(
      state
          .applyConfig(yaml("vips:\n  - address: 10.0.0.10\n    port: " + std::to_string(port) +
                            "\n    protocol: tcp\n    maglev_table_size: 1021\n"
                            "    health_check: {type: tcp, interval_ms: 50, timeout_ms: "
                            "50, rise: 2, fall: 2}\n"
                            "    backends: [{address: 10.0.1.1, health_check: {address: 127.0.0.1}}, "
                            "{address: 10.0.1.2, "
                            "health_check: {type: none}}]\n"),
                       false, nullptr)
          .ok());
  const std::string key = "10.0.0.10:" + std::to_string(port) + "/tcp 10.0.1.1";
  auto waitFor = [&](v1::Health want, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      auto e = sub->next(20ms);
      if (e && e->kind() == v1::Event::KIND_BACKEND_HEALTH && e->backend() == "10.0.1.1" &&
          e->health_transition().to() == want) {
        return true;
      }
    }
    return false;
  };
  ASSERT_TRUE(waitFor(v1::HEALTH_UP, 2s));
  EXPECT_EQ(dp.table(0).size(), 1021u);
  auto backendsInTable = [&dp] {
    auto t = dp.table(0);
    return std::set<uint32_t>(t.begin(), t.end()).size();
  };
  EXPECT_EQ(backendsInTable(), 2u);

  ::close(fd);  // the server dies
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(waitFor(v1::HEALTH_DOWN, 2s));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 1s);               // fall 2 x interval 50 ms (+ jitter), far below a second
  EXPECT_EQ(backendsInTable(), 1u);  // only the unchecked 10.0.1.2 left
  auto st = state.vipStatus(protoKey("10.0.0.10", port));
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->backends(0).health(), v1::HEALTH_DOWN);
  EXPECT_EQ(st->backends(0).last_transition().reason(), "connect: connection refused");
  EXPECT_EQ(st->backends(1).health(), v1::HEALTH_UP);  // type none: always up

  // The server comes back on the same port: up after `rise` successes, back in the table.
  fd = listen_on(port);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(waitFor(v1::HEALTH_UP, 2s));
  EXPECT_EQ(backendsInTable(), 2u);
  state.attachHealthChecker(nullptr);
  checker.stop();
  ::close(fd);
}

}  // namespace
}  // namespace xlb::state

namespace xlb::state {
namespace {

// The checker's listener only queues; the applier thread applies everything queued while it was
// busy as one change: one table swap for many transitions across VIPs, none lost.
TEST_F(StateHealthTest, QueuedTransitionsAreAppliedTogether) {
  std::string text = "vips:\n";
  for (int i = 0; i < 20; ++i) {
    absl::StrAppend(&text, "  - {address: 10.0.0.", 10 + i, ", port: 80, protocol: tcp, ",
                    "maglev_table_size: 1021, health_check: {type: tcp}, backends: [",
                    "{address: 10.0.", 100 + i, ".1}, {address: 10.0.", 100 + i, ".2}]}\n");
  }
  ASSERT_TRUE(state_.applyConfig(yaml(text), false, nullptr).ok());
  auto key = [](int i) {
    return absl::StrCat("10.0.0.", 10 + i, ":80/tcp 10.0.", 100 + i, ".1");
  };
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  int swaps = 0;
  dp_.onCall([&](const FakeDataplane::Call& c) {
    if (c.op != "setSelectionTables") return;
    std::unique_lock lock(mu);
    if (++swaps == 1) cv.wait(lock, [&] { return release; });  // the applier is busy
    cv.notify_all();
  });
  state_.startHealthApplier();
  state_.submitHealthTransition(key(0), tr(health::Health::kUnknown, health::Health::kDown, "x"));
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return swaps == 1; }));
  }
  for (int i = 1; i < 20; ++i) {
    state_.submitHealthTransition(key(i), tr(health::Health::kUnknown, health::Health::kDown, "x"));
  }
  EXPECT_EQ(state_.healthApplyStats().queued, 19u);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  for (int t = 0; t < 500 && state_.healthApplyStats().transitions < 20; ++t) {
    std::this_thread::sleep_for(10ms);
  }
  state_.stopHealthApplier();
  dp_.onCall(nullptr);
  const auto stats = state_.healthApplyStats();
  EXPECT_EQ(stats.transitions, 20u);
  EXPECT_EQ(stats.rounds, 2u);
  EXPECT_EQ(swaps, 2);  // the first alone, the 19 queued behind it together
  for (int i = 0; i < 20; ++i) {
    const std::string down = absl::StrCat("10.0.", 100 + i, ".1");
    EXPECT_FALSE(active(down)) << down;
    EXPECT_EQ(slots(static_cast<uint32_t>(i)).count(id(down)), 0u) << down;
    EXPECT_EQ(slots(static_cast<uint32_t>(i)).size(), 1u) << down;
  }
}

}  // namespace
}  // namespace xlb::state
