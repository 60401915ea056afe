// SPDX-License-Identifier: Apache-2.0
// Planner and State-at-scale tests against the fake data plane: diff minimality (an unchanged
// config plans nothing, one weight plans one VIP), replacement within the limits always fits,
// table sizes chosen from the backend count, and reads answered while a write is in progress.
#include <gtest/gtest.h>

#include <algorithm>

#include <chrono>
#include <future>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "config/yaml.h"
#include "dataplane/fake_dataplane.h"
#include "spdlog/spdlog.h"
#include "state/planner.h"
#include "state/state.h"

namespace xlb::state {
namespace {

using dataplane::FakeDataplane;

const bool kQuiet = (spdlog::set_level(spdlog::level::err), true);

// `vips` VIPs 10.B.C.D:80 with `backends` backends each; `base` shifts the backend addresses
// so two configs of one size share no membership.
v1::Config makeConfig(int vips, int backends, int base = 0, uint32_t weight = 1) {
  v1::Config c;
  for (int i = 0; i < vips; ++i) {
    v1::Vip* v = c.add_vips();
    v->set_address(absl::StrCat("10.", 1 + i / 65536, ".", (i / 256) % 256, ".", i % 256));
    v->set_port(80);
    v->set_protocol(v1::PROTOCOL_TCP);
    v->set_forwarding(v1::FORWARDING_MODE_IPIP);
    for (int b = 0; b < backends; ++b) {
      const int n = base + i * backends + b;
      v1::Backend* be = v->add_backends();
      be->set_address(absl::StrCat("172.", 16 + n / 65536, ".", (n / 256) % 256, ".", n % 256));
      be->set_weight(weight);
    }
  }
  return c;
}

v1::VipKey keyOf(const v1::Vip& vip) {
  v1::VipKey k;
  k.set_address(vip.address());
  k.set_port(vip.port());
  k.set_protocol(vip.protocol());
  return k;
}

TEST(Planner, UnchangedConfigPlansNoStep) {
  FakeDataplane dp(Capacity{4096, 16384});  // 2,000 VIPs: beyond the default 1,024
  State state(dp);
  const v1::Config c = makeConfig(2000, 4);
  ASSERT_TRUE(state.applyConfig(c, false, nullptr).ok());
  dp.clearCalls();
  std::vector<std::string> lines;
  ASSERT_TRUE(state.applyConfig(c, false, &lines).ok());
  EXPECT_TRUE(lines.empty());
  EXPECT_TRUE(dp.calls().empty()) << dp.calls().size() << " writes, first " << dp.calls()[0].op;
}

TEST(Planner, OneWeightPlansOneVip) {
  FakeDataplane dp;
  State state(dp);
  v1::Config c = makeConfig(500, 4);
  ASSERT_TRUE(state.applyConfig(c, false, nullptr).ok());
  const auto before = state.ids();
  dp.clearCalls();
  c.mutable_vips(321)->mutable_backends(2)->set_weight(7);
  std::vector<std::string> lines;
  ASSERT_TRUE(state.applyConfig(c, false, &lines).ok());
  // The backend's slot and the VIP's table, nothing else.
  ASSERT_EQ(dp.calls().size(), 2u);
  EXPECT_EQ(dp.calls()[0].op, "upsertBackend");
  EXPECT_EQ(dp.calls()[0].key, absl::StrCat("backend ", before[321].backends[2].id));
  EXPECT_EQ(dp.calls()[1].op, "setSelectionTables");
  EXPECT_EQ(dp.calls()[1].key.rfind(absl::StrCat("vip ", before[321].id, " "), 0), 0u)
      << dp.calls()[1].key;
  for (const std::string& l : lines) EXPECT_NE(l.find(c.vips(321).address()), std::string::npos) << l;

  // The same through the single-object call.
  dp.clearCalls();
  auto vip = state.setBackendWeight(keyOf(c.vips(17)), c.vips(17).backends(0).address(), 3);
  ASSERT_TRUE(vip.ok()) << vip.status();
  EXPECT_EQ(vip->backends(0).weight(), 3u);
  ASSERT_EQ(dp.calls().size(), 2u);
  EXPECT_EQ(dp.calls()[0].key, absl::StrCat("backend ", before[17].backends[0].id));
  EXPECT_EQ(state.config().vips(17).backends(0).weight(), 3u);
  EXPECT_EQ(state.config().vips(321).backends(2).weight(), 7u);
}

// Every table an apply changes goes to the data plane in one batched swap (one RCU grace period
// in the kernel, not one per table); removals share one batch too. A failed batch changes nothing.
TEST(Planner, EveryChangedTableGoesInOneSwap) {
  FakeDataplane dp;
  State state(dp);
  v1::Config c = makeConfig(300, 3);
  ASSERT_TRUE(state.applyConfig(c, false, nullptr).ok());
  auto swaps = [&dp] {
    std::vector<std::string> keys;
    for (const auto& call : dp.calls()) {
      if (call.op == "setSelectionTables") keys.push_back(call.key);
    }
    return keys;
  };
  dp.clearCalls();
  for (auto& v : *c.mutable_vips()) v.mutable_backends(0)->set_weight(5);
  ASSERT_TRUE(state.applyConfig(c, false, nullptr).ok());
  auto one = swaps();
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(std::count(one[0].begin(), one[0].end(), ','), 299) << one[0].substr(0, 200);

  // The batch fails: nothing is applied, the slots and tables stay as they were.
  std::vector<std::vector<uint32_t>> tables;
  for (uint32_t id = 0; id < 300; ++id) tables.push_back(dp.table(id));
  dp.clearCalls();
  for (auto& v : *c.mutable_vips()) v.mutable_backends(1)->set_weight(7);
  dp.failOp("setSelectionTables", absl::InternalError("boom"));
  EXPECT_EQ(state.applyConfig(c, false, nullptr).code(), absl::StatusCode::kInternal);
  for (uint32_t id = 0; id < 300; ++id) EXPECT_EQ(dp.table(id), tables[id]) << id;

  // Half the VIPs removed: their tables leave in one batch, after their entries.
  dp.clearCalls();
  v1::Config half = makeConfig(150, 3);
  for (auto& v : *half.mutable_vips()) v.mutable_backends(0)->set_weight(5);
  ASSERT_TRUE(state.applyConfig(half, false, nullptr).ok());
  auto removed = swaps();
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(std::count(removed[0].begin(), removed[0].end(), ','), 149);
  EXPECT_NE(removed[0].find(" size 0"), std::string::npos);
  EXPECT_EQ(dp.tableCount(), 150u);
}

TEST(Planner, UnchangedVipsKeepTheirEntries) {
  FakeDataplane dp;
  State state(dp);
  v1::Config c = makeConfig(50, 3);
  ASSERT_TRUE(state.applyConfig(c, false, nullptr).ok());
  // Planner against a model built by a fresh plan: an unchanged VIP is the same pointer.
  Model empty;
  std::vector<uint32_t> gens(XLB_MAX_BACKENDS, 0);
  PlanInputs in;
  in.dp = &dp;
  in.gens = &gens;
  auto first = Planner(empty, in).planConfig(config::normalize(c));
  ASSERT_TRUE(first.ok());
  c.mutable_vips(4)->mutable_backends(1)->set_weight(9);
  auto second = Planner(first->next, in).planConfig(config::normalize(c));
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->changed.size(), 1u);
  for (const auto& [key, e] : second->next.vips) {
    const bool same = e == *first->next.vips.get(key);
    EXPECT_EQ(same, key.address.toString() != c.vips(4).address()) << key.toString();
  }
}

// A one-VIP change copies the chunks of the model's maps that hold that VIP and shares the rest
// with the model it was planned from, so its cost does not grow with the VIP count.
TEST(Planner, OneChangeSharesEveryUntouchedChunkOfTheModel) {
  FakeDataplane dp(Capacity{4096, 16384});
  std::vector<uint32_t> gens(16384, 0);
  PlanInputs in;
  in.dp = &dp;
  in.gens = &gens;
  Model empty;
  empty.vip_ids = IdAllocator(4096);
  empty.backend_ids = IdAllocator(16384);
  auto first = Planner(empty, in).planConfig(config::normalize(makeConfig(3000, 2)));
  ASSERT_TRUE(first.ok()) << first.status();
  const Model& cur = first->next;
  ASSERT_EQ(cur.vips.size(), 3000u);
  ASSERT_EQ(cur.in_order.size(), 3000u);
  ASSERT_GE(cur.vips.chunkCount(), 3000u / 128);

  auto shared = [](const auto& a, const auto& b) {
    size_t n = 0;
    for (size_t i = 0; i < std::max(a.chunkCount(), b.chunkCount()); ++i) {
      n += a.sharesChunkWith(b, i);
    }
    return n;
  };
  // VIP 1234, one weight changed.
  auto it = cur.in_order.begin();
  for (int i = 0; i < 1234; ++i) ++it;
  v1::Vip spec = it->second->spec;
  spec.mutable_backends(1)->set_weight(5);
  const VipChange change{it->second->key, &spec};
  auto second = Planner(cur, in).planVips({&change, 1});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->changed.size(), 1u);
  EXPECT_EQ(shared(second->next.vips, cur.vips), cur.vips.chunkCount() - 1);
  EXPECT_EQ(shared(second->next.in_order, cur.in_order), cur.in_order.chunkCount() - 1);
  EXPECT_EQ(shared(second->next.addrs, cur.addrs), cur.addrs.chunkCount());
  // The new entry is in both orders, at the old one's place.
  const VipEntry* e = second->next.vip(change.key);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->seq, it->second->seq);
  EXPECT_EQ(e->spec.backends(1).weight(), 5u);
  EXPECT_EQ(second->next.in_order.get(e->seq)->get(), e);
  // The model planned from is unchanged.
  EXPECT_EQ(cur.vip(change.key)->spec.backends(1).weight(), 1u);
}

