// SPDX-License-Identifier: Apache-2.0
// The pure discovery rules: per-name failure rules with a fake clock (name_state.h), composed
// lookups with a fake resolver (family any, SRV lowest priority and weights), pool planning
// (union, never empty, drain then removal).
#include <gtest/gtest.h>

#include "config/discovery.h"
#include "discovery/name_state.h"
#include "discovery/pool.h"
#include "fake_resolver.h"

namespace xlb::discovery {
namespace {

using namespace std::chrono_literals;

const Clock::time_point T0 = Clock::time_point{} + 1000h;

Answer ok(std::vector<std::string> addrs, uint32_t ttl = 5) {
  return FakeResolver::addresses(addrs, ttl, "A");
}

NameState makeState(NameTiming t = {}, double jitter = 0.0) {
  return NameState(t, [jitter] { return jitter; });
}

TEST(DiscoveryNameState, OkAnswerSetsTheSetAndRefreshesAfterTheTtl) {
  auto s = makeState();
  EXPECT_TRUE(s.onAnswer(ok({"10.0.1.1", "10.0.1.2"}, 5), T0));
  EXPECT_EQ(s.records().size(), 2u);
  EXPECT_FALSE(s.stale());
  EXPECT_EQ(s.nextQuery(), T0 + 5s);
  EXPECT_FALSE(s.onAnswer(ok({"10.0.1.2", "10.0.1.1"}, 5), T0 + 5s)) << "same set, other order";
}

TEST(DiscoveryNameState, TtlIsClampedAndJitterOnlyDelays) {
  NameTiming t{2000ms, 10000ms, 30000ms};
  auto zero = makeState(t);
  zero.onAnswer(ok({"10.0.1.1"}, 0), T0);
  EXPECT_EQ(zero.nextQuery(), T0 + 2s) << "TTL 0 means min_ttl, not a query storm";
  auto big = makeState(t);
  big.onAnswer(ok({"10.0.1.1"}, 3600), T0);
  EXPECT_EQ(big.nextQuery(), T0 + 10s);
  auto jittered = makeState(t, 0.999);
  jittered.onAnswer(ok({"10.0.1.1"}, 5), T0);
  EXPECT_GT(jittered.nextQuery(), T0 + 5s);
  EXPECT_LE(jittered.nextQuery(), T0 + 5500ms) << "at most 10 % later";
}

TEST(DiscoveryNameState, TtlZeroAsksAtMostOncePerMinTtl) {
  auto s = makeState(NameTiming{1000ms, 300000ms, 30000ms}, 0.5);
  int queries = 0;
  for (auto now = T0; now < T0 + 60s; now += 10ms) {
    if (now < s.nextQuery()) continue;
    ++queries;
    s.onAnswer(ok({"10.0.1.1"}, 0), now);
  }
  EXPECT_LE(queries, 60);
  EXPECT_GE(queries, 50);
}

TEST(DiscoveryNameState, FailuresKeepTheLastGoodSetIndefinitelyAndRaiseStale) {
  auto s = makeState();
  s.onAnswer(ok({"10.0.1.1", "10.0.1.2"}), T0);
  auto now = T0;
  for (const char* why : {"timeout", "SERVFAIL", "REFUSED"}) {
    for (int i = 0; i < 100; ++i) {
      now += 10s;
      EXPECT_FALSE(s.onAnswer(FakeResolver::fail(why), now));
    }
    EXPECT_TRUE(s.stale());
    EXPECT_EQ(s.lastError(), why);
    EXPECT_EQ(s.records().size(), 2u);
  }
  EXPECT_LE(s.nextQuery(), now + 10s) << "failures retry within 10 s";
  EXPECT_FALSE(s.onAnswer(ok({"10.0.1.1", "10.0.1.2"}), now + 1s));
  EXPECT_FALSE(s.stale()) << "cleared by the next good answer";
}

TEST(DiscoveryNameState, NxdomainDropsOnlyAfterTheHoldAndTwoAnswers) {
  for (Outcome negative : {Outcome::kNxDomain, Outcome::kEmpty}) {
    auto s = makeState(NameTiming{1000ms, 300000ms, 3000ms});
    s.onAnswer(ok({"10.0.1.1"}), T0);
    Answer neg;
    neg.outcome = negative;
    EXPECT_FALSE(s.onAnswer(neg, T0 + 1s));
    EXPECT_TRUE(s.holdingEmpty());
    EXPECT_FALSE(s.onAnswer(neg, T0 + 2s)) << "two answers, but the hold has not passed";
    EXPECT_FALSE(s.onAnswer(neg, T0 + 3s)) << "hold 3 s from the first answer: not yet";
    EXPECT_EQ(s.records().size(), 1u);
    EXPECT_TRUE(s.onAnswer(neg, T0 + 4s));
    EXPECT_TRUE(s.records().empty());
  }
}

TEST(DiscoveryNameState, ARecordMissingFromAGoodAnswerIsHeldToo) {
  auto s = makeState(NameTiming{1000ms, 300000ms, 3000ms});
  s.onAnswer(ok({"10.0.1.1", "10.0.1.2"}), T0);
  EXPECT_FALSE(s.onAnswer(ok({"10.0.1.1"}), T0 + 1s));
  EXPECT_EQ(s.records().size(), 2u);
  EXPECT_TRUE(s.holdingEmpty());
  EXPECT_FALSE(s.onAnswer(ok({"10.0.1.1"}), T0 + 3s));
  EXPECT_TRUE(s.onAnswer(ok({"10.0.1.1"}), T0 + 4s));
  EXPECT_EQ(s.records().size(), 1u);
  EXPECT_FALSE(s.holdingEmpty());
  EXPECT_TRUE(s.onAnswer(ok({"10.0.1.1", "10.0.1.3"}), T0 + 5s)) << "a new record joins at once";
}

TEST(DiscoveryNameState, OneNegativeAnswerAfterTheHoldIsNotEnough) {
  auto s = makeState(NameTiming{1000ms, 300000ms, 0ms});
  s.onAnswer(ok({"10.0.1.1"}), T0);
  EXPECT_FALSE(s.onAnswer(FakeResolver::nx(), T0 + 1s)) << "hold 0, but only one answer";
  EXPECT_TRUE(s.onAnswer(FakeResolver::nx(), T0 + 2s));
}

TEST(DiscoveryNameState, AGoodAnswerResetsTheCountAndFailuresDoNotCount) {
  auto s = makeState(NameTiming{1000ms, 300000ms, 0ms});
  s.onAnswer(ok({"10.0.1.1"}), T0);
  s.onAnswer(FakeResolver::nx(), T0 + 1s);
  s.onAnswer(ok({"10.0.1.1"}), T0 + 2s);
  EXPECT_FALSE(s.onAnswer(FakeResolver::nx(), T0 + 3s)) << "the count restarted";
  EXPECT_FALSE(s.onAnswer(FakeResolver::fail(), T0 + 4s));
  EXPECT_TRUE(s.onAnswer(FakeResolver::nx(), T0 + 5s));
}

Answer negative(Outcome o, std::optional<uint32_t> negative_ttl) {
  Answer a;
  a.outcome = o;
  a.negative_ttl_s = negative_ttl;
  return a;
}

TEST(DiscoveryNameState, NegativeAnswerIsAskedAgainAfterItsSoaNegativeTtl) {
  // RFC 2308: NXDOMAIN / NODATA hold for min(SOA TTL, MINIMUM), which the resolver hands over.
  for (Outcome o : {Outcome::kNxDomain, Outcome::kEmpty}) {
    auto s = makeState(NameTiming{1000ms, 300000ms, 30000ms});
    s.onAnswer(negative(o, 5), T0);
    EXPECT_EQ(s.nextQuery(), T0 + 5s) << outcomeName(o);
    EXPECT_EQ(s.lastError(), outcomeName(o));
  }
}

TEST(DiscoveryNameState, NegativeTtlIsClampedAndJitteredLikeAPositiveOne) {
  NameTiming t{2000ms, 10000ms, 30000ms};
  auto zero = makeState(t);
  zero.onAnswer(negative(Outcome::kNxDomain, 0), T0);
  EXPECT_EQ(zero.nextQuery(), T0 + 2s) << "SOA minimum 0 means min_ttl, not a query storm";
  auto big = makeState(t);
  big.onAnswer(negative(Outcome::kNxDomain, 86400), T0);
  EXPECT_EQ(big.nextQuery(), T0 + 10s) << "a day-long negative TTL is cut to max_ttl";
  auto jittered = makeState(t, 0.999);
  jittered.onAnswer(negative(Outcome::kEmpty, 4), T0);
  EXPECT_GT(jittered.nextQuery(), T0 + 4s);
  EXPECT_LE(jittered.nextQuery(), T0 + 4400ms) << "at most 10 % later";
}

TEST(DiscoveryNameState, NegativeAnswerWithoutSoaFallsBackToMinTtl) {
  auto s = makeState(NameTiming{1500ms, 300000ms, 30000ms});
  s.onAnswer(negative(Outcome::kNxDomain, std::nullopt), T0);
  EXPECT_EQ(s.nextQuery(), T0 + 1500ms);
}

TEST(DiscoveryNameState, NegativeTtlPacesTheHoldButDoesNotShortenIt) {
  // The record goes after hold_empty and two negative answers; with a 4 s negative TTL the second
  // answer comes 4 s after the first, and the hold (3 s) still counts from the first.
  auto s = makeState(NameTiming{1000ms, 300000ms, 3000ms});
  s.onAnswer(ok({"10.0.1.1"}, 2), T0);
  EXPECT_FALSE(s.onAnswer(negative(Outcome::kNxDomain, 4), T0 + 2s));
  EXPECT_EQ(s.nextQuery(), T0 + 6s);
  EXPECT_TRUE(s.onAnswer(negative(Outcome::kNxDomain, 4), s.nextQuery()));
  EXPECT_TRUE(s.records().empty());
}

TEST(DiscoveryNameState, SeededSetIsKeptWhileResolutionFails) {
  auto s = makeState();
  s.seed({Record{*parseIpAddress("10.0.1.9"), 0, 1, "A"}});
  EXPECT_FALSE(s.onAnswer(FakeResolver::fail(), T0));
  EXPECT_EQ(s.records().size(), 1u);
  EXPECT_TRUE(s.stale());
}

Answer run(FakeResolver& r, const std::function<void(Resolver::Callback)>& start) {
  Answer out;
  bool done = false;
  start([&](Answer a) {
    out = std::move(a);
    done = true;
  });
  r.process(0ms);
  EXPECT_TRUE(done);
  return out;
}

TEST(DiscoveryLookup, FamilyAnyJoinsAAndAaaaWithTheSmallestTtl) {
  FakeResolver r;
  r.setA("svc", {"10.0.1.1"}, 30);
  r.set("svc", QueryType::kAAAA, FakeResolver::addresses({"2001:db8::1"}, 10, "AAAA"));
  Answer a = run(r, [&](auto cb) { lookupName(r, "svc", v1::DNS_FAMILY_ANY, cb); });
  EXPECT_EQ(a.outcome, Outcome::kOk);
  EXPECT_EQ(a.records.size(), 2u);
  EXPECT_EQ(a.ttl_s, 10u);
  Answer v6 = run(r, [&](auto cb) { lookupName(r, "svc", v1::DNS_FAMILY_IPV6, cb); });
  ASSERT_EQ(v6.records.size(), 1u);
  EXPECT_EQ(v6.records[0].record, "AAAA");
  EXPECT_EQ(r.queries("svc"), 3);
}

TEST(DiscoveryLookup, HalfAFailedAnswerIsAFailure) {
  FakeResolver r;
  r.setA("svc", {"10.0.1.1"});
  r.set("svc", QueryType::kAAAA, FakeResolver::fail("SERVFAIL"));
  Answer a = run(r, [&](auto cb) { lookupName(r, "svc", v1::DNS_FAMILY_ANY, cb); });
  EXPECT_EQ(a.outcome, Outcome::kFailure);
  EXPECT_EQ(a.error, "SERVFAIL");
  r.set("svc", QueryType::kAAAA, Answer{Outcome::kEmpty, {}, 0, "", std::nullopt});
  EXPECT_EQ(run(r, [&](auto cb) { lookupName(r, "svc", v1::DNS_FAMILY_ANY, cb); }).outcome,
            Outcome::kOk);
}

TEST(DiscoveryLookup, NegativeTtlOfAJoinedAnswerIsTheSmallestAndNeedsEverySoa) {
  FakeResolver r;
  r.set("gone", QueryType::kA, negative(Outcome::kNxDomain, 30));
  r.set("gone", QueryType::kAAAA, negative(Outcome::kNxDomain, 8));
  Answer both = run(r, [&](auto cb) { lookupName(r, "gone", v1::DNS_FAMILY_ANY, cb); });
  EXPECT_EQ(both.outcome, Outcome::kNxDomain);
  EXPECT_EQ(both.negative_ttl_s, 8u);
  r.set("gone", QueryType::kAAAA, negative(Outcome::kEmpty, std::nullopt));
  Answer half = run(r, [&](auto cb) { lookupName(r, "gone", v1::DNS_FAMILY_ANY, cb); });
  EXPECT_EQ(half.outcome, Outcome::kNxDomain);
  EXPECT_EQ(half.negative_ttl_s, std::nullopt) << "one part without an SOA: min_ttl applies";
  Answer v4 = run(r, [&](auto cb) { lookupName(r, "gone", v1::DNS_FAMILY_IPV4, cb); });
  EXPECT_EQ(v4.negative_ttl_s, 30u);
}

Record srvRecord(const std::string& target, uint16_t port, uint32_t weight) {
  return Record{IpAddress{}, port, weight, target + ":" + std::to_string(port)};
}

TEST(DiscoveryLookup, SrvTargetsGetTheRecordsPortAndWeight) {
  FakeResolver r;
  // The resolver keeps only the lowest priority (CaresResolver does; see resolver.h).
  Answer srv{Outcome::kOk,
             {srvRecord("a.svc", 8001, 3), srvRecord("b.svc", 8002, 1)},
             20,
             "",
             std::nullopt};
  r.set("_http._tcp.svc", QueryType::kSrv, srv);
  r.setA("a.svc", {"10.0.1.1"}, 60);
  r.setA("b.svc", {"10.0.1.2", "10.0.1.3"}, 60);
  r.set("b.svc", QueryType::kAAAA, Answer{Outcome::kEmpty, {}, 0, "", std::nullopt});
  Answer a = run(r, [&](auto cb) { lookupSrv(r, "_http._tcp.svc", cb); });
  ASSERT_EQ(a.outcome, Outcome::kOk);
  ASSERT_EQ(a.records.size(), 3u);
  EXPECT_EQ(a.ttl_s, 20u) << "the SRV TTL bounds the targets'";
  std::map<std::string, std::pair<uint16_t, uint32_t>> by_addr;
  for (const Record& rec : a.records) by_addr[rec.address.toString()] = {rec.port, rec.weight};
  EXPECT_EQ(by_addr["10.0.1.1"], std::make_pair(uint16_t{8001}, 3u));
  EXPECT_EQ(by_addr["10.0.1.3"], std::make_pair(uint16_t{8002}, 1u));
}

TEST(DiscoveryLookup, SrvWithNoResolvableTargetIsEmptyAndAFailedTargetFails) {
  FakeResolver r;
  r.set("_h._tcp.svc", QueryType::kSrv,
        Answer{Outcome::kOk, {srvRecord("gone.svc", 80, 1)}, 5, "", std::nullopt});
  EXPECT_EQ(run(r, [&](auto cb) { lookupSrv(r, "_h._tcp.svc", cb); }).outcome, Outcome::kEmpty);
  r.set("gone.svc", QueryType::kA, FakeResolver::fail());
  EXPECT_EQ(run(r, [&](auto cb) { lookupSrv(r, "_h._tcp.svc", cb); }).outcome, Outcome::kFailure);
  EXPECT_EQ(run(r, [&](auto cb) { lookupSrv(r, "_none._tcp.svc", cb); }).outcome,
            Outcome::kNxDomain);
}

TEST(DiscoveryLookup, SrvNegativeTtlComesFromTheSrvOrItsTargets) {
  FakeResolver r;
  r.set("_none._tcp.svc", QueryType::kSrv, negative(Outcome::kNxDomain, 6));
  Answer none = run(r, [&](auto cb) { lookupSrv(r, "_none._tcp.svc", cb); });
  EXPECT_EQ(none.outcome, Outcome::kNxDomain);
  EXPECT_EQ(none.negative_ttl_s, 6u);
  // Targets without addresses: empty, for as long as the targets' negative answers and the SRV
  // records that named them both hold.
  r.set("_h._tcp.svc", QueryType::kSrv,
        Answer{Outcome::kOk, {srvRecord("gone.svc", 80, 1)}, 20, "", std::nullopt});
  r.set("gone.svc", QueryType::kA, negative(Outcome::kNxDomain, 40));
  r.set("gone.svc", QueryType::kAAAA, negative(Outcome::kNxDomain, 50));
  Answer targets = run(r, [&](auto cb) { lookupSrv(r, "_h._tcp.svc", cb); });
  EXPECT_EQ(targets.outcome, Outcome::kEmpty);
  EXPECT_EQ(targets.negative_ttl_s, 20u);
  r.set("gone.svc", QueryType::kA, negative(Outcome::kNxDomain, 9));
  EXPECT_EQ(run(r, [&](auto cb) { lookupSrv(r, "_h._tcp.svc", cb); }).negative_ttl_s, 9u);
}

v1::Vip vipSpec(bool allow_empty = false) {
  v1::Vip v;
  v.set_address("10.0.0.10");
  v.set_port(80);
  v.set_protocol(v1::PROTOCOL_TCP);
  v.set_forwarding(v1::FORWARDING_MODE_DSR);
  v.mutable_dns()->add_names("a.svc");
  v.mutable_dns()->add_names("b.svc");
  v.set_allow_empty(allow_empty);
  v.mutable_discovery()->set_drain_limit_ms(60000);
  return v;
}

std::vector<Record> recs(std::vector<std::string> addrs) {
  std::vector<Record> out;
  for (const auto& s : addrs) out.push_back(Record{*parseIpAddress(s), 0, 1, "A"});
  return out;
}

TEST(DiscoveryPool, UnionOfNamesSkipsLiteralsAndDuplicates) {
  v1::Vip spec = vipSpec();
  spec.add_backends()->set_address("10.0.1.1");
  auto a = recs({"10.0.1.1", "10.0.1.2"});
  auto b = recs({"10.0.1.2", "10.0.1.3"});
  PoolPlan p = planPool(
      spec,
      {{"a.svc", v1::BACKEND_SOURCE_KIND_DNS, &a}, {"b.svc", v1::BACKEND_SOURCE_KIND_DNS, &b}},
      1000, nullptr);
  ASSERT_EQ(p.backends.size(), 2u);
  EXPECT_EQ(p.backends[0].address(), "10.0.1.2");
  EXPECT_EQ(p.backends[0].source().name(), "a.svc");
  EXPECT_EQ(p.backends[1].address(), "10.0.1.3");
  EXPECT_EQ(p.backends[1].source().name(), "b.svc");
  EXPECT_TRUE(p.changed);
}

TEST(DiscoveryPool, RemovedBackendDrainsThenLeavesWhenItsFlowsEnd) {
  v1::Vip spec = vipSpec();
  auto a = recs({"10.0.1.1", "10.0.1.2"});
  PoolPlan p1 = planPool(spec, {{"a.svc", v1::BACKEND_SOURCE_KIND_DNS, &a}}, 1000, nullptr);
  *spec.mutable_backends() = {p1.backends.begin(), p1.backends.end()};
  a = recs({"10.0.1.1"});
  PoolPlan p2 = planPool(spec, {{"a.svc", v1::BACKEND_SOURCE_KIND_DNS, &a}}, 2000, nullptr);
  ASSERT_EQ(p2.backends.size(), 2u);
  EXPECT_EQ(p2.backends[1].state(), v1::BACKEND_STATE_DRAINING);
  EXPECT_EQ(p2.backends[1].source().gone_unix_ms(), 2000u);
  EXPECT_EQ(p2.draining, std::vector<std::string>{"10.0.1.2"});
  *spec.mutable_backends() = {p2.backends.begin(), p2.backends.end()};
  auto flows = [](uint64_t n) {
    return [n](const v1::Backend&) -> std::optional<uint64_t> { return n; };
  };
  PoolPlan busy = planPool(spec, {{"a.svc", v1::BACKEND_SOURCE_KIND_DNS, &a}}, 3000, flows(4));
  EXPECT_FALSE(busy.changed) << "established flows keep it";
  PoolPlan limit = planPool(spec, {{"a.svc", v1::BACKEND_SOURCE_KIND_DNS, &a}}, 62000, flows(4));
  EXPECT_EQ(limit.removed, std::vector<std::string>{"10.0.1.2"}) << "drain_limit reached";
  PoolPlan idle = planPool(spec, {{"a.svc", v1::BACKEND_SOURCE_KIND_DNS, &a}}, 3000, flows(0));
  EXPECT_EQ(idle.backends.size(), 1u);
  a = recs({"10.0.1.1", "10.0.1.2"});
  PoolPlan back = planPool(spec, {{"a.svc", v1::BACKEND_SOURCE_KIND_DNS, &a}}, 3000, flows(4));
  EXPECT_EQ(back.backends[1].state(), v1::BACKEND_STATE_ACTIVE) << "back in DNS: active again";
  EXPECT_EQ(back.backends[1].source().gone_unix_ms(), 0u);
}

TEST(DiscoveryPool, OperatorDrainIsKeptWhileTheRecordStays) {
  // README: a backend the operator drained stays drained while its name is re-resolved and the
  // pool changes around it; once its record left DNS it drains and goes like any other, and a
  // record that comes back after that is a new, active backend.
  v1::Vip spec = vipSpec();
  auto a = recs({"10.0.1.1", "10.0.1.2"});
  PoolPlan p1 = planPool(spec, {{"a.svc", v1::BACKEND_SOURCE_KIND_DNS, &a}}, 1000, nullptr);
  *spec.mutable_backends() = {p1.backends.begin(), p1.backends.end()};
  spec.mutable_backends(0)->set_state(v1::BACKEND_STATE_DRAINING);  // lbctl backend drain
  PoolPlan same = planPool(spec, {{"a.svc", v1::BACKEND_SOURCE_KIND_DNS, &a}}, 2000, nullptr);
  EXPECT_FALSE(same.changed) << "the same answer changes nothing";
  a = recs({"10.0.1.1", "10.0.1.2", "10.0.1.3"});
  PoolPlan grown = planPool(spec, {{"a.svc", v1::BACKEND_SOURCE_KIND_DNS, &a}}, 3000, nullptr);
  ASSERT_EQ(grown.backends.size(), 3u);
  EXPECT_EQ(grown.backends[0].state(), v1::BACKEND_STATE_DRAINING) << "kept through a change";
  EXPECT_EQ(grown.backends[0].source().gone_unix_ms(), 0u);
  EXPECT_EQ(grown.added, std::vector<std::string>{"10.0.1.3"});
  *spec.mutable_backends() = {grown.backends.begin(), grown.backends.end()};
  a = recs({"10.0.1.2", "10.0.1.3"});
  PoolPlan gone = planPool(spec, {{"a.svc", v1::BACKEND_SOURCE_KIND_DNS, &a}}, 4000, nullptr);
  EXPECT_EQ(gone.backends[0].source().gone_unix_ms(), 4000u) << "left DNS: drains to removal";
  *spec.mutable_backends() = {gone.backends.begin(), gone.backends.end()};
  a = recs({"10.0.1.1", "10.0.1.2", "10.0.1.3"});
  PoolPlan back = planPool(spec, {{"a.svc", v1::BACKEND_SOURCE_KIND_DNS, &a}}, 5000, nullptr);
  EXPECT_EQ(back.backends[0].state(), v1::BACKEND_STATE_ACTIVE)
      << "the operator's drain is not remembered across leaving DNS";
}

TEST(DiscoveryPool, NeverEmptyUnlessAllowEmpty) {
  for (bool allow : {false, true}) {
    v1::Vip spec = vipSpec(allow);
    auto a = recs({"10.0.1.1"});
    PoolPlan p1 = planPool(spec, {{"a.svc", v1::BACKEND_SOURCE_KIND_DNS, &a}}, 1000, nullptr);
    *spec.mutable_backends() = {p1.backends.begin(), p1.backends.end()};
    std::vector<Record> none;
    PoolPlan p2 = planPool(spec, {{"a.svc", v1::BACKEND_SOURCE_KIND_DNS, &none}}, 2000, nullptr);
    if (allow) {
      EXPECT_EQ(p2.draining.size(), 1u);
    } else {
      EXPECT_FALSE(p2.changed);
      EXPECT_TRUE(p2.kept_nonempty);
    }
  }
}

TEST(DiscoveryPool, SrvPortsDsrCannotDeliverAreLeftOut) {
  v1::Vip spec = vipSpec();
  std::vector<Record> srv = {Record{*parseIpAddress("10.0.1.1"), 80, 5, "a:80"},
                             Record{*parseIpAddress("10.0.1.2"), 8080, 5, "b:8080"}};
  PoolPlan p = planPool(spec, {{"_h._tcp.svc", v1::BACKEND_SOURCE_KIND_SRV, &srv}}, 1, nullptr);
  ASSERT_EQ(p.backends.size(), 1u);
  EXPECT_EQ(p.backends[0].weight(), 5u);
  spec.set_forwarding(v1::FORWARDING_MODE_NAT);
  EXPECT_EQ(planPool(spec, {{"_h._tcp.svc", v1::BACKEND_SOURCE_KIND_SRV, &srv}}, 1, nullptr)
                .backends.size(),
            2u);
}

}  // namespace
}  // namespace xlb::discovery
