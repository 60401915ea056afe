// SPDX-License-Identifier: Apache-2.0
// The `bgp` section of the config (issue 13): YAML round trip, every rule's message naming the
// field and the value, effective defaults, community syntax.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/bgp.h"
#include "config/validate.h"
#include "config/yaml.h"
#include "config_helpers.h"

namespace xlb::config {
namespace {

using ::testing::HasSubstr;

constexpr char kBgp[] = R"(
bgp:
  local_asn: 65001
  router_id: 10.0.0.1
  communities: ["65001:10", no-export]
  med: 5
  drain_wait_ms: 3000
  check_interval_ms: 50
  peers:
    - {address: 10.0.0.254, asn: 65000, hold_time_s: 3, password: s3cret, description: tor1}
    - {address: "fd00::fe", asn: 65000, port: 1179}
vips:
  - address: 10.0.0.10
    port: 80
    protocol: tcp
    bgp: {communities: ["65001:20"], med: 7, min_healthy_backends: 2}
    backends: [{address: 10.0.1.1}, {address: 10.0.1.2}]
)";

TEST(BgpConfigTest, ValidSectionParsesValidatesAndRoundTrips) {
  v1::Config c = parseOk(kBgp);
  ASSERT_TRUE(validateConfig(c).ok()) << validateConfig(c);
  EXPECT_EQ(c.bgp().local_asn(), 65001u);
  ASSERT_EQ(c.bgp().peers_size(), 2);
  EXPECT_EQ(c.bgp().peers(0).hold_time_s(), 3u);
  EXPECT_EQ(c.vips(0).bgp().min_healthy_backends(), 2u);
  auto again = parseConfigYaml(toYaml(c));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->SerializeAsString(), c.SerializeAsString());
}

TEST(BgpConfigTest, Defaults) {
  v1::Config c = parseOk(R"(
bgp: {local_asn: 65001, router_id: 10.0.0.1, peers: [{address: 10.0.0.254, asn: 65000}]}
vips: [{address: 10.0.0.10, port: 80, protocol: tcp, backends: [{address: 10.0.1.1}]}]
)");
  ASSERT_TRUE(validateConfig(c).ok()) << validateConfig(c);
  EXPECT_EQ(bgpPeerPort(c.bgp().peers(0)), 179u);
  EXPECT_EQ(bgpPeerHoldTime(c.bgp().peers(0)), 9u);
  EXPECT_EQ(bgpDrainWaitMs(c.bgp()), 5000u);
  EXPECT_EQ(bgpDrainMedPenalty(c.bgp()), 100u);
  EXPECT_EQ(bgpCheckIntervalMs(c.bgp()), 50u);
  EXPECT_EQ(bgpAnnounceDelayMs(c.bgp()), 1000u);
  EXPECT_TRUE(vipAnnounced(c.vips(0)));
  EXPECT_EQ(vipMinHealthyBackends(c.vips(0)), 1u);
}

TEST(BgpConfigTest, EveryErrorNamesFieldAndValueAllAtOnce) {
  const std::string msg = validateError(R"(
bgp:
  router_id: "fd00::1"
  communities: ["65536:1", "1:2", "1:2"]
  drain_wait_ms: 700000
  check_interval_ms: 5
  announce_delay_ms: 600001
  peers:
    - {address: 10.0.0.254, hold_time_s: 2, port: 70000}
    - {address: 10.0.0.254, asn: 65000}
    - {address: 224.0.0.1, asn: 65000}
vips:
  - address: 10.0.0.10
    port: 80
    protocol: tcp
    bgp: {communities: [oops], min_healthy_backends: 70000}
    backends: [{address: 10.0.1.1}]
)");
  EXPECT_THAT(msg, HasSubstr("bgp.local_asn: missing"));
  EXPECT_THAT(msg, HasSubstr("bgp.router_id: \"fd00::1\" is not an IPv4 address"));
  EXPECT_THAT(msg, HasSubstr("bgp.communities[0]: \"65536:1\" is not a BGP community"));
  EXPECT_THAT(msg, HasSubstr("bgp.communities[2]: \"1:2\" duplicates bgp.communities[1]"));
  EXPECT_THAT(msg, HasSubstr("bgp.drain_wait_ms: 700000 is not in [0, 600000]"));
  EXPECT_THAT(msg, HasSubstr("bgp.check_interval_ms: 5 is not in [10, 60000]"));
  EXPECT_THAT(msg, HasSubstr("bgp.announce_delay_ms: 600001 is not in [0, 600000]"));
  EXPECT_THAT(msg, HasSubstr("bgp.peers[0].asn: missing"));
  EXPECT_THAT(msg, HasSubstr("bgp.peers[0].hold_time_s: 2 is not 0"));
  EXPECT_THAT(msg, HasSubstr("bgp.peers[0].port: 70000 is not in [1, 65535]"));
  EXPECT_THAT(msg, HasSubstr("bgp.peers[1].address: \"10.0.0.254\" duplicates bgp.peers[0]"));
  EXPECT_THAT(msg, HasSubstr("bgp.peers[2].address: \"224.0.0.1\" is not a unicast address"));
  EXPECT_THAT(msg, HasSubstr("vips[0].bgp.communities[0]: \"oops\" is not a BGP community"));
  EXPECT_THAT(msg, HasSubstr("vips[0].bgp.min_healthy_backends: 70000 is not in [0, 65535]"));
}

TEST(BgpConfigTest, SingleVipRequestsCheckTheirBgpToo) {
  v1::Vip vip;
  vip.set_address("10.0.0.10");
  vip.set_port(80);
  vip.set_protocol(v1::PROTOCOL_TCP);
  vip.mutable_bgp()->add_communities("1:2:3");
  auto st = validateVip(vip, "vip");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("vip.bgp.communities[0]: \"1:2:3\""));
}

TEST(BgpConfigTest, Communities) {
  EXPECT_EQ(*parseCommunity("65535:0", "c"), kGracefulShutdownCommunity);
  EXPECT_EQ(*parseCommunity("graceful-shutdown", "c"), kGracefulShutdownCommunity);
  EXPECT_EQ(*parseCommunity("NO-EXPORT", "c"), 0xffffff01u);
  EXPECT_EQ(*parseCommunity("1:2", "c"), 0x00010002u);
  EXPECT_EQ(formatCommunity(0xfde90014u), "65001:20");
  for (const char* bad : {"", ":", "1:", ":2", "1:2:3", "-1:2", "65536:0", "a:b"}) {
    auto c = parseCommunity(bad, "x.c");
    EXPECT_FALSE(c.ok()) << bad;
    EXPECT_THAT(std::string(c.status().message()), HasSubstr("x.c: \""));
  }
}

}  // namespace
}  // namespace xlb::config
