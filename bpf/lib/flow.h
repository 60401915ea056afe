/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection tracking: a known flow sticks to its recorded backend; a new one (no entry, or a SYN on
 * a closing entry) or one whose backend is gone runs the VIP's selection and is (re)recorded. Keeps
 * the per-backend open-flow counts (rules in xlb/abi.h). */
#pragma once

#include "lib/hash.h"
#include "lib/parse.h"
#include "lib/select.h"

/* Returns the backend for this packet (id in *be_id, *new_flow set when the algorithm ran) or NULL
 * when the VIP has no usable backend. */
static __always_inline struct xlb_backend *
xlb_flow_backend(struct xlb_pkt *pkt, const struct xlb_vip_value *vip, __u64 now, __u32 *hash,
		 int *hashed, __u32 *be_id, int *new_flow)
{
	/* tcp_flags is 0 for UDP, so UDP flows never close here: only the agent's reconciliation
	 * (idle timeout) takes them out of the open counts. */
	__u32 fin = pkt->tcp_flags & (XLB_TCP_FLAG_FIN | XLB_TCP_FLAG_RST);
	__u32 closing = fin ? XLB_FLOW_F_CLOSING : 0;
	struct xlb_flow_value *fv;
	struct xlb_backend *be;

	/* The lookup comes first even for a SYN: a reused 5-tuple is rewritten in place, because an LRU
	 * update_elem allocates a node and frees the old one, several times the cost of a lookup. */
	fv = bpf_map_lookup_elem(&xlb_flows, &pkt->key);
	if (fv) {
		__u32 id = fv->backend_id;

		be = bpf_map_lookup_elem(&xlb_backends, &id);
		if (likely(be && (be->flags & XLB_BE_F_ACTIVE) && be->gen == fv->backend_gen)) {
			/* One test on the established path: neither a closing entry nor a FIN/RST. A SYN on
			 * an open entry is a retransmit (or a 5-tuple reused without a FIN seen) and keeps
			 * its backend: under round_robin/random/least_conn re-selecting would move a
			 * handshake the first backend has already answered. */
			if (unlikely(fv->flags | fin)) {
				if (!(fv->flags & XLB_FLOW_F_CLOSING)) {
					fv->flags = XLB_FLOW_F_CLOSING;
					xlb_conns_dec(id);
					xlb_count(XLB_STAT_FLOW_CLOSE);
				} else if ((pkt->tcp_flags & (XLB_TCP_FLAG_SYN | XLB_TCP_FLAG_ACK)) ==
					   XLB_TCP_FLAG_SYN && !fin) {
					/* A SYN on a closing entry starts a new connection: it runs the
					 * algorithm like any new flow. */
					goto select;
				}
			}
			/* Refresh at most once a second: keeps the entry's cache line clean. */
			if (now - fv->last_seen_ns > XLB_NSEC_PER_SEC)
				fv->last_seen_ns = now;
			xlb_count(XLB_STAT_FLOW_HIT);
			*be_id = id;
			*new_flow = 0;
			return be;
		}
		xlb_count(XLB_STAT_FLOW_RESTEER);
		/* Moving away from a backend that is still the one recorded (health-down: ACTIVE cleared,
		 * gen unchanged) takes the flow out of its count. Mark the entry closing at once so that
		 * a failed selection below cannot make the next packet subtract it again. A gen mismatch
		 * means the slot was deleted or reassigned and its count was reset by the agent. */
		if (be && be->gen == fv->backend_gen && !(fv->flags & XLB_FLOW_F_CLOSING)) {
			fv->flags = XLB_FLOW_F_CLOSING;
			xlb_conns_dec(id);
		}
	}

select:
	be = xlb_select(vip, pkt, hash, hashed, be_id);
	if (!be)
		return NULL;
	*new_flow = 1;
	xlb_count(XLB_STAT_FLOW_NEW);
	if (fv) {
		/* Re-steer in place; a torn read by another CPU only causes one more re-steer. */
		fv->backend_id = *be_id;
		fv->backend_gen = be->gen;
		fv->last_seen_ns = now;
		fv->flags = closing;
	} else {
		struct xlb_flow_value nv = {
			.backend_id = *be_id,
			.backend_gen = be->gen,
			.last_seen_ns = now,
			.flags = closing,
		};

		if (bpf_map_update_elem(&xlb_flows, &pkt->key, &nv, BPF_ANY)) {
			/* Not recorded: no FIN will ever be matched to it, so do not count it. */
			xlb_count(XLB_STAT_FLOW_UPDATE_FAIL);
			return be;
		}
	}
	/* A flow first seen on a FIN/RST is recorded closing (late packets of a connection that
	 * outlived its entry) and never counted. */
	if (!closing)
		xlb_conns_inc(*be_id);
	return be;
}
