// SPDX-License-Identifier: Apache-2.0
// State's single-object changes (AddVip, DeleteVip, AddBackend, DeleteBackend, SetBackendWeight),
// each a full transaction through applyLocked; backends named by "ADDR", "ADDR:PORT" or
// "[V6]:PORT"; and the id view stats/ and api/ read.
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
#include "nat/endpoint.h"
#include "spdlog/spdlog.h"
#include "state/plan_internal.h"

namespace xlb::state {

using config::VipKey;

int State::findVip(const VipKey& key) const {
  for (int i = 0; i < model_.config.vips_size(); ++i) {
    auto k = config::vipKeyOf(model_.config.vips(i));
    if (k.ok() && *k == key) return i;
  }
  return -1;
}

absl::StatusOr<v1::Vip> State::vipLocked(const VipKey& key) const {
  int i = findVip(key);
  if (i < 0) return absl::NotFoundError(absl::StrCat("vip ", key.toString(), " not found"));
  return model_.config.vips(i);
}

absl::StatusOr<v1::Vip> State::addVip(const v1::Vip& vip) {
  if (auto st = config::validateVip(vip, "vip"); !st.ok()) return st;
  auto key = config::vipKeyOf(vip);
  if (!key.ok()) return key.status();
  std::lock_guard lock(mu_);
  if (findVip(*key) >= 0) {
    return absl::AlreadyExistsError(absl::StrCat(
        "vip ", key->toString(), " already exists (delete it first, or change it with apply)"));
  }
  if (!vip.name().empty()) {
    for (const auto& other : model_.config.vips()) {
      if (other.name() == vip.name()) {
        auto other_key = config::vipKeyOf(other);
        return absl::AlreadyExistsError(absl::StrCat(
            "vip.name: \"", vip.name(), "\" is already used by vip ",
            other_key.ok() ? other_key->toString() : other.address(), " (names must be unique)"));
      }
    }
  }
  v1::Config next = model_.config;
  *next.add_vips() = config::normalizeVip(vip);
  if (auto st = applyLocked(next, false, nullptr); !st.ok()) return st;
  return vipLocked(*key);
}

absl::Status State::deleteVip(const v1::VipKey& key_proto) {
  auto key = config::vipKeyOf(key_proto);
  if (!key.ok()) return key.status();
  std::lock_guard lock(mu_);
  int i = findVip(*key);
  if (i < 0) return absl::NotFoundError(absl::StrCat("vip ", key->toString(), " not found"));
  v1::Config next = model_.config;
  next.mutable_vips()->DeleteSubrange(i, 1);
  return applyLocked(next, false, nullptr);
}

namespace {

// Indexes of the VIP's backends at `address` (compared as addresses, not strings) on `port`
// (effective; any port when absent).
std::vector<int> findBackends(const VipKey& key, const v1::Vip& vip, const IpAddress& address,
                              std::optional<uint16_t> port) {
  std::vector<int> out;
  for (int i = 0; i < vip.backends_size(); ++i) {
    auto bk = backendKeyOf(key, vip.backends(i));
    if (bk.ok() && bk->address == address && (!port || bk->port == *port)) out.push_back(i);
  }
  return out;
}

}  // namespace

absl::StatusOr<v1::Vip> State::addBackend(const v1::VipKey& key_proto, const v1::Backend& backend) {
  auto key = config::vipKeyOf(key_proto);
  if (!key.ok()) return key.status();
  if (auto st = config::validateBackend(backend, "backend"); !st.ok()) return st;
  auto address = *parseIpAddress(backend.address());
  std::lock_guard lock(mu_);
  int i = findVip(*key);
  if (i < 0) return absl::NotFoundError(absl::StrCat("vip ", key->toString(), " not found"));
  const uint16_t port = nat::effectivePort(backend.port(), key->port);
  if (!findBackends(*key, model_.config.vips(i), address, port).empty()) {
    return absl::AlreadyExistsError(absl::StrCat("backend ",
                                                 backendLabel(*key, BackendKey{address, port}),
                                                 " already exists in vip ", key->toString()));
  }
  v1::Config next = model_.config;
  v1::Backend* b = next.mutable_vips(i)->add_backends();
  *b = backend;
  b->set_address(address.toString());
  if (!b->has_weight()) b->set_weight(1);
  if (auto st = applyLocked(next, false, nullptr); !st.ok()) return st;
  return vipLocked(*key);
}

absl::StatusOr<State::BackendRef> State::findBackendLocked(const v1::VipKey& key_proto,
                                                           const std::string& address_text) const {
  auto key = config::vipKeyOf(key_proto);
  if (!key.ok()) return key.status();
  auto ref = nat::parseEndpointRef(address_text, "address");
  if (!ref.ok()) return ref.status();
  int i = findVip(*key);
  if (i < 0) return absl::NotFoundError(absl::StrCat("vip ", key->toString(), " not found"));
  const v1::Vip& vip = model_.config.vips(i);
  std::vector<int> found = findBackends(*key, vip, ref->address, ref->port);
  if (found.empty()) {
    const std::string named =
        ref->port ? formatHostPort(ref->address, *ref->port) : ref->address.toString();
    return absl::NotFoundError(
        absl::StrCat("backend ", named, " not found in vip ", key->toString()));
  }
  if (found.size() > 1) {
    std::vector<std::string> candidates;
    for (int b : found) {
      auto bk = backendKeyOf(*key, vip.backends(b));
      if (bk.ok()) candidates.push_back(formatHostPort(bk->address, bk->port));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "address: \"", address_text, "\" matches ", found.size(), " backends of vip ",
        key->toString(), " (", absl::StrJoin(candidates, ", "), "): name one as ADDR:PORT"));
  }
  return BackendRef{*key, i, found[0]};
}

