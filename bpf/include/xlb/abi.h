/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The data-plane ABI: map keys/values, limits and enums shared by the BPF programs and the agent. */
#pragma once

#ifdef __cplusplus
#include <linux/types.h>
#include <cstddef>
#define XLB_ABI_ASSERT(cond, msg) static_assert(cond, msg)
#else
#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif
#define XLB_ABI_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* Bumped whenever any struct or map below changes layout; part of every pinned map's name suffix.
 * Exception: the selection tables' inner maps (xlb_table_slot) are migrated in place when a pinned
 * xlb_tables holds another inner shape (agent/dataplane/migrate.cc: flags, value size). */
#define XLB_ABI_VERSION 5

/* XLB_TEST_LAYOUT 6: test builds only (tests/e2e/upgrade, test-migrate.sh), never installed. The next
 * ABI version with incompatible layouts of each kind the agent's migration handles: a value struct
 * that grows (xlb_flow_value 24->32, field-wise), a per-CPU value struct that grows (xlb_nexthop
 * 32->40), a per-CPU array that grows (xlb_stats 18->19 entries, common range), and a key whose
 * members change at the same size (xlb_addr_key, not mappable: reset). Everything the agent's C++
 * reads through other modules keeps its size and member offsets. */
#ifdef XLB_TEST_LAYOUT
#if XLB_TEST_LAYOUT != 6 || XLB_ABI_VERSION != 5
#error "XLB_TEST_LAYOUT 6 is written against ABI version 5: update it with the ABI"
#endif
#undef XLB_ABI_VERSION
#define XLB_ABI_VERSION 6
#endif

/* ---- limits ------------------------------------------------------------------------------------ */
#define XLB_MAX_VIPS 1024           /* vip ids are 0 .. XLB_MAX_VIPS-1 */
#define XLB_MAX_BACKENDS 16384      /* backend ids (one per VIP membership) 0 .. XLB_MAX_BACKENDS-1 */
#define XLB_DEFAULT_FLOWS 1048576   /* default flow-table capacity (agent may resize before load) */
#define XLB_MAGLEV_DEFAULT_M 65537  /* default Maglev table size (prime) */
#define XLB_MAGLEV_MAX_M 1000003    /* largest accepted table size (prime) */
#define XLB_MAX_WEIGHT 65535
#define XLB_MAX_VLAN_ID 4095        /* xlb_vlans has XLB_MAX_VLAN_ID + 1 entries */
#define XLB_DEFAULT_NAT_ENTRIES 524288 /* default capacity of xlb_nat4 and of xlb_nat6 (each): 2
					* entries per NAT connection */
#define XLB_SNAT_MAX_ADDRS 8        /* SNAT pool addresses per family (xlb_snat) */
#define XLB_NAT_PROBES 32           /* fullnat port allocation: ports tried per new connection */
#define XLB_NAT_DEFAULT_PORT_MIN 61000 /* default SNAT port range: above Linux's default */
#define XLB_NAT_DEFAULT_PORT_MAX 65535 /* ephemeral range 32768-60999 (ip_local_port_range) */

#define XLB_NAT_BLOOM_BITS 256 /* xlb_settings NAT reply filters, bits each */

/* ---- address families (stored in `family` fields) ------------------------------------------------ */
#define XLB_AF_INET 4
#define XLB_AF_INET6 6

/* ---- forwarding modes (xlb_vip_value.fwd_mode) ---------------------------------------------------- */
#define XLB_FWD_DSR 1  /* L2 direct server return: rewrite MACs only */
#define XLB_FWD_IPIP 2 /* IPIP / IP6IP6 (or 4in6 / 6in4) encapsulation */
/* NAT modes (bpf/lib/nat.h): connection state in xlb_nat4/xlb_nat6, two entries per connection, the
 * backend's port from xlb_be_nat. */
#define XLB_FWD_NAT 3     /* destination VIP:port -> backend:port; replies route through the LB */
#define XLB_FWD_FULLNAT 4 /* and source client:port -> SNAT address:allocated port */

