// SPDX-License-Identifier: Apache-2.0
// Per-request size limits of the gRPC API, checked before validation so an oversized request costs
// nothing and changes nothing.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "common/capacity.h"
#include "xlb/abi.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::api {

// Defaults are the data plane's own capacity (--max-vips/--max-backends): a request with more objects than the maps
// can hold could never apply, so the API refuses it before walking it. Operators may lower them
// (a smaller blast radius per request); raising them above the capacity would only move the
// refusal into validation, so the flags are capped there.
struct RequestLimits {
  static constexpr uint32_t kDefaultMaxRequestBytes = 4u << 20;  // gRPC's own default
  static constexpr uint32_t kMaxMaxRequestBytes = 1u << 30;
  uint32_t max_request_bytes = kDefaultMaxRequestBytes;
  uint32_t max_vips_per_request = XLB_MAX_VIPS;
  // Counted over all VIPs of a request (each VIP membership uses one data-plane backend id).
  uint32_t max_backends_per_request = XLB_MAX_BACKENDS;
  Capacity capacity;  // the data plane's (xlb-agent sets both limits to it unless given)
};

// RESOURCE_EXHAUSTED naming the field, the count, the limit and the flag that sets it; OK when the
// config is within the limits. `field` prefixes the paths ("config" for ApplyConfig).
absl::Status checkConfigLimits(const v1::Config& config, const RequestLimits& limits,
                               const char* field);
// The same for one VIP (AddVip): its backends against --max-backends-per-request.
absl::Status checkVipLimits(const v1::Vip& vip, const RequestLimits& limits, const char* field);

}  // namespace xlb::api
