/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* NAT connection creation (rules in lib/nat.h): selection, the fullnat SNAT port allocation, the
 * pair's claim (REV) and insert (FWD), the early path of a TCP SYN, and the per-family entry point
 * the balancer calls for a packet to a nat/fullnat VIP. */
#pragma once

#include "lib/nat.h"

#define XLB_NAT_EXISTS (-5) /* early create: the FWD entry exists (or the early path gave up) */

/* The early path of a new connection (xlb_nat_early): looks up the REV key it is about to claim
 * and then the packet's FWD key, back to back and independent, so that the CPU fetches both cold
 * buckets of a large table at once instead of one after the other (the claim then finds its bucket
 * cached). Returns 1 when the FWD entry exists: not a new connection after all. */
static __always_inline int xlb_nat_early_probe(const struct xlb_flow_key *rk,
					       const struct xlb_pkt *pkt, const int v6)
{
	xlb_nat_lookup(rk, v6); /* the result does not matter: the claim decides */
	return xlb_nat_lookup(&pkt->key, v6) != NULL;
}

/* Writes pool address `a` of the packet's family into rk->dst (the REV entry's destination). */
static __always_inline void xlb_nat_snat_addr(const struct xlb_snat *pool, int v6, __u32 a,
					      struct xlb_flow_key *rk)
{
	a &= XLB_SNAT_MAX_ADDRS - 1;
	if (v6) {
		xlb_copy16(rk->dst, pool->addrs6[a]);
	} else {
		*(__u32 *)rk->dst = *(const __u32 *)pool->addrs4[a];
		*(__u32 *)(rk->dst + 4) = 0;
		*(__u64 *)(rk->dst + 8) = 0;
	}
}

/* fullnat: an SNAT endpoint (pool address of the family, port in the pool's range) no other
 * connection holds. The first try is the address chosen by hash with the client's own port when
 * it is inside the range, else a hashed port; the following tries walk every pool address at that
 * port before moving to the next port (wrapping inside the range), so one full address never
 * refuses a connection another address could take. Each try is the REV insert itself
 * (BPF_NOEXIST: the atomic claim), its checksum deltas completed with the endpoint tried. At most
 * XLB_NAT_PROBES tries. Returns 0 with the REV entry inserted (rk->dst:dport = the SNAT endpoint),
 * else the drop reason. */
static __always_inline int xlb_nat_alloc(const struct xlb_pkt *pkt, __u32 vip_id, __u32 be_id,
					 __u32 hash, struct xlb_flow_key *rk, struct xlb_nat_head *rv,
					 int early, const int v6)
{
	struct xlb_snat *pool = bpf_map_lookup_elem(&xlb_snat, &vip_id);
	__u32 nr, idx, lo, hi, range, cport, start, p, a, i, l3, l4;
	__u64 *fail;
	int rc;

	if (!pool)
		return early ? XLB_NAT_EXISTS : XLB_DROP_NAT_NO_PORT;
	lo = pool->port_min;
	hi = pool->port_max;
	if (!lo || hi < lo)
		return early ? XLB_NAT_EXISTS : XLB_DROP_NAT_NO_PORT;
	range = hi - lo + 1;
	nr = v6 ? pool->nr6 : pool->nr4;
	if (!nr || nr > XLB_SNAT_MAX_ADDRS)
		return early ? XLB_NAT_EXISTS : XLB_DROP_NAT_NO_PORT;
	idx = xlb_scale(hash, nr);

	cport = bpf_ntohs(pkt->key.sport);
	if (cport >= lo && cport <= hi)
		start = cport;
	else
		start = lo + xlb_scale(xlb_rotl32(hash, 16) * 0x9e3779b1u, range);
	if (early) {
		/* The first try's REV bucket, fetched alongside the FWD one (xlb_nat_early). */
		xlb_nat_snat_addr(pool, v6, idx, rk);
		rk->dport = bpf_htons((__u16)start);
		if (xlb_nat_early_probe(rk, pkt, v6))
			return XLB_NAT_EXISTS;
	}
	/* A bounded loop (kernel >= 5.3; accepted by 6.18 as is): at most XLB_NAT_PROBES inserts.
	 * Try i is address idx + i % nr at port start + i / nr: derived from i alone, so the
	 * verifier walks one state per iteration. */
	for (i = 0; i < XLB_NAT_PROBES && i < range * nr; i++) {
		a = idx + i % nr;
		if (a >= nr)
			a -= nr;
		/* REV rewrite deltas: the addresses, and the ports but the one tried. */
		xlb_nat_snat_addr(pool, v6, a, rk);
		l3 = xlb_nat_addr_delta(rk, rv, v6);
		rv->csum_l3 = v6 ? 0 : l3;
		l4 = l3 + (__u16)~rk->sport + (__u32)rv->new_sport + (__u32)rv->new_dport;
		p = start + i / nr;
		if (p > hi)
			p -= range;
		rk->dport = bpf_htons((__u16)p);
		rv->csum_l4 = xlb_csum_fold16(l4 + (__u16)~rk->dport);
		rc = xlb_nat_claim(rk, rv, v6);
		if (rc == 0) {
			if (i)
				xlb_count_n(XLB_STAT_NAT_PORT_PROBE, i);
			return 0;
		}
		if (rc != -XLB_EEXIST)
			return rc;
	}
	if (i > 1)
		xlb_count_n(XLB_STAT_NAT_PORT_PROBE, i - 1);
	fail = bpf_map_lookup_elem(&xlb_nat_fail, &be_id);
	if (fail)
		*fail += 1;
	return XLB_DROP_NAT_NO_PORT;
}

