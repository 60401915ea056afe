// SPDX-License-Identifier: Apache-2.0
// The model's own rules: keeping its VIPs in both orders (putVip/eraseVip), the table size a VIP
// gets, and the kernel memory a VIP's entries take.
#include <fstream>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "state/model.h"

namespace xlb::state {

uint32_t autoTableSize(size_t backends) {
  static constexpr uint32_t kLadder[] = {1021, 4099, 16381, 65537, 262147, XLB_MAGLEV_MAX_M};
  for (uint32_t m : kLadder) {
    if (m >= 100 * static_cast<uint64_t>(backends)) return m;
  }
  return XLB_MAGLEV_MAX_M;
}

uint32_t tableSizeOf(const v1::Vip& spec) {
  return spec.has_maglev_table_size() ? spec.maglev_table_size()
                                      : autoTableSize(static_cast<size_t>(spec.backends_size()));
}

// A whole config may renumber: while its plan runs, a VIP's new seq can still be another's old
// one. So each VIP leaves only a place that is still its own, and takes its new place whoever
// held it; when the plan is done every place is held by the VIP it was given to.
void Model::putVip(EntryPtr e) {
  const config::VipKey key = e->key;
  if (const EntryPtr* old = vips.get(key); old != nullptr && (*old)->seq != e->seq) {
    leaveSeq(key, (*old)->seq);
  }
  in_order.set(e->seq, e);
  vips.set(key, std::move(e));
}

void Model::eraseVip(const config::VipKey& key) {
  if (const EntryPtr* old = vips.get(key); old != nullptr) {
    leaveSeq(key, (*old)->seq);
    vips.erase(key);
  }
}

void Model::leaveSeq(const config::VipKey& key, uint64_t seq) {
  if (const EntryPtr* at = in_order.get(seq); at != nullptr && (*at)->key == key) {
    in_order.erase(seq);
  }
}

uint64_t vipKernelBytes(const VipEntry& e, unsigned cpus) {
  // Array elements are rounded to 8 bytes; per-CPU ones once per possible CPU; hash elements
  // carry the kernel's 48-byte header. Approximate by design: the maps are preallocated, this is
  // the share of them this VIP's entries stand for.
  auto round8 = [](uint64_t n) { return (n + 7) & ~uint64_t{7}; };
  uint64_t bytes = 48 + round8(sizeof(xlb_vip_key)) + round8(sizeof(xlb_vip_value));  // xlb_vips
  bytes += round8(sizeof(xlb_counters)) * cpus + 8 * cpus;  // xlb_vip_stats, xlb_rr
  if (e.table_m > 0) bytes += uint64_t{e.table_m + 1} * 8;  // its selection table
  const uint64_t per_member = round8(sizeof(xlb_backend)) + round8(sizeof(xlb_counters)) * cpus +
                              round8(sizeof(xlb_nexthop)) * cpus + 8 /* xlb_be_conns */ +
                              round8(sizeof(xlb_be_nat));
  return bytes + per_member * e.members.size();
}

unsigned possibleCpus() {
  static const unsigned n = [] {
    std::ifstream in("/sys/devices/system/cpu/possible");
    std::string text;
    std::getline(in, text);
    unsigned count = 0;
    for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
      unsigned lo = 0, hi = 0;
      const size_t dash = part.find('-');
      if (dash == absl::string_view::npos) {
        if (absl::SimpleAtoi(part, &lo)) ++count;
      } else if (absl::SimpleAtoi(part.substr(0, dash), &lo) &&
                 absl::SimpleAtoi(part.substr(dash + 1), &hi) && hi >= lo) {
        count += hi - lo + 1;
      }
    }
    return count == 0 ? 1u : count;
  }();
  return n;
}

}  // namespace xlb::state
