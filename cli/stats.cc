// SPDX-License-Identifier: Apache-2.0
// `lbctl stats`: global data-plane counters, drops by reason, per-VIP and per-backend traffic.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "args.h"
#include "commands.h"

namespace xlb::cli {
namespace {

void printStats(const xlb::v1::Stats& s) {
  // Global counters and drops side by side would be denser, but one table per concern keeps the
  // output greppable (`lbctl stats | grep flow_new`).
  Table global({"COUNTER", "VALUE"}, {false, true});
  for (const auto& c : s.global()) global.addRow({c.name(), formatCount(c.value())});
  std::cout << "Global counters\n";
  global.print(std::cout);

  Table drops({"DROP REASON", "PACKETS"}, {false, true});
  for (const auto& c : s.drops()) drops.addRow({c.name(), formatCount(c.value())});
  std::cout << "\nDrops\n";
  drops.print(std::cout);

  Table vips({"VIP", "NAME", "PACKETS", "BYTES", "NEW FLOWS"}, {false, false, true, true, true});
  Table backends({"VIP", "BACKEND", "WEIGHT", "STATE", "HEALTH", "OPEN FLOWS", "PACKETS", "BYTES",
                  "NEW FLOWS", "FLOW SHARE"},
                 {false, false, true, false, false, true, true, true, true, true});
  for (const auto& v : s.vips()) {
    const std::string key = formatVipKey(v.vip());
    vips.addRow({key, v.name().empty() ? "-" : v.name(), formatCount(v.counters().packets()),
                 formatCount(v.counters().bytes()), formatCount(v.counters().new_flows())});
    uint64_t total_flows = 0;
    for (const auto& b : v.backends()) total_flows += b.counters().new_flows();
    for (const auto& b : v.backends()) {
      const uint64_t nf = b.counters().new_flows();
      backends.addRow(
          {key, b.address(), absl::StrCat(b.weight()), backendStateName(b.state()),
           healthName(b.health()), formatCount(b.open_flows()), formatCount(b.counters().packets()),
           formatCount(b.counters().bytes()), formatCount(nf),
           total_flows == 0 ? "-"
                            : absl::StrFormat("%.1f%%", 100.0 * static_cast<double>(nf) /
                                                            static_cast<double>(total_flows))});
    }
  }
  if (s.has_flow_table()) {
    // Flood protection (README "Flow-table floods"): pressure and flood state.
    const auto& f = s.flow_table();
    Table ft({"FLOW TABLE", "VALUE"}, {false, true});
    ft.addRow({"lru entries", absl::StrCat(formatCount(f.lru_entries()), " / ",
                                           formatCount(f.lru_capacity()))});
    ft.addRow({"protected entries", absl::StrCat(formatCount(f.protected_entries()), " / ",
                                                 formatCount(f.protected_capacity()))});
    ft.addRow({"protected, LRU entry evicted", formatCount(f.protected_only())});
    ft.addRow({"new flows/s", absl::StrFormat("%.0f", f.new_flow_rate())});
    ft.addRow({"lru turnover", f.turnover_seconds() > 0
                                   ? absl::StrFormat("%.1f s", f.turnover_seconds())
                                   : std::string("-")});
    ft.addRow({"flood", absl::StrFormat("%s (threshold %.0f/s, %d so far)",
                                        f.flood_active() ? "ACTIVE" : "no", f.flood_threshold(),
                                        f.floods_started())});
    ft.addRow({"protected expired", formatCount(f.protected_expired())});
    ft.addRow({"last scan", absl::StrFormat("%.3f s (%.3f s paused)", f.scan_seconds(),
                                            f.scan_paused_seconds())});
    std::cout << "\nFlow table\n";
    ft.print(std::cout);
  }
  if (s.has_table_writes()) {
    std::cout << "\nSelection tables changed: " << formatCount(s.table_writes().flipped())
              << " in place, " << formatCount(s.table_writes().swapped()) << " swapped\n";
  }
  if (s.nat_table().capacity() > 0) {
    std::cout << "\nNAT table\n";
    natStatsTable(s.nat_table()).print(std::cout);
  }
  std::cout << "\nVIPs\n";
  vips.print(std::cout);
  std::cout << "\nBackends\n";
  backends.print(std::cout);
}

}  // namespace

void addStatsCommand(CLI::App& app, CommandContext& ctx) {
  auto* stats =
      app.add_subcommand("stats", "Show data-plane counters (global, drops, VIPs, backends)");
  stats->callback([&ctx] {
    ctx.action = [&ctx](Client& client) {
      xlb::v1::GetStatsRequest req;
      return callAndPrint<xlb::v1::Stats>(
          client,
          [&](grpc::ClientContext* c, xlb::v1::Stats* r) {
            return client.stub().GetStats(c, req, r);
          },
          [&](const xlb::v1::Stats& r) {
            if (ctx.global.format() == OutputFormat::kJson) {
              std::cout << toJson(r);
            } else {
              printStats(r);
            }
          });
    };
  });
}

}  // namespace xlb::cli
