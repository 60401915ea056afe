// SPDX-License-Identifier: Apache-2.0
// `lbctl nat list|flush`: the NAT connections of nat / fullnat VIPs (Inspector.ListNat / FlushNat),
// filtered by VIP, backend or client.
#include <iostream>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "args.h"
#include "commands.h"
#include "common/address.h"
#include "inspect_args.h"

namespace xlb::cli {

absl::StatusOr<xlb::v1::NatFilter> buildNatFilter(const NatFilterArgs& a) {
  xlb::v1::NatFilter f;
  if (!a.vip.empty() && !a.vip_name.empty()) {
    return absl::InvalidArgumentError("--vip and --vip-name: give at most one");
  }
  if (!a.vip.empty()) {
    auto key = parseVipFilter(a.vip);
    if (!key.ok()) return key.status();
    *f.mutable_vip() = *key;
  }
  f.set_vip_name(a.vip_name);
  if (!a.backend.empty()) {
    auto b = parseBackendRefArg(a.backend, "--backend");
    if (!b.ok()) return b.status();
    f.set_backend(*b);
  }
  if (!a.client.empty()) {
    // An address or a prefix; NAT connections are not filtered by client port.
    absl::string_view addr = a.client;
    addr = addr.substr(0, addr.find('/'));
    const bool v4_port = addr.find(':') != absl::string_view::npos &&
                         addr.find(':') == addr.rfind(':') && addr.find('.') != addr.npos;
    if (v4_port || absl::StartsWith(addr, "[")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--client \"", a.client,
          "\": NAT connections are filtered by client address or prefix, not port (e.g. "
          "192.0.2.7, 192.0.2.0/24 or 2001:db8::/64)"));
    }
    if (auto ip = parseIpAddress(addr); !ip.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--client: ", ip.status().message(),
                       "; expected an address or prefix, e.g. 192.0.2.7 or 192.0.2.0/24"));
    }
    f.set_client(a.client);
  }
  return f;
}

namespace {

int natList(Client& client, const NatFilterArgs& a, uint32_t limit, OutputFormat format) {
  auto filter = buildNatFilter(a);
  if (!filter.ok()) return reportLocalError(filter.status(), kExitUsage);
  xlb::v1::ListNatRequest req;
  *req.mutable_filter() = *filter;
  req.set_limit(limit);
  auto stub = xlb::v1::Inspector::NewStub(client.channel());
  return callAndPrint<xlb::v1::ListNatResponse>(
      client,
      [&](grpc::ClientContext* c, xlb::v1::ListNatResponse* r) { return stub->ListNat(c, req, r); },
      [&](const xlb::v1::ListNatResponse& r) {
        if (format == OutputFormat::kJson) {
          std::cout << toJson(r);
          return;
        }
        natTable(r).print(std::cout);
        std::cout << natSummary(r);
      });
}

int natFlush(Client& client, const NatFilterArgs& a, OutputFormat format) {
  auto filter = buildNatFilter(a);
  if (!filter.ok()) return reportLocalError(filter.status(), kExitUsage);
  xlb::v1::FlushNatRequest req;
  *req.mutable_filter() = *filter;
  auto stub = xlb::v1::Inspector::NewStub(client.channel());
  return callAndPrint<xlb::v1::FlushNatResponse>(
      client,
      [&](grpc::ClientContext* c, xlb::v1::FlushNatResponse* r) {
        return stub->FlushNat(c, req, r);
      },
      [&](const xlb::v1::FlushNatResponse& r) {
        if (format == OutputFormat::kJson) {
          std::cout << toJson(r);
          return;
        }
        std::cout << "deleted " << r.deleted() << " NAT connection" << (r.deleted() == 1 ? "" : "s")
                  << " (their next packet starts a new connection)\n";
      });
}

void addFilterOptions(CLI::App* cmd, NatFilterArgs& args) {
  auto* vip = cmd->add_option("--vip", args.vip,
                              "Only this VIP's connections: ADDR:PORT[/tcp|udp] (default tcp)");
  cmd->add_option("--vip-name", args.vip_name, "Only the connections of the VIP with this name")
      ->excludes(vip);
  cmd->add_option("--backend", args.backend,
                  "Only connections to this backend: ADDR (any port), ADDR:PORT or [V6]:PORT");
  cmd->add_option("--client", args.client,
                  "Only connections from this client: an address or a prefix (192.0.2.0/24)");
}

}  // namespace

void addNatCommands(CLI::App& app, CommandContext& ctx) {
  auto* nat =
      app.add_subcommand("nat", "NAT connections of nat / fullnat VIPs: list them, or flush them");
  nat->require_subcommand(1);

  auto list_args = std::make_shared<NatFilterArgs>();
  auto limit = std::make_shared<uint32_t>(0);
  auto* list = nat->add_subcommand(
      "list",
      "NAT connections (most recently active first): client -> VIP, source -> backend, "
      "state, timers; then the table's occupancy");
  addFilterOptions(list, *list_args);
  list->add_option("--limit", *limit, "At most this many connections (1..10000; default 100)");
  list->callback([&ctx, list_args, limit] {
    ctx.action = [&ctx, list_args, limit](Client& c) {
      return natList(c, *list_args, *limit, ctx.global.format());
    };
  });

  auto flush_args = std::make_shared<NatFilterArgs>();
  auto* flush = nat->add_subcommand(
      "flush", "Delete the NAT connections that match the filters (all without filters)");
  addFilterOptions(flush, *flush_args);
  flush->callback([&ctx, flush_args] {
    ctx.action = [&ctx, flush_args](Client& c) {
      return natFlush(c, *flush_args, ctx.global.format());
    };
  });
}

}  // namespace xlb::cli
