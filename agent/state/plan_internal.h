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

// Backend slots (xlb_backends) and their ports (xlb_be_nat) a phase writes: `old` is what undo
// puts back, nothing for a new membership (undo clears the slot; its value.gen is recorded in the
// planner's generations once the write was attempted, and never rolled back).
struct SlotWrite {
  uint32_t id = 0;
  xlb_backend value{};
  std::optional<xlb_backend> old;
};
struct PortWrite {
  uint32_t id = 0;
  xlb_be_nat value{};
  std::optional<xlb_be_nat> old;
};

// The slot and port writes of one phase as two steps, ports first (a connection created on a new
// slot never reads a stale port): one batched write each however many (plan_tables.cc).
void slotSteps(dataplane::Dataplane& dp, std::vector<PortWrite> ports,
               std::vector<SlotWrite> slots, std::vector<uint32_t>* gens, std::vector<Step>& out);

struct Planner::Phases {
  std::vector<PortWrite> set_ports;
  std::vector<SlotWrite> set_slots;
  std::vector<Step> set_snat, add_eps, set_settings, set_vlans, set_addrs, set_vips,
      del_vips, shrink_addrs, shrink_settings, del_eps, del_snat, del_addrs, del_backends;
  std::vector<TableSwap> set_tables, del_tables;
  std::vector<std::string> set_table_names, del_table_names;  // "vip 10.0.0.10:80/tcp", ...
  // Pools and endpoints are in place before a VIP entry uses them and go after the entries that
  // used them are gone; a VIP entry is only ever visible with its backends and table in place,
  // and nothing is freed while a VIP entry still refers to it.
  void into(dataplane::Dataplane& dp, std::vector<uint32_t>* gens, std::vector<Step>& out);
};

template <typename T>
bool sameBytes(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

}  // namespace xlb::state