/* ---- selection algorithms (xlb_vip_value.algorithm) -----------------------------------------------
 * Every algorithm picks one slot 1..M of the VIP's selection table (xlb_tables); the agent fills the
 * table with backend ids in weight proportion (a Maglev permutation for maglev/source_hash/random/
 * least_conn, a smooth weighted round-robin sequence for round_robin). The data plane only chooses
 * the slot, and only for a new flow: a recorded flow keeps its backend whatever the algorithm, so
 * changing a VIP's algorithm (or table) affects new flows only. An unknown value selects like maglev.
 *  MAGLEV       slot from the 5-tuple hash (bpf/lib/hash.h): consistent hashing, NSDI'16 §3.4
 *  SOURCE_HASH  slot from the hash of the client address only (+ source port with
 *               XLB_VIP_F_HASH_SRC_PORT): every connection of one client lands on one backend
 *  ROUND_ROBIN  slot = 1 + (xlb_rr[vip id] mod M), then the counter advances. xlb_rr is per CPU:
 *               each CPU walks the sequence on its own, so over n CPUs the shares are exact per CPU
 *               and within n flows per backend overall (RSS spreads flows over CPUs)
 *  RANDOM       slot from bpf_get_prandom_u32()
 *  LEAST_CONN   power of two choices: two distinct random slots, the backend with the lower
 *               xlb_be_conns / weight wins (open_a * weight_b vs open_b * weight_a in 64 bits;
 *               ties go to the first draw) */
#define XLB_ALG_MAGLEV 1
#define XLB_ALG_SOURCE_HASH 2
#define XLB_ALG_ROUND_ROBIN 3
#define XLB_ALG_RANDOM 4
#define XLB_ALG_LEAST_CONN 5

/* ---- VIP flags ----------------------------------------------------------------------------------- */
#define XLB_VIP_F_NONE 0
#define XLB_VIP_F_HASH_SRC_PORT 0x1 /* source_hash: hash the client address and source port */

/* ---- backend flags ------------------------------------------------------------------------------- */
/* ACTIVE: slot in use and healthy. The agent clears it for a deleted backend and for one that health
 * checks found DOWN: flows recorded on a non-ACTIVE backend are re-steered on their next packet (no
 * black hole). A DRAINING backend stays ACTIVE (its flows continue) but is absent from the table. */
#define XLB_BE_F_ACTIVE 0x1
/* DOWN: agent bookkeeping only (the data plane reads ACTIVE alone): the slot is in use but health checks
 * found the backend down. A restarted agent reads it back so the backend stays out of rotation until
 * `rise` successful checks, instead of rejoining on the first one. */
#define XLB_BE_F_DOWN 0x2

/* ---- flow flags (xlb_flow_value.flags) -------------------------------------------------------------- */
#define XLB_FLOW_F_CLOSING 0x1 /* FIN/RST seen from the client: already subtracted from xlb_be_conns */
#define XLB_FLOW_F_PROTECTED 0x2 /* a copy lives in xlb_flows_prot (flood protection, lib/flow.h) */

/* ---- global counters (xlb_stats, per-CPU array, index below) --------------------------------------
 * Indexes 0..4 are the XDP action values themselves (XDP_ABORTED .. XDP_REDIRECT). */
#define XLB_STAT_ABORTED 0
#define XLB_STAT_DROP 1
#define XLB_STAT_PASS 2
#define XLB_STAT_TX 3
#define XLB_STAT_REDIRECT 4
#define XLB_STAT_RX 5            /* every packet the balancer saw */
#define XLB_STAT_NON_VIP 6       /* well-formed, not for a VIP: passed */
#define XLB_STAT_MALFORMED_PASS 7 /* malformed, destination unknown or not a VIP: passed */
#define XLB_STAT_NON_IP 8        /* not IPv4/IPv6 (ARP, LLDP ...): passed */
#define XLB_STAT_ICMP_PASS 9     /* ICMP/ICMPv6 to a VIP address: passed to the kernel */
#define XLB_STAT_FLOW_HIT 10     /* packet followed a recorded flow */
#define XLB_STAT_FLOW_NEW 11     /* algorithm ran, flow recorded */
#define XLB_STAT_FLOW_RESTEER 12 /* recorded backend was gone: re-selected */
#define XLB_STAT_FLOW_UPDATE_FAIL 13 /* flow-table insert failed (forwarded anyway) */
#define XLB_STAT_FIB_LOOKUP 14   /* next-hop cache refreshed through bpf_fib_lookup */
#define XLB_STAT_NO_NEIGH_PASS 15 /* ipip packet handed to the kernel: neighbour unresolved */
#define XLB_STAT_FLOW_CLOSE 16   /* FIN/RST seen on an open flow: its backend's open count decremented */
#define XLB_STAT_CONNS_UNDERFLOW 17 /* a decrement found the open count at 0 (agent reconciled it) */
/* ICMP errors addressed to a VIP (bpf/lib/icmp.h): ICMPv4 destination unreachable / time exceeded,
 * ICMPv6 destination unreachable / packet too big / time exceeded. Other ICMP (echo ...) to a VIP
 * address stays XLB_STAT_ICMP_PASS. */
