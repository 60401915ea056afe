// SPDX-License-Identifier: Apache-2.0
// Golden tests for the config loader and validator: every rule with its exact error text.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "config/validate.h"
#include "config/yaml.h"
#include "config_helpers.h"
#include "xlb/abi.h"

namespace xlb::config {
namespace {

constexpr char kGood[] = R"(
vips:
  - name: web
    address: 10.0.0.10
    port: 80
    protocol: tcp
    forwarding: ipip
    algorithm: maglev
    maglev_table_size: 1021
    backends:
      - address: 10.0.1.1
        weight: 2
      - address: 2001:db8::1
  - address: 2001:DB8::10
    port: 53
    protocol: PROTOCOL_UDP
encap:
  source_v4_prefix: 172.20.0.0/16
)";

TEST(ConfigYamlTest, ParsesEveryFieldKind) {
  v1::Config c = parseOk(kGood);
  ASSERT_EQ(c.vips_size(), 2);
  const auto& web = c.vips(0);
  EXPECT_EQ(web.name(), "web");
  EXPECT_EQ(web.protocol(), v1::PROTOCOL_TCP);
  EXPECT_EQ(web.forwarding(), v1::FORWARDING_MODE_IPIP);
  EXPECT_EQ(web.algorithm(), v1::ALGORITHM_MAGLEV);
  EXPECT_EQ(web.maglev_table_size(), 1021u);
  ASSERT_EQ(web.backends_size(), 2);
  EXPECT_TRUE(web.backends(0).has_weight());
  EXPECT_EQ(web.backends(0).weight(), 2u);
  EXPECT_FALSE(web.backends(1).has_weight());
  EXPECT_EQ(c.vips(1).protocol(), v1::PROTOCOL_UDP);
  EXPECT_FALSE(c.vips(1).has_maglev_table_size());
  EXPECT_EQ(c.encap().source_v4_prefix(), "172.20.0.0/16");
  EXPECT_TRUE(validateConfig(c).ok()) << validateConfig(c);
}

TEST(ConfigYamlTest, EmptyDocumentIsAnEmptyConfig) {
  EXPECT_EQ(parseOk("").vips_size(), 0);
  EXPECT_EQ(parseOk("vips: []\n").vips_size(), 0);
}

TEST(ConfigYamlTest, TypeErrorsNameThePath) {
  EXPECT_EQ(parseError("vips:\n  - address: 10.0.0.1\n    backends:\n      - address: 10.0.1.1\n"
                       "        weight: abc\n"),
            "vips[0].backends[0].weight: \"abc\" is not an unsigned integer (line 5, column 17)");
  EXPECT_EQ(parseError("vips:\n  - port: -2\n"),
            "vips[0].port: -2 is not in [0, 65535] (line 2, column 11)");
  EXPECT_EQ(parseError("vips:\n  - backends:\n      - weight: -2\n"),
            "vips[0].backends[0].weight: -2 is not in [0, 65535] (line 3, column 17)");
  EXPECT_EQ(parseError("vips:\n  - protocol: sctp\n"),
            "vips[0].protocol: \"sctp\" is not one of tcp, udp (line 2, column 15)");
  EXPECT_EQ(parseError("vips:\n  - protocol: unspecified\n"),
            "vips[0].protocol: \"unspecified\" is not one of tcp, udp (line 2, column 15)");
  EXPECT_EQ(
      parseError("vips:\n  - forwarding: snat\n"),
      "vips[0].forwarding: \"snat\" is not one of dsr, ipip, nat, fullnat (line 2, column 17)");
  EXPECT_EQ(parseError("vips: 3\n"), "vips: expected a list (line 1, column 7)");
  EXPECT_EQ(parseError("vips:\n  - address: [1, 2]\n"),
            "vips[0].address: expected a string, got a list (line 2, column 14)");
  EXPECT_EQ(
      parseError("- a\n"),
      "config: expected a mapping with keys vips, encap, vlan_ids, snat_pool, bgp (line 1, "
      "column 1)");
}

TEST(ConfigYamlTest, UnknownFieldsAreErrorsAndAllAreReported) {
  EXPECT_EQ(parseError("vips:\n  - address: 10.0.0.1\n    bakends: []\nencp: {}\n"),
            "vips[0].bakends: unknown field (known: name, address, port, protocol, algorithm, "
            "forwarding, maglev_table_size, backends, source_hash_include_port, health_check, "
            "all_down_policy, snat_pool, nat_timeouts, bgp, dns, srv, allow_empty, discovery) "
            "(line 3, column 5)\n"
            "encp: unknown field (known: vips, encap, vlan_ids, snat_pool, bgp) (line 4, column "
            "1)");
}

TEST(ConfigYamlTest, SyntaxErrorsKeepLineAndColumn) {
  std::string err = parseError("vips:\n  - address: 10.0.0.1\n   port: [80\n");
  EXPECT_EQ(err.rfind("yaml: line ", 0), 0u) << err;
}

// The libyaml tree (config/yaml_tree.h) keeps yaml-cpp's semantics the parser relies on.
TEST(ConfigYamlTest, TreeSemantics) {
  // The syntax error's position, 1-based.
  EXPECT_EQ(parseError("vips:\n  - {address: 10.0.0.1\n"),
            "yaml: line 3, column 1: did not find expected ',' or '}' while parsing a flow mapping");
  // Plain null spellings and a missing value leave a field unset; a quoted "null" is a string.
  auto c = parseConfigYaml(
      "vips:\n  - {address: 10.0.0.1, port: 80, protocol: tcp, name: \"null\"}\n"
      "  - {address: 10.0.0.2, port: 80, protocol: tcp, name: ~, maglev_table_size: null}\n"
      "  - address: 10.0.0.3\n    name:\n");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->vips_size(), 3);
  EXPECT_EQ(c->vips(0).name(), "null");
  EXPECT_EQ(c->vips(1).name(), "");
  EXPECT_FALSE(c->vips(1).has_maglev_table_size());
  EXPECT_EQ(c->vips(2).name(), "");
  // Anchors and aliases: the alias is the anchored node.
  c = parseConfigYaml(
      "vips:\n  - address: 10.0.0.1\n    backends: &pool [{address: 10.0.1.1}, {address: "
      "10.0.1.2, weight: 3}]\n  - address: 10.0.0.2\n    backends: *pool\n");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->vips(1).backends_size(), 2);
  EXPECT_EQ(c->vips(1).backends(1).weight(), 3u);
  EXPECT_EQ(parseError("vips: *nowhere\n").rfind("yaml: line 1, column 7: ", 0), 0u)
      << parseError("vips: *nowhere\n");
  // Only the first document counts.
  c = parseConfigYaml("vlan_ids: [5]\n---\nvlan_ids: [6]\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->vlan_ids(0), 5u);
}