#define XLB_NAT_BUILT (-4) /* xlb_nat_build: the pair is in, its FWD value in xlb_nat_scratch */

/* A new connection's pair: selection, then REV first (the claim), then FWD. Returns XLB_NAT_BUILT
 * with *be_out set, the final action (counted), or XLB_CONTINUE when another CPU created the same
 * connection first. The value is built in the per-CPU slot xlb_nat_scratch (REV, then rewritten
 * into FWD), not on the stack. Its own frame (the probe loop's spills), apart from the next-hop
 * refresh that xlb_nat_create's forwarding may call: together they would pass the 512-byte
 * combined stack ("combined stack size of 3 calls is 528. Too large"). */
static __always_inline int xlb_nat_build(struct xdp_md *ctx, struct xlb_pkt *pkt,
					 const struct xlb_vip_value *vip, __u32 *be_out, int early,
					 const int v6)
{
	__u64 now = bpf_ktime_get_coarse_ns();
	struct xlb_flow_key rk __attribute__((aligned(8)));
	struct xlb_nat_head *v, *won;
	struct xlb_backend *be;
	struct xlb_be_nat *bn;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 hash = 0, be_id = 0, vip_id = vip->vip_id, gen, zero = 0;
	int hashed = 0, rc;
	__u8 mode = vip->fwd_mode, fin = xlb_nat_fin_bits(pkt);
	__be16 bport;

	if (data + sizeof(struct ethhdr) > data_end)
		return xlb_drop(XLB_DROP_TRUNCATED); /* unreachable: parsed */
	be = xlb_select(vip, pkt, &hash, &hashed, &be_id);
	if (!be || be->family != pkt->key.family)
		return early ? XLB_NAT_EXISTS : xlb_drop(XLB_DROP_NO_BACKEND);
	gen = be->gen;
	bn = bpf_map_lookup_elem(&xlb_be_nat, &be_id);
	bport = bn && bn->port ? bn->port : pkt->key.dport;
	v = bpf_map_lookup_elem(&xlb_nat_scratch, &zero);
	if (!v)
		return xlb_drop(XLB_DROP_NAT_FULL); /* unreachable: a one-slot array */
	__builtin_memset(v, 0, v6 ? sizeof(struct xlb_nat6_value) : sizeof(struct xlb_nat4_value));

	/* REV: backend:bport -> (client|snat):sport becomes VIP:vport -> client:cport. */
	xlb_nat_set_addrs(v, pkt->key.dst, pkt->key.src, v6);
	v->new_sport = pkt->key.dport;
	v->new_dport = pkt->key.sport;
	v->backend_id = be_id;
	v->backend_gen = gen;
	v->vip_id = vip_id;
	v->dir = XLB_NAT_DIR_REV;
	v->mode = mode;
	v->last_seen_ns = now;
	v->created_ns = now;
	/* The reply leaves the way the client's packet came in: its MACs swapped, same interface. */
	__builtin_memcpy(v->l2, data + 6, 6);
	__builtin_memcpy(v->l2 + 6, data, 6);
	v->ifindex = ctx->ingress_ifindex;

	xlb_copy16(rk.src, be->addr);
	rk.sport = bport;
	*(__u32 *)&rk.proto = *(const __u32 *)&pkt->key.proto;

	if (mode == XLB_FWD_NAT) {
		if (xlb_addr_eq(pkt->key.src, be->addr))
			return early ? XLB_NAT_EXISTS : xlb_drop(XLB_DROP_NAT_HAIRPIN);
		xlb_copy16(rk.dst, pkt->key.src);
		rk.dport = pkt->key.sport;
		if (early && xlb_nat_early_probe(&rk, pkt, v6))
			return XLB_NAT_EXISTS;
		xlb_nat_deltas(&rk, v, v6);
		rc = xlb_nat_claim(&rk, v, v6);
		if (rc == -XLB_EEXIST) {
			/* Taken: by this very connection on another CPU (then use its entry), or
			 * by the same client endpoint through another VIP to the same backend. */
			won = xlb_nat_lookup(&pkt->key, v6);
			if (!won || won->dir != XLB_NAT_DIR_FWD)
				return xlb_drop(XLB_DROP_NAT_COLLISION);
			xlb_count(XLB_STAT_NAT_RACE);
			return XLB_CONTINUE;
		}
	} else {
		rc = xlb_nat_alloc(pkt, vip_id, be_id, xlb_pkt_hash(pkt, &hash, &hashed), &rk, v,
				   early, v6);
		if (rc == XLB_NAT_EXISTS)
			return rc;
	}
	if (rc)
		return xlb_drop(rc);

	/* FWD: client:cport -> VIP:vport becomes (client|snat):sport -> backend:bport = rk reversed. */
	xlb_nat_set_addrs(v, rk.dst, rk.src, v6);
	v->new_sport = rk.dport;
	v->new_dport = rk.sport;
	v->dir = XLB_NAT_DIR_FWD;
	v->state = fin;
	__builtin_memset(v->l2, 0, sizeof(v->l2));
	v->ifindex = 0;
	xlb_nat_deltas(&pkt->key, v, v6);
	rc = xlb_nat_insert(&pkt->key, v, v6);
	if (rc) {
		xlb_nat_delete(&rk, v6);
		if (rc != -XLB_EEXIST)
			return xlb_drop(XLB_DROP_NAT_FULL);
		/* Another CPU created the same connection between our claim and this insert. */
		won = xlb_nat_lookup(&pkt->key, v6);
		if (!won || won->dir != XLB_NAT_DIR_FWD)
			return xlb_drop(XLB_DROP_NAT_COLLISION);
		xlb_count(XLB_STAT_NAT_RACE);
		return XLB_CONTINUE;
	}
	xlb_count(XLB_STAT_NAT_NEW);
	/* A pair created by a FIN/RST is born closing and never counted (as flow.h). */
	if (!fin)
		xlb_conns_inc(be_id);
	*be_out = be_id;
	return XLB_NAT_BUILT;
}

