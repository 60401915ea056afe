// SPDX-License-Identifier: Apache-2.0
// BpfDataplane: skeleton lifecycle, map pinning, XDP link attach/update, map reads and writes.
#include "dataplane/bpf_dataplane.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/errors.h"
#include "dataplane/bpf_scan.h"
#include "dataplane/neighbour.h"
#include "dataplane/nic_features.h"
#include "spdlog/spdlog.h"
#include "xlb_balancer.skel.h"

namespace xlb::dataplane {
namespace {

constexpr uint32_t kBpffsMagic = 0xcafe4a11;  // BPF_FS_MAGIC
constexpr const char* kBpffsRoot = "/sys/fs/bpf";

std::shared_ptr<spdlog::logger> logger(const std::string& name) {
  auto l = spdlog::get(name);
  if (!l) {
    l = spdlog::default_logger()->clone(name);
    // Another thread may have registered it meanwhile; either instance logs the same way.
    try {
      spdlog::register_logger(l);
    } catch (const spdlog::spdlog_ex&) {
      l = spdlog::get(name);
    }
  }
  return l;
}

std::shared_ptr<spdlog::logger> log() { return logger("dataplane"); }

int libbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  char buf[1024];
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  if (n <= 0) return 0;
  std::string msg(buf, std::min<size_t>(static_cast<size_t>(n), sizeof(buf) - 1));
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
  auto l = logger("libbpf");
  switch (level) {
    case LIBBPF_WARN:
      l->warn("{}", msg);
      break;
    case LIBBPF_INFO:
      l->info("{}", msg);
      break;
    default:
      l->debug("{}", msg);
      break;
  }
  return n;
}

bool isBpffs(const char* path) {
  struct statfs st {};
  return statfs(path, &st) == 0 && static_cast<uint32_t>(st.f_type) == kBpffsMagic;
}

bool pathExists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

// Reads `n` entries of a per-CPU array (values of type T, 8-byte multiple) and sums them over CPUs
// with `add`. One batch syscall per chunk instead of one lookup per id.
template <typename T, typename Add>
absl::Status readPerCpu(int fd, absl::string_view name, uint32_t n, int ncpus, std::vector<T>& out,
                        Add add) {
  static_assert(sizeof(T) % 8 == 0, "per-CPU values are 8-byte aligned per CPU");
  out.assign(n, T{});
  std::vector<uint32_t> keys(n);
  std::vector<T> vals(static_cast<size_t>(n) * ncpus);
  uint32_t in_batch = 0, out_batch = 0;
  size_t got = 0;
  bool first = true;
  while (got < n) {
    uint32_t count = static_cast<uint32_t>(n - got);
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &in_batch, &out_batch, keys.data() + got,
                                   vals.data() + got * ncpus, &count, nullptr);
    got += count;
    first = false;
    in_batch = out_batch;
    if (err == -ENOENT) break;
    if (err) return errnoStatus(absl::StrCat("read map ", name), err);
    if (count == 0) break;
  }
  for (size_t i = 0; i < got; ++i) {
    uint32_t k = keys[i];
    if (k >= n) continue;
    for (int c = 0; c < ncpus; ++c) add(out[k], vals[i * ncpus + c]);
  }
  return absl::OkStatus();
}

absl::Status mapUpdate(int fd, absl::string_view name, const void* key, const void* value) {
  int err = bpf_map_update_elem(fd, key, value, BPF_ANY);
  if (err) return errnoStatus(absl::StrCat("update map ", name), err);
  return absl::OkStatus();
}

absl::Status mapDelete(int fd, absl::string_view name, const void* key) {
  int err = bpf_map_delete_elem(fd, key);
  if (err && err != -ENOENT) return errnoStatus(absl::StrCat("delete from map ", name), err);
  return absl::OkStatus();
}

}  // namespace

void installLibbpfLogger() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(libbpfPrint); });
}