#define XLB_STAT_ICMP_FWD 18      /* quoted flow found: the error went to the flow's backend */
#define XLB_STAT_ICMP_FWD_HASH 19 /* no flow entry, consistent-hash VIP: went to the hashed backend */
#define XLB_STAT_ICMP_NO_FLOW_PASS 20  /* no flow entry and no way to recompute it: passed */
#define XLB_STAT_ICMP_BAD_QUOTE_PASS 21 /* quoted header truncated or malformed: passed */
#define XLB_STAT_ICMP_NON_VIP_QUOTE_PASS 22 /* quoted packet is not from a VIP: passed */
/* Flood protection (bpf/lib/flow.h): flows that prove alive move into xlb_flows_prot. */
#define XLB_STAT_FLOW_PROTECT 23      /* flow copied into the protected table */
#define XLB_STAT_FLOW_PROTECT_FULL 24 /* protected table full: flow stays in the LRU only */
#define XLB_STAT_FLOW_PROT_HIT 25     /* LRU miss, protected entry found (evicted by pressure) */
/* NAT (bpf/lib/nat.h) */
#define XLB_STAT_NAT_HIT 26       /* client -> VIP packet of a NAT connection translated */
#define XLB_STAT_NAT_REPLY 27     /* backend -> client reply translated back (source = VIP) */
#define XLB_STAT_NAT_NEW 28       /* NAT connection created (both entries) */
#define XLB_STAT_NAT_PORT_PROBE 29 /* fullnat: ports tried beyond the first, summed */
#define XLB_STAT_NAT_RACE 30      /* another CPU created the same connection first: its entry used */
#define XLB_STAT_NAT_RESTEER 31   /* recorded backend gone: connection re-created on another */
#define XLB_STAT_NAT_ICMP_FWD 32  /* ICMP error about a NAT reply (to a VIP) translated to the backend */
#define XLB_STAT_NAT_ICMP_REPLY 33 /* ICMP error from a backend's side translated to the client */
#define XLB_STAT_NAT_FILTER_MISS 34 /* passed the reply filter, no entry, not ours: passed */
#ifdef XLB_TEST_LAYOUT
#define XLB_STAT_MAX 36 /* one more index, never counted */
#else
#define XLB_STAT_MAX 35
#endif

/* ---- drop reasons (xlb_drops, per-CPU array, index below) -----------------------------------------
 * Only packets addressed to a VIP (address, or address+port+proto) are ever dropped. */
#define XLB_DROP_TRUNCATED 0     /* L4 header (or IPv6 header chain) shorter than required */
#define XLB_DROP_BAD_IHL 1       /* IPv4 IHL < 5 */
#define XLB_DROP_IP_OPTIONS 2    /* IPv4 header with options, or IPv6 extension headers */
#define XLB_DROP_FRAGMENT 3      /* IPv4 MF/offset or IPv6 fragment header */
#define XLB_DROP_UNKNOWN_PROTO 4 /* protocol other than TCP/UDP/ICMP to a VIP address */
#define XLB_DROP_NO_BACKEND 5    /* VIP has no usable backend */
#define XLB_DROP_NO_NEIGH 6      /* dsr: backend's neighbour entry unresolved */
#define XLB_DROP_FIB 7           /* bpf_fib_lookup found no route to the backend */
#define XLB_DROP_ENCAP 8         /* bpf_xdp_adjust_head failed */
#define XLB_DROP_BAD_LEN 9       /* IP total/payload length larger than the frame */
#define XLB_DROP_TCP_DOFF_SHORT 10 /* TCP data offset < 5 (header shorter than 20 bytes) */
#define XLB_DROP_TCP_DOFF_OVERRUN 11 /* TCP data offset points past the end of the segment */
#define XLB_DROP_BAD_SOURCE 12   /* source can never be a client: IPv4 0/8, 127/8, 224/4, 240/4;
				  * IPv6 ::, ::1, ff00::/8 */
