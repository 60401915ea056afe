// SPDX-License-Identifier: Apache-2.0
// State's entry points for backends by name: the discovery overlay (each VIP's discovered
// backends, kept in the VIP's spec with their source) applied as one transaction, and carried
// over when the operator applies a config that holds only the names.
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "config/discovery.h"
#include "state/state.h"

namespace xlb::state {

using config::VipKey;

namespace {

std::set<std::string> listedNames(const v1::Vip& vip) {
  std::set<std::string> out;
  for (const std::string& n : config::discoveryNames(vip)) out.insert(absl::AsciiStrToLower(n));
  return out;
}

std::string lowerName(const v1::Backend& b) { return absl::AsciiStrToLower(b.source().name()); }

}  // namespace

v1::Config State::withDiscoveredLocked(const v1::Config& config) const {
  v1::Config out = config;
  for (v1::Vip& vip : *out.mutable_vips()) {
    const std::set<std::string> names = listedNames(vip);
    bool any = false;
    for (const v1::Backend& b : vip.backends()) any = any || config::isDiscovered(b);
    const VipEntry* cur = nullptr;
    if (auto key = config::vipKeyOf(vip); key.ok()) cur = entryLocked(*key);
    if (names.empty() && !any) continue;
    // Names the model has backends for: those come from the model (fresher than the input).
    std::set<std::string> from_model;
    if (cur != nullptr) {
      for (const v1::Backend& b : cur->spec.backends()) {
        if (config::isDiscovered(b) && names.count(lowerName(b))) from_model.insert(lowerName(b));
      }
    }
    google::protobuf::RepeatedPtrField<v1::Backend> kept;
    for (const v1::Backend& b : vip.backends()) {
      if (config::isDiscovered(b) &&
          (!names.count(lowerName(b)) || from_model.count(lowerName(b)))) {
        continue;
      }
      *kept.Add() = b;
    }
    if (cur != nullptr) {
      for (const v1::Backend& b : cur->spec.backends()) {
        if (config::isDiscovered(b) && from_model.count(lowerName(b))) *kept.Add() = b;
      }
    }
    *vip.mutable_backends() = std::move(kept);
  }
  return out;
}

absl::StatusOr<v1::Vip> State::setDiscovered(const v1::VipKey& key_proto,
                                             const std::vector<v1::Backend>& backends) {
  auto key = config::vipKeyOf(key_proto);
  if (!key.ok()) return key.status();
  std::lock_guard lock(mu_);
  const VipEntry* e = entryLocked(*key);
  if (e == nullptr) return absl::NotFoundError(absl::StrCat("vip ", key->toString(), " not found"));
  if (!config::hasDiscovery(e->spec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("vip ", key->toString(), " lists no dns names or srv"));
  }
  // Checked as addBackend is: a discovered backend may not be a VIP, counts against the limits
  // and may change a NAT VIP's endpoints.
  v1::Vip edited = e->spec;
  google::protobuf::RepeatedPtrField<v1::Backend> kept;
  for (const v1::Backend& b : edited.backends()) {
    if (!config::isDiscovered(b)) *kept.Add() = b;
  }
  for (const v1::Backend& b : backends) *kept.Add() = b;
  *edited.mutable_backends() = std::move(kept);
  if (auto st = applyBackendsEditLocked(*key, edited); !st.ok()) return st;
  return entryLocked(*key)->spec;
}

}  // namespace xlb::state
