/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Backend selection for a new flow: the VIP's algorithm picks one slot of its selection table; and
 * the per-backend open-flow counts (xlb_be_conns) that least_conn reads and the flow table keeps. */
#pragma once

#include "lib/hash.h"
#include "lib/parse.h"

static __always_inline __u32 xlb_pkt_hash(struct xlb_pkt *pkt, __u32 *hash, int *hashed)
{
	if (!*hashed) {
		*hash = pkt->key.family == XLB_AF_INET ? xlb4_flow_hash(&pkt->key)
						       : xlb6_flow_hash(&pkt->key);
		*hashed = 1;
	}
	return *hash;
}

static __always_inline void xlb_conns_inc(__u32 be_id)
{
	__u64 *c = bpf_map_lookup_elem(&xlb_be_conns, &be_id);

	if (c)
		__sync_fetch_and_add(c, 1);
}

/* Never below zero; see the xlb_be_conns rules in xlb/abi.h for why a CAS and not a plain add. */
static __always_inline void xlb_conns_dec(__u32 be_id)
{
	__u64 *c = bpf_map_lookup_elem(&xlb_be_conns, &be_id);
	__u64 v;

	if (!c)
		return;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		v = *(volatile __u64 *)c;
		if (!v) {
			xlb_count(XLB_STAT_CONNS_UNDERFLOW);
			return;
		}
		if (__sync_val_compare_and_swap(c, v, v - 1) == v)
			return;
	}
}

/* Multiply-shift instead of `r % m`: no division, and m < 2^32 keeps the result in [0, m). */
static __always_inline __u32 xlb_scale(__u32 r, __u32 m)
{
	return (__u32)(((__u64)r * m) >> 32);
}

/* The ACTIVE backend in slot `idx` of `table`'s live half `half` (0 or 1; id in *be_id), or NULL. */
static __always_inline struct xlb_backend *xlb_slot_backend(void *table, __u32 half, __u32 idx,
							    __u32 *be_id)
{
	struct xlb_table_slot *slot;
	struct xlb_backend *be;

	slot = bpf_map_lookup_elem(table, &idx);
	if (!slot)
		return NULL;
	*be_id = slot->w[half & 1];
	be = bpf_map_lookup_elem(&xlb_backends, be_id);
	if (!be || !(be->flags & XLB_BE_F_ACTIVE))
		return NULL;
	return be;
}

static __always_inline __u64 xlb_conns_of(__u32 be_id)
{
	__u64 *c = bpf_map_lookup_elem(&xlb_be_conns, &be_id);

	return c ? *(volatile __u64 *)c : 0;
}

/* Power of two choices (Mitzenmacher): two distinct random slots, the backend with fewer open flows
 * per unit of weight wins. Distinct slots, so a two-backend table always compares both; the table is
 * weight-proportional, so the draws already favour heavy backends and the weights scale the counts. */
static __always_inline struct xlb_backend *xlb_select_least_conn(void *table, __u32 half, __u32 m,
								 __u32 *be_id)
{
	struct xlb_backend *a, *b;
	__u32 i1, i2, id_a = 0, id_b = 0;
	__u64 open_a, open_b, w_a, w_b;

	i1 = xlb_scale(bpf_get_prandom_u32(), m);
	i2 = i1;
	if (m > 1) {
		i2 = i1 + 1 + xlb_scale(bpf_get_prandom_u32(), m - 1);
		if (i2 >= m)
			i2 -= m;
	}
	a = xlb_slot_backend(table, half, 1 + i1, &id_a);
	b = xlb_slot_backend(table, half, 1 + i2, &id_b);
	if (!a || !b || id_a == id_b) {
		/* One draw hit a backend that is not ACTIVE (table not yet swapped): take the other. */
		if (a) {
			*be_id = id_a;
			return a;
		}
		*be_id = id_b;
		return b;
	}
	open_a = xlb_conns_of(id_a);
	open_b = xlb_conns_of(id_b);
	w_a = a->weight ? a->weight : 1;
	w_b = b->weight ? b->weight : 1;
	if (open_a * w_b <= open_b * w_a) {
		*be_id = id_a;
		return a;
	}
	*be_id = id_b;
	return b;
}

/* Returns the ACTIVE backend the VIP's algorithm picks for this new flow (id in *be_id), or NULL
 * when the VIP has no table, an empty table or the chosen slot's backend is not active (the caller
 * drops with XLB_DROP_NO_BACKEND). */
static __always_inline struct xlb_backend *xlb_select(const struct xlb_vip_value *vip,
						      struct xlb_pkt *pkt, __u32 *hash, int *hashed,
						      __u32 *be_id)
{
	__u32 vip_id = vip->vip_id, zero = 0, m, half, idx, pos, *rr;
	struct xlb_table_slot *head;
	void *table;

	table = bpf_map_lookup_elem(&xlb_tables, &vip_id);
	if (!table)
		return NULL;
	/* Slot 0: the size and the live half (xlb_table_slot in xlb/abi.h). The slot read below
	 * depends on `half` by address, so it cannot see the half before the agent's flip did. */
	head = bpf_map_lookup_elem(table, &zero);
	if (!head || head->w[0] == 0)
		return NULL;
	m = head->w[0];
	half = head->w[1] & 1;

	switch (vip->algorithm) {
	case XLB_ALG_SOURCE_HASH:
		idx = 1 + xlb_scale(xlb_src_hash(&pkt->key, vip->flags & XLB_VIP_F_HASH_SRC_PORT), m);
		break;
	case XLB_ALG_ROUND_ROBIN:
		/* Compare-and-reset instead of `counter % m`: no division, and the walk restarts exactly
		 * at slot 1 when the table shrank under it. */
		rr = bpf_map_lookup_elem(&xlb_rr, &vip_id);
		if (!rr)
			return NULL;
		pos = *rr;
		if (pos >= m)
			pos = 0;
		*rr = pos + 1;
		idx = 1 + pos;
		break;
	case XLB_ALG_RANDOM:
		idx = 1 + xlb_scale(bpf_get_prandom_u32(), m);
		break;
	case XLB_ALG_LEAST_CONN:
		return xlb_select_least_conn(table, half, m, be_id);
	default: /* XLB_ALG_MAGLEV, and any value this program does not know */
		idx = 1 + xlb_scale(xlb_pkt_hash(pkt, hash, hashed), m);
		break;
	}
	return xlb_slot_backend(table, half, idx, be_id);
}