std::vector<std::string> configOrder(const State& state) {
  std::vector<std::string> out;
  const v1::Config config = state.config();
  for (const v1::Vip& v : config.vips()) out.push_back(v.address());
  return out;
}

// The running config lists VIPs in the order of the config that made them (API additions at the
// end), through inserts, moves, removals and single-object edits; and ListVips without a page,
// and the id view, list them in that order too.
TEST(Planner, ConfigOrderFollowsEveryChange) {
  FakeDataplane dp;
  State state(dp);
  v1::Config c = makeConfig(4, 1);  // 10.1.0.0 .. 10.1.0.3
  ASSERT_TRUE(state.applyConfig(c, false, nullptr).ok());
  EXPECT_EQ(configOrder(state),
            (std::vector<std::string>{"10.1.0.0", "10.1.0.1", "10.1.0.2", "10.1.0.3"}));

  // Two VIPs inserted after the first: the others keep their entries (no renumbering).
  v1::Config inserted;
  *inserted.add_vips() = c.vips(0);
  for (const char* addr : {"10.9.0.1", "10.9.0.2"}) {
    v1::Vip* v = inserted.add_vips();
    *v = c.vips(1);
    v->set_address(addr);
    v->mutable_backends(0)->set_address(absl::StrCat("172.31.0.", std::string(addr).back() - '0'));
  }
  for (int i = 1; i < 4; ++i) *inserted.add_vips() = c.vips(i);
  ASSERT_TRUE(state.applyConfig(inserted, false, nullptr).ok());
  const std::vector<std::string> want_inserted = {"10.1.0.0", "10.9.0.1", "10.9.0.2",
                                                  "10.1.0.1", "10.1.0.2", "10.1.0.3"};
  EXPECT_EQ(configOrder(state), want_inserted);

  // Moved: reversed.
  v1::Config reversed;
  for (int i = inserted.vips_size() - 1; i >= 0; --i) *reversed.add_vips() = inserted.vips(i);
  ASSERT_TRUE(state.applyConfig(reversed, false, nullptr).ok());
  std::vector<std::string> want(want_inserted.rbegin(), want_inserted.rend());
  EXPECT_EQ(configOrder(state), want);

  // A weight changes nothing in the order; an added VIP goes last; a removed one leaves.
  ASSERT_TRUE(state.setBackendWeight(keyOf(c.vips(2)), c.vips(2).backends(0).address(), 4).ok());
  v1::Vip added = c.vips(0);
  added.set_address("10.9.0.3");
  added.mutable_backends(0)->set_address("172.31.0.3");
  ASSERT_TRUE(state.addVip(added).ok());
  ASSERT_TRUE(state.deleteVip(keyOf(c.vips(1))).ok());
  want = {"10.1.0.3", "10.1.0.2", "10.9.0.2", "10.9.0.1", "10.1.0.0", "10.9.0.3"};
  EXPECT_EQ(configOrder(state), want);
  EXPECT_EQ(state.config().vips(1).backends(0).weight(), 4u);

  v1::ListVipsResponse listed;
  ASSERT_TRUE(state.listVips(v1::ListVipsRequest{}, &listed).ok());
  std::vector<std::string> list_order, id_order;
  for (const v1::Vip& v : listed.vips()) list_order.push_back(v.address());
  for (const auto& v : state.ids()) id_order.push_back(v.key.address.toString());
  EXPECT_EQ(list_order, want);
  EXPECT_EQ(id_order, want);

  // Pages follow the key order whatever the config order.
  v1::ListVipsRequest req;
  req.set_page_size(4);
  std::vector<std::string> paged;
  for (int guard = 0; guard < 10; ++guard) {
    v1::ListVipsResponse page;
    ASSERT_TRUE(state.listVips(req, &page).ok());
    for (const v1::Vip& v : page.vips()) paged.push_back(v.address());
    if (page.next_page_token().empty()) break;
    req.set_page_token(page.next_page_token());
  }
  std::vector<std::string> sorted = want;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(paged, sorted);
}

