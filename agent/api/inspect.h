// SPDX-License-Identifier: Apache-2.0
// The xlb.v1.Inspector gRPC service: samples of the flow table and of the NAT table's connections
// (ListFlows), which backend the data plane would choose for a 5-tuple and why, NAT translation
// included (Explain), read from the live maps, and the NAT connections (ListNat, FlushNat).
#pragma once

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "dataplane/dataplane.h"
#include "nat/gc.h"
#include "nat/list.h"
#include "state/state.h"
#include "xlb/v1/xlb.grpc.pb.h"

namespace xlb::api {

// Read-only but for FlushNat: nothing else here writes a map or takes the State lock for longer
// than State::ids(), State::natVips() and State::config() do, so inspection never delays an apply
// or a health verdict.
class InspectorService final : public v1::Inspector::Service {
 public:
  InspectorService(state::State& state, dataplane::Dataplane& dataplane);

  grpc::Status ListFlows(grpc::ServerContext* ctx, const v1::ListFlowsRequest* req,
                         v1::ListFlowsResponse* resp) override;
  grpc::Status Explain(grpc::ServerContext* ctx, const v1::ExplainRequest* req,
                       v1::ExplainResponse* resp) override;
  grpc::Status ListNat(grpc::ServerContext* ctx, const v1::ListNatRequest* req,
                       v1::ListNatResponse* resp) override;
  // Writes (deletes connections), unlike the rest of the service: `lbctl nat flush`.
  grpc::Status FlushNat(grpc::ServerContext* ctx, const v1::FlushNatRequest* req,
                        v1::FlushNatResponse* resp) override;

  // The NAT collector whose figures ListNat returns (nullptr: none). Set before serving.
  void setNatCollector(nat::NatCollector* collector) { nat_ = collector; }

  // The RPCs' work, callable without a server (the BPF tests run it next to the real program).
  // INVALID_ARGUMENT names every bad field at once; NOT_FOUND for a VIP filter naming no VIP.
  // Flow-table entries and, while a VIP forwards with nat or fullnat, the NAT table's connections
  // (Flow.nat set), merged most recently active first.
  absl::StatusOr<v1::ListFlowsResponse> listFlows(const v1::ListFlowsRequest& req);
  // Mirrors bpf/balancer.bpf.c + bpf/lib/flow.h + bpf/lib/select.h + bpf/lib/nat.h step by step
  // (api/explain.h): exact VIP, then port 0 when wildcard VIPs exist; dsr/ipip: flow entry
  // (followed when its backend is ACTIVE with the recorded generation, else re-steered), the VIP's
  // algorithm on its live selection table; nat/fullnat: the NAT entry the same way, else the
  // algorithm and the translation a new connection gets; no VIP: a NAT reply, else passed.
  absl::StatusOr<v1::ExplainResponse> explain(const v1::ExplainRequest& req);
  // nat/list.h over the live table and State's VIPs.
  absl::StatusOr<v1::ListNatResponse> listNat(const v1::ListNatRequest& req);
  absl::StatusOr<v1::FlushNatResponse> flushNat(const v1::FlushNatRequest& req);

  static constexpr uint32_t kDefaultFlowLimit = 100;
  static constexpr uint32_t kMaxFlowLimit = 10000;

 private:
  state::State& state_;
  dataplane::Dataplane& dataplane_;
  nat::NatCollector* nat_ = nullptr;
};

}  // namespace xlb::api
