// SPDX-License-Identifier: Apache-2.0
// The xlb.v1.Inspector gRPC service: samples of the flow table (ListFlows) and which backend the
// data plane would choose for a 5-tuple and why (Explain), read from the live maps.
#pragma once

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "dataplane/dataplane.h"
#include "state/state.h"
#include "xlb/v1/xlb.grpc.pb.h"

namespace xlb::api {

// Read-only: nothing here writes a map or takes the State lock for longer than State::ids() and
// State::config() do, so inspection never delays an apply or a health verdict.
class InspectorService final : public v1::Inspector::Service {
 public:
  InspectorService(state::State& state, dataplane::Dataplane& dataplane);

  grpc::Status ListFlows(grpc::ServerContext* ctx, const v1::ListFlowsRequest* req,
                         v1::ListFlowsResponse* resp) override;
  grpc::Status Explain(grpc::ServerContext* ctx, const v1::ExplainRequest* req,
                       v1::ExplainResponse* resp) override;

  // The RPCs' work, callable without a server (the BPF tests run it next to the real program).
  // INVALID_ARGUMENT names every bad field at once; NOT_FOUND for a VIP filter naming no VIP.
  absl::StatusOr<v1::ListFlowsResponse> listFlows(const v1::ListFlowsRequest& req);
  // Mirrors bpf/balancer.bpf.c + bpf/lib/flow.h + bpf/lib/select.h step by step: exact VIP, then
  // port 0 when wildcard VIPs exist; flow entry (followed when its backend is ACTIVE with the
  // recorded generation, else re-steered); the VIP's algorithm on its live selection table.
  absl::StatusOr<v1::ExplainResponse> explain(const v1::ExplainRequest& req);

  static constexpr uint32_t kDefaultFlowLimit = 100;
  static constexpr uint32_t kMaxFlowLimit = 10000;

 private:
  state::State& state_;
  dataplane::Dataplane& dataplane_;
};

}  // namespace xlb::api