// Any config within the limits is accepted whatever it replaces: a full set of memberships
// replaced by an equally full, disjoint one reuses the ids it frees.
TEST(Planner, ReplacementWithinLimitsAlwaysFits) {
  FakeDataplane dp;
  State state(dp);
  const int per_vip = 16;
  const int vips = XLB_MAX_BACKENDS / per_vip;
  ASSERT_LE(vips, XLB_MAX_VIPS);
  ASSERT_TRUE(state.applyConfig(makeConfig(vips, per_vip), false, nullptr).ok());
  // Same VIP count, every membership new.
  v1::Config other = makeConfig(vips, per_vip, XLB_MAX_BACKENDS);
  std::vector<std::string> lines;
  auto st = state.applyConfig(other, false, &lines);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(dp.activeBackendCount(), static_cast<size_t>(XLB_MAX_BACKENDS));
  // Fewer VIPs with more backends each (1,024 x 16 -> 100 x 100 in the issue's words).
  v1::Config wide = makeConfig(XLB_MAX_BACKENDS / 128, 128, 3 * XLB_MAX_BACKENDS);
  st = state.applyConfig(wide, false, nullptr);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(dp.activeBackendCount(), static_cast<size_t>(XLB_MAX_BACKENDS));
  EXPECT_EQ(dp.vipCount(), static_cast<size_t>(XLB_MAX_BACKENDS / 128));
  // Every slot belongs to a membership of the new config, with a generation above the old one's.
  std::set<uint32_t> ids;
  for (const VipIds& v : state.ids()) {
    for (const BackendIds& b : v.backends) {
      EXPECT_TRUE(ids.insert(b.id).second);
      EXPECT_EQ(dp.backend(b.id).vip_id, v.id);
      EXPECT_GE(dp.backend(b.id).gen, 2u);
    }
  }
  // Over the limit is still refused, naming it, and changes nothing.
  dp.clearCalls();
  st = state.applyConfig(makeConfig(XLB_MAX_BACKENDS / 128 + 1, 128), false, nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_TRUE(dp.calls().empty());
}

TEST(Planner, TableSizeFollowsTheBackendCount) {
  EXPECT_EQ(autoTableSize(1), 1021u);
  EXPECT_EQ(autoTableSize(10), 1021u);
  EXPECT_EQ(autoTableSize(11), 4099u);
  EXPECT_EQ(autoTableSize(100), 16381u);
  EXPECT_EQ(autoTableSize(655), 65537u);
  EXPECT_EQ(autoTableSize(656), 262147u);
  EXPECT_EQ(autoTableSize(100000), 1000003u);

  FakeDataplane dp;
  State state(dp);
  v1::Config c = makeConfig(2, 3);
  c.mutable_vips(1)->set_maglev_table_size(65537);
  ASSERT_TRUE(state.applyConfig(c, false, nullptr).ok());
  auto ids = state.ids();
  EXPECT_EQ(ids[0].table_size, 1021u);
  EXPECT_EQ(dp.table(ids[0].id).size(), 1021u);
  EXPECT_EQ(ids[1].table_size, 65537u);  // as configured
  EXPECT_GT(ids[0].kernel_bytes, 1021u * 8);
  EXPECT_FALSE(state.config().vips(0).has_maglev_table_size());  // "auto" stays visible as unset

  // Draining (like health) keeps the size: only the configured count decides it.
  dp.clearCalls();
  ASSERT_TRUE(state.drainBackend(keyOf(c.vips(0)), c.vips(0).backends(0).address()).ok());
  EXPECT_EQ(dp.table(ids[0].id).size(), 1021u);
  auto status = state.vipStatus(keyOf(c.vips(0)));
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->table_size(), 1021u);
}

