// SPDX-License-Identifier: Apache-2.0
// BpfDataplane's selection tables (xlb_tables, an ARRAY_OF_MAPS by VIP id): in-place flips, batched
// swaps and reads.
//
// Every update of a map-in-map slot from user space waits for an RCU grace period before the
// syscall returns (the kernel makes sure no program still runs on the old inner map), ~10 ms on
// this kind of VM whatever the table size. So a table whose size stays (a weight or health change)
// is changed in place instead: each slot holds two halves (xlb_table_slot), the new table is
// written into the idle half through the map's pages and slot 0's live-half word is flipped, which
// costs no grace period. A table whose size changes, or that flipped too recently (its idle half
// might still be read), is swapped: built aside and put in with one BPF_MAP_UPDATE_BATCH per 512
// tables, one grace period each. Deletions go through the batch too: a removed VIP's slot points
// at one shared empty table (slot 0 = 0, which the data plane reads as "no table"), because
// BPF_MAP_DELETE_BATCH is not supported on ARRAY_OF_MAPS and each single delete pays its own grace
// period. A new table is filled through its pages (the template is BPF_F_MMAPABLE): one batched
// write per slot cost ~2 s for 10,000 tables of 1,021 slots, the copy ~0.05 s.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
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

constexpr size_t kSlot = sizeof(xlb_table_slot);
static_assert(kSlot == 8, "an ARRAY element of an 8-byte value is 8 bytes: the pages are slots");

size_t mappedLength(uint32_t entries) { return (size_t{entries} * kSlot + 4095) / 4096 * 4096; }

absl::StatusOr<int> createSelectionTable(std::span<const uint32_t> table, uint32_t flags) {
  const uint32_t n = static_cast<uint32_t>(table.size()) + 1;
  LIBBPF_OPTS(bpf_map_create_opts, copts, .map_flags = flags);
  int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, table.empty() ? "xlb_tbl_none" : "xlb_table",
                          sizeof(uint32_t), kSlot, n, &copts);
  if (fd < 0) return errnoStatus("create selection table map", fd);
  if (table.empty()) return fd;  // slot 0 (the size) is 0 already
  // Half 0 is live; half 1 is a copy, so that the table reads the same whichever half a later
  // reader is told to use before its first flip.
  const uint32_t m = static_cast<uint32_t>(table.size());
  if (flags & BPF_F_MMAPABLE) {
    // Written through the map's pages: the map is not in the outer map yet, so no program reads it
    // half-written.
    const size_t len = mappedLength(n);
    void* mem = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mem == MAP_FAILED) {
      int err = errno;
      close(fd);
      return errnoStatus("map selection table memory", err);
    }
    auto* slots = static_cast<xlb_table_slot*>(mem);
    slots[0] = xlb_table_slot{{m, 0}};
    for (size_t i = 0; i < table.size(); ++i) slots[i + 1] = xlb_table_slot{{table[i], table[i]}};
    munmap(mem, len);
    return fd;
  }
  std::vector<uint32_t> keys(n);
  std::vector<xlb_table_slot> vals(n);
  for (uint32_t i = 0; i < n; ++i) keys[i] = i;
  vals[0] = xlb_table_slot{{m, 0}};
  for (size_t i = 0; i < table.size(); ++i) vals[i + 1] = xlb_table_slot{{table[i], table[i]}};
  uint32_t count = n;
  int err = bpf_map_update_batch(fd, keys.data(), vals.data(), &count, nullptr);
  if (err) {
    close(fd);
    return errnoStatus("fill selection table map", err);
  }
  return fd;
}

// The live inner map of xlb_tables[vip_id], opened (-1 when the slot is empty or was swapped away
// between the lookup and the open).
absl::StatusOr<int> openLiveTable(int outer, uint32_t vip_id) {
  uint32_t inner_id = 0;
  int err = bpf_map_lookup_elem(outer, &vip_id, &inner_id);
  if (err == -ENOENT) return -1;
  if (err) return errnoStatus(absl::StrCat("lookup map xlb_tables[", vip_id, "]"), err);
  int fd = bpf_map_get_fd_by_id(inner_id);
  if (fd == -ENOENT) return -1;
  if (fd < 0) return errnoStatus(absl::StrCat("open selection table map id ", inner_id), fd);
  return fd;
}

