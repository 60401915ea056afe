// SPDX-License-Identifier: Apache-2.0
// Desired state: validate (config/) -> plan the diff against the data plane -> apply in a safe
// order, rolling back on failure.
#include "state/state.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "maglev/maglev.h"
#include "maglev/round_robin.h"
#include "nat/endpoint.h"
#include "spdlog/spdlog.h"
#include "state/plan_internal.h"

namespace xlb::state {

using config::VipKey;


namespace {

xlb_vip_key toVipKey(const VipKey& key) {
  xlb_vip_key out{};
  std::memcpy(out.addr, key.address.bytes.data(), 16);
  out.port = htons(key.port);
  out.proto = key.protocol == v1::PROTOCOL_UDP ? IPPROTO_UDP : IPPROTO_TCP;
  out.family = key.address.family;
  return out;
}

xlb_addr_key toAddrKey(const IpAddress& address) {
  xlb_addr_key out{};
  std::memcpy(out.addr, address.bytes.data(), 16);
  out.family = address.family;
  return out;
}

uint8_t toDataplaneAlgorithm(v1::Algorithm a) {
  switch (a) {
    case v1::ALGORITHM_SOURCE_HASH:
      return XLB_ALG_SOURCE_HASH;
    case v1::ALGORITHM_ROUND_ROBIN:
      return XLB_ALG_ROUND_ROBIN;
    case v1::ALGORITHM_RANDOM:
      return XLB_ALG_RANDOM;
    case v1::ALGORITHM_LEAST_CONN:
      return XLB_ALG_LEAST_CONN;
    default:
      return XLB_ALG_MAGLEV;
  }
}

xlb_vip_value toVipValue(uint32_t id, const v1::Vip& spec) {
  xlb_vip_value v{};
  v.vip_id = id;
  v.algorithm = toDataplaneAlgorithm(spec.algorithm());
  switch (spec.forwarding()) {
    case v1::FORWARDING_MODE_IPIP:
      v.fwd_mode = XLB_FWD_IPIP;
      break;
    case v1::FORWARDING_MODE_NAT:
      v.fwd_mode = XLB_FWD_NAT;
      break;
    case v1::FORWARDING_MODE_FULLNAT:
      v.fwd_mode = XLB_FWD_FULLNAT;
      break;
    default:
      v.fwd_mode = XLB_FWD_DSR;
      break;
  }
  v.flags = XLB_VIP_F_NONE;
  if (spec.algorithm() == v1::ALGORITHM_SOURCE_HASH && spec.source_hash_include_port()) {
    v.flags |= XLB_VIP_F_HASH_SRC_PORT;
  }
  return v;
}

// `active` false = health-down: the data plane re-steers the flows still recorded on it.
xlb_backend toBackend(uint32_t vip_id, const IpAddress& address, uint32_t gen, uint32_t weight,
                      bool active) {
  xlb_backend b{};
  std::memcpy(b.addr, address.bytes.data(), 16);
  b.family = address.family;
  b.flags = active ? XLB_BE_F_ACTIVE : XLB_BE_F_DOWN;
  b.weight = static_cast<uint16_t>(std::min<uint32_t>(weight, 0xffff));
  b.gen = gen;
  b.vip_id = vip_id;
  return b;
}

template <typename T>
bool sameBytes(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// Host mask in network order for the bits a /len prefix leaves to the flow hash, within 32 bits.
uint32_t hostMask(int len_in_last_word) {
  if (len_in_last_word <= 0) return 0xffffffffu;
  if (len_in_last_word >= 32) return 0;
  return htonl(0xffffffffu >> len_in_last_word);
}

xlb_settings toSettings(const v1::Config& config, uint32_t nr_wildcard) {
  xlb_settings s{};
  auto v4 = parseIpPrefix(config.encap().source_v4_prefix());
  auto v6 = parseIpPrefix(config.encap().source_v6_prefix());
  if (v4.ok()) {
    std::memcpy(s.encap_v4_prefix, v4->address.bytes.data(), 4);
    s.encap_v4_host_mask = hostMask(v4->length);
  }
  if (v6.ok()) {
    std::memcpy(s.encap_v6_prefix, v6->address.bytes.data(), 16);
    s.encap_v6_host_mask = hostMask(v6->length - 96);  // only the last 32 bits carry the hash
  }
  s.nr_wildcard_vips = nr_wildcard;
  return s;
}

// The table inputs of a VIP; equal inputs give an equal table, so this decides "rebuild or not".
// Every algorithm but round_robin shares the weighted Maglev table (the data plane only picks the
// slot differently), so switching among them rewrites the VIP entry and keeps the table.
struct TableInputs {
  uint32_t m = 0;
  bool round_robin = false;
  std::vector<maglev::MaglevBackend> backends;  // in rotation (weight > 0), address order

  bool operator==(const TableInputs& o) const {
    if (m != o.m || round_robin != o.round_robin || backends.size() != o.backends.size()) {
      return false;
    }
    for (size_t i = 0; i < backends.size(); ++i) {
      const auto& a = backends[i];
      const auto& b = o.backends[i];
      if (a.id != b.id || a.key != b.key || a.weight != b.weight) return false;
    }
    return true;
  }
};

std::string describeTable(const VipKey& key, const TableInputs& in, bool is_new) {
  if (in.backends.empty()) {
    return absl::StrCat("vip ", key.toString(),
                        " has no backend in rotation: its new flows are dropped (no_backend)");
  }
  return absl::StrCat(is_new ? "build" : "rebuild", " ", in.round_robin ? "round-robin " : "",
                      "table of vip ", key.toString(), " (M ", in.m, ", ", in.backends.size(),
                      in.backends.size() == 1 ? " backend)" : " backends)");
}

absl::StatusOr<std::vector<uint32_t>> buildSelectionTable(const TableInputs& in) {
  if (in.round_robin) return maglev::buildRoundRobinSequence(in.backends, in.m);
  return maglev::buildTable(in.backends, in.m);
}

// Rebuilds a previous table for rollback. An adopted VIP's table size is unknown (m == 0): nothing
// to restore then, and the next apply rebuilds it anyway because its inputs still differ.
absl::Status restoreTable(dataplane::Dataplane& dp, uint32_t vip_id, const TableInputs& in) {
  if (in.m == 0) return absl::OkStatus();
  auto t = buildSelectionTable(in);
  if (!t.ok()) return t.status();
  return dp.setSelectionTable(vip_id, *t);
}

std::string dataplaneKeyString(const xlb_vip_key& k) {
  IpAddress a;
  std::memcpy(a.bytes.data(), k.addr, 16);
  a.family = k.family;
  return absl::StrCat(formatHostPort(a, ntohs(k.port)), "/", static_cast<int>(k.proto));
}

}  // namespace

absl::StatusOr<BackendKey> backendKeyOf(const VipKey& vip, const v1::Backend& backend) {
  auto addr = parseIpAddress(backend.address());
  if (!addr.ok()) return addr.status();
  return BackendKey{*addr, nat::effectivePort(backend.port(), vip.port)};
}

std::string backendLabel(const VipKey& vip, const BackendKey& backend) {
  return nat::backendLabel(backend.address, backend.port, vip.port);
}

State::State(dataplane::Dataplane& dataplane) : dataplane_(dataplane), gens_(XLB_MAX_BACKENDS, 0) {}

State::~State() = default;

absl::StatusOr<State::Plan> State::plan(const v1::Config& desired) {
  Plan plan;
  plan.next.vip_ids = model_.vip_ids;
  plan.next.backend_ids = model_.backend_ids;
  plan.next.config = desired;
  const Model& cur = model_;
  Model& next = plan.next;
  dataplane::Dataplane& dp = dataplane_;

  // Phases, concatenated at the end in the order that keeps the data plane consistent: a VIP entry
  // is only ever visible with its backends and table in place, and nothing is freed while a VIP
  // entry still refers to it.
  std::vector<Step> add_backends, set_tables, set_settings, set_addrs, set_vips, del_vips,
      del_addrs, del_tables, del_backends;
  std::vector<std::string> removal_lines;

  auto tableInputs = [](const Entry& e) {
    TableInputs in;
    in.m = e.spec.maglev_table_size();
    in.round_robin = e.spec.algorithm() == v1::ALGORITHM_ROUND_ROBIN;
    for (const auto& [bk, m] : e.members) {
      if (m.in_rotation) in.backends.push_back({m.id, backendLabel(e.key, bk), m.weight});
    }
    return in;
  };

  // ---- VIPs present in the desired config ----
  std::set<VipKey> desired_keys;
  for (const v1::Vip& spec : desired.vips()) {
    auto key = config::vipKeyOf(spec);
    if (!key.ok()) return key.status();  // validated before: not expected
    desired_keys.insert(*key);
    auto old_it = cur.vips.find(*key);
    const Entry* old = old_it == cur.vips.end() ? nullptr : &old_it->second;

    Entry e;
    e.key = *key;
    e.spec = spec;
    if (old != nullptr) {
      e.id = old->id;
    } else {
      auto id = next.vip_ids.allocate();
      if (!id) {
        return absl::ResourceExhaustedError(absl::StrCat("no free vip id for ", key->toString(),
                                                         " (all ", XLB_MAX_VIPS, " in use)"));
      }
      e.id = *id;
    }
    e.value = toVipValue(e.id, spec);
    const std::string kstr = key->toString();
    if (old == nullptr) {
      plan.lines.push_back(absl::StrCat("add vip ", kstr, " (id ", e.id, ", ",
                                        config::algorithmName(spec.algorithm()), ", ",
                                        config::forwardingName(spec.forwarding()), ")"));
    } else {
      if (old->spec.forwarding() != spec.forwarding()) {
        plan.lines.push_back(absl::StrCat("set forwarding of vip ", kstr, ": ",
                                          config::forwardingName(old->spec.forwarding()), " -> ",
                                          config::forwardingName(spec.forwarding())));
      }
      if (old->spec.name() != spec.name() && !old->adopted) {
        plan.lines.push_back(absl::StrCat("rename vip ", kstr, ": \"", old->spec.name(), "\" -> \"",
                                          spec.name(), "\""));
      }
    }

    // Memberships: a (VIP, address, port) triple keeps its backend id while it exists.
    std::vector<const Member*> old_of;  // by position in spec.backends(); null = new membership
    std::vector<BackendKey> key_of;     // by position in spec.backends()
    for (int bi = 0; bi < spec.backends_size(); ++bi) {
      const v1::Backend& b = spec.backends(bi);
      auto bk = backendKeyOf(*key, b);
      if (!bk.ok()) return bk.status();
      const std::string label = backendLabel(*key, *bk);
      if (e.members.count(*bk)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "backend ", label, " appears twice in vip ", kstr,
            " (a backend is identified by address and port; port 0 means the VIP's port)"));
      }
      Member m;
      m.address = bk->address;
      m.port = bk->port;
      m.weight = b.weight();
      m.draining = b.state() == v1::BACKEND_STATE_DRAINING;
      m.health = memberHealth(*key, spec, b, bk->address);
      m.be_nat.port = htons(bk->port);
      const Member* old_m = nullptr;
      if (old != nullptr) {
        auto it = old->members.find(*bk);
        if (it != old->members.end()) old_m = &it->second;
      }
      if (old_m != nullptr) {
        m.id = old_m->id;
        m.gen = old_m->gen;
        if (old_m->weight != m.weight && !old->adopted) {
          plan.lines.push_back(absl::StrCat("set weight of backend ", label, " in vip ", kstr,
                                            ": ", old_m->weight, " -> ", m.weight));
        }
        if (old_m->draining != m.draining) {
          plan.lines.push_back(absl::StrCat(m.draining ? "drain" : "undrain", " backend ",
                                            label, " in vip ", kstr));
        }
      } else {
        auto id = next.backend_ids.allocate();
        if (!id) {
          return absl::ResourceExhaustedError(absl::StrCat("no free backend id for ", label,
                                                           " in vip ", kstr, " (all ",
                                                           XLB_MAX_BACKENDS, " in use)"));
        }
        m.id = *id;
        m.gen = gens_[m.id] + 1;
        plan.lines.push_back(absl::StrCat("add backend ",
                                          b.port() != 0 ? formatHostPort(bk->address, bk->port)
                                                        : label,
                                          " to vip ", kstr, " (id ",
                                          m.id, ", weight ", m.weight,
                                          m.draining ? ", draining)" : ")"));
      }
      old_of.push_back(old_m);
      key_of.push_back(*bk);
      e.members.emplace(*bk, m);
    }

