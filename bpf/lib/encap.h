/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* IPIP / IP6IP6 / 4in6 / 6in4 encapsulation: grow the head, move the L2 header (and VLAN tag) to the
 * front, write the outer IP header. The inner packet is never touched. */
#pragma once

#include "lib/csum.h"
#include "lib/parse.h"

/* `l2` (14 or 18) and `outer_v6` are compile-time constants at every call site, so the verifier sees
 * constant packet offsets. `nh` NULL keeps the original MAC addresses (packet handed to the kernel).
 * Returns 0, or -1 when the head could not be grown. */
static __always_inline int xlb_encap(struct xdp_md *ctx, const struct xlb_pkt *pkt,
				     const struct xlb_backend *be, const struct xlb_settings *st,
				     const struct xlb_nexthop *nh, __u32 hash, const __u32 l2,
				     const int outer_v6)
{
	const int hl = outer_v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	__u8 inner_proto = pkt->key.family == XLB_AF_INET ? IPPROTO_IPIP : IPPROTO_IPV6;
	const __u32 *baddr = (const __u32 *)be->addr;
	void *data, *data_end;
	__u32 *o, *s, ip_len;
	__u8 *inner, tos;

	if (bpf_xdp_adjust_head(ctx, -hl))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + l2 + hl + 8 > data_end)
		return -1;

	/* The inner header's DSCP/ECN and length, read here rather than carried in xlb_pkt for every
	 * packet (the parser validated them; the inner header is never touched). */
	inner = data + l2 + hl;
	if (pkt->key.family == XLB_AF_INET) {
		tos = inner[1];
		ip_len = bpf_ntohs(*(__be16 *)(inner + 2));
	} else {
		tos = (bpf_ntohl(*(__be32 *)inner) >> 20) & 0xff;
		ip_len = bpf_ntohs(*(__be16 *)(inner + 4)) + sizeof(struct ipv6hdr);
	}

	/* The old L2 header now starts at data + hl; hl > l2, so the copies cannot overlap. */
	o = data;
	s = data + hl;
	if (nh)
		xlb_copy_macs(o, nh);
	else
		xlb_copy_macs(o, s);
	if (l2 == 18)
		o[3] = s[3]; /* TPID + TCI: the tag is kept */
	*(__be16 *)(data + l2 - 2) = outer_v6 ? bpf_htons(ETH_P_IPV6) : bpf_htons(ETH_P_IP);

	o = data + l2;
	if (!outer_v6) {
		struct iphdr oh __attribute__((aligned(8))) = {};
		__u32 prefix = st ? *(const __u32 *)st->encap_v4_prefix : 0;
		__u32 mask = st ? st->encap_v4_host_mask : 0;
		const __u32 *w = (const __u32 *)&oh;

		oh.version = 4;
		oh.ihl = 5;
		oh.tos = tos;
		oh.tot_len = bpf_htons(ip_len + sizeof(struct iphdr));
		oh.frag_off = bpf_htons(XLB_IP_DF);
		oh.ttl = 64;
		oh.protocol = inner_proto;
		oh.saddr = (prefix & ~mask) | (hash & mask);
		oh.daddr = baddr[0];
		oh.check = xlb4_hdr_csum(&oh);
		o[0] = w[0];
		o[1] = w[1];
		o[2] = w[2];
		o[3] = w[3];
		o[4] = w[4];
	} else {
		const __u32 *p = st ? (const __u32 *)st->encap_v6_prefix : NULL;
		__u32 mask = st ? st->encap_v6_host_mask : 0;

		/* The flow label carries the flow hash so ECMP/RSS on the way spreads flows (RFC 6438). */
		o[0] = bpf_htonl((6U << 28) | ((__u32)tos << 20) | (hash & 0xfffff));
		o[1] = bpf_htonl((ip_len << 16) | ((__u32)inner_proto << 8) | 64);
		o[2] = p ? p[0] : 0;
		o[3] = p ? p[1] : 0;
		o[4] = p ? p[2] : 0;
		o[5] = ((p ? p[3] : 0) & ~mask) | (hash & mask);
		o[6] = baddr[0];
		o[7] = baddr[1];
		o[8] = baddr[2];
		o[9] = baddr[3];
	}
	return 0;
}