TEST(ConfigYamlTest, CaseInsensitiveEnumsAndNullValues) {
  v1::Config c = parseOk(
      "vips:\n  - protocol: TCP\n    forwarding: FORWARDING_MODE_DSR\n"
      "    maglev_table_size:\n");
  EXPECT_EQ(c.vips(0).protocol(), v1::PROTOCOL_TCP);
  EXPECT_EQ(c.vips(0).forwarding(), v1::FORWARDING_MODE_DSR);
  EXPECT_FALSE(c.vips(0).has_maglev_table_size());
}

TEST(ConfigYamlTest, RoundTripsThroughToYaml) {
  v1::Config c = normalize(parseOk(kGood));
  std::string yaml = toYaml(c);
  v1::Config back = parseOk(yaml);
  EXPECT_EQ(back.SerializeAsString(), c.SerializeAsString()) << yaml;
  EXPECT_NE(yaml.find("protocol: tcp"), std::string::npos) << yaml;
}

TEST(ConfigYamlTest, LoadFileErrorsNameTheFile) {
  auto missing = loadConfigFile("/nonexistent/xlb.yaml");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "/nonexistent/xlb.yaml: cannot open: No such file or directory");

  std::string path = testing::TempDir() + "/xlb-config-test.yaml";
  std::ofstream(path) << "vips:\n  - port: x\n";
  auto bad = loadConfigFile(path);
  EXPECT_EQ(bad.status().message(),
            path + ": vips[0].port: \"x\" is not an unsigned integer (line 2, column 11)");
  std::ofstream(path) << kGood;
  EXPECT_TRUE(loadConfigFile(path).ok());
  std::remove(path.c_str());
}

// ---- validation rules
// ----------------------------------------------------------------------------

TEST(ConfigValidateTest, Address) {
  EXPECT_EQ(validateError("vips:\n  - address: 10.0.0.300\n    protocol: tcp\n"),
            "vips[0].address: \"10.0.0.300\" is not an IPv4 or IPv6 address (e.g. 10.0.0.1 or "
            "2001:db8::1)");
  EXPECT_EQ(validateError("vips:\n  - protocol: tcp\n"),
            "vips[0].address: missing (e.g. 10.0.0.10 or 2001:db8::10)");
  EXPECT_EQ(validateError("vips:\n  - address: 224.0.0.1\n    protocol: tcp\n"),
            "vips[0].address: \"224.0.0.1\" is not a unicast address (a VIP cannot be "
            "unspecified, multicast or broadcast)");
  EXPECT_EQ(validateError("vips:\n  - address: '::'\n    protocol: tcp\n"),
            "vips[0].address: \"::\" is not a unicast address (a VIP cannot be unspecified, "
            "multicast or broadcast)");
}

