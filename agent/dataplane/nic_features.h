// SPDX-License-Identifier: Apache-2.0
// NIC offloads the balancer depends on, read and set through the ethtool ioctl (SIOCETHTOOL).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace xlb::dataplane {

// XDP sees the frame as the driver hands it over: a NIC (or a veth fed by a bridge) that strips the
// 802.1Q/802.1ad tag into descriptor metadata ("rx-vlan-hw-parse", "rx-vlan-stag-hw-parse") shows
// the balancer an untagged frame, and the VLAN acceptance rule (xlb_vlans) could not see the tag.
// Turns both features off on `ifname`; returns the names of those it changed (empty when they were
// already off or the device does not have them). An error names the feature and the errno, e.g. a
// driver whose stripping is fixed on (the caller logs it: tags are then invisible to the balancer).
absl::StatusOr<std::vector<std::string>> disableRxVlanStripping(const std::string& ifname);

}  // namespace xlb::dataplane
