// SPDX-License-Identifier: Apache-2.0
// Backends named by address and port: parsing what RPCs send ("ADDR", "ADDR:PORT",
// "[V6ADDR]:PORT") and the label listings show.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/address.h"

namespace xlb::nat {

// A backend as a request names it: the port is absent for a bare address (any port).
struct EndpointRef {
  IpAddress address;
  std::optional<uint16_t> port;
};

// "10.0.0.5", "10.0.0.5:8000", "2001:db8::5", "[2001:db8::5]:8000". INVALID_ARGUMENT naming
// `field` and the text otherwise.
absl::StatusOr<EndpointRef> parseEndpointRef(absl::string_view text, absl::string_view field);

// The port a membership is reached on: Backend.port, or the VIP's port when it is 0 (0 again for
// a wildcard VIP: the client's destination port).
inline uint16_t effectivePort(uint32_t backend_port, uint16_t vip_port) {
  return backend_port != 0 ? static_cast<uint16_t>(backend_port) : vip_port;
}

// How listings name a membership: the bare address when its port is the VIP's (every dsr/ipip
// backend, and nat backends without a port of their own), else "ADDR:PORT" / "[V6]:PORT".
std::string backendLabel(const IpAddress& address, uint16_t port, uint16_t vip_port);

}  // namespace xlb::nat