    // Rotation: active (not draining), weighted, not health-down. When health checks find every
    // such backend down, the all-down policy decides: keep the last healthy set in the table and
    // its backends ACTIVE in the data plane (fail open), or drop new flows.
    std::vector<Member*> candidates, healthy;
    for (auto& [addr, m] : e.members) {
      if (m.draining || m.weight == 0) continue;
      candidates.push_back(&m);
      if (m.health != health::Health::kDown) healthy.push_back(&m);
    }
    const bool keep = spec.all_down_policy() != v1::ALL_DOWN_POLICY_DROP;
    e.all_down = healthy.empty() && !candidates.empty();
    auto keyOf = [](const Member* m) { return BackendKey{m->address, m->port}; };
    if (!e.all_down) {
      for (Member* m : healthy) {
        m->in_rotation = true;
        e.last_healthy.insert(keyOf(m));
      }
    } else if (keep) {
      std::set<BackendKey> last = old != nullptr ? old->last_healthy : std::set<BackendKey>{};
      bool any = false;
      for (Member* m : candidates) any |= last.count(keyOf(m)) > 0;
      for (Member* m : candidates) {
        if (!any || last.count(keyOf(m))) {
          m->in_rotation = true;
          m->kept = true;
          e.last_healthy.insert(keyOf(m));
        }
      }
    }
    if (old != nullptr && old->all_down != e.all_down) {
      plan.lines.push_back(
          e.all_down ? absl::StrCat("every backend of vip ", kstr, " is down: ",
                                    keep ? "keeping the last healthy set (keep_last_healthy)"
                                         : "dropping new flows (drop)")
                     : absl::StrCat("vip ", kstr, " recovered: a backend is up again"));
    }

