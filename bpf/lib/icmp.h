/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* ICMP errors about VIP flows: read the quoted packet (the VIP's own reply to a client), reverse its
 * tuple into the flow key the client's packets carry, and find the backend that owns the flow, so
 * that "fragmentation needed" / "packet too big" reach the server that sent the big reply (path MTU
 * discovery through a DSR or IPIP balancer). The forwarding itself is the caller's (balancer.bpf.c).
 *
 * Rules (the README's data-plane table repeats them):
 *  - ICMP not to a VIP address                                        -> PASS, XLB_STAT_NON_VIP
 *  - ICMP header truncated, or not an error type (echo request ...)   -> PASS, XLB_STAT_ICMP_PASS
 *    error types: ICMPv4 3 (destination unreachable, every code) and 11 (time exceeded);
 *                 ICMPv6 1 (destination unreachable), 2 (packet too big), 3 (time exceeded)
 *  - quoted IP header + 8 bytes of its transport header not inside the outer IP packet, quoted
 *    version wrong, quoted IPv4 with options or a non-zero fragment offset, quoted IPv6 extension
 *    header                                                           -> PASS, ICMP_BAD_QUOTE_PASS
 *  - quoted protocol not TCP/UDP, quoted source not the outer destination, or no VIP at the quoted
 *    source address/port/protocol                                     -> PASS, ICMP_NON_VIP_QUOTE_PASS
 *  - otherwise the VIP checks of an ordinary packet (VLAN, L2 multicast, source), then the flow:
 *    recorded (LRU or protected table) and its backend alive -> forward (XLB_STAT_ICMP_FWD); no usable entry and the VIP
 *    hashes (maglev, source_hash) -> forward to the backend the table gives the reversed tuple
 *    (XLB_STAT_ICMP_FWD_HASH); otherwise -> PASS, XLB_STAT_ICMP_NO_FLOW_PASS.
 * Nothing here writes the flow table or the open-flow counts: an ICMP error is not a packet of the
 * flow, and a forged one must not be able to create, refresh or close an entry.
 * NAT VIPs (lib/nat_icmp.h): the reversed quote is looked up in xlb_nat4/xlb_nat6 instead (no
 * entry -> PASS, XLB_STAT_ICMP_NO_FLOW_PASS) and the error is translated for the backend; errors
 * not to a VIP address are parsed here too while NAT VIPs exist (xlb_settings.nat_flags), to find
 * a NAT connection they are about (every other outcome stays PASS, XLB_STAT_NON_VIP).
 */
#pragma once

#include "lib/flow.h"
#include "lib/parse.h"
#include "lib/select.h"

#define XLB_ICMP_DEST_UNREACH 3
#define XLB_ICMP_TIME_EXCEEDED 11
#define XLB_ICMPV6_DEST_UNREACH 1
#define XLB_ICMPV6_PKT_TOOBIG 2
#define XLB_ICMPV6_TIME_EXCEED 3

#define XLB_ICMP_HDR_LEN 8
#define XLB_QUOTE_L4_LEN 8 /* RFC 792: the quoted datagram's first 64 bits of data: both ports */

/* A read-only flow lookup: the LRU table (a lookup marks the entry referenced, which an error about
 * a live flow may well do), then the protected table for a proven flow whose LRU entry a flood
 * evicted; never an insert, never a promotion. */
static __always_inline struct xlb_flow_value *xlb_icmp_flow(const struct xlb_flow_key *key)
{
	struct xlb_flow_value *fv = bpf_map_lookup_elem(&xlb_flows, key);

	if (fv)
		return fv;
	return bpf_map_lookup_elem(&xlb_flows_prot, key);
}

/* The flow the error is about: the recorded backend of the reversed tuple, else (consistent-hash
 * VIPs only) the one selection gives it. Returns NULL with *stat set to the pass counter. */
static __always_inline struct xlb_backend *xlb_icmp_backend(struct xlb_pkt *pkt,
							    const struct xlb_vip_value *vip,
							    __u32 *hash, int *hashed, __u32 *be_id,
							    __u32 *stat)
{
	struct xlb_flow_value *fv;
	struct xlb_backend *be;

	fv = xlb_icmp_flow(&pkt->key);
	if (fv) {
		__u32 id = fv->backend_id;

		be = bpf_map_lookup_elem(&xlb_backends, &id);
		if (be && (be->flags & XLB_BE_F_ACTIVE) && be->gen == fv->backend_gen) {
			*be_id = id;
			*stat = XLB_STAT_ICMP_FWD;
			return be;
		}
	}
	/* round_robin / random / least_conn cannot recompute a choice they did not record. */
	if (vip->algorithm == XLB_ALG_ROUND_ROBIN || vip->algorithm == XLB_ALG_RANDOM ||
	    vip->algorithm == XLB_ALG_LEAST_CONN) {
		*stat = XLB_STAT_ICMP_NO_FLOW_PASS;
		return NULL;
	}
	be = xlb_select(vip, pkt, hash, hashed, be_id);
	*stat = be ? XLB_STAT_ICMP_FWD_HASH : XLB_STAT_ICMP_NO_FLOW_PASS;
	return be;
}

/* Parses the error at `l4` (the ICMP header) and rewrites pkt->key into the reversed quoted tuple;
 * *bad_src tells whether the error's own (outer) source fails xlb_bad_source. Returns XLB_CONTINUE
 * when the error quotes a packet from this VIP address (the caller then looks the VIP up), else the
 * final action. `non_vip`: an error not to a VIP address, parsed only to find a NAT connection
 * (lib/nat_icmp.h (b)): every pass counts XLB_STAT_NON_VIP, as for any ICMP not to a VIP. */
static __always_inline int xlb_icmp_quote(struct xdp_md *ctx, struct xlb_pkt *pkt, int *bad_src,
					  int non_vip)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	const int v6 = pkt->key.family == XLB_AF_INET6;
	__u32 l4_off = xlb_l3_off(pkt) + (v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr));
	__u32 *ksrc = (__u32 *)pkt->key.src, *kdst = (__u32 *)pkt->key.dst;
	__u8 *ih, *q, type, qproto;
	__be16 *ports;

	/* The IP header is at 14 or 18: a constant-bounded offset the verifier can follow. */
	if (l4_off > 18 + sizeof(struct ipv6hdr))
		return xlb_pass(non_vip ? XLB_STAT_NON_VIP : XLB_STAT_ICMP_PASS);
	ih = data + l4_off;
	if ((void *)(ih + XLB_ICMP_HDR_LEN) > data_end || pkt->l4_len < XLB_ICMP_HDR_LEN)
		return xlb_pass(non_vip ? XLB_STAT_NON_VIP : XLB_STAT_ICMP_PASS);
	type = ih[0];
	if (v6 ? (type != XLB_ICMPV6_DEST_UNREACH && type != XLB_ICMPV6_PKT_TOOBIG &&
		  type != XLB_ICMPV6_TIME_EXCEED)
	       : (type != XLB_ICMP_DEST_UNREACH && type != XLB_ICMP_TIME_EXCEEDED))
		return xlb_pass(non_vip ? XLB_STAT_NON_VIP : XLB_STAT_ICMP_PASS);

	q = ih + XLB_ICMP_HDR_LEN;
	*bad_src = xlb_bad_source(pkt);
	if (!v6) {
		struct iphdr *qh = (struct iphdr *)q;

		if ((void *)q + sizeof(*qh) + XLB_QUOTE_L4_LEN > data_end ||
		    pkt->l4_len < XLB_ICMP_HDR_LEN + sizeof(*qh) + XLB_QUOTE_L4_LEN)
			return xlb_pass(non_vip ? XLB_STAT_NON_VIP : XLB_STAT_ICMP_BAD_QUOTE_PASS);
		if (q[0] != 0x45 || (qh->frag_off & bpf_htons(XLB_IP_OFFSET)))
			return xlb_pass(non_vip ? XLB_STAT_NON_VIP : XLB_STAT_ICMP_BAD_QUOTE_PASS);
		qproto = qh->protocol;
		if (qproto != IPPROTO_TCP && qproto != IPPROTO_UDP)
			return xlb_pass(non_vip ? XLB_STAT_NON_VIP : XLB_STAT_ICMP_NON_VIP_QUOTE_PASS);
		/* Quoted source = the VIP that sent the datagram = where the error was addressed. */
		if (qh->saddr != kdst[0])
			return xlb_pass(non_vip ? XLB_STAT_NON_VIP : XLB_STAT_ICMP_NON_VIP_QUOTE_PASS);
		ksrc[0] = qh->daddr;
		ports = (__be16 *)(qh + 1);
	} else {
		struct ipv6hdr *qh = (struct ipv6hdr *)q;

		if ((void *)q + sizeof(*qh) + XLB_QUOTE_L4_LEN > data_end ||
		    pkt->l4_len < XLB_ICMP_HDR_LEN + sizeof(*qh) + XLB_QUOTE_L4_LEN)
			return xlb_pass(non_vip ? XLB_STAT_NON_VIP : XLB_STAT_ICMP_BAD_QUOTE_PASS);
		if ((q[0] >> 4) != 6)
			return xlb_pass(non_vip ? XLB_STAT_NON_VIP : XLB_STAT_ICMP_BAD_QUOTE_PASS);
		qproto = qh->nexthdr;
		if (qproto != IPPROTO_TCP && qproto != IPPROTO_UDP) {
			if (qproto == XLB_NEXTHDR_HOP || qproto == XLB_NEXTHDR_ROUTING ||
			    qproto == XLB_NEXTHDR_FRAGMENT || qproto == XLB_NEXTHDR_DEST ||
			    qproto == XLB_NEXTHDR_AUTH || qproto == XLB_NEXTHDR_MOBILITY ||
			    qproto == XLB_NEXTHDR_HIP || qproto == XLB_NEXTHDR_SHIM6)
				return xlb_pass(non_vip ? XLB_STAT_NON_VIP : XLB_STAT_ICMP_BAD_QUOTE_PASS);
			return xlb_pass(non_vip ? XLB_STAT_NON_VIP : XLB_STAT_ICMP_NON_VIP_QUOTE_PASS);
		}
		if (qh->saddr.in6_u.u6_addr32[0] != kdst[0] ||
		    qh->saddr.in6_u.u6_addr32[1] != kdst[1] ||
		    qh->saddr.in6_u.u6_addr32[2] != kdst[2] ||
		    qh->saddr.in6_u.u6_addr32[3] != kdst[3])
			return xlb_pass(non_vip ? XLB_STAT_NON_VIP : XLB_STAT_ICMP_NON_VIP_QUOTE_PASS);
		ksrc[0] = qh->daddr.in6_u.u6_addr32[0];
		ksrc[1] = qh->daddr.in6_u.u6_addr32[1];
		ksrc[2] = qh->daddr.in6_u.u6_addr32[2];
		ksrc[3] = qh->daddr.in6_u.u6_addr32[3];
		ports = (__be16 *)(qh + 1);
	}
	/* The client's packets go client:dport -> VIP:sport of the quoted reply. The destination (the
	 * VIP address) is already in key.dst. */
	pkt->key.sport = ports[1];
	pkt->key.dport = ports[0];
	pkt->key.proto = qproto;
	pkt->tcp_flags = 0;
	return XLB_CONTINUE;
}
