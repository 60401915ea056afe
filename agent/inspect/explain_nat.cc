// SPDX-License-Identifier: Apache-2.0
// The Explainer's NAT part (see explain.h): packets to nat/fullnat VIPs and the backends' replies,
// in the order bpf/lib/nat.h decides them (forward: entry, backend check, else creation; reply:
// filter, entry, endpoint check).
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "inspect/explain.h"
#include "nat/list.h"
#include "nat/nat_config.h"

namespace xlb::inspect::internal {
namespace {

std::array<uint8_t, 16> bytesOf(const uint8_t* p) {
  std::array<uint8_t, 16> a{};
  std::memcpy(a.data(), p, 16);
  return a;
}

// The tuple an entry rewrites its packets into.
std::string newTupleText(const xlb_nat_value& v, uint8_t family) {
  return formatHostPort(addressOf(v.new_src, family), ntohs(v.new_sport)) + " -> " +
         formatHostPort(addressOf(v.new_dst, family), ntohs(v.new_dport));
}

// The forward entry of the connection whose reply entry is (rk, rv): its key is rv's new tuple
// reversed, its new tuple rk reversed (abi.h "NAT"). What an orphan reply entry stands for.
nat::NatEntry forwardOf(const xlb_flow_key& rk, const xlb_nat_value& rv) {
  xlb_nat_value f{};
  std::memcpy(f.new_src, rk.dst, 16);
  std::memcpy(f.new_dst, rk.src, 16);
  f.new_sport = rk.dport;
  f.new_dport = rk.sport;
  f.backend_id = rv.backend_id;
  f.backend_gen = rv.backend_gen;
  f.vip_id = rv.vip_id;
  f.dir = XLB_NAT_DIR_FWD;
  f.mode = rv.mode;
  return {nat::peerKey(rk, rv), f};
}

// lib/nat.h xlb_nat_maybe_reply: the settings' bloom bits (the same inline computes them on both
// sides: xlb_nat_bloom_bit in abi.h).
bool maybeReply(const xlb_flow_key& k, const xlb_settings& st) {
  const nat::NatFilter f = nat::readFilter(st);
  if ((f.flags & XLB_NAT_F_EPS) &&
      nat::bloomHas(f.src_bloom, nat::bloomBit(bytesOf(k.src), k.family, k.sport)))
    return true;
  if (f.flags & XLB_NAT_F_SNAT) {
    const uint16_t dport = ntohs(k.dport);
    if (dport >= f.port_min && dport <= f.port_max &&
        nat::bloomHas(f.dst_bloom, nat::bloomBit(bytesOf(k.dst), k.family, 0)))
      return true;
  }
  return false;
}

// lib/nat.h xlb_nat_is_endpoint: from a nat backend endpoint, or to a SNAT address with a port in
// the NAT range? Says which ("" when neither).
absl::StatusOr<std::string> natEndpoint(dataplane::Dataplane& dp, const xlb_flow_key& k,
                                        const xlb_settings& st) {
  xlb_nat_ep ep{};
  std::memcpy(ep.addr, k.src, 16);
  ep.port = k.sport;
  ep.proto = k.proto;
  ep.family = k.family;
  if (st.nat_flags & XLB_NAT_F_EPS) {
    auto hit = dp.lookupNatEndpoint(ep);
    if (!hit.ok()) return hit.status();
    if (*hit) {
      return absl::StrCat("comes from the nat backend endpoint ",
                          formatHostPort(addressOf(k.src, k.family), ntohs(k.sport)));
    }
  }
  const uint16_t dport = ntohs(k.dport);
  if (!(st.nat_flags & XLB_NAT_F_SNAT) || dport < st.nat_port_min || dport > st.nat_port_max)
    return std::string();
  std::memcpy(ep.addr, k.dst, 16);
  ep.port = 0;
  auto hit = dp.lookupNatEndpoint(ep);
  if (!hit.ok()) return hit.status();
  if (!*hit) return std::string();
  return absl::StrCat("goes to the SNAT address ", addressOf(k.dst, k.family).toString(),
                      " at a port of the NAT range ", st.nat_port_min, "-", st.nat_port_max);
}

}  // namespace

absl::StatusOr<nat::Connection> Explainer::connectionOf(const xlb_flow_key& key,
                                                        const xlb_nat_value& v) {
  const nat::NatEntry self{key, v};
  const xlb_flow_key pk = nat::peerKey(key, v);
  auto peer = dp_.lookupNat(pk);
  if (!peer.ok()) return peer.status();
  if (peer->has_value()) {
    const nat::NatEntry other{pk, **peer};
    auto c = v.dir == XLB_NAT_DIR_FWD ? nat::pairOf(self, other) : nat::pairOf(other, self);
    if (c) return *c;
  }
  // Without its peer (the collector deletes such entries): the entry alone.
  if (v.dir == XLB_NAT_DIR_FWD) return nat::connectionOf(self, nat::NatEntry{});
  return nat::connectionOf(forwardOf(key, v), self);
}

absl::Status Explainer::natForward(const xlb_vip_value& v, const xlb_flow_key& key,
                                   v1::ExplainResponse* out) {
  auto entry = dp_.lookupNat(key);
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) {
    out->set_decision(v1::ExplainResponse::DECISION_NEW_FLOW);
    return natCreate(v, key, "new NAT connection (no NAT entry): ", out);
  }
  const xlb_nat_value fv = **entry;
  auto conn = connectionOf(key, fv);
  if (!conn.ok()) return conn.status();
  v1::ExplainNat* nat = out->mutable_nat();
  nat->set_found(true);
  *nat->mutable_recorded() = nat::toProto(*conn, view_.nat_vips, now_ns_);
  out->set_predictable(true);
  if (fv.dir != XLB_NAT_DIR_FWD) {
    // xlb_nat_forward: the client's tuple is some connection's reply tuple.
    nat->set_reply(true);
    drop(XLB_DROP_NAT_COLLISION, out);
    out->set_summary(absl::StrCat("dropped (nat_collision): ", tupleText(key),
                                  " is the reply tuple of the NAT connection ",
                                  tupleText(conn->fwd.first), ", not a client's tuple"));
    return absl::OkStatus();
  }
  auto slot = cache_.get(fv.backend_id);
  if (!slot.ok()) return slot.status();
  const bool same_gen = slot->gen == fv.backend_gen;
  const std::string id_text = absl::StrCat("backend id ", fv.backend_id);
  if ((slot->flags & XLB_BE_F_ACTIVE) && same_gen) {
    out->set_decision(v1::ExplainResponse::DECISION_NAT_HIT);
    auto b = describe(fv.backend_id);
    if (!b.ok()) return b.status();
    *out->mutable_backend() = *b;
    out->set_summary(absl::StrCat("NAT hit (", config::forwardingName(forwardingOf(fv.mode)),
                                  "): ", tupleText(key), " becomes ", newTupleText(fv, key.family),
                                  " (", id_text, "), ", nat::stateName(conn->state), ", idle ",
                                  formatMs(idleMs(now_ns_, conn->last_seen_ns))));
    // xlb_nat_reused: the client's handshake completed or the connection closed.
    if (key.proto == IPPROTO_TCP &&
        (fv.state & (XLB_NAT_S_ACK | XLB_NAT_S_FIN | XLB_NAT_S_RST)) != 0) {
      out->set_summary(absl::StrCat(out->summary(),
                                    "; a SYN without ACK on this tuple would reopen the pair "
                                    "as a new connection (tuple reuse)"));
    }
    return absl::OkStatus();
  }
  // xlb_nat_forward: backend gone: both entries deleted, the packet creates a new connection.
  nat->set_backend_gone(true);
  out->set_decision(v1::ExplainResponse::DECISION_RESTEER);
  const std::string prefix = absl::StrCat(
      "NAT entry of ", tupleText(key), " (translated to ", newTupleText(fv, key.family), ") names ",
      id_text, ", which ",
      !same_gen ? "was deleted or reassigned" : "is not active (health-down or removed)",
      ": the next packet deletes both entries and creates a new connection: ");
  return natCreate(v, key, prefix, out);
}

