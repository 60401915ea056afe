// SPDX-License-Identifier: Apache-2.0
// Internal to inspect/: the Explainer behind Inspector::explain. It follows bpf/balancer.bpf.c
// step by step over the live maps: VIP lookup; for dsr/ipip VIPs the flow table (lib/flow.h) and
// the algorithm (lib/select.h) in explain.cc; for nat/fullnat VIPs and replies to no VIP the NAT
// table (lib/nat.h) in explain_nat.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/address.h"
#include "dataplane/dataplane.h"
#include "inspect/internal.h"
#include "nat/collector.h"
#include "xlb/abi.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::inspect::internal {

struct ExplainInputs {
  IpAddress src, dst;
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
};

// INVALID_ARGUMENT naming every bad field at once.
absl::StatusOr<ExplainInputs> parseExplain(const v1::ExplainRequest& req);

class Explainer {
 public:
  Explainer(dataplane::Dataplane& dp, const AgentView& view) : dp_(dp), view_(view), cache_(dp) {}

  absl::StatusOr<v1::ExplainResponse> run(const ExplainInputs& in);

 private:
  // ---- explain.cc
  // balancer.bpf.c xlb_vip_find: the exact VIP key, then port 0 when wildcard VIPs exist. Reads
  // the settings into settings_ when it needs them (always when the exact key misses).
  absl::StatusOr<std::optional<xlb_vip_value>> findVip(const xlb_flow_key& key, uint16_t* vip_port);
  // The VIP's part of the answer (key, name, algorithm, mode), and its table, the open-flow counts
  // and the clock for what follows.
  absl::Status loadVip(const xlb_vip_value& v, const xlb_flow_key& key, uint16_t vip_port,
                       v1::ExplainResponse* out);
  // dsr / ipip: the flow table, then the algorithm.
  absl::Status flowPath(const xlb_vip_value& v, const xlb_flow_key& key, v1::ExplainResponse* out);
  static void copyHashFields(const v1::ExplainResponse& from, v1::ExplainResponse* to);
  // The backend slot `id` as an explanation shows it; with_address false when the slot no longer
  // belongs to the membership that referred to it.
  absl::StatusOr<v1::ExplainBackend> describe(uint32_t id, bool with_address = true);
  // xlb_select(): the VIP's algorithm on its table. Sets decision NO_BACKEND when the data plane
  // would drop; the summary it writes is the algorithm's part of the sentence.
  absl::Status select(const xlb_vip_value& v, const xlb_flow_key& key, v1::ExplainResponse* out);

  // ---- explain_nat.cc
  // A packet to a nat/fullnat VIP (lib/nat.h xlb_nat_forward, then xlb_nat_create).
  absl::Status natForward(const xlb_vip_value& v, const xlb_flow_key& key,
                          v1::ExplainResponse* out);
  // A packet to no VIP: a NAT reply (xlb_nat_maybe_reply, xlb_nat_reply)? false: not one, the
  // packet is passed like any non-VIP packet (out untouched).
  absl::StatusOr<bool> natReply(const xlb_flow_key& key, v1::ExplainResponse* out);
  // The connection a NAT entry belongs to (its peer looked up); without its peer (about to be
  // collected), the entry alone.
  absl::StatusOr<nat::Connection> connectionOf(const xlb_flow_key& key, const xlb_nat_value& v);
  // xlb_nat_create for a new (or re-created) connection: selection, then the translation it
  // would get or the reason it is refused. `prefix` starts the summary.
  absl::Status natCreate(const xlb_vip_value& v, const xlb_flow_key& key, const std::string& prefix,
                         v1::ExplainResponse* out);
  // natCreate's backend side for the backend the algorithm chose: its port (xlb_be_nat), and the
  // refusals before any allocation (another family; nat: hairpin, reply tuple taken). Returns the
  // refusal's end of the sentence (drop set), "" when none.
  absl::StatusOr<std::string> natBackendSide(uint8_t mode, const xlb_flow_key& key,
                                             v1::ExplainResponse* out);
  // fullnat: the pool's addresses of the family and its range ("SNAT address A or B (port ...)"),
  // "" with drop nat_no_port when the pool has none.
  absl::StatusOr<std::string> snatSource(const xlb_vip_value& v, const xlb_flow_key& key,
                                         v1::ExplainResponse* out);
  void drop(uint32_t reason, v1::ExplainResponse* out);

  dataplane::Dataplane& dp_;
  const AgentView& view_;
  BackendCache cache_;
  std::optional<xlb_settings> settings_;
  std::vector<uint32_t> table_;
  dataplane::OpenFlowCounts open_;
  uint64_t now_ns_ = 0;
};

}  // namespace xlb::inspect::internal
