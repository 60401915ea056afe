// SPDX-License-Identifier: Apache-2.0
// Internal to inspect/: what the Inspector's flow listing (inspector.cc) and its Explainer
// (explain.h) share: the agent's view of the VIPs, a per-request backend slot cache, key
// conversions.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/address.h"
#include "config/enums.h"
#include "config/validate.h"
#include "dataplane/dataplane.h"
#include "nat/gc.h"
#include "state/state.h"
#include "xlb/abi.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::inspect::internal {

inline constexpr uint64_t kNsPerMs = 1000000;

inline v1::Protocol protocolOf(uint8_t proto) {
  return proto == IPPROTO_TCP   ? v1::PROTOCOL_TCP
         : proto == IPPROTO_UDP ? v1::PROTOCOL_UDP
                                : v1::PROTOCOL_UNSPECIFIED;
}

inline const char* protocolText(uint8_t proto) {
  return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?";
}

// The data plane's algorithm and mode values are the proto enums' (abi.h and xlb.proto agree on
// 1..5 and 1..4); an algorithm value this agent does not know selects like maglev, and a mode it
// does not know forwards like dsr, as in BPF.
inline v1::Algorithm algorithmOf(uint8_t alg) { return config::algorithmFromAbi(alg); }
inline v1::ForwardingMode forwardingOf(uint8_t mode) { return config::forwardingFromAbi(mode); }

inline bool isNatMode(uint8_t mode) { return mode == XLB_FWD_NAT || mode == XLB_FWD_FULLNAT; }

// Idle times in sentences: "420ms" below 10 s, then "12.3s".
inline std::string formatMs(uint64_t ms) {
  if (ms < 10000) return absl::StrCat(ms, "ms");
  return absl::StrFormat("%.1fs", static_cast<double>(ms) / 1000.0);
}

inline uint64_t idleMs(uint64_t now_ns, uint64_t last_seen_ns) {
  // last_seen may be a little ahead of a now read on another CPU's clock: that is fresh.
  return last_seen_ns >= now_ns ? 0 : (now_ns - last_seen_ns) / kNsPerMs;
}

// "client:port -> vip:port" of a key, as packets carry it.
inline std::string tupleText(const xlb_flow_key& k) {
  return formatHostPort(addressOf(k.src, k.family), ntohs(k.sport)) + " -> " +
         formatHostPort(addressOf(k.dst, k.family), ntohs(k.dport));
}

// The agent's view of the VIPs, for names and draining flags; the data plane's maps stay the truth
// for everything the packet path reads.
struct AgentView {
  std::vector<state::VipIds> vips;
  nat::NatVipMap nat_vips;  // every VIP by id: mode and NAT timeouts
  std::map<config::VipKey, const state::VipIds*> by_key;
  std::unordered_map<uint32_t, const state::VipIds*> by_id;
  std::unordered_map<uint32_t, const state::BackendIds*> backend_by_id;
  bool any_nat = false;  // some VIP forwards with nat or fullnat

  AgentView(std::vector<state::VipIds> ids, nat::NatVipMap nat)
      : vips(std::move(ids)), nat_vips(std::move(nat)) {
    for (const auto& v : vips) {
      by_key.emplace(v.key, &v);
      by_id.emplace(v.id, &v);
      for (const auto& b : v.backends) backend_by_id.emplace(b.id, &b);
    }
    for (const auto& [id, info] : nat_vips) {
      any_nat |= config::isNat(info.mode);
    }
  }
  AgentView(const AgentView&) = delete;
  AgentView& operator=(const AgentView&) = delete;

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
    if (id >= dp_.capacity().backends) return xlb_backend{};  // no such slot: matches no flow
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

}  // namespace xlb::inspect::internal
