/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The XDP L4 balancer: parse, VIP lookup, flow table, selection (the VIP's algorithm), next hop, DSR
 * or IPIP forward; or NAT (bpf/lib/nat.h).
 *
 * Packet rules (the README repeats them; keep both in sync):
 *  - Not IPv4/IPv6 (ARP, LLDP, a second VLAN tag ...)            -> PASS, XLB_STAT_NON_IP
 *  - Ethernet, VLAN tag or IP header truncated, or IP version not matching the ethertype
 *    (destination unknowable)                                     -> PASS, XLB_STAT_MALFORMED_PASS
 *  - Otherwise the destination address is known. For the cases below the balancer looks it up in
 *    xlb_vip_addrs (only on this slow path): addressed to a VIP address -> DROP with the reason,
 *    else -> PASS, XLB_STAT_MALFORMED_PASS:
 *      IPv4 IHL < 5                                               XLB_DROP_BAD_IHL
 *      IPv4 options (IHL > 5), IPv6 extension headers             XLB_DROP_IP_OPTIONS
 *      IPv4 total length < 20 or > frame, IPv6 payload length 0
 *      (jumbogram) or > frame                                     XLB_DROP_BAD_LEN
 *      IPv4 MF or fragment offset, IPv6 fragment header           XLB_DROP_FRAGMENT
 *      TCP/UDP header not inside the IP packet                    XLB_DROP_TRUNCATED
 *      TCP data offset < 5                                        XLB_DROP_TCP_DOFF_SHORT
 *      TCP data offset past the end of the segment                XLB_DROP_TCP_DOFF_OVERRUN
 *      UDP length < 8 or > IP payload                             XLB_DROP_BAD_LEN
 *  - ICMP/ICMPv6: bpf/lib/icmp.h (errors about VIP flows go to the flow's backend; echo and the
 *    rest to a VIP address -> PASS, XLB_STAT_ICMP_PASS; not a VIP address -> PASS, XLB_STAT_NON_VIP)
 *  - Another protocol: to a VIP address -> DROP XLB_DROP_UNKNOWN_PROTO; else PASS, XLB_STAT_NON_VIP
 *  - Well-formed TCP/UDP not matching a VIP (exact port, then port 0 if any wildcard VIP exists)
 *                                                                 -> PASS, XLB_STAT_NON_VIP
 *  - Matched a VIP (lib/parse.h xlb_vip_sanity): VLAN id not accepted -> DROP XLB_DROP_VLAN;
 *    multicast/broadcast destination MAC -> DROP XLB_DROP_L2_MULTICAST; martian source or
 *    source == destination -> DROP XLB_DROP_BAD_SOURCE.
 *  - For a VIP: no usable backend -> DROP XLB_DROP_NO_BACKEND; no route -> DROP XLB_DROP_FIB;
 *    neighbour unresolved: dsr -> DROP XLB_DROP_NO_NEIGH, ipip -> PASS the encapsulated packet to
 *    the kernel (it resolves the neighbour; XLB_STAT_NO_NEIGH_PASS); head adjust failure ->
 *    DROP XLB_DROP_ENCAP. Else XDP_TX (same interface) or XDP_REDIRECT.
 *  - A nat/fullnat VIP (after the VIP checks above): bpf/lib/nat.h (connection entries in xlb_nat4/6,
 *    port translation, SNAT allocation; its own drop reasons XLB_DROP_NAT_*).
 *  - Well-formed TCP/UDP to no VIP while NAT VIPs exist (xlb_settings.nat_flags != 0): the NAT
 *    reply filter and lookup (bpf/lib/nat.h): a reply is translated back to the client
 *    (XLB_STAT_NAT_REPLY), an unknown one from/to a NAT endpoint dropped
 *    (XLB_DROP_NAT_REPLY_MISS), the rest passed (XLB_STAT_NON_VIP / XLB_STAT_NAT_FILTER_MISS).
 *    ICMP errors about NAT connections are translated both ways (bpf/lib/nat_icmp.h).
 * Every packet counts XLB_STAT_RX and xlb_stats[final action].
 */
#include "lib/common.h"
#include "lib/encap.h"
#include "lib/flow.h"
#include "lib/icmp.h"
#include "lib/nat.h"
#include "lib/nat_create.h"
#include "lib/nat_icmp.h"
#include "lib/nexthop.h"
#include "lib/parse.h"
#include "lib/stats.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline int xlb_forward_ipip(struct xdp_md *ctx, const struct xlb_pkt *pkt,
					    const struct xlb_backend *be, struct xlb_nexthop *nh,
					    __u32 hash)
{
	__u32 zero = 0;
	struct xlb_settings *st = bpf_map_lookup_elem(&xlb_settings, &zero);
	int tagged = pkt->suspect & XLB_SUSPECT_VLAN, err;

	if (be->family == XLB_AF_INET6)
		err = tagged ? xlb_encap(ctx, pkt, be, st, nh, hash, 18, 1)
			     : xlb_encap(ctx, pkt, be, st, nh, hash, 14, 1);
	else
		err = tagged ? xlb_encap(ctx, pkt, be, st, nh, hash, 18, 0)
			     : xlb_encap(ctx, pkt, be, st, nh, hash, 14, 0);
	if (err)
		return xlb_drop(XLB_DROP_ENCAP);
	if (!nh)
		return xlb_pass(XLB_STAT_NO_NEIGH_PASS);
	return xlb_egress(ctx, nh->ifindex);
}

