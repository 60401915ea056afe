// SPDX-License-Identifier: Apache-2.0
// Conversions the planner files share (planner.cc, nat_plan.cc, adopt.cc); not a public header.
#pragma once

#include <cstring>

#include <vector>

#include "state/model.h"
#include "state/planner.h"
#include "xlb/abi.h"

namespace xlb::state {

xlb_vip_key toVipKey(const config::VipKey& key);
xlb_addr_key toAddrKey(const IpAddress& address);
uint8_t toDataplaneAlgorithm(v1::Algorithm a);
xlb_vip_value toVipValue(uint32_t id, const v1::Vip& spec);

struct Planner::Phases {
  std::vector<Step> add_backends, set_snat, add_eps, set_tables, set_settings, set_vlans,
      set_addrs, set_vips, del_vips, shrink_addrs, shrink_settings, del_eps, del_snat, del_addrs,
      del_tables, del_backends;
  // Pools and endpoints are in place before a VIP entry uses them and go after the entries that
  // used them are gone; a VIP entry is only ever visible with its backends and table in place,
  // and nothing is freed while a VIP entry still refers to it.
  void into(std::vector<Step>& out) {
    for (auto* phase : {&add_backends, &set_snat, &add_eps, &set_tables, &set_settings,
                        &set_vlans, &set_addrs, &set_vips, &del_vips, &shrink_addrs,
                        &shrink_settings, &del_eps, &del_snat, &del_addrs, &del_tables,
                        &del_backends}) {
      for (auto& s : *phase) out.push_back(std::move(s));
    }
  }
};

template <typename T>
bool sameBytes(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

}  // namespace xlb::state