// Addresses that parse and are unicast but can never carry a VIP's traffic (issue 10, part 4).
TEST(ConfigValidateTest, UnusableVipAndBackendAddresses) {
  EXPECT_EQ(validateError(R"(
vips:
  - address: 127.0.0.1
    protocol: tcp
  - address: "::1"
    protocol: tcp
  - address: 0.1.2.3
    protocol: tcp
  - address: 240.0.0.1
    protocol: tcp
  - address: 169.254.1.1
    protocol: tcp
  - address: "fe80::1"
    protocol: tcp
  - address: "::ffff:10.0.0.1"
    protocol: tcp
  - address: 10.0.0.10
    protocol: tcp
    backends:
      - {address: 127.0.0.2}
      - {address: 255.255.255.255}
      - {address: "ff02::1"}
      - {address: 10.0.0.10}
      - {address: 10.0.0.20}
      - {address: 10.0.1.1, health_check: {address: 169.254.0.1}}
      - {address: 10.0.1.2, health_check: {address: 127.0.0.1}}
  - address: 10.0.0.20
    protocol: udp
)"),
            "vips[0].address: \"127.0.0.1\" is a loopback address (127.0.0.0/8 never leaves a "
            "host: xlb would forward to itself; use the host's routable address): not usable as a "
            "VIP\n"
            "vips[1].address: \"::1\" is the loopback address (::1 never leaves a host: xlb would "
            "forward to itself; use the host's routable address): not usable as a VIP\n"
            "vips[2].address: \"0.1.2.3\" is in 0.0.0.0/8 (\"this network\": never a destination; "
            "use a unicast address such as 10.0.0.10): not usable as a VIP\n"
            "vips[3].address: \"240.0.0.1\" is in the reserved 240.0.0.0/4 (never a unicast "
            "destination): not usable as a VIP\n"
            "vips[4].address: \"169.254.1.1\" is link-local (169.254.0.0/16 needs an interface, "
            "which xlb addresses have no field for; use a routable address): not usable as a VIP\n"
            "vips[5].address: \"fe80::1\" is link-local (fe80::/10 needs an interface, which xlb "
            "addresses have no field for; use a global or unique-local address such as fd00::10): "
            "not usable as a VIP\n"
            "vips[6].address: \"::ffff:10.0.0.1\" is an IPv4-mapped IPv6 address (::ffff:0:0/96; "
            "write the IPv4 form 10.0.0.1): not usable as a VIP\n"
            "vips[7].backends[0].address: \"127.0.0.2\" is a loopback address (127.0.0.0/8 never "
            "leaves a host: xlb would forward to itself; use the host's routable address): not "
            "usable as a backend\n"
            "vips[7].backends[1].address: \"255.255.255.255\" is not a unicast address (a backend "
            "cannot be unspecified, multicast or broadcast)\n"
            "vips[7].backends[2].address: \"ff02::1\" is not a unicast address (a backend cannot "
            "be unspecified, multicast or broadcast)\n"
            "vips[7].backends[3].address: \"10.0.0.10\" is the VIP's own address (a forwarding "
            "loop: the balanced packets would come back to xlb; use the backend's own address)\n"
            "vips[7].backends[5].health_check.address: \"169.254.0.1\" is link-local "
            "(169.254.0.0/16 needs an interface, which xlb addresses have no field for; use a "
            "routable address): not usable as a health-check target\n"
            "vips[7].backends[4].address: \"10.0.0.20\" is the address of vips[8] (10.0.0.20:0/udp; xlb would "
            "balance the forwarded packets again instead of delivering them; use the backend's "
            "own address)");
  // Documentation and unique-local ranges stay usable, and a loopback health-check target (a
  // checker on the balancer host) is fine.
  auto st = validateConfig(parseOk(R"(
vips:
  - address: 192.0.2.10
    protocol: tcp
    backends:
      - {address: 10.0.1.1, health_check: {type: tcp, port: 80, address: 127.0.0.1}}
      - {address: "fd00::1"}
      - {address: 100.64.0.1}
)"));
  EXPECT_TRUE(st.ok()) << st;
}

// Lookups (delete, drain, weight) only need a unicast address: a VIP or backend persisted by an
// older agent can still be named and removed.
TEST(ConfigValidateTest, LookupsAcceptAnyUnicastAddress) {
  v1::VipKey key;
  key.set_address("127.0.0.1");
  key.set_port(80);
  key.set_protocol(v1::PROTOCOL_TCP);
  EXPECT_TRUE(validateVipKey(key, "vip").ok());
  EXPECT_TRUE(validateBackendAddress("::1", "address").ok());
  EXPECT_EQ(validateBackendAddress("ff02::1", "address").message(),
            "address: \"ff02::1\" is not a unicast address (a backend cannot be unspecified, "
            "multicast or broadcast)");
  v1::Backend b;
  b.set_address("::ffff:10.0.0.1");
  EXPECT_EQ(validateBackend(b, "backend").message(),
            "backend.address: \"::ffff:10.0.0.1\" is an IPv4-mapped IPv6 address (::ffff:0:0/96; "
            "write the IPv4 form 10.0.0.1): not usable as a backend");
}

TEST(ConfigValidateTest, VlanIds) {
  EXPECT_TRUE(validateConfig(parseOk("vlan_ids: [1, 100, 4094]\n")).ok());
  EXPECT_EQ(validateError("vlan_ids: [0, 100, 4095, 100]\n"),
            "vlan_ids[0]: 0 is not in [1, 4094] (a VLAN id is 1..4094 (0 and 4095 are reserved by "
            "802.1Q))\n"
            "vlan_ids[2]: 4095 is not in [1, 4094] (a VLAN id is 1..4094 (0 and 4095 are reserved "
            "by 802.1Q))\n"
            "vlan_ids[3]: 100 duplicates vlan_ids[1] (list each VLAN id once)");
  EXPECT_EQ(parseError("vlan_ids: 100\n").substr(0, 8), "vlan_ids");
  EXPECT_THAT(normalize(parseOk("vlan_ids: [300, 7]\n")).vlan_ids(), testing::ElementsAre(7, 300));
}

TEST(ConfigVlanFlagTest, ParsesIdsAndRanges) {
  auto ids = parseVlanIdList("100, 200-203,7", "--vlan-ids");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, (std::vector<uint32_t>{7, 100, 200, 201, 202, 203}));
  EXPECT_EQ(formatVlanIdList(*ids), "7,100,200-203");
  EXPECT_EQ(formatVlanIdList({}), "none");
  EXPECT_TRUE(parseVlanIdList("", "--vlan-ids")->empty());
  auto bad = parseVlanIdList("x,0,5-3,10-4095,20,18-22", "--vlan-ids");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            "--vlan-ids \"x\": is not a VLAN id or range (e.g. 100,200-205)\n"
            "--vlan-ids \"0\": is not within [1, 4094] as low-high (a VLAN id is 1..4094 (0 and "
            "4095 are reserved by 802.1Q))\n"
            "--vlan-ids \"5-3\": is not within [1, 4094] as low-high (a VLAN id is 1..4094 (0 and "
            "4095 are reserved by 802.1Q))\n"
            "--vlan-ids \"10-4095\": is not within [1, 4094] as low-high (a VLAN id is 1..4094 (0 "
            "and 4095 are reserved by 802.1Q))\n"
            "--vlan-ids \"18-22\": repeats VLAN id 20 (already in \"20\"; list each VLAN id once)");
}

