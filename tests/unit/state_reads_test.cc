// SPDX-License-Identifier: Apache-2.0
// State's read side (issue 12): ListVips pages in key order whatever changes between them, and the
// id list shared per published snapshot.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dataplane/fake_dataplane.h"
#include "state/state.h"

namespace xlb::state {
namespace {

using ::testing::ElementsAre;

// Issue 12: ListVips in pages (key order, token = the last key): every VIP present throughout is
// listed once, whatever changes between pages; page_size 0 keeps the whole list in config order.
TEST(StateListVips, PagesInKeyOrderSurviveChangesBetweenPages) {
  dataplane::FakeDataplane dp;
  State state(dp);
  v1::Config cfg;
  // Configured out of key order.
  for (int i : {5, 1, 7, 3, 2, 6, 4}) {
    v1::Vip* v = cfg.add_vips();
    v->set_address("10.0.0." + std::to_string(i));
    v->set_port(80);
    v->set_protocol(v1::PROTOCOL_TCP);
    v->add_backends()->set_address("10.1.0." + std::to_string(i));
  }
  ASSERT_TRUE(state.applyConfig(cfg, false, nullptr).ok());

  v1::ListVipsResponse all;
  ASSERT_TRUE(state.listVips({}, &all).ok());
  ASSERT_EQ(all.vips_size(), 7);
  EXPECT_EQ(all.vips(0).address(), "10.0.0.5") << "no page size: config order";
  EXPECT_TRUE(all.next_page_token().empty());

  std::vector<std::string> seen;
  v1::ListVipsRequest req;
  req.set_page_size(3);
  v1::ListVipsResponse page;
  ASSERT_TRUE(state.listVips(req, &page).ok());
  ASSERT_EQ(page.vips_size(), 3);
  ASSERT_EQ(page.statuses_size(), 3);
  for (const auto& v : page.vips()) seen.push_back(v.address());
  ASSERT_FALSE(page.next_page_token().empty());
  // Between pages: the VIP after the token's goes, one before it and one after it come.
  v1::VipKey gone;
  gone.set_address("10.0.0.4");
  gone.set_port(80);
  gone.set_protocol(v1::PROTOCOL_TCP);
  ASSERT_TRUE(state.deleteVip(gone).ok());
  for (const char* a : {"10.0.0.0", "10.0.0.9"}) {
    v1::Vip v;
    v.set_address(a);
    v.set_port(80);
    v.set_protocol(v1::PROTOCOL_TCP);
    ASSERT_TRUE(state.addVip(v).ok());
  }
  while (!page.next_page_token().empty()) {
    req.set_page_token(page.next_page_token());
    page.Clear();
    ASSERT_TRUE(state.listVips(req, &page).ok());
    EXPECT_LE(page.vips_size(), 3);
    for (const auto& v : page.vips()) seen.push_back(v.address());
  }
  EXPECT_THAT(seen, ElementsAre("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.5", "10.0.0.6",
                                "10.0.0.7", "10.0.0.9"))
      << "key order; 10.0.0.4 (removed) not listed, 10.0.0.0 (added before the token) not "
         "listed, 10.0.0.9 (added after it) listed";

  // A token past the last key (its VIP removed meanwhile): an empty last page.
  req.set_page_token("10.0.0.250|80|" + std::to_string(v1::PROTOCOL_TCP));
  v1::ListVipsResponse past;
  ASSERT_TRUE(state.listVips(req, &past).ok());
  EXPECT_EQ(past.vips_size(), 0);
  EXPECT_TRUE(past.next_page_token().empty());

  // A token this agent never gave: INVALID_ARGUMENT naming the field, nothing listed.
  for (const char* bad : {"garbage", "10.0.0.1|80", "10.0.0.1|x|6", "999.0.0.1|80|6",
                          "10.0.0.1|80|99"}) {
    req.set_page_token(bad);
    v1::ListVipsResponse r;
    auto st = state.listVips(req, &r);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(st.message().find("page_token"), std::string::npos) << st.message();
    EXPECT_EQ(r.vips_size(), 0);
  }
}

}  // namespace
}  // namespace xlb::state