absl::StatusOr<std::string> Explainer::natBackendSide(uint8_t mode, const xlb_flow_key& key,
                                                      v1::ExplainResponse* out) {
  v1::NatConnection* p = out->mutable_nat()->mutable_predicted();
  const uint32_t id = out->backend().id();
  auto slot = cache_.get(id);
  if (!slot.ok()) return slot.status();
  if (slot->family != key.family) {
    drop(XLB_DROP_NO_BACKEND, out);
    return std::string(
        ", of the other address family: dropped (no_backend; NAT does not translate between "
        "IPv4 and IPv6)");
  }
  auto bn = dp_.readBackendNat(id);
  if (!bn.ok()) return bn.status();
  const IpAddress backend = addressOf(slot->addr, slot->family);
  const uint16_t bport = bn->port != 0 ? ntohs(bn->port) : ntohs(key.dport);
  p->set_backend_address(backend.toString());
  p->set_backend_port(bport);
  if (mode == XLB_FWD_FULLNAT) return std::string();
  if (backend == addressOf(key.src, key.family)) {
    drop(XLB_DROP_NAT_HAIRPIN, out);
    return std::string(
        "; the client is that backend, and nat would send its own reply past the load "
        "balancer: dropped (nat_hairpin; fullnat serves a backend connecting to its VIP)");
  }
  // xlb_nat_claim: the reply tuple backend:bport -> client:cport must be free.
  xlb_flow_key rk{};
  std::memcpy(rk.src, slot->addr, 16);
  std::memcpy(rk.dst, key.src, 16);
  rk.sport = htons(bport);
  rk.dport = key.sport;
  rk.proto = key.proto;
  rk.family = key.family;
  auto taken = dp_.lookupNat(rk);
  if (!taken.ok()) return taken.status();
  if (!taken->has_value()) return std::string();
  drop(XLB_DROP_NAT_COLLISION, out);
  return absl::StrCat("; its reply tuple ", tupleText(rk),
                      " belongs to another NAT connection (this client endpoint through another "
                      "VIP to the same backend): dropped (nat_collision)");
}

