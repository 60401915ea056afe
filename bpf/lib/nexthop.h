/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Next hop toward a backend: a per-CPU cache of bpf_fib_lookup results, valid for one second and
 * for one backend generation. Failures are never cached: the next packet asks the FIB again. */
#pragma once

#include "lib/stats.h"

#define XLB_NH_TTL_NS XLB_NSEC_PER_SEC

/* The FIB request for destination `addr` (16 bytes) of xlb `family`, in from the packet's
 * interface. */
static __always_inline void xlb_fib_dst(struct bpf_fib_lookup *fib, const struct xdp_md *ctx,
					__u8 family, const __u8 *addr)
{
	const __u32 *a = (const __u32 *)addr;

	fib->ifindex = ctx->ingress_ifindex;
	if (family == XLB_AF_INET) {
		fib->family = XLB_SYS_AF_INET;
		fib->ipv4_dst = a[0];
	} else {
		fib->family = XLB_SYS_AF_INET6;
		fib->ipv6_dst[0] = a[0];
		fib->ipv6_dst[1] = a[1];
		fib->ipv6_dst[2] = a[2];
		fib->ipv6_dst[3] = a[3];
	}
}

/* Asks the FIB for `be` and fills the cache entry `nh` (only when the entry expired, or on a
 * backend generation change). Kept out of line: the request is 64 bytes the hit path should not
 * zero on every packet (clang hoists an inline `= {}` above the cache test). */
static __noinline int xlb_nexthop_refresh(struct xdp_md *ctx, const struct xlb_backend *be,
					  struct xlb_nexthop *nh, __u64 now)
{
	struct bpf_fib_lookup fib = {};
	int rc;

	xlb_fib_dst(&fib, ctx, be->family, be->addr);
	xlb_count(XLB_STAT_FIB_LOOKUP);
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
		nh->expires_ns = 0;
		return rc;
	}
	__builtin_memcpy(nh->dmac, fib.dmac, 6);
	__builtin_memcpy(nh->smac, fib.smac, 6);
	nh->ifindex = fib.ifindex;
	nh->gen = be->gen;
	nh->expires_ns = now + XLB_NH_TTL_NS;
	return BPF_FIB_LKUP_RET_SUCCESS;
}

/* Returns a BPF_FIB_LKUP_RET_* code; on SUCCESS *out points at the (cached) next hop. */
static __always_inline int xlb_nexthop(struct xdp_md *ctx, __u32 be_id, const struct xlb_backend *be,
				       __u64 now, struct xlb_nexthop **out)
{
	struct xlb_nexthop *nh;
	int rc;

	nh = bpf_map_lookup_elem(&xlb_nh_cache, &be_id);
	if (!nh)
		return BPF_FIB_LKUP_RET_NOT_FWDED;
	if (unlikely(nh->expires_ns <= now || nh->gen != be->gen)) {
		rc = xlb_nexthop_refresh(ctx, be, nh, now);
		if (rc != BPF_FIB_LKUP_RET_SUCCESS)
			return rc;
	}
	*out = nh;
	return BPF_FIB_LKUP_RET_SUCCESS;
}

/* XDP_TX when the next hop is the interface the packet came in on, else a redirect. */
static __always_inline int xlb_egress(struct xdp_md *ctx, __u32 ifindex)
{
	if (ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(ifindex, 0);
}
