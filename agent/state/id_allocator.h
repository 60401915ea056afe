// SPDX-License-Identifier: Apache-2.0
// Cyclic id allocator: a freed id is handed out again only after every other free id was used.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace xlb::state {

// Cyclic (not lowest-first) so that a just-freed backend id is not immediately given to a different
// backend: flows recorded on the old id then find the slot empty (re-steer) rather than reaching a
// stranger. xlb_backend.gen closes the remaining window when an id does come around again.
class IdAllocator {
 public:
  explicit IdAllocator(uint32_t capacity) : used_(capacity, false) {}

  std::optional<uint32_t> allocate() {
    const uint32_t n = static_cast<uint32_t>(used_.size());
    for (uint32_t i = 0; i < n; ++i) {
      uint32_t id = (cursor_ + i) % n;
      if (!used_[id]) {
        used_[id] = true;
        cursor_ = (id + 1) % n;
        ++in_use_;
        return id;
      }
    }
    return std::nullopt;
  }
  // Marks an id in use that was assigned elsewhere (adopted from the data plane).
  bool mark(uint32_t id) {
    if (id >= used_.size() || used_[id]) return false;
    used_[id] = true;
    ++in_use_;
    return true;
  }
  void release(uint32_t id) {
    if (id < used_.size() && used_[id]) {
      used_[id] = false;
      --in_use_;
    }
  }
  uint32_t inUse() const { return in_use_; }
  uint32_t capacity() const { return static_cast<uint32_t>(used_.size()); }

 private:
  std::vector<bool> used_;
  uint32_t cursor_ = 0;
  uint32_t in_use_ = 0;
};

}  // namespace xlb::state
