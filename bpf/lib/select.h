/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Backend selection for a new flow: one slot of the VIP's Maglev table, chosen by the flow hash. */
#pragma once

#include "lib/maps.h"

/* Returns the ACTIVE backend for `hash` (id in *be_id), or NULL when the VIP has no table, an empty
 * table or the slot's backend is not active (caller drops with XLB_DROP_NO_BACKEND). */
static __always_inline struct xlb_backend *xlb_select(__u32 vip_id, __u32 hash, __u32 *be_id)
{
	struct xlb_backend *be;
	__u32 zero = 0, idx, *m, *id;
	void *table;

	table = bpf_map_lookup_elem(&xlb_tables, &vip_id);
	if (!table)
		return NULL;
	m = bpf_map_lookup_elem(table, &zero);
	if (!m || *m == 0)
		return NULL;
	/* Multiply-shift instead of `hash % M`: no division, and M < 2^32 keeps idx in [1, M]. */
	idx = 1 + (__u32)(((__u64)hash * *m) >> 32);
	id = bpf_map_lookup_elem(table, &idx);
	if (!id)
		return NULL;
	*be_id = *id;
	be = bpf_map_lookup_elem(&xlb_backends, be_id);
	if (!be || !(be->flags & XLB_BE_F_ACTIVE))
		return NULL;
	return be;
}
