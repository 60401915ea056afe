// SPDX-License-Identifier: Apache-2.0
// Config parsing and validation of the NAT part (issue 11): backend ports, nat / fullnat, SNAT pools,
// NAT timeouts. The rest of the config is in config_test.cc.

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

// ---- NAT (issue 11): backend ports, nat / fullnat, SNAT pools, NAT timeouts
// ----------------------

constexpr char kNat[] = R"(
snat_pool: {addresses: [192.0.2.250, "2001:db8:ff::250"]}
vips:
  - address: 10.0.0.10
    port: 80
    protocol: tcp
    forwarding: nat
    nat_timeouts: {syn_s: 30, udp_s: 120}
    backends:
      - {address: 10.0.1.1, port: 8080}
      - {address: 10.0.1.1, port: 8081}
      - {address: 10.0.1.2}
  - address: "2001:db8::10"
    port: 443
    protocol: tcp
    forwarding: fullnat
    snat_pool: {addresses: ["2001:DB8:FF::251"], port_min: 40000, port_max: 49999}
    backends: [{address: "2001:db8:1::1", port: 8443}]
  - {address: 10.0.0.11, port: 0, protocol: udp, forwarding: fullnat, backends: [{address: 10.0.1.3}]}
  - {address: 10.0.0.12, port: 53, protocol: udp, backends: [{address: 10.0.1.4, port: 53}]}
)";

TEST(ConfigNatTest, ValidNatConfigParsesValidatesAndRoundTrips) {
  v1::Config c = parseOk(kNat);
  ASSERT_EQ(c.vips_size(), 4);
  EXPECT_EQ(c.vips(0).forwarding(), v1::FORWARDING_MODE_NAT);
  EXPECT_EQ(c.vips(1).forwarding(), v1::FORWARDING_MODE_FULLNAT);
  EXPECT_EQ(c.vips(0).backends(1).port(), 8081u);
  EXPECT_TRUE(c.vips(0).nat_timeouts().has_syn_s());
  EXPECT_FALSE(c.vips(0).nat_timeouts().has_established_s());
  EXPECT_EQ(c.vips(1).snat_pool().port_min(), 40000u);
  EXPECT_TRUE(validateConfig(c).ok()) << validateConfig(c);

  v1::Config n = normalize(c);
  EXPECT_EQ(n.snat_pool().port_min(), uint32_t{XLB_NAT_DEFAULT_PORT_MIN});
  EXPECT_EQ(n.snat_pool().port_max(), uint32_t{XLB_NAT_DEFAULT_PORT_MAX});
  EXPECT_EQ(n.vips(1).snat_pool().addresses(0), "2001:db8:ff::251");
  EXPECT_EQ(n.vips(0).nat_timeouts().syn_s(), 30u);
  EXPECT_EQ(n.vips(0).nat_timeouts().established_s(), kDefaultNatEstablishedS);
  EXPECT_EQ(n.vips(0).nat_timeouts().closing_s(), kDefaultNatClosingS);
  EXPECT_EQ(n.vips(0).nat_timeouts().udp_s(), 120u);
  EXPECT_FALSE(n.vips(3).has_nat_timeouts());  // dsr: nothing filled in
  EXPECT_EQ(effectiveSnatPool(n, n.vips(2)).addresses(0), "192.0.2.250");
  EXPECT_EQ(effectiveSnatPool(n, n.vips(1)).addresses_size(), 1);
  EXPECT_EQ(effectiveSnatPool(n, n.vips(0)).addresses_size(), 2);  // not fullnat: not checked

  // GetConfig's output applies again unchanged.
  std::string yaml = toYaml(n);
  v1::Config back = parseOk(yaml);
  EXPECT_EQ(back.SerializeAsString(), n.SerializeAsString()) << yaml;
  EXPECT_TRUE(validateConfig(back).ok()) << validateConfig(back);
  EXPECT_EQ(normalize(back).SerializeAsString(), n.SerializeAsString());
  EXPECT_NE(yaml.find("forwarding: fullnat"), std::string::npos) << yaml;
}

TEST(ConfigNatTest, YamlTypeErrors) {
  EXPECT_EQ(parseError("vips:\n  - backends:\n      - port: -1\n"),
            "vips[0].backends[0].port: -1 is not in [0, 65535] (line 3, column 15)");
  EXPECT_EQ(parseError("snat_pool: {addresses: 10.0.0.1, port_min: x}\n"),
            "snat_pool.addresses: expected a list (line 1, column 24)\n"
            "snat_pool.port_min: \"x\" is not an unsigned integer (line 1, column 44)");
  EXPECT_EQ(parseError("vips:\n  - nat_timeouts: {syn: 5, udp_s: -3}\n"),
            "vips[0].nat_timeouts.syn: unknown field (known: syn_s, established_s, closing_s, "
            "udp_s) (line 2, column 20)\n"
            "vips[0].nat_timeouts.udp_s: -3 is not in [1, 2592000] (line 2, column 35)");
  EXPECT_EQ(parseError("snat_pool: {addrs: []}\n"),
            "snat_pool.addrs: unknown field (known: addresses, port_min, port_max) (line 1, "
            "column 13)");
}

