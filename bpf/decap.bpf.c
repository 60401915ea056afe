/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Backend-side decapsulation of IPIP / IP6IP6 / 4in6 / 6in4 (XDP and tc), for kernels without ipip.
 *
 * Outer IPv4 with protocol 4/41 or outer IPv6 with next header 4/41 (no extension headers) is
 * stripped; the Ethernet header (and VLAN tag, XDP only) stays, its ethertype follows the inner
 * family. Everything else passes untouched. An encapsulated packet that is truncated, fragmented or
 * carries IPv4 options is dropped (XLB_DC_MALFORMED): we cannot reassemble and must not pass a
 * half-understood tunnel packet. Like the kernel's ipip device without remote, any outer source is
 * accepted; restrict who may reach the backend with a firewall if that matters.
 */
#include "lib/common.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#ifndef TC_ACT_OK
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#endif
/* Linux 6.3+ uapi; Debian 12's headers predate them. They set skb->protocol for the inner family. */
#ifndef BPF_F_ADJ_ROOM_DECAP_L3_IPV4
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)
#endif

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_DC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} xlb_dc_stats SEC(".maps");

static __always_inline void xlb_dc_count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&xlb_dc_stats, &idx);

	if (v)
		*v += 1;
}

enum { XLB_DC_VERDICT_PASS, XLB_DC_VERDICT_DECAP, XLB_DC_VERDICT_DROP };

/* What to strip: outer header length and the inner ethertype. */
struct xlb_dc_plan {
	__u32 l2;     /* offset of the outer IP header */
	__u32 hl;     /* outer header length to remove */
	__be16 inner_proto;
	__u16 outer_v6;
};

/* Classifies the frame [data, data_end); fills *plan when it is to be decapsulated. */
static __always_inline int xlb_dc_classify(void *data, void *data_end, int allow_vlan,
					   struct xlb_dc_plan *plan)
{
	struct ethhdr *eth = data;
	__u32 l2 = sizeof(*eth);
	__be16 proto;
	__u8 ip_proto;

	if ((void *)(eth + 1) > data_end)
		return XLB_DC_VERDICT_PASS;
	proto = eth->h_proto;
	if (xlb_is_vlan(proto)) {
		struct xlb_vlan_hdr *vh = (void *)(eth + 1);

		if (!allow_vlan || (void *)(vh + 1) > data_end)
			return XLB_DC_VERDICT_PASS;
		proto = vh->encap_proto;
		l2 += sizeof(*vh);
	}
	plan->l2 = l2;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = data + l2;

		if ((void *)(iph + 1) > data_end)
			return XLB_DC_VERDICT_PASS;
		ip_proto = iph->protocol;
		if (ip_proto != IPPROTO_IPIP && ip_proto != IPPROTO_IPV6)
			return XLB_DC_VERDICT_PASS;
		if (iph->ihl != 5 || (iph->frag_off & bpf_htons(XLB_IP_MF | XLB_IP_OFFSET)))
			return XLB_DC_VERDICT_DROP;
		if (bpf_ntohs(iph->tot_len) < sizeof(*iph) + sizeof(struct iphdr) ||
		    (void *)iph + bpf_ntohs(iph->tot_len) > data_end)
			return XLB_DC_VERDICT_DROP;
		plan->hl = sizeof(*iph);
		plan->outer_v6 = 0;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = data + l2;

		if ((void *)(ip6h + 1) > data_end)
			return XLB_DC_VERDICT_PASS;
		ip_proto = ip6h->nexthdr;
		if (ip_proto != IPPROTO_IPIP && ip_proto != IPPROTO_IPV6)
			return XLB_DC_VERDICT_PASS;
		if (bpf_ntohs(ip6h->payload_len) < sizeof(struct iphdr) ||
		    (void *)(ip6h + 1) + bpf_ntohs(ip6h->payload_len) > data_end)
			return XLB_DC_VERDICT_DROP;
		plan->hl = sizeof(*ip6h);
		plan->outer_v6 = 1;
	} else {
		return XLB_DC_VERDICT_PASS;
	}

	/* The inner header must at least be there and be the family the outer header announced. */
	{
		__u8 *inner = data + l2 + plan->hl;

		if ((void *)(inner + 1) > data_end)
			return XLB_DC_VERDICT_DROP;
		if (ip_proto == IPPROTO_IPIP) {
			if ((*inner >> 4) != 4 || (void *)inner + sizeof(struct iphdr) > data_end)
				return XLB_DC_VERDICT_DROP;
			plan->inner_proto = bpf_htons(ETH_P_IP);
		} else {
			if ((*inner >> 4) != 6 || (void *)inner + sizeof(struct ipv6hdr) > data_end)
				return XLB_DC_VERDICT_DROP;
			plan->inner_proto = bpf_htons(ETH_P_IPV6);
		}
	}
	return XLB_DC_VERDICT_DECAP;
}

