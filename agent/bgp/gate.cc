// SPDX-License-Identifier: Apache-2.0
// evaluateGate: per VIP address, announce or not, and why.
#include "bgp/gate.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "config/bgp.h"
#include "config/validate.h"

namespace xlb::bgp {
namespace {

std::string keyText(const v1::VipKey& k) {
  auto key = config::vipKeyOf(k);
  return key.ok() ? key->toString() : k.address();
}

const v1::VipStatus* findStatus(const std::vector<v1::VipStatus>& all, const v1::Vip& vip) {
  auto want = config::vipKeyOf(vip);
  if (!want.ok()) return nullptr;
  for (const v1::VipStatus& s : all) {
    auto k = config::vipKeyOf(s.vip());
    if (k.ok() && *k == *want) return &s;
  }
  return nullptr;
}

}  // namespace

std::string prefixOf(const std::string& address, bool* v6) {
  auto a = parseIpAddress(address);
  const bool is6 = a.ok() && !a->isV4();
  if (v6 != nullptr) *v6 = is6;
  return absl::StrCat(a.ok() ? a->toString() : address, is6 ? "/128" : "/32");
}

GateInput gateInputOf(std::shared_ptr<const v1::Config> config,
                      const std::vector<state::VipIds>& ids, bool attached) {
  GateInput in;
  in.config = std::move(config);
  in.attached = attached;
  for (const state::VipIds& v : ids) {
    v1::VipStatus s;
    *s.mutable_vip() = v.key.toProto();
    s.set_table_size(v.table_size);
    for (const state::BackendIds& b : v.backends) {
      v1::BackendStatus* bs = s.add_backends();
      bs->set_address(b.address);
      bs->set_health(b.health);
      bs->set_state(b.state);
      bs->set_in_rotation(b.weight > 0 && b.state != v1::BACKEND_STATE_DRAINING &&
                          b.health != v1::HEALTH_DOWN);
    }
    in.vips.push_back(std::move(s));
  }
  return in;
}

std::function<GateInput()> stateGateInput(const state::State& state, bool attached) {
  struct Cache {
    std::shared_ptr<const void> token;
    std::shared_ptr<const v1::Config> config;
  };
  auto cache = std::make_shared<Cache>();
  return [&state, attached, cache] {
    if (auto token = state.snapshotToken(); token != cache->token || !cache->config) {
      auto parts = state.configParts();
      if (parts) {
        // config() of that snapshot, from its parts; without a bgp section nothing here reads
        // the VIPs: the globals alone, not a copy of 10,000 VIPs after every change.
        v1::Config config = std::move(parts->globals);
        if (config.has_bgp()) {
          config.mutable_vips()->Reserve(static_cast<int>(parts->vips.size()));
          for (const state::EntryPtr& e : parts->vips.values()) *config.add_vips() = e->spec;
        }
        cache->token = std::move(parts->token);
        cache->config = std::make_shared<const v1::Config>(std::move(config));
      } else {
        cache->token = token;
        cache->config = std::make_shared<const v1::Config>(state.config());  // adopted VIPs
      }
    }
    if (!cache->config->has_bgp()) {
      GateInput idle;
      idle.config = cache->config;
      return idle;
    }
    return gateInputOf(cache->config, *state.sharedIds(), attached);
  };
}

std::map<std::string, PrefixVerdict> evaluateGate(const GateInput& in) {
  std::map<std::string, PrefixVerdict> out;
  if (!in.config->has_bgp()) return out;
  const v1::BgpSettings& bgp = in.config->bgp();
  std::vector<uint32_t> base;
  for (const std::string& c : bgp.communities()) {
    if (auto v = config::parseCommunity(c, "bgp.communities"); v.ok()) base.push_back(*v);
  }
  struct Acc {
    int announced = 0;  // VIPs on the address that want it announced
    std::string failure;
    std::vector<std::string> healthy;
    bool med_set = false;
  };
  std::map<std::string, Acc> acc;
  for (const v1::Vip& vip : in.config->vips()) {
    bool v6 = false;
    const std::string prefix = prefixOf(vip.address(), &v6);
    auto [it, fresh] = out.try_emplace(prefix);
    PrefixVerdict& v = it->second;
    Acc& a = acc[prefix];
    if (fresh) {
      v.route.prefix = prefix;
      v.route.v6 = v6;
      v.route.med = bgp.med();
      v.route.communities = base;
    }
    auto key = config::vipKeyOf(vip);
    v1::VipKey pkey = key.ok() ? key->toProto() : v1::VipKey();
    v.vips.push_back(pkey);
    if (!config::vipAnnounced(vip)) continue;
    ++a.announced;
    if (vip.bgp().has_med() && !a.med_set) {
      v.route.med = vip.bgp().med();
      a.med_set = true;
    }
    for (const std::string& c : vip.bgp().communities()) {
      if (auto cv = config::parseCommunity(c, "bgp.communities"); cv.ok()) {
        v.route.communities.push_back(*cv);
      }
    }
    if (!a.failure.empty()) continue;
    const std::string name = keyText(pkey);
    const v1::VipStatus* st = findStatus(in.vips, vip);
    if (st == nullptr || st->table_size() == 0) {
      a.failure = absl::StrCat("vip ", name, ": selection table not installed");
      continue;
    }
    uint32_t healthy = 0;
    for (const v1::BackendStatus& b : st->backends()) {
      if (b.in_rotation() && b.health() != v1::HEALTH_DOWN) ++healthy;
    }
    const uint32_t need = config::vipMinHealthyBackends(vip);
    if (healthy < need) {
      a.failure = absl::StrCat("vip ", name, ": ", healthy, " of ", st->backends_size(),
                               " backends healthy, needs ", need);
      continue;
    }
    a.healthy.push_back(absl::StrCat(name, " ", healthy, "/", st->backends_size()));
  }
  for (auto& [prefix, v] : out) {
    Acc& a = acc[prefix];
    auto& c = v.route.communities;
    std::sort(c.begin(), c.end());
    c.erase(std::unique(c.begin(), c.end()), c.end());
    if (!in.attached) {
      v.reason = "balancer program not attached";
    } else if (a.announced == 0) {
      v.reason = "bgp.announce is false for every VIP on this address";
    } else if (!a.failure.empty()) {
      v.reason = a.failure;
    } else {
      v.pass = true;
      v.reason = "healthy (";
      for (size_t i = 0; i < a.healthy.size(); ++i) {
        absl::StrAppend(&v.reason, i ? ", " : "", a.healthy[i]);
      }
      absl::StrAppend(&v.reason, " backends)");
    }
  }
  return out;
}

}  // namespace xlb::bgp
