// SPDX-License-Identifier: Apache-2.0
// The Inspector (see inspector.h): flow listings (the flow table's entries and the NAT table's
// connections), and the entry points of Explain (explain.h) and ListNat (nat/list.h).
#include "inspect/inspector.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/address.h"
#include "config/validate.h"
#include "inspect/explain.h"
#include "inspect/internal.h"
#include "nat/endpoint.h"
#include "nat/list.h"

namespace xlb::inspect {
namespace {

using internal::AgentView;
using internal::BackendCache;
using internal::idleMs;
using internal::protocolOf;

// ---- ListFlows
// -------------------------------------------------------------------------------------

struct FlowFilters {
  const state::VipIds* vip = nullptr;
  std::optional<IpAddress> backend;
  std::optional<uint16_t> backend_port;  // "ADDR:PORT": only that membership port
  std::optional<IpPrefix> client;
  uint16_t client_port = 0;
  uint32_t limit = Inspector::kDefaultFlowLimit;
};

absl::StatusOr<FlowFilters> parseFilters(const v1::ListFlowsRequest& req, const AgentView& view) {
  std::vector<std::string> errors;
  FlowFilters f;
  const bool by_key = req.has_vip(), by_name = !req.vip_name().empty();
  std::optional<config::VipKey> vip_key;
  if (by_key && by_name) {
    errors.push_back(absl::StrCat("vip_name: \"", req.vip_name(),
                                  "\" given together with vip: filter by one VIP, key or name"));
  } else if (by_key) {
    if (auto st = config::validateVipKey(req.vip(), "vip"); !st.ok()) {
      errors.push_back(std::string(st.message()));
    } else if (auto k = config::vipKeyOf(req.vip()); k.ok()) {
      vip_key = *k;
    } else {
      errors.push_back(std::string(k.status().message()));
    }
  }
  if (!req.backend().empty()) {
    auto a = nat::parseEndpointRef(req.backend(), "backend");
    if (a.ok()) {
      f.backend = a->address;
      f.backend_port = a->port;
    } else {
      errors.push_back(std::string(a.status().message()));
    }
  }
  if (!req.client().empty()) {
    auto p = parseIpPrefixOrAddress(req.client());
    if (p.ok()) {
      f.client = *p;
    } else {
      errors.push_back(absl::StrCat("client: ", p.status().message()));
    }
  }
  if (req.client_port() > 65535) {
    errors.push_back(absl::StrCat("client_port: ", req.client_port(), " is not in [0, 65535]"));
  }
  if (req.limit() > Inspector::kMaxFlowLimit) {
    errors.push_back(absl::StrCat("limit: ", req.limit(), " is not in [0, ",
                                  Inspector::kMaxFlowLimit, "] (0 = ", Inspector::kDefaultFlowLimit,
                                  ")"));
  }
  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));

  if (vip_key) {
    auto it = view.by_key.find(*vip_key);
    if (it == view.by_key.end())
      return absl::NotFoundError(absl::StrCat("vip: no VIP ", vip_key->toString()));
    f.vip = it->second;
  } else if (by_name) {
    for (const auto& v : view.vips) {
      if (v.name == req.vip_name()) f.vip = &v;
    }
    if (f.vip == nullptr)
      return absl::NotFoundError(absl::StrCat("vip_name: no VIP named \"", req.vip_name(), "\""));
  }
  f.client_port = static_cast<uint16_t>(req.client_port());
  if (req.limit() != 0) f.limit = req.limit();
  return f;
}

// What a scan of the flow table keeps: the `limit` most recently seen matches, newest first.
struct FlowTableMatches {
  std::vector<std::pair<xlb_flow_key, xlb_flow_value>> kept;
  uint64_t scanned = 0, matched = 0;
};

