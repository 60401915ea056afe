// SPDX-License-Identifier: Apache-2.0
// Parsing of `lbctl flows` / `lbctl explain` values (see inspect_args.h).
#include "inspect_args.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "args.h"
#include "common/address.h"
#include "config/enums.h"

namespace xlb::cli {
namespace {

absl::Status bad(absl::string_view what, absl::string_view text, absl::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": \"", text, "\" is not ", expected));
}

// Splits "[A]:P", "A:P" (A without ':') or a bare A (when port_optional); A is returned as written.
absl::StatusOr<HostPort> split(absl::string_view text, absl::string_view what,
                               absl::string_view expected, bool port_optional) {
  HostPort out;
  absl::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) return bad(what, text, expected);
    host = text.substr(1, close - 1);
    absl::string_view rest = text.substr(close + 1);
    if (rest.empty()) {
      if (!port_optional) return bad(what, text, expected);
    } else if (rest.front() != ':') {
      return bad(what, text, expected);
    } else {
      port = rest.substr(1);
      if (port.empty()) return bad(what, text, expected);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const size_t colon = text.find(':');
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) return bad(what, text, expected);
  } else {
    // No colon (IPv4 without a port) or several (a bare IPv6 address).
    if (!port_optional) return bad(what, text, expected);
    host = text;
  }
  if (host.empty()) return bad(what, text, expected);
  if (!port.empty() && !absl::SimpleAtoi(port, &out.port)) return bad(what, text, expected);
  out.address = std::string(host);
  return out;
}

}  // namespace

absl::StatusOr<HostPort> parseHostPort(absl::string_view text, absl::string_view what) {
  constexpr absl::string_view kExpected = "ADDRESS:PORT (e.g. 10.0.0.1:80 or [2001:db8::1]:80)";
  auto hp = split(text, what, kExpected, /*port_optional=*/false);
  if (!hp.ok()) return hp.status();
  if (auto a = parseIpAddress(hp->address); !a.ok())
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", a.status().message()));
  return hp;
}

absl::StatusOr<HostPort> parseClientFilter(absl::string_view text) {
  constexpr absl::string_view kExpected =
      "IP[/LEN][:PORT] (e.g. 192.0.2.7, 192.0.2.0/24:5000 or [2001:db8::/64]:5000)";
  auto hp = split(text, "--client", kExpected, /*port_optional=*/true);
  if (!hp.ok()) return hp.status();
  // The prefix rules (host bits, length) are the agent's; the address part must parse here.
  absl::string_view addr = hp->address;
  addr = addr.substr(0, addr.find('/'));
  if (auto a = parseIpAddress(addr); !a.ok())
    return absl::InvalidArgumentError(absl::StrCat("--client: ", a.status().message()));
  return hp;
}

absl::StatusOr<xlb::v1::VipKey> parseVipFilter(absl::string_view text) {
  if (text.find('/') == absl::string_view::npos) return parseVipKey(absl::StrCat(text, "/tcp"));
  return parseVipKey(text);
}

absl::StatusOr<xlb::v1::Protocol> parseProtocol(absl::string_view text, absl::string_view what) {
  const auto& protocols = config::enumTable<xlb::v1::Protocol>();
  if (auto p = config::parseEnum(protocols, what, text); p.ok()) {
    return static_cast<xlb::v1::Protocol>(*p);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": \"", text, "\" is not ", config::enumChoices(protocols, " or ")));
}

}  // namespace xlb::cli
