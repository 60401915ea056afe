// SPDX-License-Identifier: Apache-2.0
// How many VIPs and backend memberships the data plane holds: the id ranges of every map indexed
// by VIP id or backend id. Chosen when the program is loaded (xlb-agent --max-vips/--max-backends,
// bpf_map__set_max_entries), so a small host does not pay for a platform-sized table and a large
// one is not capped by a compile-time constant. The per-backend per-CPU maps (counters, next-hop
// cache, NAT failures) cost about 56 bytes x possible CPUs per backend id, which is what bounds
// --max-backends on a host with many CPUs (README "Limits").
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "xlb/abi.h"

namespace xlb {

struct Capacity {
  // Defaults: the sizes the maps are compiled with (abi.h).
  uint32_t vips = XLB_MAX_VIPS;
  uint32_t backends = XLB_MAX_BACKENDS;

  // What --max-vips / --max-backends accept.
  static constexpr uint32_t kMinVips = 16;
  static constexpr uint32_t kMaxVips = 65536;
  static constexpr uint32_t kMinBackends = 64;
  static constexpr uint32_t kMaxBackends = 1048576;

  bool operator==(const Capacity&) const = default;

  absl::Status check() const {
    if (vips < kMinVips || vips > kMaxVips) {
      return absl::InvalidArgumentError(
          absl::StrCat("max VIPs ", vips, " is not in [", kMinVips, ", ", kMaxVips, "]"));
    }
    if (backends < kMinBackends || backends > kMaxBackends) {
      return absl::InvalidArgumentError(absl::StrCat("max backends ", backends, " is not in [",
                                                     kMinBackends, ", ", kMaxBackends, "]"));
    }
    return absl::OkStatus();
  }
  std::string toString() const { return absl::StrCat(vips, " VIPs, ", backends, " backends"); }
};

}  // namespace xlb
