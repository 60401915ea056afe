// SPDX-License-Identifier: Apache-2.0
// The xlb.v1.Inspector service (see inspect.h): flow-table samples and per-packet explanations.
#include "api/inspect.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "api/service.h"
#include "common/address.h"
#include "config/validate.h"
#include "dataplane/flow_hash.h"
#include "nat/endpoint.h"
#include "spdlog/spdlog.h"

namespace xlb::api {
namespace {

constexpr uint64_t kNsPerMs = 1000000;

IpAddress addressOf(const uint8_t* bytes, uint8_t family) {
  IpAddress a;
  std::memcpy(a.bytes.data(), bytes, 16);
  a.family = family;
  return a;
}

v1::Protocol protocolOf(uint8_t proto) {
  return proto == IPPROTO_TCP   ? v1::PROTOCOL_TCP
         : proto == IPPROTO_UDP ? v1::PROTOCOL_UDP
                                : v1::PROTOCOL_UNSPECIFIED;
}

const char* protocolText(uint8_t proto) {
  return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?";
}

// The data plane's algorithm and mode values are the proto enums' (abi.h and xlb.proto agree on
// 1..5 and 1..2); an algorithm value this agent does not know selects like maglev, as in BPF.
v1::Algorithm algorithmOf(uint8_t alg) {
  return alg >= XLB_ALG_MAGLEV && alg <= XLB_ALG_LEAST_CONN ? static_cast<v1::Algorithm>(alg)
                                                            : v1::ALGORITHM_MAGLEV;
}

v1::ForwardingMode forwardingOf(uint8_t mode) {
  return mode == XLB_FWD_IPIP ? v1::FORWARDING_MODE_IPIP : v1::FORWARDING_MODE_DSR;
}

std::string formatMs(uint64_t ms) {
  if (ms < 10000) return absl::StrCat(ms, "ms");
  return absl::StrFormat("%.1fs", static_cast<double>(ms) / 1000.0);
}

uint64_t idleMs(uint64_t now_ns, uint64_t last_seen_ns) {
  // last_seen may be a little ahead of a now read on another CPU's clock: that is fresh.
  return last_seen_ns >= now_ns ? 0 : (now_ns - last_seen_ns) / kNsPerMs;
}

bool prefixContains(const IpPrefix& p, const IpAddress& a) {
  if (p.address.family != a.family) return false;
  for (int bit = 0; bit < p.length; ++bit) {
    const uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    if ((p.address.bytes[bit / 8] & mask) != (a.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

// A client filter: "192.0.2.7" (an address: a /32 or /128) or "192.0.2.0/24".
absl::StatusOr<IpPrefix> parseClientFilter(const std::string& text) {
  if (text.find('/') != std::string::npos) return parseIpPrefix(text);
  auto a = parseIpAddress(text);
  if (!a.ok()) return a.status();
  return IpPrefix{*a, a->isV4() ? 32 : 128};
}

// The agent's view of the VIPs, for names and draining flags; the data plane's maps stay the truth
// for everything the packet path reads.
struct AgentView {
  std::vector<state::VipIds> vips;
  std::map<config::VipKey, const state::VipIds*> by_key;
  std::unordered_map<uint32_t, const state::VipIds*> by_id;
  std::unordered_map<uint32_t, const state::BackendIds*> backend_by_id;

  explicit AgentView(std::vector<state::VipIds> ids) : vips(std::move(ids)) {
    for (const auto& v : vips) {
      by_key.emplace(v.key, &v);
      by_id.emplace(v.id, &v);
      for (const auto& b : v.backends) backend_by_id.emplace(b.id, &b);
    }
  }
  // The VIP that takes a packet to (dst, port, proto): exact port first, then port 0.
  const state::VipIds* resolve(const IpAddress& dst, uint16_t port, v1::Protocol proto) const {
    auto it = by_key.find(config::VipKey{dst, port, proto});
    if (it != by_key.end()) return it->second;
    it = by_key.find(config::VipKey{dst, 0, proto});
    return it != by_key.end() ? it->second : nullptr;
  }
};

// Reads each backend slot once per request.
class BackendCache {
 public:
  explicit BackendCache(dataplane::Dataplane& dp) : dp_(dp) {}
  absl::StatusOr<xlb_backend> get(uint32_t id) {
    if (id >= XLB_MAX_BACKENDS) return xlb_backend{};  // no such slot: matches no flow
    auto it = cache_.find(id);
    if (it != cache_.end()) return it->second;
    auto b = dp_.readBackend(id);
    if (!b.ok()) return b.status();
    cache_.emplace(id, *b);
    return *b;
  }

 private:
  dataplane::Dataplane& dp_;
  std::unordered_map<uint32_t, xlb_backend> cache_;
};

// ---- Explain
// --------------------------------------------------------------------------------------

struct ExplainInputs {
  IpAddress src, dst;
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
};

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

class Explainer {
 public:
  Explainer(dataplane::Dataplane& dp, const AgentView& view) : dp_(dp), view_(view), cache_(dp) {}

  absl::StatusOr<v1::ExplainResponse> run(const ExplainInputs& in) {
    v1::ExplainResponse out;
    xlb_flow_key key{};
    std::memcpy(key.src, in.src.bytes.data(), 16);
    std::memcpy(key.dst, in.dst.bytes.data(), 16);
    key.sport = htons(in.sport);
    key.dport = htons(in.dport);
    key.proto = in.proto;
    key.family = in.src.family;

    // balancer.bpf.c: exact VIP key, then port 0 only when the settings say wildcard VIPs exist.
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
      if (settings->nr_wildcard_vips != 0) {
        vk.port = 0;
        vip = dp_.lookupVip(vk);
        if (!vip.ok()) return vip.status();
      }
    }
    const std::string dst_text =
        absl::StrCat(formatHostPort(in.dst, in.dport), "/", protocolText(in.proto));
    if (!vip->has_value()) {
      out.set_decision(v1::ExplainResponse::DECISION_PASS);
      out.set_predictable(true);
      out.set_summary(absl::StrCat("XDP_PASS to the kernel: no VIP ", dst_text));
      return out;
    }
    const xlb_vip_value v = **vip;
    config::VipKey vip_key{in.dst, ntohs(vk.port), protocolOf(in.proto)};
    *out.mutable_vip() = vip_key.toProto();
    if (auto it = view_.by_id.find(v.vip_id); it != view_.by_id.end())
      out.set_vip_name(it->second->name);
    out.set_algorithm(algorithmOf(v.algorithm));
    out.set_forwarding(forwardingOf(v.fwd_mode));
    const std::string via = absl::StrCat(
        "; forwarded by ", v.fwd_mode == XLB_FWD_IPIP ? "ipip encapsulation" : "dsr (MAC rewrite)");

    auto table = dp_.readSelectionTable(v.vip_id);
    if (!table.ok()) return table.status();
    table_ = std::move(*table);
    auto open = dp_.readOpenFlows();
    if (!open.ok()) return open.status();
    open_ = std::move(*open);
    now_ns_ = dp_.monotonicNowNs();

    auto flow = dp_.lookupFlow(key);
    if (!flow.ok()) return flow.status();
    std::string prefix = "new flow (no flow-table entry): ";
    if (flow->has_value()) {
      const xlb_flow_value fv = **flow;
      out.set_flow_found(true);
      out.set_flow_idle_ms(idleMs(now_ns_, fv.last_seen_ns));
      out.set_flow_closing((fv.flags & XLB_FLOW_F_CLOSING) != 0);
      out.set_flow_protected((fv.flags & XLB_FLOW_F_PROTECTED) != 0);
      auto slot = cache_.get(fv.backend_id);
      if (!slot.ok()) return slot.status();
      const bool same_gen = slot->gen == fv.backend_gen;
      auto recorded = describe(fv.backend_id, same_gen);
      if (!recorded.ok()) return recorded.status();
      *out.mutable_flow_backend() = *recorded;
      const std::string recorded_text =
          same_gen ? absl::StrCat(recorded->address(), " (backend id ", fv.backend_id, ")")
                   : absl::StrCat("backend id ", fv.backend_id);
      // flow.h: followed only when the recorded backend is ACTIVE with the recorded generation.
      if ((slot->flags & XLB_BE_F_ACTIVE) && same_gen) {
        out.set_decision(v1::ExplainResponse::DECISION_FLOW_HIT);
        out.set_predictable(true);
        *out.mutable_backend() = *recorded;
        std::string summary = absl::StrCat("flow-table hit: ", recorded_text, ", idle ",
                                           formatMs(out.flow_idle_ms()));
        if (out.flow_closing()) {
          // A SYN on a closing entry runs the algorithm like a new flow (flow.h).
          v1::ExplainResponse syn;
          auto st = select(v, key, &syn);
          if (!st.ok()) return st;
          if (syn.has_backend()) *out.mutable_syn_backend() = syn.backend();
          absl::StrAppend(&summary, ", closing (FIN/RST seen); a new SYN would run ",
                          config::algorithmName(out.algorithm()), ": ", syn.summary());
          copyHashFields(syn, &out);
        }
        out.set_summary(absl::StrCat(summary, via));
        return out;
      }
      out.set_decision(v1::ExplainResponse::DECISION_RESTEER);
      prefix = absl::StrCat(
          "flow-table entry names ", recorded_text, ", which ",
          !same_gen ? "was deleted or reassigned" : "is not active (health-down or removed)",
          ": the next packet is re-steered: ");
    } else {
      out.set_decision(v1::ExplainResponse::DECISION_NEW_FLOW);
    }
    auto st = select(v, key, &out);
    if (!st.ok()) return st;
    out.set_summary(
        absl::StrCat(prefix, out.summary(),
                     out.decision() == v1::ExplainResponse::DECISION_NO_BACKEND ? "" : via));
    return out;
  }

 private:
  static void copyHashFields(const v1::ExplainResponse& from, v1::ExplainResponse* to) {
    to->set_hash_input(from.hash_input());
    to->set_hash(from.hash());
    to->set_slot(from.slot());
    to->set_table_size(from.table_size());
    *to->mutable_candidates() = from.candidates();
  }

  // The backend slot `id` as an explanation shows it; with_address false when the slot no longer
  // belongs to the membership that referred to it.
  absl::StatusOr<v1::ExplainBackend> describe(uint32_t id, bool with_address = true) {
    auto slot = cache_.get(id);
    if (!slot.ok()) return slot.status();
    v1::ExplainBackend b;
    b.set_id(id);
    if (with_address && (slot->gen != 0 || slot->flags != 0)) {
      // The membership's label ("ADDR:PORT" when its port is not the VIP's) when the agent
      // knows it, else the slot's address.
      auto it = view_.backend_by_id.find(id);
      b.set_address(it != view_.backend_by_id.end() && it->second->ip == addressOf(slot->addr, slot->family)
                        ? it->second->address
                        : addressOf(slot->addr, slot->family).toString());
    }
    b.set_weight(slot->weight);
    b.set_table_slots(static_cast<uint32_t>(std::count(table_.begin(), table_.end(), id)));
    b.set_open_flows(id < open_.size() ? open_[id] : 0);
    b.set_active((slot->flags & XLB_BE_F_ACTIVE) != 0);
    if (auto it = view_.backend_by_id.find(id); it != view_.backend_by_id.end())
      b.set_draining(it->second->state == v1::BACKEND_STATE_DRAINING);
    return b;
  }

  // xlb_select(): the VIP's algorithm on its table. Sets decision NO_BACKEND when the data plane
  // would drop; the summary it writes is the algorithm's part of the sentence.
  absl::Status select(const xlb_vip_value& v, const xlb_flow_key& key, v1::ExplainResponse* out) {
    const v1::Algorithm alg = algorithmOf(v.algorithm);
    const uint32_t m = static_cast<uint32_t>(table_.size());
    out->set_table_size(m);
    if (m == 0) {
      out->set_decision(v1::ExplainResponse::DECISION_NO_BACKEND);
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
      out->set_decision(v1::ExplainResponse::DECISION_NO_BACKEND);
      out->set_summary(
          absl::StrCat(how, " -> backend id ", id, ", which is not active: dropped (no_backend)"));
      return absl::OkStatus();
    }
    *out->mutable_backend() = *b;
    out->set_summary(absl::StrCat(how, " -> ", b->address(), " (backend id ", id, ")"));
    return absl::OkStatus();
  }

  dataplane::Dataplane& dp_;
  const AgentView& view_;
  BackendCache cache_;
  std::vector<uint32_t> table_;
  std::vector<uint64_t> open_;
  uint64_t now_ns_ = 0;
};

// ---- ListFlows
// -------------------------------------------------------------------------------------

struct FlowFilters {
  const state::VipIds* vip = nullptr;
  std::optional<IpAddress> backend;
  std::optional<uint16_t> backend_port;  // "ADDR:PORT": only that membership port
  std::optional<IpPrefix> client;
  uint16_t client_port = 0;
  uint32_t limit = InspectorService::kDefaultFlowLimit;
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
    auto p = parseClientFilter(req.client());
    if (p.ok()) {
      f.client = *p;
    } else {
      errors.push_back(absl::StrCat("client: ", p.status().message()));
    }
  }
  if (req.client_port() > 65535) {
    errors.push_back(absl::StrCat("client_port: ", req.client_port(), " is not in [0, 65535]"));
  }
  if (req.limit() > InspectorService::kMaxFlowLimit) {
    errors.push_back(absl::StrCat("limit: ", req.limit(), " is not in [0, ",
                                  InspectorService::kMaxFlowLimit,
                                  "] (0 = ", InspectorService::kDefaultFlowLimit, ")"));
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

}  // namespace

InspectorService::InspectorService(state::State& state, dataplane::Dataplane& dataplane)
    : state_(state), dataplane_(dataplane) {}

absl::StatusOr<v1::ListFlowsResponse> InspectorService::listFlows(const v1::ListFlowsRequest& req) {
  const AgentView view(state_.ids());
  auto filters = parseFilters(req, view);
  if (!filters.ok()) return filters.status();
  const FlowFilters& f = *filters;

  BackendCache backends(dataplane_);
  absl::Status read_error;
  uint64_t scanned = 0, matched = 0;
  // The `limit` most recently seen matches: a min-heap on last_seen_ns, so a scan of a full table
  // keeps O(limit) entries however many match.
  using Entry = std::pair<xlb_flow_key, xlb_flow_value>;
  auto newer = [](const Entry& a, const Entry& b) {
    return a.second.last_seen_ns > b.second.last_seen_ns;
  };
  std::vector<Entry> kept;
  kept.reserve(f.limit + 1);

  auto visit = [&](const xlb_flow_key& k, const xlb_flow_value& v) {
    ++scanned;
    if (!read_error.ok()) return;
    if (f.client_port != 0 && ntohs(k.sport) != f.client_port) return;
    if (f.client && !prefixContains(*f.client, addressOf(k.src, k.family))) return;
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
    ++matched;
    kept.emplace_back(k, v);
    std::push_heap(kept.begin(), kept.end(), newer);
    if (kept.size() > f.limit) {
      std::pop_heap(kept.begin(), kept.end(), newer);
      kept.pop_back();
    }
  };
  if (auto st = dataplane_.forEachFlow(visit); !st.ok()) return st;
  if (!read_error.ok()) return read_error;

  std::sort(kept.begin(), kept.end(), newer);
  v1::ListFlowsResponse resp;
  resp.set_scanned(scanned);
  resp.set_matched(matched);
  resp.set_truncated(matched > kept.size());
  const uint64_t now = dataplane_.monotonicNowNs();
  for (const auto& [k, v] : kept) {
    v1::Flow* out = resp.add_flows();
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
    out->set_backend_id(v.backend_id);
    auto slot = backends.get(v.backend_id);
    if (!slot.ok()) return slot.status();
    const bool same = slot->gen == v.backend_gen && (slot->gen != 0 || slot->flags != 0);
    if (same) out->set_backend_address(addressOf(slot->addr, slot->family).toString());
    out->set_backend_current(same && (slot->flags & XLB_BE_F_ACTIVE));
    out->set_idle_ms(idleMs(now, v.last_seen_ns));
    out->set_closing((v.flags & XLB_FLOW_F_CLOSING) != 0);
    out->set_protected_((v.flags & XLB_FLOW_F_PROTECTED) != 0);
  }
  return resp;
}

absl::StatusOr<v1::ExplainResponse> InspectorService::explain(const v1::ExplainRequest& req) {
  auto in = parseExplain(req);
  if (!in.ok()) return in.status();
  const AgentView view(state_.ids());
  Explainer explainer(dataplane_, view);
  return explainer.run(*in);
}

absl::StatusOr<v1::ListNatResponse> InspectorService::listNat(const v1::ListNatRequest& req) {
  auto r = nat::listNat(dataplane_, state_.natVips(), req);
  if (r.ok() && nat_ != nullptr) *r->mutable_table() = nat::toProto(nat_->status());
  return r;
}

absl::StatusOr<v1::FlushNatResponse> InspectorService::flushNat(const v1::FlushNatRequest& req) {
  auto r = nat::flushNat(dataplane_, state_.natVips(), req);
  if (r.ok() && nat_ != nullptr) nat_->noteFlushed(r->deleted());
  return r;
}

grpc::Status InspectorService::ListNat(grpc::ServerContext*, const v1::ListNatRequest* req,
                                       v1::ListNatResponse* resp) {
  auto r = listNat(*req);
  if (!r.ok()) return toGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status InspectorService::FlushNat(grpc::ServerContext*, const v1::FlushNatRequest* req,
                                        v1::FlushNatResponse* resp) {
  auto r = flushNat(*req);
  if (!r.ok()) return toGrpcStatus(r.status());
  spdlog::info("api: FlushNat deleted {} NAT connections", r->deleted());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status InspectorService::ListFlows(grpc::ServerContext*, const v1::ListFlowsRequest* req,
                                         v1::ListFlowsResponse* resp) {
  auto r = listFlows(*req);
  if (!r.ok()) return toGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status InspectorService::Explain(grpc::ServerContext*, const v1::ExplainRequest* req,
                                       v1::ExplainResponse* resp) {
  auto r = explain(*req);
  if (!r.ok()) return toGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

}  // namespace xlb::api
