// SPDX-License-Identifier: Apache-2.0
// IP address and prefix parsing/formatting shared by config, state, dataplane and the CLI.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace xlb {

// An IPv4 or IPv6 address in network byte order, laid out like the data-plane keys: IPv4 in
// bytes[0..3], the rest zero; family is XLB_AF_INET or XLB_AF_INET6.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};
  uint8_t family = 0;

  bool isV4() const;
  bool isV6() const;
  std::string toString() const;
  auto operator<=>(const IpAddress&) const = default;
};

// Parses a literal ("10.0.0.1", "2001:db8::1"); brackets and zone ids are rejected.
absl::StatusOr<IpAddress> parseIpAddress(absl::string_view text);

// The address in a data-plane record's 16 address bytes (keys, backends, NAT values) of `family`.
IpAddress addressOf(const uint8_t* bytes, uint8_t family);

struct IpPrefix {
  IpAddress address;
  int length = 0;
  std::string toString() const;
  // `a` is of the prefix's family and its first `length` bits are the prefix's.
  bool contains(const IpAddress& a) const;
};

// Parses "10.0.0.0/16" or "fd00::/64"; host bits must be zero.
absl::StatusOr<IpPrefix> parseIpPrefix(absl::string_view text);

// A prefix as parseIpPrefix, or an address as its /32 or /128 (filters that take either).
absl::StatusOr<IpPrefix> parseIpPrefixOrAddress(absl::string_view text);

// "10.0.0.1:80" or "[2001:db8::1]:80" ("/tcp" suffixes are not handled here).
std::string formatHostPort(const IpAddress& address, uint16_t port);

}  // namespace xlb