// A table this process swapped in: its idle half was never read, so it may flip at once.
constexpr auto kNeverFlipped = std::chrono::steady_clock::time_point::min();

// Tables swapped per batched update. A batch holds one fd per table until the outer map has taken
// them, and waits for one RCU grace period (10-20 ms here): 10,000 new tables in batches of 512
// spent ~0.3 s of a start waiting. A batch is a quarter of the soft RLIMIT_NOFILE (the agent
// raises it to the hard limit at start), within [512, 4096]: the rest stays for sockets and maps.
// (Building a batch's tables on two threads was no faster: the threads' mmap/munmap of the new
// tables serialize on the process's address space.)
size_t tableChunk() {
  constexpr size_t kMin = 512, kMax = 4096;
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return kMin;
  return std::clamp<size_t>(static_cast<size_t>(lim.rlim_cur / 4), kMin, kMax);
}

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

absl::StatusOr<bool> BpfDataplane::flipSelectionTable(uint32_t vip_id,
                                                      std::span<const uint32_t> table,
                                                      std::chrono::steady_clock::time_point now) {
  if (table.empty() || !(table_flags_ & BPF_F_MMAPABLE)) return false;
  auto last = last_flip_.find(vip_id);
  const auto flipped = last == last_flip_.end() ? loaded_at_ : last->second;
  if (flipped != kNeverFlipped && now - flipped < table_flip_guard_) return false;
  auto fd = openLiveTable(bpf_map__fd(skel_->maps.xlb_tables), vip_id);
  if (!fd.ok()) return fd.status();
  if (*fd < 0) return false;
  const uint32_t n = static_cast<uint32_t>(table.size()) + 1;
  bpf_map_info info{};
  uint32_t info_len = sizeof(info);
  if (bpf_obj_get_info_by_fd(*fd, &info, &info_len) != 0 || info.max_entries != n ||
      info.value_size != kSlot || !(info.map_flags & BPF_F_MMAPABLE)) {
    close(*fd);
    return false;  // another size (or a table this build did not make): swap
  }
  const size_t len = mappedLength(n);
  void* mem = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
  const int map_err = errno;
  close(*fd);  // the mapping holds the map
  if (mem == MAP_FAILED)
    return errnoStatus(absl::StrCat("map selection table of vip id ", vip_id), map_err);
  auto* slots = static_cast<xlb_table_slot*>(mem);
  if (slots[0].w[0] != table.size()) {
    munmap(mem, len);
    return false;
  }
  const uint32_t idle = (slots[0].w[1] & 1) ^ 1;
  for (size_t i = 0; i < table.size(); ++i) slots[i + 1].w[idle] = table[i];
  // Every idle word lands before the live half changes; a reader that sees the new half number
  // reads the slot through it (an address dependency), so it sees the words written above.
  std::atomic_ref<uint32_t>(slots[0].w[1]).store(idle, std::memory_order_release);
  munmap(mem, len);
  last_flip_[vip_id] = now;
  ++table_flips_;
  return true;
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
  // Tables that keep their size change in place; the rest are swapped below.
  const auto now = std::chrono::steady_clock::now();
  std::vector<const TableWrite*> swaps;
  size_t flipped = 0;
  for (const TableWrite& w : writes) {
    auto done = flipSelectionTable(w.vip_id, w.table, now);
    if (!done.ok()) return partial(done.status(), flipped, writes.size());
    if (*done)
      ++flipped;
    else
      swaps.push_back(&w);
  }
  if (swaps.empty()) return absl::OkStatus();
  auto empty = emptyTableFd();
  if (!empty.ok()) return partial(empty.status(), flipped, writes.size());
  const int outer = bpf_map__fd(skel_->maps.xlb_tables);

  // In chunks, so that the fds held at once stay well below RLIMIT_NOFILE however many VIPs
  // change: one grace period per chunk.
  const size_t chunk = tableChunk();
  size_t done = 0;
  while (done < swaps.size()) {
    const size_t n = std::min(chunk, swaps.size() - done);
    // Build the chunk's tables aside: the data plane only ever sees a slot's old or complete new
    // table.
    FdSet owned;
    std::vector<uint32_t> keys, fds;
    keys.reserve(n);
    fds.reserve(n);
    for (size_t i = done; i < done + n; ++i) {
      const TableWrite& w = *swaps[i];
      keys.push_back(w.vip_id);
      if (w.table.empty()) {
        fds.push_back(static_cast<uint32_t>(*empty));
        continue;
      }
      auto fd = createSelectionTable(w.table, table_flags_);
      if (!fd.ok()) return partial(fd.status(), flipped + done, writes.size());
      owned.own(*fd);
      fds.push_back(static_cast<uint32_t>(*fd));
    }
    // The outer map takes its own references; ours close when `owned` goes.
    uint32_t count = static_cast<uint32_t>(n);
    int err = bpf_map_update_batch(outer, keys.data(), fds.data(), &count, nullptr);
    if (err) {
      const size_t in = std::min<size_t>(count, n);
      for (size_t i = done; i < done + in; ++i) last_flip_[swaps[i]->vip_id] = kNeverFlipped;
      return partial(errnoStatus("update map xlb_tables", err), flipped + done + in,
                     writes.size());
    }
    // A new table's idle half was never read: it may flip at once.
    for (size_t i = done; i < done + n; ++i) last_flip_[swaps[i]->vip_id] = kNeverFlipped;
    table_swaps_ += n;
    done += n;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint32_t>> BpfDataplane::readSelectionTable(uint32_t vip_id) {
  if (auto st = vipIdOk(vip_id); !st.ok()) return st;
  const int outer = bpf_map__fd(skel_->maps.xlb_tables);
  // A user-space lookup of an ARRAY_OF_MAPS yields the inner map's id; a concurrent swap may free
  // that map before we open it (ENOENT from get_fd_by_id), and a flip may change the live half
  // while we read: read again.
  for (int attempt = 0; attempt < 5; ++attempt) {
    uint32_t inner_id = 0;
    int err = bpf_map_lookup_elem(outer, &vip_id, &inner_id);
    if (err == -ENOENT) return std::vector<uint32_t>();
    if (err) return errnoStatus(absl::StrCat("lookup map xlb_tables[", vip_id, "]"), err);
    int fd = bpf_map_get_fd_by_id(inner_id);
    if (fd == -ENOENT) continue;
    if (fd < 0) return errnoStatus(absl::StrCat("open selection table map id ", inner_id), fd);
    uint32_t zero = 0;
    xlb_table_slot head{};
    err = bpf_map_lookup_elem(fd, &zero, &head);
    if (err) {
      close(fd);
      return errnoStatus(absl::StrCat("read selection table of vip id ", vip_id), err);
    }
    const uint32_t m = head.w[0], half = head.w[1] & 1;
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0 || m + 1 > info.max_entries ||
        info.value_size != kSlot) {
      close(fd);
      return absl::DataLossError(absl::StrCat("selection table of vip id ", vip_id, " claims ", m,
                                              " slots but holds ", info.max_entries - 1,
                                              " of ", info.value_size, " bytes"));
    }
    std::vector<uint32_t> keys(m + 1);
    std::vector<xlb_table_slot> vals(m + 1);
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
    xlb_table_slot after{};
    err = bpf_map_lookup_elem(fd, &zero, &after);
    close(fd);
    if (err) return errnoStatus(absl::StrCat("read selection table of vip id ", vip_id), err);
    if ((after.w[1] & 1) != half) continue;  // flipped while read
    std::vector<uint32_t> table(m);
    for (size_t i = 0; i < got; ++i) {
      if (keys[i] >= 1 && keys[i] <= m) table[keys[i] - 1] = vals[i].w[half];
    }
    return table;
  }
  return absl::UnavailableError(
      absl::StrCat("selection table of vip id ", vip_id, " kept changing while read; retry"));
}

}  // namespace xlb::dataplane
