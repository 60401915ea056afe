// SPDX-License-Identifier: Apache-2.0
// `lbctl vip list|add|del`: VIP management.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "args.h"
#include "commands.h"

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
};

int vipList(Client& client, OutputFormat format) {
  xlb::v1::ListVipsRequest req;
  return callAndPrint<xlb::v1::ListVipsResponse>(
      client,
      [&](grpc::ClientContext* c, xlb::v1::ListVipsResponse* r) {
        return client.stub().ListVips(c, req, r);
      },
      [&](const xlb::v1::ListVipsResponse& r) {
        if (format == OutputFormat::kJson) {
          std::cout << toJson(r);
          return;
        }
        std::vector<const xlb::v1::Vip*> vips;
        for (const auto& v : r.vips()) vips.push_back(&v);
        vipTable(vips).print(std::cout);
      });
}

int vipAdd(Client& client, const VipAddArgs& a, bool table_size_set, OutputFormat format) {
  auto key = parseVipKey(a.key);
  if (!key.ok()) return reportLocalError(key.status(), kExitUsage);
  xlb::v1::AddVipRequest req;
  auto* vip = req.mutable_vip();
  vip->set_name(a.name);
  vip->set_address(key->address());
  vip->set_port(key->port());
  vip->set_protocol(key->protocol());
  vip->set_forwarding(a.forwarding == "ipip" ? xlb::v1::FORWARDING_MODE_IPIP
                                             : xlb::v1::FORWARDING_MODE_DSR);
  auto algorithm = parseAlgorithm(a.algorithm);
  if (!algorithm.ok()) return reportLocalError(algorithm.status(), kExitUsage);
  vip->set_algorithm(*algorithm);
  if (table_size_set) vip->set_maglev_table_size(a.table_size);
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
  add->add_option("--forwarding", args->forwarding, "How packets reach backends")
      ->check(CLI::IsMember({"dsr", "ipip"}))
      ->capture_default_str();
  add->add_option("--algorithm", args->algorithm, "Backend selection")
      ->check(CLI::IsMember(algorithmNames()))
      ->capture_default_str();
  auto* m = add->add_option("--maglev-table-size", args->table_size,
                            "Maglev table size M (prime, default 65537)");
  add->add_option("--backend", args->backends, "ADDR[:WEIGHT] (repeatable), e.g. 10.0.1.11:2");
  add->callback([&ctx, args, m] {
    ctx.action = [&ctx, args, m](Client& c) {
      return vipAdd(c, *args, m->count() > 0, ctx.global.format());
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
