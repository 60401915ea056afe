/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection tracking: a known flow sticks to its recorded backend; a new one (no entry, or a SYN on
 * a closing entry) or one whose backend is gone runs the VIP's selection and is (re)recorded. Keeps
 * the per-backend open-flow counts (rules in xlb/abi.h) and the flood-protection copy of every flow
 * that proved alive (xlb_flows_prot; README "Flow-table floods"). */
#pragma once

#include "lib/hash.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/select.h"

/* Age (in 2^XLB_FLOW_TIME_SHIFT ns units) a flow must reach, seen again, before it is copied into
 * xlb_flows_prot; 0 turns flood protection off. Set by the agent (--flow-protect-after) before load. */
const volatile __u32 xlb_protect_after = 954; /* about 1 s */

static __always_inline __u32 xlb_flow_time(__u64 now)
{
	return (__u32)(now >> XLB_FLOW_TIME_SHIFT);
}

/* Mirrors a protected LRU entry's state into its copy (rare paths only: close, re-steer). */
static __always_inline void xlb_prot_sync(const struct xlb_flow_key *key,
					  const struct xlb_flow_value *fv)
{
	struct xlb_flow_value *pv = bpf_map_lookup_elem(&xlb_flows_prot, key);

	if (pv) {
		pv->backend_id = fv->backend_id;
		pv->backend_gen = fv->backend_gen;
		pv->last_seen_ns = fv->last_seen_ns;
		pv->flags = fv->flags;
	}
}

/* A young LRU flow seen again at least xlb_protect_after after its creation is copied into the
 * protected table. The LRU copy is authoritative, so it overwrites any older copy of the tuple
 * (BPF_ANY). When the table is full the creation clock restarts: the next attempt comes one
 * protect_after later, not on every packet. */
static __always_inline void xlb_flow_promote(const struct xlb_flow_key *key,
					     struct xlb_flow_value *fv, __u64 now)
{
	__u32 t = xlb_flow_time(now);
	struct xlb_flow_value pv;

	if (!xlb_protect_after || t - fv->created < xlb_protect_after)
		return;
	pv = *fv;
	pv.flags = XLB_FLOW_F_PROTECTED;
	if (bpf_map_update_elem(&xlb_flows_prot, key, &pv, BPF_ANY)) {
		fv->created = t;
		xlb_count(XLB_STAT_FLOW_PROTECT_FULL);
		return;
	}
	fv->flags = XLB_FLOW_F_PROTECTED;
	xlb_count(XLB_STAT_FLOW_PROTECT);
}

/* The unusual cases of a packet of a known flow whose backend is usable: a young flow, a closing
 * one, a FIN/RST. in_prot: fv is the protected copy (LRU miss). Returns 1 when the packet starts a
 * new connection (a SYN on a closing entry) and must run the algorithm. */
static __always_inline int xlb_flow_slow(struct xlb_pkt *pkt, struct xlb_flow_value *fv, __u32 id,
					 __u32 fin, __u64 now, int in_prot)
{
	if (!(fv->flags & XLB_FLOW_F_CLOSING)) {
		if (fin) {
			fv->flags |= XLB_FLOW_F_CLOSING;
			xlb_conns_dec(id);
			xlb_count(XLB_STAT_FLOW_CLOSE);
			if ((fv->flags & XLB_FLOW_F_PROTECTED) && !in_prot)
				xlb_prot_sync(&pkt->key, fv);
		} else if (!(fv->flags & XLB_FLOW_F_PROTECTED)) {
			xlb_flow_promote(&pkt->key, fv, now);
		}
		return 0;
	}
	/* A SYN on a closing entry starts a new connection: it runs the algorithm like any new
	 * flow, and is young again (its protected copy, if any, belongs to the old connection). */
	if ((pkt->tcp_flags & (XLB_TCP_FLAG_SYN | XLB_TCP_FLAG_ACK)) == XLB_TCP_FLAG_SYN && !fin) {
		if ((fv->flags & XLB_FLOW_F_PROTECTED) && !in_prot) {
			bpf_map_delete_elem(&xlb_flows_prot, &pkt->key);
			fv->flags &= ~XLB_FLOW_F_PROTECTED;
		}
		return 1;
	}
	return 0;
}

/* Moving away from a backend that is still the one recorded (health-down: ACTIVE cleared, gen
 * unchanged) takes the flow out of its count. Mark the entry closing at once so that a failed
 * selection cannot make the next packet subtract it again. A gen mismatch means the slot was
 * deleted or reassigned and its count was reset by the agent. */
