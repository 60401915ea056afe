// SPDX-License-Identifier: Apache-2.0
// lbctl's NAT syntaxes (backend specs with ports, backend references, --forwarding, --snat,
// --snat-ports, --nat-timeout, nat list filters) and NAT output (ports in listings, nat list).
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "args.h"
#include "inspect_args.h"
#include "output.h"

namespace xlb::cli {
namespace {

struct SpecCase {
  const char* input;
  const char* address;
  uint32_t port;
  int weight;  // -1 = unset
};

TEST(NatBackendSpec, EveryFormMeansWhatTheHelpSays) {
  const SpecCase cases[] = {
      {"10.0.1.11", "10.0.1.11", 0, -1},
      {"10.0.1.11:3", "10.0.1.11", 0, 3},  // one number: the weight, as always
      {"10.0.1.11:8080:2", "10.0.1.11", 8080, 2},
      {"10.0.1.11:8080:", "10.0.1.11", 8080, -1},
      {"10.0.1.11:8080:0", "10.0.1.11", 8080, 0},
      {"2001:db8::11", "2001:db8::11", 0, -1},  // bare IPv6: no suffix possible
      {"[2001:db8::11]", "2001:db8::11", 0, -1},
      {"[2001:db8::11]:4", "2001:db8::11", 0, 4},
      {"[2001:db8::11]:8443:4", "2001:db8::11", 8443, 4},
      {"[2001:db8::11]:8443:", "2001:db8::11", 8443, -1},
  };
  for (const auto& c : cases) {
    auto b = parseBackendSpec(c.input);
    ASSERT_TRUE(b.ok()) << c.input << ": " << b.status();
    EXPECT_EQ(b->address(), c.address) << c.input;
    EXPECT_EQ(b->port(), c.port) << c.input;
    EXPECT_EQ(b->has_weight(), c.weight >= 0) << c.input;
    if (c.weight >= 0) {
      EXPECT_EQ(b->weight(), static_cast<uint32_t>(c.weight)) << c.input;
    }
  }
}

TEST(NatBackendSpec, ErrorsNameTheArgument) {
  constexpr char kForms[] =
      " (ADDR[:WEIGHT] or ADDR:PORT:[WEIGHT], IPv6 in brackets, e.g. 10.0.1.11, 10.0.1.11:2, "
      "10.0.1.11:8080:2, 10.0.1.11:8080: or [2001:db8::11]:8080:2)";
  const std::pair<const char*, std::string> cases[] = {
      {"10.0.1.11:http:2", std::string("backend \"10.0.1.11:http:2\": port \"http\" is not a "
                                       "number") +
                               kForms},
      {"10.0.1.11::2", std::string("backend \"10.0.1.11::2\": port \"\" is not a number") + kForms},
      {"10.0.1.11:80:2:1",
       std::string("backend \"10.0.1.11:80:2:1\": too many \":\" fields") + kForms},
      {"10.0.1.11:80:x",
       std::string("backend \"10.0.1.11:80:x\": weight \"x\" is not a number") + kForms},
      {"[2001:db8::11", std::string("backend \"[2001:db8::11\": missing \"]\"") + kForms},
      {"[2001:db8::11]8080",
       std::string("backend \"[2001:db8::11]8080\": expected \":\" after \"]\"") + kForms},
      {"[10.0.1.x]:80:1",
       "backend \"[10.0.1.x]:80:1\": \"10.0.1.x\" is not an IPv4 or IPv6 "
       "address (e.g. 10.0.0.1 or 2001:db8::1)"},
  };
  for (const auto& [input, message] : cases) {
    auto b = parseBackendSpec(input);
    ASSERT_FALSE(b.ok()) << input;
    EXPECT_EQ(b.status().message(), message) << input;
  }
}

TEST(NatBackendRef, AddressWithOptionalPortPassedAsTyped) {
  for (const char* ok : {"10.0.1.1", "10.0.1.1:8080", "2001:db8::1", "[2001:db8::1]:8080",
                         "[2001:DB8::1]", "10.0.1.1:0"}) {
    auto r = parseBackendRefArg(ok, "backend");
    ASSERT_TRUE(r.ok()) << ok << ": " << r.status();
    EXPECT_EQ(*r, ok);
  }
  EXPECT_EQ(parseBackendRefArg("10.0.1.1:80:2", "--backend").status().message(),
            "--backend: \"10.0.1.1:80:2\" is not an IPv4 or IPv6 address (e.g. 10.0.0.1 or "
            "2001:db8::1)");
  EXPECT_EQ(parseBackendRefArg("10.0.1.1:99999", "backend").status().message(),
            "backend: \"10.0.1.1:99999\" has port \"99999\", not a number in [0, 65535] (ADDR, "
            "ADDR:PORT or [V6]:PORT, e.g. 10.0.1.1, 10.0.1.1:8080 or [2001:db8::1]:8080)");

  auto b = parseBackendAddArg("[2001:db8::1]:8443");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->address(), "2001:db8::1");
  EXPECT_EQ(b->port(), 8443u);
  b = parseBackendAddArg("10.0.1.1:8080");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->address(), "10.0.1.1");
  EXPECT_EQ(b->port(), 8080u);
  b = parseBackendAddArg("2001:db8::1");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->address(), "2001:db8::1");
  EXPECT_EQ(b->port(), 0u);
  EXPECT_FALSE(parseBackendAddArg("10.0.1.1:x").ok());
}

