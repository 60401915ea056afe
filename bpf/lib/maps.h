/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The balancer's maps, exactly as listed in xlb/abi.h; the agent pins each one by name. */
#pragma once

#include "lib/common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_VIPS);
	__type(key, struct xlb_vip_key);
	__type(value, struct xlb_vip_value);
} xlb_vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_VIPS);
	__type(key, struct xlb_addr_key);
	__type(value, struct xlb_addr_value);
} xlb_vip_addrs SEC(".maps");

/* Inner selection table template. BPF_F_INNER_MAP lets every VIP's table have its own size (M + 1);
 * the price is that lookups keep their runtime bounds check, which we need anyway. BPF_F_MMAPABLE
 * lets the agent fill a new table with one memcpy instead of one batched write per slot (10,000
 * tables of 1,021 slots: ~0.05 s instead of ~2 s); the program reads it like any array. */
struct xlb_table_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	__type(key, __u32);
	/* struct xlb_table_slot (xlb/abi.h). Declared by size: clang emits a struct reached only
	 * through an inner-map template as a forward declaration in BTF, which libbpf cannot size. */
	__type(value, __u64);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XLB_MAX_VIPS);
	__type(key, __u32);
	__array(values, struct xlb_table_inner);
} xlb_tables SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_backend);
} xlb_backends SEC(".maps");

/* max_entries is overwritten by the agent (bpf_map__set_max_entries) before load. A common LRU (not
 * BPF_F_NO_COMMON_LRU): per-CPU lists measured no faster here, and they would split the capacity
 * per CPU, which the documented --flow-table-size semantics do not expect. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLB_DEFAULT_FLOWS);
	__type(key, struct xlb_flow_key);
	__type(value, struct xlb_flow_value);
} xlb_flows SEC(".maps");

/* Flood protection (lib/flow.h): a copy of every flow that proved alive. A plain HASH, so new
 * flows never evict it; when it is full, promotions fail (XLB_STAT_FLOW_PROTECT_FULL) and the agent
 * removes idle entries by timeout. Preallocated like xlb_flows; the agent sets max_entries. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_DEFAULT_FLOWS);
	__type(key, struct xlb_flow_key);
	__type(value, struct xlb_flow_value);
} xlb_flows_prot SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_nexthop);
} xlb_nh_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} xlb_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} xlb_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct xlb_counters);
} xlb_vip_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_counters);
} xlb_be_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_settings);
} xlb_settings SEC(".maps");

/* Round-robin position per VIP, per CPU: no shared cache line bounces between CPUs on new flows. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_VIPS);
	__type(key, __u32);
	__type(value, __u32);
} xlb_rr SEC(".maps");

/* Open flows per backend (rules in xlb/abi.h). Shared with atomic adds because least_conn compares
 * the global counts; it is touched only when a flow opens, closes or moves, never on an ordinary
 * established packet, and lives apart from the flow entries' cache lines. BPF_F_MMAPABLE: the agent
 * reads every count through a read-only mapping (one copy) instead of a batched syscall read
 * (200,000 backends: ~1.6 MB copied element by element, tens of ms, on every status read). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, __u64);
} xlb_be_conns SEC(".maps");

/* VLAN ids whose tagged frames may be balanced (written by the agent from --vlan-ids / the config's
 * `vlan_ids`); all zero by default: only untagged frames reach a VIP. Looked up only for a tagged
 * frame that matched a VIP. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_VLAN_ID + 1);
	__type(key, __u32);
	__type(value, __u32);
} xlb_vlans SEC(".maps");

/* NAT connections (lib/nat.h, rules and layout in xlb/abi.h "NAT"), one map per address family:
 * preallocated HASHes, not LRUs, so a live connection is never evicted (nor one half of it); a
 * full table refuses new connections (XLB_DROP_NAT_FULL) and the agent expires idle pairs.
 * max_entries set by the agent (the same for both). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_DEFAULT_NAT_ENTRIES);
	__type(key, struct xlb_nat4_key);
	__type(value, struct xlb_nat4_value);
} xlb_nat4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_DEFAULT_NAT_ENTRIES);
	__type(key, struct xlb_flow_key);
	__type(value, struct xlb_nat6_value);
} xlb_nat6 SEC(".maps");

/* Backend port per membership; read only when a NAT connection is created. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_be_nat);
} xlb_be_nat SEC(".maps");

/* SNAT pool per VIP (fullnat); read only when a connection is created. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct xlb_snat);
} xlb_snat SEC(".maps");

/* Exact set behind the settings' NAT reply filter: nat backend endpoints, SNAT addresses (port 0).
 * Read only when a packet passed the filter and missed xlb_nat4/xlb_nat6. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_BACKENDS + XLB_MAX_VIPS);
	__type(key, struct xlb_nat_ep);
	__type(value, __u32);
} xlb_nat_eps SEC(".maps");

/* The value xlb_nat_create builds (REV, then rewritten into FWD) and forwards with: a per-CPU
 * slot, not the stack, so create + next-hop refresh fit the 512-byte combined stack. Scratch only:
 * nothing reads it between packets. The IPv6 layout, the larger: IPv4 uses its first 64 bytes. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_nat6_value);
} xlb_nat_scratch SEC(".maps");

/* fullnat port allocation failures per backend membership. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, __u64);
} xlb_nat_fail SEC(".maps");
