// SPDX-License-Identifier: Apache-2.0
// Conversions the planner files share (planner.cc, nat_plan.cc, adopt.cc); not a public header.
#pragma once

#include <cstring>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "state/model.h"
#include "state/planner.h"
#include "xlb/abi.h"

namespace xlb::state {

xlb_vip_key toVipKey(const config::VipKey& key);
xlb_addr_key toAddrKey(const IpAddress& address);
uint8_t toDataplaneAlgorithm(v1::Algorithm a);
xlb_vip_value toVipValue(uint32_t id, const v1::Vip& spec);

// One VIP's table change: the table to install (empty: remove) and how to get the previous one
// back (nullopt: leave the slot as it is, e.g. an adopted table whose size is unknown).
struct TableSwap {
  uint32_t vip_id = 0;
  std::vector<uint32_t> table;
  std::function<absl::StatusOr<std::optional<std::vector<uint32_t>>>()> previous;
};

// The swaps of one phase as one step: one batched write however many tables (plan_tables.cc).
Step tableStep(dataplane::Dataplane& dp, std::string what, std::vector<TableSwap> swaps);

struct Planner::Phases {
  std::vector<Step> add_backends, set_snat, add_eps, set_settings, set_vlans, set_addrs, set_vips,
      del_vips, shrink_addrs, shrink_settings, del_eps, del_snat, del_addrs, del_backends;
  std::vector<TableSwap> set_tables, del_tables;
  std::vector<std::string> set_table_names, del_table_names;  // "vip 10.0.0.10:80/tcp", ...
  // Pools and endpoints are in place before a VIP entry uses them and go after the entries that
  // used them are gone; a VIP entry is only ever visible with its backends and table in place,
  // and nothing is freed while a VIP entry still refers to it.
  void into(dataplane::Dataplane& dp, std::vector<Step>& out);
};

template <typename T>
bool sameBytes(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

}  // namespace xlb::state