TEST(NatOptions, ForwardingSnatPortsAndTimeouts) {
  EXPECT_EQ(*parseForwarding("nat"), v1::FORWARDING_MODE_NAT);
  EXPECT_EQ(*parseForwarding("FullNAT"), v1::FORWARDING_MODE_FULLNAT);
  EXPECT_EQ(*parseForwarding("dsr"), v1::FORWARDING_MODE_DSR);
  EXPECT_EQ(parseForwarding("snat").status().message(),
            "--forwarding: \"snat\" is not one of dsr, ipip, nat, fullnat");
  EXPECT_EQ(forwardingName(v1::FORWARDING_MODE_FULLNAT), "fullnat");

  auto pool = parseSnatAddresses("192.0.2.250, 2001:db8::250");
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ(*pool, (std::vector<std::string>{"192.0.2.250", "2001:db8::250"}));
  EXPECT_EQ(parseSnatAddresses("192.0.2.250,").status().message(),
            "--snat \"192.0.2.250,\": empty address (ADDR[,ADDR...], e.g. 192.0.2.250,192.0.2.251 "
            "or 2001:db8::250)");
  EXPECT_EQ(parseSnatAddresses("lb1").status().message(),
            "--snat: \"lb1\" is not an IPv4 or IPv6 address (e.g. 10.0.0.1 or 2001:db8::1)");

  auto ports = parseSnatPorts("40000-49999");
  ASSERT_TRUE(ports.ok()) << ports.status();
  EXPECT_EQ(ports->first, 40000u);
  EXPECT_EQ(ports->second, 49999u);
  EXPECT_TRUE(parseSnatPorts("1-1").ok());
  for (const char* bad : {"40000", "40000-", "-5", "a-b", "+1-5", "1-+5"}) {
    EXPECT_EQ(parseSnatPorts(bad).status().message(),
              absl::StrCat("--snat-ports \"", bad,
                           "\" is not MIN-MAX (e.g. 61000-65535; both in [1, 65535])"))
        << bad;
  }
  for (const char* bad : {"0-10", "10-5", "1-65536"}) {
    EXPECT_EQ(parseSnatPorts(bad).status().message(),
              absl::StrCat("--snat-ports \"", bad,
                           "\": need 1 <= MIN <= MAX <= 65535 (e.g. 61000-65535)"))
        << bad;
  }

  auto t = parseNatTimeouts("syn=30,established=6h,closing=10s,udp=2m");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->syn_s(), 30u);
  EXPECT_EQ(t->established_s(), 21600u);
  EXPECT_EQ(t->closing_s(), 10u);
  EXPECT_EQ(t->udp_s(), 120u);
  t = parseNatTimeouts("udp=1d");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_FALSE(t->has_syn_s());
  EXPECT_EQ(t->udp_s(), 86400u);
  constexpr char kForm[] =
      " (KIND=SECONDS[,...], KIND one of syn, established, closing, udp; SECONDS a number with an "
      "optional s, m, h or d suffix, e.g. syn=60,established=6h,closing=10,udp=60)";
  EXPECT_EQ(parseNatTimeouts("fin=5").status().message(),
            std::string("--nat-timeout \"fin=5\": unknown kind \"fin\"") + kForm);
  EXPECT_EQ(parseNatTimeouts("syn").status().message(),
            std::string("--nat-timeout \"syn\": missing \"=\"") + kForm);
  EXPECT_EQ(parseNatTimeouts("syn=5w").status().message(),
            std::string("--nat-timeout \"syn=5w\": not a number of seconds") + kForm);
}