#define XLB_DROP_L2_MULTICAST 13 /* broadcast / multicast destination MAC with a unicast VIP */
#define XLB_DROP_VLAN 14         /* tagged with a VLAN id not accepted on this interface (xlb_vlans) */
/* NAT (bpf/lib/nat.h) */
#define XLB_DROP_NAT_FULL 15     /* xlb_nat full: new NAT connection refused (established ones go on) */
#define XLB_DROP_NAT_NO_PORT 16  /* fullnat: no free SNAT port after XLB_NAT_PROBES tries (also
				  * counted per backend in xlb_nat_fail), or no pool address of the
				  * backend's family */
#define XLB_DROP_NAT_REPLY_MISS 17 /* looks like a NAT reply (from a nat backend endpoint, or to a
				    * SNAT address in the NAT port range) but has no entry: never
				    * leaked untranslated */
#define XLB_DROP_NAT_COLLISION 18 /* nat: the reply tuple is taken (same client:port through another
				   * VIP to the same backend endpoint) */
#define XLB_DROP_NAT_HAIRPIN 19  /* nat: the client is the chosen backend (its reply would not pass
				  * the LB); fullnat serves hairpin */
#define XLB_DROP_MAX 20

/* ---- decap program counters (xlb_dc_stats, per-CPU array) --------------------------------------- */
#define XLB_DC_RX 0
#define XLB_DC_DECAP4 1   /* outer IPv4 removed */
#define XLB_DC_DECAP6 2   /* outer IPv6 removed */
#define XLB_DC_PASS 3     /* not encapsulated: untouched */
#define XLB_DC_MALFORMED 4 /* encapsulated but truncated/fragmented/options: dropped */
#define XLB_DC_MAX 5

/* ---- map names (pinned under /sys/fs/bpf/xlb/) ---------------------------------------------------- */
#define XLB_PIN_DIR "/sys/fs/bpf/xlb"

/* ---- maps ------------------------------------------------------------------------------------------
 * xlb_vips     HASH            xlb_vip_key -> xlb_vip_value
 * xlb_vip_addrs HASH           xlb_addr_key -> xlb_addr_value (addresses that carry any VIP)
 * xlb_tables   ARRAY_OF_MAPS   vip id -> inner ARRAY (xlb_table_slot): [0] = table size M and the
 *                              live half, [1..M] = backend ids of both halves (see below)
 * xlb_backends ARRAY           backend id -> xlb_backend
 * xlb_flows    LRU_HASH        xlb_flow_key -> xlb_flow_value
 * xlb_nh_cache PERCPU_ARRAY    backend id -> xlb_nexthop (bpf_fib_lookup result, refreshed each second)
 * xlb_stats    PERCPU_ARRAY    XLB_STAT_* -> __u64
 * xlb_drops    PERCPU_ARRAY    XLB_DROP_* -> __u64
 * xlb_vip_stats PERCPU_ARRAY   vip id -> xlb_counters
 * xlb_be_stats PERCPU_ARRAY    backend id -> xlb_counters
 * xlb_settings ARRAY[1]        0 -> xlb_settings (written by the agent)
 * xlb_rr       PERCPU_ARRAY    vip id -> __u32 round-robin position (next slot - 1) on this CPU
 * xlb_be_conns ARRAY           backend id -> __u64 open flows (shared, atomic adds; see below)
 * xlb_dc_stats PERCPU_ARRAY    XLB_DC_* -> __u64 (decap program)
 * xlb_flows_prot HASH          xlb_flow_key -> xlb_flow_value: flows that proved alive; never evicted
 *                              by new flows, expired by the agent (flood protection, lib/flow.h)
 * xlb_vlans    ARRAY           VLAN id (0..4095) -> __u32, 1 = tagged frames with this id are balanced
 * xlb_nat4     HASH            xlb_nat4_key (an IPv4 packet's tuple as it arrives) -> xlb_nat4_value;
 *                              two entries per NAT connection (client->VIP, and the reply tuple);
 *                              preallocated, never evicted: expired by the agent (nat GC)
 * xlb_nat6     HASH            xlb_flow_key (IPv6, as it arrives) -> xlb_nat6_value; as xlb_nat4
 * xlb_be_nat   ARRAY           backend id -> xlb_be_nat (backend port, NAT modes)
 * xlb_snat     ARRAY           vip id -> xlb_snat (the VIP's SNAT pool, fullnat)
 * xlb_nat_eps  HASH            xlb_nat_ep -> __u32 1: what a NAT reply may come from (nat backend
 *                              endpoints) or go to (SNAT addresses, port 0): the exact check
 *                              behind the settings' filter, only on a reply miss
 * xlb_nat_fail PERCPU_ARRAY    backend id -> __u64 fullnat port allocation failures
 * xlb_nat_scratch PERCPU_ARRAY 0 -> xlb_nat6_value: the entry a new connection is built in
 */

