// SPDX-License-Identifier: Apache-2.0
// Internal to BpfDataplane: batched map access — reads of hash maps (the flow tables, the NAT
// tables) and of arrays (start-up adoption), writes of array slots (backend slots and ports).
#pragma once

#include <bpf/bpf.h>

#include <cerrno>
#include <algorithm>
#include <cstdint>
#include <functional>
#include <span>
#include <utility>
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

// Entries of one array write batch: a few thousand ids per syscall instead of one syscall each.
inline constexpr size_t kArrayBatch = 4096;

// Writes the (index, value) pairs into the array map `fd` in batches. Each slot is written
// atomically, the batch is not: on failure the slots before the failing one hold their new
// values (the error says how many).
template <typename Value>
absl::Status writeArraySlots(int fd, const char* name,
                             std::span<const std::pair<uint32_t, Value>> writes) {
  std::vector<uint32_t> keys;
  std::vector<Value> vals;
  for (size_t done = 0; done < writes.size();) {
    const size_t n = std::min(kArrayBatch, writes.size() - done);
    keys.clear();
    vals.clear();
    for (size_t i = done; i < done + n; ++i) {
      keys.push_back(writes[i].first);
      vals.push_back(writes[i].second);
    }
    uint32_t count = static_cast<uint32_t>(n);
    int err = bpf_map_update_batch(fd, keys.data(), vals.data(), &count, nullptr);
    if (err) {
      return errnoStatus(absl::StrCat("update map ", name, " (", done + std::min<size_t>(count, n),
                                      " of ", writes.size(), " slots written)"),
                         err);
    }
    done += n;
  }
  return absl::OkStatus();
}

// Reads indices 0..n-1 of the array map `fd` in batches and calls fn(index, value) for each.
template <typename Value>
absl::Status readArraySlots(int fd, const char* name, uint32_t n,
                            const std::function<void(uint32_t, const Value&)>& fn) {
  const uint32_t chunk = static_cast<uint32_t>(std::min<size_t>(kArrayBatch, n));
  std::vector<uint32_t> keys(chunk);
  std::vector<Value> vals(chunk);
  uint32_t in_batch = 0, out_batch = 0, got = 0;
  while (got < n) {
    uint32_t count = chunk;
    int err = bpf_map_lookup_batch(fd, got == 0 ? nullptr : &in_batch, &out_batch, keys.data(),
                                   vals.data(), &count, nullptr);
    if (err && err != -ENOENT) return errnoStatus(absl::StrCat("read map ", name), err);
    for (uint32_t i = 0; i < count; ++i) fn(keys[i], vals[i]);
    got += count;
    in_batch = out_batch;
    if (err == -ENOENT || count == 0) break;
  }
  return absl::OkStatus();
}

}  // namespace xlb::dataplane