TEST(NatFilter, VipBackendAndClient) {
  NatFilterArgs a;
  a.vip = "10.0.0.10:80";
  a.backend = "[2001:db8::1]:8080";
  a.client = "192.0.2.0/24";
  auto f = buildNatFilter(a);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->vip().address(), "10.0.0.10");
  EXPECT_EQ(f->vip().port(), 80u);
  EXPECT_EQ(f->vip().protocol(), v1::PROTOCOL_TCP);
  EXPECT_EQ(f->backend(), "[2001:db8::1]:8080");
  EXPECT_EQ(f->client(), "192.0.2.0/24");

  NatFilterArgs n;
  n.vip_name = "web";
  n.vip = "10.0.0.10:53/udp";
  EXPECT_EQ(buildNatFilter(n).status().message(), "--vip and --vip-name: give at most one");
  n.vip.clear();
  f = buildNatFilter(n);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->vip_name(), "web");
  EXPECT_FALSE(f->has_vip());

  NatFilterArgs bad;
  bad.backend = "10.0.1.1:http";
  EXPECT_EQ(buildNatFilter(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad.backend.clear();
  bad.client = "192.0.2.7:5000";
  EXPECT_EQ(buildNatFilter(bad).status().message(),
            "--client \"192.0.2.7:5000\": NAT connections are filtered by client address or "
            "prefix, not port (e.g. 192.0.2.7, 192.0.2.0/24 or 2001:db8::/64)");
  bad.client = "[2001:db8::7]:5000";
  EXPECT_EQ(buildNatFilter(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad.client = "client7";
  EXPECT_EQ(buildNatFilter(bad).status().message(),
            "--client: \"client7\" is not an IPv4 or IPv6 address (e.g. 10.0.0.1 or "
            "2001:db8::1); expected an address or prefix, e.g. 192.0.2.7 or 192.0.2.0/24");
  bad.client = "2001:db8::/64";
  EXPECT_TRUE(buildNatFilter(bad).ok());
  bad.client = "10.0.0.10";
  bad.vip = "10.0.0.10/tcp";
  EXPECT_FALSE(buildNatFilter(bad).ok());
}

TEST(NatOutput, ListingsShowBackendPorts) {
  EXPECT_EQ(formatBackend("10.0.1.1", 0), "10.0.1.1");
  EXPECT_EQ(formatBackend("10.0.1.1", 8080), "10.0.1.1:8080");
  EXPECT_EQ(formatBackend("2001:db8::1", 8080), "[2001:db8::1]:8080");
  EXPECT_EQ(formatBackend("2001:db8::1", 0), "2001:db8::1");

  v1::Vip v;
  v.set_address("10.0.0.10");
  v.set_port(80);
  v.set_protocol(v1::PROTOCOL_TCP);
  v.set_forwarding(v1::FORWARDING_MODE_NAT);
  auto* b = v.add_backends();
  b->set_address("10.0.1.1");
  b->set_port(8080);
  b = v.add_backends();
  b->set_address("10.0.1.1");
  b->set_port(8081);
  b->set_weight(3);
  b = v.add_backends();
  b->set_address("2001:db8::2");
  b->set_port(8443);
  EXPECT_EQ(vipTable({&v}).toString(),
            "VIP               NAME  FORWARDING  ALGORITHM  TABLE  KERNEL  BACKENDS\n"
            "10.0.0.10:80/tcp  -     nat         maglev      auto       -  "
            "10.0.1.1:8080*1,10.0.1.1:8081*3,[2001:db8::2]:8443*1\n");
  EXPECT_EQ(backendTable(v).toString(),
            "BACKEND             WEIGHT  SHARE\n"
            "10.0.1.1:8080            1  20.0%\n"
            "10.0.1.1:8081            3  60.0%\n"
            "[2001:db8::2]:8443       1  20.0%\n");
}

TEST(NatOutput, NatListTableAndSummary) {
  v1::ListNatResponse r;
  auto* c = r.add_connections();
  c->set_protocol(v1::PROTOCOL_TCP);
  c->set_client_address("192.0.2.7");
  c->set_client_port(5000);
  c->set_vip_address("10.0.0.10");
  c->set_vip_port(80);
  c->set_source_address("192.0.2.7");
  c->set_source_port(5000);
  c->set_backend_address("10.0.1.1");
  c->set_backend_port(8080);
  c->set_forwarding(v1::FORWARDING_MODE_NAT);
  c->set_state(v1::NAT_STATE_ESTABLISHED);
  c->set_replied(true);
  c->set_answered(true);
  c->set_idle_ms(1500);
  c->set_age_ms(65000);
  c->set_expires_in_ms(21598500);
  c = r.add_connections();
  c->set_protocol(v1::PROTOCOL_UDP);
  c->set_client_address("2001:db8:c::7");
  c->set_client_port(4000);
  c->set_vip_address("2001:db8::10");
  c->set_vip_port(53);
  c->set_source_address("2001:db8:ff::250");
  c->set_source_port(61000);
  c->set_backend_address("2001:db8:1::1");
  c->set_backend_port(5353);
  c->set_forwarding(v1::FORWARDING_MODE_FULLNAT);
  c->set_state(v1::NAT_STATE_UDP);
  c->set_replied(true);  // a one-shot request/response: the backend only
  c->set_idle_ms(200);
  c->set_age_ms(200);
  c->set_expires_in_ms(59800);
  r.set_scanned(10);
  r.set_matched(3);
  r.set_truncated(true);
  auto* t = r.mutable_table();
  t->set_capacity(524288);
  t->set_entries(20);
  t->set_connections(10);
  t->set_unanswered(1);
  t->set_expired(7);
  t->set_peak_entries(524288);
  t->set_refused(1234);
  t->set_pressure(true);
  t->set_pressure_episodes(2);
  t->set_full_episodes(1);
  EXPECT_EQ(
      natTable(r).toString(),
      "PROTO  CLIENT -> VIP                              SOURCE -> BACKEND                     "
      "            MODE     STATE        ANSWERED       IDLE    AGE  EXPIRES\n"
      "tcp    192.0.2.7:5000 -> 10.0.0.10:80             192.0.2.7:5000 -> 10.0.1.1:8080       "
      "            nat      established  yes              1s  1m05s    5h59m\n"
      "udp    [2001:db8:c::7]:4000 -> [2001:db8::10]:53  [2001:db8:ff::250]:61000 -> "
      "[2001:db8:1::1]:5353  fullnat  udp          backend only  200ms  200ms      59s\n");
  EXPECT_EQ(natSummary(r),
            "2 of 3 matching NAT connections shown (most recently active first; 10 connections "
            "scanned); raise --limit or narrow the filters to see more\n"
            "NAT table: 20 / 524288 entries, 10 connections (1 unanswered); deleted so far: 7 "
            "expired, 0 unanswered under pressure, 0 orphan entries; refused (table full): 1234; "
            "under pressure\n");
  EXPECT_EQ(natStatsTable(r.table()).toString(),
            "NAT TABLE                                        VALUE\n"
            "entries                                    20 / 524288\n"
            "connections                                         10\n"
            "unanswered                                           1\n"
            "expired                                              7\n"
            "unanswered expired under pressure                    0\n"
            "orphan entries deleted                               0\n"
            "peak entries                                    524288\n"
            "refused (table full)                              1234\n"
            "pressure episodes (full)           2 (1), one going on\n");
  EXPECT_EQ(natStateName(v1::NAT_STATE_SYN), "syn");
  EXPECT_EQ(natStateName(v1::NAT_STATE_CLOSING), "closing");
  EXPECT_EQ(natStateName(v1::NAT_STATE_UNSPECIFIED), "-");
}

}  // namespace
}  // namespace xlb::cli
