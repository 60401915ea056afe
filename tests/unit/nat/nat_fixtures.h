// SPDX-License-Identifier: Apache-2.0
// Builders of xlb_nat entry pairs for the NAT unit tests, laid out as abi.h "NAT" describes.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include "common/address.h"
#include "xlb/abi.h"

namespace xlb::nat::testing {

struct PairSpec {
  std::string client = "192.0.2.1";
  uint16_t cport = 40000;
  std::string vip = "10.0.0.10";
  uint16_t vport = 80;
  std::string backend = "10.0.1.1";
  uint16_t bport = 8000;
  std::string snat;  // fullnat when set
  uint16_t sport = 61000;
  uint8_t proto = IPPROTO_TCP;
  uint32_t vip_id = 0;
  uint32_t backend_id = 0;
  uint32_t backend_gen = 1;
  uint8_t fwd_state = 0;
  uint8_t rev_state = 0;
  uint64_t created_ns = 0;
  uint64_t fwd_seen_ns = 0;
  uint64_t rev_seen_ns = 0;
};

inline void put(uint8_t* dst, const std::string& text) {
  auto a = *parseIpAddress(text);
  std::memcpy(dst, a.bytes.data(), 16);
}

struct Pair {
  xlb_flow_key fwd_key{};
  xlb_nat_value fwd{};
  xlb_flow_key rev_key{};
  xlb_nat_value rev{};
};

inline Pair makePair(const PairSpec& s) {
  Pair p;
  const uint8_t family = parseIpAddress(s.client)->family;
  const bool full = !s.snat.empty();
  put(p.fwd_key.src, s.client);
  put(p.fwd_key.dst, s.vip);
  p.fwd_key.sport = htons(s.cport);
  p.fwd_key.dport = htons(s.vport);
  p.fwd_key.proto = s.proto;
  p.fwd_key.family = family;
  put(p.fwd.new_src, full ? s.snat : s.client);
  put(p.fwd.new_dst, s.backend);
  p.fwd.new_sport = htons(full ? s.sport : s.cport);
  p.fwd.new_dport = htons(s.bport);
  p.fwd.dir = XLB_NAT_DIR_FWD;

  put(p.rev_key.src, s.backend);
  put(p.rev_key.dst, full ? s.snat : s.client);
  p.rev_key.sport = htons(s.bport);
  p.rev_key.dport = htons(full ? s.sport : s.cport);
  p.rev_key.proto = s.proto;
  p.rev_key.family = family;
  put(p.rev.new_src, s.vip);
  put(p.rev.new_dst, s.client);
  p.rev.new_sport = htons(s.vport);
  p.rev.new_dport = htons(s.cport);
  p.rev.dir = XLB_NAT_DIR_REV;

  for (xlb_nat_value* v : {&p.fwd, &p.rev}) {
    v->backend_id = s.backend_id;
    v->backend_gen = s.backend_gen;
    v->vip_id = s.vip_id;
    v->mode = full ? XLB_FWD_FULLNAT : XLB_FWD_NAT;
    v->created_ns = s.created_ns;
  }
  p.fwd.state = s.fwd_state;
  p.rev.state = s.rev_state;
  p.fwd.last_seen_ns = s.fwd_seen_ns ? s.fwd_seen_ns : s.created_ns;
  p.rev.last_seen_ns = s.rev_seen_ns ? s.rev_seen_ns : s.created_ns;
  return p;
}

}  // namespace xlb::nat::testing
