// SPDX-License-Identifier: Apache-2.0
// The NAT part of State's plan: SNAT pools (xlb_snat), reply-filter endpoints (xlb_nat_eps) and
// the settings' filter fields, recomputed from the VIPs, backends and pools of every plan; and the
// VIP view the NAT collector and ListNat read.
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "nat/collector.h"
#include "nat/endpoint.h"
#include "state/plan_internal.h"

namespace xlb::state {
namespace {

bool sameSnat(const xlb_snat& a, const xlb_snat& b) { return std::memcmp(&a, &b, sizeof(a)) == 0; }

std::string describePool(const xlb_snat& s) {
  return absl::StrCat(s.nr4 + s.nr6, s.nr4 + s.nr6 == 1 ? " address" : " addresses", ", ports ",
                      s.port_min, "-", s.port_max);
}

}  // namespace

void State::planNat(const v1::Config& desired, Plan& plan, NatSteps& steps) {
  const Model& cur = model_;
  Model& next = plan.next;
  dataplane::Dataplane& dp = dataplane_;

  std::vector<nat::NatVipSpec> specs;
  for (const v1::Vip& vip : desired.vips()) {
    auto key = config::vipKeyOf(vip);
    if (!key.ok()) continue;
    auto it = next.vips.find(*key);
    if (it == next.vips.end()) continue;
    nat::NatVipSpec s;
    s.id = it->second.id;
    s.mode = vip.forwarding();
    s.proto = key->protocol == v1::PROTOCOL_UDP ? IPPROTO_UDP : IPPROTO_TCP;
    s.pool = nat::effectivePool(desired, vip);
    for (const auto& [bk, m] : it->second.members) s.backends.push_back({m.id, bk.address, bk.port});
    specs.push_back(std::move(s));
  }
  nat::NatDataplane want = nat::computeNatDataplane(specs);
  nat::writeFilter(want.filter, next.settings);
  next.snat = want.snat;
  next.eps = want.eps;

  auto vipName = [&next](uint32_t id) {
    for (const auto& [key, e] : next.vips) {
      if (e.id == id) return key.toString();
    }
    return absl::StrCat("id ", id);
  };
  for (const auto& [vid, s] : want.snat) {
    auto old = cur.snat.find(vid);
    if (old != cur.snat.end() && sameSnat(old->second, s) && !resync_) continue;
    const xlb_snat os = old != cur.snat.end() ? old->second : xlb_snat{};
    if (old == cur.snat.end() || !sameSnat(old->second, s)) {
      plan.lines.push_back(absl::StrCat("set SNAT pool of vip ", vipName(vid), " (",
                                        describePool(s), ")"));
    }
    steps.set_snat.push_back({absl::StrCat("write SNAT pool of vip ", vipName(vid)),
                              [&dp, vid, s] { return dp.setSnat(vid, s); },
                              [&dp, vid, os] { return dp.setSnat(vid, os); }});
  }
  for (const auto& [vid, os] : cur.snat) {
    if (want.snat.count(vid)) continue;
    steps.del_snat.push_back({absl::StrCat("clear SNAT pool of vip id ", vid),
                              [&dp, vid] { return dp.setSnat(vid, xlb_snat{}); },
                              [&dp, vid, os] { return dp.setSnat(vid, os); }});
  }
  for (const nat::NatEpKey& k : want.eps) {
    if (cur.eps.count(k) && !resync_) continue;
    const xlb_nat_ep ep = k.ep();
    const bool existed = cur.eps.count(k) > 0;
    steps.add_eps.push_back({absl::StrCat("add NAT endpoint ", k.toString()),
                             [&dp, ep] { return dp.upsertNatEndpoint(ep); },
                             [&dp, ep, existed] {
                               return existed ? absl::OkStatus() : dp.deleteNatEndpoint(ep);
                             }});
  }
  for (const nat::NatEpKey& k : cur.eps) {
    if (want.eps.count(k)) continue;
    const xlb_nat_ep ep = k.ep();
    steps.del_eps.push_back({absl::StrCat("remove NAT endpoint ", k.toString()),
                             [&dp, ep] { return dp.deleteNatEndpoint(ep); },
                             [&dp, ep] { return dp.upsertNatEndpoint(ep); }});
  }
}

nat::NatVipMap State::natVips() const {
  std::lock_guard lock(mu_);
  nat::NatVipMap out;
  for (const v1::Vip& spec : model_.config.vips()) {
    auto key = config::vipKeyOf(spec);
    if (!key.ok()) continue;
    auto it = model_.vips.find(*key);
    if (it == model_.vips.end()) continue;
    nat::NatVipInfo info;
    info.id = it->second.id;
    info.key = *key;
    info.name = spec.name();
    info.mode = spec.forwarding();
    info.timeouts = nat::timeoutsOf(spec.nat_timeouts());
    out.emplace(info.id, std::move(info));
  }
  return out;
}

void State::setLocalPortRangeReader(nat::LocalPortRangeReader reader) {
  std::lock_guard lock(mu_);
  local_port_range_ = std::move(reader);
}

}  // namespace xlb::state
