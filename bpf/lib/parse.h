/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Packet parsing for the balancer: Ethernet (+ one VLAN tag), IPv4/IPv6, TCP/UDP, and the malformed-
 * packet classification (drop if addressed to a VIP address, else pass) described in balancer.bpf.c. */
#pragma once

#include "lib/stats.h"

#define XLB_CONTINUE (-1) /* parse succeeded: a well-formed TCP/UDP packet, go on to the VIP lookup */
#define XLB_ICMP (-2)     /* an ICMP/ICMPv6 packet (not a fragment): pkt has its L3 fields and
			   * l4_len; bpf/lib/icmp.h decides */

/* xlb_pkt.suspect: what the VIP checks (xlb_vip_sanity) must look at, gathered by the parser from
 * values it loads anyway, so that a clean packet to a VIP pays one byte test. */
#define XLB_SUSPECT_L2_MCAST 0x1 /* destination MAC multicast/broadcast (exact) */
#define XLB_SUSPECT_VLAN 0x2     /* one 802.1Q/802.1ad tag (exact): xlb_vlans decides */
#define XLB_SUSPECT_SRC 0x4      /* the source may fail xlb_bad_source (a superset for IPv6: first
				  * word 0 or ff..; exact for IPv4 and for IPv6 source == destination) */

/* Everything the later stages need from the headers. `key` is aligned: the verifier refuses
 * misaligned stack accesses ("misaligned stack access off ...") and we store it word by word. The
 * parser writes every field a later stage reads (the whole key, padding included), so the caller
 * does not zero the struct: an uninitialised byte in the key would be a different flow. What only
 * a rare path needs is read from the frame there instead (VLAN id: xlb_vip_sanity; the inner DSCP/ECN
 * and length: encap.h; the frame length: the counters), so it costs nothing per packet. */
struct xlb_pkt {
	struct xlb_flow_key key __attribute__((aligned(8)));
	__u32 l4_len;    /* ICMP only: IP payload length (ICMP header + data) */
	__u8 tcp_flags;
	__u8 suspect;    /* XLB_SUSPECT_*; XLB_SUSPECT_VLAN also places the IP header at 18, not 14 */
	__u8 pad[2];
};

/* The key's last word (protocol, family, padding) in one 4-byte store: the kernel hashes and compares
 * the key word by word, and a 4-byte load spanning separate byte stores cannot be forwarded from the
 * store buffer (a stall of several ns per packet on x86). */
static __always_inline void xlb_key_tail(struct xlb_pkt *pkt, __u8 proto, __u8 family)
{
	union {
		struct {
			__u8 proto, family, pad[2];
		} f;
		__u32 w;
	} t = {.f = {proto, family, {0, 0}}};

	*(__u32 *)&pkt->key.proto = t.w;
}

static __always_inline __u32 xlb_l3_off(const struct xlb_pkt *pkt)
{
	return (pkt->suspect & XLB_SUSPECT_VLAN) ? 18 : 14;
}

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
 * let it reach a kernel that does not own the address) and passing it to the kernel. Out of line:
 * a dozen call sites would otherwise each inline the lookup and both counters into the parser. */
static __noinline int xlb_classify(const struct xlb_pkt *pkt, __u32 drop_reason, __u32 pass_stat)
{
	if (xlb_to_vip_addr(pkt))
		return xlb_drop(drop_reason);
	return xlb_pass(pass_stat);
}

/* Transport header: ports (+ TCP flags). `l4` is already known to be inside the IP packet's start;
 * `l4_len` is what the IP header says follows it (the frame may be longer: Ethernet padding). The
 * header must fit in the IP packet, not just in the frame; a TCP data offset below 5 or past the end
 * of the segment and a UDP length outside [8, l4_len] are malformed (a backend's stack would drop
 * them, but they are never ours to forward). A well-formed header passes two compares: a data
 * offset (UDP length) in [20 (8), l4_len] implies l4_len >= 20 (8); the reason is sorted out in
 * xlb_l4_malformed only for a packet that failed them. */
static __noinline int xlb_l4_malformed(const struct xlb_pkt *pkt, __u32 l4_len, __u32 hlen,
				       __u32 min)
{
	if (l4_len < min)
		return xlb_classify(pkt, XLB_DROP_TRUNCATED, XLB_STAT_MALFORMED_PASS);
	if (min == sizeof(struct udphdr))
		return xlb_classify(pkt, XLB_DROP_BAD_LEN, XLB_STAT_MALFORMED_PASS);
	if (hlen < min)
		return xlb_classify(pkt, XLB_DROP_TCP_DOFF_SHORT, XLB_STAT_MALFORMED_PASS);
	return xlb_classify(pkt, XLB_DROP_TCP_DOFF_OVERRUN, XLB_STAT_MALFORMED_PASS);
}

