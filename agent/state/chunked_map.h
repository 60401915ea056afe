// SPDX-License-Identifier: Apache-2.0
// ChunkedMap: a sorted map whose copies share their storage. Entries live in sorted chunks of at
// most 2 * kChunk; a copy copies only the chunk pointers (n / kChunk of them) and a change copies
// only the chunk it touches. The model is copied by every plan and handed to readers as a
// snapshot, so with this a one-VIP change costs the same at 10 VIPs and at 65,536.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <iterator>
#include <memory>
#include <utility>
#include <vector>

namespace xlb::state {

template <class K, class V, size_t kChunk = 64>
class ChunkedMap {
  static_assert(kChunk >= 2);

 public:
  using value_type = std::pair<K, V>;

 private:
  struct Chunk {
    std::vector<value_type> items;  // sorted by key, never empty while listed
  };
  using ChunkPtr = std::shared_ptr<const Chunk>;

 public:
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = ChunkedMap::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = const value_type&;

    const_iterator() = default;
    reference operator*() const { return (*chunks_)[ci_]->items[ii_]; }
    pointer operator->() const { return &**this; }
    const_iterator& operator++() {
      if (++ii_ == (*chunks_)[ci_]->items.size()) {
        ++ci_;
        ii_ = 0;
      }
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const const_iterator& o) const { return ci_ == o.ci_ && ii_ == o.ii_; }

   private:
    friend class ChunkedMap;
    const_iterator(const std::vector<ChunkPtr>* chunks, size_t ci, size_t ii)
        : chunks_(chunks), ci_(ci), ii_(ii) {}
    const std::vector<ChunkPtr>* chunks_ = nullptr;
    size_t ci_ = 0;  // chunk index; chunks_->size() at the end
    size_t ii_ = 0;  // item index within the chunk
  };

  // The mapped values in key order (`for (const V& v : map.values())`).
  class Values {
   public:
    class iterator {
     public:
      using iterator_category = std::forward_iterator_tag;
      using value_type = V;
      using difference_type = std::ptrdiff_t;
      using pointer = const V*;
      using reference = const V&;
      iterator() = default;
      explicit iterator(const_iterator it) : it_(it) {}
      reference operator*() const { return it_->second; }
      pointer operator->() const { return &it_->second; }
      iterator& operator++() {
        ++it_;
        return *this;
      }
      iterator operator++(int) {
        iterator old = *this;
        ++it_;
        return old;
      }
      bool operator==(const iterator& o) const { return it_ == o.it_; }

     private:
      const_iterator it_;
    };
    explicit Values(const ChunkedMap& m) : m_(&m) {}
    iterator begin() const { return iterator(m_->begin()); }
    iterator end() const { return iterator(m_->end()); }
    size_t size() const { return m_->size(); }
    bool empty() const { return m_->empty(); }

   private:
    const ChunkedMap* m_;
  };

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const_iterator begin() const { return const_iterator(&chunks_, 0, 0); }
  const_iterator end() const { return const_iterator(&chunks_, chunks_.size(), 0); }
  Values values() const { return Values(*this); }

  // First entry whose key is not less than `k`.
  const_iterator lower_bound(const K& k) const {
    const size_t ci = chunkFor(k);
    if (ci == chunks_.size()) return end();
    return const_iterator(&chunks_, ci, position(chunks_[ci]->items, k));
  }
  // First entry whose key is greater than `k`.
  const_iterator upper_bound(const K& k) const {
    const_iterator it = lower_bound(k);
    if (it != end() && !(k < it->first)) ++it;
    return it;
  }
  const_iterator find(const K& k) const {
    const_iterator it = lower_bound(k);
    return it != end() && !(k < it->first) ? it : end();
  }
  bool contains(const K& k) const { return find(k) != end(); }
  // The value of `k`, or nullptr.
  const V* get(const K& k) const {
    const_iterator it = find(k);
    return it == end() ? nullptr : &it->second;
  }
  // The entry with the greatest key; the map must not be empty.
  const value_type& back() const { return chunks_.back()->items.back(); }

