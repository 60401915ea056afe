// SPDX-License-Identifier: Apache-2.0
// Reads the balancer's maps for start-up adoption: hash maps key by key, arrays in batches.
#include "dataplane/bpf_contents.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "dataplane/bpf_scan.h"

namespace xlb::dataplane {
namespace {

absl::StatusOr<int> fdOf(const BpfDataplane& dp, const char* name) {
  int fd = dp.mapFd(name);
  if (fd < 0) return absl::InternalError(absl::StrCat("map ", name, " not found in the program"));
  return fd;
}

// Iterates a hash map. Entries deleted concurrently are skipped (nothing else writes while the
// agent starts, but a lookup miss must not abort the walk).
template <typename K, typename V>
absl::Status readHash(const BpfDataplane& dp, const char* name, std::vector<std::pair<K, V>>* out) {
  auto fd = fdOf(dp, name);
  if (!fd.ok()) return fd.status();
  K key{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(*fd, prev, &next) == 0) {
    V value{};
    if (bpf_map_lookup_elem(*fd, &next, &value) == 0) out->emplace_back(next, value);
    key = next;
    prev = &key;
  }
  if (errno != ENOENT) return errnoStatus(absl::StrCat("iterate map ", name), errno);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DataplaneContents> readBpfContents(const BpfDataplane& dp) {
  DataplaneContents out;
  if (auto st = readHash(dp, "xlb_vips", &out.vips); !st.ok()) return st;
  if (auto st = readHash(dp, "xlb_vip_addrs", &out.addrs); !st.ok()) return st;

  // The arrays in batches (a 200,000-slot xlb_backends cost 200,000 lookups one by one).
  auto backends = fdOf(dp, "xlb_backends");
  if (!backends.ok()) return backends.status();
  if (auto st = readArraySlots<xlb_backend>(*backends, "xlb_backends", dp.capacity().backends,
                                            [&out](uint32_t id, const xlb_backend& b) {
                                              if (b.gen != 0 || b.flags != 0)
                                                out.backends.emplace_back(id, b);
                                            });
      !st.ok())
    return st;

  auto be_nat = fdOf(dp, "xlb_be_nat");
  if (!be_nat.ok()) return be_nat.status();
  std::vector<xlb_be_nat> ports(dp.capacity().backends);
  if (auto st = readArraySlots<xlb_be_nat>(
          *be_nat, "xlb_be_nat", dp.capacity().backends,
          [&ports](uint32_t id, const xlb_be_nat& v) {
            if (id < ports.size()) ports[id] = v;
          });
      !st.ok())
    return st;
  for (const auto& [id, b] : out.backends) out.backend_nat.emplace_back(id, ports[id]);
  std::vector<std::pair<xlb_nat_ep, uint32_t>> eps;
  if (auto st = readHash(dp, "xlb_nat_eps", &eps); !st.ok()) return st;
  for (const auto& [ep, v] : eps) out.nat_eps.push_back(ep);
  auto snat = fdOf(dp, "xlb_snat");
  if (!snat.ok()) return snat.status();
  if (auto st = readArraySlots<xlb_snat>(*snat, "xlb_snat", dp.capacity().vips,
                                         [&out](uint32_t id, const xlb_snat& v) {
                                           if (v.nr4 != 0 || v.nr6 != 0)
                                             out.snat_vip_ids.push_back(id);
                                         });
      !st.ok())
    return st;

  // ARRAY_OF_MAPS: a lookup from user space returns the inner map's id, ENOENT when empty.
  auto tables = fdOf(dp, "xlb_tables");
  if (!tables.ok()) return tables.status();
  for (uint32_t id = 0; id < dp.capacity().vips; ++id) {
    uint32_t inner_id = 0;
    if (bpf_map_lookup_elem(*tables, &id, &inner_id) == 0) {
      // A removed VIP's slot points at the shared empty table (slot 0 = 0): no table.
      int fd = bpf_map_get_fd_by_id(inner_id);
      if (fd < 0 && errno == ENOENT) continue;  // swapped meanwhile: the writer owns it
      if (fd < 0) return errnoStatus(absl::StrCat("open selection table map id ", inner_id), errno);
      uint32_t zero = 0;
      xlb_table_slot head{};  // w[0] = size (xlb/abi.h)
      int err = bpf_map_lookup_elem(fd, &zero, &head);
      close(fd);
      if (err) return errnoStatus(absl::StrCat("read selection table of vip id ", id), errno);
      if (head.w[0] != 0) out.table_vip_ids.push_back(id);
    } else if (errno != ENOENT) {
      return errnoStatus(absl::StrCat("lookup map xlb_tables[", id, "]"), errno);
    }
  }
  return out;
}

}  // namespace xlb::dataplane
