/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* ICMP errors about NAT connections (called from balancer.bpf.c xlb_icmp): the outer addresses and
 * the quoted tuple translated to the other side of the connection, checksums fixed. Owns only this
 * translation; the connection entries and their rules are lib/nat.h's, the quote parsing
 * lib/icmp.h's.
 *
 * pkt->key holds the quoted packet's tuple reversed (lib/icmp.h xlb_icmp_quote):
 *  (a) an error to a NAT VIP about our translated reply VIP:vport -> client:cport: the key is the
 *      connection's FWD key. The error goes to the backend: outer destination := backend, the
 *      quote into the backend's form (backend:bport -> client:cport (nat) | snat:sport (fullnat)).
 *  (b) an error from the backend's side (outer destination the client (nat) or the SNAT address
 *      (fullnat)) about the translated forward packet: the key is the REV key. The error goes to
 *      the client: outer source := VIP (no backend address leaks), outer destination := client,
 *      the quote back into the client's form (client:cport -> VIP:vport), out the REV way.
 * Both: quote src := v->new_dst:new_dport, quote dst := v->new_src:new_sport; outer dst :=
 * v->new_dst; (b) also outer src := v->new_src. Checksums: the quoted IPv4 header, the quoted
 * TCP/UDP checksum when it lies inside the quote (a UDP/IPv4 0 stays 0), the ICMP checksum over
 * every changed word (ICMPv6: and the outer addresses of its pseudo-header), the outer IPv4 header.
 * Nothing here writes xlb_nat4/xlb_nat6: an error is not a packet of the connection. */
#pragma once

#include "lib/icmp.h"
#include "lib/nat.h"

/* Writes n 16-bit words at p, returns sum + the one's complement delta. */
static __always_inline __u32 xlb_put_words(__u16 *p, const __u16 *new, int n, __u32 sum)
{
#pragma unroll
	for (int i = 0; i < 8; i++) {
		if (i < n) {
			sum += (__u16)~p[i] + (__u32)new[i];
			p[i] = new[i];
		}
	}
	return sum;
}

/* The quoted transport checksum at `ck` (inside the quote): delta `d` (addresses + ports). */
static __always_inline __u32 xlb_quote_l4_csum(__u16 *ck, __u32 d, int udp, int v4,
					       __u32 icmp_sum)
{
	__u16 old = *ck, new;

	if (udp && v4 && !old)
		return icmp_sum; /* UDP/IPv4 without a checksum */
	new = xlb_csum_apply(old, xlb_csum_fold16(d));
	if (udp && !new)
		new = 0xffff;
	*ck = new;
	return icmp_sum + (__u16)~old + (__u32)new;
}

/* Returns 0, or -1 when the frame is shorter than the parser promised (unreachable). */
static __always_inline int xlb_nat_icmp_rewrite(struct xdp_md *ctx, const struct xlb_pkt *pkt,
						const struct xlb_nat_head *v, int reply, const int v6)
{
	const __u16 *nsrc = (const __u16 *)xlb_nat_src(v), *ndst = (const __u16 *)xlb_nat_dst(v, v6);
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 off = xlb_l3_off(pkt), qa, qp, sum, o;
	int udp = pkt->key.proto == IPPROTO_UDP;
	__u16 *ck, old;

	if (!v6) {
		struct iphdr *iph = data + off;
		__u8 *icmp = (__u8 *)(iph + 1);
		struct iphdr *qh = (struct iphdr *)(icmp + XLB_ICMP_HDR_LEN);
		__u8 *ql4 = (__u8 *)(qh + 1);

		if ((void *)(ql4 + XLB_QUOTE_L4_LEN) > data_end)
			return -1;
		o = xlb_put_words((__u16 *)&iph->daddr, ndst, 2, 0);
		if (reply)
			o = xlb_put_words((__u16 *)&iph->saddr, nsrc, 2, o);
		iph->check = xlb_csum_apply(iph->check, xlb_csum_fold16(o));
		qa = xlb_put_words((__u16 *)&qh->saddr, ndst, 2, 0);
		qa = xlb_put_words((__u16 *)&qh->daddr, nsrc, 2, qa);
		old = qh->check;
		qh->check = xlb_csum_apply(old, xlb_csum_fold16(qa));
		sum = qa + (__u16)~old + (__u32)qh->check;
		qp = xlb_put_words((__u16 *)ql4, (const __u16 *)&v->new_dport, 1, 0);
		qp = xlb_put_words((__u16 *)(ql4 + 2), (const __u16 *)&v->new_sport, 1, qp);
		sum += qp;
		if (udp) {
			sum = xlb_quote_l4_csum((__u16 *)(ql4 + 6), qa + qp, 1, 1, sum);
		} else if ((void *)(ql4 + 18) <= data_end &&
			   pkt->l4_len >= XLB_ICMP_HDR_LEN + sizeof(*qh) + 18) {
			sum = xlb_quote_l4_csum((__u16 *)(ql4 + 16), qa + qp, 0, 0, sum);
		}
		ck = (__u16 *)(icmp + 2);
		*ck = xlb_csum_apply(*ck, xlb_csum_fold16(sum));
	} else {
		struct ipv6hdr *ip6h = data + off;
		__u8 *icmp = (__u8 *)(ip6h + 1);
		struct ipv6hdr *qh = (struct ipv6hdr *)(icmp + XLB_ICMP_HDR_LEN);
		__u8 *ql4 = (__u8 *)(qh + 1);

		if ((void *)(ql4 + XLB_QUOTE_L4_LEN) > data_end)
			return -1;
		/* ICMPv6's checksum covers the outer addresses (pseudo-header). */
		sum = xlb_put_words((__u16 *)&ip6h->daddr, ndst, 8, 0);
		if (reply)
			sum = xlb_put_words((__u16 *)&ip6h->saddr, nsrc, 8, sum);
		qa = xlb_put_words((__u16 *)&qh->saddr, ndst, 8, 0);
		qa = xlb_put_words((__u16 *)&qh->daddr, nsrc, 8, qa);
		qp = xlb_put_words((__u16 *)ql4, (const __u16 *)&v->new_dport, 1, 0);
		qp = xlb_put_words((__u16 *)(ql4 + 2), (const __u16 *)&v->new_sport, 1, qp);
		sum = xlb_csum_fold16(sum) + xlb_csum_fold16(qa) + qp;
		if (udp) {
			sum = xlb_quote_l4_csum((__u16 *)(ql4 + 6), qa + qp, 1, 0, sum);
		} else if ((void *)(ql4 + 18) <= data_end &&
			   pkt->l4_len >= XLB_ICMP_HDR_LEN + sizeof(*qh) + 18) {
			sum = xlb_quote_l4_csum((__u16 *)(ql4 + 16), qa + qp, 0, 0, sum);
		}
		ck = (__u16 *)(icmp + 2);
		*ck = xlb_csum_apply(*ck, xlb_csum_fold16(sum));
	}
	return 0;
}