absl::StatusOr<v1::Vip> State::deleteBackend(const v1::VipKey& key_proto,
                                             const std::string& address_text) {
  std::lock_guard lock(mu_);
  auto ref = findBackendLocked(key_proto, address_text);
  if (!ref.ok()) return ref.status();
  v1::Config next = model_.config;
  next.mutable_vips(ref->vip)->mutable_backends()->DeleteSubrange(ref->backend, 1);
  if (auto st = applyLocked(next, false, nullptr); !st.ok()) return st;
  return vipLocked(ref->key);
}

absl::StatusOr<v1::Vip> State::setBackendWeight(const v1::VipKey& key_proto,
                                                const std::string& address_text, uint32_t weight) {
  if (auto st = config::validateWeight(weight, "weight"); !st.ok()) return st;
  std::lock_guard lock(mu_);
  auto ref = findBackendLocked(key_proto, address_text);
  if (!ref.ok()) return ref.status();
  v1::Config next = model_.config;
  next.mutable_vips(ref->vip)->mutable_backends(ref->backend)->set_weight(weight);
  if (auto st = applyLocked(next, false, nullptr); !st.ok()) return st;
  return vipLocked(ref->key);
}

std::vector<VipIds> State::ids() const {
  std::lock_guard lock(mu_);
  std::vector<VipIds> out;
  for (const v1::Vip& spec : model_.config.vips()) {
    auto key = config::vipKeyOf(spec);
    if (!key.ok()) continue;
    auto it = model_.vips.find(*key);
    if (it == model_.vips.end()) continue;
    VipIds v;
    v.key = *key;
    v.name = spec.name();
    v.id = it->second.id;
    for (const v1::Backend& b : spec.backends()) {
      auto bk = backendKeyOf(*key, b);
      if (!bk.ok()) continue;
      auto m = it->second.members.find(*bk);
      if (m == it->second.members.end()) continue;
      BackendIds bi;
      bi.address = backendLabel(*key, *bk);
      bi.ip = bk->address;
      bi.port = bk->port;
      bi.weight = b.weight();
      bi.id = m->second.id;
      bi.state = b.state() == v1::BACKEND_STATE_DRAINING ? v1::BACKEND_STATE_DRAINING
                                                         : v1::BACKEND_STATE_ACTIVE;
      auto rec = health_.find(healthKey(*key, *bk));
      bi.health = rec != health_.end() && rec->second.checked ? toProtoHealth(rec->second.health)
                                                              : v1::HEALTH_UP;
      v.backends.push_back(std::move(bi));
    }
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace xlb::state