TEST(ConfigNatTest, BackendPortsAndModes) {
  EXPECT_EQ(validateError(R"(
vips:
  - address: 10.0.0.10
    port: 80
    protocol: tcp
    backends:
      - {address: 10.0.1.1, port: 80}
      - {address: 10.0.1.2, port: 8080}
      - {address: 10.0.1.3, port: 70000}
  - address: 10.0.0.11
    protocol: tcp
    forwarding: nat
    backends: [{address: 10.0.1.1, port: 8080}, {address: 10.0.1.2}]
  - {address: 10.0.0.12, port: 0, protocol: udp, forwarding: ipip, backends: [{address: 10.0.1.1, port: 53}]}
)"),
            "vips[0].backends[2].port: 70000 is not in [0, 65535]\n"
            "vips[0].backends[1].port: 8080 is not the VIP's port 80: a port of its own needs "
            "forwarding nat or fullnat: dsr and ipip deliver the client's packet unchanged "
            "(forwarding is dsr; remove the port, or set forwarding: nat or fullnat)\n"
            "vips[1].backends[0].port: 8080: the VIP serves every port (port 0) and keeps each "
            "packet's destination port, so its backends have port 0 (remove the port, or give "
            "the VIP a port to translate from)\n"
            "vips[2].backends[0].port: 53: the VIP serves every port (port 0) and keeps each "
            "packet's destination port, so its backends have port 0 (remove the port, or give "
            "the VIP a port to translate from)");
}

TEST(ConfigNatTest, DuplicatesAreAddressAndEffectivePort) {
  EXPECT_EQ(validateError(R"(
vips:
  - address: 10.0.0.10
    port: 80
    protocol: tcp
    forwarding: nat
    backends:
      - {address: 10.0.1.1}
      - {address: 10.0.1.1, port: 8080}
      - {address: 10.0.1.1, port: 80}
      - {address: "2001:db8::1", port: 8080}
      - {address: 10.0.1.1, port: 8080}
)"),
            "vips[0].backends[2]: 10.0.1.1:80 duplicates vips[0].backends[0] (a backend is an "
            "address and a port, port 0 meaning the VIP's port 80; list each pair once)\n"
            "vips[0].backends[4]: 10.0.1.1:8080 duplicates vips[0].backends[1] (a backend is an "
            "address and a port, port 0 meaning the VIP's port 80; list each pair once)\n"
            "vips[0].backends[3].address: \"2001:db8::1\" is IPv6 but the VIP is IPv4: nat "
            "translates addresses within one family (NAT46 is not supported; use an IPv4 "
            "backend, or forwarding ipip)");
}

TEST(ConfigNatTest, FullnatNeedsAPoolOfItsFamily) {
  EXPECT_EQ(validateError(R"(
vips:
  - {address: 10.0.0.10, port: 80, protocol: tcp, forwarding: fullnat}
  - {address: "2001:db8::10", port: 80, protocol: tcp, forwarding: fullnat,
     snat_pool: {addresses: [192.0.2.1]}}
  - {address: 10.0.0.11, port: 80, protocol: tcp, forwarding: fullnat, snat_pool: {port_min: 1000, port_max: 2000}}
)"),
            "vips[2].snat_pool.addresses: missing (a VIP's snat_pool needs its own addresses; to "
            "use the config's snat_pool, remove this one; e.g. snat_pool: {addresses: "
            "[10.0.0.250, \"fd00::250\"]})\n"
            "vips[0].snat_pool: missing: forwarding fullnat needs a SNAT pool with an IPv4 address "
            "(set this VIP's snat_pool or the top-level snat_pool, e.g. snat_pool: {addresses: "
            "[10.0.0.250, \"fd00::250\"]})\n"
            "vips[1].snat_pool.addresses: no IPv6 address for this IPv6 fullnat VIP (its own "
            "snat_pool replaces the config's; add an IPv6 address local to the balancer host)");
  // The config's pool serves, but only with an address of the VIP's family.
  EXPECT_THAT(validateError("snat_pool: {addresses: [192.0.2.1]}\nvips:\n"
                            "  - {address: \"2001:db8::10\", port: 80, protocol: tcp, "
                            "forwarding: fullnat}\n"),
              testing::HasSubstr("vips[0].snat_pool: missing: forwarding fullnat needs a SNAT "
                                 "pool with an IPv6 address (the config's snat_pool has none;"));
  EXPECT_TRUE(validateConfig(parseOk("snat_pool: {addresses: [192.0.2.1]}\nvips:\n"
                                     "  - {address: 10.0.0.10, port: 80, protocol: tcp, "
                                     "forwarding: fullnat}\n"))
                  .ok());
}

