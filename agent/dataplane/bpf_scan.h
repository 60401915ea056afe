// SPDX-License-Identifier: Apache-2.0
// Internal to BpfDataplane: batched reads of hash maps (the flow tables, the NAT tables).
#pragma once

#include <bpf/bpf.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"

namespace xlb::dataplane {

// Reads the hash map `fd` (named `name` in errors) in batches of `chunk` entries, growing the
// buffer when one bucket holds more, and calls fn for every entry. No lock is held: entries added
// or deleted meanwhile may or may not be seen.
template <typename Key, typename Value>
absl::Status scanHashMap(int fd, const char* name, uint32_t chunk,
                         const std::function<void(const Key&, const Value&)>& fn) {
  std::vector<Key> keys(chunk);
  std::vector<Value> vals(chunk);
  // Hash-map batches resume at a bucket index; the token is opaque to us (8 bytes is enough).
  uint64_t in_batch = 0, out_batch = 0;
  bool first = true;
  for (;;) {
    uint32_t count = chunk;
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &in_batch, &out_batch, keys.data(),
                                   vals.data(), &count, nullptr);
    if (err == -ENOSPC && count == 0) {
      // One bucket holds more entries than the buffer: grow it and retry the same position.
      chunk *= 2;
      keys.resize(chunk);
      vals.resize(chunk);
      continue;
    }
    if (err && err != -ENOENT) return errnoStatus(absl::StrCat("read map ", name), err);
    for (uint32_t i = 0; i < count; ++i) fn(keys[i], vals[i]);
    if (err == -ENOENT) return absl::OkStatus();  // the end (count may carry the last entries)
    first = false;
    in_batch = out_batch;
  }
}

}  // namespace xlb::dataplane
