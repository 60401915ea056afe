// SPDX-License-Identifier: Apache-2.0
// Test bed implementation: netns + veth + neighbours via iproute2, test-run wrappers.
#include "testbed.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace xlb::test {
namespace {

bool sh(const std::string& cmd) {
  std::string full = cmd + " >/dev/null 2>&1";
  return std::system(full.c_str()) == 0;
}

}  // namespace

std::string setUpTestbed() {
  if (geteuid() != 0) return "needs root (BPF_PROG_TEST_RUN, network namespaces)";
  if (unshare(CLONE_NEWNET) != 0)
    return std::string("unshare(CLONE_NEWNET) failed: ") + strerror(errno);
  const char* cmds[] = {
      "ip link set lo up",
      "ip link add lb0 address 02:00:00:00:00:01 type veth peer name peer0",
      "ip link add lb1 address 02:00:00:00:00:03 type veth peer name peer1",
      "ip link set lb0 up", "ip link set peer0 up", "ip link set lb1 up", "ip link set peer1 up",
      "ip addr add 10.0.0.1/24 dev lb0", "ip -6 addr add fd00::1/64 dev lb0 nodad",
      "ip addr add 10.0.1.1/24 dev lb1",
      "ip neigh replace 10.0.0.2 lladdr 02:00:00:00:00:b1 nud permanent dev lb0",
      "ip neigh replace 10.0.0.3 lladdr 02:00:00:00:00:b2 nud permanent dev lb0",
      "ip -6 neigh replace fd00::2 lladdr 02:00:00:00:00:b1 nud permanent dev lb0",
      "ip -6 neigh replace fd00::3 lladdr 02:00:00:00:00:b2 nud permanent dev lb0",
      "ip neigh replace 10.0.1.2 lladdr 02:00:00:00:00:c1 nud permanent dev lb1",
      "ip route add unreachable 10.0.2.0/24",
      "sysctl -qw net.ipv4.ip_forward=1", "sysctl -qw net.ipv6.conf.all.forwarding=1",
  };
  for (const char* c : cmds) {
    if (!sh(c)) return std::string("test bed command failed: ") + c;
  }
  return "";
}

int lbIfindex() { return static_cast<int>(if_nametoindex("lb0")); }
int lb1Ifindex() { return static_cast<int>(if_nametoindex("lb1")); }

RunResult runXdp(int prog_fd, const Bytes& in, int ingress_ifindex) {
  RunResult r;
  r.out.resize(in.size() + 512);
  xdp_md ctx{};
  ctx.data_end = static_cast<uint32_t>(in.size());
  ctx.ingress_ifindex = static_cast<uint32_t>(ingress_ifindex);
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  opts.data_in = in.data();
  opts.data_size_in = static_cast<uint32_t>(in.size());
  opts.data_out = r.out.data();
  opts.data_size_out = static_cast<uint32_t>(r.out.size());
  opts.ctx_in = &ctx;
  opts.ctx_size_in = sizeof(ctx);
  opts.repeat = 1;
  r.err = bpf_prog_test_run_opts(prog_fd, &opts);
  r.ret = opts.retval;
  r.out.resize(r.err ? 0 : opts.data_size_out);
  return r;
}

RunResult runTc(int prog_fd, const Bytes& in) {
  RunResult r;
  r.out.resize(in.size() + 512);
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  opts.data_in = in.data();
  opts.data_size_in = static_cast<uint32_t>(in.size());
  opts.data_out = r.out.data();
  opts.data_size_out = static_cast<uint32_t>(r.out.size());
  opts.repeat = 1;
  r.err = bpf_prog_test_run_opts(prog_fd, &opts);
  r.ret = opts.retval;
  r.out.resize(r.err ? 0 : opts.data_size_out);
  return r;
}

xlb_flow_key flowKey(const std::string& src, const std::string& dst, uint16_t sport, uint16_t dport,
                     uint8_t proto) {
  xlb_flow_key k{};
  bool v6 = false;
  auto s = parseAddr(src, &v6);
  auto d = parseAddr(dst);
  memcpy(k.src, s.data(), 16);
  memcpy(k.dst, d.data(), 16);
  k.sport = htons(sport);
  k.dport = htons(dport);
  k.proto = proto;
  k.family = v6 ? XLB_AF_INET6 : XLB_AF_INET;
  return k;
}

}  // namespace xlb::test