TEST(ConfigNatTest, PoolAddressesAndPorts) {
  std::string yaml =
      "snat_pool:\n  addresses: [127.0.0.1, 224.0.0.1, x, 10.0.0.10, 10.0.1.1, "
      "192.0.2.1, 192.0.2.1";
  for (int i = 2; i <= 9; ++i) yaml += absl::StrCat(", 192.0.2.", i);
  yaml += R"(]
  port_min: 2000
  port_max: 1000
vips:
  - address: 10.0.0.10
    port: 80
    protocol: tcp
    forwarding: fullnat
    snat_pool: {addresses: [169.254.0.1], port_max: 5000}
    backends: [{address: 10.0.1.1}]
)";
  std::string err = validateError(yaml);
  EXPECT_EQ(err,
            "vips[0].snat_pool.addresses[0]: \"169.254.0.1\" is link-local (169.254.0.0/16 needs "
            "an interface, which xlb addresses have no field for; use a routable address): not "
            "usable as a SNAT pool address\n"
            "vips[0].snat_pool.port_min: missing while port_max is 5000 (set both (1 <= port_min "
            "<= port_max <= 65535) or neither (the default 61000-65535))\n"
            "snat_pool.addresses[0]: \"127.0.0.1\" is a loopback address (127.0.0.0/8 never "
            "leaves a host: xlb would forward to itself; use the host's routable address): not "
            "usable as a SNAT pool address\n"
            "snat_pool.addresses[1]: \"224.0.0.1\" is not a unicast address (a SNAT pool address "
            "cannot be unspecified, multicast or broadcast)\n"
            "snat_pool.addresses[2]: \"x\" is not an IPv4 or IPv6 address (e.g. 10.0.0.1 or "
            "2001:db8::1)\n"
            "snat_pool.addresses[6]: \"192.0.2.1\" duplicates snat_pool.addresses[5] (list each "
            "address once)\n"
            "snat_pool.addresses: 11 IPv4 addresses exceed the data-plane limit of 8 per family "
            "(each address adds a port range's worth of connections per backend)\n"
            "snat_pool.port_min: 2000 is greater than port_max 1000 (the range is "
            "port_min..port_max, inclusive)\n"
            "snat_pool.addresses[3]: \"10.0.0.10\" is the address of vips[0] (10.0.0.10:80/tcp): "
            "a pool address must be the balancer's own, never a VIP (replies to it would be "
            "balanced as new connections)\n"
            "snat_pool.addresses[4]: \"10.0.1.1\" is the address of vips[0].backends[0]: a pool "
            "address must be the balancer's own, never a backend's (the backend would receive "
            "connections from itself)");
}

TEST(ConfigNatTest, FieldsTheModeCannotUse) {
  EXPECT_EQ(validateError(R"(
vips:
  - address: 10.0.0.10
    port: 80
    protocol: tcp
    forwarding: nat
    snat_pool: {addresses: [192.0.2.1]}
    nat_timeouts: {syn_s: 0, established_s: 2592001, closing_s: 1, udp_s: 2592000}
  - address: 10.0.0.11
    port: 80
    protocol: tcp
    nat_timeouts: {}
)"),
            "vips[0].snat_pool: only applies to forwarding fullnat (forwarding is nat; remove it, "
            "or set forwarding: fullnat)\n"
            "vips[0].nat_timeouts.syn_s: 0 is not in [1, 2592000] (seconds, at most 30 days; "
            "leave it unset for the default 60)\n"
            "vips[0].nat_timeouts.established_s: 2592001 is not in [1, 2592000] (seconds, at "
            "most 30 days; leave it unset for the default 21600)\n"
            "vips[1].nat_timeouts: only applies to forwarding nat or fullnat (forwarding is dsr; "
            "remove it)");
}