absl::StatusOr<FlowTableMatches> scanFlowTable(dataplane::Dataplane& dp, const AgentView& view,
                                               const FlowFilters& f, BackendCache& backends) {
  FlowTableMatches out;
  absl::Status read_error;
  // A min-heap on last_seen_ns, so a scan of a full table keeps O(limit) entries however many
  // match.
  using Entry = std::pair<xlb_flow_key, xlb_flow_value>;
  auto newer = [](const Entry& a, const Entry& b) {
    return a.second.last_seen_ns > b.second.last_seen_ns;
  };
  auto& kept = out.kept;
  kept.reserve(f.limit + 1);
  auto visit = [&](const xlb_flow_key& k, const xlb_flow_value& v) {
    ++out.scanned;
    if (!read_error.ok()) return;
    if (f.client_port != 0 && ntohs(k.sport) != f.client_port) return;
    if (f.client && !f.client->contains(addressOf(k.src, k.family))) return;
    if (f.vip != nullptr) {
      const IpAddress dst = addressOf(k.dst, k.family);
      if (dst != f.vip->key.address || protocolOf(k.proto) != f.vip->key.protocol) return;
      if (view.resolve(dst, ntohs(k.dport), protocolOf(k.proto)) != f.vip) return;
    }
    if (f.backend) {
      auto slot = backends.get(v.backend_id);
      if (!slot.ok()) {
        read_error = slot.status();
        return;
      }
      if (slot->gen != v.backend_gen || (slot->gen == 0 && slot->flags == 0)) return;
      if (addressOf(slot->addr, slot->family) != *f.backend) return;
      if (f.backend_port) {
        auto it = view.backend_by_id.find(v.backend_id);
        if (it == view.backend_by_id.end() || it->second->port != *f.backend_port) return;
      }
    }
    ++out.matched;
    kept.emplace_back(k, v);
    std::push_heap(kept.begin(), kept.end(), newer);
    if (kept.size() > f.limit) {
      std::pop_heap(kept.begin(), kept.end(), newer);
      kept.pop_back();
    }
  };
  if (auto st = dp.forEachFlow(visit); !st.ok()) return st;
  if (!read_error.ok()) return read_error;
  std::sort(kept.begin(), kept.end(), newer);
  return out;
}

// The same filters over NAT connections: the VIP that created the connection, the backend side it
// is translated to, the client's address and port.
nat::NatQuery natQueryOf(const FlowFilters& f) {
  nat::NatQuery q;
  if (f.vip != nullptr) q.vip_id = f.vip->id;
  if (f.backend) q.backend = nat::EndpointRef{*f.backend, f.backend_port};
  q.client = f.client;
  if (f.client_port != 0) q.client_port = f.client_port;
  return q;
}

// The membership fields of a row: the slot's address while it still belongs to the recorded
// generation, and whether it still takes the flow's packets.
absl::Status fillBackend(uint32_t id, uint32_t gen, BackendCache& backends, v1::Flow* out) {
  out->set_backend_id(id);
  auto slot = backends.get(id);
  if (!slot.ok()) return slot.status();
  const bool same = slot->gen == gen && (slot->gen != 0 || slot->flags != 0);
  if (same) out->set_backend_address(addressOf(slot->addr, slot->family).toString());
  out->set_backend_current(same && (slot->flags & XLB_BE_F_ACTIVE));
  return absl::OkStatus();
}

absl::Status fillFlow(const xlb_flow_key& k, const xlb_flow_value& v, const AgentView& view,
                      BackendCache& backends, uint64_t now, v1::Flow* out) {
  const IpAddress dst = addressOf(k.dst, k.family);
  out->set_client_address(addressOf(k.src, k.family).toString());
  out->set_client_port(ntohs(k.sport));
  out->set_dst_address(dst.toString());
  out->set_dst_port(ntohs(k.dport));
  out->set_protocol(protocolOf(k.proto));
  if (const state::VipIds* vip = view.resolve(dst, ntohs(k.dport), protocolOf(k.proto))) {
    *out->mutable_vip() = vip->key.toProto();
    out->set_vip_name(vip->name);
  }
  if (auto st = fillBackend(v.backend_id, v.backend_gen, backends, out); !st.ok()) return st;
  out->set_idle_ms(idleMs(now, v.last_seen_ns));
  out->set_closing((v.flags & XLB_FLOW_F_CLOSING) != 0);
  out->set_protected_((v.flags & XLB_FLOW_F_PROTECTED) != 0);
  return absl::OkStatus();
}

