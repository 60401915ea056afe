/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* NAT forwarding (modes nat and fullnat): connection entries in xlb_nat4/xlb_nat6 (two per
 * connection, rules and layout in xlb/abi.h "NAT"), the forward rewrite client -> VIP into
 * client|snat -> backend, the reply rewrite backend -> client|snat into VIP -> client. Connection
 * creation (selection, the SNAT port allocation, the pair's inserts) is lib/nat_create.h's, the
 * translation of ICMP errors about these connections lib/nat_icmp.h's.
 *
 * Rules (the README's data-plane table repeats them):
 *  - Forward (a packet matched a VIP whose mode is nat/fullnat; the VIP checks already passed):
 *    one lookup of the packet's tuple. A FWD entry whose backend is ACTIVE with the recorded gen
 *    -> rewrite, XLB_STAT_NAT_HIT, except a TCP SYN without ACK on an entry whose client had
 *    ACKed or that saw a FIN/RST (the tuple reused for a new connection): the pair is reopened
 *    for it (xlb_nat_reopen, XLB_STAT_NAT_NEW). Backend gone -> both entries deleted
 *    (XLB_STAT_NAT_RESTEER) and the packet creates a new connection. No entry -> create: any
 *    packet may create (UDP any, TCP also a non-SYN, as dsr records a flow from any packet); a
 *    TCP FIN/RST creates a pair born closing (not counted in xlb_be_conns). Creation failures
 *    drop: no backend
 *    XLB_DROP_NO_BACKEND (also a backend of the other address family: no NAT46/64), nat with the
 *    client on the backend's address XLB_DROP_NAT_HAIRPIN, nat reply tuple already taken
 *    XLB_DROP_NAT_COLLISION, table full XLB_DROP_NAT_FULL, fullnat without a pool address of the
 *    family or without a free port after XLB_NAT_PROBES tries XLB_DROP_NAT_NO_PORT.
 *  - Reply (a well-formed TCP/UDP packet to no VIP, and xlb_settings.nat_flags != 0): the filter
 *    (bloom bits of the source endpoint, or of the destination address with the destination port
 *    in the SNAT range) else PASS XLB_STAT_NON_VIP; then one lookup: a REV entry -> the VIP
 *    checks (VLAN, L2 multicast, martian source: drop with their reasons), rewrite, out with the
 *    learned MACs and interface, XLB_STAT_NAT_REPLY; no entry but an exact NAT endpoint
 *    (xlb_nat_eps) -> DROP XLB_DROP_NAT_REPLY_MISS (never leak an untranslated reply); else PASS
 *    XLB_STAT_NAT_FILTER_MISS. A packet from a nat backend endpoint that the kernel would not route
 *    on (to this host: the answer to a health check of backend:port) is the host's: PASS.
 *  - Malformed replies (IP options, fragments, bad lengths, TCP data offset ...) are classified by
 *    the parser before any NAT lookup, like every packet not addressed to a VIP address: passed,
 *    XLB_STAT_MALFORMED_PASS. The reply keeps any VLAN tag it came with; only the MACs (learned
 *    from the client's first packet) and the interface are taken from the REV entry, no FIB lookup.
 *  - Counters: forward packets count in xlb_vip_stats / xlb_be_stats like dsr (new_flows on the
 *    creating packet); replies only in XLB_STAT_NAT_REPLY. The first FIN/RST seen on a FWD entry,
 *    or the backend's first RST (which also marks the FWD entry RST), takes the connection out of
 *    xlb_be_conns (XLB_STAT_FLOW_CLOSE, as lib/flow.h); the agent reconciles the rest.
 * Checksums are updated incrementally (RFC 1624 eqn. 3) from the deltas computed once when the
 * pair is created: an IPv4 UDP checksum 0 (none) stays 0, a computed UDP checksum 0 is sent as
 * 0xffff. Everything here but the reply filter runs in __noinline subprograms called from
 * balancer.bpf.c, so the dsr/ipip instruction stream only gains one mode compare, and a VIP miss
 * one settings test (plus, while NAT VIPs exist, the filter's two bloom bits).
 *
 * Families: each entry point exists twice, xlb4_* (xlb_nat4, compact key built from pkt->key) and
 * xlb6_* (xlb_nat6, keyed by pkt->key itself), both from one __always_inline body whose `v6` is a
 * compile-time constant. The verifier then sees one map's value on every path: a runtime family
 * test between the lookup and the address accesses would let it pair an IPv4 value with the IPv6
 * offsets ("invalid access to map value, value_size=64 off=72 size=8"). Family-independent fields
 * are read through struct xlb_nat_head, the addresses through xlb_nat_src()/xlb_nat_dst().
 */
#pragma once

#include "lib/csum.h"
#include "lib/nat_map.h"
#include "lib/nexthop.h"
#include "lib/parse.h"
#include "lib/select.h"

#define XLB_NAT_REFRESH_NS XLB_NSEC_PER_SEC
#define XLB_EEXIST 17

static __always_inline void xlb_count_n(__u32 idx, __u32 n)
{
	__u64 *v = bpf_map_lookup_elem(&xlb_stats, &idx);

	if (v)
		*v += n;
}

/* ~old + new over n 16-bit words, folded to 16 bits (one's complement, not inverted). */
static __always_inline __u32 xlb_csum_delta(const __u16 *old, const __u16 *new, int n, __u32 sum)
{
#pragma unroll
	for (int i = 0; i < 8; i++) {
		if (i < n)
			sum += (__u16)~old[i] + (__u32)new[i];
	}
	return sum;
}

static __always_inline __u32 xlb_csum_fold16(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + delta). */
static __always_inline __u16 xlb_csum_apply(__u16 check, __u32 delta)
{
	return xlb_csum_fold((__u32)(__u16)~check + delta);
}

/* The address part of the rewrite of tuple `old` into h's new tuple, folded. */
static __always_inline __u32 xlb_nat_addr_delta_body(const struct xlb_flow_key *old,
						     const struct xlb_nat_head *h, const int v6)
{
	int n = v6 ? 8 : 2;
	__u32 l3 = 0;

	l3 = xlb_csum_delta((const __u16 *)old->src, (const __u16 *)xlb_nat_src(h), n, l3);
	l3 = xlb_csum_delta((const __u16 *)old->dst, (const __u16 *)xlb_nat_dst(h, v6), n, l3);
	return xlb_csum_fold16(l3);
}

/* IPv6's 32 words out of line: unrolled inside xlb6_nat_create they cost it 128 bytes of spills,
 * over the combined stack limit ("combined stack size of 3 calls is 592. Too large"). */
static __noinline __u32 xlb6_nat_addr_delta(const struct xlb_flow_key *old,
					    const struct xlb_nat_head *h)
{
	return xlb_nat_addr_delta_body(old, h, 1);
}

static __always_inline __u32 xlb_nat_addr_delta(const struct xlb_flow_key *old,
						const struct xlb_nat_head *h, const int v6)
{
	if (v6)
		return xlb6_nat_addr_delta(old, h);
	return xlb_nat_addr_delta_body(old, h, 0);
}

/* Fills h->csum_l3 (IPv4 header: the addresses) and csum_l4 (TCP/UDP: the pseudo-header's
 * addresses and the ports) for the rewrite of the tuple `old` into h's new tuple. */
static __always_inline void xlb_nat_deltas(const struct xlb_flow_key *old, struct xlb_nat_head *h,
					   const int v6)
{
	__u32 l3 = xlb_nat_addr_delta(old, h, v6), l4;

	l4 = l3 + (__u16)~old->sport + (__u32)h->new_sport + (__u16)~old->dport +
	     (__u32)h->new_dport;
	h->csum_l3 = v6 ? 0 : l3;
	h->csum_l4 = xlb_csum_fold16(l4);
}

/* Rewrites the packet's addresses and ports into h's new tuple and fixes the checksums. */
static __always_inline int xlb_nat_rewrite(struct xdp_md *ctx, const struct xlb_pkt *pkt,
					   const struct xlb_nat_head *h, const int v6)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 off = xlb_l3_off(pkt);
	__u16 *ck;
	__u8 *l4;

	if (!v6) {
		struct iphdr *iph = data + off;

		l4 = (__u8 *)(iph + 1);
		if ((void *)(l4 + sizeof(struct udphdr)) > data_end)
			return -1;
		iph->saddr = *(const __u32 *)xlb_nat_src(h);
		iph->daddr = *(const __u32 *)xlb_nat_dst(h, 0);
		iph->check = xlb_csum_apply(iph->check, h->csum_l3);
	} else {
		struct ipv6hdr *ip6h = data + off;
		__u32 *a;
		const __u32 *s = (const __u32 *)xlb_nat_src(h), *d = (const __u32 *)xlb_nat_dst(h, 1);

		l4 = (__u8 *)(ip6h + 1);
		if ((void *)(l4 + sizeof(struct udphdr)) > data_end)
			return -1;
		a = (__u32 *)&ip6h->saddr;
		a[0] = s[0];
		a[1] = s[1];
		a[2] = s[2];
		a[3] = s[3];
		a[4] = d[0];
		a[5] = d[1];
		a[6] = d[2];
		a[7] = d[3];
	}
	((__be16 *)l4)[0] = h->new_sport;
	((__be16 *)l4)[1] = h->new_dport;
	if (pkt->key.proto == IPPROTO_TCP) {
		if ((void *)(l4 + sizeof(struct tcphdr)) > data_end)
			return -1;
		ck = (__u16 *)(l4 + 16);
		*ck = xlb_csum_apply(*ck, h->csum_l4);
	} else {
		__u16 c;

		ck = (__u16 *)(l4 + 6);
		c = *ck;
		if (c || v6) { /* IPv4 UDP checksum 0: none, keep it */
			c = xlb_csum_apply(c, h->csum_l4);
			*ck = c ? c : 0xffff;
		}
	}
	return 0;
}

/* The state bits a packet sets on its direction's entry (SEEN: not the creating packet). */
static __always_inline __u8 xlb_nat_fin_bits(const struct xlb_pkt *pkt)
{
	return ((pkt->tcp_flags & XLB_TCP_FLAG_FIN) ? XLB_NAT_S_FIN : 0) |
	       ((pkt->tcp_flags & XLB_TCP_FLAG_RST) ? XLB_NAT_S_RST : 0);
}

/* One REV insert: 0, -EEXIST (taken), or the drop reason for any other failure (table full). */
static __always_inline int xlb_nat_claim(const struct xlb_flow_key *rk,
					 const struct xlb_nat_head *rv, const int v6)
{
	long err = xlb_nat_insert(rk, rv, v6);

	if (!err)
		return 0;
	if (err == -XLB_EEXIST)
		return -XLB_EEXIST;
	return XLB_DROP_NAT_FULL;
}
/* Counters, next hop toward the backend, rewrite into h's tuple, backend MACs, out. */
static __always_inline int xlb_nat_out(struct xdp_md *ctx, const struct xlb_pkt *pkt, __u32 vip_id,
				       __u32 be_id, const struct xlb_backend *be,
				       const struct xlb_nat_head *h, __u64 now, int new_flow,
				       const int v6)
{
	struct xlb_nexthop *nh = NULL;
	void *data, *data_end;
	__u32 len = ctx->data_end - ctx->data;
	int rc;

	xlb_count_traffic(&xlb_vip_stats, vip_id, len, new_flow);
	xlb_count_traffic(&xlb_be_stats, be_id, len, new_flow);
	rc = xlb_nexthop(ctx, be_id, be, now, &nh);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return xlb_drop(XLB_DROP_NO_NEIGH);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS || !nh)
		return xlb_drop(XLB_DROP_FIB);
	if (xlb_nat_rewrite(ctx, pkt, h, v6))
		return xlb_drop(XLB_DROP_TRUNCATED); /* unreachable: parsed */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(struct ethhdr) > data_end)
		return xlb_drop(XLB_DROP_TRUNCATED);
	xlb_copy_macs(data, nh);
	return xlb_egress(ctx, nh->ifindex);
}

/* Deletes both entries of the pair whose FWD entry is `fv` (key `k`); `fv` is not read after. Out
 * of line: the peer key's stack stays out of the forward path's frame. */
static __always_inline void xlb_nat_delete_pair(const struct xlb_flow_key *k,
						const struct xlb_nat_head *fv, const int v6)
{
	struct xlb_flow_key peer __attribute__((aligned(8)));

	xlb_nat_peer_key(fv, k, &peer, v6);
	xlb_nat_delete(&peer, v6);
	xlb_nat_delete(k, v6);
}

static __noinline void xlb4_nat_delete_pair(const struct xlb_flow_key *k,
					    const struct xlb_nat_head *fv)
{
	xlb_nat_delete_pair(k, fv, 0);
}

static __noinline void xlb6_nat_delete_pair(const struct xlb_flow_key *k,
					    const struct xlb_nat_head *fv)
{
	xlb_nat_delete_pair(k, fv, 1);
}

/* The backend reset the connection (the first RST on its REV entry `rv`, key `k`): out of the
 * backend's open count now, since its client may never send again, through the FWD entry, which
 * records the RST so that the client's own FIN/RST does not subtract it a second time. One lookup,
 * on a connection's first backend RST only; out of line like xlb_nat_delete_pair. */
static __always_inline void xlb_nat_backend_reset(const struct xlb_flow_key *k,
						  const struct xlb_nat_head *rv, const int v6)
{
	struct xlb_flow_key peer __attribute__((aligned(8)));
	struct xlb_nat_head *fv;

	xlb_nat_peer_key(rv, k, &peer, v6);
	fv = xlb_nat_lookup(&peer, v6);
	if (!fv || fv->dir != XLB_NAT_DIR_FWD || (fv->state & (XLB_NAT_S_FIN | XLB_NAT_S_RST)))
		return;
	fv->state |= XLB_NAT_S_RST;
	xlb_conns_dec(fv->backend_id);
	xlb_count(XLB_STAT_FLOW_CLOSE);
}

static __noinline void xlb4_nat_backend_reset(const struct xlb_flow_key *k,
					      const struct xlb_nat_head *rv)
{
	xlb_nat_backend_reset(k, rv, 0);
}

static __noinline void xlb6_nat_backend_reset(const struct xlb_flow_key *k,
					      const struct xlb_nat_head *rv)
{
	xlb_nat_backend_reset(k, rv, 1);
}

/* Sets this direction's state bits that are not set yet; the first FIN/RST on a FWD entry, or the
 * first RST on a REV entry (xlb_nat_backend_reset), takes the connection out of its backend's open
 * count. Writes only when something changes. Never called for the creating packet, so
 * XLB_NAT_S_ACK comes from a later client segment with ACK and without SYN (not a SYN
 * retransmit): the handshake's third packet or anything after it. */
static __always_inline void xlb_nat_touch(struct xlb_nat_head *v, const struct xlb_pkt *pkt,
					  __u64 now, int fwd, const int v6)
{
	__u8 want = XLB_NAT_S_SEEN | xlb_nat_fin_bits(pkt), st = v->state;

	if (fwd && (pkt->tcp_flags & (XLB_TCP_FLAG_SYN | XLB_TCP_FLAG_ACK)) == XLB_TCP_FLAG_ACK)
		want |= XLB_NAT_S_ACK;

	if (unlikely((st & want) != want)) {
		if (fwd && (want & (XLB_NAT_S_FIN | XLB_NAT_S_RST)) &&
		    !(st & (XLB_NAT_S_FIN | XLB_NAT_S_RST))) {
			xlb_conns_dec(v->backend_id);
			xlb_count(XLB_STAT_FLOW_CLOSE);
		}
		if (!fwd && (want & XLB_NAT_S_RST) && !(st & XLB_NAT_S_RST)) {
			if (v6)
				xlb6_nat_backend_reset(&pkt->key, v);
			else
				xlb4_nat_backend_reset(&pkt->key, v);
		}
		v->state = st | want;
	}
	if (now - v->last_seen_ns > XLB_NAT_REFRESH_NS)
		v->last_seen_ns = now;
}

/* A SYN without ACK on a FWD entry: a new connection on a reused tuple when the old one's client
 * had completed its handshake (XLB_NAT_S_ACK) or the connection closed (FIN/RST seen by the
 * client side); else a SYN retransmit, which keeps the entry. */
static __always_inline int xlb_nat_reused(const struct xlb_pkt *pkt, const struct xlb_nat_head *fv)
{
	return (pkt->tcp_flags & (XLB_TCP_FLAG_SYN | XLB_TCP_FLAG_ACK)) == XLB_TCP_FLAG_SYN &&
	       (fv->state & (XLB_NAT_S_ACK | XLB_NAT_S_FIN | XLB_NAT_S_RST));
}

/* The client reused the tuple of FWD entry `fv` (key `k`) for a new connection: the pair is
 * reopened in place, a new connection on the same backend and translated tuple (both entries'
 * state cleared, created now, counted open again and as new), never a closing entry the collector
 * would expire under it. Not re-selected: the backend may hold that tuple in TIME_WAIT, and
 * accepts a new SYN on it from the same client (whose sequence numbers and timestamps continue),
 * where a freed SNAT endpoint given to another client would meet a challenge ACK. Out of line: one
 * lookup (the REV entry), on this rare path only. */
static __always_inline void xlb_nat_reopen(const struct xlb_flow_key *k, struct xlb_nat_head *fv,
					   __u64 now, const int v6)
{
	struct xlb_flow_key peer __attribute__((aligned(8)));
	struct xlb_nat_head *rv;

	xlb_nat_peer_key(fv, k, &peer, v6);
	rv = xlb_nat_lookup(&peer, v6);
	if (rv && rv->dir == XLB_NAT_DIR_REV) {
		rv->state = 0;
		rv->created_ns = now;
		rv->last_seen_ns = now;
	}
	if (fv->state & (XLB_NAT_S_FIN | XLB_NAT_S_RST))
		xlb_conns_inc(fv->backend_id);
	fv->state = 0;
	fv->created_ns = now;
	fv->last_seen_ns = now;
	xlb_count(XLB_STAT_NAT_NEW);
}

static __noinline void xlb4_nat_reopen(const struct xlb_flow_key *k, struct xlb_nat_head *fv,
				       __u64 now)
{
	xlb_nat_reopen(k, fv, now, 0);
}

static __noinline void xlb6_nat_reopen(const struct xlb_flow_key *k, struct xlb_nat_head *fv,
				       __u64 now)
{
	xlb_nat_reopen(k, fv, now, 1);
}

#define XLB_NAT_CREATE (-3) /* xlb_nat_forward: no usable entry, the caller runs xlb_nat_create */

/* The forward direction of a nat/fullnat VIP (rules at the top). `created`: the second call, after
 * xlb_nat_create inserted the entry (counted as a new flow, not a hit). Returns the final action or
 * XLB_NAT_CREATE. */
static __always_inline int xlb_nat_forward(struct xdp_md *ctx, struct xlb_pkt *pkt,
					   const struct xlb_vip_value *vip, int created,
					   const int v6)
{
	struct xlb_nat_head *fv;
	struct xlb_backend *be;
	__u64 now = bpf_ktime_get_coarse_ns();
	__u32 id;

	fv = xlb_nat_lookup(&pkt->key, v6);
	if (fv) {
		if (unlikely(fv->dir != XLB_NAT_DIR_FWD))
			return xlb_drop(XLB_DROP_NAT_COLLISION);
		id = fv->backend_id;
		be = bpf_map_lookup_elem(&xlb_backends, &id);
		if (likely(be && (be->flags & XLB_BE_F_ACTIVE) && be->gen == fv->backend_gen)) {
			if (created)
				return xlb_nat_out(ctx, pkt, vip->vip_id, id, be, fv, now, 1, v6);
			if (likely(!(pkt->tcp_flags & XLB_TCP_FLAG_SYN)) || !xlb_nat_reused(pkt, fv)) {
				xlb_nat_touch(fv, pkt, now, 1, v6);
				xlb_count(XLB_STAT_NAT_HIT);
				return xlb_nat_out(ctx, pkt, vip->vip_id, id, be, fv, now, 0, v6);
			}
			if (v6)
				xlb6_nat_reopen(&pkt->key, fv, now);
			else
				xlb4_nat_reopen(&pkt->key, fv, now);
			return xlb_nat_out(ctx, pkt, vip->vip_id, id, be, fv, now, 1, v6);
		}
		if (created) /* the agent took the backend away meanwhile */
			return xlb_drop(XLB_DROP_NO_BACKEND);
		xlb_count(XLB_STAT_NAT_RESTEER);
		/* Backend gone: the pair goes. Still counted unless closed, or its backend slot was
		 * reassigned (gen changed: the agent reset that count); a health-down one keeps its gen. */
		if (be && be->gen == fv->backend_gen && !(fv->state & (XLB_NAT_S_FIN | XLB_NAT_S_RST)))
			xlb_conns_dec(id);
		if (v6)
			xlb6_nat_delete_pair(&pkt->key, fv);
		else
			xlb4_nat_delete_pair(&pkt->key, fv);
	} else if (created) {
		return xlb_drop(XLB_DROP_NAT_FULL); /* deleted at once by the agent: not served */
	}
	return XLB_NAT_CREATE;
}

static __noinline int xlb4_nat_forward(struct xdp_md *ctx, struct xlb_pkt *pkt,
				       const struct xlb_vip_value *vip, int created)
{
	return xlb_nat_forward(ctx, pkt, vip, created, 0);
}

static __noinline int xlb6_nat_forward(struct xdp_md *ctx, struct xlb_pkt *pkt,
				       const struct xlb_vip_value *vip, int created)
{
	return xlb_nat_forward(ctx, pkt, vip, created, 1);
}

/* The settings' filter: may this non-VIP packet be a NAT reply? */
static __always_inline int xlb_nat_maybe_reply(const struct xlb_pkt *pkt,
					       const struct xlb_settings *st, __u32 flags)
{
	const __u32 *s = (const __u32 *)pkt->key.src, *d = (const __u32 *)pkt->key.dst;
	int v6 = pkt->key.family == XLB_AF_INET6;
	__u32 bit, dport;

	if (flags & XLB_NAT_F_EPS) {
		bit = xlb_nat_bloom_bit(v6 ? s[3] : s[0], pkt->key.sport);
		if ((st->nat_src_bloom[(bit >> 6) & 3] >> (bit & 63)) & 1)
			return 1;
	}
	if (flags & XLB_NAT_F_SNAT) {
		dport = bpf_ntohs(pkt->key.dport);
		if (dport >= st->nat_port_min && dport <= st->nat_port_max) {
			bit = xlb_nat_bloom_bit(v6 ? d[3] : d[0], 0);
			if ((st->snat_dst_bloom[(bit >> 6) & 3] >> (bit & 63)) & 1)
				return 1;
		}
	}
	return 0;
}

/* Would the kernel route this packet on (rather than deliver it to this host, or drop it)? A nat
 * backend endpoint also answers the host's own connections to it (the agent's health checks to
 * backend:port): those answers are the kernel's, not reply misses. bpf_fib_lookup says NOT_FWDED
 * for a local destination (and for one without a route) and FWD_DISABLED when the interface does
 * not forward: the kernel forwards neither, so nothing untranslated can leak. Out of line: only
 * the miss path pays the lookup. */
static __noinline int xlb_nat_routed_on(struct xdp_md *ctx, const struct xlb_pkt *pkt)
{
	struct bpf_fib_lookup fib = {};
	int rc;

	xlb_fib_dst(&fib, ctx, pkt->key.family, pkt->key.dst);
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	return rc != BPF_FIB_LKUP_RET_NOT_FWDED && rc != BPF_FIB_LKUP_RET_FWD_DISABLED;
}

/* Is the packet from a nat backend endpoint and routed on, or to a SNAT address in the port range
 * (exact)? */
static __always_inline int xlb_nat_is_endpoint(struct xdp_md *ctx, const struct xlb_pkt *pkt,
					       __u32 flags, const struct xlb_settings *st)
{
	struct xlb_nat_ep ep __attribute__((aligned(8)));
	__u32 dport;

	xlb_copy16(ep.addr, pkt->key.src);
	ep.port = pkt->key.sport;
	ep.proto = pkt->key.proto;
	ep.family = pkt->key.family;
	if ((flags & XLB_NAT_F_EPS) && bpf_map_lookup_elem(&xlb_nat_eps, &ep) &&
	    xlb_nat_routed_on(ctx, pkt))
		return 1;
	if (!(flags & XLB_NAT_F_SNAT))
		return 0;
	dport = bpf_ntohs(pkt->key.dport);
	if (dport < st->nat_port_min || dport > st->nat_port_max)
		return 0;
	xlb_copy16(ep.addr, pkt->key.dst);
	ep.port = 0;
	return bpf_map_lookup_elem(&xlb_nat_eps, &ep) != NULL;
}

/* The reply direction: a well-formed TCP/UDP packet to no VIP that passed the settings' filter
 * (xlb_nat_maybe_reply, inlined in the caller: a packet that fails it pays no call). */
static __always_inline int xlb_nat_reply(struct xdp_md *ctx, struct xlb_pkt *pkt,
					 const struct xlb_settings *st, const int v6)
{
	__u32 flags = st->nat_flags;
	struct xlb_nat_head *rv;
	void *data, *data_end;
	int rc;

	rv = xlb_nat_lookup(&pkt->key, v6);
	if (!rv || rv->dir != XLB_NAT_DIR_REV) {
		if (xlb_nat_is_endpoint(ctx, pkt, flags, st))
			return xlb_drop(XLB_DROP_NAT_REPLY_MISS);
		return xlb_pass(XLB_STAT_NAT_FILTER_MISS);
	}
	/* Ours from here: the VIP checks apply (drop with their reasons rather than pass). */
	if (unlikely(pkt->suspect)) {
		rc = xlb_vip_sanity(ctx, pkt, (pkt->suspect & XLB_SUSPECT_SRC) && xlb_bad_source(pkt));
		if (rc)
			return rc;
	}
	xlb_nat_touch(rv, pkt, bpf_ktime_get_coarse_ns(), 0, v6);
	if (xlb_nat_rewrite(ctx, pkt, rv, v6))
		return xlb_drop(XLB_DROP_TRUNCATED); /* unreachable: parsed */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(struct ethhdr) > data_end)
		return xlb_drop(XLB_DROP_TRUNCATED);
	xlb_copy_macs(data, rv->l2);
	xlb_count(XLB_STAT_NAT_REPLY);
	return xlb_egress(ctx, rv->ifindex);
}

static __noinline int xlb4_nat_reply(struct xdp_md *ctx, struct xlb_pkt *pkt,
				     const struct xlb_settings *st)
{
	return xlb_nat_reply(ctx, pkt, st, 0);
}

static __noinline int xlb6_nat_reply(struct xdp_md *ctx, struct xlb_pkt *pkt,
				     const struct xlb_settings *st)
{
	return xlb_nat_reply(ctx, pkt, st, 1);
}
