// SPDX-License-Identifier: Apache-2.0
// Internal to BpfDataplane: batched reads of the flow-keyed hash maps (xlb_flows, xlb_flows_prot,
// xlb_flows_prot). Instantiated in bpf_dataplane.cc for xlb_flow_value.
#pragma once

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "xlb/abi.h"

namespace xlb::dataplane {

// Reads the hash map `fd` (named `name` in errors) in batches of `chunk` entries, growing the
// buffer when one bucket holds more, and calls fn for every entry.
template <typename Value>
absl::Status scanFlowKeyedMap(int fd, const char* name, uint32_t chunk,
                              const std::function<void(const xlb_flow_key&, const Value&)>& fn);

}  // namespace xlb::dataplane
