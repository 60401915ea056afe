// SPDX-License-Identifier: Apache-2.0
// What the data-plane maps hold: read at start-up, because pinned maps outlive the agent.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "xlb/abi.h"

namespace xlb::dataplane {

struct DataplaneContents {
  std::vector<std::pair<xlb_vip_key, xlb_vip_value>> vips;
  std::vector<std::pair<xlb_addr_key, xlb_addr_value>> addrs;
  // Every slot that was ever assigned (gen != 0), active or not: gens must keep growing.
  std::vector<std::pair<uint32_t, xlb_backend>> backends;
  std::vector<uint32_t> table_vip_ids;  // vip ids that have a selection table
  // xlb_be_nat of the slots listed in `backends` (port 0 when never written: an older agent).
  std::vector<std::pair<uint32_t, xlb_be_nat>> backend_nat;
  // NAT reply-filter endpoints (xlb_nat_eps) and the vip ids with a non-zero SNAT pool.
  std::vector<xlb_nat_ep> nat_eps;
  std::vector<uint32_t> snat_vip_ids;
};

}  // namespace xlb::dataplane
