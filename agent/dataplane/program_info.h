// SPDX-License-Identifier: Apache-2.0
// Kernel-side identity of a loaded BPF program (for /metrics and logs).
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"

namespace xlb::dataplane {

// The kernel's id of the program behind `prog_fd` (what `bpftool prog show` lists).
absl::StatusOr<uint32_t> programId(int prog_fd);

}  // namespace xlb::dataplane
