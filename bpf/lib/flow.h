/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection tracking: a known flow sticks to its recorded backend; a new one (TCP SYN, or no entry)
 * or one whose backend is gone runs the VIP's selection and is (re)recorded. */
#pragma once

#include "lib/hash.h"
#include "lib/parse.h"
#include "lib/select.h"

static __always_inline __u32 xlb_pkt_hash(struct xlb_pkt *pkt, __u32 *hash, int *hashed)
{
	if (!*hashed) {
		*hash = pkt->key.family == XLB_AF_INET ? xlb4_flow_hash(&pkt->key)
						       : xlb6_flow_hash(&pkt->key);
		*hashed = 1;
	}
	return *hash;
}

/* Returns the backend for this packet (id in *be_id, *new_flow set when the algorithm ran) or NULL
 * when the VIP has no usable backend. */
static __always_inline struct xlb_backend *
xlb_flow_backend(struct xlb_pkt *pkt, __u32 vip_id, __u64 now, __u32 *hash, int *hashed,
		 __u32 *be_id, int *new_flow)
{
	struct xlb_flow_value *fv = NULL;
	struct xlb_backend *be;

	/* A bare SYN always starts a new connection and runs the selection; it still looks the flow up
	 * so that a reused 5-tuple (client port reuse, SYN retransmit) is rewritten in place: an LRU
	 * update_elem allocates a node and frees the old one, several times the cost of a lookup. */
	int syn = pkt->key.proto == IPPROTO_TCP &&
		  (pkt->tcp_flags & (XLB_TCP_FLAG_SYN | XLB_TCP_FLAG_ACK)) == XLB_TCP_FLAG_SYN;

	fv = bpf_map_lookup_elem(&xlb_flows, &pkt->key);
	if (fv && !syn) {
		__u32 id = fv->backend_id;

		be = bpf_map_lookup_elem(&xlb_backends, &id);
		if (likely(be && (be->flags & XLB_BE_F_ACTIVE) && be->gen == fv->backend_gen)) {
			/* Refresh at most once a second: keeps the entry's cache line clean. */
			if (now - fv->last_seen_ns > XLB_NSEC_PER_SEC)
				fv->last_seen_ns = now;
			xlb_count(XLB_STAT_FLOW_HIT);
			*be_id = id;
			*new_flow = 0;
			return be;
		}
		xlb_count(XLB_STAT_FLOW_RESTEER);
	}

	be = xlb_select(vip_id, xlb_pkt_hash(pkt, hash, hashed), be_id);
	if (!be)
		return NULL;
	*new_flow = 1;
	xlb_count(XLB_STAT_FLOW_NEW);
	if (fv) {
		/* Re-steer in place; a torn read by another CPU only causes one more re-steer. */
		fv->backend_id = *be_id;
		fv->backend_gen = be->gen;
		fv->last_seen_ns = now;
	} else {
		struct xlb_flow_value nv = {
			.backend_id = *be_id,
			.backend_gen = be->gen,
			.last_seen_ns = now,
		};

		if (bpf_map_update_elem(&xlb_flows, &pkt->key, &nv, BPF_ANY))
			xlb_count(XLB_STAT_FLOW_UPDATE_FAIL);
	}
	return be;
}