// Reads never wait behind a write: while an apply is inside a data-plane write (holding the
// write lock), another thread's reads complete and see the state before the apply.
TEST(Planner, ReadsAreAnsweredDuringAnApply) {
  FakeDataplane dp;
  State state(dp);
  ASSERT_TRUE(state.applyConfig(makeConfig(100, 4), false, nullptr).ok());
  int reads_done = 0;
  bool checked = false;
  dp.onCall([&](const FakeDataplane::Call& call) {
    if (checked || call.op != "setSelectionTables") return;
    checked = true;
    auto reader = std::async(std::launch::async, [&state] {
      auto config = state.config();
      auto ids = state.ids();
      auto statuses = state.vipStatuses();
      auto nat = state.natVips();
      return std::make_tuple(config.vips_size(), ids.size(),
                             statuses.ok() ? statuses->size() : size_t{0}, nat.size());
    });
    ASSERT_EQ(reader.wait_for(std::chrono::seconds(10)), std::future_status::ready)
        << "a read waited for the apply in progress";
    auto [config_vips, id_vips, status_vips, nat_vips] = reader.get();
    EXPECT_EQ(config_vips, 100);  // the state before this apply
    EXPECT_EQ(id_vips, 100u);
    EXPECT_EQ(status_vips, 100u);
    EXPECT_EQ(nat_vips, 100u);
    ++reads_done;
  });
  ASSERT_TRUE(state.applyConfig(makeConfig(150, 4, 1000, 2), false, nullptr).ok());
  dp.onCall(nullptr);
  EXPECT_EQ(reads_done, 1);
  EXPECT_EQ(state.config().vips_size(), 150);
}

