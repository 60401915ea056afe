// SPDX-License-Identifier: Apache-2.0
// Unit tests for lbctl's argument syntaxes (VIP keys, backend specs, durations) and output
// formatting.
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "args.h"
#include "commands.h"
#include "output.h"

namespace xlb::cli {
namespace {

TEST(ParseVipKey, Ipv4Tcp) {
  auto k = parseVipKey("10.0.0.10:80/tcp");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->address(), "10.0.0.10");
  EXPECT_EQ(k->port(), 80u);
  EXPECT_EQ(k->protocol(), v1::PROTOCOL_TCP);
}

TEST(ParseVipKey, Ipv6UdpUppercaseProtocol) {
  auto k = parseVipKey("[2001:db8::10]:443/UDP");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->address(), "2001:db8::10");
  EXPECT_EQ(k->port(), 443u);
  EXPECT_EQ(k->protocol(), v1::PROTOCOL_UDP);
}

TEST(ParseVipKey, PortZeroMeansAllPorts) {
  auto k = parseVipKey("10.0.0.10:0/udp");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->port(), 0u);
}

TEST(ParseVipKey, OutOfRangePortIsLeftToTheAgent) {
  // Range rules live in config/ (agent side); lbctl only checks syntax.
  auto k = parseVipKey("10.0.0.10:70000/tcp");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->port(), 70000u);
}

struct BadVip {
  const char* input;
  const char* message;
};

TEST(ParseVipKey, Errors) {
  const BadVip cases[] = {
      {"10.0.0.10:80",
       "vip \"10.0.0.10:80\": missing \"/tcp\" or \"/udp\" (expected ADDR:PORT/PROTO, e.g. "
       "10.0.0.10:80/tcp or [2001:db8::10]:443/udp)"},
      {"10.0.0.10:80/sctp",
       "vip \"10.0.0.10:80/sctp\": protocol \"sctp\" is not tcp or udp (e.g. 10.0.0.10:80/tcp or "
       "[2001:db8::10]:443/udp)"},
      {"10.0.0.10/tcp",
       "vip \"10.0.0.10/tcp\": missing port (expected ADDR:PORT/PROTO, port 0 = all ports, e.g. "
       "10.0.0.10:80/tcp or [2001:db8::10]:443/udp)"},
      {"10.0.0.10:http/tcp", "vip \"10.0.0.10:http/tcp\": port \"http\" is not a number"},
      {"10.0.0.300:80/tcp",
       "vip \"10.0.0.300:80/tcp\": \"10.0.0.300\" is not an IPv4 or IPv6 address (e.g. 10.0.0.1 or "
       "2001:db8::1)"},
      {"2001:db8::1:80/tcp",
       "vip \"2001:db8::1:80/tcp\": missing port (expected ADDR:PORT/PROTO, port 0 = all ports, "
       "e.g. "
       "10.0.0.10:80/tcp or [2001:db8::10]:443/udp)"},
      {"[2001:db8::1:80/tcp",
       "vip \"[2001:db8::1:80\": missing \"]\" (e.g. 10.0.0.10:80/tcp or [2001:db8::10]:443/udp)"},
  };
  for (const auto& c : cases) {
    auto k = parseVipKey(c.input);
    ASSERT_FALSE(k.ok()) << c.input;
    EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument) << c.input;
    EXPECT_EQ(k.status().message(), c.message) << c.input;
  }
}

TEST(ParseBackendSpec, Forms) {
  auto a = parseBackendSpec("10.0.1.11");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->address(), "10.0.1.11");
  EXPECT_FALSE(a->has_weight());

  auto b = parseBackendSpec("10.0.1.11:3");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->address(), "10.0.1.11");
  ASSERT_TRUE(b->has_weight());
  EXPECT_EQ(b->weight(), 3u);

  auto c = parseBackendSpec("2001:db8::11");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->address(), "2001:db8::11");
  EXPECT_FALSE(c->has_weight());

  auto d = parseBackendSpec("[2001:db8::11]:0");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->address(), "2001:db8::11");
  EXPECT_EQ(d->weight(), 0u);
}

TEST(ParseBackendSpec, Errors) {
  auto a = parseBackendSpec("10.0.1.11:heavy");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().message(),
            "backend \"10.0.1.11:heavy\": weight \"heavy\" is not a number (ADDR[:WEIGHT] or "
            "ADDR:PORT:[WEIGHT], IPv6 in brackets, e.g. 10.0.1.11, 10.0.1.11:2, 10.0.1.11:8080:2, "
            "10.0.1.11:8080: or [2001:db8::11]:8080:2)");
  auto b = parseBackendSpec("backend1");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(),
            "backend \"backend1\": \"backend1\" is not an IPv4 or IPv6 address (e.g. 10.0.0.1 or "
            "2001:db8::1)");
}