/* Open flows per backend (xlb_be_conns). Shared, not per CPU, because least_conn reads it on every
 * new flow; updated with atomic adds.
 *  +1 when a flow is recorded on the backend: a new entry, a re-steer to it, or a SYN re-opening a
 *     closing entry (a flow recorded from a FIN/RST packet is born closing and is not counted);
 *  -1 when a FIN or RST from the client is seen on a flow that is not closing (the entry is then
 *     marked XLB_FLOW_F_CLOSING, so it is subtracted once), and from the old backend when a flow is
 *     moved away from a backend whose gen still matches (health-down, or a SYN re-using an open
 *     entry's 5-tuple never moves it, see flow.h).
 * Never below zero: a decrement reads the value, skips it when it is 0 (XLB_STAT_CONNS_UNDERFLOW:
 * the agent reset the count under a flow it did not see) and otherwise subtracts with a
 * compare-and-swap of the value read (two attempts). A plain read-check-add could let two CPUs both
 * see 1 and wrap the count to 2^64-1, which least_conn would read as an infinitely loaded backend;
 * with the CAS a twice-lost race only leaves the count one too high until the next reconciliation.
 * Flows that end without a FIN/RST seen (server-side close in DSR, idle expiry, LRU eviction) are
 * not decremented by the data plane: the agent periodically recounts the flow table
 * (dataplane::countOpenFlows) and writes the counts back. Between two reconciliations a count is
 * too high by at most the flows that ended silently since the last one. */
/* One slot of a selection table (an inner map of xlb_tables, BPF_F_MMAPABLE). Each table holds two
 * tables of the same size M, one per half:
 *  slot 0       w[0] = M (0 = no table), w[1] = the live half (only bit 0 counts)
 *  slot 1..M    w[h] = the backend id at this slot in half h
 * The data plane reads slot 0, then w[live half] of the slot it picks. The agent changes a table of
 * the same size by writing the idle half through the map's pages and then storing the new live half
 * (one aligned 4-byte store after the others): no map-in-map update, so no RCU grace period, and a
 * reader sees either the old or the new table, never a mix. It writes a half only when the last
 * flip of that table is at least a second old (every program that read the old half number has
 * long finished); otherwise, and when the size changes, it swaps in a new inner map. An element of
 * an ARRAY takes round_up(value_size, 8) bytes, so the second half costs no memory. */
struct xlb_table_slot {
	__u32 w[2];
};
XLB_ABI_ASSERT(sizeof(struct xlb_table_slot) == 8, "xlb_table_slot layout");

struct xlb_vip_key {
	__u8 addr[16]; /* network order; IPv4 in addr[0..3], rest zero */
	__be16 port;   /* network order; 0 = every port */
	__u8 proto;    /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 family;   /* XLB_AF_INET / XLB_AF_INET6 */
};
XLB_ABI_ASSERT(sizeof(struct xlb_vip_key) == 20, "xlb_vip_key layout");

struct xlb_vip_value {
	__u32 vip_id;
	__u8 algorithm; /* XLB_ALG_* */
	__u8 fwd_mode;  /* XLB_FWD_* */
	__u16 flags;    /* XLB_VIP_F_* */
};
XLB_ABI_ASSERT(sizeof(struct xlb_vip_value) == 8, "xlb_vip_value layout");

struct xlb_addr_key {
	__u8 addr[16];
	__u8 family;
#ifdef XLB_TEST_LAYOUT
	__u8 scope; /* same bytes, other members: the key is not mappable */
	__u8 pad[2];
#else
	__u8 pad[3];
#endif
};
XLB_ABI_ASSERT(sizeof(struct xlb_addr_key) == 20, "xlb_addr_key layout");

struct xlb_addr_value {
	__u32 nr_vips;      /* VIPs on this address */
	__u32 nr_wildcard;  /* of which port 0 (all ports) */
};
XLB_ABI_ASSERT(sizeof(struct xlb_addr_value) == 8, "xlb_addr_value layout");

