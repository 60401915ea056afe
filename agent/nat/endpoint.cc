// SPDX-License-Identifier: Apache-2.0
// Backend endpoint parsing and labels (see endpoint.h).
#include "nat/endpoint.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::nat {
namespace {

absl::Status bad(absl::string_view field, absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": \"", text, "\" ", why, " (expected ADDR, ADDR:PORT or [V6ADDR]:PORT, port 0..65535)"));
}

}  // namespace

absl::StatusOr<EndpointRef> parseEndpointRef(absl::string_view text, absl::string_view field) {
  EndpointRef out;
  absl::string_view addr = text, port;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == absl::string_view::npos) return bad(field, text, "lacks the closing ']'");
    addr = text.substr(1, close - 1);
    absl::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return bad(field, text, "has no :PORT after ']'");
    port = rest.substr(1);
    has_port = true;
  } else if (size_t colon = text.find(':');
             colon != absl::string_view::npos && text.find(':', colon + 1) == absl::string_view::npos) {
    // Exactly one colon: IPv4:PORT (an IPv6 literal has at least two).
    addr = text.substr(0, colon);
    port = text.substr(colon + 1);
    has_port = true;
  }
  auto a = parseIpAddress(addr);
  if (!a.ok()) return bad(field, text, "is not an IP address");
  if (has_port && text.front() == '[' && !a->isV6()) {
    return bad(field, text, "puts an IPv4 address in brackets");
  }
  out.address = *a;
  if (has_port) {
    uint32_t p = 0;
    if (port.empty() || !absl::SimpleAtoi(port, &p) || p > 65535 ||
        port.find_first_not_of("0123456789") != absl::string_view::npos) {
      return bad(field, text, "has an invalid port");
    }
    out.port = static_cast<uint16_t>(p);
  }
  return out;
}

std::string backendLabel(const IpAddress& address, uint16_t port, uint16_t vip_port) {
  if (port == vip_port) return address.toString();
  return formatHostPort(address, port);
}

}  // namespace xlb::nat
