// SPDX-License-Identifier: Apache-2.0
// FakeDataplane's NAT maps (see fake_dataplane.h).
#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "dataplane/fake_dataplane.h"

namespace xlb::dataplane {
namespace {

FakeVipKey epBytes(const xlb_nat_ep& ep) {
  static_assert(sizeof(xlb_nat_ep) == 20);
  FakeVipKey out;
  std::memcpy(out.bytes.data(), &ep, sizeof(ep));
  return out;
}

std::string describeEp(const xlb_nat_ep& ep) {
  IpAddress a;
  std::memcpy(a.bytes.data(), ep.addr, 16);
  a.family = ep.family;
  return absl::StrCat(formatHostPort(a, ntohs(ep.port)), "/", static_cast<int>(ep.proto));
}

bool sameKey(const xlb_flow_key& a, const xlb_flow_key& b) {
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}

}  // namespace

absl::Status FakeDataplane::setBackendNat(uint32_t id, const xlb_be_nat& value) {
  if (auto st = record("setBackendNat", absl::StrCat("backend ", id, " port ", ntohs(value.port)));
      !st.ok())
    return st;
  if (id >= be_nat_.size()) return absl::InvalidArgumentError("backend id out of range");
  be_nat_[id] = value;
  return absl::OkStatus();
}

absl::Status FakeDataplane::setSnat(uint32_t vip_id, const xlb_snat& value) {
  if (auto st = record("setSnat", absl::StrCat("vip ", vip_id)); !st.ok()) return st;
  if (vip_id >= capacity_.vips) return absl::InvalidArgumentError("vip id out of range");
  snat_[vip_id] = value;
  return absl::OkStatus();
}

absl::Status FakeDataplane::upsertNatEndpoint(const xlb_nat_ep& ep) {
  if (auto st = record("upsertNatEndpoint", describeEp(ep)); !st.ok()) return st;
  eps_[epBytes(ep)] = 1;
  return absl::OkStatus();
}

absl::Status FakeDataplane::deleteNatEndpoint(const xlb_nat_ep& ep) {
  if (auto st = record("deleteNatEndpoint", describeEp(ep)); !st.ok()) return st;
  eps_.erase(epBytes(ep));
  return absl::OkStatus();
}

absl::Status FakeDataplane::forEachNat(const NatVisitor& fn) {
  if (!flow_failure_.ok()) return flow_failure_;
  for (const auto& [k, v] : nat_) fn(k, v);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> FakeDataplane::deleteNat(std::span<const xlb_flow_key> keys) {
  if (auto st = record("deleteNat", absl::StrCat(keys.size(), " keys")); !st.ok()) return st;
  uint64_t deleted = 0;
  for (const xlb_flow_key& k : keys) {
    auto it = std::find_if(nat_.begin(), nat_.end(), [&k](const auto& e) { return sameKey(e.first, k); });
    if (it == nat_.end()) continue;
    nat_.erase(it);
    ++deleted;
  }
  return deleted;
}

absl::StatusOr<std::vector<uint64_t>> FakeDataplane::readNatFailures() {
  if (!read_failure_.ok()) return read_failure_;
  return nat_fail_;
}

absl::StatusOr<std::optional<xlb_nat_value>> FakeDataplane::lookupNat(const xlb_flow_key& key) {
  if (!read_failure_.ok()) return read_failure_;
  return nat(key);
}

absl::StatusOr<xlb_be_nat> FakeDataplane::readBackendNat(uint32_t id) {
  if (!read_failure_.ok()) return read_failure_;
  return backendNat(id);
}

absl::StatusOr<xlb_snat> FakeDataplane::readSnat(uint32_t vip_id) {
  if (!read_failure_.ok()) return read_failure_;
  return snat(vip_id).value_or(xlb_snat{});
}

absl::StatusOr<bool> FakeDataplane::lookupNatEndpoint(const xlb_nat_ep& ep) {
  if (!read_failure_.ok()) return read_failure_;
  return hasNatEndpoint(ep);
}

std::optional<xlb_snat> FakeDataplane::snat(uint32_t vip_id) const {
  auto it = snat_.find(vip_id);
  if (it == snat_.end()) return std::nullopt;
  return it->second;
}

bool FakeDataplane::hasNatEndpoint(const xlb_nat_ep& ep) const { return eps_.count(epBytes(ep)) > 0; }

void FakeDataplane::putNat(const xlb_flow_key& key, const xlb_nat_value& value) {
  for (auto& [k, v] : nat_) {
    if (sameKey(k, key)) {
      v = value;
      return;
    }
  }
  nat_.emplace_back(key, value);
}

std::optional<xlb_nat_value> FakeDataplane::nat(const xlb_flow_key& key) const {
  for (const auto& [k, v] : nat_) {
    if (sameKey(k, key)) return v;
  }
  return std::nullopt;
}

}  // namespace xlb::dataplane
