/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The flow hash: MurmurHash3 (x86_32) mixing over the 5-tuple words; picks the backend (maglev) and
 * the outer source address, so one flow always lands on one backend and one backend RSS queue. The
 * source hash (source_hash algorithm) mixes the client address, optionally with its port. */
#pragma once

#include "lib/common.h"

#define XLB_HASH_SEED 0x786c6230 /* "xlb0" */

static __always_inline __u32 xlb_rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 xlb_hash_mix(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = xlb_rotl32(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = xlb_rotl32(h, 13);
	return h * 5 + 0xe6546b64;
}

static __always_inline __u32 xlb_hash_final(__u32 h, __u32 len)
{
	h ^= len;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/* `key` is the flow key (src, dst, ports, proto/family); IPv4 only mixes the first address word. */
static __always_inline __u32 xlb4_flow_hash(const struct xlb_flow_key *key)
{
	const __u32 *src = (const __u32 *)key->src;
	const __u32 *dst = (const __u32 *)key->dst;
	const __u32 *rest = (const __u32 *)&key->sport; /* sport, dport | proto, family, pad */
	__u32 h = XLB_HASH_SEED;

	h = xlb_hash_mix(h, src[0]);
	h = xlb_hash_mix(h, dst[0]);
	h = xlb_hash_mix(h, rest[0]);
	h = xlb_hash_mix(h, rest[1]);
	return xlb_hash_final(h, 16);
}

static __always_inline __u32 xlb6_flow_hash(const struct xlb_flow_key *key)
{
	const __u32 *src = (const __u32 *)key->src;
	const __u32 *dst = (const __u32 *)key->dst;
	const __u32 *rest = (const __u32 *)&key->sport;
	__u32 h = XLB_HASH_SEED;

	h = xlb_hash_mix(h, src[0]);
	h = xlb_hash_mix(h, src[1]);
	h = xlb_hash_mix(h, src[2]);
	h = xlb_hash_mix(h, src[3]);
	h = xlb_hash_mix(h, dst[0]);
	h = xlb_hash_mix(h, dst[1]);
	h = xlb_hash_mix(h, dst[2]);
	h = xlb_hash_mix(h, dst[3]);
	h = xlb_hash_mix(h, rest[0]);
	h = xlb_hash_mix(h, rest[1]);
	return xlb_hash_final(h, 40);
}

/* source_hash: the client address only (IPv4: one word), plus the source port when `with_port`. The
 * port word is the __be16 as stored in the key, zero-extended. */
static __always_inline __u32 xlb_src_hash(const struct xlb_flow_key *key, int with_port)
{
	const __u32 *src = (const __u32 *)key->src;
	__u32 h = XLB_HASH_SEED, len = 4;

	h = xlb_hash_mix(h, src[0]);
	if (key->family == XLB_AF_INET6) {
		h = xlb_hash_mix(h, src[1]);
		h = xlb_hash_mix(h, src[2]);
		h = xlb_hash_mix(h, src[3]);
		len = 16;
	}
	if (with_port) {
		h = xlb_hash_mix(h, (__u32)key->sport);
		len += 4;
	}
	return xlb_hash_final(h, len);
}
