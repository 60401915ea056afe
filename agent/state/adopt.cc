// SPDX-License-Identifier: Apache-2.0
// State::adopt: taking over what a previous agent left in the pinned maps (ids, generations,
// health-down verdicts, backend ports, NAT pools and endpoints), before the first apply.
#include "state/state.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/enums.h"
#include "nat/endpoint.h"
#include "spdlog/spdlog.h"
#include "state/plan_internal.h"

namespace xlb::state {

using config::VipKey;

absl::Status State::adopt(const dataplane::DataplaneContents& contents) {
  std::lock_guard lock(mu_);
  if (model_.settings_written || !model_.vips.empty()) {
    return absl::FailedPreconditionError("adopt() must run before the first change is applied");
  }
  auto validFamily = [](uint8_t f) { return f == XLB_AF_INET || f == XLB_AF_INET6; };

  // Generations only ever grow, also across agents: a flow recorded against (id, gen) must never
  // match a different backend assigned to that id later.
  for (const auto& [id, b] : contents.backends) {
    if (id < gens_.size()) gens_[id] = std::max(gens_[id], b.gen);
  }

  std::map<uint32_t, VipKey> by_id;
  std::map<VipKey, VipEntry> adopted;
  for (const auto& [k, v] : contents.vips) {
    v1::Protocol proto = k.proto == IPPROTO_TCP   ? v1::PROTOCOL_TCP
                         : k.proto == IPPROTO_UDP ? v1::PROTOCOL_UDP
                                                  : v1::PROTOCOL_UNSPECIFIED;
    if (!validFamily(k.family) || proto == v1::PROTOCOL_UNSPECIFIED || v.vip_id >= dataplane_.capacity().vips ||
        by_id.count(v.vip_id)) {
      model_.stray_vips.push_back(k);
      continue;
    }
    VipEntry e;
    e.key = VipKey{addressOf(k.addr, k.family), ntohs(k.port), proto};
    e.id = v.vip_id;
    e.value = v;
    e.adopted = true;
    e.spec.set_address(e.key.address.toString());
    e.spec.set_port(e.key.port);
    e.spec.set_protocol(proto);
    e.spec.set_algorithm(v1::ALGORITHM_MAGLEV);
    e.spec.set_forwarding(config::forwardingFromAbi(v.fwd_mode));
    e.table_m = 0;  // unknown: forces one rebuild (identical if nothing changed)
    model_.vip_ids.mark(e.id);
    by_id[e.id] = e.key;
    adopted.emplace(e.key, std::move(e));
  }
  size_t members = 0;
  size_t adopted_down = 0;
  std::map<uint32_t, uint16_t> port_of;  // backend id -> xlb_be_nat port (host order)
  for (const auto& [id, bn] : contents.backend_nat) port_of[id] = ntohs(bn.port);
  for (const auto& [id, b] : contents.backends) {
    // A deleted slot (neither flag) is free; a health-down one (DOWN) is still a member.
    const bool down = !(b.flags & XLB_BE_F_ACTIVE) && (b.flags & XLB_BE_F_DOWN);
    if (!(b.flags & XLB_BE_F_ACTIVE) && !down) continue;
    auto owner = by_id.find(b.vip_id);
    IpAddress a = addressOf(b.addr, b.family);
    // A slot an older agent wrote has no port (0): it is the VIP's, as before ports existed.
    uint16_t port = port_of.count(id) ? port_of[id] : 0;
    if (port == 0 && owner != by_id.end()) port = owner->second.port;
    const BackendKey bk{a, port};
    if (owner == by_id.end() || !validFamily(b.family) || id >= dataplane_.capacity().backends ||
        adopted[owner->second].members.count(bk)) {
      model_.stray_backends.push_back(id);
      model_.backend_ids.mark(id);
      continue;
    }
    VipEntry& e = adopted[owner->second];
    Member m;
    m.id = id;
    m.gen = b.gen;
    m.address = a;
    m.port = port;
    m.value = b;
    m.label = backendLabel(owner->second, bk);
    m.health_key = healthKey(owner->second, bk);
    m.spec_index = e.spec.backends_size();
    if (port_of.count(id)) m.be_nat.port = htons(port_of[id]);
    if (down) {
      // Health verdicts survive a restart: the backend stays out of rotation until its checks
      // succeed `rise` times (the checker is seeded with this verdict when it gets the target).
      m.health.checked = true;
      m.health.health = health::Health::kDown;
      m.health.last_reason = "down when the previous agent stopped (pinned backend entry)";
      ++adopted_down;
    }
    e.members.emplace(bk, m);
    v1::Backend* spec_b = e.spec.add_backends();
    spec_b->set_address(a.toString());
    if (port != e.key.port) spec_b->set_port(port);
    model_.backend_ids.mark(id);
    ++members;
  }
  for (uint32_t vid : contents.table_vip_ids) {
    if (by_id.count(vid)) continue;
    model_.stray_tables.push_back(vid);
    model_.vip_ids.mark(vid);
  }
  for (const auto& [k, v] : contents.addrs) {
    IpAddress a = addressOf(k.addr, k.family);
    // The VIPs on an address are one range of the key-ordered map (address first).
    auto first = adopted.lower_bound(VipKey{a, 0, v1::PROTOCOL_UNSPECIFIED});
    if (first == adopted.end() || first->first.address != a) {
      model_.stray_addrs.push_back(k);
    } else {
      model_.addrs.set(a, v);  // as written: the first apply diffs against it
      model_.nr_wildcard += v.nr_wildcard;
    }
  }
  // NAT pools and endpoints as the previous agent left them: the first apply diffs against them.
  for (uint32_t vid : contents.snat_vip_ids) model_.snat[vid] = xlb_snat{};
  for (const xlb_nat_ep& ep : contents.nat_eps) model_.eps.insert(nat::NatEpKey::of(ep));
  for (auto& [key, e] : adopted) {
    e.spec.SerializeToString(&e.spec_bytes);
    model_.any_nat |= config::isNat(e.spec.forwarding());
    e.seq = model_.appendSeq();  // key order: the maps do not keep the config's
    model_.putVip(std::make_shared<const VipEntry>(std::move(e)));
  }
  // The adopted counts and settings may be half-written (an agent killed mid-change): rewrite all.
  resync_ = !model_.vips.empty() || !contents.backends.empty();
  size_t strays = model_.stray_vips.size() + model_.stray_addrs.size() +
                  model_.stray_tables.size() + model_.stray_backends.size();
  if (!model_.vips.empty() || strays > 0) {
    spdlog::info(
        "state: adopted {} VIPs and {} backends ({} health-down) from the pinned maps ({} stale "
        "entries)",
        model_.vips.size(), members, adopted_down, strays);
  }
  // Adopted down verdicts: onHealthTransition finds them once the first apply checks them.
  config_token_ = std::make_shared<int>(0);
  publishLocked();
  return absl::OkStatus();
}

}  // namespace xlb::state
