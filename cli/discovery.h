// SPDX-License-Identifier: Apache-2.0
// `lbctl vip add` options for backends by name (--dns-name, --dns-port, --dns-family, --srv,
// --allow-empty): their registration and how they fill the Vip message (README "Backends by name").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::cli {

struct DiscoveryArgs {
  std::vector<std::string> dns_names;
  uint32_t dns_port = 0;
  std::string dns_family;  // empty = any
  std::string srv;
  bool allow_empty = false;
};

void addDiscoveryOptions(CLI::App* add, DiscoveryArgs* args);
// INVALID_ARGUMENT naming the flag for a family that is not any, ipv4 or ipv6.
absl::Status buildDiscovery(const DiscoveryArgs& args, xlb::v1::Vip* vip);

}  // namespace xlb::cli