struct xlb_backend {
	__u8 addr[16]; /* network order; IPv4 in addr[0..3] */
	__u8 family;   /* XLB_AF_* */
	__u8 flags;    /* XLB_BE_F_* */
	__u16 weight;  /* the agent's weight for this membership (least_conn); 0 counts as 1 */
	__u32 gen;     /* bumped by the agent whenever the id is (re)assigned */
	__u32 vip_id;  /* owning VIP, for counters and sanity */
};
XLB_ABI_ASSERT(sizeof(struct xlb_backend) == 28, "xlb_backend layout");

struct xlb_flow_key {
	__u8 src[16];
	__u8 dst[16];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};
XLB_ABI_ASSERT(sizeof(struct xlb_flow_key) == 40, "xlb_flow_key layout");

struct xlb_flow_value {
	__u32 backend_id;
	__u32 backend_gen; /* must equal xlb_backend.gen, else the backend was replaced: re-steer */
	__u64 last_seen_ns; /* bpf_ktime_get_coarse_ns(), refreshed at most once a second */
	__u32 flags;        /* XLB_FLOW_F_* */
	__u32 created;      /* bpf_ktime_get_coarse_ns() >> XLB_FLOW_TIME_SHIFT when recorded (wraps
			     * after 52 days; only ages below that matter); 0 = "old" (migrated) */
#ifdef XLB_TEST_LAYOUT
	__u64 created_ns; /* never written: zero in migrated and new entries alike */
#endif
};
/* xlb_flow_value.created unit: 2^20 ns (about 1.05 ms). Flood protection compares ages in it. */
#define XLB_FLOW_TIME_SHIFT 20
/* 24 bytes: the flags could hide in the top bits of backend_gen, but a separate word keeps the
 * user-space readers (reconciliation, tests) free of masks; the LRU element is 8-byte rounded and
 * still fits the same cache line with its 40-byte key. */
#ifdef XLB_TEST_LAYOUT
XLB_ABI_ASSERT(sizeof(struct xlb_flow_value) == 32, "xlb_flow_value test layout");
#else
XLB_ABI_ASSERT(sizeof(struct xlb_flow_value) == 24, "xlb_flow_value layout");
#endif

struct xlb_nexthop {
	__u8 dmac[6];
	__u8 smac[6];
	__u32 ifindex;
	__u32 gen;        /* xlb_backend.gen this entry was resolved for */
	__u32 pad;
	__u64 expires_ns; /* 0 = never resolved */
#ifdef XLB_TEST_LAYOUT
	__u64 resolved_ns; /* never written */
#endif
};
#ifdef XLB_TEST_LAYOUT
XLB_ABI_ASSERT(sizeof(struct xlb_nexthop) == 40, "xlb_nexthop test layout");
#else
XLB_ABI_ASSERT(sizeof(struct xlb_nexthop) == 32, "xlb_nexthop layout");
#endif

struct xlb_counters {
	__u64 packets;
	__u64 bytes;
	__u64 new_flows;
};
XLB_ABI_ASSERT(sizeof(struct xlb_counters) == 24, "xlb_counters layout");

/* Runtime settings the agent writes into xlb_settings[0]. */
struct xlb_settings {
	__u8 encap_v4_prefix[4];  /* outer IPv4 source = prefix | (flow hash & host mask) */
	__be32 encap_v4_host_mask; /* network order, e.g. 0.0.255.255 for a /16 */
	__u8 encap_v6_prefix[16]; /* outer IPv6 source: prefix, low 32 bits | (flow hash & host mask) */
	__be32 encap_v6_host_mask; /* network order, applied to the last 32 bits */
	__u32 nr_wildcard_vips;   /* VIPs with port 0: when 0 the balancer skips the wildcard lookup */
	/* NAT reply filter (bpf/lib/nat.h): a packet to no VIP pays these tests before any NAT
	 * lookup; 0 flags = no NAT VIP, nothing else read. */
	__u32 nat_flags;          /* XLB_NAT_F_* */
	__u16 nat_port_min;       /* host order: the union of the fullnat VIPs' SNAT port ranges */
	__u16 nat_port_max;
	__u64 nat_src_bloom[XLB_NAT_BLOOM_BITS / 64]; /* nat backend endpoints (addr + port) */
	__u64 snat_dst_bloom[XLB_NAT_BLOOM_BITS / 64]; /* SNAT pool addresses (port 0) */
};
XLB_ABI_ASSERT(sizeof(struct xlb_settings) == 104, "xlb_settings layout");