static __always_inline int xlb_parse_l4(struct xlb_pkt *pkt, void *l4, void *data_end, __u8 proto,
					__u32 l4_len)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;
		__u32 hlen;

		if ((void *)(th + 1) > data_end)
			return xlb_classify(pkt, XLB_DROP_TRUNCATED, XLB_STAT_MALFORMED_PASS);
		hlen = (((__u8 *)th)[12] >> 2) & 0x3c; /* data offset * 4 */
		if (unlikely(hlen < sizeof(*th) || hlen > l4_len))
			return xlb_l4_malformed(pkt, l4_len, hlen, sizeof(*th));
		*(__u32 *)&pkt->key.sport = *(__u32 *)th; /* source and destination port */
		pkt->tcp_flags = ((__u8 *)th)[13];
	} else {
		struct udphdr *uh = l4;
		__u32 ulen;

		if ((void *)(uh + 1) > data_end)
			return xlb_classify(pkt, XLB_DROP_TRUNCATED, XLB_STAT_MALFORMED_PASS);
		ulen = bpf_ntohs(uh->len);
		if (unlikely(ulen < sizeof(*uh) || ulen > l4_len))
			return xlb_l4_malformed(pkt, l4_len, ulen, sizeof(*uh));
		*(__u32 *)&pkt->key.sport = *(__u32 *)uh;
		pkt->tcp_flags = 0;
	}
	return XLB_CONTINUE;
}

/* The martian-source rule (xlb_bad_source) on the addresses the parser holds in registers.
 * IPv4, exact: first octet 0 or >= 224 (one unsigned compare after subtracting 1 from the octet),
 * 127, or source == destination. IPv6: source == destination (two 8-byte compares, exact), and a
 * superset the VIP path checks exactly: first word 0 (::, ::1) or ff.. (one unsigned compare after
 * subtracting 1 from the word). */
static __always_inline int xlb4_src_suspect(__be32 s, __be32 d)
{
	__u32 h = bpf_ntohl(s);

	return h - 0x01000000U >= 0xdf000000U || (h >> 24) == 127 || s == d;
}

static __always_inline int xlb6_src_suspect(__be32 s0, __u64 s01, __u64 s23, __u64 d01, __u64 d23)
{
	return bpf_ntohl(s0) - 1 >= 0xfeffffffU || (s01 == d01 && s23 == d23);
}

static __always_inline int xlb4_parse(struct xlb_pkt *pkt, struct iphdr *iph, void *data_end)
{
	__u32 *src = (__u32 *)pkt->key.src;
	__u32 *dst = (__u32 *)pkt->key.dst;
	__u32 tot_len, s, d;
	__u8 proto, vihl;

	if ((void *)(iph + 1) > data_end)
		return xlb_pass(XLB_STAT_MALFORMED_PASS); /* destination unknowable */
	vihl = *(__u8 *)iph; /* version and IHL: 0x45 for every packet we balance, one compare */
	if (unlikely(vihl != 0x45) && (vihl >> 4) != 4)
		return xlb_pass(XLB_STAT_MALFORMED_PASS); /* not the packet the ethertype claims */

	s = iph->saddr;
	d = iph->daddr;
	src[0] = s;
	src[1] = 0;
	src[2] = 0;
	src[3] = 0;
	dst[0] = d;
	dst[1] = 0;
	dst[2] = 0;
	dst[3] = 0;
	proto = iph->protocol;
	xlb_key_tail(pkt, proto, XLB_AF_INET);
	if (xlb4_src_suspect(s, d))
		pkt->suspect |= XLB_SUSPECT_SRC;

	/* Cheap checks first; only a failing packet pays the xlb_vip_addrs lookup. */
	if (unlikely(vihl != 0x45)) {
		if ((vihl & 0xf) < 5)
			return xlb_classify(pkt, XLB_DROP_BAD_IHL, XLB_STAT_MALFORMED_PASS);
		return xlb_classify(pkt, XLB_DROP_IP_OPTIONS, XLB_STAT_MALFORMED_PASS);
	}
	tot_len = bpf_ntohs(iph->tot_len);
	if (unlikely(tot_len < sizeof(*iph) || (void *)iph + tot_len > data_end))
		return xlb_classify(pkt, XLB_DROP_BAD_LEN, XLB_STAT_MALFORMED_PASS);
	if (unlikely(iph->frag_off & bpf_htons(XLB_IP_MF | XLB_IP_OFFSET)))
		return xlb_classify(pkt, XLB_DROP_FRAGMENT, XLB_STAT_MALFORMED_PASS);
	if (likely(proto == IPPROTO_TCP || proto == IPPROTO_UDP))
		return xlb_parse_l4(pkt, iph + 1, data_end, proto, tot_len - sizeof(*iph));
	if (proto == IPPROTO_ICMP) {
		pkt->l4_len = tot_len - sizeof(*iph);
		pkt->tcp_flags = 0;
		return XLB_ICMP;
	}
	return xlb_classify(pkt, XLB_DROP_UNKNOWN_PROTO, XLB_STAT_NON_VIP);
}

