// SPDX-License-Identifier: Apache-2.0
// Issue 13: every balancer host must pick the same backend for the same 5-tuple from the same
// config, or a flow the router moves to another host breaks. Two agents (State over a fake data
// plane each) whose backend and VIP ids differ (one had other VIPs first, the other got the config
// in another order) must hold tables that are identical slot for slot once ids are read back as
// backend addresses.

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "config/yaml.h"
#include "dataplane/fake_dataplane.h"
#include "spdlog/spdlog.h"
#include "state/state.h"

namespace xlb::state {
namespace {

const bool kQuiet = (spdlog::set_level(spdlog::level::err), true);

v1::Config yaml(const std::string& text) {
  auto c = config::parseConfigYaml(text);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : v1::Config{};
}

constexpr char kConfig[] = R"(
vips:
  - address: 10.100.0.10
    port: 80
    protocol: tcp
    backends: [{address: 10.200.0.11, weight: 2}, {address: 10.200.0.12}, {address: 10.200.0.13},
               {address: 10.200.0.14, weight: 3}, {address: 10.200.0.15}]
  - address: "fd00:100::10"
    port: 443
    protocol: tcp
    algorithm: source_hash
    backends: [{address: "fd00:200::11"}, {address: "fd00:200::12"}, {address: "fd00:200::13"}]
)";

// VIP key text -> the table with every slot's backend address.
std::map<std::string, std::vector<std::string>> tablesByAddress(State& state,
                                                                dataplane::Dataplane& dp) {
  std::map<std::string, std::vector<std::string>> out;
  for (const VipIds& v : state.ids()) {
    std::map<uint32_t, std::string> by_id;
    for (const BackendIds& b : v.backends) by_id[b.id] = b.address;
    auto table = dp.readSelectionTable(v.id);
    EXPECT_TRUE(table.ok()) << table.status();
    if (!table.ok()) continue;
    std::vector<std::string>& t = out[v.key.toString()];
    for (uint32_t id : *table) t.push_back(by_id.count(id) ? by_id[id] : "?");
  }
  return out;
}

TEST(BgpDeterminismTest, TwoAgentsBuildTheSameTablesWhateverTheirIds) {
  dataplane::FakeDataplane dp_a, dp_b;
  State a(dp_a), b(dp_b);
  ASSERT_TRUE(a.applyConfig(yaml(kConfig), false, nullptr).ok());

  // Host b: other VIPs and backends took the low ids first, and the config lists VIPs and
  // backends in another order.
  ASSERT_TRUE(b.applyConfig(yaml(R"(
vips:
  - {address: 10.9.0.1, port: 1, protocol: udp, backends: [{address: 10.9.1.1}, {address: 10.9.1.2}]}
  - {address: 10.9.0.2, port: 2, protocol: udp, backends: [{address: 10.9.1.3}]}
)"),
                            false, nullptr)
                  .ok());
  v1::Config reordered = yaml(kConfig);
  reordered.mutable_vips()->SwapElements(0, 1);
  auto* be = reordered.mutable_vips(1)->mutable_backends();
  be->SwapElements(0, 4);
  be->SwapElements(1, 3);
  ASSERT_TRUE(b.applyConfig(reordered, false, nullptr).ok());

  // The ids differ...
  auto ids_a = a.ids(), ids_b = b.ids();
  std::map<std::string, uint32_t> first_backend_a, first_backend_b;
  for (const auto& v : ids_a) first_backend_a[v.key.toString()] = v.backends.front().id;
  for (const auto& v : ids_b) first_backend_b[v.key.toString()] = v.backends.front().id;
  EXPECT_NE(first_backend_a, first_backend_b);
  // ...the tables, read as addresses, do not.
  auto ta = tablesByAddress(a, dp_a);
  auto tb = tablesByAddress(b, dp_b);
  ASSERT_EQ(ta.size(), 2u);
  ASSERT_EQ(tb.size(), 2u);
  for (const auto& [key, table] : ta) {
    ASSERT_TRUE(tb.count(key)) << key;
    ASSERT_EQ(table.size(), tb[key].size()) << key;
    size_t differ = 0;
    for (size_t i = 0; i < table.size(); ++i) differ += table[i] != tb[key][i];
    EXPECT_EQ(differ, 0u) << key << ": " << differ << " of " << table.size() << " slots differ";
    EXPECT_GT(table.size(), 1000u);
  }
}

}  // namespace
}  // namespace xlb::state
