// SPDX-License-Identifier: Apache-2.0
// The data plane's flow and source hashes and its slot scaling (bpf/lib/hash.h, bpf/lib/select.h)
// in C++, so the agent can say which selection-table slot a packet picks without sending it. The
// one C++ implementation: the BPF tests predict with it too, and xlb_bpf_flow_hash_test checks it
// byte for byte against the program.
#pragma once

#include <cstdint>

#include "xlb/abi.h"

namespace xlb::dataplane {

// MurmurHash3 (x86_32) mixing over the flow key's words, exactly as xlb4_flow_hash /
// xlb6_flow_hash: the words are read in host byte order from the key's network-order bytes, as
// the BPF program reads them on the same (little-endian) host. key.pad must be zero.
uint32_t flowHash(const xlb_flow_key& key);

// The source_hash algorithm's hash (xlb_src_hash): client address, plus the source port when
// with_port (XLB_VIP_F_HASH_SRC_PORT).
uint32_t sourceHash(const xlb_flow_key& key, bool with_port);

// The 0-based slot of a table of m entries a hash picks (xlb_scale: multiply-shift, no modulo).
// The data plane reads map index slot + 1 (index 0 holds m).
uint32_t slotOfHash(uint32_t hash, uint32_t m);

}  // namespace xlb::dataplane
