// SPDX-License-Identifier: Apache-2.0
// The pool-level discovery rules (pool.h).
#include "discovery/pool.h"

#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "config/discovery.h"
#include "config/enums.h"
#include "config/validate.h"
#include "nat/endpoint.h"

namespace xlb::discovery {
namespace {

using Key = std::pair<std::string, uint32_t>;  // canonical address, effective port

uint32_t effectivePort(const v1::Vip& spec, uint32_t port) {
  return nat::effectivePort(port, static_cast<uint16_t>(spec.port()));
}

Key keyOf(const v1::Vip& spec, const v1::Backend& b) {
  return {config::canonicalAddress(b.address()), effectivePort(spec, b.port())};
}

bool sameName(const std::string& a, const std::string& b) {
  return absl::AsciiStrToLower(a) == absl::AsciiStrToLower(b);
}

// A record as a backend of `spec`, or nullopt when the VIP cannot use it (a port dsr/ipip cannot
// deliver to; a family nat cannot translate to).
std::optional<v1::Backend> backendOf(const v1::Vip& spec, const NameSet& n, const Record& r,
                                     uint64_t now) {
  const uint32_t port = r.port != 0 ? r.port : spec.dns().port();
  if (!config::isNat(spec.forwarding()) && port != 0 && port != spec.port()) return std::nullopt;
  if (config::isNat(spec.forwarding())) {
    auto vip = parseIpAddress(spec.address());
    if (vip.ok() && vip->family != r.address.family) return std::nullopt;
  }
  v1::Backend b;
  b.set_address(r.address.toString());
  b.set_port(port == spec.port() ? 0 : port);
  b.set_weight(r.weight);
  b.set_state(v1::BACKEND_STATE_ACTIVE);
  auto* s = b.mutable_source();
  s->set_kind(n.kind);
  s->set_name(n.name);
  s->set_record(r.record);
  s->set_resolved_unix_ms(now);
  return b;
}

std::string labelOf(const v1::Backend& b) {
  return b.port() == 0 ? b.address() : absl::StrCat(b.address(), ":", b.port());
}

}  // namespace

PoolPlan planPool(const v1::Vip& spec, const std::vector<NameSet>& names, uint64_t now,
                  const std::function<std::optional<uint64_t>(const v1::Backend&)>& open_flows) {
  PoolPlan plan;
  std::set<Key> literals;
  std::vector<v1::Backend> current;
  for (const v1::Backend& b : spec.backends()) {
    if (config::isDiscovered(b)) {
      current.push_back(b);
    } else {
      literals.insert(keyOf(spec, b));
    }
  }
  // What the answers say, first name first.
  std::map<Key, v1::Backend> desired;
  std::vector<Key> desired_order;
  for (const NameSet& n : names) {
    if (n.records == nullptr) continue;
    for (const Record& r : *n.records) {
      auto b = backendOf(spec, n, r, now);
      if (!b) continue;
      Key k = keyOf(spec, *b);
      if (literals.count(k) || desired.count(k)) continue;
      desired.emplace(k, *b);
      desired_order.push_back(k);
    }
  }
  if (desired.empty() && literals.empty() && !spec.allow_empty()) {
    // Never empty through discovery: the active set stays as it is.
    for (const v1::Backend& b : current) {
      if (b.source().gone_unix_ms() != 0) continue;
      Key k = keyOf(spec, b);
      desired.emplace(k, b);
      desired_order.push_back(k);
    }
    plan.kept_nonempty = !desired.empty();
  }
  const uint64_t drain_limit = config::effectiveDiscoveryOptions(spec).drain_limit_ms();
  std::set<Key> placed;
  for (const v1::Backend& cur : current) {
    const Key k = keyOf(spec, cur);
    auto it = desired.find(k);
    if (it != desired.end()) {
      v1::Backend next = cur;
      const v1::Backend& want = it->second;
      const bool was_gone = cur.source().gone_unix_ms() != 0;
      if (was_gone || cur.weight() != want.weight() ||
          cur.source().record() != want.source().record() ||
          !sameName(cur.source().name(), want.source().name()) ||
          cur.source().kind() != want.source().kind()) {
        next.set_weight(want.weight());
        *next.mutable_source() = want.source();
        if (was_gone) {
          next.set_state(v1::BACKEND_STATE_ACTIVE);
          plan.added.push_back(labelOf(next));
        }
      }
      plan.backends.push_back(next);
      placed.insert(k);
      continue;
    }
    if (cur.source().gone_unix_ms() == 0) {
      v1::Backend next = cur;
      next.set_state(v1::BACKEND_STATE_DRAINING);
      next.mutable_source()->set_gone_unix_ms(now);
      plan.backends.push_back(next);
      plan.draining.push_back(labelOf(next));
      continue;
    }
    const std::optional<uint64_t> flows = open_flows ? open_flows(cur) : std::nullopt;
    if ((flows && *flows == 0) || now - cur.source().gone_unix_ms() >= drain_limit) {
      plan.removed.push_back(labelOf(cur));
      continue;
    }
    plan.backends.push_back(cur);
  }
  for (const Key& k : desired_order) {
    if (placed.count(k)) continue;
    plan.backends.push_back(desired.at(k));
    plan.added.push_back(labelOf(desired.at(k)));
  }
  // Changed: anything but the order-preserving identity.
  if (plan.backends.size() != current.size()) {
    plan.changed = true;
  } else {
    for (size_t i = 0; i < current.size(); ++i) {
      if (plan.backends[i].SerializeAsString() != current[i].SerializeAsString()) {
        plan.changed = true;
        break;
      }
    }
  }
  return plan;
}

std::vector<Record> recordsOf(const v1::Vip& spec, const std::string& name) {
  std::vector<Record> out;
  for (const v1::Backend& b : spec.backends()) {
    if (!config::isDiscovered(b) || b.source().gone_unix_ms() != 0) continue;
    if (!sameName(b.source().name(), name)) continue;
    auto addr = parseIpAddress(b.address());
    if (!addr.ok()) continue;
    Record r;
    r.address = *addr;
    r.weight = b.has_weight() ? b.weight() : 1;
    r.record = b.source().record();
    if (b.source().kind() == v1::BACKEND_SOURCE_KIND_SRV) {
      r.port = static_cast<uint16_t>(effectivePort(spec, b.port()));
    }
    out.push_back(r);
  }
  return out;
}

}  // namespace xlb::discovery