TEST(ParseDuration, Units) {
  EXPECT_EQ(parseDuration("5s")->count(), 5000);
  EXPECT_EQ(parseDuration("250ms")->count(), 250);
  EXPECT_EQ(parseDuration("1m")->count(), 60000);
  EXPECT_EQ(parseDuration("2")->count(), 2000);
  EXPECT_EQ(parseDuration("0.5s")->count(), 500);
  EXPECT_EQ(parseDuration("100ms")->count(), 100);
  EXPECT_EQ(parseDuration("2m")->count(), 120000);
  EXPECT_EQ(parseDuration("1.5s")->count(), 1500);
  for (const char* bad : {"", "0s", "-1s", "abc", "5h", "ms", "0.5ms", "1sec"}) {
    EXPECT_FALSE(parseDuration(bad).ok()) << bad;
  }
}

TEST(ParseDuration, ErrorsNameTheOptionAndValue) {
  auto bad = parseDuration("fast", "--hc-interval");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            "--hc-interval \"fast\" is not a positive duration (e.g. 5s, 500ms, 1m)");
  // The global deadline keeps its historical wording.
  EXPECT_EQ(parseDuration("soon").status().message(),
            "timeout \"soon\" is not a positive duration (e.g. 5s, 500ms, 1m)");
}

TEST(ParseStatusRanges, Forms) {
  auto one = parseStatusRanges("200-399");
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].low(), 200u);
  EXPECT_EQ((*one)[0].high(), 399u);

  auto multi = parseStatusRanges("200-299, 404,418-418");
  ASSERT_TRUE(multi.ok()) << multi.status();
  ASSERT_EQ(multi->size(), 3u);
  EXPECT_EQ((*multi)[1].low(), 404u);
  EXPECT_EQ((*multi)[1].high(), 404u);
  EXPECT_EQ((*multi)[2].low(), 418u);
  EXPECT_EQ((*multi)[2].high(), 418u);

  auto edges = parseStatusRanges("100-599");
  ASSERT_TRUE(edges.ok()) << edges.status();
}

TEST(ParseStatusRanges, Errors) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "--hc-http-status \"\": empty (e.g. 200-399, 200 or 200-299,404)"},
      {"ok",
       "--hc-http-status \"ok\": \"ok\" is not a status code or LOW-HIGH range (e.g. "
       "200-399, 200 or 200-299,404)"},
      {"200-",
       "--hc-http-status \"200-\": \"200-\" is not a status code or LOW-HIGH range "
       "(e.g. 200-399, 200 or 200-299,404)"},
      {"200,,300",
       "--hc-http-status \"200,,300\": \"\" is not a status code or LOW-HIGH "
       "range (e.g. 200-399, 200 or 200-299,404)"},
      {"99-200",
       "--hc-http-status \"99-200\": \"99-200\" is outside [100, 599] (e.g. "
       "200-399, 200 or 200-299,404)"},
      {"200-600",
       "--hc-http-status \"200-600\": \"200-600\" is outside [100, 599] (e.g. "
       "200-399, 200 or 200-299,404)"},
      {"399-200",
       "--hc-http-status \"399-200\": \"399-200\": 399 is above 200 (e.g. "
       "200-399, 200 or 200-299,404)"},
  };
  for (const auto& [input, message] : cases) {
    auto r = parseStatusRanges(input);
    ASSERT_FALSE(r.ok()) << input;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << input;
    EXPECT_EQ(r.status().message(), message) << input;
  }
}

