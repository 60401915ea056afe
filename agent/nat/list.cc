// SPDX-License-Identifier: Apache-2.0
// ListNat / FlushNat (see list.h).
#include "nat/list.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace xlb::nat {

absl::StatusOr<Snapshot> scanNat(dataplane::Dataplane& dp) {
  std::vector<NatEntry> entries;
  if (auto st = dp.forEachNat([&entries](const xlb_flow_key& k, const xlb_nat_value& v) {
        entries.emplace_back(k, v);
      });
      !st.ok()) {
    return st;
  }
  return pairEntries(std::move(entries));
}

std::vector<const Connection*> matching(const Snapshot& snap, const NatQuery& q) {
  std::vector<const Connection*> out;
  for (const Connection& c : snap.connections) {
    if (q.matches(c)) out.push_back(&c);
  }
  std::sort(out.begin(), out.end(), [](const Connection* a, const Connection* b) {
    return a->last_seen_ns > b->last_seen_ns;
  });
  return out;
}

bool NatQuery::matches(const Connection& c) const {
  const auto& [k, v] = c.fwd;
  if (vip_id && v.vip_id != *vip_id) return false;
  if (backend) {
    if (!(addressOf(v.new_dst, k.family) == backend->address)) return false;
    if (backend->port && ntohs(v.new_dport) != *backend->port) return false;
  }
  if (client && !client->contains(addressOf(k.src, k.family))) return false;
  if (client_port && ntohs(k.sport) != *client_port) return false;
  return true;
}

absl::StatusOr<NatQuery> parseNatFilter(const v1::NatFilter& f, const NatVipMap& vips) {
  NatQuery q;
  std::vector<std::string> errors;
  std::optional<absl::Status> not_found;
  if (f.has_vip() && !f.vip_name().empty()) {
    errors.push_back("filter: give vip or vip_name, not both");
  } else if (f.has_vip()) {
    auto key = config::vipKeyOf(f.vip());
    if (!key.ok()) {
      errors.push_back(absl::StrCat("filter.vip: ", key.status().message()));
    } else {
      for (const auto& [id, info] : vips) {
        if (info.key == *key) q.vip_id = id;
      }
      if (!q.vip_id)
        not_found = absl::NotFoundError(absl::StrCat("vip ", key->toString(), " not found"));
    }
  } else if (!f.vip_name().empty()) {
    for (const auto& [id, info] : vips) {
      if (info.name == f.vip_name()) q.vip_id = id;
    }
    if (!q.vip_id) {
      not_found = absl::NotFoundError(
          absl::StrCat("filter.vip_name: no vip is named \"", f.vip_name(), "\""));
    }
  }
  if (!f.backend().empty()) {
    auto b = parseEndpointRef(f.backend(), "filter.backend");
    if (!b.ok()) {
      errors.push_back(std::string(b.status().message()));
    } else {
      q.backend = *b;
    }
  }
  if (!f.client().empty()) {
    auto p = parseIpPrefixOrAddress(f.client());
    if (!p.ok()) {
      errors.push_back(absl::StrCat("filter.client: \"", f.client(),
                                    "\" is not an address or a prefix (", p.status().message(),
                                    ")"));
    } else {
      q.client = *p;
    }
  }
  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  if (not_found) return *not_found;
  return q;
}