/* ---- NAT (bpf/lib/nat.h; README "Forwarding modes") ------------------------------------------------
 * A NAT connection is two entries, each keyed by a tuple exactly as packets arrive, in the map of
 * its address family (xlb_nat4 for IPv4, xlb_nat6 for IPv6; NAT never changes the family):
 *   FWD  client:cport -> VIP:vport                       (the client's packets)
 *   REV  backend:bport -> client:cport         (nat)     (the backend's replies)
 *        backend:bport -> snat:sport           (fullnat)
 * Each value holds the tuple its packets are rewritten to, so the peer's key is the value's new
 * tuple reversed (the agent's GC deletes pairs without a second map). One lookup per packet in each
 * direction. The data plane inserts REV first with BPF_NOEXIST (the atomic port claim), then FWD
 * with BPF_NOEXIST (on EEXIST another CPU won: REV is deleted and the winner's FWD used). Each CPU
 * writes only the entry of the direction it handles (last_seen, state bits). The agent expires
 * pairs by per-VIP timeouts (unanswered TCP 60 s, established TCP 6 h, closing 10 s, UDP 60 s) and,
 * when a table fills, unanswered pairs first (XLB_NAT_S_* below).
 *
 * Layout (ABI 5; ABI 4 had one xlb_nat map of xlb_flow_key -> xlb_nat_value for both families,
 * which the agent's migration splits into these two). The kernel's preallocated hash element is a
 * 48-byte header (the hash at offset 40) + the key and the value, each rounded up to 8 bytes,
 * packed in one vmalloc'ed array. IPv4 keys of 16 bytes and values of 64 make a 128-byte element:
 * two cache lines exactly, header + key in the first, the value in the second (ABI 4's 184-byte
 * element straddled three or four). Everything the per-packet path reads is in xlb_nat_head, the
 * family-independent first 56 bytes of both values; the new addresses follow it (4 or 16 bytes
 * each). The agent reads and writes entries in the wide form xlb_nat_value (dataplane/nat_layout.h
 * converts). */
#define XLB_NAT_DIR_FWD 1
#define XLB_NAT_DIR_REV 2

/* xlb_nat_value.state: what this entry's direction has seen (set once, never cleared).
 * A connection is answered (agent nat/collector.h) when both sides spoke after its creation: TCP
 * FWD ACK and REV SEEN (the client completed the handshake the backend answered; a spoofed SYN
 * draws the backend's SYN-ACK, which sets REV SEEN, but never the client's ACK), UDP FWD SEEN and
 * REV SEEN (a one-shot request/response stays unanswered). Unanswered connections are the first
 * to go when the table fills. */
#define XLB_NAT_S_SEEN 0x1 /* a packet after the one that created the pair (REV: the backend answered) */
#define XLB_NAT_S_FIN 0x2  /* FIN seen in this direction */
#define XLB_NAT_S_RST 0x4  /* RST seen in this direction */
#define XLB_NAT_S_ACK 0x8  /* FWD only: a TCP segment with ACK and without SYN after the creating
			    * packet (a SYN retransmit does not set it) */

/* xlb_settings.nat_flags */
#define XLB_NAT_F_EPS 0x1  /* nat VIPs exist: a non-VIP packet whose source hits nat_src_bloom may
			    * be a reply */
#define XLB_NAT_F_SNAT 0x2 /* fullnat VIPs exist: one whose destination hits snat_dst_bloom and
			    * whose destination port is in [nat_port_min, nat_port_max] may be a reply */

/* Filter bit of an endpoint (nat: backend address + port; fullnat: SNAT address, port 0): the
 * agent sets it, the data plane tests it; the same inline in both compilers. addr32 = the
 * address's last 4 bytes as stored (IPv4: the address), port in network order as stored. */
static inline __u32 xlb_nat_bloom_bit(__u32 addr32, __u16 port_be)
{
	__u32 h = (addr32 ^ ((__u32)port_be << 16) ^ port_be) * 0x9e3779b1u;

	return h >> 24; /* 0..255 */
}

/* IPv4 connection key: the tuple as the packet arrives (network order), the family implied. */
struct xlb_nat4_key {
	__be32 src;
	__be32 dst;
	__be16 sport;
	__be16 dport;
	__u8 proto;  /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 pad[3]; /* zero */
};
XLB_ABI_ASSERT(sizeof(struct xlb_nat4_key) == 16, "xlb_nat4_key layout");