absl::Status ensureBpffsDir(const std::string& dir, std::vector<std::string>* created) {
  const std::string root = kBpffsRoot;
  if (dir.rfind(root, 0) == 0 && !isBpffs(kBpffsRoot)) {
    std::error_code ec;
    std::filesystem::create_directories(root, ec);
    if (mount("bpf", kBpffsRoot, "bpf", 0, nullptr) != 0)
      return errnoStatus(absl::StrCat("mount bpffs at ", root), errno);
    log()->info("mounted bpffs at {}", root);
  }
  std::vector<std::string> missing;  // innermost first
  for (std::filesystem::path p(dir); !p.empty() && p != p.root_path() && !pathExists(p.string());
       p = p.parent_path()) {
    missing.push_back(p.string());
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (created != nullptr) {
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
      if (pathExists(*it)) created->push_back(*it);
    }
  }
  if (ec) return errnoStatus(absl::StrCat("create pin directory ", dir), ec.value());
  if (!isBpffs(dir.c_str()))
    return absl::FailedPreconditionError(
        absl::StrCat("pin directory ", dir, " is not on a bpffs (mount -t bpf bpf <dir>)"));
  return absl::OkStatus();
}

namespace {

// A pinned flow table keeps its size across restarts and ABI migrations (see load()).
void keepPinnedSize(const std::string& pin_dir, const char* name, uint32_t& size) {
  std::string pin = MapMigrator::pinnedSource(pin_dir, XLB_ABI_VERSION, name);
  int fd = pin.empty() ? -1 : bpf_obj_get(pin.c_str());
  if (fd < 0) return;
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.max_entries != size) {
    log()->warn("reusing pinned {} {} with {} entries (requested {}); remove it to resize", name,
                pin, info.max_entries, size);
    size = info.max_entries;
  }
  close(fd);
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpfDataplane>> BpfDataplane::create(const BpfOptions& opts) {
  auto dp = open(opts);
  if (!dp.ok()) return dp.status();
  if (auto st = (*dp)->takeOver(opts); !st.ok()) return st;
  return dp;
}

absl::Status BpfDataplane::takeOver(const BpfOptions& opts) {
  taken_over_ = true;
  // Without an interface no old program is about to be replaced: migrate at once.
  if (opts.interface.empty()) return finishMigration();
  return attach(opts);
}

absl::StatusOr<std::unique_ptr<BpfDataplane>> BpfDataplane::open(const BpfOptions& opts) {
  installLibbpfLogger();
  if (opts.flow_table_size == 0)
    return absl::InvalidArgumentError("flow_table_size: 0 is not a valid flow table size (>= 1)");
  if (auto st = opts.capacity.check(); !st.ok()) return st;
  if (opts.nat_table_size < 2)
    return absl::InvalidArgumentError(absl::StrCat(
        "nat_table_size: ", opts.nat_table_size, " is too small (>= 2: two entries per connection)"));
  std::unique_ptr<BpfDataplane> dp(new BpfDataplane());
  if (auto st = dp->load(opts); !st.ok()) return st;
  return dp;
}

absl::Status BpfDataplane::load(const BpfOptions& opts) {
  std::string map_dir;
  if (!opts.pin_dir.empty()) {
    map_dir = absl::StrCat(opts.pin_dir, "/v", XLB_ABI_VERSION);
    if (auto st = ensureBpffsDir(map_dir, &created_dirs_); !st.ok()) return st;
  }

  skel_ = xlb_balancer__open();
  if (!skel_) return errnoStatus("open BPF object xlb_balancer", errno);

  if (const struct bpf_map* inner = bpf_map__inner_map(skel_->maps.xlb_tables))
    table_flags_ = bpf_map__map_flags(inner);
  table_flip_guard_ = opts.table_flip_guard;
  loaded_at_ = std::chrono::steady_clock::now();
  flow_table_size_ = opts.flow_table_size;
  nat_table_size_ = opts.nat_table_size;
  prot_table_size_ = opts.protected_flow_table_size ? opts.protected_flow_table_size
                                                    : opts.flow_table_size;
  if (!map_dir.empty()) {
    // A pinned flow table is reused with its size: flows outlive agent restarts, and libbpf refuses
    // to reuse a pin whose max_entries differs from the object's. After an ABI change the old
    // table's size is kept as well, so the migration never has to leave flows behind.
    keepPinnedSize(opts.pin_dir, "xlb_flows", flow_table_size_);
    keepPinnedSize(opts.pin_dir, "xlb_flows_prot", prot_table_size_);
    // The NAT tables have one size (each family's); ABI 4's single xlb_nat gives its size to
    // both, so every connection it held fits its family's table.
    if (MapMigrator::pinnedSource(opts.pin_dir, XLB_ABI_VERSION, "xlb_nat4").empty())
      keepPinnedSize(opts.pin_dir, "xlb_nat", nat_table_size_);
    else
      keepPinnedSize(opts.pin_dir, "xlb_nat4", nat_table_size_);
  }
  int err = bpf_map__set_max_entries(skel_->maps.xlb_flows, flow_table_size_);
  if (err) return errnoStatus("set xlb_flows size", err);
  err = bpf_map__set_max_entries(skel_->maps.xlb_flows_prot, prot_table_size_);
  if (err) return errnoStatus("set xlb_flows_prot size", err);
  err = bpf_map__set_max_entries(skel_->maps.xlb_nat4, nat_table_size_);
  if (err) return errnoStatus("set xlb_nat4 size", err);
  err = bpf_map__set_max_entries(skel_->maps.xlb_nat6, nat_table_size_);
  if (err) return errnoStatus("set xlb_nat6 size", err);
  // Id ranges (common/capacity.h). A pinned map of another size is migrated into one of this size
  // (migrate.h): growing keeps every entry; shrinking below ids in use loses those entries, which
  // the adoption that follows reports.
  capacity_ = opts.capacity;
  struct bpf_map* by_vip[] = {skel_->maps.xlb_vips,      skel_->maps.xlb_vip_addrs,
                              skel_->maps.xlb_tables,    skel_->maps.xlb_vip_stats,
                              skel_->maps.xlb_rr,        skel_->maps.xlb_snat};
  struct bpf_map* by_backend[] = {skel_->maps.xlb_backends, skel_->maps.xlb_nh_cache,
                                  skel_->maps.xlb_be_stats, skel_->maps.xlb_be_conns,
                                  skel_->maps.xlb_be_nat,   skel_->maps.xlb_nat_fail};
  for (struct bpf_map* m : by_vip) {
    if ((err = bpf_map__set_max_entries(m, capacity_.vips)))
      return errnoStatus(absl::StrCat("set ", bpf_map__name(m), " size"), err);
  }
  for (struct bpf_map* m : by_backend) {
    if ((err = bpf_map__set_max_entries(m, capacity_.backends)))
      return errnoStatus(absl::StrCat("set ", bpf_map__name(m), " size"), err);
  }
  err = bpf_map__set_max_entries(skel_->maps.xlb_nat_eps, capacity_.vips + capacity_.backends);
  if (err) return errnoStatus("set xlb_nat_eps size", err);
  // The knob is in 2^XLB_FLOW_TIME_SHIFT ns units; a non-zero setting never rounds down to 0 (off).
  uint64_t units = (uint64_t{opts.flow_protect_after_ms} * 1000000) >> XLB_FLOW_TIME_SHIFT;
  if (opts.flow_protect_after_ms && units == 0) units = 1;
  skel_->rodata->xlb_protect_after = static_cast<uint32_t>(units);

  if (!map_dir.empty()) {
    // Sets the pin paths (or reuses older pins by fd) and leaves incompatible maps unpinned, to be
    // filled from their old pins before the program takes over.
    auto migrator = MapMigrator::prepare(skel_->obj, opts.pin_dir, XLB_ABI_VERSION, natMapSplits());
    if (!migrator.ok()) return migrator.status();
    migrator_ = std::move(*migrator);
  }

  std::vector<struct bpf_map*> unpinned;  // maps whose pin path is free: load() pins them
  {
    struct bpf_map* m;
    bpf_object__for_each_map(m, skel_->obj) {
      const char* path = bpf_map__pin_path(m);
      if (path != nullptr && !pathExists(path)) unpinned.push_back(m);
    }
  }
  err = xlb_balancer__load(skel_);
  for (struct bpf_map* m : unpinned) {
    const char* path = bpf_map__pin_path(m);
    if (path != nullptr && pathExists(path)) created_pins_.emplace_back(path);
  }
  if (err) {
    auto st = errnoStatus("load BPF program xlb_balancer", err);
    if (!map_dir.empty())
      return absl::Status(st.code(), absl::StrCat(st.message(), " (if maps pinned in ", map_dir,
                                                   " are stale, remove that directory)"));
    return st;
  }
  ncpus_ = libbpf_num_possible_cpus();
  if (ncpus_ <= 0) return errnoStatus("count possible CPUs", ncpus_);
  {
    // xlb_be_conns read-only, for readOpenFlows (a pinned map of the older, unmappable kind was
    // migrated by MapMigrator: its flags differ).
    const size_t len = (size_t{capacity_.backends} * sizeof(uint64_t) + 4095) / 4096 * 4096;
    void* mem = mmap(nullptr, len, PROT_READ, MAP_SHARED, bpf_map__fd(skel_->maps.xlb_be_conns), 0);
    if (mem == MAP_FAILED) return errnoStatus("map xlb_be_conns into memory", errno);
    open_flows_map_ = static_cast<const uint64_t*>(mem);
    open_flows_len_ = len;
  }
  log()->info("loaded xlb_balancer: {}, flow table {} entries (protected {}), NAT tables {} "
              "entries per family, maps {}",
              capacity_.toString(), flow_table_size_, prot_table_size_, nat_table_size_,
              map_dir.empty() ? std::string("unpinned") : map_dir);
  return absl::OkStatus();
}

absl::Status BpfDataplane::finishMigration() {
  if (!migrator_) return absl::OkStatus();
  if (auto st = migrator_->migrate(ncpus_); !st.ok()) return st;
  if (auto st = migrator_->finish(); !st.ok()) return st;
  migration_ = migrator_->report();
  migrator_.reset();
  return absl::OkStatus();
}

absl::Status BpfDataplane::attach(const BpfOptions& opts) {
  std::vector<std::string> ifnames{opts.interface};
  for (const std::string& extra : opts.extra_interfaces) {
    if (std::find(ifnames.begin(), ifnames.end(), extra) != ifnames.end())
      return absl::InvalidArgumentError(
          absl::StrCat("--interface ", extra, " is given more than once"));
    ifnames.push_back(extra);
  }
  for (const std::string& ifname : ifnames) {
    if (if_nametoindex(ifname.c_str()) == 0)
      return absl::NotFoundError(
          absl::StrCat("interface ", ifname, ": no such interface (check `ip link`)"));
  }
  // Zero loss across a layout change: the old program keeps running on the old maps while they are
  // copied, the links switch programs right after, and finishMigration() then catches up the
  // flows recorded in between before the old pins go.
  if (migrator_) {
    if (auto st = migrator_->migrate(ncpus_); !st.ok()) return st;
  }
  for (const std::string& ifname : ifnames) {
    if (auto st = attachOne(opts, ifname); !st.ok()) return st;
  }
  return finishMigration();
}

absl::Status BpfDataplane::attachOne(const BpfOptions& opts, const std::string& ifname) {
  unsigned ifindex = if_nametoindex(ifname.c_str());
  if (ifindex == 0)
    return absl::NotFoundError(
        absl::StrCat("interface ", ifname, ": no such interface (check `ip link`)"));
  int prog_fd = programFd();
  // VLAN acceptance needs the tag in the frame XDP sees (nic_features.h).
  if (auto changed = disableRxVlanStripping(ifname); !changed.ok()) {
    log()->warn("{}: VLAN tags the NIC strips are invisible to the balancer: tagged frames would be "
                "balanced as untagged ones whatever --vlan-ids says",
                std::string(changed.status().message()));
  } else if (!changed->empty()) {
    log()->info("{}: turned off {} so that the balancer sees VLAN tags", ifname,
                absl::StrJoin(*changed, ", "));
  }
  Link link;
  link.interface = ifname;
  if (!opts.pin_dir.empty()) link.pin = absl::StrCat(opts.pin_dir, "/link_", ifname);

  if (!link.pin.empty() && pathExists(link.pin)) {
    int fd = bpf_obj_get(link.pin.c_str());
    if (fd >= 0) {
      bpf_link_info info{};
      uint32_t len = sizeof(info);
      bool same_if = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == BPF_LINK_TYPE_XDP &&
                     info.xdp.ifindex == ifindex;
      if (same_if && bpf_link_update(fd, prog_fd, nullptr) == 0) {
        link.fd = fd;
        log()->info("replaced the program on pinned XDP link {} ({})", link.pin, ifname);
        links_.push_back(std::move(link));
        return absl::OkStatus();
      }
      log()->warn("pinned link {} is stale (interface gone or re-created); attaching anew", link.pin);
      close(fd);
    }
    unlink(link.pin.c_str());
  }

  LIBBPF_OPTS(bpf_link_create_opts, lopts);
  lopts.flags = opts.xdp_generic ? XDP_FLAGS_SKB_MODE : 0;
  int fd = bpf_link_create(prog_fd, static_cast<int>(ifindex), BPF_XDP, &lopts);
  if (fd < 0) {
    auto st = errnoStatus(absl::StrCat("attach XDP to ", ifname), fd);
    if (fd == -EBUSY || fd == -EEXIST)
      return absl::FailedPreconditionError(
          absl::StrCat(st.message(), ": another XDP program is attached (`ip link set dev ",
                       ifname, " xdp off` to remove it)"));
    return st;
  }
  link.fd = fd;
  if (!link.pin.empty()) {
    int err = bpf_obj_pin(fd, link.pin.c_str());
    if (err) {
      close(fd);
      return errnoStatus(absl::StrCat("pin XDP link at ", link.pin), err);
    }
  }
  log()->info("attached xlb_balancer to {} ({} mode){}", ifname,
              opts.xdp_generic ? "generic" : "native",
              link.pin.empty() ? "" : absl::StrCat(", link pinned at ", link.pin));
  links_.push_back(std::move(link));
  return absl::OkStatus();
}

absl::Status BpfDataplane::vipIdOk(uint32_t id) const {
  if (id < capacity_.vips) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("vip id ", id, " is not below the data plane's ", capacity_.vips, " VIPs"));
}