/* The VIP the packet's destination (key.dst, dport, proto) belongs to: the exact port, then port 0
 * when any wildcard VIP exists. On a miss *stp is the settings (loaded for the wildcard test anyway:
 * the NAT reply filter reuses them). */
static __always_inline struct xlb_vip_value *xlb_vip_find(const struct xlb_pkt *pkt,
							  struct xlb_settings **stp)
{
	struct xlb_vip_key vk __attribute__((aligned(8)));
	struct xlb_vip_value *vip;
	struct xlb_settings *st;
	/* Word by word as the parser stored them: a wider load spanning two stores would stall. */
	const __u32 *d = (const __u32 *)pkt->key.dst;
	__u32 *vd = (__u32 *)vk.addr, zero = 0;

	vd[0] = d[0];
	vd[1] = d[1];
	vd[2] = d[2];
	vd[3] = d[3];
	vk.port = pkt->key.dport;
	vk.proto = pkt->key.proto;
	vk.family = pkt->key.family;
	vip = bpf_map_lookup_elem(&xlb_vips, &vk);
	if (vip)
		return vip;
	st = bpf_map_lookup_elem(&xlb_settings, &zero);
	*stp = st;
	if (!st || !st->nr_wildcard_vips)
		return NULL;
	vk.port = 0;
	return bpf_map_lookup_elem(&xlb_vips, &vk);
}

/* Next hop, then DSR (MAC rewrite) or IPIP encapsulation toward `be`. */
static __always_inline int xlb_forward(struct xdp_md *ctx, struct xlb_pkt *pkt, __u8 fwd_mode,
				       __u32 be_id, const struct xlb_backend *be, __u64 now,
				       __u32 *hash, int *hashed)
{
	struct xlb_nexthop *nh = NULL;
	int rc;

	rc = xlb_nexthop(ctx, be_id, be, now, &nh);
	if (fwd_mode == XLB_FWD_IPIP) {
		if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
			nh = NULL;
		else if (rc != BPF_FIB_LKUP_RET_SUCCESS)
			return xlb_drop(XLB_DROP_FIB);
		return xlb_forward_ipip(ctx, pkt, be, nh, xlb_pkt_hash(pkt, hash, hashed));
	}

	/* DSR: the backend owns the VIP on a loopback; only the MAC addresses change. */
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return xlb_drop(XLB_DROP_NO_NEIGH);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS || !nh)
		return xlb_drop(XLB_DROP_FIB);
	{
		void *data = (void *)(long)ctx->data;
		void *data_end = (void *)(long)ctx->data_end;

		if (data + sizeof(struct ethhdr) > data_end)
			return xlb_drop(XLB_DROP_TRUNCATED); /* unreachable: parsed above */
		xlb_copy_macs(data, nh);
	}
	return xlb_egress(ctx, nh->ifindex);
}

/* ICMP and ICMPv6 (rules in lib/icmp.h). A subprogram, not inlined: the error path's quote parsing
 * and its own copy of the forwarding code stay out of the TCP/UDP path's instruction stream. */
static __noinline int xlb_icmp(struct xdp_md *ctx, struct xlb_pkt *pkt)
{
	struct xlb_settings *st;
	struct xlb_vip_value *vip;
	struct xlb_backend *be;
	__u32 hash = 0, be_id = 0, stat = 0, zero = 0;
	int hashed = 0, bad_src = 0, rc;

	if (!xlb_to_vip_addr(pkt)) {
		/* From a NAT backend's side about a translated packet (lib/nat_icmp.h (b)): only looked
		 * for while NAT VIPs exist. */
		st = bpf_map_lookup_elem(&xlb_settings, &zero);
		if (!st || !st->nat_flags)
			return xlb_pass(XLB_STAT_NON_VIP);
		rc = xlb_icmp_quote(ctx, pkt, &bad_src, 1);
		if (rc != XLB_CONTINUE)
			return rc;
		if (pkt->key.family == XLB_AF_INET6)
			return xlb6_nat_icmp_reply(ctx, pkt);
		return xlb4_nat_icmp_reply(ctx, pkt);
	}
	rc = xlb_icmp_quote(ctx, pkt, &bad_src, 0);
	if (rc != XLB_CONTINUE)
		return rc;
	vip = xlb_vip_find(pkt, &st);
	if (!vip)
		return xlb_pass(XLB_STAT_ICMP_NON_VIP_QUOTE_PASS);
	rc = xlb_vip_sanity(ctx, pkt, bad_src);
	if (rc)
		return rc;
	if (vip->fwd_mode == XLB_FWD_NAT || vip->fwd_mode == XLB_FWD_FULLNAT)
		return pkt->key.family == XLB_AF_INET6 ? xlb6_nat_icmp_fwd(ctx, pkt)
						       : xlb4_nat_icmp_fwd(ctx, pkt);
	be = xlb_icmp_backend(pkt, vip, &hash, &hashed, &be_id, &stat);
	if (!be)
		return xlb_pass(stat);
	xlb_count(stat);
	return xlb_forward(ctx, pkt, vip->fwd_mode, be_id, be, bpf_ktime_get_coarse_ns(), &hash,
			   &hashed);
}

