// SPDX-License-Identifier: Apache-2.0
// `lbctl backend list|add|del|weight`: backend membership and weights of one VIP.
#include <chrono>
#include <iostream>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "args.h"
#include "commands.h"
#include "common/address.h"
#include "config/validate.h"

namespace xlb::cli {
namespace {

struct BackendArgs {
  std::string vip;
  std::string address;
  uint32_t weight = 1;
};

// Backend references (ADDR, ADDR:PORT, [V6]:PORT) are checked for syntax here so a typo fails
// before any RPC; they go to the agent as typed, and everything else (ranges, existence, which
// backend an address without a port names) is the agent's call.
absl::Status checkBackendAddress(const std::string& address) {
  return parseBackendRefArg(address, "backend").status();
}

// Whether a listed backend (its address, perhaps "ADDR:PORT") is the one the operator typed.
bool sameBackend(const std::string& listed, const std::string& typed) {
  auto a = config::parseBackendRef(listed, "listed");
  auto b = config::parseBackendRef(typed, "typed");
  if (!a.ok() || !b.ok()) return sameAddress(listed, typed);
  return a->address == b->address && (!a->port || !b->port || *a->port == *b->port);
}

void printBackends(const xlb::v1::Vip& vip, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    std::cout << toJson(vip);
    return;
  }
  backendTable(vip).print(std::cout);
}

uint64_t nowUnixMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

int backendList(Client& client, const BackendArgs& a, OutputFormat format) {
  auto key = parseVipKey(a.vip);
  if (!key.ok()) return reportLocalError(key.status(), kExitUsage);
  xlb::v1::ListBackendsRequest req;
  *req.mutable_vip() = *key;
  return callAndPrint<xlb::v1::ListBackendsResponse>(
      client,
      [&](grpc::ClientContext* c, xlb::v1::ListBackendsResponse* r) {
        return client.stub().ListBackends(c, req, r);
      },
      [&](const xlb::v1::ListBackendsResponse& r) {
        if (format == OutputFormat::kJson) {
          std::cout << toJson(r);
          return;
        }
        backendStatusTable(r.vip(), nowUnixMs()).print(std::cout);
        if (r.vip().all_down()) {
          std::cout << "every backend is down: all-down policy "
                    << "in force (see vip list / config get)\n";
        }
      });
}

void printBackendStatus(const xlb::v1::BackendStatus& b, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    std::cout << toJson(b);
    return;
  }
  xlb::v1::VipStatus one;
  *one.add_backends() = b;
  backendStatusTable(one, nowUnixMs()).print(std::cout);
}

// The backend's current status from ListBackends (NOT_FOUND when it is not a member any more).
grpc::Status fetchBackendStatus(Client& client, const xlb::v1::VipKey& key,
                                const std::string& address, xlb::v1::BackendStatus* out) {
  xlb::v1::ListBackendsRequest req;
  *req.mutable_vip() = key;
  xlb::v1::ListBackendsResponse resp;
  auto ctx = client.context();
  grpc::Status st = client.stub().ListBackends(ctx.get(), req, &resp);
  if (!st.ok()) return st;
  for (const auto& b : resp.vip().backends()) {
    if (sameBackend(b.address(), address)) {
      *out = b;
      return grpc::Status::OK;
    }
  }
  return grpc::Status(
      grpc::StatusCode::NOT_FOUND,
      absl::StrCat("backend ", address, " is no longer in vip ", formatVipKey(key)));
}

