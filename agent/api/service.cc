// SPDX-License-Identifier: Apache-2.0
// RPC -> State mapping; all validation happens in config/ (through State).
#include "api/service.h"

#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "config/yaml.h"
#include "inspect/stats.h"
#include "spdlog/spdlog.h"

namespace xlb::api {
namespace {

// The caller for the audit log: its address, plus the certificate's common name on an mTLS
// listener (the identity that was actually verified).
std::string describePeer(grpc::ServerContext* ctx) {
  if (ctx == nullptr) return "?";
  std::string peer = ctx->peer();
  auto auth = ctx->auth_context();
  if (auth && auth->IsPeerAuthenticated()) {
    for (const auto& cn : auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME)) {
      absl::StrAppend(&peer, " (CN=", std::string(cn.data(), cn.size()), ")");
    }
  }
  return peer;
}

// Logs mutations (who changed what) and failures; reads stay quiet.
grpc::Status finish(grpc::ServerContext* ctx, const char* rpc, const std::string& what,
                    const absl::Status& st) {
  if (st.ok()) {
    spdlog::info("api: {} {} from {}", rpc, what, describePeer(ctx));
  } else {
    spdlog::warn("api: {} {} from {} failed: {}", rpc, what, describePeer(ctx), st.ToString());
  }
  return toGrpcStatus(st);
}

std::string describeKey(const v1::VipKey& key) {
  auto k = config::vipKeyOf(key);
  return k.ok() ? k->toString() : key.address();
}

}  // namespace

grpc::Status toGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

BalancerService::BalancerService(state::State& state, dataplane::Dataplane& dataplane,
                                 RequestLimits limits)
    : state_(state), dataplane_(dataplane), limits_(limits) {}

grpc::Status BalancerService::ApplyConfig(grpc::ServerContext* ctx,
                                          const v1::ApplyConfigRequest* req,
                                          v1::ApplyConfigResponse* resp) {
  if (auto st = checkConfigLimits(req->config(), limits_, "config"); !st.ok()) {
    return finish(ctx, "ApplyConfig", absl::StrCat(req->config().vips_size(), " VIPs"), st);
  }
  if (!req->source_digest().empty() && !config::isSourceDigest(req->source_digest())) {
    return finish(ctx, "ApplyConfig", absl::StrCat(req->config().vips_size(), " VIPs"),
                  absl::InvalidArgumentError(absl::StrCat(
                      "source_digest: \"", req->source_digest().substr(0, 80),
                      "\" is not \"sha256:\" followed by 64 lower-case hex digits")));
  }
  std::vector<std::string> changes;
  absl::Status st =
      state_.applyConfig(req->config(), req->dry_run(), &changes, req->source_digest());
  if (st.ok()) {
    for (auto& c : changes) resp->add_changes(std::move(c));
    resp->set_applied(!req->dry_run());
  }
  if (req->dry_run()) return toGrpcStatus(st);
  return finish(ctx, "ApplyConfig",
                absl::StrCat(req->config().vips_size(), " VIPs, ", changes.size(), " changes"), st);
}

grpc::Status BalancerService::GetConfig(grpc::ServerContext*, const v1::GetConfigRequest*,
                                        v1::Config* resp) {
  *resp = state_.config();
  return grpc::Status::OK;
}

grpc::Status BalancerService::GetAppliedDigest(grpc::ServerContext*,
                                               const v1::GetAppliedDigestRequest*,
                                               v1::AppliedDigest* resp) {
  resp->set_source_digest(state_.appliedDigest());
  return grpc::Status::OK;
}

grpc::Status BalancerService::ListVips(grpc::ServerContext*, const v1::ListVipsRequest* req,
                                       v1::ListVipsResponse* resp) {
  return toGrpcStatus(state_.listVips(*req, resp));
}

grpc::Status BalancerService::AddVip(grpc::ServerContext* ctx, const v1::AddVipRequest* req,
                                     v1::Vip* resp) {
  if (auto st = checkVipLimits(req->vip(), limits_, "vip"); !st.ok()) {
    return finish(ctx, "AddVip", absl::StrCat(req->vip().address(), ":", req->vip().port()), st);
  }
  auto vip = state_.addVip(req->vip());
  if (vip.ok()) *resp = *vip;
  return finish(ctx, "AddVip", absl::StrCat(req->vip().address(), ":", req->vip().port()),
                vip.status());
}