// A NAT connection as a flow: its client side as the flow's tuple, the VIP that created it, its
// backend side in Flow.nat.
absl::Status fillNatFlow(const nat::Connection& c, const AgentView& view, BackendCache& backends,
                         uint64_t now, v1::Flow* out) {
  const auto& [k, v] = c.fwd;
  out->set_client_address(addressOf(k.src, k.family).toString());
  out->set_client_port(ntohs(k.sport));
  out->set_dst_address(addressOf(k.dst, k.family).toString());
  out->set_dst_port(ntohs(k.dport));
  out->set_protocol(protocolOf(k.proto));
  if (auto it = view.by_id.find(v.vip_id); it != view.by_id.end()) {
    *out->mutable_vip() = it->second->key.toProto();
    out->set_vip_name(it->second->name);
  }
  if (auto st = fillBackend(v.backend_id, v.backend_gen, backends, out); !st.ok()) return st;
  out->set_idle_ms(idleMs(now, c.last_seen_ns));
  out->set_closing(c.state == nat::ConnState::kClosing);
  *out->mutable_nat() = nat::toNatTuple(c);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::ListFlowsResponse> Inspector::listFlows(const v1::ListFlowsRequest& req) const {
  const AgentView view(state_.ids(), state_.natVips());
  auto filters = parseFilters(req, view);
  if (!filters.ok()) return filters.status();
  const FlowFilters& f = *filters;

  BackendCache backends(dataplane_);
  auto table = scanFlowTable(dataplane_, view, f, backends);
  if (!table.ok()) return table.status();
  // NAT VIPs' connections live in the NAT table: read only while some VIP uses it.
  nat::Snapshot nat_snap;
  std::vector<const nat::Connection*> nat_rows;
  if (view.any_nat) {
    auto snap = nat::scanNat(dataplane_);
    if (!snap.ok()) return snap.status();
    nat_snap = std::move(*snap);
    nat_rows = nat::matching(nat_snap, natQueryOf(f));
  }

  // The `limit` most recently active of both, newest first (each list is sorted already).
  v1::ListFlowsResponse resp;
  resp.set_scanned(table->scanned);
  resp.set_nat_scanned(nat_snap.connections.size());
  const uint64_t matched = table->matched + nat_rows.size();
  resp.set_matched(matched);
  const uint64_t now = dataplane_.monotonicNowNs();
  size_t i = 0, j = 0;
  while (static_cast<uint32_t>(resp.flows_size()) < f.limit &&
         (i < table->kept.size() || j < nat_rows.size())) {
    const bool take_nat =
        j < nat_rows.size() &&
        (i == table->kept.size() || nat_rows[j]->last_seen_ns > table->kept[i].second.last_seen_ns);
    v1::Flow* row = resp.add_flows();
    absl::Status st;
    if (take_nat) {
      st = fillNatFlow(*nat_rows[j++], view, backends, now, row);
    } else {
      const auto& [k, v] = table->kept[i++];
      st = fillFlow(k, v, view, backends, now, row);
    }
    if (!st.ok()) return st;
  }
  resp.set_truncated(matched > static_cast<uint64_t>(resp.flows_size()));
  return resp;
}

absl::StatusOr<v1::ExplainResponse> Inspector::explain(const v1::ExplainRequest& req) const {
  auto in = internal::parseExplain(req);
  if (!in.ok()) return in.status();
  const AgentView view(state_.ids(), state_.natVips());
  internal::Explainer explainer(dataplane_, view);
  return explainer.run(*in);
}

absl::StatusOr<v1::ListNatResponse> Inspector::listNat(const v1::ListNatRequest& req) const {
  auto r = nat::listNat(dataplane_, *state_.sharedNatVips(), req);
  if (r.ok() && nat_ != nullptr) *r->mutable_table() = nat::toProto(nat_->status());
  return r;
}

}  // namespace xlb::inspect
