// SPDX-License-Identifier: Apache-2.0
// Unit tests for lbctl's argument syntaxes (VIP keys, backend specs, durations) and output
// formatting.
#include <gtest/gtest.h>

#include "args.h"
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
            "backend \"10.0.1.11:heavy\": weight \"heavy\" is not a number (e.g. 10.0.1.11, "
            "10.0.1.11:2 or [2001:db8::11]:2)");
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
  for (const char* bad : {"", "0s", "-1s", "abc", "5h", "ms"}) {
    EXPECT_FALSE(parseDuration(bad).ok()) << bad;
  }
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
  EXPECT_EQ(std::string(bad.status().message().substr(0, 36)),
            "algorithm \"wrr\" is not one of maglev");
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
            "VIP                 NAME  FORWARDING  ALGORITHM  TABLE  BACKENDS\n"
            "10.100.0.10:80/tcp  web   ipip        maglev      1021  10.0.1.11*1,10.0.1.12*2\n");
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