// `drain --wait`: polls ListBackends until the backend's open-flow count is 0 or the timeout
// passes. Progress goes to stderr (stdout stays the final status, for scripts). The count is the
// data plane's (decremented on the client's FIN/RST) reconciled by the agent's periodic flow-table
// scan, so a flow that vanished without a FIN is seen within one reconcile interval.
int waitDrained(Client& client, const xlb::v1::VipKey& key, const std::string& address,
                std::chrono::milliseconds timeout, OutputFormat format) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  int64_t last_reported = -1;
  xlb::v1::BackendStatus status;
  for (;;) {
    grpc::Status st = fetchBackendStatus(client, key, address, &status);
    if (!st.ok()) return reportRpcError(st, client.target());
    const uint64_t open = status.open_flows();
    if (open == 0) {
      const auto took =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
      std::cerr << "lbctl: " << address << " drained: 0 open flows after " << formatAge(took)
                << "\n";
      printBackendStatus(status, format);
      return kExitOk;
    }
    if (static_cast<int64_t>(open) != last_reported) {
      std::cerr << "lbctl: waiting for " << address << " to drain: " << open << " open flow"
                << (open == 1 ? "" : "s") << "\n";
      last_reported = static_cast<int64_t>(open);
    }
    if (Clock::now() >= deadline) {
      return reportLocalError(
          absl::DeadlineExceededError(absl::StrCat(
              "backend ", address, " of ", formatVipKey(key), " still has ", open, " open flow",
              open == 1 ? "" : "s", " after ", formatAge(timeout.count()),
              " (it stays drained; lbctl backend undrain to put it back)")),
          kExitRpc);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

struct DrainArgs {
  std::string vip;
  std::string address;
  bool wait = false;
  std::string timeout = "60s";
};

int backendDrain(Client& client, const DrainArgs& a, bool drain, OutputFormat format) {
  auto key = parseVipKey(a.vip);
  if (!key.ok()) return reportLocalError(key.status(), kExitUsage);
  if (auto st = checkBackendAddress(a.address); !st.ok()) return reportLocalError(st, kExitUsage);
  std::chrono::milliseconds timeout{0};
  if (drain && a.wait) {
    auto t = parseDuration(a.timeout, "--timeout");
    if (!t.ok()) return reportLocalError(t.status(), kExitUsage);
    timeout = *t;
  }
  xlb::v1::BackendStatus resp;
  auto ctx = client.context();
  grpc::Status st;
  if (drain) {
    xlb::v1::DrainBackendRequest req;
    *req.mutable_vip() = *key;
    req.set_address(a.address);
    st = client.stub().DrainBackend(ctx.get(), req, &resp);
  } else {
    xlb::v1::UndrainBackendRequest req;
    *req.mutable_vip() = *key;
    req.set_address(a.address);
    st = client.stub().UndrainBackend(ctx.get(), req, &resp);
  }
  if (!st.ok()) return reportRpcError(st, client.target());
  if (drain && a.wait) return waitDrained(client, *key, a.address, timeout, format);
  printBackendStatus(resp, format);
  return kExitOk;
}

int backendAdd(Client& client, const BackendArgs& a, bool weight_set, OutputFormat format) {
  auto key = parseVipKey(a.vip);
  if (!key.ok()) return reportLocalError(key.status(), kExitUsage);
  auto backend = parseBackendAddArg(a.address);
  if (!backend.ok()) return reportLocalError(backend.status(), kExitUsage);
  xlb::v1::AddBackendRequest req;
  *req.mutable_vip() = *key;
  *req.mutable_backend() = *backend;
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
  constexpr const char* kBackendRefHelp =
      "ADDR, ADDR:PORT or [V6]:PORT (passed as typed; the port tells apart backends that share "
      "an address)";

  auto list_args = std::make_shared<BackendArgs>();
  auto* list = be->add_subcommand(
      "list", "A VIP's backends: weight, share, state, health, rotation, open flows");
  list->add_option("vip", list_args->vip, kVipHelp)->required();
  list->callback([&ctx, list_args] {
    ctx.action = [&ctx, list_args](Client& c) {
      return backendList(c, *list_args, ctx.global.format());
    };
  });

  auto add_args = std::make_shared<BackendArgs>();
  auto* add = be->add_subcommand("add", "Add a backend to a VIP (ALREADY_EXISTS if present)");
  add->add_option("vip", add_args->vip, kVipHelp)->required();
  add->add_option("address", add_args->address,
                  "ADDR, ADDR:PORT or [V6]:PORT (no port = the VIP's port; a port other than "
                  "the VIP's needs forwarding nat or fullnat)")
      ->required();
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
  del->add_option("address", del_args->address, kBackendRefHelp)->required();
  del->callback([&ctx, del_args] {
    ctx.action = [&ctx, del_args](Client& c) {
      return backendDel(c, *del_args, ctx.global.format());
    };
  });

  auto drain_args = std::make_shared<DrainArgs>();
  auto* drain = be->add_subcommand(
      "drain", "No new flows to a backend; existing flows continue (idempotent)");
  drain->add_option("vip", drain_args->vip, kVipHelp)->required();
  drain->add_option("address", drain_args->address, kBackendRefHelp)->required();
  drain->add_flag("--wait", drain_args->wait,
                  "Block until the backend has no open flows (exit 1 on timeout)");
  drain
      ->add_option("--timeout,--wait-timeout", drain_args->timeout,
                   "With --wait: how long to wait, e.g. 60s, 5m")
      ->capture_default_str();
  drain->callback([&ctx, drain_args] {
    ctx.action = [&ctx, drain_args](Client& c) {
      return backendDrain(c, *drain_args, true, ctx.global.format());
    };
  });

  auto undrain_args = std::make_shared<DrainArgs>();
  auto* undrain = be->add_subcommand("undrain", "Put a drained backend back in rotation");
  undrain->add_option("vip", undrain_args->vip, kVipHelp)->required();
  undrain->add_option("address", undrain_args->address, kBackendRefHelp)->required();
  undrain->callback([&ctx, undrain_args] {
    ctx.action = [&ctx, undrain_args](Client& c) {
      return backendDrain(c, *undrain_args, false, ctx.global.format());
    };
  });

  auto wt_args = std::make_shared<BackendArgs>();
  auto* wt = be->add_subcommand("weight", "Set a backend's weight (0 = no new flows)");
  wt->add_option("vip", wt_args->vip, kVipHelp)->required();
  wt->add_option("address", wt_args->address, kBackendRefHelp)->required();
  wt->add_option("weight", wt_args->weight, "New weight, 0..65535")->required();
  wt->callback([&ctx, wt_args] {
    ctx.action = [&ctx, wt_args](Client& c) {
      return backendWeight(c, *wt_args, ctx.global.format());
    };
  });
}

}  // namespace xlb::cli