  // Inserts `k`, or replaces its value.
  void set(const K& k, V v) {
    if (chunks_.empty()) {
      auto c = std::make_shared<Chunk>();
      c->items.emplace_back(k, std::move(v));
      chunks_.push_back(std::move(c));
      size_ = 1;
      return;
    }
    size_t ci = chunkFor(k);
    if (ci == chunks_.size()) --ci;  // beyond every key: the last chunk takes it
    Chunk& c = writable(ci);
    auto it = c.items.begin() + static_cast<std::ptrdiff_t>(position(c.items, k));
    if (it != c.items.end() && !(k < it->first)) {
      it->second = std::move(v);
      return;
    }
    c.items.insert(it, value_type(k, std::move(v)));
    ++size_;
    if (c.items.size() > 2 * kChunk) {
      auto tail = std::make_shared<Chunk>();
      const auto mid = c.items.begin() + static_cast<std::ptrdiff_t>(kChunk);
      tail->items.assign(std::make_move_iterator(mid), std::make_move_iterator(c.items.end()));
      c.items.erase(mid, c.items.end());
      chunks_.insert(chunks_.begin() + static_cast<std::ptrdiff_t>(ci) + 1, std::move(tail));
    }
  }
  // Removes `k`; false when absent.
  bool erase(const K& k) {
    const size_t ci = chunkFor(k);
    if (ci == chunks_.size()) return false;
    const size_t at = position(chunks_[ci]->items, k);  // the same in the chunk's copy
    if (at == chunks_[ci]->items.size() || k < chunks_[ci]->items[at].first) return false;
    Chunk& c = writable(ci);
    c.items.erase(c.items.begin() + static_cast<std::ptrdiff_t>(at));
    --size_;
    if (c.items.empty()) {
      chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(ci));
    } else if (c.items.size() < kChunk / 2 && ci + 1 < chunks_.size() &&
               c.items.size() + chunks_[ci + 1]->items.size() <= kChunk) {
      // Small neighbours merge, so removals do not leave a long list of tiny chunks.
      const auto& next = chunks_[ci + 1]->items;
      c.items.insert(c.items.end(), next.begin(), next.end());
      chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(ci) + 1);
    }
    return true;
  }
  // Chunks in use (tests: copies share them, changes copy one).
  size_t chunkCount() const { return chunks_.size(); }
  // Whether chunk `i` of this map is the very chunk of `o` (storage shared, not copied).
  bool sharesChunkWith(const ChunkedMap& o, size_t i) const {
    return i < chunks_.size() && i < o.chunks_.size() && chunks_[i] == o.chunks_[i];
  }

 private:
  // Index of the first item of `items` whose key is not less than `k`.
  static size_t position(const std::vector<value_type>& items, const K& k) {
    auto it = std::lower_bound(items.begin(), items.end(), k,
                               [](const value_type& e, const K& key) { return e.first < key; });
    return static_cast<size_t>(it - items.begin());
  }
  // Index of the first chunk whose last key is not less than `k`; chunks_.size() if none.
  size_t chunkFor(const K& k) const {
    auto it = std::lower_bound(
        chunks_.begin(), chunks_.end(), k,
        [](const ChunkPtr& c, const K& key) { return c->items.back().first < key; });
    return static_cast<size_t>(it - chunks_.begin());
  }
  // Chunk `ci`, copied first unless this map holds the only reference to it. Reading the count
  // of 1 and then an acquire fence orders this write after everything the last other holder did
  // with the chunk before it let go (its release decrement).
  Chunk& writable(size_t ci) {
    ChunkPtr& p = chunks_[ci];
    if (p.use_count() == 1) {
      std::atomic_thread_fence(std::memory_order_acquire);
      return const_cast<Chunk&>(*p);
    }
    auto copy = std::make_shared<Chunk>(*p);
    Chunk& out = *copy;
    p = std::move(copy);
    return out;
  }

  std::vector<ChunkPtr> chunks_;
  size_t size_ = 0;
};

}  // namespace xlb::state
