// SPDX-License-Identifier: Apache-2.0
// The typed model State plans against: what the data plane holds per VIP (ids, generations, slot
// values, rotation, health verdicts) and the maps shared by all VIPs (address counts, settings,
// VLANs, NAT pools and endpoints). VIP entries are immutable once built and shared by pointer, so
// a change copies only the entries it touches and readers keep the snapshot they were given.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/address.h"
#include "config/validate.h"
#include "health/checker.h"
#include "nat/nat_config.h"
#include "state/chunked_map.h"
#include "state/id_allocator.h"
#include "xlb/abi.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::state {

// A membership's identity within its VIP: address and effective port (Backend.port, or the VIP's
// port when 0; nat/endpoint.h). Two backends with one address and different ports are distinct.
struct BackendKey {
  IpAddress address;
  uint16_t port = 0;
  auto operator<=>(const BackendKey&) const = default;
};

// INVALID_ARGUMENT when the address does not parse (validated configs never do that).
absl::StatusOr<BackendKey> backendKeyOf(const config::VipKey& vip, const v1::Backend& backend);
// How listings, events and plan lines name a membership: the bare address when its port is the
// VIP's, else "ADDR:PORT" / "[V6]:PORT" (nat::backendLabel).
std::string backendLabel(const config::VipKey& vip, const BackendKey& backend);

// What health checks found for one membership.
struct HealthRecord {
  bool checked = false;  // the effective check probes (type tcp/http/grpc)
  health::Health health = health::Health::kUnknown;
  std::optional<health::Transition> last;
  uint64_t last_unix_ms = 0;
  std::string last_reason;
};

struct Member {
  uint32_t id = 0;
  uint32_t gen = 0;
  IpAddress address;
  uint16_t port = 0;  // effective
  uint32_t weight = 0;
  bool draining = false;
  bool in_rotation = false;  // in the selection table
  bool kept = false;         // down, but kept ACTIVE and in the table by keep_last_healthy
  // Joined an existing VIP through discovery with a probing check and not checked yet: out of new
  // flows' rotation until its first verdict (health checks decide whether it gets traffic), unless
  // no other backend of the VIP could take them.
  bool awaiting_check = false;
  int spec_index = 0;        // position in the VIP's spec.backends()
  std::string label;         // backendLabel(): "ADDR", or "ADDR:PORT" when not the VIP's port
  std::string health_key;    // State::healthKey()
  HealthRecord health;       // as used for this plan
  xlb_backend value{};       // the slot as written in the data plane
  xlb_be_nat be_nat{};       // its xlb_be_nat as written
};

struct VipEntry {
  uint32_t id = 0;
  config::VipKey key;
  uint64_t seq = 0;        // place in the config order (Model::in_order's key)
  v1::Vip spec;            // normalized
  std::string spec_bytes;  // spec serialized: "unchanged" is one comparison
  std::map<BackendKey, Member> members;
  xlb_vip_value value{};
  uint32_t table_m = 0;    // selection-table size in effect (0: none written, or unknown)
  bool adopted = false;    // read back from the maps: weights, name and table size unknown
  bool all_down = false;   // every candidate backend is health-down: all_down_policy applies
  std::set<BackendKey> last_healthy;  // the rotation when it last had a live backend
};
using EntryPtr = std::shared_ptr<const VipEntry>;
// VIP entries by key, and the same entries in config order (by VipEntry::seq). Both share their
// storage between copies: a plan copies them in O(VIPs / 64) and replaces only what it changes.
using VipsByKey = ChunkedMap<config::VipKey, EntryPtr>;
using VipsInOrder = ChunkedMap<uint64_t, EntryPtr>;
// The distance between the seqs of consecutive VIPs when a config is numbered, so VIPs added
// between two others later get a seq in the gap without renumbering the rest.
inline constexpr uint64_t kSeqStep = uint64_t{1} << 20;

// Kernel memory a VIP's own entries take (its VIP and table entries, its backend slots and
// per-CPU counters), by the kernel's allocation rules for the map types; `cpus` possible CPUs.
uint64_t vipKernelBytes(const VipEntry& e, unsigned cpus);
// The kernel's possible CPUs (/sys/devices/system/cpu/possible), read once; 1 if unreadable.
unsigned possibleCpus();

// What the data plane holds (and the config it came from).
struct Model {
  v1::Config globals;  // the applied config without its VIPs
  // Every plan starts from a copy of the model, so what grows with the VIP count is shared
  // between copies (ChunkedMap); change the VIPs through putVip/eraseVip, which keep both orders.
  VipsByKey vips;
  VipsInOrder in_order;
  IdAllocator vip_ids{XLB_MAX_VIPS};
  IdAllocator backend_ids{XLB_MAX_BACKENDS};
  ChunkedMap<IpAddress, xlb_addr_value> addrs;  // per-address VIP counts as written
  uint32_t nr_wildcard = 0;  // the sum of addrs' nr_wildcard, kept so no plan walks every address
  xlb_settings settings{};
  bool settings_written = false;
  std::vector<uint32_t> vlans;  // accepted VLAN ids as written in xlb_vlans, sorted
  bool vlans_written = false;
  // Adopted entries nothing refers to (or that contradict each other): removed by the next apply.
  std::vector<xlb_vip_key> stray_vips;
  std::vector<xlb_addr_key> stray_addrs;
  std::vector<uint32_t> stray_tables;
  std::vector<uint32_t> stray_backends;
  // NAT: SNAT pools by vip id and reply-filter endpoints as written (adopted ones included).
  std::map<uint32_t, xlb_snat> snat;
  std::set<nat::NatEpKey> eps;
  bool any_nat = false;  // some VIP forwards with nat or fullnat

  // The entry of `key`, or nullptr.
  const VipEntry* vip(const config::VipKey& key) const {
    const EntryPtr* e = vips.get(key);
    return e == nullptr ? nullptr : e->get();
  }
  // Puts `e` under its key and its seq, replacing the key's entry (whose seq may differ).
  void putVip(EntryPtr e);
  void eraseVip(const config::VipKey& key);
  // The seq of a VIP appended after every other.
  uint64_t appendSeq() const {
    return in_order.empty() ? kSeqStep : in_order.back().first + kSeqStep;
  }

 private:
  void leaveSeq(const config::VipKey& key, uint64_t seq);  // in_order[seq] if it is key's
};

// The selection-table size a VIP gets when its config leaves maglev_table_size unset: the smallest
// of 1021, 4099, 16381, 65537, 262147, 1000003 holding 100 slots per configured backend (health
// and drain never change it, so flapping does not reshuffle tables), capped at 1000003.
uint32_t autoTableSize(size_t backends);
// maglev_table_size when set, else autoTableSize() of the configured backends.
uint32_t tableSizeOf(const v1::Vip& spec);

}  // namespace xlb::state
