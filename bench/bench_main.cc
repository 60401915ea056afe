// SPDX-License-Identifier: Apache-2.0
// xlb-bench: per-packet cost of the XDP balancer's paths under BPF_PROG_TEST_RUN (through a restore
// wrapper, against a trivial-program floor) and Maglev table build times; writes BENCHMARKS.md.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "dataplane/bpf_dataplane.h"
#include "maglev/maglev.h"
#include "packet_builder.h"
#include "spdlog/spdlog.h"
#include "testbed.h"
#include "xlb_bench_wrapper.skel.h"

namespace {

using xlb::dataplane::BpfDataplane;
using xlb::test::Bytes;
using xlb::test::PacketBuilder;

constexpr size_t kPktLen = 128;  // XLB_BENCH_PKT_LEN in wrapper.bpf.c
constexpr uint8_t kTcp = 6, kUdp = 17, kSyn = 0x02, kAck = 0x10;
constexpr const char* kLbMac = xlb::test::kLbMac;
constexpr const char* kClientMac = xlb::test::kClientMac;

struct BenchCfg {  // struct xlb_bench_cfg
  uint32_t sport_off;
  uint32_t bump;
  uint32_t nr_ports;
  uint32_t saddr_off;
  uint8_t pkt[kPktLen];
};

struct Result {
  double median = 0, best = 0;
};

struct Row {
  std::string path, mode;
  Result ns;
  std::string north_star;
  std::string note;
};

[[noreturn]] void die(const std::string& msg) {
  std::cerr << "xlb-bench: " << msg << "\n";
  std::exit(1);
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

void check(const absl::Status& st, const char* what) {
  if (!st.ok()) die(std::string(what) + ": " + std::string(st.message()));
}

class Bench {
 public:
  Bench(BpfDataplane& dp, xlb_bench_wrapper* w, uint32_t rounds, uint32_t repeat)
      : dp_(dp), w_(w), rounds_(rounds), repeat_(repeat) {}

  // Median ns/packet of `rounds` test runs of `repeat` packets; verifies the action every round.
  Result run(int target_fd, const Bytes& frame, uint32_t want_action, bool bump, uint32_t sport_off,
             uint32_t repeat = 0, Bytes* first_out = nullptr, uint32_t saddr_off = 0) {
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
      auto r = xlb::test::runXdp(bpf_program__fd(w_->progs.xlb_bench_wrapper), in,
                                 xlb::test::lbIfindex());
      if (r.err || r.ret != want_action) die("single run: unexpected action");
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

 private:
  // The drop reasons counted so far, to tell why a run dropped what it should have forwarded.
  std::string dropsSeen() const {
    auto c = dp_.readCounters();
    if (!c.ok()) return "";
    std::string s = "; drops by reason index:";
    for (size_t i = 0; i < c->drops.size(); ++i) {
      if (c->drops[i]) s += " " + std::to_string(i) + "=" + std::to_string(c->drops[i]);
    }
    return s;
  }

  BpfDataplane& dp_;
  xlb_bench_wrapper* w_;
  uint32_t rounds_, repeat_;

 public:
  xlb_bench_wrapper* wrapper() const { return w_; }
};

Bytes v4(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint8_t proto,
         uint8_t flags) {
  PacketBuilder p;
  p.eth(kLbMac, kClientMac).ipv4(src, dst);
  if (proto == kTcp)
    p.tcp(sport, dport, flags);
  else
    p.udp(sport, dport);
  Bytes b = p.build();
  b.resize(kPktLen, 0);
  return b;
}

Bytes v6(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint8_t flags) {
  Bytes b = PacketBuilder().eth(kLbMac, kClientMac).ipv6(src, dst).tcp(sport, dport, flags).build();
  b.resize(kPktLen, 0);
  return b;
}

std::string num(const char* f, double v) {
  char buf[64];
  snprintf(buf, sizeof(buf), f, v);
  return buf;
}

std::string firstLine(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      auto pos = line.find(':');
      return pos == std::string::npos ? line : line.substr(pos + 2);
    }
  }
  return "unknown";
}

// Fills the flow table with 16 x 65536 = 1,048,576 live flows (198.18.0.1..16, every source port)
// toward vip 10.100.0.10:80, all on backend 1, last seen "now" (no refresh writes while measuring).
void fillFlows(BpfDataplane& dp) {
  const uint32_t n = 16 * 65536;
  std::vector<xlb_flow_key> keys(n);
  std::vector<xlb_flow_value> vals(n);
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  uint64_t now = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
  auto dst = xlb::test::parseAddr("10.100.0.10");
  for (uint32_t i = 0; i < n; ++i) {
    xlb_flow_key& k = keys[i];
    uint8_t src[4] = {198, 18, 0, static_cast<uint8_t>(1 + (i >> 16))};
    memcpy(k.src, src, 4);
    memcpy(k.dst, dst.data(), 4);
    k.sport = htons(static_cast<uint16_t>(i & 0xffff));
    k.dport = htons(80);
    k.proto = kTcp;
    k.family = XLB_AF_INET;
    // Established: flags PROTECTED (their copies are left out; the fast path never reads them).
    vals[i] = {1, 1, now, XLB_FLOW_F_PROTECTED, 0};
  }
  uint32_t count = n;
  int err = bpf_map_update_batch(dp.mapFd("xlb_flows"), keys.data(), vals.data(), &count, nullptr);
  if (err) die("fill flow table: " + std::to_string(err));
}


// ---- NAT (issue 11, bpf/lib/nat.h) --------------------------------------------------------------

void natBloom(__u64* bloom, const char* addr, uint16_t port) {
  bool v6 = false;
  auto a = xlb::test::parseAddr(addr, &v6);
  uint32_t a32;
  memcpy(&a32, a.data() + (v6 ? 12 : 0), 4);
  uint32_t bit = xlb_nat_bloom_bit(a32, htons(port));
  bloom[bit / 64] |= 1ull << (bit % 64);
}

void natEp(BpfDataplane& dp, xlb_settings& s, const char* addr, uint16_t port) {
  xlb_nat_ep ep{};
  memcpy(ep.addr, xlb::test::parseAddr(addr).data(), 16);
  ep.port = htons(port);
  ep.proto = kTcp;
  ep.family = XLB_AF_INET;
  uint32_t one = 1;
  if (bpf_map_update_elem(dp.mapFd("xlb_nat_eps"), &ep, &one, BPF_ANY)) die("nat endpoint");
  natBloom(port ? s.nat_src_bloom : s.snat_dst_bloom, addr, port);
}

void clearNat(BpfDataplane& dp) {
  const int fd = dp.mapFd("xlb_nat");
  std::vector<xlb_flow_key> keys;
  xlb_flow_key k{}, next{};
  const xlb_flow_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    keys.push_back(next);
    k = next;
    prev = &k;
  }
  for (auto& key : keys) bpf_map_delete_elem(fd, &key);
}

