// SPDX-License-Identifier: Apache-2.0
// What the discovery rules read from a raw DNS answer beyond what c-ares' parsers return: the
// smallest TTL of the answer section, and the negative-caching TTL of a NXDOMAIN/NODATA answer
// (RFC 2308 §5: min of the SOA record's TTL and its MINIMUM field, from the authority section).
// Pure functions over the message bytes; a malformed message gives no TTL, never a crash.
#pragma once

#include <cstdint>
#include <optional>

namespace xlb::discovery {

// The smallest TTL of the answer section (CNAMEs included, as Envoy learnt in #28925), or 0.
uint32_t minAnswerTtl(const unsigned char* buf, int len);

// How long a negative answer may be cached: the smallest min(SOA TTL, SOA MINIMUM) of the SOA
// records in the authority section, also bounded by the TTLs of the answer section (a CNAME that
// led to the missing name may change first). nullopt when the message holds no SOA in its
// authority section or cannot be parsed.
std::optional<uint32_t> negativeTtl(const unsigned char* buf, int len);

}  // namespace xlb::discovery