// GetAppliedDigest: the digest of the document last applied, while nothing else changed the
// configuration. Health verdicts keep it (and the config token); every config change clears it.
TEST(Planner, AppliedDigestFollowsConfigChangesNotHealth) {
  FakeDataplane dp;
  State state(dp);
  v1::Config c = makeConfig(3, 2);
  auto* hc = c.mutable_vips(0)->mutable_health_check();
  hc->set_type(v1::HEALTH_CHECK_TYPE_TCP);
  const std::string d1 = config::sourceDigest("document one");
  const std::string d2 = config::sourceDigest("document two");
  ASSERT_TRUE(config::isSourceDigest(d1));
  EXPECT_FALSE(config::isSourceDigest("sha256:XYZ"));
  EXPECT_FALSE(config::isSourceDigest(d1.substr(1)));
  EXPECT_EQ(state.appliedDigest(), "");

  ASSERT_TRUE(state.applyConfig(c, false, nullptr, d1).ok());
  EXPECT_EQ(state.appliedDigest(), d1);
  auto token = state.snapshotToken();

  // A dry run and a refused apply change nothing, the digest included.
  ASSERT_TRUE(state.applyConfig(makeConfig(1, 1), true, nullptr, d2).ok());
  v1::Config bad = c;
  bad.mutable_vips(1)->mutable_backends(0)->set_address("not an address");
  ASSERT_FALSE(state.applyConfig(bad, false, nullptr, d2).ok());
  EXPECT_EQ(state.appliedDigest(), d1);
  EXPECT_EQ(state.snapshotToken(), token);

  // A health verdict re-plans the VIP's table but leaves the configuration as applied.
  const std::string key = State::healthKey(*config::vipKeyOf(keyOf(c.vips(0))),
                                           *parseIpAddress(c.vips(0).backends(0).address()));
  state.onHealthTransition(key, health::Transition{health::Health::kUnknown,
                                                   health::Health::kDown,
                                                   health::Clock::now(), "refused"});
  auto st = state.vipStatus(keyOf(c.vips(0)));
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->backends(0).health(), v1::HEALTH_DOWN);
  EXPECT_EQ(state.appliedDigest(), d1);
  EXPECT_EQ(state.snapshotToken(), token);

  // An API edit: the running configuration is no longer the document.
  ASSERT_TRUE(state.setBackendWeight(keyOf(c.vips(2)), c.vips(2).backends(1).address(), 5).ok());
  EXPECT_EQ(state.appliedDigest(), "");
  EXPECT_NE(state.snapshotToken(), token);

  // Applying the document again records it again; an apply without a digest clears it.
  ASSERT_TRUE(state.applyConfig(c, false, nullptr, d1).ok());
  EXPECT_EQ(state.appliedDigest(), d1);
  ASSERT_TRUE(state.drainBackend(keyOf(c.vips(1)), c.vips(1).backends(0).address()).ok());
  EXPECT_EQ(state.appliedDigest(), "");
  ASSERT_TRUE(state.applyConfig(c, false, nullptr, d2).ok());
  EXPECT_EQ(state.appliedDigest(), d2);
  ASSERT_TRUE(state.applyConfig(c, false, nullptr).ok());
  EXPECT_EQ(state.appliedDigest(), "");
}

