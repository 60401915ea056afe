// SPDX-License-Identifier: Apache-2.0
// `lbctl vip list|add|del`: VIP management.
#include <iostream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "args.h"
#include "commands.h"
#include "config/enums.h"
#include "discovery.h"

namespace xlb::cli {

void printVip(const xlb::v1::Vip& vip, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    std::cout << toJson(vip);
    return;
  }
  vipTable({&vip}).print(std::cout);
}

namespace {

struct VipAddArgs {
  std::string key;
  std::string name;
  std::string forwarding = "dsr";
  std::string algorithm = "maglev";
  uint32_t table_size = 0;
  std::vector<std::string> backends;
  bool source_hash_include_port = false;
  std::string all_down;
  // Health check: `health_check` is the type; the hc_* values are only read when their option was
  // given (CLI11 counts), so the agent's defaults apply to everything left out.
  std::string health_check;
  std::string hc_interval, hc_timeout, hc_http_path, hc_http_status, hc_grpc_service;
  uint32_t hc_rise = 0, hc_fall = 0, hc_port = 0;
  // NAT (empty = not given): --snat, --snat-ports, --nat-timeout.
  std::string snat, snat_ports, nat_timeout;
  DiscoveryArgs discovery;  // --dns-name, --dns-port, --dns-family, --srv, --allow-empty
};

// Fills vip->snat_pool and vip->nat_timeouts. Options the chosen forwarding cannot use are refused
// here (exit 2) with the option's name; pool and timeout ranges are the agent's validation.
absl::Status buildNat(const VipAddArgs& a, xlb::v1::Vip* vip) {
  const auto f = vip->forwarding();
  const bool nat = f == xlb::v1::FORWARDING_MODE_NAT || f == xlb::v1::FORWARDING_MODE_FULLNAT;
  if (!a.snat_ports.empty() && a.snat.empty()) {
    return absl::InvalidArgumentError(
        "--snat-ports needs --snat (a VIP's own pool lists its addresses; without --snat the "
        "config's snat_pool applies, with its own ports)");
  }
  if (!a.snat.empty()) {
    if (f != xlb::v1::FORWARDING_MODE_FULLNAT) {
      return absl::InvalidArgumentError(
          absl::StrCat("--snat needs --forwarding fullnat (got ", forwardingName(f), ")"));
    }
    auto addrs = parseSnatAddresses(a.snat);
    if (!addrs.ok()) return addrs.status();
    for (const auto& addr : *addrs) vip->mutable_snat_pool()->add_addresses(addr);
  }
  if (!a.snat_ports.empty()) {
    auto ports = parseSnatPorts(a.snat_ports);
    if (!ports.ok()) return ports.status();
    vip->mutable_snat_pool()->set_port_min(ports->first);
    vip->mutable_snat_pool()->set_port_max(ports->second);
  }
  if (!a.nat_timeout.empty()) {
    if (!nat) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--nat-timeout needs --forwarding nat or fullnat (got ", forwardingName(f), ")"));
    }
    auto t = parseNatTimeouts(a.nat_timeout);
    if (!t.ok()) return t.status();
    *vip->mutable_nat_timeouts() = *t;
  }
  return absl::OkStatus();
}

// The options of `vip add` that belong to the health check, for "needs --health-check" errors.
struct HealthOptions {
  CLI::Option* interval = nullptr;
  CLI::Option* timeout = nullptr;
  CLI::Option* rise = nullptr;
  CLI::Option* fall = nullptr;
  CLI::Option* port = nullptr;
  CLI::Option* http_path = nullptr;
  CLI::Option* http_status = nullptr;
  CLI::Option* grpc_service = nullptr;
};

bool given(const CLI::Option* o) { return o != nullptr && o->count() > 0; }

