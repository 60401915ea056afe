// SPDX-License-Identifier: Apache-2.0
// Reads the balancer's pinned maps back (VIPs, addresses, backends, tables) for State::adopt().
#pragma once

#include "absl/status/statusor.h"
#include "dataplane/bpf_dataplane.h"
#include "dataplane/contents.h"

namespace xlb::dataplane {

absl::StatusOr<DataplaneContents> readBpfContents(const BpfDataplane& dataplane);

}  // namespace xlb::dataplane
