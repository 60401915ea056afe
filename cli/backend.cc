// SPDX-License-Identifier: Apache-2.0
// `lbctl backend list|add|del|weight`: backend membership and weights of one VIP.
#include <iostream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "args.h"
#include "commands.h"
#include "common/address.h"

namespace xlb::cli {
namespace {

struct BackendArgs {
  std::string vip;
  std::string address;
  uint32_t weight = 1;
};

// Backend addresses are checked for syntax here so a typo fails before any RPC; everything else
// (ranges, existence) is the agent's call.
absl::Status checkBackendAddress(const std::string& address) {
  auto a = parseIpAddress(address);
  if (!a.ok()) return absl::InvalidArgumentError(absl::StrCat("backend: ", a.status().message()));
  return absl::OkStatus();
}

void printBackends(const xlb::v1::Vip& vip, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    std::cout << toJson(vip);
    return;
  }
  backendTable(vip).print(std::cout);
}

int backendList(Client& client, const BackendArgs& a, OutputFormat format) {
  auto key = parseVipKey(a.vip);
  if (!key.ok()) return reportLocalError(key.status(), kExitUsage);
  xlb::v1::ListVipsRequest req;
  xlb::v1::ListVipsResponse resp;
  auto ctx = client.context();
  grpc::Status st = client.stub().ListVips(ctx.get(), req, &resp);
  if (!st.ok()) return reportRpcError(st, client.target());
  for (const auto& v : resp.vips()) {
    if (sameVip(*key, v)) {
      printBackends(v, format);
      return kExitOk;
    }
  }
  return reportLocalError(absl::NotFoundError(absl::StrCat("vip ", formatVipKey(*key),
                                                           " does not exist (see lbctl vip list)")),
                          kExitRpc);
}

int backendAdd(Client& client, const BackendArgs& a, bool weight_set, OutputFormat format) {
  auto key = parseVipKey(a.vip);
  if (!key.ok()) return reportLocalError(key.status(), kExitUsage);
  if (auto st = checkBackendAddress(a.address); !st.ok()) return reportLocalError(st, kExitUsage);
  xlb::v1::AddBackendRequest req;
  *req.mutable_vip() = *key;
  req.mutable_backend()->set_address(a.address);
  if (weight_set) req.mutable_backend()->set_weight(a.weight);
  return callAndPrint<xlb::v1::Vip>(
      client,
      [&](grpc::ClientContext* c, xlb::v1::Vip* r) { return client.stub().AddBackend(c, req, r); },
      [&](const xlb::v1::Vip& r) { printBackends(r, format); });
}

int backendDel(Client& client, const BackendArgs& a, OutputFormat format) {
  auto key = parseVipKey(a.vip);
  if (!key.ok()) return reportLocalError(key.status(), kExitUsage);
  if (auto st = checkBackendAddress(a.address); !st.ok()) return reportLocalError(st, kExitUsage);
  xlb::v1::DeleteBackendRequest req;
  *req.mutable_vip() = *key;
  req.set_address(a.address);
  return callAndPrint<xlb::v1::Vip>(
      client,
      [&](grpc::ClientContext* c, xlb::v1::Vip* r) {
        return client.stub().DeleteBackend(c, req, r);
      },
      [&](const xlb::v1::Vip& r) { printBackends(r, format); });
}

int backendWeight(Client& client, const BackendArgs& a, OutputFormat format) {
  auto key = parseVipKey(a.vip);
  if (!key.ok()) return reportLocalError(key.status(), kExitUsage);
  if (auto st = checkBackendAddress(a.address); !st.ok()) return reportLocalError(st, kExitUsage);
  xlb::v1::SetBackendWeightRequest req;
  *req.mutable_vip() = *key;
  req.set_address(a.address);
  req.set_weight(a.weight);
  return callAndPrint<xlb::v1::Vip>(
      client,
      [&](grpc::ClientContext* c, xlb::v1::Vip* r) {
        return client.stub().SetBackendWeight(c, req, r);
      },
      [&](const xlb::v1::Vip& r) { printBackends(r, format); });
}

}  // namespace

void addBackendCommands(CLI::App& app, CommandContext& ctx) {
  auto* be = app.add_subcommand("backend", "List, add and delete a VIP's backends; set weights");
  be->require_subcommand(1);
  constexpr const char* kVipHelp = "ADDR:PORT/PROTO of the VIP, e.g. 10.0.0.10:80/tcp";

  auto list_args = std::make_shared<BackendArgs>();
  auto* list = be->add_subcommand("list", "List a VIP's backends with weights and shares");
  list->add_option("vip", list_args->vip, kVipHelp)->required();
  list->callback([&ctx, list_args] {
    ctx.action = [&ctx, list_args](Client& c) {
      return backendList(c, *list_args, ctx.global.format());
    };
  });

  auto add_args = std::make_shared<BackendArgs>();
  auto* add = be->add_subcommand("add", "Add a backend to a VIP (ALREADY_EXISTS if present)");
  add->add_option("vip", add_args->vip, kVipHelp)->required();
  add->add_option("address", add_args->address, "Backend IPv4/IPv6 address")->required();
  auto* w =
      add->add_option("--weight", add_args->weight, "Relative share of new flows (default 1)");
  add->callback([&ctx, add_args, w] {
    ctx.action = [&ctx, add_args, w](Client& c) {
      return backendAdd(c, *add_args, w->count() > 0, ctx.global.format());
    };
  });

  auto del_args = std::make_shared<BackendArgs>();
  auto* del = be->add_subcommand("del", "Remove a backend from a VIP (NOT_FOUND if absent)");
  del->alias("delete");
  del->add_option("vip", del_args->vip, kVipHelp)->required();
  del->add_option("address", del_args->address, "Backend address")->required();
  del->callback([&ctx, del_args] {
    ctx.action = [&ctx, del_args](Client& c) {
      return backendDel(c, *del_args, ctx.global.format());
    };
  });

  auto wt_args = std::make_shared<BackendArgs>();
  auto* wt = be->add_subcommand("weight", "Set a backend's weight (0 = no new flows)");
  wt->add_option("vip", wt_args->vip, kVipHelp)->required();
  wt->add_option("address", wt_args->address, "Backend address")->required();
  wt->add_option("weight", wt_args->weight, "New weight, 0..65535")->required();
  wt->callback([&ctx, wt_args] {
    ctx.action = [&ctx, wt_args](Client& c) {
      return backendWeight(c, *wt_args, ctx.global.format());
    };
  });
}

}  // namespace xlb::cli