/* The first 56 bytes of both value layouts: what the per-packet path reads and writes. */
struct xlb_nat_head {
	__be16 new_sport;    /* the rewritten ports (network order) */
	__be16 new_dport;
	__u16 csum_l3;       /* one's-complement sum (folded) to add to the IPv4 header checksum (~old +
			      * new of the addresses; 0 for IPv6) */
	__u16 csum_l4;       /* to add to the TCP/UDP checksum (addresses and ports), folded */
	__u32 backend_id;    /* the connection's backend membership */
	__u32 backend_gen;   /* xlb_backend.gen when created: a mismatch means the backend is gone */
	__u32 vip_id;
	__u8 dir;            /* XLB_NAT_DIR_* */
	__u8 mode;           /* XLB_FWD_NAT / XLB_FWD_FULLNAT */
	__u8 state;          /* XLB_NAT_S_*, this direction only */
	__u8 pad;
	__u64 last_seen_ns;  /* bpf_ktime_get_coarse_ns(), refreshed at most once a second */
	__u64 created_ns;    /* bpf_ktime_get_coarse_ns() when the pair was created */
	__u8 l2[12];         /* REV: destination MAC then source MAC for the reply (learned from the
			      * client's first packet: its source and destination MACs); FWD: zero */
	__u32 ifindex;       /* REV: the interface the client's first packet came in on; FWD: 0 */
};
XLB_ABI_ASSERT(sizeof(struct xlb_nat_head) == 56, "xlb_nat_head layout");

struct xlb_nat4_value {
	struct xlb_nat_head h;
	__be32 new_src; /* rewritten source (FWD nat: the client's own; FWD fullnat: SNAT address;
			 * REV: the VIP) */
	__be32 new_dst; /* rewritten destination (FWD: backend; REV: the client) */
};
XLB_ABI_ASSERT(sizeof(struct xlb_nat4_value) == 64, "xlb_nat4_value layout");

struct xlb_nat6_value {
	struct xlb_nat_head h;
	__u8 new_src[16];
	__u8 new_dst[16];
};
XLB_ABI_ASSERT(sizeof(struct xlb_nat6_value) == 88, "xlb_nat6_value layout");

/* The wide form of one entry of either family: what the agent's modules read and write
 * (Dataplane::forEachNat, lookupNat, tests), converted from/to the maps' layouts by
 * dataplane/nat_layout.h with the key as xlb_flow_key. Not a map value since ABI 5; ABI 4's xlb_nat
 * held exactly this (the migration reads it as such). Fields as in xlb_nat_head; addresses as 16
 * bytes (IPv4 in the first 4); csum_l3/l4 hold the same folded 16-bit sums. */
struct xlb_nat_value {
	__u8 new_src[16];
	__u8 new_dst[16];
	__be16 new_sport;
	__be16 new_dport;
	__u32 csum_l3;
	__u32 csum_l4;
	__u32 backend_id;
	__u32 backend_gen;
	__u32 vip_id;
	__u8 dir;
	__u8 mode;
	__u8 state;
	__u8 pad;
	__u64 last_seen_ns;
	__u64 created_ns;
	__u8 l2[12];
	__u32 ifindex;
};
XLB_ABI_ASSERT(sizeof(struct xlb_nat_value) == 96, "xlb_nat_value layout");

struct xlb_be_nat {
	__be16 port; /* the backend's port, network order; the VIP's port when the config says 0 */
	__u16 pad;
};
XLB_ABI_ASSERT(sizeof(struct xlb_be_nat) == 4, "xlb_be_nat layout");

struct xlb_snat {
	__u8 addrs4[XLB_SNAT_MAX_ADDRS][4];  /* IPv4 pool addresses, network order */
	__u8 addrs6[XLB_SNAT_MAX_ADDRS][16]; /* IPv6 pool addresses */
	__u8 nr4;                            /* used entries of addrs4 */
	__u8 nr6;
	__u16 port_min;                      /* allocation range, host order, inclusive */
	__u16 port_max;
	__u16 pad;
};
XLB_ABI_ASSERT(sizeof(struct xlb_snat) == 168, "xlb_snat layout");

struct xlb_nat_ep {
	__u8 addr[16];
	__be16 port;  /* network order; 0 for a SNAT address */
	__u8 proto;   /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 family;
};
XLB_ABI_ASSERT(sizeof(struct xlb_nat_ep) == 20, "xlb_nat_ep layout");
