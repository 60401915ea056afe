/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Packet parsing for the balancer: Ethernet (+ one VLAN tag), IPv4/IPv6, TCP/UDP, and the malformed-
 * packet classification (drop if addressed to a VIP address, else pass) described in balancer.bpf.c. */
#pragma once

#include "lib/stats.h"

#define XLB_CONTINUE (-1) /* parse succeeded: a well-formed TCP/UDP packet, go on to the VIP lookup */
#define XLB_ICMP (-2)     /* an ICMP/ICMPv6 packet (not a fragment): pkt has its L3 fields and
			   * l4_len; bpf/lib/icmp.h decides */

/* Everything the later stages need from the headers. `key` is aligned: the verifier refuses
 * misaligned stack accesses ("misaligned stack access off ...") and we store it word by word. */
struct xlb_pkt {
	struct xlb_flow_key key __attribute__((aligned(8)));
	__u32 l3_off;    /* 14, or 18 with a VLAN tag */
	__u32 ip_len;    /* IP header + payload, from the IP header (frame may carry Ethernet padding) */
	__u32 frame_len; /* bytes counted in the per-VIP/backend counters */
	__u32 l4_len;    /* IP payload length (transport header + data) */
	__u8 tcp_flags;
	__u8 tos;        /* inner DSCP/ECN, copied to the outer header */
	__u8 vlan;       /* 1: one 802.1Q/802.1ad tag */
	__u8 l2_mcast;   /* destination MAC is multicast/broadcast */
	__u16 vlan_id;   /* TCI & 0xfff when vlan */
	__u16 pad;
};

/* Slow-path test: is the packet addressed to an address that carries a VIP (any port/protocol)? */
static __always_inline int xlb_to_vip_addr(const struct xlb_pkt *pkt)
{
	struct xlb_addr_key ak __attribute__((aligned(8))) = {};
	const __u32 *dst = (const __u32 *)pkt->key.dst;
	__u32 *a = (__u32 *)ak.addr;

	a[0] = dst[0];
	a[1] = dst[1];
	a[2] = dst[2];
	a[3] = dst[3];
	ak.family = pkt->key.family;
	return bpf_map_lookup_elem(&xlb_vip_addrs, &ak) != NULL;
}

/* Slow path for malformed / odd packets: one lookup in xlb_vip_addrs decides between dropping (the
 * packet is addressed to a VIP address; we must never hand a half-understood packet to a backend nor
 * let it reach a kernel that does not own the address) and passing it to the kernel. */
static __always_inline int xlb_classify(const struct xlb_pkt *pkt, __u32 drop_reason, __u32 pass_stat)
{
	if (xlb_to_vip_addr(pkt))
		return xlb_drop(drop_reason);
	return xlb_pass(pass_stat);
}

/* Transport header: ports (+ TCP flags). `l4` is already known to be inside the IP packet's start;
 * `l4_len` is what the IP header says follows it (the frame may be longer: Ethernet padding). The
 * header must fit in the IP packet, not just in the frame; a TCP data offset below 5 or past the end
 * of the segment and a UDP length outside [8, l4_len] are malformed (a backend's stack would drop
 * them, but they are never ours to forward). */
static __always_inline int xlb_parse_l4(struct xlb_pkt *pkt, void *l4, void *data_end, __u8 proto,
					__u32 l4_len)
{
	pkt->l4_len = l4_len;
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;
		__u32 doff;

		if ((void *)(th + 1) > data_end || l4_len < sizeof(*th))
			return xlb_classify(pkt, XLB_DROP_TRUNCATED, XLB_STAT_MALFORMED_PASS);
		doff = ((__u8 *)th)[12] >> 4;
		if (unlikely(doff < 5))
			return xlb_classify(pkt, XLB_DROP_TCP_DOFF_SHORT, XLB_STAT_MALFORMED_PASS);
		if (unlikely(doff * 4 > l4_len))
			return xlb_classify(pkt, XLB_DROP_TCP_DOFF_OVERRUN, XLB_STAT_MALFORMED_PASS);
		pkt->key.sport = th->source;
		pkt->key.dport = th->dest;
		pkt->tcp_flags = ((__u8 *)th)[13];
	} else {
		struct udphdr *uh = l4;
		__u32 ulen;

		if ((void *)(uh + 1) > data_end || l4_len < sizeof(*uh))
			return xlb_classify(pkt, XLB_DROP_TRUNCATED, XLB_STAT_MALFORMED_PASS);
		ulen = bpf_ntohs(uh->len);
		if (unlikely(ulen < sizeof(*uh) || ulen > l4_len))
			return xlb_classify(pkt, XLB_DROP_BAD_LEN, XLB_STAT_MALFORMED_PASS);
		pkt->key.sport = uh->source;
		pkt->key.dport = uh->dest;
	}
	pkt->key.proto = proto;
	return XLB_CONTINUE;
}

