/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* NAT connection entries by address family: xlb_nat4 (compact IPv4 key and value) and xlb_nat6, the
 * layouts in xlb/abi.h "NAT". Owns the key conversion, the lookups/inserts/deletes and the access
 * to the new addresses behind struct xlb_nat_head; `v6` is a compile-time constant in every caller
 * (lib/nat.h "Families"). */
#pragma once

#include "lib/maps.h"

/* The new addresses behind the head: 4 bytes each (IPv4), 16 (IPv6). */
static __always_inline __u8 *xlb_nat_src(const struct xlb_nat_head *h)
{
	return (__u8 *)(h + 1);
}

static __always_inline __u8 *xlb_nat_dst(const struct xlb_nat_head *h, const int v6)
{
	return (__u8 *)(h + 1) + (v6 ? 16 : 4);
}

static __always_inline void xlb_copy16(void *dst, const void *src)
{
	__u64 *d = dst;
	const __u64 *s = src;

	d[0] = s[0];
	d[1] = s[1];
}

static __always_inline int xlb_addr_eq(const __u8 *a, const __u8 *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1];
}

/* Sets the new addresses from 16-byte ones (IPv4 in the first 4). */
static __always_inline void xlb_nat_set_addrs(struct xlb_nat_head *h, const __u8 *src,
					      const __u8 *dst, const int v6)
{
	if (v6) {
		xlb_copy16(xlb_nat_src(h), src);
		xlb_copy16(xlb_nat_dst(h, 1), dst);
	} else {
		*(__u32 *)xlb_nat_src(h) = *(const __u32 *)src;
		*(__u32 *)xlb_nat_dst(h, 0) = *(const __u32 *)dst;
	}
}

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "xlb_nat4_key_of packs the key for a little-endian target"
#endif

/* The compact IPv4 key of a tuple, written as two 8-byte words (little-endian: src | dst << 32,
 * ports | proto << 32, the padding zero). The map's hash and compare read the key back at once in
 * 4- and 8-byte words: built from 2- and 4-byte stores, those loads would each span several
 * stores, which the CPU cannot forward (a stall per load, measured 7 ns per lookup). */
static __always_inline void xlb_nat4_key_of(const struct xlb_flow_key *k, struct xlb_nat4_key *k4)
{
	__u64 *w = (__u64 *)k4;

	w[0] = (__u64)*(const __u32 *)k->src | ((__u64)*(const __u32 *)k->dst << 32);
	w[1] = (__u64)*(const __u32 *)&k->sport | ((__u64)k->proto << 32);
}

static __always_inline struct xlb_nat_head *xlb_nat_lookup(const struct xlb_flow_key *k,
							    const int v6)
{
	struct xlb_nat4_key k4 __attribute__((aligned(8)));

	if (v6)
		return bpf_map_lookup_elem(&xlb_nat6, k);
	xlb_nat4_key_of(k, &k4);
	return bpf_map_lookup_elem(&xlb_nat4, &k4);
}

/* IPv4 insert and delete out of line: each inlined compact key took its own 16-byte stack slot
 * in xlb4_nat_create ("combined stack size of 3 calls is 528. Too large"); a call costs less than
 * the insert it wraps. */
static __noinline long xlb4_nat_insert(const struct xlb_flow_key *k, const struct xlb_nat_head *h)
{
	struct xlb_nat4_key k4 __attribute__((aligned(8)));

	xlb_nat4_key_of(k, &k4);
	return bpf_map_update_elem(&xlb_nat4, &k4, h, BPF_NOEXIST);
}

static __noinline void xlb4_nat_delete(const struct xlb_flow_key *k)
{
	struct xlb_nat4_key k4 __attribute__((aligned(8)));

	xlb_nat4_key_of(k, &k4);
	bpf_map_delete_elem(&xlb_nat4, &k4);
}

/* BPF_NOEXIST insert of the entry at h (the per-CPU scratch slot). */
static __always_inline long xlb_nat_insert(const struct xlb_flow_key *k,
					   const struct xlb_nat_head *h, const int v6)
{
	if (v6)
		return bpf_map_update_elem(&xlb_nat6, k, h, BPF_NOEXIST);
	return xlb4_nat_insert(k, h);
}

static __always_inline void xlb_nat_delete(const struct xlb_flow_key *k, const int v6)
{
	if (v6)
		bpf_map_delete_elem(&xlb_nat6, k);
	else
		xlb4_nat_delete(k);
}

/* The peer key of an entry: its new tuple reversed. */
static __always_inline void xlb_nat_peer_key(const struct xlb_nat_head *h,
					     const struct xlb_flow_key *k,
					     struct xlb_flow_key *peer, const int v6)
{
	__u64 *ps = (__u64 *)peer->src, *pd = (__u64 *)peer->dst;

	if (v6) {
		xlb_copy16(ps, xlb_nat_dst(h, 1));
		xlb_copy16(pd, xlb_nat_src(h));
	} else {
		ps[0] = *(const __u32 *)xlb_nat_dst(h, 0);
		pd[0] = *(const __u32 *)xlb_nat_src(h);
		ps[1] = 0;
		pd[1] = 0;
	}
	peer->sport = h->new_dport;
	peer->dport = h->new_sport;
	*(__u32 *)&peer->proto = *(const __u32 *)&k->proto;
}
