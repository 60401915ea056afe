// SPDX-License-Identifier: Apache-2.0
// What every BPF test suite sets up the same way: the test bed or a skip (exit 77), the real
// balancer loaded with private (unpinned) maps, the map records of backends and VIPs built from
// address strings, and the counters. The suites differ only in the VIPs and backends they write.
#pragma once

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "dataplane/bpf_dataplane.h"
#include "packet_builder.h"
#include "testbed.h"

namespace xlb::test {

// A private bpffs pin directory for tests that pin (dir: BpfOptions::pin_dir; maps: where this ABI's
// maps are pinned), removed with everything in it when the test ends, failed or not.
struct ScopedPinDir {
  explicit ScopedPinDir(const std::string& tag)
      : dir("/sys/fs/bpf/xlbt" + std::to_string(getpid()) + "-" + tag),
        maps(dir + "/v" + std::to_string(XLB_ABI_VERSION)) {}
  ~ScopedPinDir() { std::filesystem::remove_all(dir); }
  ScopedPinDir(const ScopedPinDir&) = delete;
  ScopedPinDir& operator=(const ScopedPinDir&) = delete;
  const std::string dir;
  const std::string maps;
};

// Ends the suite as skipped (ctest SKIP_RETURN_CODE 77), saying why.
[[noreturn]] inline void skipSuite(const char* suite, const std::string& why) {
  fprintf(stderr, "SKIPPED: xlb %s: %s\n", suite, why.c_str());
  std::exit(77);
}

// The private test bed, or a skip. With one_cpu, the process stays on the CPU it runs on: every
// test run executes on the calling CPU, so round_robin has one per-CPU position to predict.
inline void setUpOrSkip(const char* suite, bool one_cpu = false) {
  std::string why = setUpTestbed();
  if (!why.empty()) skipSuite(suite, why);
  if (!one_cpu) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(sched_getcpu(), &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) skipSuite(suite, "sched_setaffinity failed");
}

// The balancer with maps of its own (nothing pinned). Called after setUpOrSkip, so the test bed can
// load BPF programs: a balancer the verifier refuses is a defect and fails the suite (exit 1),
// never a skip.
inline std::unique_ptr<dataplane::BpfDataplane> loadOrSkip(const char* suite,
                                                           dataplane::BpfOptions opts) {
  opts.pin_dir = "";
  auto dp = dataplane::BpfDataplane::create(opts);
  if (!dp.ok()) {
    fprintf(stderr, "FAILED: xlb %s: cannot load the balancer: %s\n", suite,
            std::string(dp.status().message()).c_str());
    std::exit(1);
  }
  return std::move(*dp);
}
inline std::unique_ptr<dataplane::BpfDataplane> loadOrSkip(const char* suite, uint32_t flows) {
  dataplane::BpfOptions opts;
  opts.flow_table_size = flows;
  return loadOrSkip(suite, opts);
}

// An ACTIVE backend record (weight 0 reads as 1 where weights matter).
inline xlb_backend makeBackend(const std::string& addr, uint32_t vip_id, uint32_t gen = 1,
                               uint16_t weight = 0, bool active = true) {
  xlb_backend b{};
  bool v6 = false;
  auto a = parseAddr(addr, &v6);
  memcpy(b.addr, a.data(), 16);
  b.family = v6 ? XLB_AF_INET6 : XLB_AF_INET;
  b.flags = active ? XLB_BE_F_ACTIVE : 0;
  b.weight = weight;
  b.gen = gen;
  b.vip_id = vip_id;
  return b;
}

inline xlb_vip_key makeVipKey(const std::string& addr, uint16_t port, uint8_t proto) {
  xlb_vip_key k{};
  bool v6 = false;
  auto a = parseAddr(addr, &v6);
  memcpy(k.addr, a.data(), 16);
  k.port = htons(port);
  k.proto = proto;
  k.family = v6 ? XLB_AF_INET6 : XLB_AF_INET;
  return k;
}

inline xlb_addr_key makeAddrKey(const std::string& addr) {
  xlb_addr_key k{};
  bool v6 = false;
  auto a = parseAddr(addr, &v6);
  memcpy(k.addr, a.data(), 16);
  k.family = v6 ? XLB_AF_INET6 : XLB_AF_INET;
  return k;
}

// The settings the expected ipip frames assume: outer IPv4 sources in 172.16.0.0/16, IPv6 in
// fd00:7862::/96 (host bits = the flow hash).
inline xlb_settings testSettings(uint32_t nr_wildcard_vips = 0) {
  xlb_settings s{};
  const uint8_t v4[4] = {172, 16, 0, 0}, v4m[4] = {0, 0, 255, 255};
  memcpy(s.encap_v4_prefix, v4, 4);
  memcpy(&s.encap_v4_host_mask, v4m, 4);
  auto v6 = parseAddr("fd00:7862::");
  memcpy(s.encap_v6_prefix, v6.data(), 16);
  s.encap_v6_host_mask = 0xffffffff;
  s.nr_wildcard_vips = nr_wildcard_vips;
  return s;
}

// Tagged frames on `vlan` are balanced (xlb_vlans, as the agent's --vlan-ids writes it).
inline void acceptVlan(dataplane::BpfDataplane& dp, uint32_t vlan) {
  uint32_t one = 1;
  ASSERT_EQ(bpf_map_update_elem(dp.mapFd("xlb_vlans"), &vlan, &one, BPF_ANY), 0);
}

inline dataplane::CounterSnapshot readCounters(dataplane::BpfDataplane& dp) {
  auto s = dp.readCounters();
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : dataplane::CounterSnapshot{};
}

// `frame` with its destination and source MAC replaced (what a DSR rewrite produces).
inline Bytes withMacs(Bytes frame, const std::string& dst, const std::string& src) {
  Mac d = parseMac(dst), s = parseMac(src);
  memcpy(frame.data(), d.data(), 6);
  memcpy(frame.data() + 6, s.data(), 6);
  return frame;
}

}  // namespace xlb::test
