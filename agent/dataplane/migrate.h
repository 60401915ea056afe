// SPDX-License-Identifier: Apache-2.0
// Map-layout migration on upgrade: plans (pure) and performs (libbpf) the copy of pinned maps whose
// layout changed into the maps of a newly loaded program, and reports exactly what was reset.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct bpf_object;
struct bpf_map;
struct btf;

namespace xlb::dataplane {

// ---- pure planning (no kernel) -----------------------------------------------------------------

// One member of a struct/union, as BTF describes it.
struct LayoutMember {
  std::string name;
  uint32_t offset = 0;  // bytes from the start of the type
  uint32_t size = 0;    // bytes
  std::string kind;     // BTF kind of the member's resolved type ("int", "array", ...); "bitfield"
};

// A map key or value type reduced to what migration compares: its size and, for a struct or union,
// its members. A type without BTF is described by its size only (kind "raw").
struct Layout {
  std::string kind;  // "struct", "union", "int", "array", ... or "raw"
  uint32_t size = 0;
  std::vector<LayoutMember> members;  // struct/union only

  bool composite() const { return kind == "struct" || kind == "union"; }
  static Layout raw(uint32_t size) { return Layout{"raw", size, {}}; }
};

struct FieldCopy {
  uint32_t from_offset = 0;
  uint32_t to_offset = 0;
  uint32_t size = 0;
};

// How the bytes of one `from` entry become a `to` entry: the listed ranges are copied, everything
// else of `to` is zero.
struct LayoutPlan {
  bool identical = false;  // same size and members: the bytes are copied as they are
  bool complete = false;   // every member on both sides maps 1:1 (what a key needs)
  bool usable = false;     // at least the listed copies make sense (what a value needs)
  std::string reason;      // why not complete/usable, e.g. "size 4→8" or "member pad 3→2 bytes"
  std::vector<FieldCopy> copies;
  std::vector<std::string> added;    // `to` members with no counterpart: zero
  std::vector<std::string> dropped;  // `from` members with no counterpart: lost
  std::vector<std::string> resized;  // same name, other size or kind: "pad 3→2 bytes" (zero)
};

// Struct against struct: members match by name, and copy when their size and kind match too.
// Anything else: copied as is when the sizes are equal and neither side is a struct, else not
// usable.
LayoutPlan planLayout(const Layout& from, const Layout& to);

// Writes the `to` entry for one `from` entry (to_size bytes, zeroed first).
void applyLayoutPlan(const LayoutPlan& plan, const uint8_t* from, uint8_t* to, uint32_t to_size);

// What bpf_map_info says of a map (and what libbpf compares before reusing a pin).
struct MapShape {
  uint32_t type = 0;
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t flags = 0;
  std::optional<Layout> key;    // from BTF when the map has it
  std::optional<Layout> value;  // from BTF when the map has it
  // Map-in-map only: the flags its inner maps must have (new side: the object's inner template;
  // old side: those of an inner map it holds, unknown when it holds none). The kernel refuses an
  // inner map whose flags differ from the outer map's template, so a change needs a new outer map
  // whose inner maps are rebuilt with the new flags.
  std::optional<uint32_t> inner_flags;
  // Map-in-map only, like inner_flags: the value size its inner maps must have. A change rebuilds
  // each inner ARRAY with the new size, every old value's bytes first and the rest zero (a
  // selection table's u32 entries become xlb_table_slot words of half 0, half 0 live).
  std::optional<uint32_t> inner_value_size;
  // `to` side: whether the inner maps of `from` must be rebuilt to fit.
  bool innerDiffersFrom(const MapShape& from) const {
    return (inner_flags && from.inner_flags != inner_flags) ||
           (inner_value_size && from.inner_value_size != inner_value_size);
  }
};

enum class MapAction {
  kReuse,    // compatible: the new program uses the pinned map itself
  kMigrate,  // incompatible: a new map, entries copied field-wise
  kReset,    // incompatible and not mappable: a new, empty map
};

struct MapPlan {
  MapAction action = MapAction::kReuse;
  std::string reason;  // for kMigrate/kReset: what differs ("value size 24→32", "key ...")
  LayoutPlan key;
  LayoutPlan value;
};

// Compatible = same type, sizes, max_entries and flags, and (when both carry BTF) the same key and
// value layouts: a same-size layout change (a renamed or reordered member) is not reused blindly.
MapPlan planMap(const MapShape& from, const MapShape& to);

const char* mapTypeName(uint32_t type);

// ---- what happened to each map (log lines and BpfDataplane::migration()) ------------------------

struct MapMigration {
  std::string map;
  std::string from;  // "v2": the directory the pinned map came from
  std::string to;    // "v3"
  enum class Outcome { kReused, kMigrated, kReset, kCreated } outcome = Outcome::kReused;
  std::string reason;      // kMigrated/kReset: what differs
  uint64_t copied = 0;     // entries copied by the first pass
  uint64_t caught_up = 0;  // entries the old program added after the first pass (second pass)
  uint64_t not_fit = 0;    // entries beyond the new map's capacity / index range
  std::vector<std::string> added, dropped, resized;

