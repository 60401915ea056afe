// SPDX-License-Identifier: Apache-2.0
// NAT entry layouts: conversions between the agent's wide form of an entry (xlb_flow_key +
// xlb_nat_value, either family) and the data plane's per-family maps (abi.h "NAT": xlb_nat4 with
// xlb_nat4_key/xlb_nat4_value, xlb_nat6 with xlb_flow_key/xlb_nat6_value). Pure, no kernel.
#pragma once

#include "xlb/abi.h"

namespace xlb::dataplane {

// The compact IPv4 key of a wide IPv4 key, and back (family XLB_AF_INET, the rest zero).
xlb_nat4_key natKey4(const xlb_flow_key& key);
xlb_flow_key natWideKey(const xlb_nat4_key& key);

// A wide value in a map's layout (the addresses' first 4 bytes for IPv4; csum sums are 16-bit).
xlb_nat4_value natValue4(const xlb_nat_value& v);
xlb_nat6_value natValue6(const xlb_nat_value& v);

// A map value in the wide form.
xlb_nat_value natWide(const xlb_nat4_value& v);
xlb_nat_value natWide(const xlb_nat6_value& v);

}  // namespace xlb::dataplane
