// SPDX-License-Identifier: Apache-2.0
// IP address and prefix parsing/formatting (inet_pton/inet_ntop based).
#include "common/address.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "xlb/abi.h"

namespace xlb {

bool IpAddress::isV4() const { return family == XLB_AF_INET; }
bool IpAddress::isV6() const { return family == XLB_AF_INET6; }

std::string IpAddress::toString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (isV4()) {
    inet_ntop(AF_INET, bytes.data(), buf, sizeof(buf));
  } else if (isV6()) {
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf));
  } else {
    return "<unset>";
  }
  return buf;
}

absl::StatusOr<IpAddress> parseIpAddress(absl::string_view text) {
  std::string s(text);
  IpAddress out;
  if (s.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, s.c_str(), out.bytes.data()) == 1) {
      out.family = XLB_AF_INET;
      return out;
    }
  } else if (inet_pton(AF_INET6, s.c_str(), out.bytes.data()) == 1) {
    out.family = XLB_AF_INET6;
    return out;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("\"", text, "\" is not an IPv4 or IPv6 address (e.g. 10.0.0.1 or 2001:db8::1)"));
}

std::string IpPrefix::toString() const { return absl::StrCat(address.toString(), "/", length); }

IpAddress addressOf(const uint8_t* bytes, uint8_t family) {
  IpAddress a;
  std::memcpy(a.bytes.data(), bytes, 16);
  a.family = family;
  return a;
}

bool IpPrefix::contains(const IpAddress& a) const {
  if (address.family != a.family) return false;
  int bits = length;
  for (int i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((a.bytes[i] & mask) != (address.bytes[i] & mask)) return false;
  }
  return true;
}

absl::StatusOr<IpPrefix> parseIpPrefix(absl::string_view text) {
  auto slash = text.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not a prefix (e.g. 172.16.0.0/16 or fd00::/64)"));
  }
  auto addr = parseIpAddress(text.substr(0, slash));
  if (!addr.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not a prefix (e.g. 172.16.0.0/16 or fd00::/64)"));
  }
  int len = 0;
  int max = addr->isV4() ? 32 : 128;
  if (!absl::SimpleAtoi(text.substr(slash + 1), &len) || len < 0 || len > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\": prefix length must be 0..", max));
  }
  for (int bit = len; bit < max; ++bit) {
    if (addr->bytes[bit / 8] & (0x80 >> (bit % 8))) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\": host bits are set (did you mean ", addr->toString(), "/",
                       len, " with host bits cleared?)"));
    }
  }
  return IpPrefix{*addr, len};
}

absl::StatusOr<IpPrefix> parseIpPrefixOrAddress(absl::string_view text) {
  if (text.find('/') != absl::string_view::npos) return parseIpPrefix(text);
  auto a = parseIpAddress(text);
  if (!a.ok()) return a.status();
  return IpPrefix{*a, a->isV4() ? 32 : 128};
}

std::string formatHostPort(const IpAddress& address, uint16_t port) {
  if (address.isV6()) return absl::StrCat("[", address.toString(), "]:", port);
  return absl::StrCat(address.toString(), ":", port);
}

}  // namespace xlb
