// SPDX-License-Identifier: Apache-2.0
// Map-layout migration: BTF-driven field matching, entry copy between pinned and new maps, pin
// moves.
#include "dataplane/migrate.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/errors.h"
#include "spdlog/spdlog.h"

namespace xlb::dataplane {
namespace {

constexpr const char* kArrow = "\u2192";

std::string sizeChange(uint32_t a, uint32_t b) { return absl::StrCat(a, kArrow, b); }

const LayoutMember* findMember(const Layout& l, const std::string& name) {
  if (name.empty()) return nullptr;  // anonymous members cannot be matched by name
  for (const auto& m : l.members)
    if (m.name == name) return &m;
  return nullptr;
}

std::string memberName(const LayoutMember& m) { return m.name.empty() ? "<anonymous>" : m.name; }

bool isPerCpu(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

bool isArray(uint32_t type) {
  return type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
         type == BPF_MAP_TYPE_ARRAY_OF_MAPS;
}

bool isMapInMap(uint32_t type) {
  return type == BPF_MAP_TYPE_ARRAY_OF_MAPS || type == BPF_MAP_TYPE_HASH_OF_MAPS;
}

bool isHash(uint32_t type) {
  return type == BPF_MAP_TYPE_HASH || type == BPF_MAP_TYPE_LRU_HASH ||
         type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_LRU_PERCPU_HASH ||
         type == BPF_MAP_TYPE_HASH_OF_MAPS;
}

bool pathExists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

std::shared_ptr<spdlog::logger> log() {
  auto l = spdlog::get("dataplane");
  return l ? l : spdlog::default_logger();
}

const char* btfKindName(const struct btf_type* t) {
  switch (btf_kind(t)) {
    case BTF_KIND_INT:
      return "int";
    case BTF_KIND_PTR:
      return "ptr";
    case BTF_KIND_ARRAY:
      return "array";
    case BTF_KIND_STRUCT:
      return "struct";
    case BTF_KIND_UNION:
      return "union";
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64:
      return "enum";
    case BTF_KIND_FLOAT:
      return "float";
    default:
      return "other";
  }
}

// Flags and value size of the first inner map an ARRAY_OF_MAPS holds (what its template requires),
// or nothing when it holds none. Key by key: a batched read stops at the first empty slot.
// HASH_OF_MAPS keys are not indices, so they are walked.
std::optional<std::pair<uint32_t, uint32_t>> innerShapeOf(int fd, const bpf_map_info& info) {
  std::vector<uint8_t> key(info.key_size), next(info.key_size);
  bool first = true;
  for (uint32_t step = 0; step < info.max_entries; ++step) {
    if (bpf_map_get_next_key(fd, first ? nullptr : key.data(), next.data()) != 0) break;
    first = false;
    key = next;
    uint32_t id = 0;
    if (bpf_map_lookup_elem(fd, key.data(), &id) != 0) continue;
    int inner = bpf_map_get_fd_by_id(id);
    if (inner < 0) continue;
    bpf_map_info in{};
    uint32_t len = sizeof(in);
    int err = bpf_obj_get_info_by_fd(inner, &in, &len);
    close(inner);
    if (err == 0) return std::make_pair(in.map_flags, in.value_size);
  }
  return std::nullopt;
}

// Whether the empty ARRAY_OF_MAPS `fd` takes inner maps like the object's template `inner`: a
// zeroed map of that shape is put in slot 0 and taken out again. Safe while a program runs on the
// outer map because every xlb map-in-map reads an all-zero inner map as absent (a selection table
// of size 0), exactly like the empty slot.
bool emptyOuterTakes(int fd, const struct bpf_map* inner) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = bpf_map__map_flags(inner));
  int probe = bpf_map_create(bpf_map__type(inner), "xlb_probe", bpf_map__key_size(inner),
                             bpf_map__value_size(inner), std::max(1u, bpf_map__max_entries(inner)),
                             &opts);
  if (probe < 0) return false;
  const uint32_t slot = 0;
  const bool taken = bpf_map_update_elem(fd, &slot, &probe, BPF_ANY) == 0;
  if (taken) bpf_map_delete_elem(fd, &slot);
  close(probe);
  return taken;
}

// A copy of the array map `fd` (every index) created with `flags` and values of `value_size` bytes
// (each old value's bytes first, the rest zero; cut when smaller), for an outer map whose inner
// template changed. The copy's fd, owned by the caller.
absl::StatusOr<int> cloneArrayMap(int fd, uint32_t flags, uint32_t value_size) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (int err = bpf_obj_get_info_by_fd(fd, &info, &len); err)
    return errnoStatus("read inner map info", err);
  if (info.type != BPF_MAP_TYPE_ARRAY || info.key_size != sizeof(uint32_t))
    return absl::UnimplementedError(absl::StrCat("inner map of type ", mapTypeName(info.type),
                                                 " cannot be rebuilt with a new shape"));
  const uint32_t n = info.max_entries, vs = info.value_size;
  std::vector<uint32_t> keys(n);
  std::vector<uint8_t> vals(size_t{n} * vs);
  uint32_t got = 0, in_batch = 0, out_batch = 0;
  while (got < n) {
    uint32_t count = n - got;
    int err = bpf_map_lookup_batch(fd, got == 0 ? nullptr : &in_batch, &out_batch,
                                   keys.data() + got, vals.data() + size_t{got} * vs, &count,
                                   nullptr);
    got += count;
    in_batch = out_batch;
    if (err == -ENOENT) break;
    if (err) return errnoStatus("read the inner map", err);
  }
  if (got != n) return absl::DataLossError(absl::StrCat("inner map: read ", got, " of ", n));
  std::vector<uint8_t> out_vals(size_t{n} * value_size, 0);
  const size_t keep = std::min(vs, value_size);
  for (uint32_t i = 0; i < n; ++i)
    std::memcpy(out_vals.data() + size_t{i} * value_size, vals.data() + size_t{i} * vs, keep);
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
  int out = bpf_map_create(BPF_MAP_TYPE_ARRAY, info.name, info.key_size, value_size, n, &opts);
  if (out < 0) return errnoStatus("create the rebuilt inner map", out);
  uint32_t count = n;
  if (int err = bpf_map_update_batch(out, keys.data(), out_vals.data(), &count, nullptr); err) {
    close(out);
    return errnoStatus("fill the rebuilt inner map", err);
  }
  return out;
}

