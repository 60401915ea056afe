// SPDX-License-Identifier: Apache-2.0
// BpfDataplane's selection tables (xlb_tables, an ARRAY_OF_MAPS by VIP id): batched swaps and reads.
//
// Every update of a map-in-map slot from user space waits for an RCU grace period before the
// syscall returns (the kernel makes sure no program still runs on the old inner map), ~10 ms on
// this kind of VM whatever the table size. One table per syscall made an apply that rebuilds
// 1,000 tables cost ~10 s of waiting; one BPF_MAP_UPDATE_BATCH per 512 tables waits once each.
// Deletions go through the batch too: a removed VIP's slot points at one shared empty table
// (slot 0 = 0, which the data plane reads as "no table"), because BPF_MAP_DELETE_BATCH is not
// supported on ARRAY_OF_MAPS and each single delete pays its own grace period.
// A new table is filled through its pages (the template is BPF_F_MMAPABLE): one batched write per
// slot cost ~2 s for 10,000 tables of 1,021 slots, the copy ~0.05 s.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "dataplane/bpf_dataplane.h"
#include "xlb_balancer.skel.h"

namespace xlb::dataplane {
namespace {

// Owns map fds opened for one call.
class FdSet {
 public:
  ~FdSet() {
    for (int fd : fds_) close(fd);
  }
  void own(int fd) { fds_.push_back(fd); }

 private:
  std::vector<int> fds_;
};

absl::StatusOr<int> createSelectionTable(std::span<const uint32_t> table, uint32_t flags) {
  const uint32_t n = static_cast<uint32_t>(table.size()) + 1;
  LIBBPF_OPTS(bpf_map_create_opts, copts, .map_flags = flags);
  int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, table.empty() ? "xlb_tbl_none" : "xlb_table",
                          sizeof(uint32_t), sizeof(uint32_t), n, &copts);
  if (fd < 0) return errnoStatus("create selection table map", fd);
  if (table.empty()) return fd;  // slot 0 (the size) is 0 already
  if (flags & BPF_F_MMAPABLE) {
    // Written through the map's pages: the map is not in the outer map yet, so no program reads it
    // half-written. An array element takes round_up(value_size, 8) bytes: one u32 per 8.
    constexpr size_t kStride = 8;
    const size_t len = (size_t{n} * kStride + 4095) / 4096 * 4096;
    void* mem = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mem == MAP_FAILED) {
      int err = errno;
      close(fd);
      return errnoStatus("map selection table memory", err);
    }
    auto* base = static_cast<uint8_t*>(mem);
    const uint32_t m = static_cast<uint32_t>(table.size());
    std::memcpy(base, &m, sizeof(m));
    for (size_t i = 0; i < table.size(); ++i)
      std::memcpy(base + (i + 1) * kStride, &table[i], sizeof(uint32_t));
    munmap(mem, len);
    return fd;
  }
  std::vector<uint32_t> keys(n), vals(n);
  for (uint32_t i = 0; i < n; ++i) keys[i] = i;
  vals[0] = static_cast<uint32_t>(table.size());
  std::copy(table.begin(), table.end(), vals.begin() + 1);
  uint32_t count = n;
  int err = bpf_map_update_batch(fd, keys.data(), vals.data(), &count, nullptr);
  if (err) {
    close(fd);
    return errnoStatus("fill selection table map", err);
  }
  return fd;
}

// Tables swapped per batched update.
constexpr size_t kTableChunk = 512;

// A failed swap says how far it got: slots before that hold their new tables.
absl::Status partial(const absl::Status& st, size_t swapped, size_t total) {
  if (swapped == 0) return st;
  return absl::Status(st.code(), absl::StrCat(st.message(), " (", swapped, " of ", total,
                                              " tables already swapped)"));
}

}  // namespace

absl::StatusOr<int> BpfDataplane::emptyTableFd() {
  if (empty_table_fd_ < 0) {
    auto fd = createSelectionTable({}, table_flags_);
    if (!fd.ok()) return fd.status();
    empty_table_fd_ = *fd;
  }
  return empty_table_fd_;
}