TEST(ConfigValidateTest, PortAndProtocol) {
  EXPECT_EQ(validateError("vips:\n  - address: 10.0.0.1\n    port: 70000\n    protocol: udp\n"),
            "vips[0].port: 70000 is not in [0, 65535]");
  EXPECT_EQ(validateError("vips:\n  - address: 10.0.0.1\n    port: 80\n"),
            "vips[0].protocol: missing (tcp or udp)");
  v1::Config c;
  auto* vip = c.add_vips();
  vip->set_address("10.0.0.1");
  vip->set_protocol(static_cast<v1::Protocol>(7));
  vip->set_forwarding(static_cast<v1::ForwardingMode>(9));
  vip->set_algorithm(static_cast<v1::Algorithm>(6));
  EXPECT_EQ(
      validateConfig(c).message(),
      "vips[0].protocol: 7 is not a known protocol (tcp or udp)\n"
      "vips[0].algorithm: 6 is not a known algorithm (maglev, source_hash, round_robin, random "
      "or least_conn)\n"
      "vips[0].forwarding: 9 is not a known forwarding mode (dsr, ipip, nat or fullnat)");
}

TEST(ConfigValidateTest, Name) {
  EXPECT_EQ(validateError("vips:\n  - name: my web\n    address: 10.0.0.1\n    protocol: tcp\n"),
            "vips[0].name: \"my web\" must be 1-63 characters of A-Z a-z 0-9 . _ -");
}

