// SPDX-License-Identifier: Apache-2.0
// Renders MetricsInput as Prometheus text exposition format 0.0.4.
#include <charconv>
#include <map>
#include <utility>

#include "config/validate.h"
#include "metrics/metrics.h"

namespace xlb::metrics {
namespace {

using Labels = std::vector<std::pair<const char*, std::string>>;

// Global data-plane counters with a metric of their own (stats::globalCounterNames()); the XDP
// actions share xlb_xdp_actions_total and any name not listed here (a counter added to the ABI
// later) still appears, under xlb_datapath_events_total{event=...}.
struct GlobalMetric {
  const char* counter;
  const char* metric;
  const char* help;
};
constexpr GlobalMetric kGlobalMetrics[] = {
    {"rx", "xlb_rx_packets_total", "Packets the XDP balancer saw."},
    {"non_vip", "xlb_non_vip_packets_total",
     "Well-formed packets not addressed to a VIP, passed to the kernel."},
    {"malformed_pass", "xlb_malformed_passed_packets_total",
     "Malformed packets whose destination is not a VIP, passed to the kernel."},
    {"non_ip", "xlb_non_ip_packets_total", "Non-IP frames (ARP, LLDP, ...), passed to the kernel."},
    {"icmp_pass", "xlb_icmp_passed_packets_total",
     "ICMP/ICMPv6 packets to a VIP address, passed to the kernel."},
    {"flow_hit", "xlb_flow_hits_total", "Packets that followed a recorded flow."},
    {"flow_new", "xlb_flows_created_total",
     "New flows: the VIP's algorithm ran and the flow was recorded."},
    {"flow_resteer", "xlb_flow_resteers_total",
     "Packets of a recorded flow whose backend was gone, re-selected."},
    {"flow_update_fail", "xlb_flow_update_failures_total",
     "Flow-table inserts that failed (the packet was forwarded anyway)."},
    {"fib_lookup", "xlb_fib_lookups_total", "Next-hop cache refreshes through bpf_fib_lookup."},
    {"no_neigh_pass", "xlb_no_neighbour_passed_packets_total",
     "ipip packets handed to the kernel because the next hop's neighbour was unresolved."},
    {"flow_close", "xlb_flow_closes_total", "FIN/RST seen on an open flow."},
    {"conns_underflow", "xlb_open_flow_underflows_total",
     "Open-flow decrements that found the count at 0 (corrected by the agent's reconciler)."},
    {"icmp_fwd", "xlb_icmp_errors_forwarded_total",
     "ICMP errors about a VIP flow sent to the backend its flow entry names."},
    {"icmp_fwd_hash", "xlb_icmp_errors_forwarded_hashed_total",
     "ICMP errors about a VIP flow with no entry, sent to the backend the VIP's consistent hash picks."},
    {"icmp_no_flow_pass", "xlb_icmp_errors_no_flow_passed_total",
     "ICMP errors about a VIP flow with no entry and no consistent hash, passed to the kernel."},
    {"icmp_bad_quote_pass", "xlb_icmp_errors_bad_quote_passed_total",
     "ICMP errors to a VIP whose quoted packet is truncated or malformed, passed to the kernel."},
    {"icmp_non_vip_quote_pass", "xlb_icmp_errors_non_vip_quote_passed_total",
     "ICMP errors to a VIP address quoting a packet that is not a VIP flow, passed to the kernel."},
    {"flow_protect", "xlb_flows_protected_total",
     "Flows copied into the protected table after proving alive (flood protection)."},
    {"flow_protect_full", "xlb_flow_protect_full_total",
     "Promotions refused because the protected table was full."},
    {"flow_prot_hit", "xlb_flow_protected_hits_total",
     "Packets whose LRU entry was gone (evicted) and that followed their protected entry."},
    {"nat_hit", "xlb_nat_forward_packets_total",
     "Client packets of NAT connections translated toward their backend."},
    {"nat_reply", "xlb_nat_reply_packets_total",
     "Backend replies of NAT connections translated back to the client."},
    {"nat_new", "xlb_nat_connections_created_total", "NAT connections created (both entries)."},
    {"nat_port_probe", "xlb_nat_port_probes_total",
     "fullnat: SNAT ports tried beyond the first when allocating."},
    {"nat_race", "xlb_nat_create_races_total",
     "NAT connections another CPU created first (its entries were used)."},
    {"nat_resteer", "xlb_nat_resteers_total",
     "NAT connections re-created on another backend because theirs was gone."},
    {"nat_icmp_fwd", "xlb_nat_icmp_errors_forwarded_total",
     "ICMP errors about NAT replies translated toward the backend."},
    {"nat_icmp_reply", "xlb_nat_icmp_errors_reply_total",
     "ICMP errors from the backend's side translated toward the client."},
    {"nat_filter_miss", "xlb_nat_filter_passed_total",
     "Packets that passed the NAT reply filter, matched no entry and were not NAT replies."},
};
constexpr const char* kActions[] = {"aborted", "drop", "pass", "tx", "redirect"};

std::string formatDouble(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

std::string healthName(v1::Health h) {
  switch (h) {
    case v1::HEALTH_UP:
      return "up";
    case v1::HEALTH_DOWN:
      return "down";
    default:
      return "unknown";
  }
}

// Appends families in order; every family is written whole (HELP, TYPE, samples) before the next
// one, as the format requires.
class Writer {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;  // constant text: no backslash or line feed to escape
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void sample(const char* name, const Labels& labels, const std::string& value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      for (size_t i = 0; i < labels.size(); ++i) {
        if (i > 0) out_ += ',';
        out_ += labels[i].first;
        out_ += "=\"";
        out_ += escapeLabelValue(labels[i].second);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  void sample(const char* name, const Labels& labels, uint64_t value) {
    sample(name, labels, std::to_string(value));
  }
  void sampleDouble(const char* name, const Labels& labels, double value) {
    sample(name, labels, formatDouble(value));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string vipLabel(const v1::VipKey& key) {
  auto k = config::vipKeyOf(key);
  // Keys in Stats come from State and are always valid; the fallback keeps a scrape alive anyway.
  return k.ok() ? k->toString() : key.address() + ":" + std::to_string(key.port());
}

}  // namespace

std::string escapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string renderMetrics(const MetricsInput& in) {
  Writer w;
  const v1::Stats& s = in.stats;

  // ---- agent ----
  w.family("xlb_agent_info", "gauge", "Agent build information (always 1).");
  w.sample("xlb_agent_info", {{"version", in.agent.version}}, uint64_t{1});
  if (in.agent.program_id) {
    w.family("xlb_bpf_program_id", "gauge",
             "Kernel id of the XDP balancer program the agent loaded.");
    w.sample("xlb_bpf_program_id", {}, uint64_t{*in.agent.program_id});
  }
  w.family("xlb_apply_total", "counter",
           "Configuration applies (API, config file, health and drain re-plans; not dry runs).");
  w.sample("xlb_apply_total", {}, in.agent.apply.total);
  w.family("xlb_apply_errors_total", "counter", "Applies that failed (nothing was changed).");
  w.sample("xlb_apply_errors_total", {}, in.agent.apply.errors);
  w.family("xlb_last_apply_duration_seconds", "gauge",
           "Wall time of the most recent apply, successful or not.");
  w.sampleDouble("xlb_last_apply_duration_seconds", {}, in.agent.apply.last_duration_seconds);

  // ---- global data-plane counters ----
  std::map<std::string, uint64_t> global;
  for (const v1::NamedCounter& c : s.global()) global[c.name()] = c.value();
  w.family("xlb_xdp_actions_total", "counter", "XDP verdicts returned by the balancer, by action.");
  for (const char* a : kActions) {
    auto it = global.find(a);
    w.sample("xlb_xdp_actions_total", {{"action", a}}, it == global.end() ? 0 : it->second);
    if (it != global.end()) global.erase(it);
  }
  for (const GlobalMetric& m : kGlobalMetrics) {
    auto it = global.find(m.counter);
    if (it == global.end()) continue;
    w.family(m.metric, "counter", m.help);
    w.sample(m.metric, {}, it->second);
    global.erase(it);
  }
  if (!global.empty()) {
    w.family("xlb_datapath_events_total", "counter",
             "Other data-plane counters, by the name GetStats gives them.");
    for (const auto& [name, value] : global) {
      w.sample("xlb_datapath_events_total", {{"event", name}}, value);
    }
  }
  // ---- selection-table changes (README "Control plane at scale") ----
  if (s.has_table_writes()) {
    w.family("xlb_selection_table_writes_total", "counter",
             "Selection tables changed since the agent started, by how: flipped (in place, no RCU "
             "grace period) or swapped (a new map: new size, new or removed VIP, or a second change "
             "within a second).");
    w.sample("xlb_selection_table_writes_total", {{"how", "flipped"}}, s.table_writes().flipped());
    w.sample("xlb_selection_table_writes_total", {{"how", "swapped"}}, s.table_writes().swapped());
  }
  // ---- flow tables and floods (README "Flow-table floods") ----
  if (s.has_flow_table()) {
    const v1::FlowTableStats& f = s.flow_table();
    w.family("xlb_flow_table_capacity", "gauge", "Flow table capacity (entries), by table.");
    w.sample("xlb_flow_table_capacity", {{"table", "lru"}}, f.lru_capacity());
    w.sample("xlb_flow_table_capacity", {{"table", "protected"}}, f.protected_capacity());
    w.family("xlb_flow_table_entries", "gauge",
             "Flow table entries at the agent's last scan, by table.");
    w.sample("xlb_flow_table_entries", {{"table", "lru"}}, f.lru_entries());
    w.sample("xlb_flow_table_entries", {{"table", "protected"}}, f.protected_entries());
    w.family("xlb_flow_protected_only", "gauge",
             "Protected flows whose LRU entry was evicted (served by the protected table).");
    w.sample("xlb_flow_protected_only", {}, f.protected_only());
    w.family("xlb_flow_scan_seconds", "gauge",
             "Duration of the agent's last open-flow scan of the flow tables, by part (total, "
             "paused: the pauses that spread a large table's scan out).");
    w.sampleDouble("xlb_flow_scan_seconds", {{"part", "total"}}, f.scan_seconds());
    w.sampleDouble("xlb_flow_scan_seconds", {{"part", "paused"}}, f.scan_paused_seconds());
    w.family("xlb_new_flows_per_second", "gauge", "New-flow rate over the last reconcile interval.");
    w.sampleDouble("xlb_new_flows_per_second", {}, f.new_flow_rate());
    w.family("xlb_flow_table_turnover_seconds", "gauge",
             "Time for new flows to replace the whole LRU flow table at the current rate (0: none).");
    w.sampleDouble("xlb_flow_table_turnover_seconds", {}, f.turnover_seconds());
    w.family("xlb_flood_active", "gauge", "1 while the new-flow rate is above the flood threshold.");
    w.sample("xlb_flood_active", {}, uint64_t{f.flood_active() ? 1u : 0u});
    w.family("xlb_flood_threshold_flows_per_second", "gauge",
             "New-flow rate at which a flood is reported.");
    w.sampleDouble("xlb_flood_threshold_flows_per_second", {}, f.flood_threshold());
    w.family("xlb_floods_total", "counter", "Floods detected since the agent started.");
    w.sample("xlb_floods_total", {}, f.floods_started());
    w.family("xlb_flow_protected_expired_total", "counter",
             "Protected flows deleted by idle expiry since the agent started.");
    w.sample("xlb_flow_protected_expired_total", {}, f.protected_expired());
  }
  // ---- NAT connections (the collector's last pass) ----
  if (in.nat) {
    const nat::NatTableStatus& n = *in.nat;
    w.family("xlb_nat_capacity", "gauge", "NAT table capacity (entries; two per connection).");
    w.sample("xlb_nat_capacity", {}, n.capacity);
    w.family("xlb_nat_entries", "gauge", "NAT table entries at the collector's last pass.");
    w.sample("xlb_nat_entries", {}, n.entries);
    w.family("xlb_nat_table_fill_ratio", "gauge", "NAT table entries / capacity.");
    w.sampleDouble("xlb_nat_table_fill_ratio", {},
                   n.capacity ? static_cast<double>(n.entries) / static_cast<double>(n.capacity) : 0.0);
    w.family("xlb_nat_connections", "gauge", "NAT connections at the collector's last pass, by state.");
    for (auto st : {nat::ConnState::kSyn, nat::ConnState::kEstablished, nat::ConnState::kClosing,
                    nat::ConnState::kUdp}) {
      w.sample("xlb_nat_connections", {{"state", nat::stateName(st)}},
               n.by_state[static_cast<int>(st)]);
    }
    w.family("xlb_nat_expired_total", "counter", "NAT connections deleted by idle timeouts.");
    w.sample("xlb_nat_expired_total", {}, n.expired);
    w.family(
        "xlb_nat_pressure_expired_total", "counter",
        "Unanswered (or reset) NAT connections deleted early because the table was (nearly) full.");
    w.sample("xlb_nat_pressure_expired_total", {}, n.pressure_expired);
    w.family("xlb_nat_orphans_total", "counter", "NAT entries without their peer, deleted.");
    w.sample("xlb_nat_orphans_total", {}, n.orphans);
    w.family("xlb_nat_entries_peak", "gauge",
             "The most NAT table entries any collector pass found since the agent started.");
    w.sample("xlb_nat_entries_peak", {}, n.peak_entries);
    w.family(
        "xlb_nat_refused_total", "counter",
        "New NAT connections refused because the table was full (drop reason nat_table_full).");
    w.sample("xlb_nat_refused_total", {}, n.refused);
    w.family(
        "xlb_nat_pressure", "gauge",
        "1 while a NAT table pressure episode goes on (unanswered connections expired early).");
    w.sample("xlb_nat_pressure", {}, n.pressure ? 1 : 0);
    w.family("xlb_nat_pressure_episodes_total", "counter",
             "NAT table pressure episodes since the agent started.");
    w.sample("xlb_nat_pressure_episodes_total", {}, n.pressure_episodes);
    w.family("xlb_nat_full_episodes_total", "counter",
             "NAT table pressure episodes in which new connections were refused (table full).");
    w.sample("xlb_nat_full_episodes_total", {}, n.full_episodes);
  }
  if (!in.nat_failures.empty()) {
    w.family("xlb_nat_port_alloc_failures_total", "counter",
             "fullnat connections refused: no free SNAT port toward the backend.");
    for (const NatFailure& f : in.nat_failures) {
      w.sample("xlb_nat_port_alloc_failures_total", {{"vip", f.vip}, {"backend", f.backend}},
               f.count);
    }
  }
  w.family("xlb_drops_total", "counter", "Packets dropped by the balancer, by reason.");
  for (const v1::NamedCounter& c : s.drops()) {
    w.sample("xlb_drops_total", {{"reason", c.name()}}, c.value());
  }

  // ---- per VIP ----
  std::vector<std::string> vip_labels;
  for (const v1::VipStats& v : s.vips()) vip_labels.push_back(vipLabel(v.vip()));
  auto perVip = [&](const char* name, const char* help, uint64_t (*get)(const v1::Counters&)) {
    w.family(name, "counter", help);
    for (int i = 0; i < s.vips_size(); ++i) {
      w.sample(name, {{"vip", vip_labels[i]}}, get(s.vips(i).counters()));
    }
  };
  perVip("xlb_vip_packets_total", "Packets forwarded to a VIP's backends.",
         [](const v1::Counters& c) { return c.packets(); });
  perVip("xlb_vip_bytes_total", "Bytes forwarded to a VIP's backends (as received).",
         [](const v1::Counters& c) { return c.bytes(); });
  perVip("xlb_vip_new_flows_total", "Flows a VIP's algorithm placed.",
         [](const v1::Counters& c) { return c.new_flows(); });

  std::map<std::string, const v1::VipStatus*> status_by_vip;
  for (const v1::VipStatus& st : in.vips) status_by_vip[vipLabel(st.vip())] = &st;
  w.family("xlb_vip_all_down", "gauge",
           "1 while every backend of the VIP is down and its all-down policy is in force.");
  for (const auto& [label, st] : status_by_vip) {
    w.sample("xlb_vip_all_down", {{"vip", label}}, uint64_t{st->all_down() ? 1u : 0u});
  }
  w.family("xlb_vip_table_slots", "gauge",
           "Selection-table slots in effect for the VIP (configured, or chosen from the backend "
           "count); 0 without a table.");
  for (const auto& [label, st] : status_by_vip) {
    w.sample("xlb_vip_table_slots", {{"vip", label}}, uint64_t{st->table_size()});
  }
  w.family("xlb_vip_kernel_bytes", "gauge",
           "Kernel memory the VIP's own map entries take (entry, table, backend slots, per-CPU "
           "counters).");
  for (const auto& [label, st] : status_by_vip) {
    w.sample("xlb_vip_kernel_bytes", {{"vip", label}}, uint64_t{st->kernel_bytes()});
  }

  // ---- per backend ----
  auto perBackend = [&](const char* name, const char* type, const char* help, auto get) {
    w.family(name, type, help);
    for (int i = 0; i < s.vips_size(); ++i) {
      for (const v1::BackendStats& b : s.vips(i).backends()) {
        w.sample(name, {{"vip", vip_labels[i]}, {"backend", b.address()}}, get(b));
      }
    }
  };
  perBackend("xlb_backend_packets_total", "counter", "Packets forwarded to a backend.",
             [](const v1::BackendStats& b) { return b.counters().packets(); });
  perBackend("xlb_backend_bytes_total", "counter", "Bytes forwarded to a backend (as received).",
             [](const v1::BackendStats& b) { return b.counters().bytes(); });
  perBackend("xlb_backend_new_flows_total", "counter", "Flows placed on a backend.",
             [](const v1::BackendStats& b) { return b.counters().new_flows(); });
  perBackend("xlb_backend_open_flows", "gauge",
             "Open flows on a backend (the data plane's count, reconciled periodically).",
             [](const v1::BackendStats& b) { return b.open_flows(); });
  perBackend("xlb_backend_weight", "gauge", "Configured weight of a backend.",
             [](const v1::BackendStats& b) { return uint64_t{b.weight()}; });
  perBackend("xlb_backend_up", "gauge",
             "1 unless health checks found the backend down (unknown and unchecked count as up).",
             [](const v1::BackendStats& b) { return uint64_t{b.health() != v1::HEALTH_DOWN}; });
  perBackend(
      "xlb_backend_draining", "gauge", "1 while the backend is administratively draining.",
      [](const v1::BackendStats& b) { return uint64_t{b.state() == v1::BACKEND_STATE_DRAINING}; });

  w.family("xlb_backend_health", "gauge",
           "Health-check state of a backend: 1 for its current state, 0 for the others.");
  for (int i = 0; i < s.vips_size(); ++i) {
    for (const v1::BackendStats& b : s.vips(i).backends()) {
      const std::string current = healthName(b.health());
      for (const char* h : {"up", "down", "unknown"}) {
        w.sample("xlb_backend_health",
                 {{"vip", vip_labels[i]}, {"backend", b.address()}, {"state", h}},
                 uint64_t{current == h});
      }
    }
  }

  w.family("xlb_backend_in_rotation", "gauge",
           "1 while the backend is in its VIP's selection table (receives new flows).");
  for (int i = 0; i < s.vips_size(); ++i) {
    auto st = status_by_vip.find(vip_labels[i]);
    if (st == status_by_vip.end()) continue;  // VIP deleted between the reads
    for (const v1::BackendStatus& b : st->second->backends()) {
      w.sample("xlb_backend_in_rotation", {{"vip", vip_labels[i]}, {"backend", b.address()}},
               uint64_t{b.in_rotation()});
    }
  }
  return w.take();
}

}  // namespace xlb::metrics