static __always_inline void xlb_flow_leave(struct xlb_pkt *pkt, struct xlb_flow_value *fv,
					   const struct xlb_backend *be, __u32 id, int in_prot)
{
	xlb_count(XLB_STAT_FLOW_RESTEER);
	if (be && be->gen == fv->backend_gen && !(fv->flags & XLB_FLOW_F_CLOSING)) {
		fv->flags |= XLB_FLOW_F_CLOSING;
		xlb_conns_dec(id);
		if ((fv->flags & XLB_FLOW_F_PROTECTED) && !in_prot)
			xlb_prot_sync(&pkt->key, fv);
	}
}

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
	int in_prot = 0;
	__u32 id;

	/* The lookup comes first even for a SYN: a reused 5-tuple is rewritten in place, because an LRU
	 * update_elem allocates a node and frees the old one, several times the cost of a lookup. */
	fv = bpf_map_lookup_elem(&xlb_flows, &pkt->key);
	if (fv) {
		id = fv->backend_id;
		be = bpf_map_lookup_elem(&xlb_backends, &id);
		if (likely(be && (be->flags & XLB_BE_F_ACTIVE) && be->gen == fv->backend_gen)) {
			/* One test on the established path: an established flow's flags are exactly
			 * PROTECTED; young, closing and FIN/RST packets take the slow branch. A SYN on an
			 * open entry is a retransmit (or a 5-tuple reused without a FIN seen) and keeps
			 * its backend: under round_robin/random/least_conn re-selecting would move a
			 * handshake the first backend has already answered. */
			if (unlikely((fv->flags ^ XLB_FLOW_F_PROTECTED) | fin)) {
				if (xlb_flow_slow(pkt, fv, id, fin, now, 0))
					goto select;
			}
			/* Refresh at most once a second: keeps the entry's cache line clean. */
			if (now - fv->last_seen_ns > XLB_NSEC_PER_SEC)
				fv->last_seen_ns = now;
			xlb_count(XLB_STAT_FLOW_HIT);
			*be_id = id;
			*new_flow = 0;
			return be;
		}
		xlb_flow_leave(pkt, fv, be, id, 0);
	} else if ((pkt->tcp_flags & (XLB_TCP_FLAG_SYN | XLB_TCP_FLAG_ACK)) != XLB_TCP_FLAG_SYN) {
		/* LRU miss, not a pure SYN (which opens a new connection and keeps today's cost): the
		 * flow may have proved alive and been evicted by pressure. It is served from the
		 * protected copy and not put back into the LRU, which a flood would evict again. */
		fv = bpf_map_lookup_elem(&xlb_flows_prot, &pkt->key);
		if (fv) {
			in_prot = 1;
			id = fv->backend_id;
			be = bpf_map_lookup_elem(&xlb_backends, &id);
			if (be && (be->flags & XLB_BE_F_ACTIVE) && be->gen == fv->backend_gen) {
				if (fin)
					xlb_flow_slow(pkt, fv, id, fin, now, 1);
				if (now - fv->last_seen_ns > XLB_NSEC_PER_SEC)
					fv->last_seen_ns = now;
				xlb_count(XLB_STAT_FLOW_PROT_HIT);
				*be_id = id;
				*new_flow = 0;
				return be;
			}
			xlb_flow_leave(pkt, fv, be, id, 1);
		}
	}

select:
	be = xlb_select(vip, pkt, hash, hashed, be_id);
	if (!be)
		return NULL;
	*new_flow = 1;
	xlb_count(XLB_STAT_FLOW_NEW);
	if (fv) {
		/* Re-steer in place; a torn read by another CPU only causes one more re-steer. A
		 * protected flow stays protected (both copies move); a young one restarts its clock. */
		__u32 prot = fv->flags & XLB_FLOW_F_PROTECTED;

		fv->backend_id = *be_id;
		fv->backend_gen = be->gen;
		fv->last_seen_ns = now;
		fv->flags = closing | prot;
		if (!prot)
			fv->created = xlb_flow_time(now);
		else if (!in_prot)
			xlb_prot_sync(&pkt->key, fv);
	} else {
		struct xlb_flow_value nv = {
			.backend_id = *be_id,
			.backend_gen = be->gen,
			.last_seen_ns = now,
			.flags = closing,
			.created = xlb_flow_time(now),
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
