// SPDX-License-Identifier: Apache-2.0
// NAT entry layouts: wide form <-> per-family map layouts (nat_layout.h).
#include "dataplane/nat_layout.h"

#include <cstdint>
#include <cstring>

namespace xlb::dataplane {
namespace {

xlb_nat_head headOf(const xlb_nat_value& v) {
  xlb_nat_head h{};
  h.new_sport = v.new_sport;
  h.new_dport = v.new_dport;
  h.csum_l3 = static_cast<uint16_t>(v.csum_l3);
  h.csum_l4 = static_cast<uint16_t>(v.csum_l4);
  h.backend_id = v.backend_id;
  h.backend_gen = v.backend_gen;
  h.vip_id = v.vip_id;
  h.dir = v.dir;
  h.mode = v.mode;
  h.state = v.state;
  h.last_seen_ns = v.last_seen_ns;
  h.created_ns = v.created_ns;
  std::memcpy(h.l2, v.l2, sizeof(h.l2));
  h.ifindex = v.ifindex;
  return h;
}

xlb_nat_value wideOf(const xlb_nat_head& h) {
  xlb_nat_value v{};
  v.new_sport = h.new_sport;
  v.new_dport = h.new_dport;
  v.csum_l3 = h.csum_l3;
  v.csum_l4 = h.csum_l4;
  v.backend_id = h.backend_id;
  v.backend_gen = h.backend_gen;
  v.vip_id = h.vip_id;
  v.dir = h.dir;
  v.mode = h.mode;
  v.state = h.state;
  v.last_seen_ns = h.last_seen_ns;
  v.created_ns = h.created_ns;
  std::memcpy(v.l2, h.l2, sizeof(v.l2));
  v.ifindex = h.ifindex;
  return v;
}

}  // namespace

xlb_nat4_key natKey4(const xlb_flow_key& key) {
  xlb_nat4_key k{};
  std::memcpy(&k.src, key.src, 4);
  std::memcpy(&k.dst, key.dst, 4);
  k.sport = key.sport;
  k.dport = key.dport;
  k.proto = key.proto;
  return k;
}

xlb_flow_key natWideKey(const xlb_nat4_key& key) {
  xlb_flow_key k{};
  std::memcpy(k.src, &key.src, 4);
  std::memcpy(k.dst, &key.dst, 4);
  k.sport = key.sport;
  k.dport = key.dport;
  k.proto = key.proto;
  k.family = XLB_AF_INET;
  return k;
}

xlb_nat4_value natValue4(const xlb_nat_value& v) {
  xlb_nat4_value out{};
  out.h = headOf(v);
  std::memcpy(&out.new_src, v.new_src, 4);
  std::memcpy(&out.new_dst, v.new_dst, 4);
  return out;
}

xlb_nat6_value natValue6(const xlb_nat_value& v) {
  xlb_nat6_value out{};
  out.h = headOf(v);
  std::memcpy(out.new_src, v.new_src, 16);
  std::memcpy(out.new_dst, v.new_dst, 16);
  return out;
}

xlb_nat_value natWide(const xlb_nat4_value& v) {
  xlb_nat_value out = wideOf(v.h);
  std::memcpy(out.new_src, &v.new_src, 4);
  std::memcpy(out.new_dst, &v.new_dst, 4);
  return out;
}

xlb_nat_value natWide(const xlb_nat6_value& v) {
  xlb_nat_value out = wideOf(v.h);
  std::memcpy(out.new_src, v.new_src, 16);
  std::memcpy(out.new_dst, v.new_dst, 16);
  return out;
}

}  // namespace xlb::dataplane