absl::Status BpfDataplane::backendIdOk(uint32_t id) const {
  if (id < capacity_.backends) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("backend id ", id, " is not below the data plane's ",
                                                 capacity_.backends, " backends"));
}

BpfDataplane::~BpfDataplane() {
  for (const Link& l : links_) {
    if (l.fd >= 0) close(l.fd);
  }
  if (!taken_over_) {
    // Nothing ran on what open() made: unpin it (the maps go with the skeleton below).
    for (const std::string& pin : created_pins_) unlink(pin.c_str());
    for (auto it = created_dirs_.rbegin(); it != created_dirs_.rend(); ++it) rmdir(it->c_str());
    if (!created_pins_.empty() || !created_dirs_.empty()) {
      log()->info("removed the {} map pins and {} directories of a load that did not take over",
                  created_pins_.size(), created_dirs_.size());
    }
  }
  if (empty_table_fd_ >= 0) close(empty_table_fd_);
  if (open_flows_map_ != nullptr) munmap(const_cast<uint64_t*>(open_flows_map_), open_flows_len_);
  if (skel_) xlb_balancer__destroy(skel_);
}

absl::Status BpfDataplane::detach() {
  if (links_.empty()) return absl::FailedPreconditionError("detach: the balancer is not attached");
  absl::Status result;
  for (Link& l : links_) {
    int err = bpf_link_detach(l.fd);
    if (err && err != -ENOLINK) {
      if (result.ok()) result = errnoStatus(absl::StrCat("detach XDP from ", l.interface), err);
      continue;
    }
    if (!l.pin.empty()) unlink(l.pin.c_str());
    close(l.fd);
    l.fd = -1;
    log()->info("detached xlb_balancer from {}", l.interface);
  }
  std::erase_if(links_, [](const Link& l) { return l.fd < 0; });
  return result;
}