TEST(EnumNames, ConfigSpellings) {
  EXPECT_EQ(healthCheckTypeName(v1::HEALTH_CHECK_TYPE_HTTP), "http");
  EXPECT_EQ(healthCheckTypeName(v1::HEALTH_CHECK_TYPE_UNSPECIFIED), "none");
  EXPECT_EQ(*parseHealthCheckType("GRPC"), v1::HEALTH_CHECK_TYPE_GRPC);
  EXPECT_EQ(parseHealthCheckType("icmp").status().message(),
            "--health-check: \"icmp\" is not one of none, tcp, http, grpc");
  EXPECT_EQ(allDownPolicyName(v1::ALL_DOWN_POLICY_UNSPECIFIED), "keep_last_healthy");
  EXPECT_EQ(*parseAllDownPolicy("drop"), v1::ALL_DOWN_POLICY_DROP);
  EXPECT_FALSE(parseAllDownPolicy("panic").ok());
  EXPECT_EQ(backendStateName(v1::BACKEND_STATE_UNSPECIFIED), "active");
  EXPECT_EQ(backendStateName(v1::BACKEND_STATE_DRAINING), "draining");
  EXPECT_EQ(healthName(v1::HEALTH_DOWN), "down");
  EXPECT_EQ(healthName(v1::HEALTH_UNSPECIFIED), "unknown");
  // healthName spells without the descriptor: every schema value reads as its lower-case name.
  const auto* health = v1::Health_descriptor();
  for (int i = 0; i < health->value_count(); ++i) {
    const auto* v = health->value(i);
    if (v->number() == 0) continue;
    EXPECT_EQ(healthName(static_cast<v1::Health>(v->number())),
              absl::AsciiStrToLower(absl::StripPrefix(v->name(), "HEALTH_")))
        << v->name();
  }
  EXPECT_EQ(eventKindName(v1::Event::KIND_BACKEND_HEALTH), "backend-health");
  EXPECT_EQ(eventKindName(v1::Event::KIND_VIP_ALL_DOWN), "vip-all-down");
}

TEST(NormalizeServer, Forms) {
  EXPECT_EQ(normalizeServer("unix:///run/xlb/xlb.sock"), "unix:///run/xlb/xlb.sock");
  EXPECT_EQ(normalizeServer("/tmp/x.sock"), "unix:///tmp/x.sock");
  EXPECT_EQ(normalizeServer("127.0.0.1:50051"), "127.0.0.1:50051");
}

TEST(FormatVipKey, NormalizesAddresses) {
  v1::VipKey k;
  k.set_address("2001:0db8:0::10");
  k.set_port(80);
  k.set_protocol(v1::PROTOCOL_TCP);
  EXPECT_EQ(formatVipKey(k), "[2001:db8::10]:80/tcp");
  k.set_address("10.0.0.1");
  k.set_protocol(v1::PROTOCOL_UDP);
  k.set_port(0);
  EXPECT_EQ(formatVipKey(k), "10.0.0.1:0/udp");
}

TEST(SameVip, ComparesParsedAddresses) {
  v1::VipKey k;
  k.set_address("2001:db8:0::10");
  k.set_port(80);
  k.set_protocol(v1::PROTOCOL_TCP);
  v1::Vip v;
  v.set_address("2001:db8::10");
  v.set_port(80);
  v.set_protocol(v1::PROTOCOL_TCP);
  EXPECT_TRUE(sameVip(k, v));
  v.set_protocol(v1::PROTOCOL_UDP);
  EXPECT_FALSE(sameVip(k, v));
}

TEST(Algorithm, NamesFollowTheSchema) {
  EXPECT_EQ(algorithmName(v1::ALGORITHM_UNSPECIFIED), "maglev");
  EXPECT_EQ(algorithmName(v1::ALGORITHM_MAGLEV), "maglev");
  auto names = algorithmNames();
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.front(), "maglev");
  for (const auto& n : names) {
    auto a = parseAlgorithm(n);
    ASSERT_TRUE(a.ok()) << n;
    EXPECT_EQ(algorithmName(*a), n);
  }
  EXPECT_EQ(*parseAlgorithm("MAGLEV"), v1::ALGORITHM_MAGLEV);
  auto bad = parseAlgorithm("wrr");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "--algorithm: \"wrr\" is not one of maglev, source_hash, round_robin, random, "
            "least_conn");
}

TEST(Table, AlignsColumnsAndRightAlignsNumbers) {
  Table t({"NAME", "COUNT", "NOTE"}, {false, true, false});
  t.addRow({"a", "1", "x"});
  t.addRow({"longer", "12345", ""});
  EXPECT_EQ(t.toString(),
            "NAME    COUNT  NOTE\n"
            "a           1  x\n"
            "longer  12345\n");
}

TEST(Table, ShortRowsArePadded) {
  Table t({"A", "B"});
  t.addRow({"1"});
  EXPECT_EQ(t.toString(), "A  B\n1\n");
}