grpc::Status BalancerService::DeleteVip(grpc::ServerContext* ctx, const v1::DeleteVipRequest* req,
                                        v1::Empty*) {
  return finish(ctx, "DeleteVip", describeKey(req->vip()), state_.deleteVip(req->vip()));
}

grpc::Status BalancerService::AddBackend(grpc::ServerContext* ctx, const v1::AddBackendRequest* req,
                                         v1::Vip* resp) {
  auto vip = state_.addBackend(req->vip(), req->backend());
  if (vip.ok()) *resp = *vip;
  return finish(ctx, "AddBackend",
                absl::StrCat(req->backend().address(), " to ", describeKey(req->vip())),
                vip.status());
}

grpc::Status BalancerService::DeleteBackend(grpc::ServerContext* ctx,
                                            const v1::DeleteBackendRequest* req, v1::Vip* resp) {
  auto vip = state_.deleteBackend(req->vip(), req->address());
  if (vip.ok()) *resp = *vip;
  return finish(ctx, "DeleteBackend",
                absl::StrCat(req->address(), " from ", describeKey(req->vip())), vip.status());
}

grpc::Status BalancerService::SetBackendWeight(grpc::ServerContext* ctx,
                                               const v1::SetBackendWeightRequest* req,
                                               v1::Vip* resp) {
  auto vip = state_.setBackendWeight(req->vip(), req->address(), req->weight());
  if (vip.ok()) *resp = *vip;
  return finish(
      ctx, "SetBackendWeight",
      absl::StrCat(req->address(), " in ", describeKey(req->vip()), " to ", req->weight()),
      vip.status());
}

grpc::Status BalancerService::GetStats(grpc::ServerContext*, const v1::GetStatsRequest*,
                                       v1::Stats* resp) {
  auto report = inspect::gatherStats(state_, dataplane_, nat_);
  if (!report.ok()) return toGrpcStatus(report.status());
  *resp = std::move(report->stats);
  return grpc::Status::OK;
}

grpc::Status BalancerService::ListBackends(grpc::ServerContext*, const v1::ListBackendsRequest* req,
                                           v1::ListBackendsResponse* resp) {
  auto status = state_.vipStatus(req->vip());
  if (!status.ok()) return toGrpcStatus(status.status());
  *resp->mutable_vip() = std::move(*status);
  return grpc::Status::OK;
}

grpc::Status BalancerService::DrainBackend(grpc::ServerContext* ctx,
                                           const v1::DrainBackendRequest* req,
                                           v1::BackendStatus* resp) {
  auto st = state_.drainBackend(req->vip(), req->address());
  if (st.ok()) *resp = *st;
  return finish(ctx, "DrainBackend", absl::StrCat(req->address(), " in ", describeKey(req->vip())),
                st.status());
}

grpc::Status BalancerService::UndrainBackend(grpc::ServerContext* ctx,
                                             const v1::UndrainBackendRequest* req,
                                             v1::BackendStatus* resp) {
  auto st = state_.undrainBackend(req->vip(), req->address());
  if (st.ok()) *resp = *st;
  return finish(ctx, "UndrainBackend",
                absl::StrCat(req->address(), " in ", describeKey(req->vip())), st.status());
}

grpc::Status BalancerService::WatchEvents(grpc::ServerContext* ctx,
                                          const v1::WatchEventsRequest* req,
                                          grpc::ServerWriter<v1::Event>* writer) {
  // Subscribe before the snapshot so nothing between the two is missed (an event may then
  // repeat what the snapshot already said, never the reverse).
  auto sub = state_.events().subscribe();
  spdlog::debug("api: WatchEvents from {}", ctx->peer());
  if (req->initial_state()) {
    for (const v1::Event& e : state_.healthSnapshot()) {
      if (!writer->Write(e)) return grpc::Status::OK;  // client gone
    }
  }
  // Short waits so a cancelled or shut-down stream ends promptly: the synchronous API has no
  // wake-up on cancellation.
  while (!ctx->IsCancelled()) {
    auto e = sub->next(std::chrono::milliseconds(200));
    if (sub->overflowed()) {
      spdlog::warn("api: WatchEvents from {}: client too slow, stream ended", ctx->peer());
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "event stream fell behind (events lost); subscribe again");
    }
    if (e && !writer->Write(*e)) break;
  }
  return grpc::Status::OK;
}

}  // namespace xlb::api
