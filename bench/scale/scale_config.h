// SPDX-License-Identifier: Apache-2.0
// Synthetic configs for the control-plane scale bench and e2e_scale_reads: V ipip/maglev VIPs of B
// backends each, on addresses nothing else uses (the agent runs with --no-attach).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::bench {

struct ScaleShape {
  uint32_t vips = 0;
  uint32_t backends = 0;  // per VIP
  // 0: leave maglev_table_size unset (the agent's default or automatic size).
  uint32_t maglev_table_size = 0;
};

// VIP i is 10.64.0.0 + i, port 80/tcp, named svc-<i>; its backend j is 10.128.0.0 + i * B + j
// (distinct instances per service, as on a platform). Every weight is 1, except that with
// `every_vip_changed` each VIP's first backend has weight 2: one weight change per VIP.
v1::Config scaleConfig(const ScaleShape& shape, bool every_vip_changed);

// The address of VIP i / of backend j of VIP i, and the VIP's lbctl spelling ADDR:80/tcp.
std::string scaleVipAddress(uint32_t i);
std::string scaleBackendAddress(const ScaleShape& shape, uint32_t i, uint32_t j);
std::string scaleVipRef(uint32_t i);

// Writes the config as YAML (the agent's --config and `lbctl apply -f` format).
absl::Status writeScaleConfig(const v1::Config& config, const std::string& path);

}  // namespace xlb::bench