absl::StatusOr<std::string> Explainer::snatSource(const xlb_vip_value& v, const xlb_flow_key& key,
                                                  v1::ExplainResponse* out) {
  // xlb_nat_alloc: a pool address of the packet's family and a port of the pool's range.
  auto pool = dp_.readSnat(v.vip_id);
  if (!pool.ok()) return pool.status();
  const bool v6 = key.family == XLB_AF_INET6;
  const uint32_t nr = v6 ? pool->nr6 : pool->nr4;
  if (pool->port_min == 0 || pool->port_max < pool->port_min || nr == 0 ||
      nr > XLB_SNAT_MAX_ADDRS) {
    drop(XLB_DROP_NAT_NO_PORT, out);
    return std::string();
  }
  v1::ExplainNat* nat = out->mutable_nat();
  std::vector<std::string> addrs;
  for (uint32_t i = 0; i < nr; ++i) {
    IpAddress a;
    a.family = key.family;
    std::memcpy(a.bytes.data(), v6 ? pool->addrs6[i] : pool->addrs4[i], v6 ? 16 : 4);
    addrs.push_back(a.toString());
    nat->add_snat_addresses(a.toString());
  }
  nat->set_snat_port_min(pool->port_min);
  nat->set_snat_port_max(pool->port_max);
  return absl::StrCat("SNAT address ", absl::StrJoin(addrs, " or "), " (port allocated from ",
                      pool->port_min, "-", pool->port_max, " when the connection is created)");
}