// Fills vip->health_check from the --health-check / --hc-* options. Syntax and cross-option errors
// are caught here (exit 2); ranges (timeout <= interval, rise 1..100, ...) are the agent's
// validation, which names the config field.
absl::Status buildHealthCheck(const VipAddArgs& a, const HealthOptions& o, xlb::v1::Vip* vip) {
  const std::pair<const CLI::Option*, const char*> all[] = {{o.interval, "--hc-interval"},
                                                            {o.timeout, "--hc-timeout"},
                                                            {o.rise, "--hc-rise"},
                                                            {o.fall, "--hc-fall"},
                                                            {o.port, "--hc-port"},
                                                            {o.http_path, "--hc-http-path"},
                                                            {o.http_status, "--hc-http-status"},
                                                            {o.grpc_service, "--hc-grpc-service"}};
  if (a.health_check.empty() || a.health_check == "none") {
    for (const auto& [opt, name] : all) {
      if (given(opt)) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, " needs --health-check tcp, http or grpc"));
      }
    }
    if (a.health_check == "none")
      vip->mutable_health_check()->set_type(xlb::v1::HEALTH_CHECK_TYPE_NONE);
    return absl::OkStatus();
  }
  auto type = parseHealthCheckType(a.health_check);
  if (!type.ok()) return type.status();
  auto* hc = vip->mutable_health_check();
  hc->set_type(*type);
  if (given(o.http_path) || given(o.http_status)) {
    if (*type != xlb::v1::HEALTH_CHECK_TYPE_HTTP) {
      return absl::InvalidArgumentError(
          absl::StrCat(given(o.http_path) ? "--hc-http-path" : "--hc-http-status",
                       " needs --health-check http"));
    }
  }
  if (given(o.grpc_service) && *type != xlb::v1::HEALTH_CHECK_TYPE_GRPC) {
    return absl::InvalidArgumentError("--hc-grpc-service needs --health-check grpc");
  }
  if (given(o.interval)) {
    auto d = parseDuration(a.hc_interval, "--hc-interval");
    if (!d.ok()) return d.status();
    hc->set_interval_ms(static_cast<uint32_t>(d->count()));
  }
  if (given(o.timeout)) {
    auto d = parseDuration(a.hc_timeout, "--hc-timeout");
    if (!d.ok()) return d.status();
    hc->set_timeout_ms(static_cast<uint32_t>(d->count()));
  }
  if (given(o.rise)) hc->set_rise(a.hc_rise);
  if (given(o.fall)) hc->set_fall(a.hc_fall);
  if (given(o.port)) hc->set_port(a.hc_port);
  if (given(o.http_path)) hc->mutable_http()->set_path(a.hc_http_path);
  if (given(o.http_status)) {
    auto ranges = parseStatusRanges(a.hc_http_status, "--hc-http-status");
    if (!ranges.ok()) return ranges.status();
    for (const auto& r : *ranges) *hc->mutable_http()->add_expected_statuses() = r;
  }
  if (given(o.grpc_service)) hc->mutable_grpc()->set_service(a.hc_grpc_service);
  return absl::OkStatus();
}

// VIPs per ListVips page: each answer stays small and quick whatever the number of VIPs.
constexpr uint32_t kVipPage = 500;

int vipList(Client& client, OutputFormat format) {
  return callAndPrint<xlb::v1::ListVipsResponse>(
      client,
      // Every page, merged into one answer (key order); each page has its own deadline.
      [&](grpc::ClientContext* first, xlb::v1::ListVipsResponse* all) {
        xlb::v1::ListVipsRequest req;
        req.set_page_size(kVipPage);
        grpc::Status st = client.stub().ListVips(first, req, all);
        while (st.ok() && !all->next_page_token().empty()) {
          req.set_page_token(all->next_page_token());
          xlb::v1::ListVipsResponse page;
          auto ctx = client.context();
          st = client.stub().ListVips(ctx.get(), req, &page);
          all->mutable_vips()->MergeFrom(page.vips());
          all->mutable_statuses()->MergeFrom(page.statuses());
          all->set_next_page_token(page.next_page_token());
        }
        return st;
      },
      [&](const xlb::v1::ListVipsResponse& r) {
        if (format == OutputFormat::kJson) {
          std::cout << toJson(r);
          return;
        }
        std::vector<const xlb::v1::Vip*> vips;
        for (const auto& v : r.vips()) vips.push_back(&v);
        std::vector<const xlb::v1::VipStatus*> statuses;
        for (const auto& st : r.statuses()) statuses.push_back(&st);
        vipTable(vips, statuses).print(std::cout);
      });
}

