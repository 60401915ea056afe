// SPDX-License-Identifier: Apache-2.0
// State tests against the fake data plane: planning order, idempotence, id stability, rollback,
// codes.
#include "state/state.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "config/yaml.h"
#include "dataplane/fake_dataplane.h"
#include "spdlog/spdlog.h"

namespace xlb::state {
namespace {

using dataplane::FakeDataplane;
using ::testing::ElementsAre;

// Keep the test output readable: the per-apply info lines are for operators.
const bool kQuiet = (spdlog::set_level(spdlog::level::err), true);

v1::Config yaml(const std::string& text) {
  auto c = config::parseConfigYaml(text);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : v1::Config{};
}

xlb_vip_key vipKey(const std::string& addr, uint16_t port, uint8_t proto = IPPROTO_TCP) {
  auto a = *parseIpAddress(addr);
  xlb_vip_key k{};
  std::memcpy(k.addr, a.bytes.data(), 16);
  k.family = a.family;
  k.port = htons(port);
  k.proto = proto;
  return k;
}

xlb_addr_key addrKey(const std::string& addr) {
  auto a = *parseIpAddress(addr);
  xlb_addr_key k{};
  std::memcpy(k.addr, a.bytes.data(), 16);
  k.family = a.family;
  return k;
}

v1::VipKey protoKey(const std::string& addr, uint32_t port, v1::Protocol p = v1::PROTOCOL_TCP) {
  v1::VipKey k;
  k.set_address(addr);
  k.set_port(port);
  k.set_protocol(p);
  return k;
}

v1::Backend backend(const std::string& addr, std::optional<uint32_t> weight = std::nullopt) {
  v1::Backend b;
  b.set_address(addr);
  if (weight) b.set_weight(*weight);
  return b;
}

constexpr char kTwoVips[] = R"(
vips:
  - name: web
    address: 10.0.0.10
    port: 80
    protocol: tcp
    maglev_table_size: 1021
    backends:
      - {address: 10.0.1.1}
      - {address: 10.0.1.2, weight: 3}
  - name: dns
    address: 2001:db8::53
    port: 0
    protocol: udp
    forwarding: ipip
    maglev_table_size: 1021
    backends:
      - {address: 2001:db8:1::1}
)";

class StateTest : public ::testing::Test {
 protected:
  FakeDataplane dp_;
  State state_{dp_};