static __noinline int xlb4_nat_build(struct xdp_md *ctx, struct xlb_pkt *pkt,
				     const struct xlb_vip_value *vip, __u32 *be_out, int early)
{
	return xlb_nat_build(ctx, pkt, vip, be_out, early, 0);
}

static __noinline int xlb6_nat_build(struct xdp_md *ctx, struct xlb_pkt *pkt,
				     const struct xlb_vip_value *vip, __u32 *be_out, int early)
{
	return xlb_nat_build(ctx, pkt, vip, be_out, early, 1);
}

/* A new connection: the pair (xlb_nat_build), then out with the scratch copy of the FWD value just
 * inserted (no lookup of what was inserted). Returns the final action (counted), or XLB_CONTINUE
 * when another CPU created the same connection first: the balancer then calls xlb_nat_forward
 * again, which finds that entry. Called from the balancer, not from xlb_nat_forward: the
 * combined stack. */
static __always_inline int xlb_nat_create(struct xdp_md *ctx, struct xlb_pkt *pkt,
					  const struct xlb_vip_value *vip, int early, const int v6)
{
	struct xlb_nat_head *v;
	struct xlb_backend *be;
	__u32 be_id = 0, zero = 0;
	int rc;

	rc = v6 ? xlb6_nat_build(ctx, pkt, vip, &be_id, early)
		: xlb4_nat_build(ctx, pkt, vip, &be_id, early);
	if (rc != XLB_NAT_BUILT)
		return rc;
	be = bpf_map_lookup_elem(&xlb_backends, &be_id);
	v = bpf_map_lookup_elem(&xlb_nat_scratch, &zero);
	if (!be || !v)
		return xlb_drop(XLB_DROP_NO_BACKEND); /* unreachable: both just read */
	return xlb_nat_out(ctx, pkt, vip->vip_id, be_id, be, v, bpf_ktime_get_coarse_ns(), 1, v6);
}