int BpfDataplane::programFd() const { return bpf_program__fd(skel_->progs.xlb_balancer); }

int BpfDataplane::mapFd(absl::string_view name) const {
  struct bpf_map* map =
      bpf_object__find_map_by_name(skel_->obj, std::string(name.data(), name.size()).c_str());
  return map ? bpf_map__fd(map) : -1;
}

absl::Status BpfDataplane::upsertVip(const xlb_vip_key& key, const xlb_vip_value& value) {
  if (auto st = vipIdOk(value.vip_id); !st.ok()) return st;
  return mapUpdate(bpf_map__fd(skel_->maps.xlb_vips), "xlb_vips", &key, &value);
}

absl::Status BpfDataplane::deleteVip(const xlb_vip_key& key) {
  return mapDelete(bpf_map__fd(skel_->maps.xlb_vips), "xlb_vips", &key);
}

absl::Status BpfDataplane::upsertVipAddr(const xlb_addr_key& key, const xlb_addr_value& value) {
  return mapUpdate(bpf_map__fd(skel_->maps.xlb_vip_addrs), "xlb_vip_addrs", &key, &value);
}

absl::Status BpfDataplane::deleteVipAddr(const xlb_addr_key& key) {
  return mapDelete(bpf_map__fd(skel_->maps.xlb_vip_addrs), "xlb_vip_addrs", &key);
}

