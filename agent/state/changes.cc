// SPDX-License-Identifier: Apache-2.0
// State's single-object changes (AddVip, DeleteVip, AddBackend, DeleteBackend, SetBackendWeight),
// each a transaction that plans only the VIP it touches; backends named by "ADDR", "ADDR:PORT" or
// "[V6]:PORT"; and the id view stats/ and api/ read.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/enums.h"
#include "nat/endpoint.h"
#include "state/state.h"

namespace xlb::state {

using config::VipKey;

absl::StatusOr<v1::Vip> State::addVip(const v1::Vip& vip) {
  if (auto st = config::validateVip(vip, "vip"); !st.ok()) return st;
  auto key = config::vipKeyOf(vip);
  if (!key.ok()) return key.status();
  std::lock_guard lock(mu_);
  if (entryLocked(*key) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat(
        "vip ", key->toString(), " already exists (delete it first, or change it with apply)"));
  }
  if (!vip.name().empty()) {
    for (const auto& [k, e] : model_.vips) {
      if (e->spec.name() == vip.name()) {
        return absl::AlreadyExistsError(absl::StrCat("vip.name: \"", vip.name(),
                                                     "\" is already used by vip ", k.toString(),
                                                     " (names must be unique)"));
      }
    }
  }
  // What a new VIP can break across VIPs (its backends are other VIPs, pools overlap, limits)
  // is checked on the whole config, as an apply does.
  v1::Config next = configLocked();
  *next.add_vips() = config::normalizeVip(vip);
  if (auto st = applyLocked(next, false, nullptr); !st.ok()) return st;
  return entryLocked(*key)->spec;
}

absl::Status State::deleteVip(const v1::VipKey& key_proto) {
  auto key = config::vipKeyOf(key_proto);
  if (!key.ok()) return key.status();
  std::lock_guard lock(mu_);
  if (entryLocked(*key) == nullptr) {
    return absl::NotFoundError(absl::StrCat("vip ", key->toString(), " not found"));
  }
  const VipChange change{*key, nullptr};
  return applyVipsLocked({&change, 1});
}

absl::StatusOr<v1::Vip> State::editVipLocked(const VipKey& key,
                                             const std::function<void(v1::Vip&)>& edit) {
  const VipEntry* e = entryLocked(key);
  if (e == nullptr) return absl::NotFoundError(absl::StrCat("vip ", key.toString(), " not found"));
  v1::Vip spec = e->spec;
  edit(spec);
  const VipChange change{key, &spec};
  if (auto st = applyVipsLocked({&change, 1}); !st.ok()) return st;
  return entryLocked(key)->spec;
}

absl::StatusOr<v1::Vip> State::addBackend(const v1::VipKey& key_proto, const v1::Backend& backend) {
  auto key = config::vipKeyOf(key_proto);
  if (!key.ok()) return key.status();
  if (auto st = config::validateBackend(backend, "backend"); !st.ok()) return st;
  auto address = *parseIpAddress(backend.address());
  std::lock_guard lock(mu_);
  const VipEntry* e = entryLocked(*key);
  if (e == nullptr) return absl::NotFoundError(absl::StrCat("vip ", key->toString(), " not found"));
  const uint16_t port = nat::effectivePort(backend.port(), key->port);
  if (e->members.count(BackendKey{address, port})) {
    return absl::AlreadyExistsError(absl::StrCat("backend ",
                                                 backendLabel(*key, BackendKey{address, port}),
                                                 " already exists in vip ", key->toString()));
  }
  v1::Vip edited = e->spec;
  v1::Backend* b = edited.add_backends();
  *b = backend;
  b->set_address(address.toString());
  if (!b->has_weight()) b->set_weight(1);
  if (auto st = applyBackendsEditLocked(*key, edited); !st.ok()) return st;
  return entryLocked(*key)->spec;
}

absl::Status State::applyBackendsEditLocked(const VipKey& key, const v1::Vip& edited) {
  auto whole = [&] {
    v1::Config next = configLocked();
    for (v1::Vip& vip : *next.mutable_vips()) {
      auto k = config::vipKeyOf(vip);
      if (k.ok() && *k == key) vip = edited;
    }
    return applyLocked(next, false, nullptr);
  };
  const VipEntry* e = entryLocked(key);
  if (e == nullptr || model_.any_nat || config::isNat(edited.forwarding()) || resync_) {
    return whole();
  }
  // The limit on memberships, less what the other VIPs hold, is this VIP's share of it. The
  // backend ids in use are every membership (and ids adopted as strays, which only makes the
  // share smaller: such an edit goes through the whole config).
  const uint64_t in_use = model_.backend_ids.inUse();
  const uint64_t others = in_use - std::min<uint64_t>(in_use, e->members.size());
  Capacity capacity = dataplane_.capacity();
  if (others > capacity.backends) return whole();
  capacity.backends -= static_cast<uint32_t>(others);
  v1::Config one = model_.globals;
  *one.add_vips() = edited;
  if (!config::validateConfig(one, capacity).ok()) return whole();
  // A backend may not be another VIP's address (the VIPs on an address are one key range).
  for (const v1::Backend& b : edited.backends()) {
    auto a = parseIpAddress(b.address());
    if (!a.ok()) return whole();
    if (*a == key.address) continue;
    auto it = model_.vips.lower_bound(VipKey{*a, 0, v1::PROTOCOL_UNSPECIFIED});
    if (it != model_.vips.end() && it->first.address == *a) return whole();
  }
  const v1::Vip normalized = config::normalizeVip(edited);
  const VipChange change{key, &normalized};
  return applyVipsLocked({&change, 1});
}