static __always_inline int xlb6_parse(struct xlb_pkt *pkt, struct ipv6hdr *ip6h, void *data_end)
{
	const __u64 *a = (const __u64 *)&ip6h->saddr; /* saddr, daddr: 32 bytes */
	__u64 *k = (__u64 *)pkt->key.src;               /* src, dst */
	__u64 s01, s23, d01, d23;
	__u32 plen;
	__u8 nh;

	if ((void *)(ip6h + 1) > data_end)
		return xlb_pass(XLB_STAT_MALFORMED_PASS);
	if ((*(__u8 *)ip6h >> 4) != 6)
		return xlb_pass(XLB_STAT_MALFORMED_PASS);

	/* 8-byte loads at a 2-mod-8 packet offset: XDP packet access is not strict about alignment
	 * (no BPF_F_STRICT_ALIGNMENT), and the key side is 8-aligned. */
	s01 = a[0];
	s23 = a[1];
	d01 = a[2];
	d23 = a[3];
	k[0] = s01;
	k[1] = s23;
	k[2] = d01;
	k[3] = d23;
	nh = ip6h->nexthdr;
	xlb_key_tail(pkt, nh, XLB_AF_INET6);
	if (xlb6_src_suspect(ip6h->saddr.in6_u.u6_addr32[0], s01, s23, d01, d23))
		pkt->suspect |= XLB_SUSPECT_SRC;

	plen = bpf_ntohs(ip6h->payload_len);
	/* payload_len 0 means a jumbogram (hop-by-hop option): not something we balance. */
	if (unlikely(plen == 0 || (void *)(ip6h + 1) + plen > data_end))
		return xlb_classify(pkt, XLB_DROP_BAD_LEN, XLB_STAT_MALFORMED_PASS);
	if (likely(nh == IPPROTO_TCP || nh == IPPROTO_UDP))
		return xlb_parse_l4(pkt, ip6h + 1, data_end, nh, plen);
	if (nh == IPPROTO_ICMPV6) {
		pkt->l4_len = plen;
		pkt->tcp_flags = 0;
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
 * (counted under its reason). Callers test pkt->suspect first: a clean frame never gets here. The
 * VLAN id is read from the frame again here (nothing has changed it yet), so the parser does not
 * carry it for every packet. */
static __always_inline int xlb_vip_sanity(struct xdp_md *ctx, const struct xlb_pkt *pkt,
					  int bad_src)
{
	if (pkt->suspect & XLB_SUSPECT_VLAN) {
		void *data = (void *)(long)ctx->data;
		void *data_end = (void *)(long)ctx->data_end;
		struct xlb_vlan_hdr *vh = data + sizeof(struct ethhdr);
		__u32 id, *ok;

		if ((void *)(vh + 1) > data_end)
			return xlb_drop(XLB_DROP_VLAN); /* unreachable: parsed above */
		id = bpf_ntohs(vh->tci) & XLB_MAX_VLAN_ID;
		ok = bpf_map_lookup_elem(&xlb_vlans, &id);
		if (!ok || *ok != 1)
			return xlb_drop(XLB_DROP_VLAN);
	}
	if (pkt->suspect & XLB_SUSPECT_L2_MCAST)
		return xlb_drop(XLB_DROP_L2_MULTICAST);
	if (bad_src)
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

	if ((void *)(eth + 1) > data_end)
		return xlb_pass(XLB_STAT_MALFORMED_PASS);
	/* struct ethhdr is packed: through it clang reads h_proto byte by byte. */
	proto = *(__be16 *)(data + 12);
	pkt->suspect = eth->h_dest[0] & XLB_SUSPECT_L2_MCAST;
	if (xlb_is_vlan(proto)) {
		struct xlb_vlan_hdr *vh = (void *)(eth + 1);

		if ((void *)(vh + 1) > data_end)
			return xlb_pass(XLB_STAT_MALFORMED_PASS);
		proto = vh->encap_proto;
		off += sizeof(*vh);
		pkt->suspect |= XLB_SUSPECT_VLAN;
	}
	if (proto == bpf_htons(ETH_P_IP))
		return xlb4_parse(pkt, data + off, data_end);
	if (proto == bpf_htons(ETH_P_IPV6))
		return xlb6_parse(pkt, data + off, data_end);
	return xlb_pass(XLB_STAT_NON_IP);
}