absl::Status BpfDataplane::upsertBackend(uint32_t id, const xlb_backend& backend) {
  if (auto st = backendIdOk(id); !st.ok()) return st;
  auto status = mapUpdate(bpf_map__fd(skel_->maps.xlb_backends), "xlb_backends", &id, &backend);
  if (status.ok()) keepNextHopResolved(backend);
  return status;
}

void BpfDataplane::keepNextHopResolved(const xlb_backend& backend) {
  if (links_.empty() || !(backend.flags & XLB_BE_F_ACTIVE)) return;
  // bpf_fib_lookup() never triggers ARP/ND; without a resolved neighbour the balancer would drop
  // (dsr) or hand packets to the kernel (ipip). Best effort: an unroutable backend is reported,
  // not fatal, so one bad address does not block a whole config.
  IpAddress addr;
  addr.family = backend.family;
  std::copy(std::begin(backend.addr), std::end(backend.addr), addr.bytes.begin());
  if (auto route = ensureManagedNeighbour(addr); !route.ok()) {
    spdlog::warn("[dataplane] backend {}: cannot keep its next hop resolved: {}", addr.toString(),
                 route.status().ToString());
  }
}

absl::Status BpfDataplane::upsertBackends(
    std::span<const std::pair<uint32_t, xlb_backend>> writes) {
  for (const auto& w : writes) {
    if (auto st = backendIdOk(w.first); !st.ok()) return st;
  }
  auto status =
      writeArraySlots<xlb_backend>(bpf_map__fd(skel_->maps.xlb_backends), "xlb_backends", writes);
  if (!status.ok()) return status;
  for (const auto& w : writes) keepNextHopResolved(w.second);
  return status;
}