    // Backend slots: written when new, or when their value (weight, health flag) changed.
    for (int i = 0; i < spec.backends_size(); ++i) {
      Member& m = e.members.at(key_of[i]);
      const bool active = m.health != health::Health::kDown || m.kept;
      m.value = toBackend(e.id, m.address, m.gen, m.weight, active);
      const Member* old_m = old_of[i];
      const std::string addr_text = backendLabel(*key, key_of[i]);
      xlb_backend be = m.value;
      uint32_t bid = m.id;
      // The backend's port (NAT modes) is in place before the slot is written: a connection
      // created on the new slot never reads a stale port.
      const xlb_be_nat bn = m.be_nat;
      if (old_m != nullptr && (!sameBytes(old_m->be_nat, bn) || resync_)) {
        const xlb_be_nat obn = old_m->be_nat;
        add_backends.push_back({absl::StrCat("write port of backend ", addr_text, " of vip ", kstr),
                                [&dp, bid, bn] { return dp.setBackendNat(bid, bn); },
                                [&dp, bid, obn] { return dp.setBackendNat(bid, obn); }});
      }
      if (old_m != nullptr) {
        if (sameBytes(old_m->value, be) && !resync_) continue;
        const bool was_active = old_m->value.flags & XLB_BE_F_ACTIVE;
        if (was_active != active && !old->adopted) {
          plan.lines.push_back(
              active ? absl::StrCat("mark backend ", addr_text, " of vip ", kstr, " active")
                     : absl::StrCat("mark backend ", addr_text, " of vip ", kstr,
                                    " down (its flows move to live backends)"));
        }
        xlb_backend ob = old_m->value;
        add_backends.push_back({absl::StrCat("write backend ", addr_text, " of vip ", kstr),
                                [&dp, bid, be] { return dp.upsertBackend(bid, be); },
                                [&dp, bid, ob] { return dp.upsertBackend(bid, ob); }});
        continue;
      }
      uint32_t gen = m.gen;
      std::vector<uint32_t>* gens = &gens_;
      add_backends.push_back({absl::StrCat("write port of backend ", addr_text, " of vip ", kstr),
                              [&dp, bid, bn] { return dp.setBackendNat(bid, bn); },
                              [] { return absl::OkStatus(); }});  // unused until the slot is
      add_backends.push_back({absl::StrCat("add backend ", addr_text, " to vip ", kstr),
                              [&dp, bid, be, gen, gens] {
                                auto st = dp.upsertBackend(bid, be);
                                if (st.ok()) (*gens)[bid] = gen;  // never rolled back
                                return st;
                              },
                              [&dp, bid] { return dp.deleteBackend(bid); }});
    }