/* XDP: move the L2 header forward over the outer IP header, then shrink the head. `l2`/`hl` are
 * constants at each call site so every packet access has a constant offset. */
static __always_inline int xlb_dc_xdp_strip(struct xdp_md *ctx, const __u32 l2, const __u32 hl,
					    __be16 inner_proto)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 *s, *o;

	if (data + l2 + hl > data_end)
		return -1;
	s = data;
	o = data + hl;
	if (l2 == 18)
		o[3] = s[3];
	o[2] = s[2];
	o[1] = s[1];
	o[0] = s[0];
	*(__be16 *)(data + hl + l2 - 2) = inner_proto;
	return bpf_xdp_adjust_head(ctx, hl);
}

SEC("xdp")
int xlb_decap_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct xlb_dc_plan plan = {};
	int verdict, err;

	xlb_dc_count(XLB_DC_RX);
	verdict = xlb_dc_classify(data, data_end, 1, &plan);
	if (verdict == XLB_DC_VERDICT_PASS) {
		xlb_dc_count(XLB_DC_PASS);
		return XDP_PASS;
	}
	if (verdict == XLB_DC_VERDICT_DROP) {
		xlb_dc_count(XLB_DC_MALFORMED);
		return XDP_DROP;
	}
	if (plan.outer_v6)
		err = plan.l2 == 18 ? xlb_dc_xdp_strip(ctx, 18, 40, plan.inner_proto)
				    : xlb_dc_xdp_strip(ctx, 14, 40, plan.inner_proto);
	else
		err = plan.l2 == 18 ? xlb_dc_xdp_strip(ctx, 18, 20, plan.inner_proto)
				    : xlb_dc_xdp_strip(ctx, 14, 20, plan.inner_proto);
	if (err) {
		xlb_dc_count(XLB_DC_MALFORMED);
		return XDP_DROP;
	}
	xlb_dc_count(plan.outer_v6 ? XLB_DC_DECAP6 : XLB_DC_DECAP4);
	return XDP_PASS;
}

/* tc: by the time tc ingress runs, the stack has usually moved a VLAN tag into skb metadata; an
 * in-band tag is left alone (passed untouched). bpf_skb_adjust_room(BPF_ADJ_ROOM_MAC) removes the
 * bytes right after the MAC header, i.e. the outer IP header, and the DECAP_L3 flag fixes
 * skb->protocol; the ethertype in the frame is rewritten to match. */
SEC("tc")
int xlb_decap_tc(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct xlb_dc_plan plan = {};
	__u64 flags;
	int verdict;

	xlb_dc_count(XLB_DC_RX);
	verdict = xlb_dc_classify(data, data_end, 0, &plan);
	if (verdict == XLB_DC_VERDICT_PASS) {
		xlb_dc_count(XLB_DC_PASS);
		return TC_ACT_OK;
	}
	if (verdict == XLB_DC_VERDICT_DROP) {
		xlb_dc_count(XLB_DC_MALFORMED);
		return TC_ACT_SHOT;
	}
	flags = plan.inner_proto == bpf_htons(ETH_P_IP) ? BPF_F_ADJ_ROOM_DECAP_L3_IPV4
							: BPF_F_ADJ_ROOM_DECAP_L3_IPV6;
	if (bpf_skb_adjust_room(skb, -(__s32)plan.hl, BPF_ADJ_ROOM_MAC, flags)) {
		xlb_dc_count(XLB_DC_MALFORMED);
		return TC_ACT_SHOT;
	}
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (data + sizeof(struct ethhdr) > data_end) {
		xlb_dc_count(XLB_DC_MALFORMED);
		return TC_ACT_SHOT;
	}
	((struct ethhdr *)data)->h_proto = plan.inner_proto;
	xlb_dc_count(plan.outer_v6 ? XLB_DC_DECAP6 : XLB_DC_DECAP4);
	return TC_ACT_OK;
}
