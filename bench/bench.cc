// SPDX-License-Identifier: Apache-2.0
// xlb-bench's runner (BPF_PROG_TEST_RUN through the restore wrapper) and frame/config helpers.
#include "bench.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "testbed.h"
#include "xlb_bench_wrapper.skel.h"

namespace xlb::bench {

using xlb::test::PacketBuilder;

namespace {

struct BenchCfg {  // struct xlb_bench_cfg
  uint32_t sport_off;
  uint32_t bump;
  uint32_t nr_ports;
  uint32_t saddr_off;
  uint8_t pkt[kPktLen];
};

}  // namespace

void die(const std::string& msg) {
  std::cerr << "xlb-bench: " << msg << "\n";
  std::exit(1);
}

void check(const absl::Status& st, const char* what) {
  if (!st.ok()) die(std::string(what) + ": " + std::string(st.message()));
}

std::string num(const char* f, double v) {
  char buf[64];
  snprintf(buf, sizeof(buf), f, v);
  return buf;
}

xlb_vip_key vipKey(const std::string& addr, uint16_t port, uint8_t proto) {
  xlb_vip_key k{};
  bool v6 = false;
  auto a = xlb::test::parseAddr(addr, &v6);
  memcpy(k.addr, a.data(), 16);
  k.port = htons(port);
  k.proto = proto;
  k.family = v6 ? XLB_AF_INET6 : XLB_AF_INET;
  return k;
}

xlb_backend backend(const std::string& addr, uint32_t vip) {
  xlb_backend b{};
  bool v6 = false;
  auto a = xlb::test::parseAddr(addr, &v6);
  memcpy(b.addr, a.data(), 16);
  b.family = v6 ? XLB_AF_INET6 : XLB_AF_INET;
  b.flags = XLB_BE_F_ACTIVE;
  b.gen = 1;
  b.vip_id = vip;
  return b;
}

Bytes v4(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint8_t proto,
         uint8_t flags) {
  PacketBuilder p;
  p.eth(xlb::test::kLbMac, xlb::test::kClientMac).ipv4(src, dst);
  if (proto == kTcp)
    p.tcp(sport, dport, flags);
  else
    p.udp(sport, dport);
  Bytes b = p.build();
  b.resize(kPktLen, 0);
  return b;
}

Bytes v6(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint8_t flags) {
  Bytes b = PacketBuilder()
                .eth(xlb::test::kLbMac, xlb::test::kClientMac)
                .ipv6(src, dst)
                .tcp(sport, dport, flags)
                .build();
  b.resize(kPktLen, 0);
  return b;
}

Result Bench::run(int target_fd, const Bytes& frame, uint32_t want_action, bool bump,
                  uint32_t sport_off, uint32_t repeat, Bytes* first_out, uint32_t saddr_off) {
  BenchCfg cfg{};
  if (frame.size() > kPktLen) die("bench frame too long");
  memcpy(cfg.pkt, frame.data(), frame.size());
  cfg.bump = bump;
  cfg.sport_off = sport_off;
  cfg.saddr_off = saddr_off;
  uint32_t zero = 0;
  if (bpf_map_update_elem(bpf_map__fd(w_->maps.xlb_bench_cfg), &zero, &cfg, BPF_ANY))
    die("write bench packet");
  if (bpf_map_update_elem(bpf_map__fd(w_->maps.xlb_bench_progs), &zero, &target_fd, BPF_ANY))
    die("install program under test");
  Bytes in(cfg.pkt, cfg.pkt + kPktLen);
  if (first_out) {
    auto r =
        xlb::test::runXdp(bpf_program__fd(w_->progs.xlb_bench_wrapper), in, xlb::test::lbIfindex());
    if (r.err || r.ret != want_action) die("single run: unexpected action" + dropsSeen());
    *first_out = r.out;
  }
  std::vector<double> ns;
  for (uint32_t i = 0; i < rounds_; ++i) {
    Bytes out(kPktLen + 256);
    xdp_md ctx{};
    ctx.data_end = kPktLen;
    ctx.ingress_ifindex = static_cast<uint32_t>(xlb::test::lbIfindex());
    LIBBPF_OPTS(bpf_test_run_opts, o);
    o.data_in = in.data();
    o.data_size_in = kPktLen;
    o.data_out = out.data();
    o.data_size_out = static_cast<uint32_t>(out.size());
    o.ctx_in = &ctx;
    o.ctx_size_in = sizeof(ctx);
    o.repeat = repeat ? repeat : repeat_;
    int err = bpf_prog_test_run_opts(bpf_program__fd(w_->progs.xlb_bench_wrapper), &o);
    if (err) die("bpf_prog_test_run_opts failed: " + std::to_string(err));
    if (o.retval != want_action)
      die("unexpected action " + std::to_string(o.retval) + " (want " +
          std::to_string(want_action) + ")" + dropsSeen());
    ns.push_back(static_cast<double>(o.duration));
  }
  std::sort(ns.begin(), ns.end());
  return {ns[ns.size() / 2], ns.front()};
}

void Bench::setCounter(uint32_t value) {
  const int n = libbpf_num_possible_cpus();
  if (n <= 0) die("libbpf_num_possible_cpus failed");
  std::vector<uint64_t> vals(static_cast<size_t>(n), value);  // per-CPU values are 8-byte slots
  uint32_t zero = 0;
  if (bpf_map_update_elem(bpf_map__fd(w_->maps.xlb_bench_ctr), &zero, vals.data(), BPF_ANY))
    die("set bench counter");
}

std::string Bench::dropsSeen() const {
  auto c = dp_.readCounters();
  if (!c.ok()) return "";
  std::string s = "; drops by reason index:";
  for (size_t i = 0; i < c->drops.size(); ++i) {
    if (!c->drops[i]) continue;
    // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on " " + to_string().
    s += ' ';
    s += std::to_string(i);
    s += '=';
    s += std::to_string(c->drops[i]);
  }
  return s;
}

}  // namespace xlb::bench