    // Removed memberships of a surviving VIP.
    if (old != nullptr) {
      for (const auto& [bk, m] : old->members) {
        if (e.members.count(bk)) continue;
        const std::string label = backendLabel(*key, bk);
        removal_lines.push_back(absl::StrCat("remove backend ", label, " from vip ", kstr,
                                             " (id ", m.id, ")"));
        xlb_backend be = m.value;
        uint32_t bid = m.id;
        del_backends.push_back(
            {absl::StrCat("remove backend ", label, " from vip ", kstr),
             [&dp, bid] { return dp.deleteBackend(bid); },
             [&dp, bid, be] { return dp.upsertBackend(bid, be); }});
      }
    }

    // Table: rebuilt only when its inputs changed, and swapped in whole.
    TableInputs in = tableInputs(e);
    // A new VIP without weighted backends has no table to write (the data plane drops its
    // packets as no_backend), but the plan still says so.
    bool changed =
        old == nullptr ? !in.backends.empty() || resync_ : !(tableInputs(*old) == in) || resync_;
    if (old == nullptr && in.backends.empty()) plan.lines.push_back(describeTable(*key, in, true));
    if (changed) {
      auto table = buildSelectionTable(in);
      if (!table.ok()) return table.status();
      if (old != nullptr || !in.backends.empty()) {
        plan.lines.push_back(describeTable(*key, in, old == nullptr));
      }
      uint32_t vid = e.id;
      std::function<absl::Status()> undo;
      if (old == nullptr) {
        undo = [&dp, vid] { return dp.setSelectionTable(vid, {}); };
      } else {
        TableInputs old_in = tableInputs(*old);
        undo = [&dp, vid, old_in] { return restoreTable(dp, vid, old_in); };
      }
      set_tables.push_back(
          {absl::StrCat("set table of vip ", kstr),
           [&dp, vid, t = std::move(*table)] { return dp.setSelectionTable(vid, t); },
           std::move(undo)});
    }