// The same Config message again, with nothing changed since, is answered without a plan (a hash
// of it); anything else that changed the configuration in between makes it a full apply again.
TEST(Planner, IdenticalConfigAgainSkipsThePlan) {
  FakeDataplane dp(Capacity{4096, 16384});
  State state(dp);
  v1::Config c = makeConfig(2000, 4);
  ASSERT_TRUE(state.applyConfig(c, false, nullptr).ok());
  const uint64_t applies = state.applyStats().total;
  dp.clearCalls();
  std::vector<std::string> lines = {"stale"};
  ASSERT_TRUE(state.applyConfig(c, false, &lines).ok());
  EXPECT_TRUE(lines.empty());
  EXPECT_TRUE(dp.calls().empty());
  EXPECT_EQ(state.applyStats().total, applies + 1) << "still counted as an apply";

  // A weight changed through the API: the same message now differs from what runs.
  ASSERT_TRUE(state.setBackendWeight(keyOf(c.vips(7)), c.vips(7).backends(1).address(), 9).ok());
  dp.clearCalls();
  ASSERT_TRUE(state.applyConfig(c, false, &lines).ok());
  ASSERT_EQ(lines.size(), 2u) << "the weight back, and the VIP's table rebuilt";
  EXPECT_FALSE(dp.calls().empty());
  auto st = state.vipStatus(keyOf(c.vips(7)));
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->backends(1).weight(), 1u);

  // A different message is planned even when it is equivalent (a reordered VIP list).
  v1::Config reordered = c;
  reordered.mutable_vips()->SwapElements(0, 1);
  dp.clearCalls();
  ASSERT_TRUE(state.applyConfig(reordered, false, &lines).ok());
  EXPECT_TRUE(lines.empty()) << "nothing to write for a reordering";
  EXPECT_TRUE(dp.calls().empty());
  EXPECT_EQ(state.config().vips(0).address(), c.vips(1).address()) << "the new order is kept";

  // A dry run of the same message answers "no changes" and changes nothing.
  ASSERT_TRUE(state.applyConfig(reordered, true, &lines).ok());
  EXPECT_TRUE(lines.empty());
}

// Issue 14: a backend that discovery adds to a running VIP with a probing check takes no new flows
// until its first check passes (health checks decide), unless no other backend can take them.
TEST(Planner, DiscoveredBackendWaitsForItsFirstCheck) {
  FakeDataplane dp;
  State state(dp);
  auto c = config::parseConfigYaml(R"(vips:
  - address: 10.0.0.10
    port: 80
    protocol: tcp
    health_check: {type: tcp}
    dns: {names: [users], family: ipv4}
    backends: [{address: 10.0.1.1}]
)");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(state.applyConfig(*c, false, nullptr).ok());
  const v1::VipKey key = keyOf(c->vips(0));
  auto discovered = [](const std::string& addr) {
    v1::Backend b;
    b.set_address(addr);
    b.set_weight(1);
    b.mutable_source()->set_kind(v1::BACKEND_SOURCE_KIND_DNS);
    b.mutable_source()->set_name("users");
    return b;
  };
  auto rotation = [&] {
    std::map<std::string, bool> out;
    auto st = state.vipStatus(key);
    EXPECT_TRUE(st.ok()) << st.status();
    for (const auto& b : st->backends()) out[b.address()] = b.in_rotation();
    return out;
  };
  auto tableIds = [&] {
    std::set<uint32_t> ids;
    for (uint32_t id : dp.table(state.ids()[0].id)) ids.insert(id);
    return ids;
  };
  auto idOf = [&](const std::string& addr) {
    const auto ids = state.ids();
    for (const auto& b : ids[0].backends) {
      if (b.address == addr) return b.id;
    }
    return UINT32_MAX;
  };
  const std::string vk = "10.0.0.10:80/tcp ";
  ASSERT_TRUE(state.setDiscovered(key, {discovered("10.0.1.2")}).ok());
  EXPECT_EQ(rotation(), (std::map<std::string, bool>{{"10.0.1.1", true}, {"10.0.1.2", false}}));
  EXPECT_EQ(tableIds(), std::set<uint32_t>{idOf("10.0.1.1")});
  // Its first check passes: it joins.
  state.onHealthTransition(vk + "10.0.1.2", health::Transition{health::Health::kUnknown,
                                                               health::Health::kUp,
                                                               health::Clock::now(), "connected"});
  EXPECT_EQ(rotation(), (std::map<std::string, bool>{{"10.0.1.1", true}, {"10.0.1.2", true}}));
  EXPECT_EQ(tableIds(), (std::set<uint32_t>{idOf("10.0.1.1"), idOf("10.0.1.2")}));
  // Another joins while every other backend is down: it is all there is, so it takes new flows.
  for (const char* a : {"10.0.1.1", "10.0.1.2"}) {
    state.onHealthTransition(vk + a, health::Transition{health::Health::kUp, health::Health::kDown,
                                                        health::Clock::now(), "refused"});
  }
  ASSERT_TRUE(state.setDiscovered(key, {discovered("10.0.1.2"), discovered("10.0.1.3")}).ok());
  EXPECT_EQ(rotation(), (std::map<std::string, bool>{
                            {"10.0.1.1", false}, {"10.0.1.2", false}, {"10.0.1.3", true}}));
  EXPECT_EQ(tableIds(), std::set<uint32_t>{idOf("10.0.1.3")});
}

