/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* e2e helper: an XDP program that passes everything. Attached to the switch-side peer of the load
 * balancer's veth, because XDP_TX on a veth is delivered only when the peer runs an XDP program. */
#include <linux/bpf.h>

#define SEC(name) __attribute__((section(name), used))

SEC("xdp")
int xlb_e2e_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