absl::Status BpfDataplane::deleteBackend(uint32_t id) {
  if (auto st = backendIdOk(id); !st.ok()) return st;
  xlb_backend empty{};
  if (auto st = mapUpdate(bpf_map__fd(skel_->maps.xlb_backends), "xlb_backends", &id, &empty);
      !st.ok())
    return st;
  // After the slot: flows still recorded on it re-steer without touching the count (gen mismatch).
  return setOpenFlows(id, 0);
}

absl::Status BpfDataplane::setSettings(const xlb_settings& settings) {
  uint32_t zero = 0;
  return mapUpdate(bpf_map__fd(skel_->maps.xlb_settings), "xlb_settings", &zero, &settings);
}

// The whole array in one batch update (4096 entries, one syscall): the set changes rarely, and a
// full rewrite needs no diff against what the map holds.
absl::Status BpfDataplane::setAcceptedVlans(std::span<const uint32_t> ids) {
  constexpr uint32_t kEntries = XLB_MAX_VLAN_ID + 1;
  std::vector<uint32_t> keys(kEntries), vals(kEntries, 0);
  for (uint32_t i = 0; i < kEntries; ++i) keys[i] = i;
  for (uint32_t id : ids) {
    if (id == 0 || id >= XLB_MAX_VLAN_ID) {
      return absl::InvalidArgumentError(
          absl::StrCat("VLAN id ", id, " is not in [1, ", XLB_MAX_VLAN_ID - 1, "]"));
    }
    vals[id] = 1;
  }
  uint32_t count = kEntries;
  int err = bpf_map_update_batch(bpf_map__fd(skel_->maps.xlb_vlans), keys.data(), vals.data(),
                                 &count, nullptr);
  if (err) return errnoStatus("update map xlb_vlans", err);
  return absl::OkStatus();
}

namespace {

// A per-CPU array of u64 counters, summed over CPUs.
absl::StatusOr<std::vector<uint64_t>> readSummedU64(int fd, const char* name, uint32_t entries,
                                                    int ncpus) {
  std::vector<uint64_t> out;
  auto add_u64 = [](uint64_t& acc, const uint64_t& v) { acc += v; };
  if (auto st = readPerCpu(fd, name, entries, ncpus, out, add_u64); !st.ok()) return st;
  return out;
}

}  // namespace