// Fills xlb_nat with `n` live nat connections (two entries each) 198.19.x.y:port -> 10.100.0.40:80
// on backend 15 (10.0.0.2:8080), established and seen now (no refresh writes while measuring).
// Checksum deltas are left 0: the cost does not depend on them.
void fillNat(BpfDataplane& dp, uint32_t n) {
  std::vector<xlb_flow_key> keys;
  std::vector<xlb_nat_value> vals;
  keys.reserve(2 * n);
  vals.reserve(2 * n);
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  uint64_t now = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
  auto vip = xlb::test::parseAddr("10.100.0.40"), be = xlb::test::parseAddr("10.0.0.2");
  for (uint32_t i = 0; i < n; ++i) {
    xlb_flow_key f{}, r{};
    uint8_t src[4] = {198, 19, static_cast<uint8_t>(i >> 16), 1};
    memcpy(f.src, src, 4);
    memcpy(f.dst, vip.data(), 4);
    f.sport = htons(static_cast<uint16_t>(i & 0xffff));
    f.dport = htons(80);
    f.proto = kTcp;
    f.family = XLB_AF_INET;
    memcpy(r.src, be.data(), 4);
    memcpy(r.dst, src, 4);
    r.sport = htons(8080);
    r.dport = f.sport;
    r.proto = kTcp;
    r.family = XLB_AF_INET;
    xlb_nat_value fv{}, rv{};
    memcpy(fv.new_src, src, 4);
    memcpy(fv.new_dst, be.data(), 4);
    fv.new_sport = f.sport;
    fv.new_dport = htons(8080);
    memcpy(rv.new_src, vip.data(), 4);
    memcpy(rv.new_dst, src, 4);
    rv.new_sport = htons(80);
    rv.new_dport = f.sport;
    for (auto* v : {&fv, &rv}) {
      v->backend_id = 15;
      v->backend_gen = 1;
      v->vip_id = 7;
      v->mode = XLB_FWD_NAT;
      v->state = XLB_NAT_S_SEEN;
      v->last_seen_ns = now;
      v->created_ns = now;
    }
    fv.dir = XLB_NAT_DIR_FWD;
    rv.dir = XLB_NAT_DIR_REV;
    auto c = xlb::test::parseMac(kClientMac), l = xlb::test::parseMac(kLbMac);
    memcpy(rv.l2, c.data(), 6);
    memcpy(rv.l2 + 6, l.data(), 6);
    rv.ifindex = static_cast<uint32_t>(xlb::test::lbIfindex());
    keys.push_back(f);
    vals.push_back(fv);
    keys.push_back(r);
    vals.push_back(rv);
  }
  uint32_t count = static_cast<uint32_t>(keys.size());
  if (bpf_map_update_batch(dp.mapFd("xlb_nat"), keys.data(), vals.data(), &count, nullptr))
    die("fill nat table: " + std::to_string(count) + " of " + std::to_string(keys.size()));
}

