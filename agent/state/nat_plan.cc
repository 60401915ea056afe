// SPDX-License-Identifier: Apache-2.0
// The NAT part of the planner: SNAT pools (xlb_snat), reply-filter endpoints (xlb_nat_eps) and the
// settings' filter fields, recomputed from the nat/fullnat VIPs of every plan (VIPs in other modes
// cost one check each).
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "config/enums.h"
#include "nat/collector.h"
#include "nat/endpoint.h"
#include "state/plan_internal.h"
#include "state/planner.h"

namespace xlb::state {
namespace {

std::string describePool(const xlb_snat& s) {
  return absl::StrCat(s.nr4 + s.nr6, s.nr4 + s.nr6 == 1 ? " address" : " addresses", ", ports ",
                      s.port_min, "-", s.port_max);
}

}  // namespace

void Planner::planNat(const v1::Config& globals, Plan& plan, Phases& ph) {
  Model& next = plan.next;
  dataplane::Dataplane& dp = *in_.dp;
  const bool resync = in_.resync;

  // Without NAT before or in any VIP this plan changed there is nothing to compute, and no reason
  // to look at the VIPs it did not change.
  if (!resync && !cur_.any_nat && cur_.snat.empty() && cur_.eps.empty() &&
      std::none_of(plan.changed.begin(), plan.changed.end(), [&next](const config::VipKey& k) {
        const VipEntry* e = next.vip(k);
        return e != nullptr && config::isNat(e->spec.forwarding());
      })) {
    next.any_nat = false;
    nat::writeFilter(nat::computeNatDataplane({}).filter, next.settings);
    return;
  }
  std::vector<nat::NatVipSpec> specs;
  next.any_nat = false;
  for (const auto& [key, e] : next.vips) {
    const v1::Vip& vip = e->spec;
    if (!config::isNat(vip.forwarding())) continue;
    next.any_nat = true;
    nat::NatVipSpec s;
    s.id = e->id;
    s.mode = vip.forwarding();
    s.proto = key.protocol == v1::PROTOCOL_UDP ? IPPROTO_UDP : IPPROTO_TCP;
    s.pool = nat::effectivePool(globals, vip);
    for (const auto& [bk, m] : e->members) s.backends.push_back({m.id, bk.address, bk.port});
    specs.push_back(std::move(s));
  }
  nat::NatDataplane want = nat::computeNatDataplane(specs);
  nat::writeFilter(want.filter, next.settings);
  next.snat = want.snat;
  next.eps = want.eps;

  auto vipName = [&next](uint32_t id) {
    for (const auto& [key, e] : next.vips) {
      if (e->id == id) return key.toString();
    }
    return absl::StrCat("id ", id);
  };
  for (const auto& [vid, s] : want.snat) {
    auto old = cur_.snat.find(vid);
    if (old != cur_.snat.end() && sameBytes(old->second, s) && !resync) continue;
    const xlb_snat os = old != cur_.snat.end() ? old->second : xlb_snat{};
    if (old == cur_.snat.end() || !sameBytes(old->second, s)) {
      plan.lines.push_back(
          absl::StrCat("set SNAT pool of vip ", vipName(vid), " (", describePool(s), ")"));
    }
    ph.set_snat.push_back({absl::StrCat("write SNAT pool of vip ", vipName(vid)),
                           [&dp, vid, s] { return dp.setSnat(vid, s); },
                           [&dp, vid, os] { return dp.setSnat(vid, os); }});
  }
  for (const auto& [vid, os] : cur_.snat) {
    if (want.snat.count(vid)) continue;
    ph.del_snat.push_back({absl::StrCat("clear SNAT pool of vip id ", vid),
                           [&dp, vid] { return dp.setSnat(vid, xlb_snat{}); },
                           [&dp, vid, os] { return dp.setSnat(vid, os); }});
  }
  for (const nat::NatEpKey& k : want.eps) {
    if (cur_.eps.count(k) && !resync) continue;
    const xlb_nat_ep ep = k.ep();
    const bool existed = cur_.eps.count(k) > 0;
    ph.add_eps.push_back({absl::StrCat("add NAT endpoint ", k.toString()),
                          [&dp, ep] { return dp.upsertNatEndpoint(ep); },
                          [&dp, ep, existed] {
                            return existed ? absl::OkStatus() : dp.deleteNatEndpoint(ep);
                          }});
  }
  for (const nat::NatEpKey& k : cur_.eps) {
    if (want.eps.count(k)) continue;
    const xlb_nat_ep ep = k.ep();
    ph.del_eps.push_back({absl::StrCat("remove NAT endpoint ", k.toString()),
                          [&dp, ep] { return dp.deleteNatEndpoint(ep); },
                          [&dp, ep] { return dp.upsertNatEndpoint(ep); }});
  }
}

}  // namespace xlb::state