absl::StatusOr<CounterSnapshot> BpfDataplane::readCounters() {
  CounterSnapshot snap;
  auto add_counters = [](xlb_counters& acc, const xlb_counters& v) {
    acc.packets += v.packets;
    acc.bytes += v.bytes;
    acc.new_flows += v.new_flows;
  };
  auto global = readGlobal();
  if (!global.ok()) return global.status();
  snap.global = std::move(*global);
  auto drops = readDrops();
  if (!drops.ok()) return drops.status();
  snap.drops = std::move(*drops);
  if (auto st = readPerCpu(bpf_map__fd(skel_->maps.xlb_vip_stats), "xlb_vip_stats", capacity_.vips,
                           ncpus_, snap.vips, add_counters);
      !st.ok())
    return st;
  if (auto st = readPerCpu(bpf_map__fd(skel_->maps.xlb_be_stats), "xlb_be_stats",
                           capacity_.backends, ncpus_, snap.backends, add_counters);
      !st.ok())
    return st;
  return snap;
}

absl::StatusOr<std::vector<uint64_t>> BpfDataplane::readDrops() {
  return readSummedU64(bpf_map__fd(skel_->maps.xlb_drops), "xlb_drops", XLB_DROP_MAX, ncpus_);
}

absl::StatusOr<std::vector<uint64_t>> BpfDataplane::readGlobal() {
  return readSummedU64(bpf_map__fd(skel_->maps.xlb_stats), "xlb_stats", XLB_STAT_MAX, ncpus_);
}

absl::StatusOr<std::vector<uint64_t>> BpfDataplane::readOpenFlows() {
  // The program keeps adding to the counts under us; each aligned u64 is read whole.
  std::vector<uint64_t> out(capacity_.backends);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = __atomic_load_n(open_flows_map_ + i, __ATOMIC_RELAXED);
  return out;
}

absl::StatusOr<OpenFlowCounts> BpfDataplane::openFlowCounts() {
  return OpenFlowCounts(open_flows_map_, capacity_.backends);
}

absl::Status BpfDataplane::setOpenFlows(uint32_t backend_id, uint64_t count) {
  if (auto st = backendIdOk(backend_id); !st.ok()) return st;
  return mapUpdate(bpf_map__fd(skel_->maps.xlb_be_conns), "xlb_be_conns", &backend_id, &count);
}

namespace {

absl::Status scanFlowMap(int fd, const char* name, uint32_t chunk,
                         const std::function<void(const xlb_flow_key&, const xlb_flow_value&)>& fn) {
  return scanHashMap<xlb_flow_key, xlb_flow_value>(fd, name, chunk, fn);
}

}  // namespace

absl::Status BpfDataplane::forEachFlow(const FlowVisitor& fn, FlowScanCounts* counts) {
  const int lru_fd = bpf_map__fd(skel_->maps.xlb_flows);
  FlowScanCounts c;
  auto st = scanFlowMap(lru_fd, "xlb_flows", kFlowBatch,
                        [&](const xlb_flow_key& k, const xlb_flow_value& v) {
                          ++c.lru;
                          fn(k, v);
                        });
  if (!st.ok()) return st;
  // A protected copy is visited only when its LRU copy is gone (evicted by pressure). A user-space
  // lookup does not mark the LRU entry referenced.
  st = scanFlowMap(bpf_map__fd(skel_->maps.xlb_flows_prot), "xlb_flows_prot", kFlowBatch,
                   [&](const xlb_flow_key& k, const xlb_flow_value& v) {
                     xlb_flow_value lv;
                     if (bpf_map_lookup_elem(lru_fd, &k, &lv) == 0) return;
                     ++c.protected_only;
                     fn(k, v);
                   });
  if (!st.ok()) return st;
  if (counts) *counts = c;
  return absl::OkStatus();
}

