/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Benchmark-only restore wrapper: BPF_PROG_TEST_RUN repeats on the already modified buffer, so each
 * run first restores the input packet (and the head, after an encapsulation), optionally bumps the
 * TCP source port (every packet a new flow), then tail-calls the program under test. */
#include "lib/common.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define XLB_BENCH_PKT_LEN 128 /* every bench frame is padded to this size */

struct xlb_bench_cfg {
	__u32 sport_off; /* offset of the TCP/UDP source port in the frame */
	__u32 bump;      /* 1: write a new source port every run (new flow per packet) */
	__u32 nr_ports;  /* bump cycles through [0, nr_ports) (0 = 65536) */
	__u32 saddr_off; /* when non-zero, the low 24 bits of the IPv4 source get the counter too */
	__u8 pkt[XLB_BENCH_PKT_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_bench_cfg);
} xlb_bench_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xlb_bench_ctr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xlb_bench_progs SEC(".maps");

SEC("xdp")
int xlb_bench_wrapper(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct xlb_bench_cfg *cfg;
	__u32 zero = 0, off, *ctr;
	int delta = (int)(data_end - data) - XLB_BENCH_PKT_LEN;
	__u64 *d;
	const __u64 *s;

	cfg = bpf_map_lookup_elem(&xlb_bench_cfg, &zero);
	if (!cfg)
		return XDP_ABORTED;
	if (delta && bpf_xdp_adjust_head(ctx, delta))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + XLB_BENCH_PKT_LEN > data_end)
		return XDP_ABORTED;
	d = data;
	s = (const __u64 *)cfg->pkt;
#pragma unroll
	for (int i = 0; i < XLB_BENCH_PKT_LEN / 8; i++)
		d[i] = s[i];
	if (cfg->bump) {
		ctr = bpf_map_lookup_elem(&xlb_bench_ctr, &zero);
		if (!ctr)
			return XDP_ABORTED;
		*ctr += 1;
		if (cfg->nr_ports)
			*ctr %= cfg->nr_ports;
		/* "invalid access to packet" without the mask: the verifier needs a bounded offset. */
		off = cfg->sport_off & (XLB_BENCH_PKT_LEN - 2);
		if (data + off + 2 > data_end)
			return XDP_ABORTED;
		*(__be16 *)(data + off) = bpf_htons((__u16)*ctr);
		if (cfg->saddr_off) {
			off = cfg->saddr_off & (XLB_BENCH_PKT_LEN - 2);
			if (data + off + 4 > data_end)
				return XDP_ABORTED;
			/* The first octet stays (a source in 0.0.0.0/8 is dropped as a martian); the
			 * other 24 bits carry the counter. */
			*(__be32 *)(data + off) = bpf_htonl((*ctr & 0xffffff) |
							    ((__u32)((__u8 *)data)[off] << 24));
		}
	}
	bpf_tail_call(ctx, &xlb_bench_progs, 0);
	return XDP_ABORTED;
}

/* The floor: swap MACs, XDP_TX (what "L2 forward and nothing else" costs). */
SEC("xdp")
int xlb_bench_trivial(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u16 *w = data, t0, t1, t2;

	if (data + 12 > data_end)
		return XDP_ABORTED;
	t0 = w[0];
	t1 = w[1];
	t2 = w[2];
	w[0] = w[3];
	w[1] = w[4];
	w[2] = w[5];
	w[3] = t0;
	w[4] = t1;
	w[5] = t2;
	return XDP_TX;
}
