// SPDX-License-Identifier: Apache-2.0
// The xlb.v1.Inspector service (see inspect.h): each RPC calls inspect::Inspector (or, FlushNat,
// nat::flushNat) and maps its status.
#include "api/inspect.h"

#include <utility>

#include "api/service.h"
#include "nat/list.h"
#include "spdlog/spdlog.h"

namespace xlb::api {
namespace {

// The response of a successful call, else its status.
template <typename T>
grpc::Status respond(absl::StatusOr<T> r, T* resp) {
  if (!r.ok()) return toGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

}  // namespace

InspectorService::InspectorService(const state::State& state, dataplane::Dataplane& dataplane)
    : state_(state), dataplane_(dataplane), inspector_(state, dataplane) {}

void InspectorService::setNatCollector(nat::NatCollector* collector) {
  nat_ = collector;
  inspector_.setNatCollector(collector);
}

grpc::Status InspectorService::ListFlows(grpc::ServerContext*, const v1::ListFlowsRequest* req,
                                         v1::ListFlowsResponse* resp) {
  return respond(inspector_.listFlows(*req), resp);
}

grpc::Status InspectorService::Explain(grpc::ServerContext*, const v1::ExplainRequest* req,
                                       v1::ExplainResponse* resp) {
  return respond(inspector_.explain(*req), resp);
}

grpc::Status InspectorService::ListNat(grpc::ServerContext*, const v1::ListNatRequest* req,
                                       v1::ListNatResponse* resp) {
  return respond(inspector_.listNat(*req), resp);
}

grpc::Status InspectorService::FlushNat(grpc::ServerContext*, const v1::FlushNatRequest* req,
                                        v1::FlushNatResponse* resp) {
  auto r = nat::flushNat(dataplane_, *state_.sharedNatVips(), *req);
  if (!r.ok()) return toGrpcStatus(r.status());
  if (nat_ != nullptr) nat_->noteFlushed(r->deleted());
  spdlog::info("api: FlushNat deleted {} NAT connections", r->deleted());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

}  // namespace xlb::api
