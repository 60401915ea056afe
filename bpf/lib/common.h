/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Includes, protocol constants and small utilities shared by every xlb BPF program. */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xlb/abi.h"

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

#define XLB_NSEC_PER_SEC 1000000000ULL

#define XLB_IP_MF 0x2000
#define XLB_IP_OFFSET 0x1FFF
#define XLB_IP_DF 0x4000

/* IPv6 extension headers that may precede the transport header (RFC 8200 §4, RFC 6564 list). */
#define XLB_NEXTHDR_HOP 0
#define XLB_NEXTHDR_ROUTING 43
#define XLB_NEXTHDR_FRAGMENT 44
#define XLB_NEXTHDR_AUTH 51
#define XLB_NEXTHDR_DEST 60
#define XLB_NEXTHDR_MOBILITY 135
#define XLB_NEXTHDR_HIP 139
#define XLB_NEXTHDR_SHIM6 140

#define XLB_TCP_FLAG_FIN 0x01
#define XLB_TCP_FLAG_SYN 0x02
#define XLB_TCP_FLAG_RST 0x04
#define XLB_TCP_FLAG_ACK 0x10

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

/* 802.1Q / 802.1ad tag as it sits in the frame after the MAC addresses. */
struct xlb_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

static __always_inline int xlb_is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/* Address families as bpf_fib_lookup wants them (AF_INET / AF_INET6 from sys/socket.h). */
#define XLB_SYS_AF_INET 2
#define XLB_SYS_AF_INET6 10

/* Copies the 12 bytes of destination + source MAC (3 words). */
static __always_inline void xlb_copy_macs(void *dst, const void *src)
{
	__u32 *d = dst;
	const __u32 *s = src;

	d[0] = s[0];
	d[1] = s[1];
	d[2] = s[2];
}
