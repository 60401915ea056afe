// SPDX-License-Identifier: Apache-2.0
// The data plane's flow key of a packet src:sport -> dst:dport, for tests that write or look up
// flow-table and NAT entries (tests/unit, tests/cli).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include "common/address.h"
#include "xlb/abi.h"

namespace xlb::test {

inline xlb_flow_key flowKey(const std::string& src, uint16_t sport, const std::string& dst,
                            uint16_t dport, uint8_t proto = IPPROTO_TCP) {
  auto s = *parseIpAddress(src);
  auto d = *parseIpAddress(dst);
  xlb_flow_key k{};
  std::memcpy(k.src, s.bytes.data(), 16);
  std::memcpy(k.dst, d.bytes.data(), 16);
  k.sport = htons(sport);
  k.dport = htons(dport);
  k.proto = proto;
  k.family = s.family;
  return k;
}

}  // namespace xlb::test
