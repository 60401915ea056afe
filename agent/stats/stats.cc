// SPDX-License-Identifier: Apache-2.0
// Counter naming and id resolution for GetStats.
#include "stats/stats.h"

#include "xlb/abi.h"

namespace xlb::stats {
namespace {

uint64_t at(const std::vector<uint64_t>& v, size_t i) { return i < v.size() ? v[i] : 0; }

xlb_counters at(const std::vector<xlb_counters>& v, size_t i) {
  return i < v.size() ? v[i] : xlb_counters{};
}

void fill(v1::Counters* out, const xlb_counters& c) {
  out->set_packets(c.packets);
  out->set_bytes(c.bytes);
  out->set_new_flows(c.new_flows);
}

}  // namespace

const std::vector<std::string>& globalCounterNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n(XLB_STAT_MAX);
    n[XLB_STAT_ABORTED] = "aborted";
    n[XLB_STAT_DROP] = "drop";
    n[XLB_STAT_PASS] = "pass";
    n[XLB_STAT_TX] = "tx";
    n[XLB_STAT_REDIRECT] = "redirect";
    n[XLB_STAT_RX] = "rx";
    n[XLB_STAT_NON_VIP] = "non_vip";
    n[XLB_STAT_MALFORMED_PASS] = "malformed_pass";
    n[XLB_STAT_NON_IP] = "non_ip";
    n[XLB_STAT_ICMP_PASS] = "icmp_pass";
    n[XLB_STAT_FLOW_HIT] = "flow_hit";
    n[XLB_STAT_FLOW_NEW] = "flow_new";
    n[XLB_STAT_FLOW_RESTEER] = "flow_resteer";
    n[XLB_STAT_FLOW_UPDATE_FAIL] = "flow_update_fail";
    n[XLB_STAT_FIB_LOOKUP] = "fib_lookup";
    n[XLB_STAT_NO_NEIGH_PASS] = "no_neigh_pass";
    n[XLB_STAT_FLOW_CLOSE] = "flow_close";
    n[XLB_STAT_CONNS_UNDERFLOW] = "conns_underflow";
    n[XLB_STAT_ICMP_FWD] = "icmp_fwd";
    n[XLB_STAT_ICMP_FWD_HASH] = "icmp_fwd_hash";
    n[XLB_STAT_ICMP_NO_FLOW_PASS] = "icmp_no_flow_pass";
    n[XLB_STAT_ICMP_BAD_QUOTE_PASS] = "icmp_bad_quote_pass";
    n[XLB_STAT_ICMP_NON_VIP_QUOTE_PASS] = "icmp_non_vip_quote_pass";
    n[XLB_STAT_FLOW_PROTECT] = "flow_protect";
    n[XLB_STAT_FLOW_PROTECT_FULL] = "flow_protect_full";
    n[XLB_STAT_FLOW_PROT_HIT] = "flow_prot_hit";
    n[XLB_STAT_NAT_HIT] = "nat_hit";
    n[XLB_STAT_NAT_REPLY] = "nat_reply";
    n[XLB_STAT_NAT_NEW] = "nat_new";
    n[XLB_STAT_NAT_PORT_PROBE] = "nat_port_probe";
    n[XLB_STAT_NAT_RACE] = "nat_race";
    n[XLB_STAT_NAT_RESTEER] = "nat_resteer";
    n[XLB_STAT_NAT_ICMP_FWD] = "nat_icmp_fwd";
    n[XLB_STAT_NAT_ICMP_REPLY] = "nat_icmp_reply";
    n[XLB_STAT_NAT_FILTER_MISS] = "nat_filter_miss";
    static_assert(XLB_STAT_MAX == 35, "name the new XLB_STAT_* counter here");
    return n;
  }();
  return names;
}

const std::vector<std::string>& dropReasonNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n(XLB_DROP_MAX);
    n[XLB_DROP_TRUNCATED] = "truncated";
    n[XLB_DROP_BAD_IHL] = "bad_ihl";
    n[XLB_DROP_IP_OPTIONS] = "ip_options";
    n[XLB_DROP_FRAGMENT] = "fragment";
    n[XLB_DROP_UNKNOWN_PROTO] = "unknown_proto";
    n[XLB_DROP_NO_BACKEND] = "no_backend";
    n[XLB_DROP_NO_NEIGH] = "no_neigh";
    n[XLB_DROP_FIB] = "fib";
    n[XLB_DROP_ENCAP] = "encap";
    n[XLB_DROP_BAD_LEN] = "bad_len";
    n[XLB_DROP_TCP_DOFF_SHORT] = "tcp_doff_short";
    n[XLB_DROP_TCP_DOFF_OVERRUN] = "tcp_doff_overrun";
    n[XLB_DROP_BAD_SOURCE] = "bad_source";
    n[XLB_DROP_L2_MULTICAST] = "l2_multicast";
    n[XLB_DROP_VLAN] = "vlan_not_allowed";
    n[XLB_DROP_NAT_FULL] = "nat_table_full";
    n[XLB_DROP_NAT_NO_PORT] = "nat_no_port";
    n[XLB_DROP_NAT_REPLY_MISS] = "nat_reply_miss";
    n[XLB_DROP_NAT_COLLISION] = "nat_collision";
    n[XLB_DROP_NAT_HAIRPIN] = "nat_hairpin";
    static_assert(XLB_DROP_MAX == 20, "name the new XLB_DROP_* reason here");
    return n;
  }();
  return names;
}