absl::StatusOr<Dataplane::ProtectedSweep> BpfDataplane::sweepProtectedFlows(
    uint64_t now_ns, const ProtectedTimeouts& timeouts, size_t max_changes) {
  const int lru_fd = bpf_map__fd(skel_->maps.xlb_flows);
  const int prot_fd = bpf_map__fd(skel_->maps.xlb_flows_prot);
  ProtectedSweep r;
  std::vector<xlb_flow_key> del_keys;
  std::vector<std::pair<xlb_flow_key, xlb_flow_value>> refresh;
  auto st = scanFlowMap(prot_fd, "xlb_flows_prot", kFlowBatch,
                        [&](const xlb_flow_key& k, const xlb_flow_value& v) {
                          ++r.entries;
                          if (protectedVerdict(k, v, now_ns, timeouts) == ProtectedVerdict::kKeep)
                            return;
                          if (del_keys.size() + refresh.size() >= max_changes) {
                            r.truncated = true;
                            return;
                          }
                          std::optional<xlb_flow_value> lru;
                          xlb_flow_value lv;
                          if (bpf_map_lookup_elem(lru_fd, &k, &lv) == 0) lru = lv;
                          auto d = decideWithLru(k, v, lru, now_ns, timeouts);
                          if (d.action == ProtectedDecision::kDelete) {
                            del_keys.push_back(k);
                          } else if (d.action == ProtectedDecision::kRefresh) {
                            xlb_flow_value nv = v;
                            nv.last_seen_ns = d.last_seen_ns;
                            refresh.emplace_back(k, nv);
                          }
                        });
  if (!st.ok()) return st;
  // Written after the scan (a batch read must not see the table change under it). A packet that
  // rewrites an entry between the read and this write loses at most its flags' latest change to a
  // refresh, which the LRU copy still holds.
  for (const auto& [k, v] : refresh) {
    if (bpf_map_update_elem(prot_fd, &k, &v, BPF_EXIST) == 0) ++r.refreshed;
  }
  if (!del_keys.empty()) {
    uint32_t count = static_cast<uint32_t>(del_keys.size());
    int err = bpf_map_delete_batch(prot_fd, del_keys.data(), &count, nullptr);
    if (err == 0) {
      r.deleted = count;
    } else {
      // A key removed meanwhile (ENOENT) stops a batch: finish one by one.
      r.deleted = count;
      for (size_t i = count; i < del_keys.size(); ++i) {
        if (bpf_map_delete_elem(prot_fd, &del_keys[i]) == 0) ++r.deleted;
      }
    }
  }
  return r;
}

uint64_t BpfDataplane::monotonicNowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// ---- point reads (inspection) ----

absl::StatusOr<std::optional<xlb_vip_value>> BpfDataplane::lookupVip(const xlb_vip_key& key) {
  xlb_vip_value v{};
  int err = bpf_map_lookup_elem(bpf_map__fd(skel_->maps.xlb_vips), &key, &v);
  if (err == -ENOENT) return std::optional<xlb_vip_value>();
  if (err) return errnoStatus("lookup map xlb_vips", err);
  return std::optional<xlb_vip_value>(v);
}

absl::StatusOr<std::optional<xlb_flow_value>> BpfDataplane::lookupFlow(const xlb_flow_key& key) {
  xlb_flow_value v{};
  // A lookup from user space neither marks the LRU entry referenced nor refreshes last_seen_ns:
  // inspecting a flow does not keep it alive. The protected copy answers when the LRU lost it.
  int err = bpf_map_lookup_elem(bpf_map__fd(skel_->maps.xlb_flows), &key, &v);
  if (err == -ENOENT) err = bpf_map_lookup_elem(bpf_map__fd(skel_->maps.xlb_flows_prot), &key, &v);
  if (err == -ENOENT) return std::optional<xlb_flow_value>();
  if (err) return errnoStatus("lookup map xlb_flows", err);
  return std::optional<xlb_flow_value>(v);
}

absl::StatusOr<xlb_backend> BpfDataplane::readBackend(uint32_t id) {
  if (auto st = backendIdOk(id); !st.ok()) return st;
  xlb_backend b{};
  int err = bpf_map_lookup_elem(bpf_map__fd(skel_->maps.xlb_backends), &id, &b);
  if (err) return errnoStatus(absl::StrCat("lookup map xlb_backends[", id, "]"), err);
  return b;
}

absl::StatusOr<xlb_settings> BpfDataplane::readSettings() {
  uint32_t zero = 0;
  xlb_settings s{};
  int err = bpf_map_lookup_elem(bpf_map__fd(skel_->maps.xlb_settings), &zero, &s);
  if (err) return errnoStatus("lookup map xlb_settings", err);
  return s;
}

}  // namespace xlb::dataplane