TEST(ConfigValidateTest, DuplicateKeysAndNames) {
  EXPECT_EQ(validateError(R"(
vips:
  - {name: a, address: 10.0.0.1, port: 80, protocol: tcp}
  - {name: a, address: 10.0.0.1, port: 80, protocol: udp}
  - {name: b, address: 10.0.0.01, port: 80, protocol: tcp}
  - {address: 2001:db8::1, port: 80, protocol: tcp}
  - {address: "2001:DB8:0::1", port: 80, protocol: tcp}
)"),
            "vips[1].name: \"a\" is already used by vips[0] (names must be unique)\n"
            "vips[2].address: \"10.0.0.01\" is not an IPv4 or IPv6 address (e.g. 10.0.0.1 or "
            "2001:db8::1)\n"
            "vips[4]: [2001:db8::1]:80/tcp is already defined by vips[3] (a VIP is identified by "
            "address, port and protocol)");
}

TEST(ConfigValidateTest, Backends) {
  EXPECT_EQ(validateError(R"(
vips:
  - address: 10.0.0.1
    protocol: tcp
    backends:
      - {address: 10.0.1.1, weight: 70000}
      - {address: 10.0.1.x}
      - {address: 10.0.1.1}
      - {address: 0.0.0.0}
      - {}
)"),
            "vips[0].backends[0].weight: 70000 is not in [0, 65535]\n"
            "vips[0].backends[1].address: \"10.0.1.x\" is not an IPv4 or IPv6 address (e.g. "
            "10.0.0.1 or 2001:db8::1)\n"
            "vips[0].backends[2].address: \"10.0.1.1\" duplicates vips[0].backends[0] (each "
            "backend once per VIP)\n"
            "vips[0].backends[3].address: \"0.0.0.0\" is not a unicast address (a backend cannot "
            "be unspecified, multicast or broadcast)\n"
            "vips[0].backends[4].address: missing (e.g. 10.0.0.10 or 2001:db8::10)");
}

