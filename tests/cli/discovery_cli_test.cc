// SPDX-License-Identifier: Apache-2.0
// lbctl and backends by name: the vip add options filling the Vip message, and the SOURCE column of
// backend list (shown only for pools with discovered backends).
#include <gtest/gtest.h>

#include "discovery.h"
#include "output.h"

namespace xlb::cli {
namespace {

TEST(DiscoveryCli, VipAddOptionsFillTheVip) {
  CLI::App app;
  auto* add = app.add_subcommand("add");
  DiscoveryArgs args;
  addDiscoveryOptions(add, &args);
  app.parse("add --dns-name a --dns-name b --dns-port 8000 --dns-family IPv6 --srv "
            "_http._tcp.users --allow-empty",
            false);
  v1::Vip vip;
  ASSERT_TRUE(buildDiscovery(args, &vip).ok());
  EXPECT_EQ(vip.dns().names_size(), 2);
  EXPECT_EQ(vip.dns().names(0), "a");
  EXPECT_EQ(vip.dns().port(), 8000u);
  EXPECT_EQ(vip.dns().family(), v1::DNS_FAMILY_IPV6);
  EXPECT_EQ(vip.srv(), "_http._tcp.users");
  EXPECT_TRUE(vip.allow_empty());
  args.dns_family = "v6";
  auto st = buildDiscovery(args, &vip);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "--dns-family: \"v6\" is not one of any, ipv4, ipv6");
}

TEST(DiscoveryCli, SourceColumnOnlyForPoolsWithDiscoveredBackends) {
  v1::VipStatus vip;
  auto* lit = vip.add_backends();
  lit->set_address("10.0.1.1");
  lit->set_weight(1);
  EXPECT_EQ(backendStatusTable(vip, 0).toString().find("SOURCE"), std::string::npos);
  auto* dns = vip.add_backends();
  dns->set_address("10.0.1.2");
  dns->set_weight(1);
  auto* s = dns->mutable_source();
  s->set_kind(v1::BACKEND_SOURCE_KIND_DNS);
  s->set_name("users-1");
  s->set_record("A");
  s->set_resolved_unix_ms(1000);
  s->set_last_resolved_unix_ms(58000);
  const std::string table = backendStatusTable(vip, 60000).toString();
  EXPECT_NE(table.find("SOURCE"), std::string::npos) << table;
  EXPECT_NE(table.find("literal"), std::string::npos) << table;
  EXPECT_NE(table.find("dns users-1 (A, resolved 2s ago)"), std::string::npos) << table;
}

TEST(DiscoveryCli, SourceTextShowsStaleAndDraining) {
  v1::BackendSource s;
  s.set_kind(v1::BACKEND_SOURCE_KIND_SRV);
  s.set_name("_http._tcp.users");
  s.set_record("b1.users:80 0/3");
  s.set_resolved_unix_ms(50000);
  s.set_stale(true);
  s.set_gone_unix_ms(55000);
  EXPECT_EQ(formatBackendSource(s, 60000),
            "srv _http._tcp.users (b1.users:80 0/3, resolved 10s ago, STALE: lookups fail, last "
            "good set kept, gone from DNS 5s ago)");
  EXPECT_EQ(formatBackendSource(v1::BackendSource(), 60000), "literal");
}

}  // namespace
}  // namespace xlb::cli
