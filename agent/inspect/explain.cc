// SPDX-License-Identifier: Apache-2.0
// The Explainer (see explain.h): input checks, VIP lookup, and the dsr/ipip path (flow table, then
// the VIP's algorithm).
#include "inspect/explain.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "dataplane/flow_hash.h"
#include "stats/stats.h"

namespace xlb::inspect::internal {

absl::StatusOr<ExplainInputs> parseExplain(const v1::ExplainRequest& req) {
  std::vector<std::string> errors;
  ExplainInputs in;
  auto addr = [&errors](const std::string& text, const char* field, IpAddress* out) {
    if (text.empty()) {
      errors.push_back(absl::StrCat(field, ": missing (e.g. 10.0.0.1 or 2001:db8::1)"));
      return;
    }
    auto a = parseIpAddress(text);
    if (!a.ok()) {
      errors.push_back(absl::StrCat(field, ": ", a.status().message()));
      return;
    }
    *out = *a;
  };
  addr(req.src_address(), "src_address", &in.src);
  addr(req.dst_address(), "dst_address", &in.dst);
  if (in.src.family != 0 && in.dst.family != 0 && in.src.family != in.dst.family) {
    errors.push_back(absl::StrCat("src_address: ", in.src.toString(), " and dst_address ",
                                  in.dst.toString(),
                                  " are of different families (one packet has one IP version)"));
  }
  if (req.src_port() > 65535)
    errors.push_back(absl::StrCat("src_port: ", req.src_port(), " is not in [0, 65535]"));
  if (req.dst_port() > 65535)
    errors.push_back(absl::StrCat("dst_port: ", req.dst_port(), " is not in [0, 65535]"));
  if (req.protocol() == v1::PROTOCOL_TCP) {
    in.proto = IPPROTO_TCP;
  } else if (req.protocol() == v1::PROTOCOL_UDP) {
    in.proto = IPPROTO_UDP;
  } else if (req.protocol() == v1::PROTOCOL_UNSPECIFIED) {
    errors.push_back("protocol: missing (tcp or udp)");
  } else {
    errors.push_back(
        absl::StrCat("protocol: ", static_cast<int>(req.protocol()), " is not tcp or udp"));
  }
  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  in.sport = static_cast<uint16_t>(req.src_port());
  in.dport = static_cast<uint16_t>(req.dst_port());
  return in;
}

absl::StatusOr<v1::ExplainResponse> Explainer::run(const ExplainInputs& in) {
  v1::ExplainResponse out;
  xlb_flow_key key{};
  std::memcpy(key.src, in.src.bytes.data(), 16);
  std::memcpy(key.dst, in.dst.bytes.data(), 16);
  key.sport = htons(in.sport);
  key.dport = htons(in.dport);
  key.proto = in.proto;
  key.family = in.src.family;

  uint16_t vip_port = 0;
  auto vip = findVip(key, &vip_port);
  if (!vip.ok()) return vip.status();
  if (!vip->has_value()) {
    // balancer.bpf.c: while NAT VIPs exist, a packet to no VIP may be a NAT reply.
    auto reply = natReply(key, &out);
    if (!reply.ok()) return reply.status();
    if (*reply) return out;
    out.set_decision(v1::ExplainResponse::DECISION_PASS);
    out.set_predictable(true);
    out.set_summary(absl::StrCat("XDP_PASS to the kernel: no VIP ",
                                 formatHostPort(in.dst, in.dport), "/", protocolText(in.proto)));
    return out;
  }
  const xlb_vip_value v = **vip;
  if (auto st = loadVip(v, key, vip_port, &out); !st.ok()) return st;
  // balancer.bpf.c: nat/fullnat VIPs go to lib/nat.h before the flow table.
  auto st = isNatMode(v.fwd_mode) ? natForward(v, key, &out) : flowPath(v, key, &out);
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<std::optional<xlb_vip_value>> Explainer::findVip(const xlb_flow_key& key,
                                                                uint16_t* vip_port) {
  xlb_vip_key vk{};
  std::memcpy(vk.addr, key.dst, 16);
  vk.port = key.dport;
  vk.proto = key.proto;
  vk.family = key.family;
  auto vip = dp_.lookupVip(vk);
  if (!vip.ok()) return vip.status();
  if (!vip->has_value()) {
    auto settings = dp_.readSettings();
    if (!settings.ok()) return settings.status();
    settings_ = *settings;
    if (settings->nr_wildcard_vips != 0) {
      vk.port = 0;
      vip = dp_.lookupVip(vk);
      if (!vip.ok()) return vip.status();
    }
  }
  *vip_port = ntohs(vk.port);
  return *vip;
}

absl::Status Explainer::loadVip(const xlb_vip_value& v, const xlb_flow_key& key, uint16_t vip_port,
                                v1::ExplainResponse* out) {
  config::VipKey vip_key{addressOf(key.dst, key.family), vip_port, protocolOf(key.proto)};
  *out->mutable_vip() = vip_key.toProto();
  if (auto it = view_.by_id.find(v.vip_id); it != view_.by_id.end())
    out->set_vip_name(it->second->name);
  out->set_algorithm(algorithmOf(v.algorithm));
  out->set_forwarding(forwardingOf(v.fwd_mode));
  auto table = dp_.readSelectionTable(v.vip_id);
  if (!table.ok()) return table.status();
  table_ = std::move(*table);
  auto open = dp_.openFlowCounts();
  if (!open.ok()) return open.status();
  open_ = std::move(*open);
  now_ns_ = dp_.monotonicNowNs();
  return absl::OkStatus();
}

absl::Status Explainer::flowPath(const xlb_vip_value& v, const xlb_flow_key& key,
                                 v1::ExplainResponse* out) {
  const std::string via = absl::StrCat(
      "; forwarded by ", v.fwd_mode == XLB_FWD_IPIP ? "ipip encapsulation" : "dsr (MAC rewrite)");
  auto flow = dp_.lookupFlow(key);
  if (!flow.ok()) return flow.status();
  std::string prefix = "new flow (no flow-table entry): ";
  if (flow->has_value()) {
    const xlb_flow_value fv = **flow;
    out->set_flow_found(true);
    out->set_flow_idle_ms(idleMs(now_ns_, fv.last_seen_ns));
    out->set_flow_closing((fv.flags & XLB_FLOW_F_CLOSING) != 0);
    out->set_flow_protected((fv.flags & XLB_FLOW_F_PROTECTED) != 0);
    auto slot = cache_.get(fv.backend_id);
    if (!slot.ok()) return slot.status();
    const bool same_gen = slot->gen == fv.backend_gen;
    auto recorded = describe(fv.backend_id, same_gen);
    if (!recorded.ok()) return recorded.status();
    *out->mutable_flow_backend() = *recorded;
    const std::string recorded_text =
        same_gen ? absl::StrCat(recorded->address(), " (backend id ", fv.backend_id, ")")
                 : absl::StrCat("backend id ", fv.backend_id);
    // flow.h: followed only when the recorded backend is ACTIVE with the recorded generation.
    if ((slot->flags & XLB_BE_F_ACTIVE) && same_gen) {
      out->set_decision(v1::ExplainResponse::DECISION_FLOW_HIT);
      out->set_predictable(true);
      *out->mutable_backend() = *recorded;
      std::string summary =
          absl::StrCat("flow-table hit: ", recorded_text, ", idle ", formatMs(out->flow_idle_ms()));
      if (out->flow_closing()) {
        // A SYN on a closing entry runs the algorithm like a new flow (flow.h).
        v1::ExplainResponse syn;
        auto st = select(v, key, &syn);
        if (!st.ok()) return st;
        if (syn.has_backend()) *out->mutable_syn_backend() = syn.backend();
        absl::StrAppend(&summary, ", closing (FIN/RST seen); a new SYN would run ",
                        config::algorithmName(out->algorithm()), ": ", syn.summary());
        copyHashFields(syn, out);
      }
      out->set_summary(absl::StrCat(summary, via));
      return absl::OkStatus();
    }
    out->set_decision(v1::ExplainResponse::DECISION_RESTEER);
    prefix = absl::StrCat(
        "flow-table entry names ", recorded_text, ", which ",
        !same_gen ? "was deleted or reassigned" : "is not active (health-down or removed)",
        ": the next packet is re-steered: ");
  } else {
    out->set_decision(v1::ExplainResponse::DECISION_NEW_FLOW);
  }
  auto st = select(v, key, out);
  if (!st.ok()) return st;
  out->set_summary(
      absl::StrCat(prefix, out->summary(),
                   out->decision() == v1::ExplainResponse::DECISION_NO_BACKEND ? "" : via));
  return absl::OkStatus();
}

void Explainer::drop(uint32_t reason, v1::ExplainResponse* out) {
  out->set_decision(reason == XLB_DROP_NO_BACKEND ? v1::ExplainResponse::DECISION_NO_BACKEND
                                                  : v1::ExplainResponse::DECISION_DROP);
  out->set_drop_reason(stats::dropReasonNames().at(reason));
  out->clear_backend();
}

void Explainer::copyHashFields(const v1::ExplainResponse& from, v1::ExplainResponse* to) {
  to->set_hash_input(from.hash_input());
  to->set_hash(from.hash());
  to->set_slot(from.slot());
  to->set_table_size(from.table_size());
  *to->mutable_candidates() = from.candidates();
}

absl::StatusOr<v1::ExplainBackend> Explainer::describe(uint32_t id, bool with_address) {
  auto slot = cache_.get(id);
  if (!slot.ok()) return slot.status();
  v1::ExplainBackend b;
  b.set_id(id);
  if (with_address && (slot->gen != 0 || slot->flags != 0)) {
    // The membership's label ("ADDR:PORT" when its port is not the VIP's) when the agent
    // knows it, else the slot's address.
    auto it = view_.backend_by_id.find(id);
    b.set_address(it != view_.backend_by_id.end() &&
                          it->second->ip == addressOf(slot->addr, slot->family)
                      ? it->second->address
                      : addressOf(slot->addr, slot->family).toString());
  }
  b.set_weight(slot->weight);
  b.set_table_slots(static_cast<uint32_t>(std::count(table_.begin(), table_.end(), id)));
  b.set_open_flows(open_[id]);
  b.set_active((slot->flags & XLB_BE_F_ACTIVE) != 0);
  if (auto it = view_.backend_by_id.find(id); it != view_.backend_by_id.end())
    b.set_draining(it->second->state == v1::BACKEND_STATE_DRAINING);
  return b;
}

absl::Status Explainer::select(const xlb_vip_value& v, const xlb_flow_key& key,
                               v1::ExplainResponse* out) {
  const v1::Algorithm alg = algorithmOf(v.algorithm);
  const uint32_t m = static_cast<uint32_t>(table_.size());
  out->set_table_size(m);
  if (m == 0) {
    drop(XLB_DROP_NO_BACKEND, out);
    out->set_predictable(true);
    out->set_summary(
        "the VIP has no selection table (no backend in rotation): dropped (no_backend)");
    return absl::OkStatus();
  }
  if (alg == v1::ALGORITHM_ROUND_ROBIN || alg == v1::ALGORITHM_RANDOM ||
      alg == v1::ALGORITHM_LEAST_CONN) {
    out->set_predictable(false);
    std::vector<uint32_t> ids;
    for (uint32_t id : table_) {
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
    std::vector<std::string> names;
    for (uint32_t id : ids) {
      auto b = describe(id);
      if (!b.ok()) return b.status();
      std::string n = absl::StrCat(b->address(), " (weight ", b->weight(), ", ", b->table_slots(),
                                   "/", m, " slots");
      if (alg == v1::ALGORITHM_LEAST_CONN) absl::StrAppend(&n, ", ", b->open_flows(), " open");
      if (!b->active()) absl::StrAppend(&n, ", not active");
      absl::StrAppend(&n, ")");
      names.push_back(std::move(n));
      *out->add_candidates() = *b;
    }
    const char* how =
        alg == v1::ALGORITHM_ROUND_ROBIN ? "round_robin takes the next slot of a per-CPU position"
        : alg == v1::ALGORITHM_RANDOM
            ? "random draws a slot per new flow"
            : "least_conn draws two slots at random and takes the backend with fewer open flows "
              "per unit of weight";
    out->set_summary(absl::StrCat(
        how, ": not predictable per packet; candidates: ", absl::StrJoin(names, ", ")));
    return absl::OkStatus();
  }
  uint32_t hash;
  if (alg == v1::ALGORITHM_SOURCE_HASH) {
    const bool with_port = (v.flags & XLB_VIP_F_HASH_SRC_PORT) != 0;
    hash = dataplane::sourceHash(key, with_port);
    out->set_hash_input(with_port ? "client address + port" : "client address");
  } else {
    hash = dataplane::flowHash(key);
    out->set_hash_input("5-tuple");
  }
  const uint32_t slot = dataplane::slotOfHash(hash, m);
  out->set_hash(hash);
  out->set_slot(slot);
  out->set_predictable(true);
  const uint32_t id = table_[slot];
  auto b = describe(id);
  if (!b.ok()) return b.status();
  const std::string how =
      absl::StrFormat("%s hashes the %s to 0x%08x, slot %u of %u", config::algorithmName(alg),
                      out->hash_input(), hash, slot, m);
  if (!b->active()) {
    // xlb_slot_backend(): a slot whose backend is not ACTIVE selects nothing.
    drop(XLB_DROP_NO_BACKEND, out);
    out->set_summary(
        absl::StrCat(how, " -> backend id ", id, ", which is not active: dropped (no_backend)"));
    return absl::OkStatus();
  }
  *out->mutable_backend() = *b;
  out->set_summary(absl::StrCat(how, " -> ", b->address(), " (backend id ", id, ")"));
  return absl::OkStatus();
}

}  // namespace xlb::inspect::internal
