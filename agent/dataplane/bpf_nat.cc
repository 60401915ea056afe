// SPDX-License-Identifier: Apache-2.0
// BpfDataplane's NAT maps: backend ports, SNAT pools, reply-filter endpoints, the connection tables
// (xlb_nat4/xlb_nat6: batched scan and delete in the wide form of nat_layout.h, and the split of
// ABI 4's xlb_nat on upgrade), per-backend port allocation failures, and the point reads of them
// that explain uses.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <functional>
#include <span>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "dataplane/bpf_dataplane.h"
#include "dataplane/bpf_scan.h"
#include "dataplane/nat_layout.h"
#include "xlb_balancer.skel.h"

namespace xlb::dataplane {
namespace {

absl::Status update(int fd, absl::string_view name, const void* key, const void* value) {
  int err = bpf_map_update_elem(fd, key, value, BPF_ANY);
  if (err) return errnoStatus(absl::StrCat("update map ", name), err);
  return absl::OkStatus();
}

constexpr uint32_t kNatBatch = 4096;  // entries per batched syscall (as kFlowBatch)

// Deletes keys of one NAT map in order, in batches; keys already gone are skipped.
template <typename Key>
absl::StatusOr<uint64_t> deleteNatKeys(int fd, const char* name, std::span<const Key> keys) {
  uint64_t deleted = 0;
  size_t pos = 0;
  while (pos < keys.size()) {
    uint32_t count = static_cast<uint32_t>(std::min<size_t>(kNatBatch, keys.size() - pos));
    const uint32_t asked = count;
    int err = bpf_map_delete_batch(fd, keys.data() + pos, &count, nullptr);
    deleted += count;
    pos += count;
    if (err == 0 && count == asked) continue;
    if (err && err != -ENOENT) return errnoStatus(absl::StrCat("delete from map ", name), err);
    // A key deleted meanwhile (by the data plane's race handling or a flush) stops the batch at
    // that key: skip it and go on.
    if (pos < keys.size()) {
      int e = bpf_map_delete_elem(fd, &keys[pos]);
      if (e == 0)
        ++deleted;
      else if (e != -ENOENT)
        return errnoStatus(absl::StrCat("delete from map ", name), e);
      ++pos;
    }
  }
  return deleted;
}

}  // namespace

std::vector<MapSplit> natMapSplits() {
  // ABI 4's xlb_nat: xlb_flow_key -> xlb_nat_value (the wide form, as abi.h keeps it).
  auto check = [](const MapShape& s) -> std::string {
    if (s.key_size != sizeof(xlb_flow_key) || s.value_size != sizeof(xlb_nat_value))
      return absl::StrCat("key/value size ", s.key_size, "/", s.value_size, ", not ",
                          sizeof(xlb_flow_key), "/", sizeof(xlb_nat_value));
    if (!s.value) return "";
    const struct {
      const char* name;
      size_t offset;
    } want[] = {{"new_src", offsetof(xlb_nat_value, new_src)},
                {"csum_l4", offsetof(xlb_nat_value, csum_l4)},
                {"dir", offsetof(xlb_nat_value, dir)},
                {"created_ns", offsetof(xlb_nat_value, created_ns)},
                {"ifindex", offsetof(xlb_nat_value, ifindex)}};
    for (const auto& w : want) {
      auto it = std::find_if(s.value->members.begin(), s.value->members.end(),
                             [&w](const LayoutMember& m) { return m.name == w.name; });
      if (it == s.value->members.end() || it->offset != w.offset)
        return absl::StrCat("value member ", w.name, " not at offset ", w.offset);
    }
    return "";
  };
  auto family = [](const uint8_t* key) {
    xlb_flow_key k;
    std::memcpy(&k, key, sizeof(k));
    return k.family;
  };
  MapSplit v4{"xlb_nat4", "xlb_nat", check,
              [family](const uint8_t* ok, const uint8_t* ov, uint8_t* key, uint8_t* value) {
                if (family(ok) != XLB_AF_INET) return false;
                xlb_flow_key k;
                xlb_nat_value v;
                std::memcpy(&k, ok, sizeof(k));
                std::memcpy(&v, ov, sizeof(v));
                const xlb_nat4_key nk = natKey4(k);
                const xlb_nat4_value nv = natValue4(v);
                std::memcpy(key, &nk, sizeof(nk));
                std::memcpy(value, &nv, sizeof(nv));
                return true;
              }};
  MapSplit v6{"xlb_nat6", "xlb_nat", check,
              [family](const uint8_t* ok, const uint8_t* ov, uint8_t* key, uint8_t* value) {
                if (family(ok) != XLB_AF_INET6) return false;
                xlb_nat_value v;
                std::memcpy(&v, ov, sizeof(v));
                const xlb_nat6_value nv = natValue6(v);
                std::memcpy(key, ok, sizeof(xlb_flow_key));
                std::memcpy(value, &nv, sizeof(nv));
                return true;
              }};
  return {v4, v6};
}

absl::Status BpfDataplane::setBackendNat(uint32_t id, const xlb_be_nat& value) {
  if (auto st = backendIdOk(id); !st.ok()) return st;
  return update(bpf_map__fd(skel_->maps.xlb_be_nat), "xlb_be_nat", &id, &value);
}

absl::Status BpfDataplane::setBackendNats(
    std::span<const std::pair<uint32_t, xlb_be_nat>> writes) {
  for (const auto& w : writes) {
    if (auto st = backendIdOk(w.first); !st.ok()) return st;
  }
  return writeArraySlots<xlb_be_nat>(bpf_map__fd(skel_->maps.xlb_be_nat), "xlb_be_nat", writes);
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
  if (auto st = scanHashMap<xlb_nat4_key, xlb_nat4_value>(
          bpf_map__fd(skel_->maps.xlb_nat4), "xlb_nat4", kNatBatch,
          [&fn](const xlb_nat4_key& k, const xlb_nat4_value& v) { fn(natWideKey(k), natWide(v)); });
      !st.ok())
    return st;
  return scanHashMap<xlb_flow_key, xlb_nat6_value>(
      bpf_map__fd(skel_->maps.xlb_nat6), "xlb_nat6", kNatBatch,
      [&fn](const xlb_flow_key& k, const xlb_nat6_value& v) { fn(k, natWide(v)); });
}

absl::StatusOr<uint64_t> BpfDataplane::deleteNat(std::span<const xlb_flow_key> keys) {
  std::vector<xlb_nat4_key> v4;
  std::vector<xlb_flow_key> v6;
  for (const auto& k : keys) {
    if (k.family == XLB_AF_INET6)
      v6.push_back(k);
    else
      v4.push_back(natKey4(k));
  }
  auto n4 = deleteNatKeys<xlb_nat4_key>(bpf_map__fd(skel_->maps.xlb_nat4), "xlb_nat4", v4);
  if (!n4.ok()) return n4.status();
  auto n6 = deleteNatKeys<xlb_flow_key>(bpf_map__fd(skel_->maps.xlb_nat6), "xlb_nat6", v6);
  if (!n6.ok()) return n6.status();
  return *n4 + *n6;
}

absl::StatusOr<std::optional<xlb_nat_value>> BpfDataplane::lookupNat(const xlb_flow_key& key) {
  int err;
  xlb_nat_value wide{};
  if (key.family == XLB_AF_INET6) {
    xlb_nat6_value v{};
    err = bpf_map_lookup_elem(bpf_map__fd(skel_->maps.xlb_nat6), &key, &v);
    wide = natWide(v);
  } else {
    const xlb_nat4_key k = natKey4(key);
    xlb_nat4_value v{};
    err = bpf_map_lookup_elem(bpf_map__fd(skel_->maps.xlb_nat4), &k, &v);
    wide = natWide(v);
  }
  if (err == -ENOENT) return std::optional<xlb_nat_value>();
  if (err)
    return errnoStatus(absl::StrCat("lookup map xlb_nat", key.family == XLB_AF_INET6 ? 6 : 4), err);
  return std::optional<xlb_nat_value>(wide);
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
