// SPDX-License-Identifier: Apache-2.0
// planPeers: a peer whose settings (password included) differ from what gobgpd runs is replaced,
// also right after an agent restart (the decision uses what gobgpd reports, not what this process
// remembers); a matching one is left alone (no session reset on an agent restart).

#include <gtest/gtest.h>

#include "bgp/peer_plan.h"

namespace xlb::bgp {
namespace {

v1::BgpSettings settingsWith(const std::string& password) {
  v1::BgpSettings s;
  s.set_local_asn(65001);
  s.set_router_id("10.0.0.1");
  auto* p = s.add_peers();
  p->set_address("10.0.0.254");
  p->set_asn(65000);
  p->set_hold_time_s(3);
  p->set_password(password);
  p->set_description("tor1");
  auto* q = s.add_peers();
  q->set_address("FD00::FE");  // canonicalised to fd00::fe
  q->set_asn(65000);
  return s;
}

// What gobgpd 3.10 reports for the peers of settingsWith(password) (ListPeer: password included).
std::map<std::string, ObservedPeer> running(const std::string& password) {
  return {{"10.0.0.254", {65000, 3, 179, password, "tor1"}}, {"fd00::fe", {65000, 9, 179, "", ""}}};
}

TEST(BgpPeerPlanTest, FreshDaemonGetsEveryPeer) {
  auto plan = planPeers(settingsWith("s3cret"), {});
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].address, "10.0.0.254");
  EXPECT_EQ(plan[1].address, "fd00::fe");
  for (const auto& c : plan) EXPECT_EQ(c.action, PeerChange::Action::kAdd);
}

TEST(BgpPeerPlanTest, RestartWithTheSameSettingsChangesNothing) {
  EXPECT_TRUE(planPeers(settingsWith("s3cret"), running("s3cret")).empty());
  // gobgpd reports no port for a peer added without one: that is the default, not a difference.
  auto have = running("s3cret");
  have["fd00::fe"].remote_port = 0;
  EXPECT_TRUE(planPeers(settingsWith("s3cret"), have).empty());
}

TEST(BgpPeerPlanTest, PasswordChangedWhileNoAgentRanReplacesThatPeerOnly) {
  auto plan = planPeers(settingsWith("new-secret"), running("old-secret"));
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].address, "10.0.0.254");
  EXPECT_EQ(plan[0].action, PeerChange::Action::kReplace);
  EXPECT_EQ(plan[0].why, "different password");
  // The reason names the setting, never the password itself.
  EXPECT_EQ(plan[0].why.find("secret"), std::string::npos);
  // Removing the password is a change too.
  plan = planPeers(settingsWith(""), running("old-secret"));
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].action, PeerChange::Action::kReplace);
}

TEST(BgpPeerPlanTest, EveryAppliedSettingIsCompared) {
  const auto s = settingsWith("s3cret");
  const std::vector<std::pair<std::string, ObservedPeer>> cases = {
      {"different asn", {65002, 3, 179, "s3cret", "tor1"}},
      {"different hold time", {65000, 9, 179, "s3cret", "tor1"}},
      {"different port", {65000, 3, 1179, "s3cret", "tor1"}},
      {"different description", {65000, 3, 179, "s3cret", "tor2"}},
      {"different asn, password", {65002, 3, 179, "other", "tor1"}},
  };
  for (const auto& [why, observed] : cases) {
    auto have = running("s3cret");
    have["10.0.0.254"] = observed;
    auto plan = planPeers(s, have);
    ASSERT_EQ(plan.size(), 1u) << why;
    EXPECT_EQ(plan[0].action, PeerChange::Action::kReplace) << why;
    EXPECT_EQ(plan[0].why, why);
  }
}

TEST(BgpPeerPlanTest, UnconfiguredPeersAreDeleted) {
  auto s = settingsWith("s3cret");
  s.mutable_peers()->RemoveLast();
  auto plan = planPeers(s, running("s3cret"));
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].address, "fd00::fe");
  EXPECT_EQ(plan[0].action, PeerChange::Action::kDelete);
}

}  // namespace
}  // namespace xlb::bgp