static __always_inline int xlb_process(struct xdp_md *ctx)
{
	struct xlb_pkt pkt; /* filled by xlb_parse, not zeroed: see struct xlb_pkt */
	struct xlb_settings *st;
	struct xlb_vip_value *vip;
	struct xlb_backend *be;
	__u32 hash = 0, be_id = 0, len;
	int hashed = 0, new_flow = 0, rc;
	__u64 now;

	rc = xlb_parse(ctx, &pkt);
	if (rc != XLB_CONTINUE) {
		if (rc == XLB_ICMP)
			return xlb_icmp(ctx, &pkt);
		return rc;
	}

	vip = xlb_vip_find(&pkt, &st);
	if (!vip) {
		/* One test when no NAT VIP exists: the settings are already loaded. With NAT VIPs,
		 * the reply filter (two bloom bits) runs here, the lookup only behind it. */
		if (likely(!st || !st->nat_flags) || !xlb_nat_maybe_reply(&pkt, st, st->nat_flags))
			return xlb_pass(XLB_STAT_NON_VIP);
		if (pkt.key.family == XLB_AF_INET6)
			return xlb6_nat_reply(ctx, &pkt, st);
		return xlb4_nat_reply(ctx, &pkt, st);
	}
	if (unlikely(pkt.suspect)) {
		rc = xlb_vip_sanity(ctx, &pkt, (pkt.suspect & XLB_SUSPECT_SRC) && xlb_bad_source(&pkt));
		if (rc)
			return rc;
	}
	/* One compare on the dsr/ipip path (modes above ipip are rare); unknown modes stay dsr. */
	if (unlikely(vip->fwd_mode > XLB_FWD_IPIP) &&
	    (vip->fwd_mode == XLB_FWD_NAT || vip->fwd_mode == XLB_FWD_FULLNAT)) {
		/* One instance per family (lib/nat.h "Families"). */
		if (pkt.key.family == XLB_AF_INET6)
			return xlb6_nat_vip(ctx, &pkt, vip);
		return xlb4_nat_vip(ctx, &pkt, vip);
	}

	now = bpf_ktime_get_coarse_ns();
	be = xlb_flow_backend(&pkt, vip, now, &hash, &hashed, &be_id, &new_flow);
	if (!be)
		return xlb_drop(XLB_DROP_NO_BACKEND);
	/* new_flow a constant in each copy: an established packet adds to two words of each counter.
	 * The frame's length from ctx here (nothing changed it yet), not carried in pkt. */
	len = ctx->data_end - ctx->data;
	if (new_flow) {
		xlb_count_traffic(&xlb_vip_stats, vip->vip_id, len, 1);
		xlb_count_traffic(&xlb_be_stats, be_id, len, 1);
	} else {
		xlb_count_traffic(&xlb_vip_stats, vip->vip_id, len, 0);
		xlb_count_traffic(&xlb_be_stats, be_id, len, 0);
	}
	return xlb_forward(ctx, &pkt, vip->fwd_mode, be_id, be, now, &hash, &hashed);
}

#ifdef XLB_TEST_BUILD_TAG
/* Test builds only (tests/e2e/upgrade): a tag in .rodata that tells an upgraded program apart from
 * the production one (bpftool map dump of the program's .rodata). Without -DXLB_TEST_BUILD_TAG the
 * production object has no tag: its .rodata holds only the runtime knobs (xlb_protect_after).
 */
const volatile __u32 xlb_test_build_tag = XLB_TEST_BUILD_TAG;
#endif

SEC("xdp")
int xlb_balancer(struct xdp_md *ctx)
{
#ifdef XLB_TEST_BUILD_TAG
	/* A reference binds .rodata to the program (it shows in its map_ids); the tag is never 0. */
	if (!xlb_test_build_tag)
		return XDP_ABORTED;
#endif
	int action = xlb_process(ctx);

	xlb_count(XLB_STAT_RX);
	xlb_count(action);
	return action;
}