absl::Status Explainer::natCreate(const xlb_vip_value& v, const xlb_flow_key& key,
                                  const std::string& prefix, v1::ExplainResponse* out) {
  if (auto st = select(v, key, out); !st.ok()) return st;
  const std::string selection = out->summary();
  auto finish = [&](const std::string& rest) {
    out->set_summary(absl::StrCat(prefix, selection, rest));
    return absl::OkStatus();
  };
  const IpAddress client = addressOf(key.src, key.family);
  const uint16_t cport = ntohs(key.sport);
  v1::NatConnection* p = out->mutable_nat()->mutable_predicted();
  p->set_protocol(protocolOf(key.proto));
  p->set_client_address(client.toString());
  p->set_client_port(cport);
  p->set_vip_address(addressOf(key.dst, key.family).toString());
  p->set_vip_port(ntohs(key.dport));
  p->set_forwarding(forwardingOf(v.fwd_mode));
  p->set_state(key.proto == IPPROTO_TCP ? v1::NAT_STATE_SYN : v1::NAT_STATE_UDP);
  p->set_vip_name(out->vip_name());
  if (out->decision() == v1::ExplainResponse::DECISION_NO_BACKEND) return finish("");

  std::string backend_side = "the chosen backend at its port";
  if (out->has_backend()) {
    auto refused = natBackendSide(v.fwd_mode, key, out);
    if (!refused.ok()) return refused.status();
    if (!refused->empty()) return finish(*refused);
    backend_side = formatHostPort(*parseIpAddress(p->backend_address()),
                                  static_cast<uint16_t>(p->backend_port()));
  }
  if (v.fwd_mode != XLB_FWD_FULLNAT) {
    p->set_source_address(client.toString());
    p->set_source_port(cport);
    return finish(absl::StrCat("; nat rewrites the destination: ", tupleText(key), " becomes ",
                               formatHostPort(client, cport), " -> ", backend_side,
                               " (the backend's replies must route back through the load "
                               "balancer)"));
  }
  auto source = snatSource(v, key, out);
  if (!source.ok()) return source.status();
  if (source->empty()) {
    return finish(absl::StrCat("; fullnat finds no ", key.family == XLB_AF_INET6 ? "IPv6" : "IPv4",
                               " address or no port range in the VIP's SNAT pool: dropped "
                               "(nat_no_port)"));
  }
  return finish(absl::StrCat("; fullnat rewrites source and destination: ", tupleText(key),
                             " becomes ", *source, " -> ", backend_side));
}

absl::StatusOr<bool> Explainer::natReply(const xlb_flow_key& key, v1::ExplainResponse* out) {
  // balancer.bpf.c: only while NAT VIPs exist, and only past the settings' filter.
  if (!settings_ || settings_->nat_flags == 0 || !maybeReply(key, *settings_)) return false;
  const xlb_settings st = *settings_;
  auto entry = dp_.lookupNat(key);
  if (!entry.ok()) return entry.status();
  if (!entry->has_value() || (*entry)->dir != XLB_NAT_DIR_REV) {
    auto endpoint = natEndpoint(dp_, key, st);
    if (!endpoint.ok()) return endpoint.status();
    if (endpoint->empty()) return false;  // XLB_STAT_NAT_FILTER_MISS: passed
    out->set_predictable(true);
    drop(XLB_DROP_NAT_REPLY_MISS, out);
    out->set_summary(absl::StrCat(
        "dropped (nat_reply_miss): ", tupleText(key), " is to no VIP and ", *endpoint,
        ", but no NAT connection has this reply tuple (an untranslated reply never leaves)"));
    return true;
  }
  const xlb_nat_value rv = **entry;
  auto conn = connectionOf(key, rv);
  if (!conn.ok()) return conn.status();
  const xlb_flow_key& fk = conn->fwd.first;
  // The VIP the connection was made to, as a packet of its client finds it.
  uint16_t vip_port = 0;
  auto vip = findVip(fk, &vip_port);
  if (!vip.ok()) return vip.status();
  if (vip->has_value()) {
    if (auto s = loadVip(**vip, fk, vip_port, out); !s.ok()) return s;
  } else {
    now_ns_ = dp_.monotonicNowNs();
  }
  out->set_forwarding(forwardingOf(rv.mode));
  out->set_decision(v1::ExplainResponse::DECISION_NAT_REPLY);
  out->set_predictable(true);
  v1::ExplainNat* nat = out->mutable_nat();
  nat->set_found(true);
  nat->set_reply(true);
  *nat->mutable_recorded() = nat::toProto(*conn, view_.nat_vips, now_ns_);
  auto slot = cache_.get(rv.backend_id);
  if (!slot.ok()) return slot.status();
  auto b = describe(rv.backend_id, slot->gen == rv.backend_gen);
  if (!b.ok()) return b.status();
  *out->mutable_backend() = *b;
  out->set_summary(absl::StrCat("NAT reply (", config::forwardingName(forwardingOf(rv.mode)),
                                "): ", tupleText(key), " is the backend side of ", tupleText(fk),
                                " (backend id ", rv.backend_id, "), ", nat::stateName(conn->state),
                                ": translated back to ", newTupleText(rv, key.family),
                                " and sent out the way the client's packets came in"));
  return true;
}

}  // namespace xlb::inspect::internal
