// SPDX-License-Identifier: Apache-2.0
// Planner: the per-VIP diff (memberships, slots, rotation, table, VIP entry) and the maps every
// VIP shares (address counts, settings, VLANs; NAT in nat_plan.cc), ordered in phases.
#include "state/planner.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "config/discovery.h"
#include "maglev/maglev.h"
#include "maglev/round_robin.h"
#include "nat/endpoint.h"
#include "state/plan_internal.h"

namespace xlb::state {

using config::VipKey;

namespace {

bool probes(v1::HealthCheckType t) {
  return t == v1::HEALTH_CHECK_TYPE_TCP || t == v1::HEALTH_CHECK_TYPE_HTTP ||
         t == v1::HEALTH_CHECK_TYPE_GRPC;
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

TableInputs tableInputs(const VipEntry& e) {
  TableInputs in;
  in.m = e.table_m;
  in.round_robin = e.spec.algorithm() == v1::ALGORITHM_ROUND_ROBIN;
  for (const auto& [bk, m] : e.members) {
    if (m.in_rotation) in.backends.push_back({m.id, m.label, m.weight});
  }
  return in;
}

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

// A previous table for rollback. An adopted VIP's table size is unknown (m == 0): nothing to
// restore then, and the next apply rebuilds it anyway because its inputs still differ.
using Previous = absl::StatusOr<std::optional<std::vector<uint32_t>>>;
Previous previousTable(std::optional<std::vector<uint32_t>> table) { return table; }
Previous previousTable(const TableInputs& in) {
  if (in.m == 0) return std::optional<std::vector<uint32_t>>();
  auto t = buildSelectionTable(in);
  if (!t.ok()) return t.status();
  return std::optional<std::vector<uint32_t>>(std::move(*t));
}

std::string dataplaneKeyString(const xlb_vip_key& k) {
  IpAddress a;
  std::memcpy(a.bytes.data(), k.addr, 16);
  a.family = k.family;
  return absl::StrCat(formatHostPort(a, ntohs(k.port)), "/", static_cast<int>(k.proto));
}

}  // namespace

uint32_t hostMask(int len_in_last_word) {
  if (len_in_last_word <= 0) return 0xffffffffu;
  if (len_in_last_word >= 32) return 0;
  return htonl(0xffffffffu >> len_in_last_word);
}

absl::StatusOr<Plan> Planner::planConfig(const v1::Config& desired) {
  v1::Config globals = desired;
  globals.clear_vips();
  std::vector<std::pair<VipKey, const VipEntry*>> order;  // each desired VIP and its entry
  std::vector<VipChange> changes;
  std::set<VipKey> desired_keys;
  std::string bytes;
  for (const v1::Vip& spec : desired.vips()) {
    auto key = config::vipKeyOf(spec);
    if (!key.ok()) return key.status();  // validated before: not expected
    desired_keys.insert(*key);
    const VipEntry* e = cur_.vip(*key);
    order.emplace_back(*key, e);
    if (e != nullptr && !in_.resync && !e->adopted) {
      spec.SerializeToString(&bytes);
      if (bytes == e->spec_bytes) continue;  // unchanged: keeps its entry
    }
    changes.push_back({*key, &spec});
  }
  for (const auto& [key, e] : cur_.vips) {
    if (!desired_keys.count(key)) changes.push_back({key, nullptr});
  }
  const std::map<VipKey, uint64_t> seqs = seqsFor(order);
  auto plan = planChanges(globals, &seqs, changes, true);
  if (plan.ok() || !absl::IsResourceExhausted(plan.status())) return plan;

  // Out of ids: those this plan frees are still live in the data plane until its removal phase.
  // Plan the removals first (VIPs that go, memberships that leave the VIPs that stay), then the
  // rest from the model they leave.
  std::vector<v1::Vip> shrunk;
  std::vector<VipChange> removals;
  shrunk.reserve(changes.size());
  for (const VipChange& c : changes) {
    auto it = cur_.vips.find(c.key);
    if (it == cur_.vips.end()) continue;
    if (c.spec == nullptr) {
      removals.push_back(c);
      continue;
    }
    std::set<BackendKey> wanted;
    for (const v1::Backend& b : c.spec->backends()) {
      auto bk = backendKeyOf(c.key, b);
      if (bk.ok()) wanted.insert(*bk);
    }
    v1::Vip s = it->second->spec;
    s.clear_backends();
    bool dropped = false;
    for (const v1::Backend& b : it->second->spec.backends()) {
      auto bk = backendKeyOf(c.key, b);
      if (bk.ok() && !wanted.count(*bk)) {
        dropped = true;
        continue;
      }
      *s.add_backends() = b;
    }
    if (dropped) shrunk.push_back(std::move(s));
  }
  if (removals.empty() && shrunk.empty()) return plan;  // nothing to free: a real shortage
  for (const v1::Vip& s : shrunk) {
    auto key = config::vipKeyOf(s);
    if (key.ok()) removals.push_back({*key, &s});
  }
  auto first = planChanges(cur_.globals, nullptr, removals, false);
  if (!first.ok()) return first.status();
  PlanInputs second_in = in_;
  second_in.resync = false;
  Planner second(first->next, second_in);
  auto rest = second.planConfig(desired);
  if (!rest.ok()) return rest.status();
  Plan out = std::move(*rest);
  out.lines.insert(out.lines.begin(), "free the ids of removed backends before adding new ones");
  out.steps.insert(out.steps.begin(), std::make_move_iterator(first->steps.begin()),
                   std::make_move_iterator(first->steps.end()));
  out.changed.insert(first->changed.begin(), first->changed.end());
  return out;
}

absl::StatusOr<Plan> Planner::planVips(std::span<const VipChange> changes) {
  return planChanges(cur_.globals, nullptr, changes, false);
}

// The seqs a whole config gives its VIPs, for the VIPs whose seq is new (the others keep theirs).
// Every VIP keeps its seq when the VIPs that stay keep their relative order and each run of new
// VIPs fits in the gap between its neighbours' seqs; otherwise the whole config is numbered
// afresh (kSeqStep apart), which copies the entries whose seq changes.
std::map<VipKey, uint64_t> Planner::seqsFor(
    const std::vector<std::pair<VipKey, const VipEntry*>>& order) const {
  std::map<VipKey, uint64_t> out;
  bool kept = true;
  uint64_t prev = 0;  // seq of the previous VIP in `order`; 0 before the first
  for (size_t i = 0; i < order.size() && kept;) {
    if (const VipEntry* e = order[i].second; e != nullptr) {
      kept = e->seq > prev;
      prev = e->seq;
      ++i;
      continue;
    }
    size_t j = i;  // [i, j): new VIPs between two that stay (or the ends)
    while (j < order.size() && order[j].second == nullptr) ++j;
    const uint64_t run = j - i;
    const uint64_t upper = j < order.size() ? order[j].second->seq : prev + (run + 1) * kSeqStep;
    if (upper <= prev || upper - prev <= run) {
      kept = false;
      break;
    }
    const uint64_t step = (upper - prev) / (run + 1);
    for (uint64_t t = 1; t <= run; ++t) out[order[i++].first] = prev + t * step;
    prev += run * step;
  }
  if (kept) return out;
  out.clear();
  for (size_t i = 0; i < order.size(); ++i) {
    const uint64_t seq = (i + 1) * kSeqStep;
    if (order[i].second == nullptr || order[i].second->seq != seq) out[order[i].first] = seq;
  }
  return out;
}

absl::StatusOr<Plan> Planner::planChanges(const v1::Config& globals,
                                          const std::map<VipKey, uint64_t>* seqs,
                                          std::span<const VipChange> changes, bool whole) {
  Plan plan;
  plan.next.globals = globals;
  plan.next.vips = cur_.vips;
  plan.next.in_order = cur_.in_order;
  plan.next.vip_ids = cur_.vip_ids;
  plan.next.backend_ids = cur_.backend_ids;
  plan.next.addrs = cur_.addrs;
  plan.next.nr_wildcard = cur_.nr_wildcard;
  plan.next.settings = cur_.settings;
  plan.next.settings_written = cur_.settings_written;
  plan.next.vlans = cur_.vlans;
  plan.next.vlans_written = cur_.vlans_written;
  plan.next.snat = cur_.snat;
  plan.next.eps = cur_.eps;
  if (!whole) {  // strays stay listed until a whole apply removes them
    plan.next.stray_vips = cur_.stray_vips;
    plan.next.stray_addrs = cur_.stray_addrs;
    plan.next.stray_tables = cur_.stray_tables;
    plan.next.stray_backends = cur_.stray_backends;
  }
  Phases ph;
  std::vector<std::string> removal_lines;

  // Allocations first, releases after: an id freed in this transaction is still live in the data
  // plane until the removal phase, so it must not be handed to a new backend.
  uint64_t append_seq = cur_.appendSeq();
  auto givenSeq = [seqs](const VipKey& key) -> std::optional<uint64_t> {
    if (seqs == nullptr) return std::nullopt;
    auto it = seqs->find(key);
    return it == seqs->end() ? std::nullopt : std::optional<uint64_t>(it->second);
  };
  for (const VipChange& c : changes) {
    if (c.spec == nullptr) continue;
    const VipEntry* old = cur_.vip(c.key);
    uint64_t seq = 0;
    if (auto given = givenSeq(c.key)) {
      seq = *given;
    } else if (old != nullptr) {
      seq = old->seq;
    } else {
      seq = append_seq;
      append_seq += kSeqStep;
    }
    if (auto st = planVip(c.key, *c.spec, old, seq, plan, ph); !st.ok()) return st;
    plan.changed.insert(c.key);
  }
  for (const VipChange& c : changes) {
    if (c.spec != nullptr) continue;
    const VipEntry* old = cur_.vip(c.key);
    if (old == nullptr) continue;
    planRemoval(*old, plan, ph, removal_lines);
    plan.next.eraseVip(c.key);
    plan.changed.insert(c.key);
  }
  if (seqs != nullptr) {
    // VIPs the config only moved (renumbered): the same entry at another place in the order.
    for (const auto& [key, seq] : *seqs) {
      const VipEntry* e = plan.next.vip(key);
      if (e == nullptr || e->seq == seq) continue;
      auto moved = std::make_shared<VipEntry>(*e);
      moved->seq = seq;
      plan.next.putVip(std::move(moved));
    }
  }
  if (whole) planStrays(plan, ph, removal_lines);
  for (const VipChange& c : changes) {
    auto it = cur_.vips.find(c.key);
    if (it == cur_.vips.end()) continue;
    auto nit = plan.next.vips.find(c.key);
    if (nit == plan.next.vips.end()) {
      plan.next.vip_ids.release(it->second->id);
      for (const auto& [bk, m] : it->second->members) plan.next.backend_ids.release(m.id);
      continue;
    }
    for (const auto& [bk, m] : it->second->members) {
      if (!nit->second->members.count(bk)) plan.next.backend_ids.release(m.id);
    }
  }

  planAddresses(plan, ph);
  planSettings(globals, plan, ph);
  planVlans(globals, plan, ph);
  plan.lines.insert(plan.lines.end(), removal_lines.begin(), removal_lines.end());
  ph.into(*in_.dp, in_.gens, plan.steps);
  return plan;
}

absl::Status Planner::planVip(const VipKey& key, const v1::Vip& spec, const VipEntry* old,
                              uint64_t seq, Plan& plan, Phases& ph) {
  dataplane::Dataplane& dp = *in_.dp;
  const bool resync = in_.resync;
  Model& next = plan.next;
  auto e = std::make_shared<VipEntry>();
  e->key = key;
  e->seq = seq;
  e->spec = spec;
  spec.SerializeToString(&e->spec_bytes);
  e->table_m = tableSizeOf(spec);
  if (old != nullptr) {
    e->id = old->id;
  } else {
    auto id = next.vip_ids.allocate();
    if (!id) {
      return absl::ResourceExhaustedError(absl::StrCat("no free vip id for ", key.toString(),
                                                       " (all ", next.vip_ids.capacity(), " in use; xlb-agent --max-vips raises the limit)"));
    }
    e->id = *id;
  }
  e->value = toVipValue(e->id, spec);
  const std::string kstr = key.toString();
  if (old == nullptr) {
    plan.lines.push_back(absl::StrCat("add vip ", kstr, " (id ", e->id, ", ",
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
    auto bk = backendKeyOf(key, b);
    if (!bk.ok()) return bk.status();
    const std::string label = backendLabel(key, *bk);
    if (e->members.count(*bk)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "backend ", label, " appears twice in vip ", kstr,
          " (a backend is identified by address and port; port 0 means the VIP's port)"));
    }
    Member m;
    m.address = bk->address;
    m.port = bk->port;
    m.weight = b.weight();
    m.draining = b.state() == v1::BACKEND_STATE_DRAINING;
    m.spec_index = bi;
    m.label = label;
    m.health_key = absl::StrCat(kstr, " ", label);
    m.be_nat.port = htons(bk->port);
    const Member* old_m = nullptr;
    if (old != nullptr) {
      auto it = old->members.find(*bk);
      if (it != old->members.end()) old_m = &it->second;
    }
    // Health: the verdict being applied, else the one the membership had; an unprobed backend
    // forgets its verdict (the checker starts it afresh if probed again).
    const HealthRecord* ov = in_.health_override ? in_.health_override(key, *bk) : nullptr;
    if (ov != nullptr) {
      m.health = *ov;
    } else if (old_m != nullptr) {
      m.health = old_m->health;
    }
    m.health.checked = probes(config::effectiveHealthCheck(spec, b).type());
    if (!m.health.checked) m.health.health = health::Health::kUnknown;
    if (m.health.checked && m.health.health == health::Health::kUnknown) {
      m.awaiting_check = old_m != nullptr ? old_m->awaiting_check
                                          : old != nullptr && config::isDiscovered(b);
    }
    if (old_m != nullptr) {
      m.id = old_m->id;
      m.gen = old_m->gen;
      if (old_m->weight != m.weight && !old->adopted) {
        plan.lines.push_back(absl::StrCat("set weight of backend ", label, " in vip ", kstr, ": ",
                                          old_m->weight, " -> ", m.weight));
      }
      if (old_m->draining != m.draining) {
        plan.lines.push_back(
            absl::StrCat(m.draining ? "drain" : "undrain", " backend ", label, " in vip ", kstr));
      }
    } else {
      auto id = next.backend_ids.allocate();
      if (!id) {
        return absl::ResourceExhaustedError(absl::StrCat("no free backend id for ", label,
                                                         " in vip ", kstr, " (all ",
                                                         next.backend_ids.capacity(), " in use; xlb-agent --max-backends raises the limit)"));
      }
      m.id = *id;
      m.gen = (*in_.gens)[m.id] + 1;
      plan.lines.push_back(absl::StrCat(
          "add backend ", b.port() != 0 ? formatHostPort(bk->address, bk->port) : label,
          " to vip ", kstr, " (id ", m.id, ", weight ", m.weight,
          m.draining ? ", draining)" : ")"));
    }
    old_of.push_back(old_m);
    key_of.push_back(*bk);
    e->members.emplace(*bk, std::move(m));
  }

  // Rotation: active (not draining), weighted, not health-down, not awaiting its first check
  // (Member::awaiting_check). When health checks find every
  // such backend down, the all-down policy decides: keep the last healthy set in the table and
  // its backends ACTIVE in the data plane (fail open), or drop new flows.
  auto down = [](const Member& m) {
    return m.health.checked && m.health.health == health::Health::kDown;
  };
  std::vector<Member*> candidates, healthy, awaiting;
  for (auto& [addr, m] : e->members) {
    if (m.draining || m.weight == 0) continue;
    candidates.push_back(&m);
    if (down(m)) continue;
    (m.awaiting_check ? awaiting : healthy).push_back(&m);
  }
  // Discovered backends waiting for their first check take new flows only when nothing else can.
  if (healthy.empty()) healthy = std::move(awaiting);
  const bool keep = spec.all_down_policy() != v1::ALL_DOWN_POLICY_DROP;
  e->all_down = healthy.empty() && !candidates.empty();
  auto keyOf = [](const Member* m) { return BackendKey{m->address, m->port}; };
  if (!e->all_down) {
    for (Member* m : healthy) {
      m->in_rotation = true;
      e->last_healthy.insert(keyOf(m));
    }
  } else if (keep) {
    std::set<BackendKey> last = old != nullptr ? old->last_healthy : std::set<BackendKey>{};
    bool any = false;
    for (Member* m : candidates) any |= last.count(keyOf(m)) > 0;
    for (Member* m : candidates) {
      if (!any || last.count(keyOf(m))) {
        m->in_rotation = true;
        m->kept = true;
        e->last_healthy.insert(keyOf(m));
      }
    }
  }
  if (old != nullptr && old->all_down != e->all_down) {
    plan.lines.push_back(e->all_down
                             ? absl::StrCat("every backend of vip ", kstr, " is down: ",
                                            keep ? "keeping the last healthy set (keep_last_healthy)"
                                                 : "dropping new flows (drop)")
                             : absl::StrCat("vip ", kstr, " recovered: a backend is up again"));
  }

  // Backend slots: written when new, or when their value (weight, health flag) changed.
  for (int i = 0; i < spec.backends_size(); ++i) {
    Member& m = e->members.at(key_of[i]);
    const bool active = !down(m) || m.kept;
    m.value = toBackend(e->id, m.address, m.gen, m.weight, active);
    const Member* old_m = old_of[i];
    const std::string& addr_text = m.label;
    const xlb_backend be = m.value;
    const uint32_t bid = m.id;
    // The backend's port (NAT modes) is in place before the slot is written: a connection
    // created on the new slot never reads a stale port.
    const xlb_be_nat bn = m.be_nat;
    if (old_m != nullptr && (!sameBytes(old_m->be_nat, bn) || resync)) {
      ph.set_ports.push_back({bid, bn, old_m->be_nat});
    }
    if (old_m != nullptr) {
      if (sameBytes(old_m->value, be) && !resync) continue;
      const bool was_active = old_m->value.flags & XLB_BE_F_ACTIVE;
      if (was_active != active && !old->adopted) {
        plan.lines.push_back(active ? absl::StrCat("mark backend ", addr_text, " of vip ", kstr,
                                                   " active")
                                    : absl::StrCat("mark backend ", addr_text, " of vip ", kstr,
                                                   " down (its flows move to live backends)"));
      }
      ph.set_slots.push_back({bid, be, old_m->value});
      continue;
    }
    // A new slot: its port is written too (unused until the slot is), and its generation is
    // recorded once written (never rolled back).
    ph.set_ports.push_back({bid, bn, std::nullopt});
    ph.set_slots.push_back({bid, be, std::nullopt});
  }

  // Removed memberships of a surviving VIP (said after the table that stops using them).
  std::vector<std::string> leaving;
  if (old != nullptr) {
    for (const auto& [bk, m] : old->members) {
      if (e->members.count(bk)) continue;
      leaving.push_back(
          absl::StrCat("remove backend ", m.label, " from vip ", kstr, " (id ", m.id, ")"));
      const xlb_backend be = m.value;
      const uint32_t bid = m.id;
      ph.del_backends.push_back({absl::StrCat("remove backend ", m.label, " from vip ", kstr),
                                 [&dp, bid] { return dp.deleteBackend(bid); },
                                 [&dp, bid, be] { return dp.upsertBackend(bid, be); }});
    }
  }

  // Table: rebuilt only when its inputs changed, and swapped in whole.
  TableInputs in = tableInputs(*e);
  // A new VIP without weighted backends has no table to write (the data plane drops its packets
  // as no_backend), but the plan still says so.
  const bool changed =
      old == nullptr ? !in.backends.empty() || resync : !(tableInputs(*old) == in) || resync;
  if (old == nullptr && in.backends.empty()) plan.lines.push_back(describeTable(key, in, true));
  if (changed) {
    auto table = buildSelectionTable(in);
    if (!table.ok()) return table.status();
    if (old != nullptr || !in.backends.empty()) {
      plan.lines.push_back(describeTable(key, in, old == nullptr));
    }
    TableSwap swap{e->id, std::move(*table), nullptr};
    if (old == nullptr) {
      swap.previous = [] { return previousTable(std::vector<uint32_t>()); };
    } else {
      swap.previous = [old_in = tableInputs(*old)] { return previousTable(old_in); };
    }
    ph.set_tables.push_back(std::move(swap));
    ph.set_table_names.push_back(kstr);
  }
  plan.lines.insert(plan.lines.end(), leaving.begin(), leaving.end());

  // The VIP entry itself: new, or its value (forwarding/algorithm) changed.
  if (old == nullptr || !sameBytes(old->value, e->value) || resync) {
    const xlb_vip_key k = toVipKey(key);
    const xlb_vip_value v = e->value;
    std::function<absl::Status()> undo;
    if (old == nullptr) {
      undo = [&dp, k] { return dp.deleteVip(k); };
    } else {
      const xlb_vip_value ov = old->value;
      undo = [&dp, k, ov] { return dp.upsertVip(k, ov); };
    }
    ph.set_vips.push_back({absl::StrCat("write vip ", kstr),
                           [&dp, k, v] { return dp.upsertVip(k, v); }, std::move(undo)});
  }
  next.putVip(std::move(e));
  return absl::OkStatus();
}

// A VIP no longer desired: entry first, then table, then its backends.
void Planner::planRemoval(const VipEntry& old, Plan& plan, Phases& ph,
                          std::vector<std::string>& removal_lines) {
  (void)plan;
  dataplane::Dataplane& dp = *in_.dp;
  const std::string kstr = old.key.toString();
  removal_lines.insert(removal_lines.begin(), absl::StrCat("remove vip ", kstr, " (id ", old.id,
                                                           ", ", old.members.size(),
                                                           " backends)"));
  const xlb_vip_key k = toVipKey(old.key);
  const xlb_vip_value ov = old.value;
  ph.del_vips.push_back({absl::StrCat("remove vip ", kstr), [&dp, k] { return dp.deleteVip(k); },
                         [&dp, k, ov] { return dp.upsertVip(k, ov); }});
  const uint32_t vid = old.id;
  TableInputs old_in = tableInputs(old);
  // Only a VIP with weighted backends has a table; an adopted one may have any.
  if (!old_in.backends.empty() || old.adopted) {
    ph.del_tables.push_back(
        {vid, {}, [old_in = std::move(old_in)] { return previousTable(old_in); }});
    ph.del_table_names.push_back(kstr);
  }
  for (const auto& [bk, m] : old.members) {
    const xlb_backend be = m.value;
    const uint32_t bid = m.id;
    ph.del_backends.push_back({absl::StrCat("remove backend ", m.label, " from vip ", kstr),
                               [&dp, bid] { return dp.deleteBackend(bid); },
                               [&dp, bid, be] { return dp.upsertBackend(bid, be); }});
  }
}

// Leftovers adopted from a previous agent that nothing refers to. No undo: they are garbage, and
// a failed transaction keeps them listed for the next one.
void Planner::planStrays(Plan& plan, Phases& ph, std::vector<std::string>& removal_lines) {
  dataplane::Dataplane& dp = *in_.dp;
  const size_t strays = cur_.stray_vips.size() + cur_.stray_addrs.size() +
                        cur_.stray_tables.size() + cur_.stray_backends.size();
  auto noUndo = [] { return absl::OkStatus(); };
  for (const xlb_vip_key& k : cur_.stray_vips) {
    ph.del_vips.push_back({"remove stale vip entry " + dataplaneKeyString(k),
                           [&dp, k] { return dp.deleteVip(k); }, noUndo});
  }
  std::set<IpAddress> in_use;
  if (!cur_.stray_addrs.empty()) {
    for (const auto& [key, e] : plan.next.vips) in_use.insert(key.address);
  }
  for (const xlb_addr_key& k : cur_.stray_addrs) {
    IpAddress a;
    std::memcpy(a.bytes.data(), k.addr, 16);
    a.family = k.family;
    if (in_use.count(a)) continue;  // rewritten by the address phase
    ph.del_addrs.push_back(
        {"remove stale vip address", [&dp, k] { return dp.deleteVipAddr(k); }, noUndo});
  }
  // Stray ids stay marked in the allocators until here, so no new VIP or backend received one.
  for (uint32_t vid : cur_.stray_tables) {
    plan.next.vip_ids.release(vid);
    ph.del_tables.push_back({vid, {}, [] { return previousTable(std::nullopt); }});
    ph.del_table_names.push_back(absl::StrCat("stale vip id ", vid));
  }
  for (uint32_t bid : cur_.stray_backends) {
    plan.next.backend_ids.release(bid);
    ph.del_backends.push_back({absl::StrCat("remove stale backend ", bid),
                               [&dp, bid] { return dp.deleteBackend(bid); }, noUndo});
  }
  if (strays > 0) {
    removal_lines.push_back(
        absl::StrCat("remove ", strays, " stale map entries left by a previous agent"));
  }
}

// Per-address VIP counts, for the addresses of the VIPs this plan changed. A count that grows is
// written before the VIP entries appear; one that shrinks only after the entries are gone, so the
// data plane never under-counts a VIP that is still live (a wildcard count of 0 would make the
// balancer skip the lookup of a wildcard VIP still in the map). Mixed changes go through the
// field-wise maximum.
void Planner::planAddresses(Plan& plan, Phases& ph) {
  dataplane::Dataplane& dp = *in_.dp;
  std::set<IpAddress> touched;
  for (const VipKey& k : plan.changed) touched.insert(k.address);
  if (in_.resync) {
    for (const auto& [a, v] : cur_.addrs) touched.insert(a);
  }
  // The VIPs on a touched address are one range of the key-ordered map (address first).
  for (const IpAddress& a : touched) {
    xlb_addr_value v{};
    for (auto it = plan.next.vips.lower_bound(config::VipKey{a, 0, v1::PROTOCOL_UNSPECIFIED});
         it != plan.next.vips.end() && it->first.address == a; ++it) {
      v.nr_vips++;
      if (it->first.port == 0) v.nr_wildcard++;
    }
    const xlb_addr_value* have = plan.next.addrs.get(a);
    plan.next.nr_wildcard = plan.next.nr_wildcard - (have ? have->nr_wildcard : 0) + v.nr_wildcard;
    if (v.nr_vips == 0) {
      plan.next.addrs.erase(a);
    } else if (have == nullptr || !sameBytes(*have, v)) {
      plan.next.addrs.set(a, v);  // an unchanged count keeps its chunk shared
    }
  }
  auto widen = [](const xlb_addr_value& a, const xlb_addr_value& b) {
    return xlb_addr_value{std::max(a.nr_vips, b.nr_vips), std::max(a.nr_wildcard, b.nr_wildcard)};
  };
  for (const IpAddress& addr : touched) {
    auto nit = plan.next.addrs.find(addr);
    auto oit = cur_.addrs.find(addr);
    const xlb_addr_key k = toAddrKey(addr);
    if (nit == plan.next.addrs.end()) {
      if (oit == cur_.addrs.end()) continue;
      const xlb_addr_value ov = oit->second;
      ph.del_addrs.push_back({absl::StrCat("remove vip address ", addr.toString()),
                              [&dp, k] { return dp.deleteVipAddr(k); },
                              [&dp, k, ov] { return dp.upsertVipAddr(k, ov); }});
      continue;
    }
    const xlb_addr_value v = nit->second;
    const std::string what = absl::StrCat("write vip address ", addr.toString());
    if (oit == cur_.addrs.end()) {
      ph.set_addrs.push_back({what, [&dp, k, v] { return dp.upsertVipAddr(k, v); },
                              [&dp, k] { return dp.deleteVipAddr(k); }});
      continue;
    }
    const xlb_addr_value ov = oit->second;
    const xlb_addr_value wide = widen(ov, v);
    if (!sameBytes(wide, ov) || in_.resync) {
      ph.set_addrs.push_back({what, [&dp, k, wide] { return dp.upsertVipAddr(k, wide); },
                              [&dp, k, ov] { return dp.upsertVipAddr(k, ov); }});
    }
    if (!sameBytes(wide, v)) {
      ph.shrink_addrs.push_back({what, [&dp, k, v] { return dp.upsertVipAddr(k, v); },
                                 [&dp, k, wide] { return dp.upsertVipAddr(k, wide); }});
    }
  }
}

// Settings: encap prefixes before any VIP entry uses them; the wildcard count, like the address
// counts, grows before the VIP entries and shrinks after; the NAT reply filter likewise accepts
// the old and the new endpoints while VIPs change.
void Planner::planSettings(const v1::Config& globals, Plan& plan, Phases& ph) {
  dataplane::Dataplane& dp = *in_.dp;
  const uint32_t nr_wildcard = plan.next.nr_wildcard;
  Model& next = plan.next;
  next.settings = toSettings(globals, nr_wildcard);
  next.settings_written = true;
  planNat(globals, plan, ph);  // also writes next.settings' NAT filter
  if (cur_.settings_written && sameBytes(cur_.settings, next.settings) && !in_.resync) return;
  if (!cur_.settings_written ||
      cur_.globals.encap().SerializeAsString() != globals.encap().SerializeAsString()) {
    plan.lines.push_back(absl::StrCat("set encap source prefixes ",
                                      globals.encap().source_v4_prefix(), " and ",
                                      globals.encap().source_v6_prefix()));
  }
  xlb_settings wide = next.settings;
  if (cur_.settings_written) {
    wide.nr_wildcard_vips = std::max(cur_.settings.nr_wildcard_vips, nr_wildcard);
    nat::writeFilter(nat::unionFilter(nat::readFilter(cur_.settings), nat::readFilter(wide)),
                     wide);
  }
  const xlb_settings os = cur_.settings, s = next.settings;
  if (!cur_.settings_written || !sameBytes(cur_.settings, wide) || in_.resync) {
    ph.set_settings.push_back({"write settings", [&dp, wide] { return dp.setSettings(wide); },
                               [&dp, os] { return dp.setSettings(os); }});
  }
  if (!sameBytes(wide, s)) {
    ph.shrink_settings.push_back({"write settings", [&dp, s] { return dp.setSettings(s); },
                                  [&dp, wide] { return dp.setSettings(wide); }});
  }
}

// VLAN acceptance: flag and config ids together, the whole set written when it changes (the map
// is pinned: a restarted agent rewrites the same set).
void Planner::planVlans(const v1::Config& globals, Plan& plan, Phases& ph) {
  dataplane::Dataplane& dp = *in_.dp;
  std::vector<uint32_t> vlans = in_.flag_vlans;
  vlans.insert(vlans.end(), globals.vlan_ids().begin(), globals.vlan_ids().end());
  std::sort(vlans.begin(), vlans.end());
  vlans.erase(std::unique(vlans.begin(), vlans.end()), vlans.end());
  plan.next.vlans = vlans;
  plan.next.vlans_written = true;
  if (cur_.vlans_written && cur_.vlans == vlans && !in_.resync) return;
  if (cur_.vlans_written ? cur_.vlans != vlans : !vlans.empty()) {
    plan.lines.push_back(absl::StrCat("set accepted VLAN ids ", config::formatVlanIdList(vlans)));
  }
  // Before the first write the map's content is unknown: undo restores the default (none).
  std::vector<uint32_t> old = cur_.vlans;
  ph.set_vlans.push_back({"write accepted VLAN ids",
                          [&dp, vlans] { return dp.setAcceptedVlans(vlans); },
                          [&dp, old] { return dp.setAcceptedVlans(old); }});
}

}  // namespace xlb::state
