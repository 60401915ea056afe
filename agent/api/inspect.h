// SPDX-License-Identifier: Apache-2.0
// The xlb.v1.Inspector gRPC service: ListFlows, Explain and ListNat translated onto the read-only
// inspect::Inspector, and FlushNat (`lbctl nat flush`) onto nat/list.h.
#pragma once

#include <grpcpp/grpcpp.h>

#include "dataplane/dataplane.h"
#include "inspect/inspector.h"
#include "nat/gc.h"
#include "state/state.h"
#include "xlb/v1/inspect.grpc.pb.h"

namespace xlb::api {

// Requests in, inspect/ called, status and response out; the logic is inspect::Inspector's.
class InspectorService final : public v1::Inspector::Service {
 public:
  InspectorService(const state::State& state, dataplane::Dataplane& dataplane);

  grpc::Status ListFlows(grpc::ServerContext* ctx, const v1::ListFlowsRequest* req,
                         v1::ListFlowsResponse* resp) override;
  grpc::Status Explain(grpc::ServerContext* ctx, const v1::ExplainRequest* req,
                       v1::ExplainResponse* resp) override;
  grpc::Status ListNat(grpc::ServerContext* ctx, const v1::ListNatRequest* req,
                       v1::ListNatResponse* resp) override;
  // Writes (deletes connections), unlike the rest of the service: `lbctl nat flush`.
  grpc::Status FlushNat(grpc::ServerContext* ctx, const v1::FlushNatRequest* req,
                        v1::FlushNatResponse* resp) override;

  // The NAT collector whose figures ListNat returns and FlushNat informs (nullptr: none). Set
  // before serving.
  void setNatCollector(nat::NatCollector* collector);

 private:
  const state::State& state_;
  dataplane::Dataplane& dataplane_;
  inspect::Inspector inspector_;
  nat::NatCollector* nat_ = nullptr;
};

}  // namespace xlb::api