// addBackend (and discovery's setDiscovered) check and plan only the VIP they change; the result is
// the one applying the whole edited config gives, and every refusal reads as the whole apply's.
TEST(Planner, BackendAddChecksOnlyItsVipWithTheApplysResult) {
  FakeDataplane dp(Capacity{4096, 8003});
  State state(dp);
  v1::Config c = makeConfig(2000, 4);
  ASSERT_TRUE(state.applyConfig(c, false, nullptr).ok());
  dp.clearCalls();
  v1::Backend b;
  b.set_address("192.168.7.7");
  b.set_weight(3);
  auto vip = state.addBackend(keyOf(c.vips(1500)), b);
  ASSERT_TRUE(vip.ok()) << vip.status();
  ASSERT_EQ(vip->backends_size(), 5);
  // The new slot and the VIP's table: nothing of the other 1,999 VIPs.
  EXPECT_LE(dp.calls().size(), 3u) << dp.calls().size() << " writes";

  // The same edit as a whole config on a second agent: the same configuration and the same table.
  FakeDataplane dp2(Capacity{4096, 8004});
  State whole(dp2);
  ASSERT_TRUE(whole.applyConfig(c, false, nullptr).ok());
  v1::Config edited = c;
  *edited.mutable_vips(1500)->add_backends() = b;
  ASSERT_TRUE(whole.applyConfig(edited, false, nullptr).ok());
  EXPECT_EQ(state.config().SerializeAsString(), whole.config().SerializeAsString());
  EXPECT_EQ(dp.table(state.ids()[1500].id).size(), dp2.table(whole.ids()[1500].id).size());

  // Another VIP's address as a backend: refused with the apply's own message, nothing changed.
  v1::Backend bad;
  bad.set_address(c.vips(7).address());
  auto refused = state.addBackend(keyOf(c.vips(3)), bad);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("vips[3].backends[4].address"), std::string::npos)
      << refused.status();
  EXPECT_NE(refused.status().message().find("is the address of vips[7]"), std::string::npos)
      << refused.status();
  // Up to the memberships limit (8,003; 8,001 in use), then past it: the limit's own message.
  ASSERT_TRUE(state.addBackend(keyOf(c.vips(4)), [] {
                v1::Backend x;
                x.set_address("192.168.7.8");
                return x;
              }()).ok());
  ASSERT_TRUE(state.addBackend(keyOf(c.vips(5)), [] {
                v1::Backend x;
                x.set_address("192.168.7.9");
                return x;
              }()).ok());
  v1::Backend over;
  over.set_address("192.168.7.10");
  auto full = state.addBackend(keyOf(c.vips(6)), over);
  ASSERT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted) << full.status();
  EXPECT_NE(full.status().message().find("8004 backends in total exceed the data-plane limit of 8003"),
            std::string::npos)
      << full.status();
  EXPECT_EQ(state.config().vips(6).backends_size(), 4);
}