// The NAT rows: hits both ways in both modes, a fullnat new connection (port allocation, the
// table cleared between rounds so that each round starts empty), a non-VIP packet with the NAT
// filter configured, and (unless --skip-1m) the hit rows with the table filled.
void natRows(BpfDataplane& dp, Bench& bench, std::vector<Row>& rows, xlb_settings s,
             uint32_t rounds, bool fill, const Result& dsr_est, const Result& dsr_syn,
             const Result& pass_plain) {
  const int bal = dp.programFd();
  std::vector<uint32_t> table(65537);
  const uint16_t bport = 8080;
  struct V {
    uint32_t id;
    const char* addr;
    uint8_t mode;
  } vips[] = {{7, "10.100.0.40", XLB_FWD_NAT}, {8, "10.100.0.41", XLB_FWD_FULLNAT}};
  for (auto& v : vips) {
    const uint32_t b1 = 1 + 2 * v.id, b2 = 2 + 2 * v.id;
    check(dp.upsertBackend(b1, backend("10.0.0.2", v.id)), "backend");
    check(dp.upsertBackend(b2, backend("10.0.0.3", v.id)), "backend");
    xlb_be_nat bn{htons(bport), 0};
    for (uint32_t b : {b1, b2})
      if (bpf_map_update_elem(dp.mapFd("xlb_be_nat"), &b, &bn, BPF_ANY)) die("be_nat");
    for (size_t i = 0; i < table.size(); ++i) table[i] = (i & 1) ? b2 : b1;
    check(dp.setSelectionTable(v.id, table), "table");
    check(dp.upsertVip(vipKey(v.addr, 80, kTcp), {v.id, XLB_ALG_MAGLEV, v.mode, 0}), "vip");
    xlb_addr_key ak{};
    memcpy(ak.addr, xlb::test::parseAddr(v.addr).data(), 16);
    ak.family = XLB_AF_INET;
    check(dp.upsertVipAddr(ak, {1, 0}), "vip addr");
  }
  // The fullnat pool: four addresses, the default port range (61000-65535).
  xlb_snat pool{};
  const char* snat[] = {"10.200.0.1", "10.200.0.2", "10.200.0.3", "10.200.0.4"};
  for (int i = 0; i < 4; ++i) memcpy(pool.addrs4[i], xlb::test::parseAddr(snat[i]).data(), 4);
  pool.nr4 = 4;
  pool.port_min = XLB_NAT_DEFAULT_PORT_MIN;
  pool.port_max = XLB_NAT_DEFAULT_PORT_MAX;
  uint32_t vid = 8;
  if (bpf_map_update_elem(dp.mapFd("xlb_snat"), &vid, &pool, BPF_ANY)) die("snat pool");
  s.nat_flags = XLB_NAT_F_EPS | XLB_NAT_F_SNAT;
  s.nat_port_min = XLB_NAT_DEFAULT_PORT_MIN;
  s.nat_port_max = XLB_NAT_DEFAULT_PORT_MAX;
  natEp(dp, s, "10.0.0.2", bport);
  natEp(dp, s, "10.0.0.3", bport);
  for (const char* a : snat) natEp(dp, s, a, 0);
  check(dp.setSettings(s), "nat settings");

  auto ratio = [](const Result& a, const Result& b) { return num("%.2f", a.best / b.best); };
  Bytes out;
  for (auto& v : vips) {
    const bool full = v.mode == XLB_FWD_FULLNAT;
    Bytes syn = v4("192.0.2.1", v.addr, 1000, 80, kTcp, kSyn);
    auto r = xlb::test::runXdp(bal, syn, xlb::test::lbIfindex());
    if (r.err || r.ret != XDP_TX) die("nat warm-up failed");
    Result ns = bench.run(bal, v4("192.0.2.1", v.addr, 1000, 80, kTcp, kAck), XDP_TX, false, 0, 0, &out);
    if (out[5] != 0xb1 && out[5] != 0xb2) die("nat output has wrong MACs");
    if (out[14 + 16] != 10 || out[14 + 17] != 0 || out[14 + 18] != 0) die("nat: dst not a backend");
    if (full && (out[14 + 12] != 10 || out[14 + 13] != 200)) die("fullnat: src not a SNAT address");
    rows.push_back({std::string("NAT forward hit (") + (full ? "fullnat" : "nat") + ")", full ? "fullnat" : "nat",
                    ns, "<= 1.15x dsr est.",
                    "x dsr established: " + ratio(ns, dsr_est) + "; output checked: backend MAC and address"});
    if (full) continue;
    // The reply: from the backend the connection landed on, to the client.
    xlb_flow_key k = xlb::test::flowKey("192.0.2.1", v.addr, 1000, 80, kTcp);
    xlb_nat_value fv{};
    if (bpf_map_lookup_elem(dp.mapFd("xlb_nat"), &k, &fv)) die("nat entry missing");
    char be[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, fv.new_dst, be, sizeof be);
    ns = bench.run(bal, v4(be, "192.0.2.1", bport, 1000, kTcp, kAck), XDP_TX, false, 0, 0, &out);
    if (out[14 + 12] != 10 || out[14 + 13] != 100 || out[5] != 0xaa) die("nat reply: src not the VIP");
    rows.push_back({"NAT reply hit (nat)", "nat", ns, "<= 1.15x dsr est.",
                    "x dsr established: " + ratio(ns, dsr_est) + "; output checked: source VIP, client MAC"});
  }

  // New connections: source address and port carry a counter (fullnat: ports below 61000, so
  // every one is allocated from the range by hash, probing when taken). Each round starts from an
  // emptied table (deleting is not timed).
  const uint32_t per_round = 10000;
  auto newConns = [&](const char* vip) {
    Bench one(dp, bench.wrapper(), 1, per_round);
    std::vector<Result> rs;
    for (uint32_t i = 0; i < rounds; ++i) {
      clearNat(dp);
      rs.push_back(one.run(bal, v4("192.0.2.1", vip, 0, 80, kTcp, kSyn), XDP_TX, true, 34,
                           per_round, nullptr, 26));
    }
    clearNat(dp);
    std::sort(rs.begin(), rs.end(), [](const Result& a, const Result& b) { return a.best < b.best; });
    return Result{rs[rs.size() / 2].best, rs.front().best};
  };
  auto c0 = dp.readCounters();
  Result ns = newConns("10.100.0.41");
  auto c1 = dp.readCounters();
  std::string probes = "?";
  if (c0.ok() && c1.ok()) {
    const double created = static_cast<double>(c1->global[XLB_STAT_NAT_NEW] - c0->global[XLB_STAT_NAT_NEW]);
    const double tried = static_cast<double>(c1->global[XLB_STAT_NAT_PORT_PROBE] - c0->global[XLB_STAT_NAT_PORT_PROBE]);
    if (created > 0) probes = num("%.2f", tried / created);
  }
  rows.push_back({"fullnat new connection with port allocation", "fullnat", ns, "<= 1.3x dsr SYN",
                  "x dsr SYN maglev: " + ratio(ns, dsr_syn) + "; nat's two inserts + SNAT address and port " +
                      "(4 addresses, range 61000-65535), " + probes + " extra ports tried per connection; " +
                      std::to_string(per_round) + " per round into an emptied table"});
  ns = newConns("10.100.0.40");
  rows.push_back({"nat new connection", "nat", ns, "-",
                  "x dsr SYN maglev: " + ratio(ns, dsr_syn) + "; REV + FWD inserts, " +
                      std::to_string(per_round) + " per round into an emptied table"});

  ns = bench.run(bal, v4("192.0.2.1", "10.100.0.99", 1000, 80, kTcp, kAck), XDP_PASS, false, 0);
  rows.push_back({"non-VIP pass with NAT VIPs and pools configured", "pass", ns, "<= 1.1x without",
                  "x non-VIP without NAT: " + ratio(ns, pass_plain) + "; filter: two bloom bits"});

  if (!fill) return;
  const uint32_t conns = 3 * 65536;
  fillNat(dp, conns);
  ns = bench.run(bal, v4("198.19.0.1", "10.100.0.40", 0, 80, kTcp, kAck), XDP_TX, true, 34);
  rows.push_back({"NAT forward hit (nat), 196,608 live NAT connections", "nat", ns, "-",
                  "xlb_nat holds 393,216 entries (of the default 524,288); each packet another one of 65,536"});
  ns = bench.run(bal, v4("10.0.0.2", "198.19.0.1", bport, 0, kTcp, kAck), XDP_TX, true, 36);
  rows.push_back({"NAT reply hit (nat), 196,608 live NAT connections", "nat", ns, "-",
                  "as above, replies; each packet another connection's REV entry"});
  clearNat(dp);
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"xlb-bench: data-plane and Maglev benchmarks"};
  std::string out_path = "BENCHMARKS.md";
  uint32_t rounds = 7, repeat = 1000000, flows = 2u << 20;
  bool skip_fill = false;
  app.add_option("--out", out_path, "markdown file to write")->capture_default_str();
  app.add_option("--rounds", rounds, "test runs per case (median reported)")->capture_default_str();
  app.add_option("--repeat", repeat, "packets per test run")->capture_default_str();
  app.add_option("--flow-table-size", flows, "flow table slots")->capture_default_str();
  app.add_flag("--skip-1m", skip_fill, "skip the 1M-live-flows case (small flow tables)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  std::string why = xlb::test::setUpTestbed();
  if (!why.empty()) {
    std::cerr << "xlb-bench: skipped: " << why << "\n";
    return 77;
  }
  xlb::dataplane::BpfOptions opts;
  opts.pin_dir = "";
  opts.flow_table_size = flows;
  auto dpr = BpfDataplane::create(opts);
  if (!dpr.ok()) die(std::string(dpr.status().message()));
  BpfDataplane& dp = **dpr;
  xlb_bench_wrapper* w = xlb_bench_wrapper__open_and_load();
  if (!w) die("load bench wrapper");

  // Config: realistic Maglev-sized tables (M = 65537) over two backends with static neighbours.
  xlb_settings s{};
  uint8_t pfx[4] = {172, 16, 0, 0}, msk[4] = {0, 0, 255, 255};
  memcpy(s.encap_v4_prefix, pfx, 4);
  memcpy(&s.encap_v4_host_mask, msk, 4);
  auto p6 = xlb::test::parseAddr("fd00:7862::");
  memcpy(s.encap_v6_prefix, p6.data(), 16);
  s.encap_v6_host_mask = 0xffffffff;
  check(dp.setSettings(s), "settings");
  struct V {
    uint32_t id;
    const char* addr;
    uint16_t port;
    uint8_t proto, mode, algorithm;
    const char* b1;
    const char* b2;
  } vips[] = {
      {0, "10.100.0.10", 80, kTcp, XLB_FWD_DSR, XLB_ALG_MAGLEV, "10.0.0.2", "10.0.0.3"},
      {1, "10.100.0.10", 53, kUdp, XLB_FWD_DSR, XLB_ALG_MAGLEV, "10.0.0.2", "10.0.0.3"},
      {2, "2001:db8::10", 80, kTcp, XLB_FWD_DSR, XLB_ALG_MAGLEV, "fd00::2", "fd00::3"},
      {3, "10.100.0.20", 80, kTcp, XLB_FWD_IPIP, XLB_ALG_MAGLEV, "10.0.0.2", "10.0.0.3"},
      {4, "2001:db8::20", 80, kTcp, XLB_FWD_IPIP, XLB_ALG_MAGLEV, "fd00::2", "fd00::3"},
      // Equal weights: alternating slots are the smooth weighted round-robin sequence.
      {5, "10.100.0.30", 80, kTcp, XLB_FWD_DSR, XLB_ALG_ROUND_ROBIN, "10.0.0.2", "10.0.0.3"},
      {6, "10.100.0.31", 80, kTcp, XLB_FWD_DSR, XLB_ALG_LEAST_CONN, "10.0.0.2", "10.0.0.3"},
  };
  std::vector<uint32_t> table(65537);
  for (auto& v : vips) {
    const uint32_t b1 = 1 + 2 * v.id, b2 = 2 + 2 * v.id;
    check(dp.upsertBackend(b1, backend(v.b1, v.id)), "backend");
    check(dp.upsertBackend(b2, backend(v.b2, v.id)), "backend");
    for (size_t i = 0; i < table.size(); ++i) table[i] = (i & 1) ? b2 : b1;
    check(dp.setSelectionTable(v.id, table), "table");
    xlb_vip_value val{v.id, v.algorithm, v.mode, 0};
    check(dp.upsertVip(vipKey(v.addr, v.port, v.proto), val), "vip");
    xlb_addr_key ak{};
    auto a = xlb::test::parseAddr(v.addr);
    memcpy(ak.addr, a.data(), 16);
    ak.family = vipKey(v.addr, 0, 0).family;
    check(dp.upsertVipAddr(ak, {1, 0}), "vip addr");
  }

  Bench bench(dp, w, rounds, repeat);
  // Every SYN-row packet inserts a new flow: three rows x rounds x syn_repeat must stay well below
  // the table's 2M slots, or the later rows would measure LRU eviction instead of the selection.
  const uint32_t syn_repeat = std::min<uint32_t>(repeat, 60000);
  const int bal = dp.programFd();
  const int trivial = bpf_program__fd(w->progs.xlb_bench_trivial);
  std::vector<Row> rows;

  Bytes est4 = v4("192.0.2.1", "10.100.0.10", 1000, 80, kTcp, kAck);
  const Result floor_r = bench.run(trivial, est4, XDP_TX, false, 0);
  const double floor_ns = floor_r.best;
  rows.push_back({"trivial floor (wrapper + MAC swap + XDP_TX)", "-", floor_r, "-", ""});

  // Warm the flows the established cases use (one SYN each through the real program).
  auto warm = [&](const Bytes& syn) {
    auto r = xlb::test::runXdp(bal, syn, xlb::test::lbIfindex());
    if (r.err) die("warm-up run failed");
  };
  warm(v4("192.0.2.1", "10.100.0.10", 1000, 80, kTcp, kSyn));
  warm(v4("192.0.2.1", "10.100.0.20", 1000, 80, kTcp, kSyn));
  warm(v6("2001:db8:1::1", "2001:db8::10", 1000, 80, kSyn));
  warm(v6("2001:db8:1::1", "2001:db8::20", 1000, 80, kSyn));
  warm(v4("192.0.2.1", "10.100.0.10", 1000, 53, kUdp, 0));
  // An established flow is one that proved alive (flood protection, bpf/lib/flow.h): seen again
  // after protect_after (1 s), it is copied into xlb_flows_prot and takes the one-test fast path.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  warm(v4("192.0.2.1", "10.100.0.10", 1000, 80, kTcp, kAck));
  warm(v4("192.0.2.1", "10.100.0.20", 1000, 80, kTcp, kAck));
  warm(v6("2001:db8:1::1", "2001:db8::10", 1000, 80, kAck));
  warm(v6("2001:db8:1::1", "2001:db8::20", 1000, 80, kAck));
  warm(v4("192.0.2.1", "10.100.0.10", 1000, 53, kUdp, 0));

  Bytes out;
  Result ns = bench.run(bal, est4, XDP_TX, false, 0, 0, &out);
  if (out.size() != kPktLen || (out[5] != 0xb1 && out[5] != 0xb2)) die("dsr output has wrong MACs");
  const Result dsr_est = ns;
  rows.push_back({"IPv4 TCP established", "dsr", ns, "<= 40 ns", "output checked: backend MAC"});

  // Source address (offset 26) and port both carry a per-run counter: every packet is a 5-tuple the
  // flow table has never seen, so this is a real insert (the table is large enough not to evict).
  ns = bench.run(bal, v4("192.0.2.1", "10.100.0.10", 0, 80, kTcp, kSyn), XDP_TX, true, 34,
                 syn_repeat, nullptr, 26);
  rows.push_back({"IPv4 TCP SYN (new flow each packet), maglev", "dsr", ns, "<= 90 ns",
                  "new 5-tuple per packet; flow entry inserted"});
  const Result dsr_syn = ns;
  ns = bench.run(bal, v4("192.0.2.2", "10.100.0.30", 0, 80, kTcp, kSyn), XDP_TX, true, 34,
                 syn_repeat, nullptr, 26);
  rows.push_back({"IPv4 TCP SYN (new flow each packet), round_robin", "dsr", ns, "-",
                  "as maglev, slot from the per-CPU position"});
  ns = bench.run(bal, v4("192.0.2.3", "10.100.0.31", 0, 80, kTcp, kSyn), XDP_TX, true, 34,
                 syn_repeat, nullptr, 26);
  rows.push_back({"IPv4 TCP SYN (new flow each packet), least_conn", "dsr", ns, "-",
                  "as maglev + 2 prandom draws, 2 slots, 2 open-count reads"});

  ns = bench.run(bal, v4("192.0.2.1", "10.100.0.10", 1000, 80, kTcp, kSyn), XDP_TX, false, 0);
  rows.push_back({"IPv4 TCP SYN retransmit (open flow)", "dsr", ns, "-",
                  "flow entry found open: backend kept, no selection"});

  ns = bench.run(bal, v4("192.0.2.1", "10.100.0.10", 1000, 53, kUdp, 0), XDP_TX, false, 0);
  rows.push_back({"IPv4 UDP established", "dsr", ns, "<= 40 ns", ""});

  ns = bench.run(bal, v6("2001:db8:1::1", "2001:db8::10", 1000, 80, kAck), XDP_TX, false, 0);
  rows.push_back({"IPv6 TCP established", "dsr", ns, "<= 40 ns", ""});

  ns = bench.run(bal, v4("192.0.2.1", "10.100.0.20", 1000, 80, kTcp, kAck), XDP_TX, false, 0, 0,
                 &out);
  if (out.size() != kPktLen + 20 || out[12] != 0x08 || out[14 + 9] != 4)
    die("ipip output is not an IPIP packet");
  rows.push_back({"IPv4 TCP established", "ipip", ns, "<= 40 ns",
                  "output checked: outer IPv4, proto 4, +20 bytes"});

  ns = bench.run(bal, v6("2001:db8:1::1", "2001:db8::20", 1000, 80, kAck), XDP_TX, false, 0, 0,
                 &out);
  if (out.size() != kPktLen + 40 || out[12] != 0x86 || out[14 + 6] != 41)
    die("ip6ip6 output is not an IP6IP6 packet");
  rows.push_back({"IPv6 TCP established", "ipip", ns, "<= 40 ns",
                  "output checked: outer IPv6, next header 41, +40 bytes"});

  ns = bench.run(bal, v4("192.0.2.1", "10.100.0.99", 1000, 80, kTcp, kAck), XDP_PASS, false, 0, 0,
                 &out);
  rows.push_back({"non-VIP IPv4 TCP", "pass", ns, "<= 15 ns", ""});
  const Result pass_plain = ns;

  // Flood protection: a protected flow whose LRU entry a flood evicted. Every packet misses the LRU
  // and follows the protected copy (which is not put back into the LRU, so this stays the path).
  {
    Bytes syn = v4("192.0.2.9", "10.100.0.10", 2000, 80, kTcp, kSyn);
    warm(syn);
    xlb_flow_key k = xlb::test::flowKey("192.0.2.9", "10.100.0.10", 2000, 80, kTcp);
    xlb_flow_value fv{};
    if (bpf_map_lookup_elem(dp.mapFd("xlb_flows"), &k, &fv) != 0) die("protected-hit flow missing");
    fv.created = 0;  // old: its next packet promotes it
    if (bpf_map_update_elem(dp.mapFd("xlb_flows"), &k, &fv, BPF_EXIST) != 0) die("age flow");
    Bytes ack = v4("192.0.2.9", "10.100.0.10", 2000, 80, kTcp, kAck);
    warm(ack);
    if (bpf_map_lookup_elem(dp.mapFd("xlb_flows_prot"), &k, &fv) != 0) die("flow not promoted");
    if (bpf_map_delete_elem(dp.mapFd("xlb_flows"), &k) != 0) die("evict flow");
    ns = bench.run(bal, ack, XDP_TX, false, 0, 0, &out);
    if (out.size() != kPktLen || (out[5] != 0xb1 && out[5] != 0xb2)) die("protected hit: wrong MACs");
    if (bpf_map_lookup_elem(dp.mapFd("xlb_flows"), &k, &fv) == 0) die("protected hit re-inserted");
    rows.push_back({"IPv4 TCP established, LRU entry evicted (protected hit)", "dsr", ns, "-",
                    "LRU miss + xlb_flows_prot hit; output checked: backend MAC"});
  }
  // A non-SYN packet without any entry (a flood's ACKs, or a flow both tables lost): both lookups
  // miss, the algorithm runs and the flow is recorded, as for a SYN.
  ns = bench.run(bal, v4("192.0.2.4", "10.100.0.10", 0, 80, kTcp, kAck), XDP_TX, true, 34,
                 syn_repeat, nullptr, 26);
  rows.push_back({"IPv4 TCP ACK without flow entry (new flow each packet), maglev", "dsr", ns, "-",
                  "LRU miss + protected miss + selection + insert"});

  natRows(dp, bench, rows, s, rounds, !skip_fill, dsr_est, dsr_syn, pass_plain);

  // forEachFlow (the agent's open-flow reconciliation scan) over the whole table.
  struct Scan {
    uint64_t flows = 0;
    double ms = 0;
  } scan;
  if (!skip_fill) {
    fillFlows(dp);
    ns = bench.run(bal, v4("198.18.0.1", "10.100.0.10", 0, 80, kTcp, kAck), XDP_TX, true, 34);
    rows.push_back({"IPv4 TCP established, 1M live flows", "dsr", ns, "-",
                    "flow table holds 1,048,576 flows; each packet a different one of 65,536"});
    std::vector<double> ms;
    for (int r = 0; r < 5; ++r) {
      uint64_t n = 0, open = 0;
      auto t0 = std::chrono::steady_clock::now();
      check(dp.forEachFlow([&](const xlb_flow_key&, const xlb_flow_value& v) {
              ++n;
              open += !(v.flags & XLB_FLOW_F_CLOSING);
            }),
            "forEachFlow");
      auto t1 = std::chrono::steady_clock::now();
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      scan.flows = n;
    }
    std::sort(ms.begin(), ms.end());
    scan.ms = ms[ms.size() / 2];
  }

  // Maglev table construction (agent side, M = 65537).
  struct MRow {
    size_t n;
    double ms;
  };
  std::vector<MRow> mrows;
  for (size_t n : {10, 100, 1000}) {
    std::vector<xlb::maglev::MaglevBackend> bes;
    for (size_t i = 0; i < n; ++i)
      bes.push_back({static_cast<uint32_t>(i), "10.1." + std::to_string(i / 256) + "." +
                                                   std::to_string(i % 256), 1});
    std::vector<double> ms;
    for (int r = 0; r < 5; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      auto t = xlb::maglev::buildTable(bes, 65537);
      auto t1 = std::chrono::steady_clock::now();
      if (!t.ok()) die("maglev build failed");
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    mrows.push_back({n, ms[ms.size() / 2]});
  }
  std::vector<double> swap_ms;
  for (int r = 0; r < 5; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    check(dp.setSelectionTable(0, table), "table swap");
    auto t1 = std::chrono::steady_clock::now();
    swap_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(swap_ms.begin(), swap_ms.end());

  // ---- report ----
  utsname u{};
  uname(&u);
  time_t now = time(nullptr);
  char date[64];
  strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&now));
  std::ostringstream md;
  md << "# xlb benchmarks\n\n"
     << "Generated by `make bench` (`build/bench/xlb-bench --out BENCHMARKS.md`) on " << date
     << ".\n\n"
     << "| Machine | |\n|---|---|\n"
     << "| CPU | " << firstLine("/proc/cpuinfo", "model name") << " |\n"
     << "| vCPUs | " << sysconf(_SC_NPROCESSORS_ONLN) << " |\n"
     << "| Kernel | " << u.release << " |\n"
     << "| Method | BPF_PROG_TEST_RUN, " << repeat << " packets per run (SYN: "
     << syn_repeat << "), " << rounds
     << " runs per case: best (least disturbed by other load) and median |\n\n"
     << "## Data plane, per packet\n\n"
     << "Each run goes through a restore wrapper (`bench/wrapper.bpf.c`): test-run repeats on the "
        "modified buffer, so the wrapper rewrites the 128-byte input frame (and undoes an "
        "encapsulation's head adjustment) before tail-calling the program under test. The same "
        "wrapper tail-calling a trivial MAC-swap XDP_TX program is the floor; \"net\" subtracts it "
        "(the trivial program's own few instructions included). The returned action is checked on "
        "every run, the output of one run per forwarding mode is checked. Maglev tables have M = "
        "65537; the flow table has 2M slots. Target: established within 5x the floor.\n\n"
     << "| Path | Mode | ns/packet best | median | net of floor (best) | x floor (best) | Mpps, 1 core (best) | North star | Notes |\n"
     << "|---|---|---:|---:|---:|---:|---:|---|---|\n";
  for (const auto& r : rows) {
    md << "| " << r.path << " | " << r.mode << " | " << num("%.1f", r.ns.best) << " | "
       << num("%.1f", r.ns.median) << " | " << num("%.1f", std::max(0.0, r.ns.best - floor_ns))
       << " | " << num("%.2f", r.ns.best / floor_ns) << " | " << num("%.1f", 1000.0 / r.ns.best)
       << " | " << r.north_star << " | " << r.note << " |\n";
  }
  md << "\nNorth-star figures are for the program itself; compare them with the \"net\" column "
        "(test-run's per-packet timing also includes the kernel's loop and xdp_buff reset).\n\n"
     << "Reading the numbers:\n"
     << "- A brand-new 5-tuple costs one LRU-hash insert: the kernel pops a node from the LRU free "
        "lists (global lock when the per-CPU cache runs dry), copies the key and links a cold bucket; "
        "that, not the balancer's own instructions, is most of the SYN row. A SYN retransmit on an open "
        "flow keeps its backend and costs an established packet; a SYN re-opening a closed "
        "flow's 5-tuple (port reuse) is rewritten in place: that plus the selection.\n"
     << "- With 1M live flows and a different flow per packet, the bucket and the element miss the "
        "caches and the TLB (two-level paging in this VM), which dominates; a flow seen "
        "back-to-back (the other established rows) stays hot.\n"
     << "- ipip adds bpf_xdp_adjust_head, the outer header (and the IPv4 checksum) over dsr.\n"
     << "- The SYN rows of round_robin and least_conn differ from maglev's in the selection (a "
        "per-CPU array read/write; two bpf_get_prandom_u32() draws, two slots and two reads of the "
        "shared open-flow counts); every new flow also pays one atomic add on xlb_be_conns. The "
        "three rows run in this order on one flow table that fills up (about 0.4M, 0.8M, 1.3M "
        "entries at their ends), so part of the later rows' extra cost is the fuller table: read "
        "the differences as upper bounds of the selection cost. An established packet only adds a "
        "test of its flow entry's flags word (same cache line): an established flow's flags are "
        "exactly PROTECTED, anything else (FIN/RST, closing, young) takes the slow branch.\n"
     << "- Flood protection (README \"Flow-table floods\"): the protected-hit row is a protected flow "
        "whose LRU entry a flood evicted (LRU miss, then the xlb_flows_prot hit; not re-inserted). The "
        "ACK-without-entry row is a non-SYN packet no table knows (a flood's ACKs): both lookups miss, "
        "then selection and insert as for a SYN; pure SYNs skip the protected lookup.\n"
     << "- The VM has 2 vCPUs shared with builds; figures move by 10-30% between runs.\n\n"
     << "## Maglev (agent side, M = 65537)\n\n"
     << "| Backends | buildTable (ms, median of 5) |\n|---:|---:|\n";
  for (const auto& m : mrows) md << "| " << m.n << " | " << num("%.2f", m.ms) << " |\n";
  md << "\nTable swap into the data plane (`setSelectionTable`: new inner map, batch fill, one "
        "outer-map update), M = 65537: "
     << num("%.2f", swap_ms[swap_ms.size() / 2]) << " ms (median of 5).\n";
  if (scan.flows) {
    md << "\n## Flow-table scan (agent side)\n\n"
       << "`Dataplane::forEachFlow` (BPF_MAP_LOOKUP_BATCH, " << BpfDataplane::kFlowBatch
       << " entries per call), the open-flow reconciliation's cost: " << scan.flows
       << " flows in " << num("%.1f", scan.ms) << " ms (median of 5), "
       << num("%.1f", scan.ms * 1048576.0 / static_cast<double>(scan.flows))
       << " ms per 1,048,576 flows.\n";
  }

  // Sections measured elsewhere (e2e figures such as the flood test's) follow a marker line in the
  // existing file and are kept; the health bench appends after them.
  static constexpr const char* kKeepMarker = "<!-- kept by xlb-bench: sections measured elsewhere -->";
  {
    std::ifstream old(out_path);
    std::string line, kept;
    bool keep = false;
    while (std::getline(old, line)) {
      if (line == kKeepMarker) keep = true;
      if (keep && line.rfind("## Health checker", 0) == 0) break;  // re-appended by its bench
      if (keep) kept += line + "\n";
    }
    if (!kept.empty()) md << "\n" << kept;
  }
  std::ofstream f(out_path);
  f << md.str();
  if (!f) die("cannot write " + out_path);
  std::cout << md.str();
  xlb_bench_wrapper__destroy(w);
  return 0;
}