/* (a): an error to a NAT VIP; the caller ran the VIP checks. */
static __always_inline int xlb_nat_icmp_fwd(struct xdp_md *ctx, struct xlb_pkt *pkt, const int v6)
{
	struct xlb_nexthop *nh = NULL;
	struct xlb_nat_head *fv;
	struct xlb_backend *be;
	void *data, *data_end;
	__u32 id;
	int rc;

	fv = xlb_nat_lookup(&pkt->key, v6);
	if (!fv || fv->dir != XLB_NAT_DIR_FWD)
		return xlb_pass(XLB_STAT_ICMP_NO_FLOW_PASS);
	id = fv->backend_id;
	be = bpf_map_lookup_elem(&xlb_backends, &id);
	if (!be || !(be->flags & XLB_BE_F_ACTIVE) || be->gen != fv->backend_gen)
		return xlb_pass(XLB_STAT_ICMP_NO_FLOW_PASS);
	rc = xlb_nexthop(ctx, id, be, bpf_ktime_get_coarse_ns(), &nh);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return xlb_drop(XLB_DROP_NO_NEIGH);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS || !nh)
		return xlb_drop(XLB_DROP_FIB);
	if (xlb_nat_icmp_rewrite(ctx, pkt, fv, 0, v6))
		return xlb_drop(XLB_DROP_TRUNCATED); /* unreachable: quote checked */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(struct ethhdr) > data_end)
		return xlb_drop(XLB_DROP_TRUNCATED);
	xlb_copy_macs(data, nh);
	xlb_count(XLB_STAT_NAT_ICMP_FWD);
	return xlb_egress(ctx, nh->ifindex);
}

/* (b): an error not to a VIP address whose reversed quote is a REV key; else passed as today. */
static __always_inline int xlb_nat_icmp_reply(struct xdp_md *ctx, struct xlb_pkt *pkt,
					      const int v6)
{
	struct xlb_nat_head *rv;
	void *data, *data_end;

	rv = xlb_nat_lookup(&pkt->key, v6);
	if (!rv || rv->dir != XLB_NAT_DIR_REV)
		return xlb_pass(XLB_STAT_NON_VIP);
	if (xlb_nat_icmp_rewrite(ctx, pkt, rv, 1, v6))
		return xlb_pass(XLB_STAT_NON_VIP); /* unreachable: quote checked */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(struct ethhdr) > data_end)
		return xlb_drop(XLB_DROP_TRUNCATED);
	xlb_copy_macs(data, rv->l2);
	xlb_count(XLB_STAT_NAT_ICMP_REPLY);
	return xlb_egress(ctx, rv->ifindex);
}

/* One instance per family (lib/nat.h "Families"); the balancer calls these. */
static __noinline int xlb4_nat_icmp_fwd(struct xdp_md *ctx, struct xlb_pkt *pkt)
{
	return xlb_nat_icmp_fwd(ctx, pkt, 0);
}

static __noinline int xlb6_nat_icmp_fwd(struct xdp_md *ctx, struct xlb_pkt *pkt)
{
	return xlb_nat_icmp_fwd(ctx, pkt, 1);
}

static __noinline int xlb4_nat_icmp_reply(struct xdp_md *ctx, struct xlb_pkt *pkt)
{
	return xlb_nat_icmp_reply(ctx, pkt, 0);
}

static __noinline int xlb6_nat_icmp_reply(struct xdp_md *ctx, struct xlb_pkt *pkt)
{
	return xlb_nat_icmp_reply(ctx, pkt, 1);
}