    // The VIP entry itself: new, or its value (forwarding/algorithm) changed.
    if (old == nullptr || !sameBytes(old->value, e.value) || resync_) {
      xlb_vip_key k = toVipKey(*key);
      xlb_vip_value v = e.value;
      std::function<absl::Status()> undo;
      if (old == nullptr) {
        undo = [&dp, k] { return dp.deleteVip(k); };
      } else {
        xlb_vip_value ov = old->value;
        undo = [&dp, k, ov] { return dp.upsertVip(k, ov); };
      }
      set_vips.push_back({absl::StrCat("write vip ", kstr),
                          [&dp, k, v] { return dp.upsertVip(k, v); }, std::move(undo)});
    }
    next.vips.emplace(*key, std::move(e));
  }

  // ---- VIPs no longer desired: entry first, then table, then its backends ----
  for (const auto& [key, old] : cur.vips) {
    if (desired_keys.count(key)) continue;
    const std::string kstr = key.toString();
    removal_lines.insert(
        removal_lines.begin(),
        absl::StrCat("remove vip ", kstr, " (id ", old.id, ", ", old.members.size(), " backends)"));
    xlb_vip_key k = toVipKey(key);
    xlb_vip_value ov = old.value;
    del_vips.push_back({absl::StrCat("remove vip ", kstr), [&dp, k] { return dp.deleteVip(k); },
                        [&dp, k, ov] { return dp.upsertVip(k, ov); }});
    uint32_t vid = old.id;
    TableInputs old_in = tableInputs(old);
    // Only a VIP with weighted backends has a table; an adopted one may have any.
    if (!old_in.backends.empty() || old.adopted) {
      del_tables.push_back({absl::StrCat("remove table of vip ", kstr),
                            [&dp, vid] { return dp.setSelectionTable(vid, {}); },
                            [&dp, vid, old_in] { return restoreTable(dp, vid, old_in); }});
    }
    for (const auto& [bk, m] : old.members) {
      xlb_backend be = m.value;
      uint32_t bid = m.id;
      del_backends.push_back({absl::StrCat("remove backend ", backendLabel(key, bk), " from vip ", kstr),
                              [&dp, bid] { return dp.deleteBackend(bid); },
                              [&dp, bid, be] { return dp.upsertBackend(bid, be); }});
    }
  }
  // ---- leftovers adopted from a previous agent that nothing refers to ----
  // No undo: they are garbage, and a failed transaction keeps them listed for the next one.
  size_t strays = cur.stray_vips.size() + cur.stray_addrs.size() + cur.stray_tables.size() +
                  cur.stray_backends.size();
  auto noUndo = [] { return absl::OkStatus(); };
  for (const xlb_vip_key& k : cur.stray_vips) {
    del_vips.push_back({"remove stale vip entry " + dataplaneKeyString(k),
                        [&dp, k] { return dp.deleteVip(k); }, noUndo});
  }
  for (const xlb_addr_key& k : cur.stray_addrs) {
    IpAddress a;
    std::memcpy(a.bytes.data(), k.addr, 16);
    a.family = k.family;
    bool in_use = false;
    for (const auto& [key, e] : next.vips) in_use |= key.address == a;
    if (in_use) continue;  // rewritten by the address phase below
    del_addrs.push_back(
        {"remove stale vip address", [&dp, k] { return dp.deleteVipAddr(k); }, noUndo});
  }
  // Stray ids stay marked in the allocators until here, so no new VIP or backend received one.
  for (uint32_t vid : cur.stray_tables) {
    next.vip_ids.release(vid);
    del_tables.push_back({absl::StrCat("remove stale table of vip id ", vid),
                          [&dp, vid] { return dp.setSelectionTable(vid, {}); }, noUndo});
  }
  for (uint32_t bid : cur.stray_backends) {
    next.backend_ids.release(bid);
    del_backends.push_back({absl::StrCat("remove stale backend ", bid),
                            [&dp, bid] { return dp.deleteBackend(bid); }, noUndo});
  }
  if (strays > 0) {
    removal_lines.push_back(
        absl::StrCat("remove ", strays, " stale map entries left by a previous agent"));
  }