TEST(ConfigValidateTest, AnyFamilyMixIsAllowed) {
  auto st = validateConfig(parseOk(R"(
vips:
  - {address: 10.0.0.1, protocol: tcp, forwarding: ipip, backends: [{address: "2001:db8::1"}, {address: 10.0.1.1}]}
  - {address: "2001:db8::10", protocol: tcp, forwarding: dsr, backends: [{address: 10.0.1.1}]}
)"));
  EXPECT_TRUE(st.ok()) << st;
}

TEST(ConfigValidateTest, MaglevTableSize) {
  EXPECT_EQ(
      validateError("vips:\n  - {address: 10.0.0.1, protocol: tcp, maglev_table_size: 65536}\n"),
      "vips[0].maglev_table_size: 65536 is not a prime (e.g. 1021, 4099, 65537, 131071, "
      "1000003)");
  EXPECT_EQ(
      validateError("vips:\n  - {address: 10.0.0.1, protocol: tcp, maglev_table_size: 101}\n"),
      "vips[0].maglev_table_size: 101 is not in [1021, 1000003]");
  EXPECT_EQ(
      validateError("vips:\n  - {address: 10.0.0.1, protocol: tcp, maglev_table_size: 1000033}\n"),
      "vips[0].maglev_table_size: 1000033 is not in [1021, 1000003]");
  std::string yaml =
      "vips:\n  - {address: 10.0.0.1, protocol: tcp, maglev_table_size: 1021, backends: [";
  for (int i = 0; i < 103; ++i) yaml += "{address: 10.0.1." + std::to_string(i + 1) + "},";
  yaml += "]}\n";
  EXPECT_EQ(validateError(yaml),
            "vips[0].maglev_table_size: 1021 is too small for 103 backends (use a prime >= 10 x "
            "backends = 1030, e.g. 131071) for an even spread");
}

TEST(ConfigValidateTest, AutomaticTableSizeFitsManyBackends) {
  v1::Config c;
  auto* vip = c.add_vips();
  vip->set_address("10.0.0.1");
  vip->set_protocol(v1::PROTOCOL_TCP);
  for (int i = 0; i < 6600; ++i) {
    vip->add_backends()->set_address("10." + std::to_string(i / 250 + 1) + ".0." +
                                     std::to_string(i % 250 + 1));
  }
  // Unset: the agent picks a size from the backend count, so no size has to be written.
  EXPECT_TRUE(validateConfig(c).ok()) << validateConfig(c);
  // An explicit size is still checked against the count.
  vip->set_maglev_table_size(65537);
  EXPECT_EQ(validateConfig(c).message(),
            "vips[0].maglev_table_size: 65537 is too small for 6600 backends (use a prime >= 10 x "
            "backends = 66000, e.g. 131071) for an even spread");
}

TEST(ConfigValidateTest, EncapPrefixes) {
  EXPECT_EQ(
      validateError("encap:\n  source_v4_prefix: 16.0.0.0/4\n  source_v6_prefix: fd00::/48\n"),
      "encap.source_v4_prefix: \"16.0.0.0/4\": prefix length 4 is not in [8, 32] (e.g. "
      "172.16.0.0/16)\n"
      "encap.source_v6_prefix: \"fd00::/48\": prefix length 48 is not in [64, 128] (e.g. "
      "fd00:7862::/64)");
  EXPECT_EQ(validateError("encap:\n  source_v4_prefix: fd00::/64\n"),
            "encap.source_v4_prefix: \"fd00::/64\" is not an IPv4 prefix (e.g. 172.16.0.0/16)");
  EXPECT_EQ(validateError("encap:\n  source_v4_prefix: 10.0.0.1/16\n"),
            "encap.source_v4_prefix: \"10.0.0.1/16\": host bits are set (did you mean "
            "10.0.0.1/16 with host bits cleared?)");
}

TEST(ConfigValidateTest, LimitsAreResourceExhausted) {
  v1::Config c;
  for (int i = 0; i < XLB_MAX_VIPS + 1; ++i) {
    auto* vip = c.add_vips();
    vip->set_address("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1));
    vip->set_port(80);
    vip->set_protocol(v1::PROTOCOL_TCP);
  }
  auto st = validateConfig(c);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(std::string(st.message()),
            "vips: 1025 VIPs exceed the data-plane limit of 1024 (xlb-agent --max-vips, at most "
            "65536)");
  // The limit is the loaded data plane's: a larger one accepts the same config, a smaller one
  // names its own figure and the total-backends rule follows it too.
  EXPECT_TRUE(validateConfig(c, Capacity{2048, 16384}).ok());
  for (int i = 0; i < 20; ++i) c.mutable_vips(i)->add_backends()->set_address("10.9.0." + std::to_string(i + 1));
  st = validateConfig(c, Capacity{2048, 16});
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(std::string(st.message()),
            "vips[*].backends: 20 backends in total exceed the data-plane limit of 16 (each VIP "
            "membership uses one; xlb-agent --max-backends, at most 1048576)");
}

TEST(ConfigValidateTest, AllErrorsAtOnceInvalidWinsOverExhausted) {
  v1::Config c;
  for (int i = 0; i < XLB_MAX_VIPS + 1; ++i) {
    auto* vip = c.add_vips();
    vip->set_address("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1));
    vip->set_protocol(v1::PROTOCOL_TCP);
  }
  c.mutable_vips(3)->set_port(70000);
  auto st = validateConfig(c);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(st.message()),
            "vips[3].port: 70000 is not in [0, 65535]\n"
            "vips: 1025 VIPs exceed the data-plane limit of 1024 (xlb-agent --max-vips, at "
            "most 65536)");
}

TEST(ConfigValidateTest, PiecesUseTheGivenPath) {
  v1::Vip vip;
  vip.set_address("10.0.0.1");
  vip.set_port(70000);
  vip.set_protocol(v1::PROTOCOL_TCP);
  EXPECT_EQ(validateVip(vip, "vip").message(), "vip.port: 70000 is not in [0, 65535]");
  v1::Backend b;
  b.set_address("nope");
  b.set_weight(1);
  EXPECT_EQ(validateBackend(b, "backend").message(),
            "backend.address: \"nope\" is not an IPv4 or IPv6 address (e.g. 10.0.0.1 or "
            "2001:db8::1)");
  v1::VipKey key;
  key.set_address("10.0.0.1");
  EXPECT_EQ(validateVipKey(key, "vip").message(), "vip.protocol: missing (tcp or udp)");
  EXPECT_EQ(validateWeight(65536, "weight").message(), "weight: 65536 is not in [0, 65535]");
  EXPECT_TRUE(validateWeight(0, "weight").ok());
}

TEST(ConfigNormalizeTest, FillsDefaultsAndCanonicalises) {
  v1::Config c =
      normalize(parseOk("vips:\n  - {address: \"2001:DB8:0::10\", protocol: tcp, backends: "
                        "[{address: 10.0.1.1}]}\n"));
  const auto& vip = c.vips(0);
  EXPECT_EQ(vip.address(), "2001:db8::10");
  EXPECT_EQ(vip.algorithm(), v1::ALGORITHM_MAGLEV);
  EXPECT_EQ(vip.forwarding(), v1::FORWARDING_MODE_DSR);
  EXPECT_FALSE(vip.has_maglev_table_size());  // unset = sized from the backend count
  EXPECT_EQ(vip.backends(0).weight(), 1u);
  EXPECT_EQ(c.encap().source_v4_prefix(), "172.16.0.0/16");
  EXPECT_EQ(c.encap().source_v6_prefix(), "fd00:7862::/64");
  // Idempotent.
  EXPECT_EQ(normalize(c).SerializeAsString(), c.SerializeAsString());
}

// ---- issue 3: algorithms, health checks, backend state, all-down policy ----

constexpr char kVipHead[] = "vips:\n  - address: 10.0.0.10\n    port: 80\n    protocol: tcp\n";

TEST(ConfigHealthTest, ValidChecksPass) {
  absl::Status st = validateConfig(parseOk(std::string(kVipHead) + R"(    algorithm: least_conn
    all_down_policy: drop
    health_check:
      type: http
      interval_ms: 200
      timeout_ms: 100
      http: {path: /healthz, expected_statuses: [{low: 200, high: 204}], body_contains: ok}
    backends:
      - {address: 10.0.1.1, state: draining}
      - address: 10.0.1.2
        health_check: {type: grpc, port: 9090, grpc: {service: web}}
      - address: 10.0.1.3
        health_check: {type: tcp, address: 192.168.1.3, port: 22}
)"));
  EXPECT_TRUE(st.ok()) << st;
}

TEST(ConfigHealthTest, GoldenErrors) {
  EXPECT_EQ(validateError(std::string(kVipHead) +
                          "    health_check: {type: tcp, interval_ms: 1000, timeout_ms: 2000}\n"),
            "vips[0].health_check.timeout_ms: 2000 must not exceed interval_ms (1000)");
  EXPECT_EQ(
      validateError(std::string(kVipHead) + "    health_check: {type: tcp, timeout_ms: 1500}\n"),
      "vips[0].health_check.timeout_ms: 1500 must not exceed interval_ms (1000)");
  EXPECT_EQ(
      validateError(std::string(kVipHead) +
                    "    health_check:\n      type: http\n      http: {path: healthz, method: get, "
                    "expected_statuses: [{low: 99, high: 200}, {low: 500, high: 400}, "
                    "{low: 200, high: 600}]}\n"),
      "vips[0].health_check.http.method: \"get\" is not an HTTP method (e.g. GET, HEAD)\n"
      "vips[0].health_check.http.path: \"healthz\" must start with '/' (e.g. /healthz)\n"
      "vips[0].health_check.http.expected_statuses[0].low: 99 is not in [100, 599]\n"
      "vips[0].health_check.http.expected_statuses[1]: low 500 is greater than high 400 (a range "
      "is low..high, e.g. {low: 200, high: 299})\n"
      "vips[0].health_check.http.expected_statuses[2].high: 600 is not in [100, 599]");
  EXPECT_EQ(validateError(std::string(kVipHead) +
                          "    health_check: {type: tcp, http: {path: /}, grpc: {service: x}}\n"),
            "vips[0].health_check.http: only allowed with type http (type is tcp)\n"
            "vips[0].health_check.grpc: only allowed with type grpc (type is tcp)");
  EXPECT_EQ(validateError(std::string(kVipHead) +
                          "    health_check: {type: tcp, interval_ms: 5, rise: 0, fall: 101, "
                          "jitter_percent: 51, address: 224.0.0.1}\n"),
            "vips[0].health_check.interval_ms: 5 is not in [10, 3600000]\n"
            "vips[0].health_check.rise: 0 is not in [1, 100]\n"
            "vips[0].health_check.fall: 101 is not in [1, 100]\n"
            "vips[0].health_check.jitter_percent: 51 is not in [0, 50]\n"
            "vips[0].health_check.address: \"224.0.0.1\" is not a unicast address (a health-check "
            "target cannot be unspecified, multicast or broadcast)");
  // A port-0 VIP: the check needs its own port; reported once where it is inherited from.
  EXPECT_EQ(validateError("vips:\n  - address: 10.0.0.10\n    protocol: tcp\n    health_check: "
                          "{type: tcp}\n    backends: [{address: 10.0.1.1}, {address: 10.0.1.2, "
                          "health_check: {port: 81}}]\n"),
            "vips[0].health_check.port: missing: the VIP serves every port (port 0), so a health "
            "check needs a port (e.g. port: 80)");
  EXPECT_EQ(validateError("vips:\n  - address: 10.0.0.10\n    protocol: tcp\n    backends: "
                          "[{address: 10.0.1.1, health_check: {type: http}}]\n"),
            "vips[0].backends[0].health_check.port: missing: the VIP serves every port (port 0), "
            "so a health check needs a port (e.g. port: 80)");
  // An override is checked against the type it ends up with.
  EXPECT_EQ(validateError(std::string(kVipHead) +
                          "    health_check: {type: http}\n    backends:\n      - address: "
                          "10.0.1.1\n        health_check: {type: tcp, http: {path: /x}}\n"),
            "vips[0].backends[0].health_check.http: only allowed with type http (type is tcp)");
}

TEST(ConfigHealthTest, StatePolicyAndSourceHashPort) {
  v1::Config c = parseOk(std::string(kVipHead) + "    source_hash_include_port: true\n");
  c.mutable_vips(0)->add_backends()->set_address("10.0.1.1");
  c.mutable_vips(0)->mutable_backends(0)->set_state(static_cast<v1::BackendState>(7));
  c.mutable_vips(0)->set_all_down_policy(static_cast<v1::AllDownPolicy>(9));
  EXPECT_EQ(validateConfig(c).message(),
            "vips[0].source_hash_include_port: only applies to algorithm source_hash (algorithm "
            "is maglev)\n"
            "vips[0].all_down_policy: 9 is not a known policy (keep_last_healthy or drop)\n"
            "vips[0].backends[0].state: 7 is not a known state (active or draining)");
  c.mutable_vips(0)->set_algorithm(v1::ALGORITHM_SOURCE_HASH);
  c.mutable_vips(0)->set_all_down_policy(v1::ALL_DOWN_POLICY_DROP);
  c.mutable_vips(0)->mutable_backends(0)->set_state(v1::BACKEND_STATE_DRAINING);
  EXPECT_TRUE(validateConfig(c).ok());
  // YAML spelling errors name the choices.
  EXPECT_EQ(parseError(std::string(kVipHead) + "    algorithm: wrr\n"),
            "vips[0].algorithm: \"wrr\" is not one of maglev, source_hash, round_robin, random, "
            "least_conn (line 5, column 16)");
  EXPECT_EQ(parseError(std::string(kVipHead) + "    health_check: {timeout_ms: -1}\n"),
            "vips[0].health_check.timeout_ms: -1 is not in [1, 3600000] (line 5, column 32)");
}

TEST(ConfigHealthTest, NormalizeFillsHealthDefaults) {
  v1::Config c =
      normalize(parseOk(std::string(kVipHead) + "    health_check: {type: http, interval_ms: 300}\n"
                                                "    backends:\n      - address: 10.0.1.1\n"
                                                "        health_check: {interval_ms: 100}\n"));
  const v1::Vip& vip = c.vips(0);
  EXPECT_EQ(vip.all_down_policy(), v1::ALL_DOWN_POLICY_KEEP_LAST_HEALTHY);
  EXPECT_EQ(vip.backends(0).state(), v1::BACKEND_STATE_ACTIVE);
  const v1::HealthCheck& hc = vip.health_check();
  EXPECT_EQ(hc.interval_ms(), 300u);
  EXPECT_EQ(hc.timeout_ms(), 300u);  // default 500, capped at the interval
  EXPECT_EQ(hc.rise(), 2u);
  EXPECT_EQ(hc.fall(), 2u);
  EXPECT_EQ(hc.jitter_percent(), 10u);
  EXPECT_EQ(hc.http().method(), "GET");
  EXPECT_EQ(hc.http().path(), "/");
  ASSERT_EQ(hc.http().expected_statuses_size(), 1);
  EXPECT_EQ(hc.http().expected_statuses(0).low(), 200u);
  EXPECT_EQ(hc.http().expected_statuses(0).high(), 399u);
  // The override stays as written; the effective check merges it and follows its interval.
  EXPECT_FALSE(vip.backends(0).health_check().has_timeout_ms());
  v1::HealthCheck eff = effectiveHealthCheck(vip, vip.backends(0));
  EXPECT_EQ(eff.type(), v1::HEALTH_CHECK_TYPE_HTTP);
  EXPECT_EQ(eff.interval_ms(), 100u);
  EXPECT_EQ(eff.timeout_ms(), 100u);
  EXPECT_EQ(eff.http().path(), "/");
  // No check anywhere: type none. Idempotent.
  v1::Backend bare;
  bare.set_address("10.0.1.9");
  EXPECT_EQ(effectiveHealthCheck(v1::Vip{}, bare).type(), v1::HEALTH_CHECK_TYPE_NONE);
  EXPECT_EQ(normalize(c).SerializeAsString(), c.SerializeAsString());
}

TEST(ConfigKeyTest, Formatting) {
  auto k = vipKeyOf(
      normalize(parseOk("vips:\n  - {address: \"2001:db8::1\", port: 443, protocol: udp}\n"))
          .vips(0));
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->toString(), "[2001:db8::1]:443/udp");
}

}  // namespace
}  // namespace xlb::config
