// SPDX-License-Identifier: Apache-2.0
// planPeers and the applied-peers record: a peer whose password changed while no agent ran is
// replaced by the next agent (gobgpd never reports the password), an unchanged one is left alone
// (no session reset on an agent restart).

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

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
  auto* q = s.add_peers();
  q->set_address("FD00::FE");  // canonicalised to fd00::fe
  q->set_asn(65000);
  return s;
}

// gobgpd's view of the peers of settingsWith(...): what it reports, never the password.
std::map<std::string, ObservedPeer> running() {
  return {{"10.0.0.254", {65000, 3, 179}}, {"fd00::fe", {65000, 9, 179}}};
}

std::map<std::string, std::string> digests(const v1::BgpSettings& s) {
  std::map<std::string, std::string> out;
  out["10.0.0.254"] = peerDigest(s.peers(0));
  out["fd00::fe"] = peerDigest(s.peers(1));
  return out;
}

TEST(BgpPeerPlanTest, DigestCoversEverySettingAndIsStable) {
  const auto a = settingsWith("s3cret");
  EXPECT_EQ(peerDigest(a.peers(0)), peerDigest(settingsWith("s3cret").peers(0)));
  EXPECT_EQ(peerDigest(a.peers(0)).size(), 16u);
  EXPECT_NE(peerDigest(a.peers(0)), peerDigest(settingsWith("s3creT").peers(0)));
  EXPECT_NE(peerDigest(a.peers(0)), peerDigest(settingsWith("").peers(0)));
  for (int field = 0; field < 4; ++field) {
    v1::BgpPeer p = a.peers(0);
    switch (field) {
      case 0: p.set_asn(65002); break;
      case 1: p.set_port(1179); break;
      case 2: p.set_hold_time_s(9); break;
      default: p.set_description("tor1"); break;
    }
    EXPECT_NE(peerDigest(p), peerDigest(a.peers(0))) << "field " << field;
  }
  // The password's length is part of the text: a password that swallows the separator differs.
  v1::BgpPeer x = a.peers(0), y = a.peers(0);
  x.set_password("a|b");
  x.set_description("");
  y.set_password("a");
  y.set_description("b");
  EXPECT_NE(peerDigest(x), peerDigest(y));
}

TEST(BgpPeerPlanTest, FreshDaemonGetsEveryPeer) {
  auto plan = planPeers(settingsWith("s3cret"), {}, {});
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].address, "10.0.0.254");
  EXPECT_EQ(plan[1].address, "fd00::fe");
  for (const auto& c : plan) EXPECT_EQ(c.action, PeerChange::Action::kAdd);
}

TEST(BgpPeerPlanTest, RestartWithTheSameSettingsChangesNothing) {
  const auto s = settingsWith("s3cret");
  EXPECT_TRUE(planPeers(s, running(), digests(s)).empty());
}

TEST(BgpPeerPlanTest, PasswordChangedWhileNoAgentRanReplacesThatPeerOnly) {
  const auto before = settingsWith("old-secret");
  const auto after = settingsWith("new-secret");
  // gobgpd reports the same ASN, hold time and port: only the record tells them apart.
  auto plan = planPeers(after, running(), digests(before));
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].address, "10.0.0.254");
  EXPECT_EQ(plan[0].action, PeerChange::Action::kReplace);
  EXPECT_NE(plan[0].why.find("password"), std::string::npos) << plan[0].why;
}

TEST(BgpPeerPlanTest, WithoutARecordTheReportedSettingsDecide) {
  const auto s = settingsWith("s3cret");
  EXPECT_TRUE(planPeers(s, running(), {}).empty());
  auto have = running();
  have["10.0.0.254"].hold_time_s = 9;
  auto plan = planPeers(s, have, {});
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].action, PeerChange::Action::kReplace);
  // gobgpd reports port 0 for a peer added without a transport: not a difference.
  have = running();
  have["fd00::fe"].remote_port = 0;
  EXPECT_TRUE(planPeers(s, have, {}).empty());
}

TEST(BgpPeerPlanTest, UnconfiguredPeersAreDeleted) {
  auto s = settingsWith("s3cret");
  s.mutable_peers()->RemoveLast();
  auto plan = planPeers(s, running(), digests(settingsWith("s3cret")));
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].address, "fd00::fe");
  EXPECT_EQ(plan[0].action, PeerChange::Action::kDelete);
}

TEST(BgpPeerPlanTest, RecordSurvivesARoundTripAndAMissingFileIsEmpty) {
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("xlb-bgp-peers-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/bgp-peers";
  auto empty = loadAppliedPeers(path);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
  const auto rec = digests(settingsWith("s3cret"));
  ASSERT_TRUE(saveAppliedPeers(path, rec).ok());
  auto back = loadAppliedPeers(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, rec);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  // The record holds digests, never the password.
  std::ifstream f(path);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.find("s3cret"), std::string::npos);
  // A restarted agent reads it back and sees the changed password.
  auto plan = planPeers(settingsWith("changed"), running(), *back);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].action, PeerChange::Action::kReplace);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace xlb::bgp