TEST(VipTable, ShowsDefaultsAndBackends) {
  v1::Vip v;
  v.set_name("web");
  v.set_address("10.100.0.10");
  v.set_port(80);
  v.set_protocol(v1::PROTOCOL_TCP);
  v.set_forwarding(v1::FORWARDING_MODE_IPIP);
  v.set_maglev_table_size(1021);
  auto* b = v.add_backends();
  b->set_address("10.0.1.11");
  b = v.add_backends();
  b->set_address("10.0.1.12");
  b->set_weight(2);
  EXPECT_EQ(vipTable({&v}).toString(),
            "VIP                 NAME  FORWARDING  ALGORITHM  TABLE  KERNEL  BACKENDS\n"
            "10.100.0.10:80/tcp  web   ipip        maglev      1021       -  10.0.1.11*1,10.0.1.12*2\n");
}

TEST(VipTable, StatusGivesTheSizeInEffectAndKernelMemory) {
  v1::Vip v;
  v.set_address("10.100.0.10");
  v.set_port(80);
  v.set_protocol(v1::PROTOCOL_TCP);
  v.set_forwarding(v1::FORWARDING_MODE_IPIP);
  v.add_backends()->set_address("10.0.1.11");
  EXPECT_EQ(vipTable({&v}).toString(),
            "VIP                 NAME  FORWARDING  ALGORITHM  TABLE  KERNEL  BACKENDS\n"
            "10.100.0.10:80/tcp  -     ipip        maglev      auto       -  10.0.1.11*1\n");
  v1::VipStatus st;
  st.mutable_vip()->set_address("10.100.0.10");
  st.mutable_vip()->set_port(80);
  st.mutable_vip()->set_protocol(v1::PROTOCOL_TCP);
  st.set_table_size(1021);
  st.set_kernel_bytes(6 * 1024 + 512);
  v1::VipStatus other = st;
  other.mutable_vip()->set_port(81);
  other.set_table_size(4099);
  EXPECT_EQ(vipTable({&v}, {&other, &st}).toString(),
            "VIP                 NAME  FORWARDING  ALGORITHM  TABLE   KERNEL  BACKENDS\n"
            "10.100.0.10:80/tcp  -     ipip        maglev      1021  6.5 KiB  10.0.1.11*1\n");
  EXPECT_EQ(formatBytes(1023), "1023 B");
  EXPECT_EQ(formatBytes(5 * 1024 * 1024 / 2), "2.5 MiB");
}

TEST(BackendTable, SharesFollowWeights) {
  v1::Vip v;
  auto* b = v.add_backends();
  b->set_address("10.0.1.11");
  b = v.add_backends();
  b->set_address("10.0.1.12");
  b->set_weight(3);
  EXPECT_EQ(backendTable(v).toString(),
            "BACKEND    WEIGHT  SHARE\n"
            "10.0.1.11       1  25.0%\n"
            "10.0.1.12       3  75.0%\n");
}