static __always_inline int xlb4_parse(struct xlb_pkt *pkt, struct iphdr *iph, void *data_end)
{
	__u32 *src = (__u32 *)pkt->key.src;
	__u32 *dst = (__u32 *)pkt->key.dst;
	__u32 tot_len;
	__u8 proto;

	if ((void *)(iph + 1) > data_end)
		return xlb_pass(XLB_STAT_MALFORMED_PASS); /* destination unknowable */
	if (iph->version != 4)
		return xlb_pass(XLB_STAT_MALFORMED_PASS); /* not the packet the ethertype claims */

	pkt->key.family = XLB_AF_INET;
	src[0] = iph->saddr;
	dst[0] = iph->daddr;
	pkt->tos = iph->tos;
	proto = iph->protocol;

	/* Cheap checks first; only a failing packet pays the xlb_vip_addrs lookup. */
	if (unlikely(iph->ihl != 5)) {
		if (iph->ihl < 5)
			return xlb_classify(pkt, XLB_DROP_BAD_IHL, XLB_STAT_MALFORMED_PASS);
		return xlb_classify(pkt, XLB_DROP_IP_OPTIONS, XLB_STAT_MALFORMED_PASS);
	}
	tot_len = bpf_ntohs(iph->tot_len);
	if (unlikely(tot_len < sizeof(*iph) || (void *)iph + tot_len > data_end))
		return xlb_classify(pkt, XLB_DROP_BAD_LEN, XLB_STAT_MALFORMED_PASS);
	pkt->ip_len = tot_len;
	if (unlikely(iph->frag_off & bpf_htons(XLB_IP_MF | XLB_IP_OFFSET)))
		return xlb_classify(pkt, XLB_DROP_FRAGMENT, XLB_STAT_MALFORMED_PASS);
	if (likely(proto == IPPROTO_TCP || proto == IPPROTO_UDP))
		return xlb_parse_l4(pkt, iph + 1, data_end, proto, tot_len - sizeof(*iph));
	if (proto == IPPROTO_ICMP) {
		pkt->l4_len = tot_len - sizeof(*iph);
		pkt->key.proto = proto;
		return XLB_ICMP;
	}
	return xlb_classify(pkt, XLB_DROP_UNKNOWN_PROTO, XLB_STAT_NON_VIP);
}

static __always_inline int xlb6_parse(struct xlb_pkt *pkt, struct ipv6hdr *ip6h, void *data_end)
{
	__u32 *src = (__u32 *)pkt->key.src;
	__u32 *dst = (__u32 *)pkt->key.dst;
	__u32 first, plen;
	__u8 nh;

	if ((void *)(ip6h + 1) > data_end)
		return xlb_pass(XLB_STAT_MALFORMED_PASS);
	first = bpf_ntohl(*(__be32 *)ip6h);
	if ((first >> 28) != 6)
		return xlb_pass(XLB_STAT_MALFORMED_PASS);

	pkt->key.family = XLB_AF_INET6;
	src[0] = ip6h->saddr.in6_u.u6_addr32[0];
	src[1] = ip6h->saddr.in6_u.u6_addr32[1];
	src[2] = ip6h->saddr.in6_u.u6_addr32[2];
	src[3] = ip6h->saddr.in6_u.u6_addr32[3];
	dst[0] = ip6h->daddr.in6_u.u6_addr32[0];
	dst[1] = ip6h->daddr.in6_u.u6_addr32[1];
	dst[2] = ip6h->daddr.in6_u.u6_addr32[2];
	dst[3] = ip6h->daddr.in6_u.u6_addr32[3];
	pkt->tos = (first >> 20) & 0xff;
	nh = ip6h->nexthdr;

	plen = bpf_ntohs(ip6h->payload_len);
	/* payload_len 0 means a jumbogram (hop-by-hop option): not something we balance. */
	if (unlikely(plen == 0 || (void *)(ip6h + 1) + plen > data_end))
		return xlb_classify(pkt, XLB_DROP_BAD_LEN, XLB_STAT_MALFORMED_PASS);
	pkt->ip_len = plen + sizeof(*ip6h);
	if (likely(nh == IPPROTO_TCP || nh == IPPROTO_UDP))
		return xlb_parse_l4(pkt, ip6h + 1, data_end, nh, plen);
	if (nh == IPPROTO_ICMPV6) {
		pkt->l4_len = plen;
		pkt->key.proto = nh;
		return XLB_ICMP;
	}
	if (nh == XLB_NEXTHDR_FRAGMENT)
		return xlb_classify(pkt, XLB_DROP_FRAGMENT, XLB_STAT_MALFORMED_PASS);
	if (nh == XLB_NEXTHDR_HOP || nh == XLB_NEXTHDR_ROUTING || nh == XLB_NEXTHDR_DEST ||
	    nh == XLB_NEXTHDR_AUTH || nh == XLB_NEXTHDR_MOBILITY || nh == XLB_NEXTHDR_HIP ||
	    nh == XLB_NEXTHDR_SHIM6)
		return xlb_classify(pkt, XLB_DROP_IP_OPTIONS, XLB_STAT_MALFORMED_PASS);
	return xlb_classify(pkt, XLB_DROP_UNKNOWN_PROTO, XLB_STAT_NON_VIP);
}

