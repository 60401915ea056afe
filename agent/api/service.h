// SPDX-License-Identifier: Apache-2.0
// The xlb.v1.Balancer gRPC service: a thin mapping of each RPC onto State (and inspect/'s
// counter gatherer for GetStats).
#pragma once

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "api/limits.h"
#include "dataplane/dataplane.h"
#include "nat/gc.h"
#include "state/state.h"
#include "xlb/v1/xlb.grpc.pb.h"

namespace xlb::api {

// absl and gRPC share the canonical code numbering, so this is one-to-one: INVALID_ARGUMENT stays
// INVALID_ARGUMENT, never UNKNOWN.
grpc::Status toGrpcStatus(const absl::Status& status);

class BalancerService final : public v1::Balancer::Service {
 public:
  // `limits` bound the objects of one request (ApplyConfig, AddVip): checked before anything else.
  BalancerService(state::State& state, dataplane::Dataplane& dataplane, RequestLimits limits = {});

  grpc::Status ApplyConfig(grpc::ServerContext* ctx, const v1::ApplyConfigRequest* req,
                           v1::ApplyConfigResponse* resp) override;
  grpc::Status GetConfig(grpc::ServerContext* ctx, const v1::GetConfigRequest* req,
                         v1::Config* resp) override;
  grpc::Status GetAppliedDigest(grpc::ServerContext* ctx, const v1::GetAppliedDigestRequest* req,
                                v1::AppliedDigest* resp) override;
  grpc::Status ListVips(grpc::ServerContext* ctx, const v1::ListVipsRequest* req,
                        v1::ListVipsResponse* resp) override;
  grpc::Status AddVip(grpc::ServerContext* ctx, const v1::AddVipRequest* req,
                      v1::Vip* resp) override;
  grpc::Status DeleteVip(grpc::ServerContext* ctx, const v1::DeleteVipRequest* req,
                         v1::Empty* resp) override;
  grpc::Status AddBackend(grpc::ServerContext* ctx, const v1::AddBackendRequest* req,
                          v1::Vip* resp) override;
  grpc::Status DeleteBackend(grpc::ServerContext* ctx, const v1::DeleteBackendRequest* req,
                             v1::Vip* resp) override;
  grpc::Status SetBackendWeight(grpc::ServerContext* ctx, const v1::SetBackendWeightRequest* req,
                                v1::Vip* resp) override;
  grpc::Status GetStats(grpc::ServerContext* ctx, const v1::GetStatsRequest* req,
                        v1::Stats* resp) override;
  grpc::Status ListBackends(grpc::ServerContext* ctx, const v1::ListBackendsRequest* req,
                            v1::ListBackendsResponse* resp) override;
  grpc::Status DrainBackend(grpc::ServerContext* ctx, const v1::DrainBackendRequest* req,
                            v1::BackendStatus* resp) override;
  grpc::Status UndrainBackend(grpc::ServerContext* ctx, const v1::UndrainBackendRequest* req,
                              v1::BackendStatus* resp) override;
  // Streams events until the client goes away or the server shuts down (Shutdown cancels it). A
  // client that falls behind the bounded queue gets RESOURCE_EXHAUSTED and must re-subscribe.
  grpc::Status WatchEvents(grpc::ServerContext* ctx, const v1::WatchEventsRequest* req,
                           grpc::ServerWriter<v1::Event>* writer) override;

  // GetStats fills nat_table from this collector (nullptr: left empty). Set before serving.
  void setNatCollector(nat::NatCollector* collector) { nat_ = collector; }

 private:
  state::State& state_;
  dataplane::Dataplane& dataplane_;
  RequestLimits limits_;
  nat::NatCollector* nat_ = nullptr;
};

}  // namespace xlb::api