  // Ids are released only now, after every allocation: an id freed in this transaction is still
  // live in the data plane until the removal phase, so it must not be handed to a new backend.
  for (const auto& [key, old] : cur.vips) {
    auto it = next.vips.find(key);
    if (it == next.vips.end()) {
      next.vip_ids.release(old.id);
      for (const auto& [addr, m] : old.members) next.backend_ids.release(m.id);
    } else {
      for (const auto& [addr, m] : old.members) {
        if (!it->second.members.count(addr)) next.backend_ids.release(m.id);
      }
    }
  }

  // ---- per-address VIP counts ----
  auto countAddrs = [](const std::map<VipKey, Entry>& vips) {
    std::map<IpAddress, xlb_addr_value> out;
    for (const auto& [key, e] : vips) {
      auto& v = out[key.address];
      v.nr_vips++;
      if (key.port == 0) v.nr_wildcard++;
    }
    return out;
  };
  // A count that grows is written before the VIP entries appear; one that shrinks only after the
  // entries are gone, so the data plane never under-counts a VIP that is still live (a wildcard
  // count of 0 would make the balancer skip the lookup of a wildcard VIP still in the map). Mixed
  // changes go through the field-wise maximum.
  auto widen = [](const xlb_addr_value& a, const xlb_addr_value& b) {
    return xlb_addr_value{std::max(a.nr_vips, b.nr_vips), std::max(a.nr_wildcard, b.nr_wildcard)};
  };
  auto old_addrs = countAddrs(cur.vips);
  auto new_addrs = countAddrs(next.vips);
  std::vector<Step> shrink_addrs;
  uint32_t nr_wildcard = 0;
  for (const auto& [addr, v] : new_addrs) {
    nr_wildcard += v.nr_wildcard;
    auto it = old_addrs.find(addr);
    xlb_addr_key k = toAddrKey(addr);
    const std::string what = absl::StrCat("write vip address ", addr.toString());
    if (it == old_addrs.end()) {
      set_addrs.push_back({what, [&dp, k, v] { return dp.upsertVipAddr(k, v); },
                           [&dp, k] { return dp.deleteVipAddr(k); }});
      continue;
    }
    const xlb_addr_value ov = it->second;
    const xlb_addr_value wide = widen(ov, v);
    if (!sameBytes(wide, ov) || resync_) {
      set_addrs.push_back({what, [&dp, k, wide] { return dp.upsertVipAddr(k, wide); },
                           [&dp, k, ov] { return dp.upsertVipAddr(k, ov); }});
    }
    if (!sameBytes(wide, v)) {
      shrink_addrs.push_back({what, [&dp, k, v] { return dp.upsertVipAddr(k, v); },
                              [&dp, k, wide] { return dp.upsertVipAddr(k, wide); }});
    }
  }
  for (const auto& [addr, ov] : old_addrs) {
    if (new_addrs.count(addr)) continue;
    xlb_addr_key k = toAddrKey(addr);
    del_addrs.push_back({absl::StrCat("remove vip address ", addr.toString()),
                         [&dp, k] { return dp.deleteVipAddr(k); },
                         [&dp, k, ov] { return dp.upsertVipAddr(k, ov); }});
  }

