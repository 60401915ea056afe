// SPDX-License-Identifier: Apache-2.0
// The data plane's hashes in C++ (see flow_hash.h), the only C++ copy (agent and tests use it);
// tests/bpf/flow_hash_test.cc fails on any difference from bpf/lib/hash.h on the real program.
#include "dataplane/flow_hash.h"

#include <cstring>

namespace xlb::dataplane {
namespace {

constexpr uint32_t kSeed = 0x786c6230;  // XLB_HASH_SEED, "xlb0"

uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

uint32_t mix(uint32_t h, uint32_t k) {
  k *= 0xcc9e2d51;
  k = rotl32(k, 15);
  k *= 0x1b873593;
  h ^= k;
  h = rotl32(h, 13);
  return h * 5 + 0xe6546b64;
}

uint32_t finish(uint32_t h, uint32_t len) {
  h ^= len;
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

// The BPF program casts the key to __u32 words: a native-order load of 4 bytes.
uint32_t word(const void* base, size_t offset) {
  uint32_t w;
  std::memcpy(&w, static_cast<const uint8_t*>(base) + offset, sizeof(w));
  return w;
}

}  // namespace

uint32_t flowHash(const xlb_flow_key& key) {
  // sport, dport | proto, family, pad: the two words after the addresses.
  constexpr size_t kRest = offsetof(xlb_flow_key, sport);
  uint32_t h = kSeed;
  if (key.family == XLB_AF_INET) {
    h = mix(h, word(key.src, 0));
    h = mix(h, word(key.dst, 0));
    h = mix(h, word(&key, kRest));
    h = mix(h, word(&key, kRest + 4));
    return finish(h, 16);
  }
  for (size_t i = 0; i < 16; i += 4) h = mix(h, word(key.src, i));
  for (size_t i = 0; i < 16; i += 4) h = mix(h, word(key.dst, i));
  h = mix(h, word(&key, kRest));
  h = mix(h, word(&key, kRest + 4));
  return finish(h, 40);
}

uint32_t sourceHash(const xlb_flow_key& key, bool with_port) {
  uint32_t h = kSeed, len = 4;
  h = mix(h, word(key.src, 0));
  if (key.family == XLB_AF_INET6) {
    h = mix(h, word(key.src, 4));
    h = mix(h, word(key.src, 8));
    h = mix(h, word(key.src, 12));
    len = 16;
  }
  if (with_port) {
    // The __be16 as stored in the key, zero-extended.
    h = mix(h, static_cast<uint32_t>(key.sport));
    len += 4;
  }
  return finish(h, len);
}

uint32_t slotOfHash(uint32_t hash, uint32_t m) {
  return static_cast<uint32_t>((static_cast<uint64_t>(hash) * m) >> 32);
}

}  // namespace xlb::dataplane