int vipAdd(Client& client, const VipAddArgs& a, bool table_size_set, const HealthOptions& hc,
           OutputFormat format) {
  auto key = parseVipKey(a.key);
  if (!key.ok()) return reportLocalError(key.status(), kExitUsage);
  xlb::v1::AddVipRequest req;
  auto* vip = req.mutable_vip();
  vip->set_name(a.name);
  vip->set_address(key->address());
  vip->set_port(key->port());
  vip->set_protocol(key->protocol());
  auto forwarding = parseForwarding(a.forwarding);
  if (!forwarding.ok()) return reportLocalError(forwarding.status(), kExitUsage);
  vip->set_forwarding(*forwarding);
  if (auto st = buildNat(a, vip); !st.ok()) return reportLocalError(st, kExitUsage);
  auto algorithm = parseAlgorithm(a.algorithm);
  if (!algorithm.ok()) return reportLocalError(algorithm.status(), kExitUsage);
  vip->set_algorithm(*algorithm);
  if (table_size_set) vip->set_maglev_table_size(a.table_size);
  vip->set_source_hash_include_port(a.source_hash_include_port);
  if (!a.all_down.empty()) {
    auto policy = parseAllDownPolicy(a.all_down);
    if (!policy.ok()) return reportLocalError(policy.status(), kExitUsage);
    vip->set_all_down_policy(*policy);
  }
  if (auto st = buildHealthCheck(a, hc, vip); !st.ok()) return reportLocalError(st, kExitUsage);
  if (auto st = buildDiscovery(a.discovery, vip); !st.ok()) return reportLocalError(st, kExitUsage);
  for (const auto& spec : a.backends) {
    auto b = parseBackendSpec(spec);
    if (!b.ok()) return reportLocalError(b.status(), kExitUsage);
    *vip->add_backends() = *b;
  }
  return callAndPrint<xlb::v1::Vip>(
      client,
      [&](grpc::ClientContext* c, xlb::v1::Vip* r) { return client.stub().AddVip(c, req, r); },
      [&](const xlb::v1::Vip& r) { printVip(r, format); });
}

int vipDel(Client& client, const std::string& text, OutputFormat format) {
  auto key = parseVipKey(text);
  if (!key.ok()) return reportLocalError(key.status(), kExitUsage);
  xlb::v1::DeleteVipRequest req;
  *req.mutable_vip() = *key;
  return callAndPrint<xlb::v1::Empty>(
      client,
      [&](grpc::ClientContext* c, xlb::v1::Empty* r) { return client.stub().DeleteVip(c, req, r); },
      [&](const xlb::v1::Empty& r) {
        if (format == OutputFormat::kJson) {
          std::cout << toJson(r);
        } else {
          std::cout << "deleted vip " << formatVipKey(*key) << "\n";
        }
      });
}

}  // namespace