// The RPC pieces use the same rules: a lone backend's port range; a VIP's own NAT rules (the
// config-wide ones, the pool of a fullnat VIP, run when State applies the whole config).
TEST(ConfigNatTest, PiecesAndMutations) {
  v1::Backend b;
  b.set_address("10.0.1.1");
  b.set_port(65536);
  EXPECT_EQ(validateBackend(b, "backend").message(), "backend.port: 65536 is not in [0, 65535]");
  v1::Config base = parseOk(kNat);
  v1::Vip vip = base.vips(0);
  vip.set_forwarding(v1::FORWARDING_MODE_IPIP);
  EXPECT_EQ(validateVip(vip, "vip").code(), absl::StatusCode::kInvalidArgument);
  vip.set_forwarding(v1::FORWARDING_MODE_FULLNAT);
  EXPECT_TRUE(validateVip(vip, "vip").ok()) << validateVip(vip, "vip");

  // Each mutation of the valid NAT config breaks exactly the rule it names.
  struct Mutation {
    const char* what;
    std::function<void(v1::Config&)> apply;
    const char* path;
  };
  const std::vector<Mutation> mutations = {
      {"dsr port", [](v1::Config& c) { c.mutable_vips(3)->mutable_backends(0)->set_port(5353); },
       "vips[3].backends[0].port: 5353 is not the VIP's port 53: a port of its own needs "
       "forwarding nat or fullnat"},
      {"no pool", [](v1::Config& c) { c.clear_snat_pool(); }, "vips[2].snat_pool: missing"},
      {"pool on a VIP", [](v1::Config& c) { c.mutable_snat_pool()->add_addresses("10.0.0.12"); },
       "snat_pool.addresses[2]: \"10.0.0.12\" is the address of vips[3]"},
      {"timeouts on dsr", [](v1::Config& c) { c.mutable_vips(3)->mutable_nat_timeouts(); },
       "vips[3].nat_timeouts: only applies"},
      {"nat46",
       [](v1::Config& c) { c.mutable_vips(1)->mutable_backends(0)->set_address("10.9.9.9"); },
       "vips[1].backends[0].address: \"10.9.9.9\" is IPv4 but the VIP is IPv6"},
      {"port range", [](v1::Config& c) { c.mutable_snat_pool()->set_port_min(1); },
       "snat_pool.port_max: missing while port_min is 1"},
      {"duplicate",
       [](v1::Config& c) { *c.mutable_vips(0)->add_backends() = c.vips(0).backends(1); },
       "vips[0].backends[3]: 10.0.1.1:8081 duplicates vips[0].backends[1]"},
  };
  for (const auto& m : mutations) {
    v1::Config c = base;
    m.apply(c);
    auto st = validateConfig(c);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << m.what;
    EXPECT_EQ(std::string(st.message()).rfind(m.path, 0), 0u) << m.what << ": " << st;
    EXPECT_EQ(std::string(st.message()).find('\n'), std::string::npos) << m.what << ": " << st;
  }
}

TEST(ConfigNatTest, BackendRefs) {
  auto r = parseBackendRef("10.0.1.1", "address");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->port.has_value());
  r = parseBackendRef("10.0.1.1:8080", "address");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r->port, 8080);
  r = parseBackendRef("[2001:db8::1]:0", "address");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r->port, 0);
  EXPECT_EQ(r->address.toString(), "2001:db8::1");
  r = parseBackendRef("2001:db8::1", "address");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->port.has_value());
  EXPECT_TRUE(parseBackendRef("[2001:db8::1]", "address").ok());
  EXPECT_EQ(parseBackendRef("10.0.1.1:http", "address").status().message(),
            "address: \"10.0.1.1:http\" has port \"http\", not a number in [0, 65535] (ADDR, "
            "ADDR:PORT or [V6]:PORT, e.g. 10.0.1.1, 10.0.1.1:8080 or [2001:db8::1]:8080)");
  EXPECT_EQ(parseBackendRef("10.0.1.1:65536", "backend").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(parseBackendRef("[2001:db8::1", "b").status().message(),
            "b: \"[2001:db8::1\" lacks \"]\" (ADDR, ADDR:PORT or [V6]:PORT, e.g. 10.0.1.1, "
            "10.0.1.1:8080 or [2001:db8::1]:8080)");
  EXPECT_EQ(parseBackendRef("10.0.1.x:80", "b").status().message(),
            "b: \"10.0.1.x\" is not an IPv4 or IPv6 address (e.g. 10.0.0.1 or 2001:db8::1)");

  v1::Config c = parseOk(kNat);
  const v1::Vip& vip = c.vips(0);
  auto any = parseBackendRef("10.0.1.1", "b");
  auto p80 = parseBackendRef("10.0.1.2:80", "b");
  auto p81 = parseBackendRef("10.0.1.1:8081", "b");
  EXPECT_TRUE(any->matches(vip, vip.backends(0)));
  EXPECT_TRUE(any->matches(vip, vip.backends(1)));
  EXPECT_FALSE(any->matches(vip, vip.backends(2)));
  EXPECT_TRUE(p80->matches(vip, vip.backends(2)));  // port 0 = the VIP's port
  EXPECT_FALSE(p81->matches(vip, vip.backends(0)));
  EXPECT_TRUE(p81->matches(vip, vip.backends(1)));
}

}  // namespace
}  // namespace xlb::config