// The shape of a map as the kernel has it (old side) or as the object will create it (new side).
absl::StatusOr<MapShape> shapeOfFd(int fd, const std::string& what,
                                   std::map<uint32_t, struct btf*>& btf_cache) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (int err = bpf_obj_get_info_by_fd(fd, &info, &len); err)
    return errnoStatus(absl::StrCat("read map info of ", what), err);
  MapShape s{info.type, info.key_size, info.value_size, info.max_entries, info.map_flags, {}, {},
             {}};
  if (isMapInMap(info.type)) {
    if (auto in = innerShapeOf(fd, info)) {
      s.inner_flags = in->first;
      s.inner_value_size = in->second;
    }
  }
  if (info.btf_id == 0) return s;
  auto it = btf_cache.find(info.btf_id);
  if (it == btf_cache.end()) {
    struct btf* b = btf__load_from_kernel_by_id(info.btf_id);
    // A map whose BTF cannot be read is compared by sizes only, like a map created without BTF.
    it = btf_cache.emplace(info.btf_id, b).first;
  }
  if (!it->second) return s;
  if (info.btf_key_type_id) {
    if (auto l = layoutFromBtf(it->second, info.btf_key_type_id); l.ok()) s.key = *l;
  }
  if (info.btf_value_type_id && !isMapInMap(info.type)) {
    if (auto l = layoutFromBtf(it->second, info.btf_value_type_id); l.ok()) s.value = *l;
  }
  return s;
}

MapShape shapeOfObjectMap(const struct bpf_map* map, const struct btf* obj_btf) {
  MapShape s{static_cast<uint32_t>(bpf_map__type(map)),
             bpf_map__key_size(map),
             bpf_map__value_size(map),
             bpf_map__max_entries(map),
             bpf_map__map_flags(map),
             {},
             {},
             {}};
  if (const struct bpf_map* inner = bpf_map__inner_map(const_cast<struct bpf_map*>(map))) {
    s.inner_flags = bpf_map__map_flags(inner);
    s.inner_value_size = bpf_map__value_size(inner);
  }
  if (!obj_btf) return s;
  if (uint32_t id = bpf_map__btf_key_type_id(map); id) {
    if (auto l = layoutFromBtf(obj_btf, id); l.ok()) s.key = *l;
  }
  if (uint32_t id = bpf_map__btf_value_type_id(map); id && !isMapInMap(s.type)) {
    if (auto l = layoutFromBtf(obj_btf, id); l.ok()) s.value = *l;
  }
  return s;
}