  std::map<uint32_t, int> slotsByBackend(uint32_t vip_id) {
    std::map<uint32_t, int> counts;
    for (uint32_t id : dp_.table(vip_id)) counts[id]++;
    return counts;
  }
  uint32_t backendId(const std::string& vip_addr, const std::string& be_addr) {
    for (const auto& v : state_.ids()) {
      if (v.key.address.toString() != vip_addr) continue;
      for (const auto& b : v.backends) {
        if (b.address == be_addr) return b.id;
      }
    }
    ADD_FAILURE() << "no backend " << be_addr << " in " << vip_addr;
    return UINT32_MAX;
  }
  uint32_t vipId(const std::string& vip_addr) {
    for (const auto& v : state_.ids()) {
      if (v.key.address.toString() == vip_addr) return v.id;
    }
    ADD_FAILURE() << "no vip " << vip_addr;
    return UINT32_MAX;
  }
};

TEST_F(StateTest, FreshApplyWritesEverythingInConsistentOrder) {
  std::vector<std::string> changes;
  ASSERT_TRUE(state_.applyConfig(yaml(kTwoVips), false, &changes).ok());
  // Backends (every port first, then every slot: one batch each), then both tables in one swap,
  // then settings and addresses, then VIP entries last.
  EXPECT_THAT(dp_.ops(), ElementsAre("setBackendNat", "setBackendNat", "setBackendNat",
                                     "upsertBackend", "upsertBackend", "upsertBackend",
                                     "setSelectionTables", "setSettings",
                                     "setAcceptedVlans", "upsertVipAddr", "upsertVipAddr", "upsertVip", "upsertVip"));
  EXPECT_THAT(changes,
              ElementsAre("add vip 10.0.0.10:80/tcp (id 0, maglev, dsr)",
                          "add backend 10.0.1.1 to vip 10.0.0.10:80/tcp (id 0, weight 1)",
                          "add backend 10.0.1.2 to vip 10.0.0.10:80/tcp (id 1, weight 3)",
                          "build table of vip 10.0.0.10:80/tcp (M 1021, 2 backends)",
                          "add vip [2001:db8::53]:0/udp (id 1, maglev, ipip)",
                          "add backend 2001:db8:1::1 to vip [2001:db8::53]:0/udp (id 2, weight 1)",
                          "build table of vip [2001:db8::53]:0/udp (M 1021, 1 backend)",
                          "set encap source prefixes 172.16.0.0/16 and fd00:7862::/64"));

  auto web = dp_.vip(vipKey("10.0.0.10", 80));
  ASSERT_TRUE(web.has_value());
  EXPECT_EQ(web->vip_id, 0u);
  EXPECT_EQ(web->fwd_mode, XLB_FWD_DSR);
  EXPECT_EQ(web->algorithm, XLB_ALG_MAGLEV);
  auto dns = dp_.vip(vipKey("2001:db8::53", 0, IPPROTO_UDP));
  ASSERT_TRUE(dns.has_value());
  EXPECT_EQ(dns->fwd_mode, XLB_FWD_IPIP);

  EXPECT_EQ(dp_.vipAddr(addrKey("2001:db8::53"))->nr_wildcard, 1u);
  EXPECT_EQ(dp_.vipAddr(addrKey("10.0.0.10"))->nr_vips, 1u);
  EXPECT_EQ(dp_.settings().nr_wildcard_vips, 1u);
  EXPECT_EQ(dp_.settings().encap_v4_host_mask, htonl(0x0000ffff));
  EXPECT_EQ(dp_.settings().encap_v6_host_mask, 0xffffffffu);
  uint8_t v4[4] = {172, 16, 0, 0};
  EXPECT_EQ(std::memcmp(dp_.settings().encap_v4_prefix, v4, 4), 0);

  // Weighted table: 1:3.
  auto slots = slotsByBackend(0);
  EXPECT_EQ(dp_.table(0).size(), 1021u);
  EXPECT_NEAR(slots[1], 3 * slots[0], 4);

  xlb_backend b = dp_.backend(1);
  EXPECT_EQ(b.flags, XLB_BE_F_ACTIVE);
  EXPECT_EQ(b.vip_id, 0u);
  EXPECT_EQ(b.family, XLB_AF_INET);
  EXPECT_EQ(b.gen, 1u);
  EXPECT_EQ(dp_.backend(2).family, XLB_AF_INET6);
  EXPECT_EQ(dp_.backend(2).vip_id, 1u);
}

// Issue 10, part 1: the accepted VLAN set is the --vlan-ids flag's ids with the config's, written
// whole when it changes and rolled back with the rest of a failed apply.
TEST_F(StateTest, AcceptedVlansAreFlagAndConfigTogether) {
  state_.setFlagVlanIds({100, 200});
  std::vector<std::string> changes;
  ASSERT_TRUE(state_.applyConfig(yaml("vlan_ids: [300, 100]\n"), false, &changes).ok());
  EXPECT_THAT(changes, testing::Contains("set accepted VLAN ids 100,200,300"));
  EXPECT_EQ(dp_.acceptedVlans(), (std::vector<uint32_t>{100, 200, 300}));
  EXPECT_EQ(state_.acceptedVlans(), (std::vector<uint32_t>{100, 200, 300}));
  EXPECT_THAT(state_.config().vlan_ids(), ElementsAre(100, 300));  // the config as written, sorted

  dp_.clearCalls();
  ASSERT_TRUE(state_.applyConfig(yaml("vlan_ids: [100, 300]\n"), false, nullptr).ok());
  EXPECT_TRUE(dp_.calls().empty());  // same set: nothing written

  // A failed apply restores the previous set.
  std::string next = std::string(kTwoVips) + "vlan_ids: [301, 302, 303]\n";
  dp_.failOp("upsertVip", absl::ResourceExhaustedError("update map xlb_vips: No space left"));
  auto st = state_.applyConfig(yaml(next), false, &changes);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_EQ(dp_.acceptedVlans(), (std::vector<uint32_t>{100, 200, 300}));
  EXPECT_EQ(state_.acceptedVlans(), (std::vector<uint32_t>{100, 200, 300}));

  // Dropping the config's ids leaves the flag's.
  ASSERT_TRUE(state_.applyConfig(yaml(kTwoVips), false, &changes).ok());
  EXPECT_EQ(dp_.acceptedVlans(), (std::vector<uint32_t>{100, 200}));
  EXPECT_THAT(changes, testing::Contains("set accepted VLAN ids 100,200"));
}

TEST_F(StateTest, NoVlansWritesTheEmptySetOnceAndPlansNoLine) {
  std::vector<std::string> changes;
  ASSERT_TRUE(state_.applyConfig(yaml("vips: []\n"), false, &changes).ok());
  EXPECT_TRUE(changes.empty() || changes.back().find("VLAN") == std::string::npos);
  EXPECT_EQ(dp_.acceptedVlans(), std::vector<uint32_t>{});
}

TEST_F(StateTest, SameConfigTwiceWritesNothing) {
  ASSERT_TRUE(state_.applyConfig(yaml(kTwoVips), false, nullptr).ok());
  dp_.clearCalls();
  std::vector<std::string> changes;
  ASSERT_TRUE(state_.applyConfig(yaml(kTwoVips), false, &changes).ok());
  EXPECT_TRUE(dp_.calls().empty());
  EXPECT_TRUE(changes.empty());
}

TEST_F(StateTest, DryRunPlansButWritesNothing) {
  std::vector<std::string> changes;
  ASSERT_TRUE(state_.applyConfig(yaml(kTwoVips), true, &changes).ok());
  EXPECT_EQ(changes.size(), 8u);
  EXPECT_TRUE(dp_.calls().empty());
  EXPECT_EQ(state_.config().vips_size(), 0);
  // Dry run does not consume ids either.
  ASSERT_TRUE(state_.applyConfig(yaml(kTwoVips), false, nullptr).ok());
  EXPECT_EQ(vipId("10.0.0.10"), 0u);
}

TEST_F(StateTest, ModifyPlansOnlyTheDifference) {
  ASSERT_TRUE(state_.applyConfig(yaml(kTwoVips), false, nullptr).ok());
  uint32_t keep = backendId("10.0.0.10", "10.0.1.1");
  uint32_t gone = backendId("10.0.0.10", "10.0.1.2");
  dp_.clearCalls();
  std::vector<std::string> changes;
  // web: drop 10.0.1.2, add 10.0.1.3, switch to ipip; dns unchanged.
  std::string modified = kTwoVips;
  modified.replace(modified.find("      - {address: 10.0.1.2, weight: 3}"),
                   std::string("      - {address: 10.0.1.2, weight: 3}").size(),
                   "      - {address: 10.0.1.3}");
  modified.replace(modified.find("    protocol: tcp\n"), 18,
                   "    protocol: tcp\n    forwarding: ipip\n");
  ASSERT_TRUE(state_.applyConfig(yaml(modified), false, &changes).ok());
  EXPECT_THAT(dp_.ops(), ElementsAre("setBackendNat", "upsertBackend", "setSelectionTables",
                                     "upsertVip", "deleteBackend"));
  EXPECT_EQ(dp_.calls()[4].key, "backend " + std::to_string(gone));
  EXPECT_THAT(changes, ElementsAre("set forwarding of vip 10.0.0.10:80/tcp: dsr -> ipip",
                                   "add backend 10.0.1.3 to vip 10.0.0.10:80/tcp (id 3, weight 1)",
                                   "rebuild table of vip 10.0.0.10:80/tcp (M 1021, 2 backends)",
                                   "remove backend 10.0.1.2 from vip 10.0.0.10:80/tcp (id 1)"));
  EXPECT_EQ(backendId("10.0.0.10", "10.0.1.1"), keep);
  EXPECT_EQ(dp_.backend(gone).flags, 0);
  EXPECT_EQ(dp_.vip(vipKey("10.0.0.10", 80))->fwd_mode, XLB_FWD_IPIP);
  auto slots = slotsByBackend(0);
  EXPECT_EQ(slots.count(gone), 0u);
  EXPECT_EQ(slots.size(), 2u);
}

TEST_F(StateTest, RemovingAVipDeletesEntryThenTableThenBackends) {
  ASSERT_TRUE(state_.applyConfig(yaml(kTwoVips), false, nullptr).ok());
  dp_.clearCalls();
  v1::Config only_dns = yaml(kTwoVips);
  only_dns.mutable_vips()->DeleteSubrange(0, 1);
  std::vector<std::string> changes;
  ASSERT_TRUE(state_.applyConfig(only_dns, false, &changes).ok());
  EXPECT_THAT(dp_.ops(), ElementsAre("deleteVip", "deleteVipAddr", "setSelectionTables",
                                     "deleteBackend", "deleteBackend"));
  EXPECT_EQ(dp_.calls()[2].key, "vip 0 size 0");
  EXPECT_THAT(changes, ElementsAre("remove vip 10.0.0.10:80/tcp (id 0, 2 backends)"));
  EXPECT_EQ(dp_.vipCount(), 1u);
  EXPECT_EQ(dp_.tableCount(), 1u);
  EXPECT_EQ(dp_.activeBackendCount(), 1u);
  // The dns VIP kept its id.
  EXPECT_EQ(dp_.vip(vipKey("2001:db8::53", 0, IPPROTO_UDP))->vip_id, 1u);
}

TEST_F(StateTest, CountsShrinkOnlyAfterTheVipEntryIsGone) {
  // Two VIPs on one address, one of them a wildcard; remove the wildcard one.
  ASSERT_TRUE(state_
                  .applyConfig(yaml(R"(
vips:
  - {address: 10.0.0.10, port: 80, protocol: tcp, maglev_table_size: 1021}
  - {address: 10.0.0.10, port: 0, protocol: udp, maglev_table_size: 1021}
)"),
                               false, nullptr)
                  .ok());
  EXPECT_EQ(dp_.settings().nr_wildcard_vips, 1u);
  EXPECT_EQ(dp_.vipAddr(addrKey("10.0.0.10"))->nr_vips, 2u);
  dp_.clearCalls();
  ASSERT_TRUE(state_
                  .applyConfig(yaml("vips:\n  - {address: 10.0.0.10, port: 80, protocol: tcp, "
                                    "maglev_table_size: 1021}\n"),
                               false, nullptr)
                  .ok());
  EXPECT_THAT(dp_.ops(), ElementsAre("deleteVip", "upsertVipAddr", "setSettings"));
  EXPECT_EQ(dp_.settings().nr_wildcard_vips, 0u);
  EXPECT_EQ(dp_.vipAddr(addrKey("10.0.0.10"))->nr_vips, 1u);
  EXPECT_EQ(dp_.vipAddr(addrKey("10.0.0.10"))->nr_wildcard, 0u);
  // And growing again writes the counts before the entry.
  dp_.clearCalls();
  ASSERT_TRUE(state_
                  .applyConfig(yaml(R"(
vips:
  - {address: 10.0.0.10, port: 80, protocol: tcp, maglev_table_size: 1021}
  - {address: 10.0.0.10, port: 0, protocol: udp, maglev_table_size: 1021}
)"),
                               false, nullptr)
                  .ok());
  EXPECT_THAT(dp_.ops(), ElementsAre("setSettings", "upsertVipAddr", "upsertVip"));
}

TEST_F(StateTest, IdsAreStableAndFreedIdsAreNotReusedFirst) {
  ASSERT_TRUE(state_.applyConfig(yaml(kTwoVips), false, nullptr).ok());
  auto key = protoKey("10.0.0.10", 80);
  ASSERT_TRUE(state_.deleteBackend(key, "10.0.1.1").ok());  // frees backend id 0
  auto added = state_.addBackend(key, backend("10.0.1.9"));
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(backendId("10.0.0.10", "10.0.1.9"), 3u);  // cyclic: 3, not the freed 0
  EXPECT_EQ(backendId("10.0.0.10", "10.0.1.2"), 1u);
  // Re-adding the removed address is a new membership: new id, new generation.
  ASSERT_TRUE(state_.addBackend(key, backend("10.0.1.1")).ok());
  EXPECT_EQ(backendId("10.0.0.10", "10.0.1.1"), 4u);
  // The same VIP deleted and re-added gets a fresh vip id too.
  ASSERT_TRUE(state_.deleteVip(protoKey("2001:db8::53", 0, v1::PROTOCOL_UDP)).ok());
  v1::Vip vip;
  vip.set_address("2001:db8::53");
  vip.set_protocol(v1::PROTOCOL_UDP);
  ASSERT_TRUE(state_.addVip(vip).ok());
  EXPECT_EQ(vipId("2001:db8::53"), 2u);
}

TEST_F(StateTest, GenerationBumpsOnEveryAssignmentOfAnId) {
  // Cycle through every backend id so id 0 is assigned a second time.
  v1::Config c;
  auto* vip = c.add_vips();
  vip->set_address("10.0.0.10");
  vip->set_port(80);
  vip->set_protocol(v1::PROTOCOL_TCP);
  vip->set_maglev_table_size(1021);
  vip->add_backends()->set_address("10.0.1.1");
  ASSERT_TRUE(state_.applyConfig(c, false, nullptr).ok());
  EXPECT_EQ(dp_.backend(0).gen, 1u);
  for (int round = 0; round < XLB_MAX_BACKENDS; ++round) {
    vip->mutable_backends(0)->set_address(round % 2 ? "10.0.1.1" : "10.0.1.2");
    ASSERT_TRUE(state_.applyConfig(c, false, nullptr).ok()) << round;
  }
  EXPECT_EQ(backendId("10.0.0.10", "10.0.1.1"), 0u);
  EXPECT_EQ(dp_.backend(0).gen, 2u);
  EXPECT_EQ(dp_.activeBackendCount(), 1u);
}

TEST_F(StateTest, ZeroWeightKeepsBackendActiveButOutOfTable) {
  ASSERT_TRUE(state_.applyConfig(yaml(kTwoVips), false, nullptr).ok());
  uint32_t id = backendId("10.0.0.10", "10.0.1.2");
  dp_.clearCalls();
  auto vip = state_.setBackendWeight(protoKey("10.0.0.10", 80), "10.0.1.2", 0);
  ASSERT_TRUE(vip.ok()) << vip.status();
  EXPECT_EQ(vip->backends(1).weight(), 0u);
  // The slot carries the weight (least_conn divides by it): rewritten, then the table swapped.
  EXPECT_THAT(dp_.ops(), ElementsAre("upsertBackend", "setSelectionTables"));
  EXPECT_EQ(dp_.backend(id).flags, XLB_BE_F_ACTIVE);
  EXPECT_EQ(dp_.backend(id).weight, 0u);
  EXPECT_EQ(slotsByBackend(0).count(id), 0u);
  // All weights 0: an empty table (the data plane drops with no_backend), VIP stays.
  ASSERT_TRUE(state_.setBackendWeight(protoKey("10.0.0.10", 80), "10.0.1.1", 0).ok());
  EXPECT_TRUE(dp_.table(0).empty());
  EXPECT_TRUE(dp_.vip(vipKey("10.0.0.10", 80)).has_value());
}

TEST_F(StateTest, VipWithoutBackendsHasNoTable) {
  v1::Vip vip;
  vip.set_address("10.0.0.20");
  vip.set_port(443);
  vip.set_protocol(v1::PROTOCOL_TCP);
  auto added = state_.addVip(vip);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_FALSE(added->has_maglev_table_size());
  EXPECT_EQ(added->forwarding(), v1::FORWARDING_MODE_DSR);
  EXPECT_TRUE(dp_.vip(vipKey("10.0.0.20", 443)).has_value());
  EXPECT_TRUE(dp_.table(0).empty());
  auto with = state_.addBackend(protoKey("10.0.0.20", 443), backend("10.0.1.1", 5));
  ASSERT_TRUE(with.ok());
  EXPECT_EQ(dp_.table(0).size(), 1021u);  // sized from the backend count
  EXPECT_EQ((*state_.vipStatuses())[0].table_size(), 1021u);
}

TEST_F(StateTest, RollbackRestoresEveryEntryOnInjectedFailure) {
  ASSERT_TRUE(state_.applyConfig(yaml(kTwoVips), false, nullptr).ok());
  std::vector<uint32_t> web_table = dp_.table(0);
  v1::Config before = state_.config();
  auto before_ids = state_.ids();

  // A big change: remove dns, modify web, add a new VIP; fail at each write in turn.
  v1::Config next = yaml(kTwoVips);
  next.mutable_vips()->DeleteSubrange(1, 1);
  next.mutable_vips(0)->mutable_backends(1)->set_weight(7);
  next.mutable_vips(0)->add_backends()->set_address("10.0.1.5");
  auto* extra = next.add_vips();
  extra->set_address("10.0.0.30");
  extra->set_protocol(v1::PROTOCOL_UDP);
  extra->set_maglev_table_size(1021);
  extra->add_backends()->set_address("10.0.1.1");

  for (int n = 1;; ++n) {
    dp_.clearCalls();
    dp_.failNthCall(
        n, absl::ResourceExhaustedError("update map xlb_vips: No space left on device (ENOSPC)"));
    absl::Status st = state_.applyConfig(next, false, nullptr);
    if (st.ok()) {
      EXPECT_GT(n, 5);
      break;
    }
    EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
    EXPECT_NE(st.message().find("rolled back"), absl::string_view::npos) << st;
    // Data plane back to the previous state.
    EXPECT_EQ(dp_.table(0), web_table) << "n=" << n;
    EXPECT_EQ(dp_.tableCount(), 2u);
    EXPECT_EQ(dp_.vipCount(), 2u);
    EXPECT_EQ(dp_.vipAddrCount(), 2u);
    EXPECT_EQ(dp_.activeBackendCount(), 3u);
    EXPECT_TRUE(dp_.vip(vipKey("2001:db8::53", 0, IPPROTO_UDP)).has_value());
    EXPECT_FALSE(dp_.vip(vipKey("10.0.0.30", 0, IPPROTO_UDP)).has_value());
    EXPECT_EQ(dp_.settings().nr_wildcard_vips, 1u);
    // State unchanged.
    EXPECT_EQ(state_.config().SerializeAsString(), before.SerializeAsString());
    ASSERT_LT(n, 50) << "apply never succeeded";
  }
  dp_.clearFailures();
  EXPECT_EQ(dp_.vipCount(), 2u);
  EXPECT_EQ(dp_.activeBackendCount(), 4u);  // 10.0.1.1, .2, .5 in web + .1 in the new VIP
}

TEST_F(StateTest, RollbackFailureForcesFullRewriteNextTime) {
  ASSERT_TRUE(state_.applyConfig(yaml(kTwoVips), false, nullptr).ok());
  v1::Config next = yaml(kTwoVips);
  next.mutable_vips(0)->mutable_backends(0)->set_weight(9);
  next.mutable_vips(0)->add_backends()->set_address("10.0.1.5");
  // upsertBackend ok, setSelectionTable fails, then the undo (deleteBackend) fails too.
  dp_.failOp("setSelectionTables", absl::InternalError("boom"));
  dp_.failOp("deleteBackend", absl::InternalError("undo boom"));
  auto st = state_.applyConfig(next, false, nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal);
  EXPECT_NE(st.message().find("rollback incomplete"), absl::string_view::npos) << st;
  dp_.clearCalls();
  ASSERT_TRUE(state_.applyConfig(yaml(kTwoVips), false, nullptr).ok());
  // Everything the model holds is rewritten: 3 backends (port and slot), 2 tables (one swap),
  // settings, VLANs, 2 addresses, 2 VIPs. (The half-added backend was never in the model; no
  // table points at it, and its slot is overwritten when the id is assigned again.)
  EXPECT_EQ(dp_.calls().size(), 13u);
  EXPECT_EQ(dp_.calls()[6].key, "vip 0 size 1021, vip 1 size 1021") << dp_.calls()[6].key;
}

TEST_F(StateTest, ErrorCodes) {
  ASSERT_TRUE(state_.applyConfig(yaml(kTwoVips), false, nullptr).ok());
  auto web = protoKey("10.0.0.10", 80);

  v1::Vip dup;
  dup.set_address("10.0.0.10");
  dup.set_port(80);
  dup.set_protocol(v1::PROTOCOL_TCP);
  EXPECT_EQ(state_.addVip(dup).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(state_.addVip(dup).status().message(),
            "vip 10.0.0.10:80/tcp already exists (delete it first, or change it with apply)");
  dup.set_port(81);
  dup.set_name("web");
  EXPECT_EQ(state_.addVip(dup).status().message(),
            "vip.name: \"web\" is already used by vip 10.0.0.10:80/tcp (names must be unique)");
  dup.set_port(70000);
  EXPECT_EQ(state_.addVip(dup).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(state_.addVip(dup).status().message(), "vip.port: 70000 is not in [0, 65535]");

  EXPECT_EQ(state_.deleteVip(protoKey("10.0.0.11", 80)).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(state_.deleteVip(protoKey("10.0.0.11", 80)).message(),
            "vip 10.0.0.11:80/tcp not found");
  EXPECT_EQ(state_.deleteVip(protoKey("10.0.0.11", 80, v1::PROTOCOL_UNSPECIFIED)).message(),
            "vip.protocol: missing (tcp or udp)");

  EXPECT_EQ(state_.addBackend(web, backend("10.0.1.1")).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(state_.addBackend(web, backend("10.0.1.1", 70000)).status().message(),
            "backend.weight: 70000 is not in [0, 65535]");
  EXPECT_EQ(state_.deleteBackend(web, "10.0.9.9").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(state_.deleteBackend(web, "10.0.9.9").status().message(),
            "backend 10.0.9.9 not found in vip 10.0.0.10:80/tcp");
  EXPECT_EQ(state_.deleteBackend(web, "bogus").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(state_.setBackendWeight(web, "10.0.1.1", 65536).status().message(),
            "weight: 65536 is not in [0, 65535]");
  EXPECT_EQ(state_.setBackendWeight(protoKey("10.0.0.99", 80), "10.0.1.1", 1).status().code(),
            absl::StatusCode::kNotFound);

  // Invalid whole config: nothing written.
  dp_.clearCalls();
  v1::Config bad = yaml(kTwoVips);
  bad.mutable_vips(0)->set_port(70000);
  EXPECT_EQ(state_.applyConfig(bad, false, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(dp_.calls().empty());
}

TEST_F(StateTest, VipLimitIsResourceExhausted) {
  v1::Config c;
  for (int i = 0; i < XLB_MAX_VIPS; ++i) {
    auto* vip = c.add_vips();
    vip->set_address("10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1));
    vip->set_protocol(v1::PROTOCOL_TCP);
  }
  ASSERT_TRUE(state_.applyConfig(c, false, nullptr).ok());
  v1::Vip one_more;
  one_more.set_address("10.2.0.1");
  one_more.set_protocol(v1::PROTOCOL_TCP);
  auto st = state_.addVip(one_more).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(st.message(),
            "vips: 1025 VIPs exceed the data-plane limit of 1024 (xlb-agent --max-vips, at most "
            "65536)");

  // The limits are the data plane's, chosen at load: a larger one takes 2,000 VIPs and hands out
  // ids beyond the default range.
  dataplane::FakeDataplane big_dp(Capacity{4096, 65536});
  State big(big_dp);
  for (int i = 0; i < 976; ++i) {
    auto* vip = c.add_vips();
    vip->set_address("10.3." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1));
    vip->set_protocol(v1::PROTOCOL_TCP);
    vip->add_backends()->set_address("10.4." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1));
  }
  ASSERT_EQ(c.vips_size(), 2000);
  ASSERT_TRUE(big.applyConfig(c, false, nullptr).ok());
  uint32_t max_vip_id = 0;
  for (const auto& v : big.ids()) max_vip_id = std::max(max_vip_id, v.id);
  EXPECT_EQ(max_vip_id, 1999u);
  EXPECT_EQ(big_dp.vipCount(), 2000u);
}

TEST_F(StateTest, AddressesCompareCanonically) {
  ASSERT_TRUE(state_.applyConfig(yaml(kTwoVips), false, nullptr).ok());
  // Upper-case / long-form spelling finds the same VIP and backend.
  auto vip = state_.setBackendWeight(protoKey("2001:DB8:0::53", 0, v1::PROTOCOL_UDP),
                                     "2001:DB8:1:0::1", 4);
  ASSERT_TRUE(vip.ok()) << vip.status();
  EXPECT_EQ(vip->backends(0).weight(), 4u);
  EXPECT_EQ(vip->address(), "2001:db8::53");
}

TEST_F(StateTest, ConfigShowsEffectiveValues) {
  EXPECT_EQ(state_.config().encap().source_v4_prefix(), "172.16.0.0/16");
  ASSERT_TRUE(state_
                  .applyConfig(yaml("vips:\n  - {address: 10.0.0.1, protocol: tcp, backends: "
                                    "[{address: 10.0.1.1}]}\n"),
                               false, nullptr)
                  .ok());
  v1::Config c = state_.config();
  EXPECT_FALSE(c.vips(0).has_maglev_table_size());  // automatic: the status says the size
  EXPECT_EQ(c.vips(0).backends(0).weight(), 1u);
  EXPECT_EQ(c.vips(0).algorithm(), v1::ALGORITHM_MAGLEV);
}

// ---- restart: adopting what the pinned maps hold ----

TEST_F(StateTest, RestartWithTheSameConfigKeepsIdsGenerationsAndTables) {
  ASSERT_TRUE(state_.applyConfig(yaml(kTwoVips), false, nullptr).ok());
  // Churn a little so ids are not trivially 0..n.
  ASSERT_TRUE(state_.deleteBackend(protoKey("10.0.0.10", 80), "10.0.1.1").ok());
  ASSERT_TRUE(state_.addBackend(protoKey("10.0.0.10", 80), backend("10.0.1.1")).ok());
  v1::Config running = state_.config();
  auto ids_before = state_.ids();
  auto contents_before = dp_.contents();
  std::vector<uint32_t> table0 = dp_.table(0), table1 = dp_.table(1);

  State restarted(dp_);
  ASSERT_TRUE(restarted.adopt(dp_.contents()).ok());
  dp_.clearCalls();
  ASSERT_TRUE(restarted.applyConfig(running, false, nullptr).ok());
  // Nothing deleted, nothing renumbered: every write is a rewrite of an identical value.
  for (const auto& c : dp_.calls()) {
    EXPECT_TRUE(c.op.rfind("upsert", 0) == 0 || c.op == "setSelectionTables" ||
                c.op == "setSettings" || c.op == "setAcceptedVlans" || c.op == "setBackendNat")
        << c.op << " " << c.key;
  }
  auto ids_after = restarted.ids();
  ASSERT_EQ(ids_after.size(), ids_before.size());
  for (size_t i = 0; i < ids_before.size(); ++i) {
    EXPECT_EQ(ids_after[i].id, ids_before[i].id);
    ASSERT_EQ(ids_after[i].backends.size(), ids_before[i].backends.size());
    for (size_t j = 0; j < ids_before[i].backends.size(); ++j) {
      EXPECT_EQ(ids_after[i].backends[j].id, ids_before[i].backends[j].id);
    }
  }
  EXPECT_EQ(dp_.table(0), table0);
  EXPECT_EQ(dp_.table(1), table1);
  auto contents_after = dp_.contents();
  ASSERT_EQ(contents_after.backends.size(), contents_before.backends.size());
  for (size_t i = 0; i < contents_before.backends.size(); ++i) {
    EXPECT_EQ(contents_after.backends[i].second.gen, contents_before.backends[i].second.gen);
    EXPECT_EQ(contents_after.backends[i].second.flags, contents_before.backends[i].second.flags);
  }
  // And the restarted state is idempotent from then on.
  dp_.clearCalls();
  ASSERT_TRUE(restarted.applyConfig(running, false, nullptr).ok());
  EXPECT_TRUE(dp_.calls().empty());
}

TEST_F(StateTest, RestartWithADifferentConfigRemovesLeftovers) {
  ASSERT_TRUE(state_.applyConfig(yaml(kTwoVips), false, nullptr).ok());
  State restarted(dp_);
  ASSERT_TRUE(restarted.adopt(dp_.contents()).ok());
  std::vector<std::string> changes;
  ASSERT_TRUE(restarted
                  .applyConfig(yaml("vips:\n  - {address: 10.0.0.77, port: 80, protocol: tcp, "
                                    "maglev_table_size: 1021, backends: [{address: 10.0.1.1}]}\n"),
                               false, &changes)
                  .ok());
  EXPECT_EQ(dp_.vipCount(), 1u);
  EXPECT_EQ(dp_.vipAddrCount(), 1u);
  EXPECT_EQ(dp_.tableCount(), 1u);
  EXPECT_EQ(dp_.activeBackendCount(), 1u);
  EXPECT_FALSE(dp_.vip(vipKey("10.0.0.10", 80)).has_value());
  // The new VIP did not inherit a live id of a VIP being removed.
  EXPECT_EQ(dp_.vip(vipKey("10.0.0.77", 80))->vip_id, 2u);
  EXPECT_NE(
      std::find(changes.begin(), changes.end(), "remove vip 10.0.0.10:80/tcp (id 0, 2 backends)"),
      changes.end());
  // Generations keep growing across agents: backend id 3 is new (gen 1), but ids 0..2 were used.
  uint32_t id = dp_.table(2).at(0);
  EXPECT_EQ(id, 3u);
  EXPECT_EQ(dp_.backend(id).gen, 1u);
}

TEST_F(StateTest, AdoptedGenerationsAreNeverReused) {
  xlb_backend old{};
  old.gen = 41;  // inactive slot with history
  ASSERT_TRUE(dp_.upsertBackend(0, old).ok());
  ASSERT_TRUE(state_.adopt(dp_.contents()).ok());
  ASSERT_TRUE(state_
                  .applyConfig(yaml("vips:\n  - {address: 10.0.0.1, protocol: tcp, "
                                    "maglev_table_size: 1021, backends: [{address: 10.0.1.1}]}\n"),
                               false, nullptr)
                  .ok());
  EXPECT_EQ(dp_.backend(0).gen, 42u);
}

TEST_F(StateTest, StrayEntriesAreRemoved) {
  // A backend owned by no VIP, a table for an unused vip id, an address entry without VIPs, and
  // a VIP entry with an invalid protocol.
  xlb_backend orphan{};
  orphan.flags = XLB_BE_F_ACTIVE;
  orphan.family = XLB_AF_INET;
  orphan.gen = 1;
  orphan.vip_id = 9;
  ASSERT_TRUE(dp_.upsertBackend(7, orphan).ok());
  uint32_t t[] = {7, 7, 7};
  ASSERT_TRUE(dp_.setSelectionTable(9, t).ok());
  ASSERT_TRUE(dp_.upsertVipAddr(addrKey("10.9.9.9"), xlb_addr_value{1, 0}).ok());
  ASSERT_TRUE(dp_.upsertVip(vipKey("10.9.9.8", 1, 132), xlb_vip_value{3, 1, 1, 0}).ok());
  ASSERT_TRUE(state_.adopt(dp_.contents()).ok());
  std::vector<std::string> changes;
  ASSERT_TRUE(state_.applyConfig(v1::Config{}, false, &changes).ok());
  EXPECT_EQ(dp_.vipCount(), 0u);
  EXPECT_EQ(dp_.vipAddrCount(), 0u);
  EXPECT_EQ(dp_.tableCount(), 0u);
  EXPECT_EQ(dp_.activeBackendCount(), 0u);
  EXPECT_NE(std::find(changes.begin(), changes.end(),
                      "remove 4 stale map entries left by a previous agent"),
            changes.end());
  // Adoption only before the first change.
  EXPECT_EQ(state_.adopt(dp_.contents()).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(StateTest, SnapshotTokenChangesOnlyWithTheState) {
  ASSERT_TRUE(state_
                  .applyConfig(yaml("vips:\n  - {address: 10.0.0.1, protocol: tcp, backends: "
                                    "[{address: 10.0.1.1}]}\n"),
                               false, nullptr)
                  .ok());
  auto a = state_.snapshotToken();
  ASSERT_NE(a, nullptr);
  (void)state_.config();
  (void)state_.vipStatuses();
  EXPECT_EQ(state_.snapshotToken(), a);  // reads publish nothing
  ASSERT_TRUE(state_.setBackendWeight(protoKey("10.0.0.1", 0), "10.0.1.1", 3).ok());
  EXPECT_NE(state_.snapshotToken(), a);
}

}  // namespace
}  // namespace xlb::state