absl::Status BpfDataplane::setSelectionTables(std::span<const TableWrite> writes) {
  if (writes.empty()) return absl::OkStatus();
  // Checked whole before anything is built or written.
  std::set<uint32_t> seen;
  for (const TableWrite& w : writes) {
    if (auto st = vipIdOk(w.vip_id); !st.ok()) return st;
    if (!seen.insert(w.vip_id).second)
      return absl::InvalidArgumentError(
          absl::StrCat("vip id ", w.vip_id, " appears twice in one table swap"));
    if (w.table.size() > XLB_MAGLEV_MAX_M)
      return absl::InvalidArgumentError(absl::StrCat("selection table size ", w.table.size(),
                                                     " exceeds ", XLB_MAGLEV_MAX_M));
    for (uint32_t id : w.table) {
      if (auto st = backendIdOk(id); !st.ok()) return st;
    }
  }
  auto empty = emptyTableFd();
  if (!empty.ok()) return empty.status();
  const int outer = bpf_map__fd(skel_->maps.xlb_tables);

  // In chunks, so that the fds held at once stay far below RLIMIT_NOFILE (a soft limit of 1,024
  // is common) however many VIPs change: one grace period per chunk.
  size_t done = 0;
  while (done < writes.size()) {
    const size_t n = std::min(kTableChunk, writes.size() - done);
    // Build the chunk's tables aside: the data plane only ever sees a slot's old or complete new
    // table.
    FdSet owned;
    std::vector<uint32_t> keys, fds;
    keys.reserve(n);
    fds.reserve(n);
    for (size_t i = done; i < done + n; ++i) {
      const TableWrite& w = writes[i];
      keys.push_back(w.vip_id);
      if (w.table.empty()) {
        fds.push_back(static_cast<uint32_t>(*empty));
        continue;
      }
      auto fd = createSelectionTable(w.table, table_flags_);
      if (!fd.ok()) return partial(fd.status(), done, writes.size());
      owned.own(*fd);
      fds.push_back(static_cast<uint32_t>(*fd));
    }
    // The outer map takes its own references; ours close when `owned` goes.
    uint32_t count = static_cast<uint32_t>(n);
    int err = bpf_map_update_batch(outer, keys.data(), fds.data(), &count, nullptr);
    if (err) {
      return partial(errnoStatus("update map xlb_tables", err), done + std::min<size_t>(count, n),
                     writes.size());
    }
    done += n;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint32_t>> BpfDataplane::readSelectionTable(uint32_t vip_id) {
  if (auto st = vipIdOk(vip_id); !st.ok()) return st;
  const int outer = bpf_map__fd(skel_->maps.xlb_tables);
  // A user-space lookup of an ARRAY_OF_MAPS yields the inner map's id; a concurrent swap may free
  // that map before we open it (ENOENT from get_fd_by_id): read the new id and try again.
  for (int attempt = 0; attempt < 5; ++attempt) {
    uint32_t inner_id = 0;
    int err = bpf_map_lookup_elem(outer, &vip_id, &inner_id);
    if (err == -ENOENT) return std::vector<uint32_t>();
    if (err) return errnoStatus(absl::StrCat("lookup map xlb_tables[", vip_id, "]"), err);
    int fd = bpf_map_get_fd_by_id(inner_id);
    if (fd == -ENOENT) continue;
    if (fd < 0) return errnoStatus(absl::StrCat("open selection table map id ", inner_id), fd);
    uint32_t zero = 0, m = 0;
    err = bpf_map_lookup_elem(fd, &zero, &m);
    if (err) {
      close(fd);
      return errnoStatus(absl::StrCat("read selection table of vip id ", vip_id), err);
    }
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0 || m + 1 > info.max_entries) {
      close(fd);
      return absl::DataLossError(absl::StrCat("selection table of vip id ", vip_id, " claims ", m,
                                              " slots but holds ", info.max_entries - 1));
    }
    std::vector<uint32_t> keys(m + 1), vals(m + 1);
    size_t got = 0;
    uint32_t in_batch = 0, out_batch = 0;
    bool first = true;
    while (got < m + 1) {
      uint32_t count = static_cast<uint32_t>(m + 1 - got);
      err = bpf_map_lookup_batch(fd, first ? nullptr : &in_batch, &out_batch, keys.data() + got,
                                 vals.data() + got, &count, nullptr);
      got += count;
      first = false;
      in_batch = out_batch;
      if (err == -ENOENT || count == 0) break;
      if (err) {
        close(fd);
        return errnoStatus(absl::StrCat("read selection table of vip id ", vip_id), err);
      }
    }
    close(fd);
    std::vector<uint32_t> table(m);
    for (size_t i = 0; i < got; ++i) {
      if (keys[i] >= 1 && keys[i] <= m) table[keys[i] - 1] = vals[i];
    }
    return table;
  }
  return absl::UnavailableError(
      absl::StrCat("selection table of vip id ", vip_id, " kept changing while read; retry"));
}

}  // namespace xlb::dataplane