namespace xlb::state {
namespace {

// A page is bounded in memberships too: VIPs with many backends come fewer per page (never zero).
TEST(StateListVips, PagesStopAtFiveThousandBackends) {
  dataplane::FakeDataplane dp;
  State state(dp);
  v1::Config cfg;
  for (int i = 0; i < 10; ++i) {
    v1::Vip* v = cfg.add_vips();
    v->set_address("10.0.1." + std::to_string(i));
    v->set_port(80);
    v->set_protocol(v1::PROTOCOL_TCP);
    for (int b = 0; b < (i == 0 ? 6000 : 1000); ++b)
      v->add_backends()->set_address("10." + std::to_string(1 + i) + "." + std::to_string(b / 250) +
                                     "." + std::to_string(b % 250));
  }
  auto applied = state.applyConfig(cfg, false, nullptr);
  ASSERT_TRUE(applied.ok()) << applied;
  v1::ListVipsRequest req;
  req.set_page_size(500);
  std::vector<int> sizes;
  int total = 0;
  do {
    v1::ListVipsResponse page;
    ASSERT_TRUE(state.listVips(req, &page).ok());
    sizes.push_back(page.vips_size());
    total += page.vips_size();
    req.set_page_token(page.next_page_token());
  } while (!req.page_token().empty() && sizes.size() < 20);
  // 10.0.1.0 alone (6,000 > 5,000 but a page holds at least one VIP), then 5 of 1,000 each.
  EXPECT_THAT(sizes, ElementsAre(1, 5, 4));
  EXPECT_EQ(total, 10);
}

// The id list (GetStats, /metrics, the BGP gate) and the NAT collector's VIP map are built once per
// snapshot and shared; every change publishes new ones, and a reader's list stays as it was.
TEST(StateSharedIds, BuiltOncePerSnapshotAndFollowEveryChange) {
  dataplane::FakeDataplane dp;
  State state(dp);
  v1::Config cfg;
  v1::Vip* v = cfg.add_vips();
  v->set_address("10.0.0.10");
  v->set_port(80);
  v->set_protocol(v1::PROTOCOL_TCP);
  v->add_backends()->set_address("10.0.1.1");
  v1::Backend* b2 = v->add_backends();
  b2->set_address("10.0.1.2");
  b2->set_weight(3);
  ASSERT_TRUE(state.applyConfig(cfg, false, nullptr).ok());
  v1::VipKey key;
  key.set_address("10.0.0.10");
  key.set_port(80);
  key.set_protocol(v1::PROTOCOL_TCP);
  auto weightOf = [](const std::vector<VipIds>& ids, const std::string& be) {
    for (const auto& b : ids.at(0).backends) {
      if (b.address == be) return b.weight;
    }
    return UINT32_MAX;
  };

  auto first = state.sharedIds();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(state.sharedIds(), first);  // the same snapshot: not rebuilt
  auto nat_first = state.sharedNatVips();
  ASSERT_EQ(nat_first->size(), 1u);
  EXPECT_EQ(nat_first->begin()->second.key.toString(), "10.0.0.10:80/tcp");
  EXPECT_EQ(state.sharedNatVips(), nat_first);
  ASSERT_TRUE(state.setBackendWeight(key, "10.0.1.2", 7).ok());
  // A weight changes no VIP's NAT record: the new snapshot keeps the map (planner_test has the
  // changes that do not keep it).
  EXPECT_EQ(state.sharedNatVips(), nat_first);
  auto second = state.sharedIds();
  EXPECT_NE(second, first);
  EXPECT_EQ(weightOf(*second, "10.0.1.2"), 7u);
  EXPECT_EQ(weightOf(*first, "10.0.1.2"), 3u);
  EXPECT_EQ(weightOf(state.ids(), "10.0.1.2"), 7u);
  ASSERT_TRUE(state.deleteBackend(key, "10.0.1.2").ok());
  auto third = state.sharedIds();
  EXPECT_EQ(weightOf(*third, "10.0.1.2"), UINT32_MAX);
  EXPECT_EQ(third->at(0).backends.size(), 1u);
}

}  // namespace
}  // namespace xlb::state