v1::Stats buildStats(const dataplane::CounterSnapshot& snapshot, std::span<const state::VipIds> ids,
                     std::span<const uint64_t> open_flows,
                     const dataplane::FlowTableStatus* flow_table) {
  v1::Stats out;
  if (flow_table) {
    auto* f = out.mutable_flow_table();
    f->set_lru_capacity(flow_table->lru_capacity);
    f->set_lru_entries(flow_table->lru_entries);
    f->set_protected_capacity(flow_table->protected_capacity);
    f->set_protected_entries(flow_table->protected_entries);
    f->set_protected_only(flow_table->protected_only);
    f->set_new_flow_rate(flow_table->new_flow_rate);
    f->set_turnover_seconds(flow_table->turnoverSeconds());
    f->set_flood_active(flow_table->flood_active);
    f->set_floods_started(flow_table->floods_started);
    f->set_flood_threshold(flow_table->flood_start_rate);
    f->set_protected_expired(flow_table->protected_expired);
    f->set_scan_seconds(flow_table->scan_seconds);
    f->set_scan_paused_seconds(flow_table->scan_paused_seconds);
  }
  // rx first, then what happened to packets (actions), then the flow/slow-path events.
  static constexpr int kGlobalOrder[] = {XLB_STAT_RX,           XLB_STAT_TX,
                                         XLB_STAT_PASS,         XLB_STAT_DROP,
                                         XLB_STAT_REDIRECT,     XLB_STAT_ABORTED,
                                         XLB_STAT_NON_VIP,      XLB_STAT_MALFORMED_PASS,
                                         XLB_STAT_NON_IP,       XLB_STAT_ICMP_PASS,
                                         XLB_STAT_FLOW_HIT,     XLB_STAT_FLOW_NEW,
                                         XLB_STAT_FLOW_RESTEER, XLB_STAT_FLOW_UPDATE_FAIL,
                                         XLB_STAT_FIB_LOOKUP,   XLB_STAT_NO_NEIGH_PASS,
                                         XLB_STAT_FLOW_CLOSE,   XLB_STAT_CONNS_UNDERFLOW,
                                         XLB_STAT_FLOW_PROTECT, XLB_STAT_FLOW_PROTECT_FULL,
                                         XLB_STAT_FLOW_PROT_HIT, XLB_STAT_ICMP_FWD,
                                         XLB_STAT_ICMP_FWD_HASH, XLB_STAT_ICMP_NO_FLOW_PASS,
                                         XLB_STAT_ICMP_BAD_QUOTE_PASS,
                                         XLB_STAT_ICMP_NON_VIP_QUOTE_PASS,
                                         XLB_STAT_NAT_HIT,      XLB_STAT_NAT_REPLY,
                                         XLB_STAT_NAT_NEW,      XLB_STAT_NAT_PORT_PROBE,
                                         XLB_STAT_NAT_RACE,     XLB_STAT_NAT_RESTEER,
                                         XLB_STAT_NAT_ICMP_FWD, XLB_STAT_NAT_ICMP_REPLY,
                                         XLB_STAT_NAT_FILTER_MISS};
  static_assert(std::size(kGlobalOrder) == XLB_STAT_MAX);
  for (int i : kGlobalOrder) {
    auto* c = out.add_global();
    c->set_name(globalCounterNames()[i]);
    c->set_value(at(snapshot.global, i));
  }
  for (int i = 0; i < XLB_DROP_MAX; ++i) {
    auto* c = out.add_drops();
    c->set_name(dropReasonNames()[i]);
    c->set_value(at(snapshot.drops, i));
  }
  for (const state::VipIds& vip : ids) {
    auto* v = out.add_vips();
    *v->mutable_vip() = vip.key.toProto();
    v->set_name(vip.name);
    fill(v->mutable_counters(), at(snapshot.vips, vip.id));
    for (const state::BackendIds& b : vip.backends) {
      auto* bs = v->add_backends();
      bs->set_address(b.address);
      bs->set_weight(b.weight);
      fill(bs->mutable_counters(), at(snapshot.backends, b.id));
      bs->set_open_flows(b.id < open_flows.size() ? open_flows[b.id] : 0);
      bs->set_health(b.health);
      bs->set_state(b.state);
    }
  }
  return out;
}

}  // namespace xlb::stats