absl::StatusOr<State::BackendRef> State::findBackendLocked(const v1::VipKey& key_proto,
                                                           const std::string& address_text) const {
  auto key = config::vipKeyOf(key_proto);
  if (!key.ok()) return key.status();
  auto ref = nat::parseEndpointRef(address_text, "address");
  if (!ref.ok()) return ref.status();
  const VipEntry* e = entryLocked(*key);
  if (e == nullptr) return absl::NotFoundError(absl::StrCat("vip ", key->toString(), " not found"));
  std::vector<const Member*> found;
  if (ref->port) {
    auto it = e->members.find(BackendKey{ref->address, *ref->port});
    if (it != e->members.end()) found.push_back(&it->second);
  } else {
    for (auto it = e->members.lower_bound(BackendKey{ref->address, 0});
         it != e->members.end() && it->first.address == ref->address; ++it) {
      found.push_back(&it->second);
    }
  }
  if (found.empty()) {
    const std::string named =
        ref->port ? formatHostPort(ref->address, *ref->port) : ref->address.toString();
    return absl::NotFoundError(
        absl::StrCat("backend ", named, " not found in vip ", key->toString()));
  }
  if (found.size() > 1) {
    std::sort(found.begin(), found.end(),
              [](const Member* a, const Member* b) { return a->spec_index < b->spec_index; });
    std::vector<std::string> candidates;
    for (const Member* m : found) candidates.push_back(formatHostPort(m->address, m->port));
    return absl::InvalidArgumentError(absl::StrCat(
        "address: \"", address_text, "\" matches ", found.size(), " backends of vip ",
        key->toString(), " (", absl::StrJoin(candidates, ", "), "): name one as ADDR:PORT"));
  }
  return BackendRef{*key, e, found[0]};
}

absl::StatusOr<v1::Vip> State::deleteBackend(const v1::VipKey& key_proto,
                                             const std::string& address_text) {
  std::lock_guard lock(mu_);
  auto ref = findBackendLocked(key_proto, address_text);
  if (!ref.ok()) return ref.status();
  const int index = ref->member->spec_index;
  return editVipLocked(ref->key, [index](v1::Vip& spec) {
    spec.mutable_backends()->DeleteSubrange(index, 1);
  });
}

absl::StatusOr<v1::Vip> State::setBackendWeight(const v1::VipKey& key_proto,
                                                const std::string& address_text, uint32_t weight) {
  if (auto st = config::validateWeight(weight, "weight"); !st.ok()) return st;
  std::lock_guard lock(mu_);
  auto ref = findBackendLocked(key_proto, address_text);
  if (!ref.ok()) return ref.status();
  const int index = ref->member->spec_index;
  return editVipLocked(ref->key, [index, weight](v1::Vip& spec) {
    spec.mutable_backends(index)->set_weight(weight);
  });
}

namespace {

std::vector<VipIds> buildIds(const VipsInOrder& vips) {
  std::vector<VipIds> out;
  out.reserve(vips.size());
  for (const EntryPtr& e : vips.values()) {
    VipIds vi;
    vi.key = e->key;
    vi.name = e->spec.name();
    vi.id = e->id;
    vi.table_size = e->table_m;
    vi.kernel_bytes = vipKernelBytes(*e, possibleCpus());
    std::vector<const Member*> members;
    members.reserve(e->members.size());
    for (const auto& [bk, m] : e->members) members.push_back(&m);
    std::sort(members.begin(), members.end(),
              [](const Member* a, const Member* b) { return a->spec_index < b->spec_index; });
    for (const Member* m : members) {
      BackendIds bi;
      bi.address = m->label;
      bi.ip = m->address;
      bi.port = m->port;
      bi.weight = m->weight;
      bi.id = m->id;
      bi.state = m->draining ? v1::BACKEND_STATE_DRAINING : v1::BACKEND_STATE_ACTIVE;
      bi.health = m->health.checked ? toProtoHealth(m->health.health) : v1::HEALTH_UP;
      vi.backends.push_back(std::move(bi));
    }
    out.push_back(std::move(vi));
  }
  return out;
}

}  // namespace

std::shared_ptr<const std::vector<VipIds>> State::sharedIds() const {
  auto v = view();
  std::call_once(v->ids_once, [&v] {
    v->ids = std::make_shared<const std::vector<VipIds>>(buildIds(v->vips));
  });
  return v->ids;
}

std::vector<VipIds> State::ids() const { return *sharedIds(); }

}  // namespace xlb::state