// The settings' wildcard count is kept as a running sum (Model::nr_wildcard) instead of a walk over
// every address per plan; it must equal the port-0 VIPs after every kind of change, and after an
// agent restarted on the same maps (adoption) goes on from what it found.
TEST(Planner, WildcardCountFollowsEveryChange) {
  FakeDataplane dp;
  State state(dp);
  v1::Config c = makeConfig(40, 2);
  for (int i : {3, 9, 17}) c.mutable_vips(i)->set_port(0);
  // A second VIP on a wildcard VIP's address: one address, two VIPs, one wildcard.
  v1::Vip same_addr = c.vips(40 - 1);
  same_addr.set_address(c.vips(9).address());
  same_addr.set_port(443);
  for (int b = 0; b < same_addr.backends_size(); ++b) {
    same_addr.mutable_backends(b)->set_address(absl::StrCat("192.168.9.", b + 1));
  }
  *c.add_vips() = same_addr;
  auto wildcards = [](const v1::Config& cfg) {
    uint32_t n = 0;
    for (const auto& v : cfg.vips()) n += v.port() == 0;
    return n;
  };
  ASSERT_TRUE(state.applyConfig(c, false, nullptr).ok());
  EXPECT_EQ(dp.settings().nr_wildcard_vips, 3u);

  // A single-object add and delete of a wildcard VIP; a weight (no address touched).
  v1::Vip extra = c.vips(0);
  extra.set_address("10.9.9.9");
  extra.set_port(0);
  for (int b = 0; b < extra.backends_size(); ++b) {
    extra.mutable_backends(b)->set_address(absl::StrCat("192.168.10.", b + 1));
  }
  ASSERT_TRUE(state.addVip(extra).ok());
  EXPECT_EQ(dp.settings().nr_wildcard_vips, 4u);
  ASSERT_TRUE(state.setBackendWeight(keyOf(c.vips(3)), c.vips(3).backends(0).address(), 5).ok());
  EXPECT_EQ(dp.settings().nr_wildcard_vips, 4u);
  ASSERT_TRUE(state.deleteVip(keyOf(c.vips(9))).ok());  // its address keeps the port-443 VIP
  EXPECT_EQ(dp.settings().nr_wildcard_vips, 3u);
  EXPECT_EQ(wildcards(state.config()), 3u);

  // A whole apply that turns one wildcard VIP into a port VIP and another port VIP into a
  // wildcard one, and removes a third.
  v1::Config next = state.config();
  next.mutable_vips(2)->set_port(0);
  for (auto& v : *next.mutable_vips()) {
    if (v.address() == c.vips(3).address()) v.set_port(8080);
  }
  next.mutable_vips()->erase(next.mutable_vips()->begin() + 15);
  ASSERT_TRUE(state.applyConfig(next, false, nullptr).ok());
  EXPECT_EQ(dp.settings().nr_wildcard_vips, wildcards(state.config()));

  // A restarted agent adopts the maps, then changes one wildcard VIP away.
  State restarted(dp);
  ASSERT_TRUE(restarted.adopt(dp.contents()).ok());
  v1::Config after = state.config();
  ASSERT_TRUE(restarted.applyConfig(after, false, nullptr).ok());
  EXPECT_EQ(dp.settings().nr_wildcard_vips, wildcards(after));
  for (auto& v : *after.mutable_vips()) {
    if (v.port() == 0) {
      v.set_port(53);
      break;
    }
  }
  ASSERT_TRUE(restarted.applyConfig(after, false, nullptr).ok());
  EXPECT_EQ(dp.settings().nr_wildcard_vips, wildcards(after));
  EXPECT_GE(wildcards(after), 1u);
}

// A change that leaves every VIP's NAT record alone (a weight, a drain) keeps the readers' NAT map
// (the NAT collector asks for it every pass; rebuilding and freeing it is O(VIPs)); one that
// changes a VIP's name or forwarding (or NAT timeouts), or adds or removes a VIP, gets a new one.
TEST(Planner, NatVipMapIsKeptAcrossChangesThatLeaveItAlone) {
  FakeDataplane dp;
  State state(dp);
  v1::Config c = makeConfig(50, 3);
  ASSERT_TRUE(state.applyConfig(c, false, nullptr).ok());
  auto first = state.sharedNatVips();
  ASSERT_EQ(first->size(), 50u);
  ASSERT_TRUE(state.setBackendWeight(keyOf(c.vips(7)), c.vips(7).backends(1).address(), 9).ok());
  ASSERT_TRUE(state.drainBackend(keyOf(c.vips(8)), c.vips(8).backends(0).address()).ok());
  EXPECT_EQ(state.sharedNatVips(), first) << "a weight and a drain changed no NAT record";

  v1::Config renamed = state.config();
  renamed.mutable_vips(7)->set_name("renamed");
  ASSERT_TRUE(state.applyConfig(renamed, false, nullptr).ok());
  auto second = state.sharedNatVips();
  EXPECT_NE(second, first);
  EXPECT_EQ(second->size(), 50u);
  bool found = false;
  for (const auto& [id, info] : *second) found |= info.name == "renamed";
  EXPECT_TRUE(found);

  v1::Config forwarding = state.config();
  forwarding.mutable_vips(4)->set_forwarding(v1::FORWARDING_MODE_DSR);
  ASSERT_TRUE(state.applyConfig(forwarding, false, nullptr).ok());
  auto third = state.sharedNatVips();
  EXPECT_NE(third, second);

  ASSERT_TRUE(state.deleteVip(keyOf(c.vips(20))).ok());
  auto fourth = state.sharedNatVips();
  EXPECT_NE(fourth, third);
  EXPECT_EQ(fourth->size(), 49u);
}

}  // namespace
}  // namespace xlb::state
