// SPDX-License-Identifier: Apache-2.0
// The read-only inspection of the live data plane: flow listings (the flow table's entries and the
// NAT table's connections), Explain (which backend a 5-tuple would reach and why, NAT translation
// included) and the NAT connection listing. inspect/ owns this logic; api/ only translates the
// Inspector RPCs onto it. Counter gathering for GetStats and /metrics is in inspect/stats.h.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "dataplane/dataplane.h"
#include "nat/gc.h"
#include "state/state.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::inspect {

// Nothing here writes a map or changes State: it reads State through its public const accessors
// (ids(), natVips()) once per request and the data plane through its read interface, so
// inspection never delays an apply or a health verdict.
class Inspector {
 public:
  Inspector(const state::State& state, dataplane::Dataplane& dataplane)
      : state_(state), dataplane_(dataplane) {}

  // The NAT collector whose figures listNat returns (nullptr: none). Set before serving.
  void setNatCollector(const nat::NatCollector* collector) { nat_ = collector; }

  // INVALID_ARGUMENT names every bad field at once; NOT_FOUND for a VIP filter naming no VIP.
  // Flow-table entries and, while a VIP forwards with nat or fullnat, the NAT table's connections
  // (Flow.nat set), merged most recently active first.
  absl::StatusOr<v1::ListFlowsResponse> listFlows(const v1::ListFlowsRequest& req) const;
  // Mirrors bpf/balancer.bpf.c + bpf/lib/flow.h + bpf/lib/select.h + bpf/lib/nat.h step by step
  // (inspect/explain.h): exact VIP, then port 0 when wildcard VIPs exist; dsr/ipip: flow entry
  // (followed when its backend is ACTIVE with the recorded generation, else re-steered), the VIP's
  // algorithm on its live selection table; nat/fullnat: the NAT entry the same way, else the
  // algorithm and the translation a new connection gets; no VIP: a NAT reply, else passed.
  absl::StatusOr<v1::ExplainResponse> explain(const v1::ExplainRequest& req) const;
  // nat/list.h over the live table and State's VIPs, with the collector's table figures.
  absl::StatusOr<v1::ListNatResponse> listNat(const v1::ListNatRequest& req) const;

  static constexpr uint32_t kDefaultFlowLimit = 100;
  static constexpr uint32_t kMaxFlowLimit = 10000;

 private:
  const state::State& state_;
  dataplane::Dataplane& dataplane_;
  const nat::NatCollector* nat_ = nullptr;
};

}  // namespace xlb::inspect