void addVipCommands(CLI::App& app, CommandContext& ctx) {
  auto* vip = app.add_subcommand("vip", "List, add and delete VIPs");
  vip->require_subcommand(1);

  auto* list = vip->add_subcommand("list", "List VIPs and their backends");
  list->callback(
      [&ctx] { ctx.action = [&ctx](Client& c) { return vipList(c, ctx.global.format()); }; });

  auto args = std::make_shared<VipAddArgs>();
  auto* add = vip->add_subcommand("add", "Add a VIP (ALREADY_EXISTS if its key is taken)");
  add->add_option("vip", args->key,
                  "ADDR:PORT/PROTO, e.g. 10.0.0.10:80/tcp, [2001:db8::10]:443/udp; "
                  "port 0 = all ports")
      ->required();
  add->add_option("--name", args->name, "Operator label, unique among VIPs");
  add->add_option("--forwarding", args->forwarding,
                  "How packets reach backends: dsr, ipip, nat (destination NAT, backend ports; "
                  "replies must route through xlb) or fullnat (source and destination NAT)")
      ->check(CLI::IsMember(config::enumNames(config::enumTable<xlb::v1::ForwardingMode>())))
      ->capture_default_str();
  add->add_option("--snat", args->snat,
                  "fullnat: this VIP's SNAT pool, ADDR[,ADDR...] (addresses of the balancer "
                  "host, never a VIP; default: the config's snat_pool)");
  add->add_option("--snat-ports", args->snat_ports,
                  "fullnat, with --snat: the pool's source ports MIN-MAX (default 61000-65535)");
  add->add_option("--nat-timeout", args->nat_timeout,
                  "nat/fullnat idle timeouts, any of syn=60,established=21600,closing=10,udp=60 "
                  "(seconds; s, m, h, d suffixes; unset kinds keep these defaults)");
  add->add_option("--algorithm", args->algorithm, "Backend selection")
      ->check(CLI::IsMember(algorithmNames()))
      ->capture_default_str();
  auto* m = add->add_option("--maglev-table-size", args->table_size,
                            "Maglev table size M (prime, default 65537)");
  add->add_option("--backend", args->backends, kBackendSpecHelp);
  addDiscoveryOptions(add, &args->discovery);
  add->add_flag("--source-hash-include-port", args->source_hash_include_port,
                "source_hash: hash the client port too (affinity per connection, not per client)");
  add->add_option("--all-down", args->all_down,
                  "When every backend is down: keep_last_healthy (fail open, default) or drop")
      ->check(CLI::IsMember(config::enumNames(config::enumTable<xlb::v1::AllDownPolicy>())));
  add->add_option("--health-check", args->health_check, "Active health check of the backends")
      ->check(CLI::IsMember(config::enumNames(config::enumTable<xlb::v1::HealthCheckType>())));
  HealthOptions hc;
  hc.interval = add->add_option("--hc-interval", args->hc_interval,
                                "Time between checks, e.g. 1s, 100ms (default 1s)");
  hc.timeout = add->add_option("--hc-timeout", args->hc_timeout,
                               "Time a check may take, at most the interval (default 500ms)");
  hc.rise = add->add_option("--hc-rise", args->hc_rise,
                            "Consecutive successes before a backend is up (default 2)");
  hc.fall = add->add_option("--hc-fall", args->hc_fall,
                            "Consecutive failures before a backend is down (default 2)");
  hc.port = add->add_option("--hc-port", args->hc_port,
                            "Port to check (default the VIP's; required for port-0 VIPs)");
  hc.http_path =
      add->add_option("--hc-http-path", args->hc_http_path, "http: request path (default /)");
  hc.http_status = add->add_option("--hc-http-status", args->hc_http_status,
                                   "http: healthy status codes, e.g. 200-399 or 200,204 "
                                   "(default 200-399)");
  hc.grpc_service = add->add_option("--hc-grpc-service", args->hc_grpc_service,
                                    "grpc: service name for grpc.health.v1 (default: the server)");
  add->callback([&ctx, args, m, hc] {
    ctx.action = [&ctx, args, m, hc](Client& c) {
      return vipAdd(c, *args, m->count() > 0, hc, ctx.global.format());
    };
  });

  auto del_key = std::make_shared<std::string>();
  auto* del = vip->add_subcommand("del", "Delete a VIP (NOT_FOUND if absent)");
  del->alias("delete");
  del->add_option("vip", *del_key, "ADDR:PORT/PROTO")->required();
  del->callback([&ctx, del_key] {
    ctx.action = [&ctx, del_key](Client& c) { return vipDel(c, *del_key, ctx.global.format()); };
  });
}

}  // namespace xlb::cli