v1::NatConnection toProto(const Connection& c, const NatVipMap& vips, uint64_t now_ns) {
  const auto& [k, v] = c.fwd;
  v1::NatConnection out;
  out.set_protocol(k.proto == IPPROTO_UDP ? v1::PROTOCOL_UDP : v1::PROTOCOL_TCP);
  out.set_client_address(addressOf(k.src, k.family).toString());
  out.set_client_port(ntohs(k.sport));
  out.set_vip_address(addressOf(k.dst, k.family).toString());
  out.set_vip_port(ntohs(k.dport));
  out.set_source_address(addressOf(v.new_src, k.family).toString());
  out.set_source_port(ntohs(v.new_sport));
  out.set_backend_address(addressOf(v.new_dst, k.family).toString());
  out.set_backend_port(ntohs(v.new_dport));
  out.set_forwarding(v.mode == XLB_FWD_FULLNAT ? v1::FORWARDING_MODE_FULLNAT
                                               : v1::FORWARDING_MODE_NAT);
  out.set_state(toProto(c.state));
  out.set_replied(c.replied);
  out.set_answered(c.answered);
  auto ms = [](uint64_t ns) { return ns / 1'000'000; };
  out.set_idle_ms(ms(c.last_seen_ns < now_ns ? now_ns - c.last_seen_ns : 0));
  out.set_age_ms(ms(c.created_ns < now_ns ? now_ns - c.created_ns : 0));
  auto it = vips.find(v.vip_id);
  Timeouts t = it == vips.end() ? Timeouts{} : it->second.timeouts;
  out.set_expires_in_ms(ms(expiresIn(c, t, now_ns)));
  if (it != vips.end()) out.set_vip_name(it->second.name);
  return out;
}

v1::NatTuple toNatTuple(const Connection& c) {
  const auto& [k, v] = c.fwd;
  v1::NatTuple out;
  out.set_forwarding(v.mode == XLB_FWD_FULLNAT ? v1::FORWARDING_MODE_FULLNAT
                                               : v1::FORWARDING_MODE_NAT);
  out.set_source_address(addressOf(v.new_src, k.family).toString());
  out.set_source_port(ntohs(v.new_sport));
  out.set_backend_address(addressOf(v.new_dst, k.family).toString());
  out.set_backend_port(ntohs(v.new_dport));
  out.set_state(toProto(c.state));
  out.set_replied(c.replied);
  out.set_answered(c.answered);
  return out;
}

absl::StatusOr<v1::ListNatResponse> listNat(dataplane::Dataplane& dp, const NatVipMap& vips,
                                            const v1::ListNatRequest& req) {
  if (req.limit() > kMaxNatLimit) {
    return absl::InvalidArgumentError(absl::StrCat("limit: ", req.limit(), " is not in [0, ",
                                                   kMaxNatLimit, "] (0 = ", kDefaultNatLimit, ")"));
  }
  auto q = parseNatFilter(req.filter(), vips);
  if (!q.ok()) return q.status();
  const uint32_t limit = req.limit() == 0 ? kDefaultNatLimit : req.limit();
  auto snap = scanNat(dp);
  if (!snap.ok()) return snap.status();
  const uint64_t now = dp.monotonicNowNs();
  const std::vector<const Connection*> matched = matching(*snap, *q);
  v1::ListNatResponse resp;
  resp.set_scanned(snap->connections.size());
  resp.set_matched(matched.size());
  resp.set_truncated(matched.size() > limit);
  for (size_t i = 0; i < matched.size() && i < limit; ++i) {
    *resp.add_connections() = toProto(*matched[i], vips, now);
  }
  return resp;
}

absl::StatusOr<v1::FlushNatResponse> flushNat(dataplane::Dataplane& dp, const NatVipMap& vips,
                                              const v1::FlushNatRequest& req) {
  auto q = parseNatFilter(req.filter(), vips);
  if (!q.ok()) return q.status();
  auto snap = scanNat(dp);
  if (!snap.ok()) return snap.status();
  std::vector<xlb_flow_key> fwd, rev;
  for (const Connection& c : snap->connections) {
    if (!q->matches(c)) continue;
    fwd.push_back(c.fwd.first);
    rev.push_back(c.rev.first);
  }
  v1::FlushNatResponse resp;
  if (fwd.empty()) return resp;
  auto n = dp.deleteNat(fwd);
  if (!n.ok()) return n.status();
  if (auto r = dp.deleteNat(rev); !r.ok()) return r.status();
  resp.set_deleted(*n);
  return resp;
}

}  // namespace xlb::nat