  // "migrate: xlb_flows v2→v3: 1234 entries migrated field-wise (added: created_ns; dropped: none)"
  std::string line() const;
};

// ---- maps split by an ABI change ----------------------------------------------------------------

// Writes the new map's entry (key and value, sizes of the new map, zeroed by the caller) for one
// entry of the old map; false = the entry belongs to another of the maps split from it.
using EntryConverter = std::function<bool(const uint8_t* old_key, const uint8_t* old_value,
                                          uint8_t* key, uint8_t* value)>;

// A map of this build whose entries come from a differently named map of an older ABI (ABI 5
// split ABI 4's xlb_nat into xlb_nat4 and xlb_nat6): used when the map has no pin of its own.
struct MapSplit {
  std::string map;      // the new map, e.g. "xlb_nat4"
  std::string old_map;  // its source in the older directory, e.g. "xlb_nat"
  // "" when the old map's shape is the one `convert` reads, else why not (the map is then created
  // empty and the reason reported).
  std::function<std::string(const MapShape& old_shape)> check;
  EntryConverter convert;
};

// ---- the kernel side --------------------------------------------------------------------------

// Describes type_id of btf (typedefs and modifiers skipped).
absl::StatusOr<Layout> layoutFromBtf(const struct btf* btf, uint32_t type_id);

// Copies every entry of from_fd into to_fd through plan (per-CPU values slot by slot, map-in-map
// values as inner map ids) and returns how many it wrote. Hash entries are inserted only where
// absent (so the catch-up pass never overwrites a newer entry), at most `capacity` of them; entries
// the new map cannot hold (array index beyond it, over capacity, hash full) count in *not_fit.
// skip_present (the catch-up pass of a hash): read the new map's keys first and write only keys it
// lacks, one batched read instead of one failing insert per entry already copied.
// convert (a split map): writes the entries instead of the plan, and skips those it refuses.
absl::StatusOr<uint64_t> copyMapEntries(int from_fd, const MapShape& from, int to_fd,
                                        const MapShape& to, const MapPlan& plan, int ncpus,
                                        uint64_t capacity, uint64_t* not_fit,
                                        bool skip_present = false,
                                        const EntryConverter* convert = nullptr);

// Drives a migration around BpfDataplane's load and attach:
//   prepare()  before load: per map, a pin in <pin_dir>/v<N> or else in the newest older v<K>
//              (or, for a map in `splits`, its old map's pin in v<K>); compatible pins are
//              reused, incompatible ones are left for migrate();
//   migrate()  after load, right before the XDP link switches programs: first copy;
//   finish()   after the switch: catch-up copy of hash maps (insert-if-absent: flows the old
//   program
//              created meanwhile), pins the new maps in v<N>, then removes the old pins.
class MapMigrator {
 public:
  ~MapMigrator();
  MapMigrator(const MapMigrator&) = delete;
  MapMigrator& operator=(const MapMigrator&) = delete;

  static absl::StatusOr<std::unique_ptr<MapMigrator>> prepare(
      struct bpf_object* obj, const std::string& pin_dir, int abi_version,
      const std::vector<MapSplit>& splits = {});
  // The pinned map `name` prepare() would take over (v<N>, else v<K>), or "" when none.
  static std::string pinnedSource(const std::string& pin_dir, int abi_version,
                                  const std::string& name);

  absl::Status migrate(int ncpus);  // idempotent
  absl::Status finish();
  const std::vector<MapMigration>& report() const { return report_; }

 private:
  struct Entry {
    struct bpf_map* map = nullptr;
    std::string name;
    int old_fd = -1;        // the pinned map taken over (reused or migrated from)
    std::string old_pin;    // its path
    bool same_dir = false;  // old_pin is in v<N> (an incompatible layout without an ABI bump)
    MapShape from, to;
    MapPlan plan;
    EntryConverter convert;  // a split map (MapSplit): entries through it, not the plan
    size_t report_index = 0;
  };
  MapMigrator() = default;

  std::string map_dir_;  // <pin_dir>/v<N>
  std::string old_dir_;  // <pin_dir>/v<K>, or "" when every map came from v<N> or is new
  int ncpus_ = 1;
  bool migrated_ = false;
  std::vector<Entry> entries_;
  std::vector<MapMigration> report_;
};

}  // namespace xlb::dataplane