  // ---- settings: encap prefixes before any VIP entry uses them; the wildcard count, like the
  // address counts above, grows before the VIP entries and shrinks after ----
  next.settings = toSettings(desired, nr_wildcard);
  next.settings_written = true;
  NatSteps nat_steps;
  planNat(desired, plan, nat_steps);  // also writes next.settings' NAT filter
  std::vector<Step> shrink_settings;
  if (!cur.settings_written || !sameBytes(cur.settings, next.settings) || resync_) {
    if (!cur.settings_written ||
        cur.config.encap().SerializeAsString() != desired.encap().SerializeAsString()) {
      plan.lines.push_back(absl::StrCat("set encap source prefixes ",
                                        desired.encap().source_v4_prefix(), " and ",
                                        desired.encap().source_v6_prefix()));
    }
    xlb_settings wide = next.settings;
    if (cur.settings_written) {
      wide.nr_wildcard_vips = std::max(cur.settings.nr_wildcard_vips, nr_wildcard);
      // The NAT reply filter likewise accepts the old and the new endpoints while VIPs change.
      nat::writeFilter(nat::unionFilter(nat::readFilter(cur.settings), nat::readFilter(wide)), wide);
    }
    const xlb_settings os = cur.settings, s = next.settings;
    if (!cur.settings_written || !sameBytes(cur.settings, wide) || resync_) {
      set_settings.push_back({"write settings", [&dp, wide] { return dp.setSettings(wide); },
                              [&dp, os] { return dp.setSettings(os); }});
    }
    if (!sameBytes(wide, s)) {
      shrink_settings.push_back({"write settings", [&dp, s] { return dp.setSettings(s); },
                                 [&dp, wide] { return dp.setSettings(wide); }});
    }
  }

  // ---- VLAN acceptance: flag and config ids together, the whole set written when it changes (the
  // map is pinned: a restarted agent rewrites the same set) ----
  std::vector<uint32_t> vlans = flag_vlans_;
  vlans.insert(vlans.end(), desired.vlan_ids().begin(), desired.vlan_ids().end());
  std::sort(vlans.begin(), vlans.end());
  vlans.erase(std::unique(vlans.begin(), vlans.end()), vlans.end());
  next.vlans = vlans;
  next.vlans_written = true;
  std::vector<Step> set_vlans;
  if (!cur.vlans_written || cur.vlans != vlans || resync_) {
    if (cur.vlans_written ? cur.vlans != vlans : !vlans.empty()) {
      plan.lines.push_back(
          absl::StrCat("set accepted VLAN ids ", config::formatVlanIdList(vlans)));
    }
    // Before the first write the map's content is unknown: undo restores the default (none).
    std::vector<uint32_t> old = cur.vlans;
    set_vlans.push_back({"write accepted VLAN ids",
                         [&dp, vlans] { return dp.setAcceptedVlans(vlans); },
                         [&dp, old] { return dp.setAcceptedVlans(old); }});
  }

  plan.lines.insert(plan.lines.end(), removal_lines.begin(), removal_lines.end());
  for (auto* phase : {&add_backends, &nat_steps.set_snat, &nat_steps.add_eps, &set_tables,
                      &set_settings, &set_vlans, &set_addrs, &set_vips, &del_vips, &shrink_addrs,
                      &shrink_settings, &nat_steps.del_eps, &nat_steps.del_snat, &del_addrs,
                      &del_tables, &del_backends}) {
    for (auto& s : *phase) plan.steps.push_back(std::move(s));
  }
  return plan;
}