TEST(FormatAge, Units) {
  EXPECT_EQ(formatAge(0), "0ms");
  EXPECT_EQ(formatAge(850), "850ms");
  EXPECT_EQ(formatAge(12'400), "12s");
  EXPECT_EQ(formatAge(185'000), "3m05s");
  EXPECT_EQ(formatAge(7'620'000), "2h07m");
  EXPECT_EQ(formatAge(273'600'000), "3d04h");
}

TEST(FormatUtcTime, SecondsInUtc) {
  EXPECT_EQ(formatUtcTime(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(formatUtcTime(1795572603'999), "2026-11-25T02:10:03Z");
}

// 2026-11-25T02:10:03Z in ms.
constexpr uint64_t kT = 1795572603'000;

v1::HealthTransition transition(uint64_t t, v1::Health from, v1::Health to,
                                const std::string& reason) {
  v1::HealthTransition h;
  h.set_time_unix_ms(t);
  h.set_from(from);
  h.set_to(to);
  h.set_reason(reason);
  return h;
}

TEST(FormatTransition, AgeAndReason) {
  EXPECT_EQ(formatTransition(v1::HealthTransition(), kT), "-");
  EXPECT_EQ(formatTransition(transition(kT - 12'000, v1::HEALTH_UP, v1::HEALTH_DOWN,
                                        "connect: connection refused"),
                             kT),
            "12s ago: up -> down (connect: connection refused)");
  EXPECT_EQ(formatTransition(transition(kT - 65'000, v1::HEALTH_UNKNOWN, v1::HEALTH_UP, ""), kT),
            "1m05s ago: unknown -> up");
  // A transition stamped after "now" (clock step) is 0 old, not 584 million years.
  EXPECT_EQ(formatTransition(transition(kT + 5, v1::HEALTH_DOWN, v1::HEALTH_UP, ""), kT),
            "0ms ago: down -> up");
}

TEST(BackendStatusTable, StateHealthRotationFlowsAndShares) {
  v1::VipStatus v;
  auto* a = v.add_backends();
  a->set_address("10.0.1.11");
  a->set_weight(1);
  a->set_state(v1::BACKEND_STATE_ACTIVE);
  a->set_health(v1::HEALTH_UP);
  a->set_in_rotation(true);
  a->set_open_flows(17);
  *a->mutable_last_transition() = transition(kT - 3'000, v1::HEALTH_UNKNOWN, v1::HEALTH_UP, "");
  auto* b = v.add_backends();
  b->set_address("10.0.1.12");
  b->set_weight(2);
  b->set_state(v1::BACKEND_STATE_ACTIVE);
  b->set_health(v1::HEALTH_DOWN);
  b->set_in_rotation(false);
  *b->mutable_last_transition() =
      transition(kT - 12'000, v1::HEALTH_UP, v1::HEALTH_DOWN, "connect: connection refused");
  auto* c = v.add_backends();
  c->set_address("10.0.1.13");
  c->set_weight(3);
  c->set_state(v1::BACKEND_STATE_DRAINING);
  c->set_health(v1::HEALTH_UNKNOWN);
  c->set_in_rotation(false);
  c->set_open_flows(2);
  auto* d = v.add_backends();
  d->set_address("10.0.1.14");
  d->set_weight(3);
  d->set_health(v1::HEALTH_UP);
  d->set_in_rotation(true);
  EXPECT_EQ(
      backendStatusTable(v, kT).toString(),
      "BACKEND    WEIGHT  SHARE  STATE     HEALTH   IN ROTATION  OPEN FLOWS  LAST TRANSITION\n"
      "10.0.1.11       1  25.0%  active    up       yes                  17  3s ago: unknown "
      "-> up\n"
      "10.0.1.12       2      -  active    down     no                    0  12s ago: up -> "
      "down (connect: connection refused)\n"
      "10.0.1.13       3      -  draining  unknown  no                    2  -\n"
      "10.0.1.14       3  75.0%  active    up       yes                   0  -\n");
}

TEST(FormatEventLine, HealthAndOtherKinds) {
  v1::Event e;
  e.set_kind(v1::Event::KIND_BACKEND_HEALTH);
  e.set_time_unix_ms(kT + 250);
  e.mutable_vip()->set_address("10.100.0.10");
  e.mutable_vip()->set_port(80);
  e.mutable_vip()->set_protocol(v1::PROTOCOL_TCP);
  e.set_backend("10.0.1.12");
  *e.mutable_health_transition() =
      transition(kT, v1::HEALTH_UP, v1::HEALTH_DOWN, "connect: connection refused");
  e.set_message("ignored for health events: the transition says it all");
  EXPECT_EQ(formatEventLine(e),
            "2026-11-25T02:10:03Z backend-health 10.100.0.10:80/tcp 10.0.1.12 up -> down: "
            "connect: connection refused");

  v1::Event d;
  d.set_kind(v1::Event::KIND_BACKEND_DRAINING);
  d.set_time_unix_ms(kT);
  *d.mutable_vip() = e.vip();
  d.mutable_vip()->set_address("fd00:100::10");
  d.set_backend("fd00:200::12");
  d.set_message("drain started");
  EXPECT_EQ(formatEventLine(d),
            "2026-11-25T02:10:03Z backend-draining [fd00:100::10]:80/tcp fd00:200::12 drain "
            "started");

  v1::Event c;
  c.set_kind(v1::Event::KIND_CONFIG_APPLIED);
  c.set_time_unix_ms(kT);
  EXPECT_EQ(formatEventLine(c), "2026-11-25T02:10:03Z config-applied");
}

TEST(ToJsonLine, OneObjectPerLine) {
  v1::Event e;
  e.set_kind(v1::Event::KIND_BACKEND_ACTIVE);
  e.set_backend("10.0.1.12");
  const std::string line = toJsonLine(e);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  EXPECT_NE(line.find("\"kind\":\"KIND_BACKEND_ACTIVE\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"backend\":\"10.0.1.12\""), std::string::npos) << line;
}

TEST(FormatError, SingleAndMultiLine) {
  EXPECT_EQ(formatError(grpc::StatusCode::NOT_FOUND, "vip 10.0.0.1:80/tcp does not exist"),
            "lbctl: NOT_FOUND: vip 10.0.0.1:80/tcp does not exist\n");
  EXPECT_EQ(formatError(grpc::StatusCode::INVALID_ARGUMENT,
                        "vips[0].port: 70000 is not in [0, 65535]\nvips[1].protocol: unspecified"),
            "lbctl: INVALID_ARGUMENT: 2 errors:\n"
            "  vips[0].port: 70000 is not in [0, 65535]\n"
            "  vips[1].protocol: unspecified\n");
  EXPECT_EQ(formatError(grpc::StatusCode::INVALID_ARGUMENT,
                        "/etc/xlb/xlb.yaml:\nvips[0].portt: unknown field\nvips[1]: not a map"),
            "lbctl: INVALID_ARGUMENT: /etc/xlb/xlb.yaml:\n"
            "  vips[0].portt: unknown field\n"
            "  vips[1]: not a map\n");
}

TEST(StatusCodeName, AllCodes) {
  EXPECT_EQ(statusCodeName(grpc::StatusCode::ALREADY_EXISTS), "ALREADY_EXISTS");
  EXPECT_EQ(statusCodeName(grpc::StatusCode::RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(statusCodeName(grpc::StatusCode::UNAVAILABLE), "UNAVAILABLE");
}

}  // namespace
}  // namespace xlb::cli

namespace xlb::cli {
namespace {

std::vector<std::string> topLevel(CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    names.push_back(sub->get_name());
  return names;
}

TEST(CommandWord, SkipsGlobalOptionsAndTheirValues) {
  auto word = [](std::vector<const char*> argv) {
    return std::string(commandWord(static_cast<int>(argv.size()), argv.data()));
  };
  EXPECT_EQ(word({"lbctl", "backend", "weight", "x", "y", "3"}), "backend");
  EXPECT_EQ(word({"lbctl", "-o", "json", "--timeout", "2s", "vip", "list"}), "vip");
  EXPECT_EQ(word({"lbctl", "--server=/tmp/s.sock", "--insecure-plaintext", "stats"}), "stats");
  EXPECT_EQ(word({"lbctl", "-s", "/run/x.sock", "--tls-ca", "ca.pem", "config", "get"}), "config");
  EXPECT_EQ(word({"lbctl", "--help"}), "");
  EXPECT_EQ(word({"lbctl"}), "");
}

// One group for a command line that names it, every group otherwise; the groups together are
// exactly what lbctl registers for --help, and a command parses the same either way.
TEST(AddCommands, RegistersTheNamedGroupOrEveryGroup) {
  const char* help[] = {"lbctl", "--help"};
  CommandContext all_ctx;
  CLI::App all;
  addCommands(all, all_ctx, 2, help);
  const std::vector<std::string> every = topLevel(all);
  EXPECT_EQ(every, (std::vector<std::string>{"vip", "backend", "stats", "apply", "config",
                                             "events", "top", "flows", "explain", "nat", "bgp"}));
  std::vector<std::string> union_of_groups;
  for (const std::string& name : every) {
    const char* argv[] = {"lbctl", "-o", "json", name.c_str()};
    CommandContext ctx;
    CLI::App app;
    addCommands(app, ctx, 4, argv);
    const std::vector<std::string> got = topLevel(app);
    EXPECT_LT(got.size(), every.size()) << name << " registered every group";
    EXPECT_NE(std::find(got.begin(), got.end(), name), got.end()) << name;
    for (const std::string& g : got) {
      if (std::find(union_of_groups.begin(), union_of_groups.end(), g) == union_of_groups.end())
        union_of_groups.push_back(g);
    }
  }
  EXPECT_EQ(union_of_groups, every);
  const char* typo[] = {"lbctl", "bakend", "list"};
  CommandContext typo_ctx;
  CLI::App typo_app;
  addCommands(typo_app, typo_ctx, 3, typo);
  EXPECT_EQ(topLevel(typo_app), every);

  const char* weight[] = {"lbctl", "--timeout", "2s", "backend", "weight", "10.0.0.1:80/tcp",
                          "10.1.1.1", "3"};
  CommandContext ctx;
  CLI::App app;
  app.add_option("--timeout", ctx.global.timeout);
  addCommands(app, ctx, 8, weight);
  ASSERT_NO_THROW(app.parse(8, weight));
  EXPECT_TRUE(static_cast<bool>(ctx.action));
  EXPECT_EQ(ctx.global.timeout, "2s");
}

}  // namespace
}  // namespace xlb::cli
