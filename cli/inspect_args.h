// SPDX-License-Identifier: Apache-2.0
// Parsing of the value syntaxes of `lbctl flows` and `lbctl explain`: host:port endpoints and
// client filters (address or prefix, optional port).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::cli {

struct HostPort {
  std::string address;
  uint32_t port = 0;  // range-checked by the agent, like every other port
};

// "10.0.0.1:80" or "[2001:db8::1]:80". Errors name `what` (the option) and the value.
absl::StatusOr<HostPort> parseHostPort(absl::string_view text, absl::string_view what);

// `--client`: "192.0.2.7", "192.0.2.0/24", "192.0.2.7:5000", "192.0.2.0/24:5000", "2001:db8::7",
// "[2001:db8::7]:5000", "[2001:db8::/64]:5000". `address` is the address or prefix, port 0 = any.
absl::StatusOr<HostPort> parseClientFilter(absl::string_view text);

// `--vip` of flows: "10.0.0.10:80/tcp" or, without a protocol, "10.0.0.10:80" meaning tcp.
absl::StatusOr<xlb::v1::VipKey> parseVipFilter(absl::string_view text);

// Filters of `lbctl nat list|flush` as typed; buildNatFilter (nat.cc) checks their syntax:
// --vip as parseVipFilter, --backend ADDR / ADDR:PORT / [V6]:PORT, --client an address or prefix.
struct NatFilterArgs {
  std::string vip;
  std::string vip_name;
  std::string backend;
  std::string client;
};
absl::StatusOr<xlb::v1::NatFilter> buildNatFilter(const NatFilterArgs& args);

// "tcp" / "udp", any case.
absl::StatusOr<xlb::v1::Protocol> parseProtocol(absl::string_view text, absl::string_view what);

}  // namespace xlb::cli