/* A source that can never be a client: IPv4 0/8, 127/8, 224/4, 240/4 (broadcast included); IPv6 ::,
 * ::1, ff00::/8; or the destination itself (a reflection). Only the first octet for IPv4: one byte
 * compare chain on the VIP path. */
static __always_inline int xlb_bad_source(const struct xlb_pkt *pkt)
{
	const __u32 *s = (const __u32 *)pkt->key.src;
	const __u32 *d = (const __u32 *)pkt->key.dst;
	__u8 o = pkt->key.src[0];

	if (pkt->key.family == XLB_AF_INET)
		return o == 0 || o == 127 || o >= 224 || s[0] == d[0];
	if (o == 0xff)
		return 1;
	if ((s[0] | s[1] | s[2]) == 0 && (s[3] == 0 || s[3] == bpf_htonl(1)))
		return 1;
	return s[0] == d[0] && s[1] == d[1] && s[2] == d[2] && s[3] == d[3];
}

/* Checks for a packet that matched a VIP (so only VIP traffic pays them), in this order: a tagged
 * frame whose VLAN id the operator did not accept (xlb_vlans), a multicast/broadcast destination MAC
 * with a unicast VIP (no client sends a unicast flow that way: spoofing or an L2 flood artefact), and
 * a source that can never be a client (`bad_src`, from xlb_bad_source). Returns 0 or XDP_DROP
 * (counted under its reason). */
static __always_inline int xlb_vip_sanity(const struct xlb_pkt *pkt, int bad_src)
{
	if (unlikely(pkt->vlan | pkt->l2_mcast)) {
		if (pkt->vlan) {
			__u32 id = pkt->vlan_id, *ok = bpf_map_lookup_elem(&xlb_vlans, &id);

			if (!ok || *ok != 1)
				return xlb_drop(XLB_DROP_VLAN);
		}
		if (pkt->l2_mcast)
			return xlb_drop(XLB_DROP_L2_MULTICAST);
	}
	if (unlikely(bad_src))
		return xlb_drop(XLB_DROP_BAD_SOURCE);
	return 0;
}

/* Returns XLB_CONTINUE for a well-formed TCP/UDP packet (pkt filled), XLB_ICMP for ICMP/ICMPv6, or
 * the final XDP action. */
static __always_inline int xlb_parse(struct xdp_md *ctx, struct xlb_pkt *pkt)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__be16 proto;
	__u32 off = sizeof(*eth);

	pkt->frame_len = data_end - data;
	if ((void *)(eth + 1) > data_end)
		return xlb_pass(XLB_STAT_MALFORMED_PASS);
	proto = eth->h_proto;
	pkt->l2_mcast = eth->h_dest[0] & 1;
	if (xlb_is_vlan(proto)) {
		struct xlb_vlan_hdr *vh = (void *)(eth + 1);

		if ((void *)(vh + 1) > data_end)
			return xlb_pass(XLB_STAT_MALFORMED_PASS);
		proto = vh->encap_proto;
		off += sizeof(*vh);
		pkt->vlan = 1;
		pkt->vlan_id = bpf_ntohs(vh->tci) & XLB_MAX_VLAN_ID;
	}
	pkt->l3_off = off;
	if (proto == bpf_htons(ETH_P_IP))
		return xlb4_parse(pkt, data + off, data_end);
	if (proto == bpf_htons(ETH_P_IPV6))
		return xlb6_parse(pkt, data + off, data_end);
	return xlb_pass(XLB_STAT_NON_IP);
}
