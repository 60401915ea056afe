/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU counter updates: global stats, drop reasons, per-VIP and per-backend counters. */
#pragma once

#include "lib/maps.h"

/* Per-CPU array lookups are inlined by the verifier (6.x), so each of these is a few instructions. */
static __always_inline void xlb_count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&xlb_stats, &idx);

	if (v)
		*v += 1;
}

static __always_inline int xlb_drop(__u32 reason)
{
	__u64 *v = bpf_map_lookup_elem(&xlb_drops, &reason);

	if (v)
		*v += 1;
	return XDP_DROP;
}

static __always_inline int xlb_pass(__u32 stat)
{
	xlb_count(stat);
	return XDP_PASS;
}

static __always_inline void xlb_count_traffic(void *map, __u32 id, __u32 bytes, int new_flow)
{
	struct xlb_counters *c = bpf_map_lookup_elem(map, &id);

	if (c) {
		c->packets += 1;
		c->bytes += bytes;
		if (new_flow) /* a test, not a read-modify-write of 0, on an established packet */
			c->new_flows += 1;
	}
}