// The newest v<K> directory with K < abi_version, or -1.
int newestOlderVersion(const std::string& pin_dir, int abi_version) {
  std::error_code ec;
  int best = -1;
  for (const auto& de : std::filesystem::directory_iterator(pin_dir, ec)) {
    const std::string name = de.path().filename().string();
    if (name.size() < 2 || name[0] != 'v' || !de.is_directory(ec)) continue;
    if (!std::all_of(name.begin() + 1, name.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    if (name.size() > 10) continue;
    int k = std::stoi(name.substr(1));
    if (k < abi_version && k > best) best = k;
  }
  return best;
}

std::string joinOrNone(const std::vector<std::string>& v) {
  return v.empty() ? "none" : absl::StrJoin(v, ", ");
}

}  // namespace

// ---- planning ----------------------------------------------------------------------------------

LayoutPlan planLayout(const Layout& from, const Layout& to) {
  LayoutPlan p;
  if (from.composite() && to.composite()) {
    p.identical =
        from.kind == to.kind && from.size == to.size && from.members.size() == to.members.size();
    for (size_t i = 0; p.identical && i < to.members.size(); ++i) {
      const auto &a = from.members[i], &b = to.members[i];
      p.identical =
          a.name == b.name && a.offset == b.offset && a.size == b.size && a.kind == b.kind;
    }
    if (p.identical) {
      p.complete = p.usable = true;
      p.copies.push_back({0, 0, to.size});
      return p;
    }
    for (const auto& t : to.members) {
      const LayoutMember* f = findMember(from, t.name);
      if (!f) {
        p.added.push_back(memberName(t));
      } else if (f->kind == "bitfield" || t.kind == "bitfield") {
        p.resized.push_back(absl::StrCat(t.name, " (bitfield)"));
      } else if (f->size != t.size || f->kind != t.kind) {
        p.resized.push_back(f->size != t.size
                                ? absl::StrCat(t.name, " ", sizeChange(f->size, t.size), " bytes")
                                : absl::StrCat(t.name, " ", f->kind, kArrow, t.kind));
      } else {
        p.copies.push_back({f->offset, t.offset, t.size});
      }
    }
    for (const auto& f : from.members)
      if (!findMember(to, f.name)) p.dropped.push_back(memberName(f));
    p.complete = p.added.empty() && p.dropped.empty() && p.resized.empty();
    p.usable = !p.copies.empty();
    if (!p.resized.empty())
      p.reason = absl::StrCat("member ", p.resized.front());
    else if (!p.dropped.empty())
      p.reason = absl::StrCat("member ", p.dropped.front(), " missing");
    else if (!p.added.empty())
      p.reason = absl::StrCat("member ", p.added.front(), " added");
    if (!p.usable) p.reason = "no member in common";
    if (p.complete && from.size != to.size)
      p.reason = absl::StrCat("size ", sizeChange(from.size, to.size));
    return p;
  }
  if (!from.composite() && !to.composite()) {
    if (from.size == to.size) {
      p.identical = p.complete = p.usable = true;
      p.copies.push_back({0, 0, to.size});
    } else {
      p.reason = absl::StrCat("size ", sizeChange(from.size, to.size));
    }
    return p;
  }
  p.reason = absl::StrCat(from.kind, kArrow, to.kind);
  return p;
}

void applyLayoutPlan(const LayoutPlan& plan, const uint8_t* from, uint8_t* to, uint32_t to_size) {
  std::memset(to, 0, to_size);
  for (const auto& c : plan.copies) std::memcpy(to + c.to_offset, from + c.from_offset, c.size);
}

const char* mapTypeName(uint32_t type) {
  const char* n = libbpf_bpf_map_type_str(static_cast<enum bpf_map_type>(type));
  return n ? n : "unknown";
}

MapPlan planMap(const MapShape& from, const MapShape& to) {
  MapPlan p;
  if (from.type != to.type) {
    p.action = MapAction::kReset;
    p.reason = absl::StrCat("map type ", mapTypeName(from.type), kArrow, mapTypeName(to.type));
    return p;
  }
  // Map-in-map values are inner map ids; BTF describes them differently on each side (if at all).
  const bool btf_keys = from.key && to.key, btf_values = from.value && to.value;
  p.key = planLayout(btf_keys ? *from.key : Layout::raw(from.key_size),
                     btf_keys ? *to.key : Layout::raw(to.key_size));
  p.value = isMapInMap(to.type)
                ? planLayout(Layout::raw(4), Layout::raw(4))
                : planLayout(btf_values ? *from.value : Layout::raw(from.value_size),
                             btf_values ? *to.value : Layout::raw(to.value_size));
  // Sizes are authoritative even where BTF agrees (a BTF-less side is compared by size only).
  if (from.key_size != to.key_size && p.key.complete && btf_keys) p.key.identical = false;
  if (from.value_size != to.value_size) p.value.identical = false;

  std::vector<std::string> diffs;
  if (from.key_size != to.key_size)
    diffs.push_back(absl::StrCat("key size ", sizeChange(from.key_size, to.key_size)));
  else if (!p.key.identical)
    diffs.push_back(absl::StrCat("key layout: ", p.key.reason.empty() ? "changed" : p.key.reason));
  if (from.value_size != to.value_size)
    diffs.push_back(absl::StrCat("value size ", sizeChange(from.value_size, to.value_size)));
  else if (!p.value.identical)
    diffs.push_back(
        absl::StrCat("value layout: ", p.value.reason.empty() ? "changed" : p.value.reason));
  if (from.max_entries != to.max_entries)
    diffs.push_back(absl::StrCat("max_entries ", sizeChange(from.max_entries, to.max_entries)));
  if (from.flags != to.flags)
    diffs.push_back(
        absl::StrCat("flags 0x", absl::Hex(from.flags), kArrow, "0x", absl::Hex(to.flags)));
  if (to.inner_flags && from.inner_flags != to.inner_flags)
    diffs.push_back(absl::StrCat(
        "inner map flags ",
        from.inner_flags ? absl::StrCat("0x", absl::Hex(*from.inner_flags)) : std::string("unknown"),
        kArrow, "0x", absl::Hex(*to.inner_flags)));
  if (to.inner_value_size && from.inner_value_size != to.inner_value_size)
    diffs.push_back(absl::StrCat(
        "inner map value size ",
        from.inner_value_size ? sizeChange(*from.inner_value_size, *to.inner_value_size)
                              : absl::StrCat("unknown", kArrow, *to.inner_value_size)));
  if (diffs.empty()) {
    p.action = MapAction::kReuse;
    return p;
  }
  p.reason = absl::StrJoin(diffs, ", ");
  if (!p.key.complete) {
    p.action = MapAction::kReset;
    if (from.key_size == to.key_size && !p.key.reason.empty())
      p.reason = absl::StrCat(p.reason, "; key not mappable");
    p.reason = absl::StrCat(p.reason, "; no field mapping");
    return p;
  }
  if (!p.value.usable) {
    p.action = MapAction::kReset;
    p.reason = absl::StrCat(p.reason, "; no field mapping");
    return p;
  }
  p.action = MapAction::kMigrate;
  return p;
}

std::string MapMigration::line() const {
  std::string head = absl::StrCat("migrate: ", map, " ", from, kArrow, to, ": ");
  switch (outcome) {
    case Outcome::kReused:
      return absl::StrCat(head, "reused");
    case Outcome::kCreated:
      return absl::StrCat(head, "new map, created empty");
    case Outcome::kReset:
      return absl::StrCat(head, "reset (", reason, ")");
    case Outcome::kMigrated:
      break;
  }
  std::string s = absl::StrCat(head, copied, " entries migrated field-wise (", reason,
                               "; added: ", joinOrNone(added), "; dropped: ", joinOrNone(dropped));
  if (!resized.empty()) absl::StrAppend(&s, "; resized, now zero: ", joinOrNone(resized));
  absl::StrAppend(&s, ")");
  if (caught_up) absl::StrAppend(&s, ", ", caught_up, " more caught up after the switch");
  if (not_fit) absl::StrAppend(&s, ", ", not_fit, " did not fit");
  return s;
}

// ---- kernel side -------------------------------------------------------------------------------

absl::StatusOr<Layout> layoutFromBtf(const struct btf* btf, uint32_t type_id) {
  int id = btf__resolve_type(btf, type_id);
  if (id < 0) return absl::NotFoundError(absl::StrCat("BTF type ", type_id, " not found"));
  const struct btf_type* t = btf__type_by_id(btf, static_cast<uint32_t>(id));
  int64_t size = btf__resolve_size(btf, static_cast<uint32_t>(id));
  if (!t || size < 0)
    return absl::NotFoundError(absl::StrCat("BTF type ", type_id, " has no size"));
  Layout l{btfKindName(t), static_cast<uint32_t>(size), {}};
  if (!btf_is_composite(t)) return l;
  const struct btf_member* m = btf_members(t);
  for (uint16_t i = 0; i < btf_vlen(t); ++i, ++m) {
    LayoutMember lm;
    const char* name = btf__name_by_offset(btf, m->name_off);
    lm.name = name ? name : "";
    uint32_t bit_off = btf_member_bit_offset(t, i);
    lm.offset = bit_off / 8;
    int mid = btf__resolve_type(btf, m->type);
    int64_t msize = mid < 0 ? -1 : btf__resolve_size(btf, static_cast<uint32_t>(mid));
    if (mid < 0 || msize < 0)
      return absl::NotFoundError(absl::StrCat("BTF member ", lm.name, " has no size"));
    lm.size = static_cast<uint32_t>(msize);
    lm.kind = btfKindName(btf__type_by_id(btf, static_cast<uint32_t>(mid)));
    // Bitfields never match by bytes: they are reported resized (and zeroed) instead.
    if (btf_member_bitfield_size(t, i) != 0 || bit_off % 8 != 0) lm.kind = "bitfield";
    l.members.push_back(std::move(lm));
  }
  return l;
}

absl::StatusOr<uint64_t> copyMapEntries(int from_fd, const MapShape& from, int to_fd,
                                        const MapShape& to, const MapPlan& plan, int ncpus,
                                        uint64_t capacity, uint64_t* not_fit, bool skip_present,
                                        const EntryConverter* convert) {
  const bool percpu = isPerCpu(to.type), array = isArray(to.type), inner = isMapInMap(to.type);
  const size_t slots = percpu ? static_cast<size_t>(ncpus) : 1;
  const size_t from_stride = percpu ? (from.value_size + 7) / 8 * 8 : from.value_size;
  const size_t to_stride = percpu ? (to.value_size + 7) / 8 * 8 : to.value_size;
  const size_t from_entry = from_stride * slots;
  std::vector<uint8_t> new_key(to.key_size), new_val(to_stride * slots);
  // Arrays are rewritten in place (every index exists); hashes only get entries they lack, so a
  // repeated key (the walk restarts when the old program deletes the current one) is harmless.
  const uint64_t flags = array ? BPF_ANY : BPF_NOEXIST;
  uint64_t copied = 0;

  // 64-bit FNV-1a of each key rather than the keys: no allocation per entry (a 1M-entry set of
  // strings cost as much as the failing inserts it saves). A collision (about 3e-8 for 1M keys)
  // would skip one absent flow, which then re-selects like any flow without an entry.
  auto fnv = [](const uint8_t* p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h;
  };
  std::unordered_set<uint64_t> present;
  if (skip_present && !array && !inner) {
    present.reserve(to.max_entries);
    const size_t to_entry = to_stride * slots;
    uint32_t chunk = 4096;
    std::vector<uint8_t> keys(chunk * to.key_size), vals(chunk * to_entry);
    uint64_t in_batch = 0, out_batch = 0;
    bool first = true;
    for (;;) {
      uint32_t count = chunk;
      int err = bpf_map_lookup_batch(to_fd, first ? nullptr : &in_batch, &out_batch, keys.data(),
                                     vals.data(), &count, nullptr);
      if (err == -ENOSPC && count == 0) {
        chunk *= 2;
        keys.resize(chunk * to.key_size);
        vals.resize(chunk * to_entry);
        continue;
      }
      if (err && err != -ENOENT) break;  // no key set: every insert just finds out for itself
      for (uint32_t i = 0; i < count; ++i)
        present.insert(fnv(keys.data() + size_t{i} * to.key_size, to.key_size));
      if (err == -ENOENT) break;
      first = false;
      in_batch = out_batch;
    }
  }

  auto write = [&](const uint8_t* key, const uint8_t* val) -> absl::Status {
    if (convert) {
      std::fill(new_key.begin(), new_key.end(), 0);
      std::fill(new_val.begin(), new_val.end(), 0);
      if (!(*convert)(key, val, new_key.data(), new_val.data())) return absl::OkStatus();
    } else {
      applyLayoutPlan(plan.key, key, new_key.data(), to.key_size);
    }
    if (!present.empty() && present.count(fnv(new_key.data(), to.key_size)))
      return absl::OkStatus();
    if (array) {
      uint32_t index = 0;
      std::memcpy(&index, new_key.data(), sizeof(index));
      if (index >= to.max_entries) {
        ++*not_fit;
        return absl::OkStatus();
      }
    } else if (copied >= capacity) {
      // An LRU hash would take it by evicting an entry just copied: count it instead.
      ++*not_fit;
      return absl::OkStatus();
    }
    int err;
    if (inner) {
      uint32_t id = 0;
      std::memcpy(&id, val, sizeof(id));
      int inner_fd = bpf_map_get_fd_by_id(id);
      if (inner_fd < 0) return absl::OkStatus();  // the inner map went away with its slot
      if (to.innerDiffersFrom(from)) {
        // The new outer map takes only inner maps shaped like its template: a copy of this one.
        bpf_map_info in{};
        uint32_t in_len = sizeof(in);
        if (int e = bpf_obj_get_info_by_fd(inner_fd, &in, &in_len); e) {
          close(inner_fd);
          return errnoStatus("read inner map info", e);
        }
        auto clone = cloneArrayMap(inner_fd, to.inner_flags.value_or(in.map_flags),
                                   to.inner_value_size.value_or(in.value_size));
        close(inner_fd);
        if (!clone.ok()) return clone.status();
        inner_fd = *clone;
      }
      err = bpf_map_update_elem(to_fd, new_key.data(), &inner_fd, flags);
      close(inner_fd);
    } else if (convert) {
      err = bpf_map_update_elem(to_fd, new_key.data(), new_val.data(), flags);
    } else {
      std::fill(new_val.begin(), new_val.end(), 0);
      for (size_t c = 0; c < slots; ++c)
        applyLayoutPlan(plan.value, val + c * from_stride, new_val.data() + c * to_stride,
                        to.value_size);
      err = bpf_map_update_elem(to_fd, new_key.data(), new_val.data(), flags);
    }
    if (err == -EEXIST) return absl::OkStatus();  // catch-up: already copied (or newer)
    if (err == -E2BIG || err == -ENOSPC || err == -ENOMEM) {
      ++*not_fit;
      return absl::OkStatus();
    }
    if (err) return errnoStatus("write the new map", err);
    ++copied;
    return absl::OkStatus();
  };

  // Batched reads (one syscall per few thousand entries instead of two per entry): a 1M-entry
  // flow table is read in a fraction of the time, which shortens the window between the first
  // pass and the switch that the catch-up pass has to cover.
  if (!inner) {
    uint32_t chunk = 4096;
    std::vector<uint8_t> keys(chunk * from.key_size), vals(chunk * from_entry);
    uint64_t in_batch = 0, out_batch = 0;  // opaque resume token (a bucket or an index)
    bool first = true;
    for (;;) {
      uint32_t count = chunk;
      int err = bpf_map_lookup_batch(from_fd, first ? nullptr : &in_batch, &out_batch, keys.data(),
                                     vals.data(), &count, nullptr);
      if (err == -ENOSPC && count == 0) {
        // One bucket holds more entries than the buffer: grow it and retry the same position.
        chunk *= 2;
        keys.resize(chunk * from.key_size);
        vals.resize(chunk * from_entry);
        continue;
      }
      if (first && count == 0 && (err == -EINVAL || err == -EOPNOTSUPP || err == -524))
        break;  // no batch support for this map type (ENOTSUPP): walk it key by key below
      if (err && err != -ENOENT) return errnoStatus("read the old map", err);
      for (uint32_t i = 0; i < count; ++i) {
        if (auto st = write(keys.data() + size_t{i} * from.key_size, vals.data() + i * from_entry);
            !st.ok())
          return st;
      }
      if (err == -ENOENT) return copied;  // end of the map (count may carry the last entries)
      first = false;
      in_batch = out_batch;
    }
  }

  std::vector<uint8_t> key(from.key_size), next(from.key_size), val(from_entry);
  // A hash walk restarts from its first key when the current key was deleted meanwhile: bound it.
  const uint64_t max_steps = 2ull * from.max_entries + 1024;
  bool first = true;
  for (uint64_t step = 0; step < max_steps; ++step) {
    int err = bpf_map_get_next_key(from_fd, first ? nullptr : key.data(), next.data());
    if (err == -ENOENT) break;
    if (err) return errnoStatus("walk the old map", err);
    first = false;
    key = next;
    err = bpf_map_lookup_elem(from_fd, key.data(), val.data());
    if (err == -ENOENT) continue;  // deleted (or evicted) since the walk saw it
    if (err) return errnoStatus("read the old map", err);
    if (auto st = write(key.data(), val.data()); !st.ok()) return st;
  }
  return copied;
}

// ---- MapMigrator -------------------------------------------------------------------------------

MapMigrator::~MapMigrator() {
  for (auto& e : entries_)
    if (e.old_fd >= 0) close(e.old_fd);
}

std::string MapMigrator::pinnedSource(const std::string& pin_dir, int abi_version,
                                      const std::string& name) {
  std::string cur = absl::StrCat(pin_dir, "/v", abi_version, "/", name);
  if (pathExists(cur)) return cur;
  int k = newestOlderVersion(pin_dir, abi_version);
  if (k < 0) return "";
  std::string old = absl::StrCat(pin_dir, "/v", k, "/", name);
  return pathExists(old) ? old : "";
}

absl::StatusOr<std::unique_ptr<MapMigrator>> MapMigrator::prepare(
    struct bpf_object* obj, const std::string& pin_dir, int abi_version,
    const std::vector<MapSplit>& splits) {
  std::unique_ptr<MapMigrator> m(new MapMigrator());
  m->map_dir_ = absl::StrCat(pin_dir, "/v", abi_version);
  const int k = newestOlderVersion(pin_dir, abi_version);
  const std::string old_dir = k < 0 ? "" : absl::StrCat(pin_dir, "/v", k);
  const std::string cur_v = absl::StrCat("v", abi_version), old_v = absl::StrCat("v", k);
  const struct btf* obj_btf = bpf_object__btf(obj);
  std::map<uint32_t, struct btf*> btf_cache;

  struct bpf_map* map;
  absl::Status status;
  bpf_object__for_each_map(map, obj) {
    // .rodata/.data/.bss belong to one build of the program: a pinned copy would be reused by
    // the next (upgraded) build with the old values, or refused when its layout changed.
    if (bpf_map__is_internal(map)) continue;
    Entry e;
    e.map = map;
    e.name = bpf_map__name(map);
    e.to = shapeOfObjectMap(map, obj_btf);
    const std::string cur = absl::StrCat(m->map_dir_, "/", e.name);
    MapMigration r{e.name, cur_v, cur_v};
    std::string source;
    if (pathExists(cur)) {
      source = cur;
      e.same_dir = true;
    } else if (!old_dir.empty() && pathExists(absl::StrCat(old_dir, "/", e.name))) {
      source = absl::StrCat(old_dir, "/", e.name);
      r.from = old_v;
    }
    const MapSplit* split = nullptr;
    if (source.empty() && !old_dir.empty()) {
      for (const auto& sp : splits)
        if (sp.map == e.name && pathExists(absl::StrCat(old_dir, "/", sp.old_map))) split = &sp;
      if (split) {
        source = absl::StrCat(old_dir, "/", split->old_map);
        r.from = old_v;
      }
    }
    if (source.empty()) {
      int err = bpf_map__set_pin_path(map, cur.c_str());
      if (err) {
        status = errnoStatus(absl::StrCat("set pin path ", cur), err);
        break;
      }
      r.outcome = MapMigration::Outcome::kCreated;
    } else {
      int fd = bpf_obj_get(source.c_str());
      if (fd < 0) {
        status = errnoStatus(absl::StrCat("open pinned map ", source), fd);
        break;
      }
      e.old_fd = fd;
      e.old_pin = source;
      auto from = shapeOfFd(fd, source, btf_cache);
      if (!from.ok()) {
        status = from.status();
        break;
      }
      e.from = *from;
      // An empty outer map shows no inner flags: ask it whether it takes the new template's.
      if (e.to.inner_flags && !e.from.inner_flags && e.from.type == BPF_MAP_TYPE_ARRAY_OF_MAPS &&
          bpf_map__inner_map(map) && emptyOuterTakes(fd, bpf_map__inner_map(map))) {
        e.from.inner_flags = e.to.inner_flags;
        e.from.inner_value_size = e.to.inner_value_size;
      }
      e.plan = planMap(e.from, e.to);
      if (split) {
        // Another map's entries: never reused, copied through the converter (or not at all).
        const std::string why = split->check ? split->check(e.from) : "";
        e.plan = MapPlan{};
        e.plan.action = why.empty() ? MapAction::kMigrate : MapAction::kReset;
        e.plan.reason = why.empty() ? absl::StrCat("split from ", split->old_map)
                                    : absl::StrCat(split->old_map, ": ", why);
        if (why.empty()) e.convert = split->convert;
      }
      int err = 0;
      if (e.plan.action == MapAction::kReuse) {
        // In v<N> libbpf reuses the pin itself; a v<K> map is handed over by fd and pinned in
        // v<N> by finish(), once the switch succeeded.
        err = e.same_dir ? bpf_map__set_pin_path(map, cur.c_str()) : bpf_map__reuse_fd(map, fd);
        r.outcome = MapMigration::Outcome::kReused;
      } else {
        r.outcome = e.plan.action == MapAction::kMigrate ? MapMigration::Outcome::kMigrated
                                                         : MapMigration::Outcome::kReset;
        r.reason = e.plan.reason;
        r.added = e.plan.value.added;
        r.dropped = e.plan.value.dropped;
        r.resized = e.plan.value.resized;
      }
      if (err) {
        status = errnoStatus(absl::StrCat("reuse pinned map ", source), err);
        break;
      }
    }
    e.report_index = m->report_.size();
    m->report_.push_back(std::move(r));
    m->entries_.push_back(std::move(e));
  }
  for (auto& [id, b] : btf_cache) btf__free(b);
  if (!status.ok()) return status;
  // The older directory is a source only for maps v<N> lacks: a plain restart never looks at it.
  const bool uses_old = std::any_of(m->entries_.begin(), m->entries_.end(),
                                    [](const Entry& e) { return e.old_fd >= 0 && !e.same_dir; });
  if (uses_old) m->old_dir_ = old_dir;
  const bool active =
      uses_old || std::any_of(m->entries_.begin(), m->entries_.end(), [](const Entry& e) {
        return e.old_fd >= 0 && e.plan.action != MapAction::kReuse;
      });
  if (!active) {
    // Nothing to migrate: libbpf reuses or creates every pin on its own.
    for (auto& e : m->entries_) {
      if (e.old_fd >= 0) close(e.old_fd);
      e.old_fd = -1;
    }
    m->entries_.clear();
    m->report_.clear();
    return m;
  }
  for (const auto& r : m->report_)
    if (r.outcome != MapMigration::Outcome::kReused)
      log()->info("migrate: {} {}{}{}: planned {}", r.map, r.from, kArrow, r.to,
                  r.outcome == MapMigration::Outcome::kCreated ? "as a new map"
                  : r.outcome == MapMigration::Outcome::kReset
                      ? absl::StrCat("reset (", r.reason, ")")
                      : absl::StrCat("field-wise migration (", r.reason, ")"));
  return m;
}

absl::Status MapMigrator::migrate(int ncpus) {
  if (migrated_) return absl::OkStatus();
  ncpus_ = ncpus;
  for (auto& e : entries_) {
    if (e.old_fd < 0 || e.plan.action != MapAction::kMigrate) continue;
    MapMigration& r = report_[e.report_index];
    auto copied =
        copyMapEntries(e.old_fd, e.from, bpf_map__fd(e.map), e.to, e.plan, ncpus_, e.to.max_entries,
                       &r.not_fit, false, e.convert ? &e.convert : nullptr);
    if (!copied.ok())
      return absl::Status(copied.status().code(),
                          absl::StrCat("migrate map ", e.name, " from ", e.old_pin, ": ",
                                       copied.status().message()));
    r.copied = *copied;
  }
  migrated_ = true;
  return absl::OkStatus();
}

absl::Status MapMigrator::finish() {
  if (!migrated_) return absl::FailedPreconditionError("migration: finish() before migrate()");
  // Second pass: flows the old program recorded between the first pass and the switch.
  for (auto& e : entries_) {
    if (e.old_fd < 0 || e.plan.action != MapAction::kMigrate || !isHash(e.to.type)) continue;
    MapMigration& r = report_[e.report_index];
    const uint64_t left = e.to.max_entries > r.copied ? e.to.max_entries - r.copied : 0;
    auto more = copyMapEntries(e.old_fd, e.from, bpf_map__fd(e.map), e.to, e.plan, ncpus_, left,
                               &r.not_fit, /*skip_present=*/true, e.convert ? &e.convert : nullptr);
    if (!more.ok())
      return absl::Status(more.status().code(),
                          absl::StrCat("catch up map ", e.name, " from ", e.old_pin, ": ",
                                       more.status().message()));
    r.caught_up = *more;
  }
  // Pins: the new maps go to v<N> first, the old pins go only after that succeeded.
  for (auto& e : entries_) {
    const bool moved = e.old_fd >= 0 && (!e.same_dir || e.plan.action != MapAction::kReuse);
    if (!moved) continue;
    const std::string path = absl::StrCat(map_dir_, "/", e.name);
    if (e.same_dir) unlink(path.c_str());  // the incompatible pin in v<N> itself
    if (int err = bpf_map__pin(e.map, path.c_str()); err)
      return errnoStatus(absl::StrCat("pin map ", e.name, " at ", path), err);
  }
  for (auto& e : entries_) {
    if (e.old_fd >= 0 && !e.same_dir) unlink(e.old_pin.c_str());
    if (e.old_fd >= 0) close(e.old_fd);
    e.old_fd = -1;
  }
  for (const auto& r : report_) log()->info("{}", r.line());
  if (!old_dir_.empty()) {
    // Whatever else the old directory holds belongs to no map of this build.
    std::error_code ec;
    for (const auto& de : std::filesystem::directory_iterator(old_dir_, ec)) {
      if (de.is_directory(ec)) continue;
      log()->info("migrate: {} {}: not in this build, removed", de.path().filename().string(),
                  std::filesystem::path(old_dir_).filename().string());
      unlink(de.path().c_str());
    }
    if (rmdir(old_dir_.c_str()) != 0)
      log()->warn("migrate: could not remove {}: {}", old_dir_, std::strerror(errno));
    else
      log()->info("migrate: removed {}", old_dir_);
  }
  return absl::OkStatus();
}

}  // namespace xlb::dataplane
