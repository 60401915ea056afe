// SPDX-License-Identifier: Apache-2.0
// `lbctl flows`: a sample of the data plane's flow table and of the NAT table's connections
// (Inspector.ListFlows), filtered by VIP, backend or client.
#include <algorithm>
#include <iostream>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "args.h"
#include "commands.h"
#include "common/address.h"
#include "inspect_args.h"

namespace xlb::cli {
namespace {

struct FlowsArgs {
  std::string vip;
  std::string vip_name;
  std::string backend;
  std::string client;
  uint32_t limit = 0;
};

std::string endpoint(const std::string& address, uint32_t port) {
  auto a = parseIpAddress(address);
  if (!a.ok()) return absl::StrCat(address, ":", port);
  return formatHostPort(*a, static_cast<uint16_t>(port));
}

void printFlows(const xlb::v1::ListFlowsResponse& r) {
  // NAT connections (nat / fullnat VIPs) add a column: the tuple the backend sees.
  const bool any_nat =
      std::any_of(r.flows().begin(), r.flows().end(), [](const auto& f) { return f.has_nat(); });
  std::vector<std::string> header = {"CLIENT", "DESTINATION", "VIP", "BACKEND", "IDLE", "FLAGS"};
  std::vector<bool> numeric = {false, false, false, false, true, false};
  if (any_nat) {
    header.push_back("NAT SOURCE -> BACKEND");
    numeric.push_back(false);
  }
  Table t(header, numeric);
  for (const auto& f : r.flows()) {
    std::string vip = "-";
    if (f.has_vip()) vip = f.vip_name().empty() ? formatVipKey(f.vip()) : f.vip_name();
    std::string backend = f.backend_address().empty()
                              ? absl::StrCat("id ", f.backend_id(), " (reassigned)")
                              : f.backend_address();
    std::vector<std::string> flags;
    if (f.has_nat()) flags.push_back(forwardingName(f.nat().forwarding()));
    if (f.closing()) flags.push_back("closing");
    if (f.has_nat() && !f.nat().answered()) flags.push_back("unanswered");
    if (f.protected_()) flags.push_back("protected");
    // The next packet runs the algorithm again (backend deleted or health-down).
    if (!f.backend_current()) flags.push_back("resteer");
    std::vector<std::string> row = {
        endpoint(f.client_address(), f.client_port()),
        absl::StrCat(endpoint(f.dst_address(), f.dst_port()), "/", protocolName(f.protocol())),
        vip,
        backend,
        formatAge(f.idle_ms()),
        flags.empty() ? "-" : absl::StrJoin(flags, ",")};
    if (any_nat) {
      row.push_back(f.has_nat()
                        ? absl::StrCat(endpoint(f.nat().source_address(), f.nat().source_port()),
                                       " -> ",
                                       endpoint(f.nat().backend_address(), f.nat().backend_port()))
                        : "-");
    }
    t.addRow(std::move(row));
  }
  t.print(std::cout);
  std::cout << r.flows_size() << " of " << r.matched() << " matching flow"
            << (r.matched() == 1 ? "" : "s") << " shown (most recently active first; "
            << r.scanned() << " flow-table entries";
  if (r.nat_scanned() > 0)
    std::cout << " and " << r.nat_scanned() << " NAT connection"
              << (r.nat_scanned() == 1 ? "" : "s");
  std::cout << " scanned)";
  if (r.truncated()) std::cout << "; raise --limit or narrow the filters to see more";
  std::cout << "\n";
}

int flows(Client& client, const FlowsArgs& a, OutputFormat format) {
  xlb::v1::ListFlowsRequest req;
  if (!a.vip.empty()) {
    auto key = parseVipFilter(a.vip);
    if (!key.ok()) return reportLocalError(key.status(), kExitUsage);
    *req.mutable_vip() = *key;
  }
  req.set_vip_name(a.vip_name);
  if (!a.backend.empty()) {
    auto b = parseBackendRefArg(a.backend, "--backend");
    if (!b.ok()) return reportLocalError(b.status(), kExitUsage);
    req.set_backend(*b);
  }
  if (!a.client.empty()) {
    auto c = parseClientFilter(a.client);
    if (!c.ok()) return reportLocalError(c.status(), kExitUsage);
    req.set_client(c->address);
    req.set_client_port(c->port);
  }
  req.set_limit(a.limit);
  auto stub = xlb::v1::Inspector::NewStub(client.channel());
  return callAndPrint<xlb::v1::ListFlowsResponse>(
      client,
      [&](grpc::ClientContext* c, xlb::v1::ListFlowsResponse* r) {
        return stub->ListFlows(c, req, r);
      },
      [&](const xlb::v1::ListFlowsResponse& r) {
        if (format == OutputFormat::kJson) {
          std::cout << toJson(r);
        } else {
          printFlows(r);
        }
      });
}

}  // namespace

void addFlowsCommand(CLI::App& app, CommandContext& ctx) {
  auto args = std::make_shared<FlowsArgs>();
  auto* cmd = app.add_subcommand(
      "flows",
      "Show flow-table entries and NAT connections (most recently active first): client, VIP, "
      "backend; for nat / fullnat VIPs also the translated source -> backend");
  auto* vip = cmd->add_option("--vip", args->vip,
                              "Only flows of this VIP: ADDR:PORT[/tcp|udp] (default tcp)");
  cmd->add_option("--vip-name", args->vip_name, "Only flows of the VIP with this name")
      ->excludes(vip);
  cmd->add_option("--backend", args->backend,
                  "Only flows recorded on this backend: ADDR (any port), ADDR:PORT or [V6]:PORT");
  cmd->add_option("--client", args->client,
                  "Only flows from this client: IP[/LEN][:PORT], [IPv6[/LEN]]:PORT");
  cmd->add_option("--limit", args->limit, "At most this many flows (1..10000; default 100)");
  cmd->callback([&ctx, args] {
    ctx.action = [&ctx, args](Client& client) { return flows(client, *args, ctx.global.format()); };
  });
}

}  // namespace xlb::cli