void State::setFlagVlanIds(std::vector<uint32_t> ids) {
  std::lock_guard lock(mu_);
  flag_vlans_ = std::move(ids);
}

std::vector<uint32_t> State::acceptedVlans() const {
  std::lock_guard lock(mu_);
  return model_.vlans;
}

absl::Status State::execute(Plan& plan) {
  for (size_t done = 0; done < plan.steps.size(); ++done) {
    absl::Status st = plan.steps[done].apply();
    if (st.ok()) continue;
    // Undo what this transaction applied, newest first, so the data plane returns to the state
    // model_ still describes.
    std::vector<std::string> rollback_errors;
    for (size_t i = done; i-- > 0;) {
      absl::Status u = plan.steps[i].undo();
      if (!u.ok()) {
        spdlog::error("state: rollback of '{}' failed: {}", plan.steps[i].what, u.ToString());
        rollback_errors.push_back(absl::StrCat(plan.steps[i].what, ": ", u.message()));
      }
    }
    std::string msg = absl::StrCat(plan.steps[done].what, ": ", st.message(), " (rolled back ",
                                   done, done == 1 ? " change" : " changes", "; nothing applied)");
    if (!rollback_errors.empty()) {
      // The data plane may now differ from model_; the next apply rewrites everything.
      resync_ = true;
      msg = absl::StrCat(plan.steps[done].what, ": ", st.message(),
                         "; rollback incomplete, the next change rewrites all entries: ",
                         absl::StrJoin(rollback_errors, "; "));
    }
    spdlog::warn("state: apply failed: {}", msg);
    return absl::Status(st.code(), msg);
  }
  if (!plan.steps.empty()) {
    spdlog::info("state: applied {} data-plane writes ({} VIPs)", plan.steps.size(),
                 plan.next.vips.size());
  }
  Model before = std::move(model_);
  model_ = std::move(plan.next);
  resync_ = false;
  afterApplyLocked(before);
  return absl::OkStatus();
}

absl::Status State::applyLocked(const v1::Config& config, bool dry_run,
                                std::vector<std::string>* changes) {
  const auto start = std::chrono::steady_clock::now();
  absl::Status st = [&]() -> absl::Status {
    if (auto st = config::validateConfig(config); !st.ok()) return st;
    v1::Config normalized = config::normalize(config);
    if (local_port_range_) {
      // A host whose range cannot be read (no /proc) is not refused; the config is.
      if (auto local = local_port_range_(); local.ok()) {
        if (auto st = nat::checkSnatPortRanges(normalized, *local); !st.ok()) return st;
      }
    }
    auto plan = this->plan(normalized);
    if (!plan.ok()) return plan.status();
    if (changes != nullptr) *changes = plan->lines;
    if (dry_run) return absl::OkStatus();
    return execute(*plan);
  }();
  if (!dry_run) {
    ++apply_stats_.total;
    if (!st.ok()) ++apply_stats_.errors;
    apply_stats_.last_duration_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return st;
}

void State::recordFailedApply(std::chrono::duration<double> took) {
  std::lock_guard lock(mu_);
  ++apply_stats_.total;
  ++apply_stats_.errors;
  apply_stats_.last_duration_seconds = took.count();
}

ApplyStats State::applyStats() const {
  std::lock_guard lock(mu_);
  return apply_stats_;
}

absl::Status State::applyConfig(const v1::Config& config, bool dry_run,
                                std::vector<std::string>* changes) {
  std::lock_guard lock(mu_);
  std::vector<std::string> lines;
  absl::Status st = applyLocked(config, dry_run, &lines);
  if (st.ok() && !dry_run) {
    v1::Event e;
    e.set_kind(v1::Event::KIND_CONFIG_APPLIED);
    e.set_time_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
    e.set_message(absl::StrCat("config applied: ", model_.config.vips_size(), " VIPs, ",
                               lines.size(), lines.size() == 1 ? " change" : " changes"));
    events_.publish(e);
  }
  if (changes != nullptr) *changes = std::move(lines);
  return st;
}

v1::Config State::config() const {
  std::lock_guard lock(mu_);
  if (!model_.settings_written) return config::normalize(model_.config);  // nothing applied yet
  return model_.config;
}

}  // namespace xlb::state