static __noinline int xlb4_nat_create(struct xdp_md *ctx, struct xlb_pkt *pkt,
				      const struct xlb_vip_value *vip, int early)
{
	return xlb_nat_create(ctx, pkt, vip, early, 0);
}

static __noinline int xlb6_nat_create(struct xdp_md *ctx, struct xlb_pkt *pkt,
				      const struct xlb_vip_value *vip, int early)
{
	return xlb_nat_create(ctx, pkt, vip, early, 1);
}

/* Early creation (xlb_nat_early_probe): a TCP SYN without ACK to a VIP whose selection has no side
 * effect (maglev, source_hash: a SYN retransmit that turns out to have an entry must not move a
 * round-robin position or draw random numbers) selects first and then looks up both keys of the
 * pair at once. Any other packet, or an early path that finds the entry or cannot build the pair,
 * takes the ordinary way: xlb_nat_forward, then xlb_nat_create. */
static __always_inline int xlb_nat_early(const struct xlb_pkt *pkt, const struct xlb_vip_value *vip)
{
	return pkt->key.proto == IPPROTO_TCP &&
	       (pkt->tcp_flags & (XLB_TCP_FLAG_SYN | XLB_TCP_FLAG_ACK)) == XLB_TCP_FLAG_SYN &&
	       (vip->algorithm == XLB_ALG_MAGLEV || vip->algorithm == XLB_ALG_SOURCE_HASH);
}

/* A packet to a nat/fullnat VIP of the family v6, from the balancer. The steps are called from
 * here, not nested in each other: the 512-byte combined stack. Out of line (xlb4_nat_vip,
 * xlb6_nat_vip), so that the balancer's own code, which the dsr/ipip paths share, stays as it was
 * before NAT: one compare and a call. */
static __always_inline int xlb_nat_vip(struct xdp_md *ctx, struct xlb_pkt *pkt,
				       const struct xlb_vip_value *vip, const int v6)
{
	int rc = XLB_NAT_CREATE;

	if (xlb_nat_early(pkt, vip))
		rc = v6 ? xlb6_nat_create(ctx, pkt, vip, 1) : xlb4_nat_create(ctx, pkt, vip, 1);
	if (rc == XLB_NAT_CREATE || rc == XLB_NAT_EXISTS) {
		rc = v6 ? xlb6_nat_forward(ctx, pkt, vip, 0) : xlb4_nat_forward(ctx, pkt, vip, 0);
		if (rc != XLB_NAT_CREATE)
			return rc;
		rc = v6 ? xlb6_nat_create(ctx, pkt, vip, 0) : xlb4_nat_create(ctx, pkt, vip, 0);
	}
	if (rc != XLB_CONTINUE)
		return rc;
	return v6 ? xlb6_nat_forward(ctx, pkt, vip, 1) : xlb4_nat_forward(ctx, pkt, vip, 1);
}

static __noinline int xlb4_nat_vip(struct xdp_md *ctx, struct xlb_pkt *pkt,
				   const struct xlb_vip_value *vip)
{
	return xlb_nat_vip(ctx, pkt, vip, 0);
}

static __noinline int xlb6_nat_vip(struct xdp_md *ctx, struct xlb_pkt *pkt,
				   const struct xlb_vip_value *vip)
{
	return xlb_nat_vip(ctx, pkt, vip, 1);
}
