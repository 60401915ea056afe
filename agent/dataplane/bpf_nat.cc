// SPDX-License-Identifier: Apache-2.0
// BpfDataplane's NAT maps: backend ports, SNAT pools, reply-filter endpoints, the connection table
// (batched scan and delete), per-backend port allocation failures, and the point reads of them that
// explain uses.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "dataplane/bpf_dataplane.h"
#include "dataplane/bpf_scan.h"
#include "xlb_balancer.skel.h"

namespace xlb::dataplane {
namespace {

absl::Status update(int fd, absl::string_view name, const void* key, const void* value) {
  int err = bpf_map_update_elem(fd, key, value, BPF_ANY);
  if (err) return errnoStatus(absl::StrCat("update map ", name), err);
  return absl::OkStatus();
}

}  // namespace

absl::Status BpfDataplane::setBackendNat(uint32_t id, const xlb_be_nat& value) {
  if (auto st = backendIdOk(id); !st.ok()) return st;
  return update(bpf_map__fd(skel_->maps.xlb_be_nat), "xlb_be_nat", &id, &value);
}

absl::Status BpfDataplane::setSnat(uint32_t vip_id, const xlb_snat& value) {
  if (auto st = vipIdOk(vip_id); !st.ok()) return st;
  return update(bpf_map__fd(skel_->maps.xlb_snat), "xlb_snat", &vip_id, &value);
}

absl::Status BpfDataplane::upsertNatEndpoint(const xlb_nat_ep& ep) {
  const uint32_t one = 1;
  return update(bpf_map__fd(skel_->maps.xlb_nat_eps), "xlb_nat_eps", &ep, &one);
}

absl::Status BpfDataplane::deleteNatEndpoint(const xlb_nat_ep& ep) {
  int err = bpf_map_delete_elem(bpf_map__fd(skel_->maps.xlb_nat_eps), &ep);
  if (err && err != -ENOENT) return errnoStatus("delete from map xlb_nat_eps", err);
  return absl::OkStatus();
}

absl::Status BpfDataplane::forEachNat(const NatVisitor& fn) {
  return scanFlowKeyedMap<xlb_nat_value>(bpf_map__fd(skel_->maps.xlb_nat), "xlb_nat", kFlowBatch, fn);
}

absl::StatusOr<uint64_t> BpfDataplane::deleteNat(std::span<const xlb_flow_key> keys) {
  const int fd = bpf_map__fd(skel_->maps.xlb_nat);
  uint64_t deleted = 0;
  size_t pos = 0;
  while (pos < keys.size()) {
    uint32_t count = static_cast<uint32_t>(std::min<size_t>(kFlowBatch, keys.size() - pos));
    const uint32_t asked = count;
    int err = bpf_map_delete_batch(fd, keys.data() + pos, &count, nullptr);
    deleted += count;
    pos += count;
    if (err == 0 && count == asked) continue;
    if (err && err != -ENOENT) return errnoStatus("delete from map xlb_nat", err);
    // A key deleted meanwhile (by the data plane's race handling or a flush) stops the batch at
    // that key: skip it and go on.
    if (pos < keys.size()) {
      int e = bpf_map_delete_elem(fd, &keys[pos]);
      if (e == 0) ++deleted;
      else if (e != -ENOENT) return errnoStatus("delete from map xlb_nat", e);
      ++pos;
    }
  }
  return deleted;
}

absl::StatusOr<std::optional<xlb_nat_value>> BpfDataplane::lookupNat(const xlb_flow_key& key) {
  xlb_nat_value v{};
  int err = bpf_map_lookup_elem(bpf_map__fd(skel_->maps.xlb_nat), &key, &v);
  if (err == -ENOENT) return std::optional<xlb_nat_value>();
  if (err) return errnoStatus("lookup map xlb_nat", err);
  return std::optional<xlb_nat_value>(v);
}

absl::StatusOr<xlb_be_nat> BpfDataplane::readBackendNat(uint32_t id) {
  if (auto st = backendIdOk(id); !st.ok()) return st;
  xlb_be_nat v{};
  int err = bpf_map_lookup_elem(bpf_map__fd(skel_->maps.xlb_be_nat), &id, &v);
  if (err) return errnoStatus(absl::StrCat("lookup map xlb_be_nat[", id, "]"), err);
  return v;
}

absl::StatusOr<xlb_snat> BpfDataplane::readSnat(uint32_t vip_id) {
  if (auto st = vipIdOk(vip_id); !st.ok()) return st;
  xlb_snat v{};
  int err = bpf_map_lookup_elem(bpf_map__fd(skel_->maps.xlb_snat), &vip_id, &v);
  if (err) return errnoStatus(absl::StrCat("lookup map xlb_snat[", vip_id, "]"), err);
  return v;
}

absl::StatusOr<bool> BpfDataplane::lookupNatEndpoint(const xlb_nat_ep& ep) {
  uint32_t v = 0;
  int err = bpf_map_lookup_elem(bpf_map__fd(skel_->maps.xlb_nat_eps), &ep, &v);
  if (err == -ENOENT) return false;
  if (err) return errnoStatus("lookup map xlb_nat_eps", err);
  return true;
}

absl::StatusOr<std::vector<uint64_t>> BpfDataplane::readNatFailures() {
  const int fd = bpf_map__fd(skel_->maps.xlb_nat_fail);
  const uint32_t n = capacity_.backends;
  std::vector<uint64_t> out(n, 0);
  std::vector<uint32_t> keys(n);
  std::vector<uint64_t> vals(static_cast<size_t>(n) * ncpus_);
  uint32_t in_batch = 0, out_batch = 0;
  size_t got = 0;
  bool first = true;
  while (got < n) {
    uint32_t count = static_cast<uint32_t>(n - got);
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &in_batch, &out_batch, keys.data() + got,
                                   vals.data() + got * ncpus_, &count, nullptr);
    got += count;
    first = false;
    in_batch = out_batch;
    if (err == -ENOENT) break;
    if (err) return errnoStatus("read map xlb_nat_fail", err);
    if (count == 0) break;
  }
  for (size_t i = 0; i < got; ++i) {
    if (keys[i] >= n) continue;
    for (int c = 0; c < ncpus_; ++c) out[keys[i]] += vals[i * ncpus_ + c];
  }
  return out;
}

}  // namespace xlb::dataplane
