// SPDX-License-Identifier: Apache-2.0
// xlb-bench's NAT rows (issue 11, bpf/lib/nat.h): hits, replies, new connections and the non-VIP
// reply filter, on an almost empty NAT table and with 1,048,576 live NAT connections.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <functional>

#include "bench.h"
#include "dataplane/nat_layout.h"
#include "testbed.h"

namespace xlb::bench {
namespace {

using dataplane::natKey4;
using dataplane::natValue4;

constexpr uint16_t kBackendPort = 8080;
constexpr const char* kNatVip = "10.100.0.40";      // vip id 7, mode nat
constexpr const char* kFullnatVip = "10.100.0.41";  // vip id 8, mode fullnat
// New-connection rows: packets per round (each a new connection), and the wrapper counter's
// value before the first one (source 192.64.0.1 and up: no martian, no other row's tuple).
constexpr uint32_t kNewPerRound = 10000;
constexpr uint32_t kNewBase = 0x400000;
constexpr const char* kDsrEst = "IPv4 TCP established / dsr";
constexpr const char* kDsrSynRounds =
    "IPv4 TCP SYN (new flow each packet), maglev, 10,000 per round";
static_assert(kNewPerRound == 10000, "kDsrSynRounds names the count");

uint64_t monoNow() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

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

// Fills xlb_nat4 with `n` live nat connections (two entries each) 198.19.x.1:port -> 10.100.0.40:80
// (x = i / 65536) on backend 15 (10.0.0.2:8080), established and seen now (no refresh writes while
// measuring), in batch updates of 65,536 connections. Checksum deltas are left 0: the cost does
// not depend on them.
void fillNat(BpfDataplane& dp, uint32_t n) {
  constexpr uint32_t kChunk = 65536;
  std::vector<xlb_nat4_key> keys, rkeys;
  std::vector<xlb_nat4_value> vals, rvals;
  keys.reserve(2 * kChunk);
  vals.reserve(2 * kChunk);
  const uint64_t now = monoNow();
  const auto vip = xlb::test::parseAddr(kNatVip), be = xlb::test::parseAddr("10.0.0.2");
  const auto cmac = xlb::test::parseMac(xlb::test::kClientMac);
  const auto lmac = xlb::test::parseMac(xlb::test::kLbMac);
  const uint32_t ifindex = static_cast<uint32_t>(xlb::test::lbIfindex());  // a syscall: once
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
    r.sport = htons(kBackendPort);
    r.dport = f.sport;
    r.proto = kTcp;
    r.family = XLB_AF_INET;
    xlb_nat_value fv{}, rv{};
    memcpy(fv.new_src, src, 4);
    memcpy(fv.new_dst, be.data(), 4);
    fv.new_sport = f.sport;
    fv.new_dport = htons(kBackendPort);
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
    memcpy(rv.l2, cmac.data(), 6);
    memcpy(rv.l2 + 6, lmac.data(), 6);
    rv.ifindex = ifindex;
    keys.push_back(natKey4(f));
    vals.push_back(natValue4(fv));
    rkeys.push_back(natKey4(r));
    rvals.push_back(natValue4(rv));
    if (keys.size() == kChunk || i + 1 == n) {
      // A chunk's FWD entries, then its REV entries: each direction's entries of consecutive
      // connections take consecutive elements, as the dsr 1M row's flows do (fillFlows).
      keys.insert(keys.end(), rkeys.begin(), rkeys.end());
      vals.insert(vals.end(), rvals.begin(), rvals.end());
      uint32_t count = static_cast<uint32_t>(keys.size());
      if (bpf_map_update_batch(dp.mapFd("xlb_nat4"), keys.data(), vals.data(), &count, nullptr))
        die("fill nat table at connection " + std::to_string(i) + ": " + std::to_string(count) +
            " of " + std::to_string(keys.size()) +
            " entries written (--nat-table-size too small?)");
      keys.clear();
      vals.clear();
      rkeys.clear();
      rvals.clear();
    }
  }
}

// The client tuple of a new-connection round's packet number c: the wrapper writes the counter
// into the source port and the low 24 bits of the source address (192.x.y.z).
xlb_flow_key roundKey(uint32_t c, const std::array<uint8_t, 16>& dst) {
  xlb_flow_key f{};
  uint8_t src[4] = {192, static_cast<uint8_t>(c >> 16), static_cast<uint8_t>(c >> 8),
                    static_cast<uint8_t>(c)};
  memcpy(f.src, src, 4);
  memcpy(f.dst, dst.data(), 4);
  f.sport = htons(static_cast<uint16_t>(c));
  f.dport = htons(80);
  f.proto = kTcp;
  f.family = XLB_AF_INET;
  return f;
}

// Deletes the connections a new-connection round created: the wrapper's counter ran from
// base + 1 to base + n, so the FWD keys are known; each FWD value names its REV key.
void deleteNewConns(BpfDataplane& dp, const char* vip, uint32_t base, uint32_t n) {
  const int fd = dp.mapFd("xlb_nat4");
  const auto dst = xlb::test::parseAddr(vip);
  std::vector<xlb_nat4_key> keys;
  keys.reserve(2 * n);
  for (uint32_t c = base + 1; c <= base + n; ++c) {
    const xlb_nat4_key f = natKey4(roundKey(c, dst));
    xlb_nat4_value v{};
    if (bpf_map_lookup_elem(fd, &f, &v)) continue;
    xlb_nat4_key r{};
    r.src = v.new_dst;
    r.dst = v.new_src;
    r.sport = v.h.new_dport;
    r.dport = v.h.new_sport;
    r.proto = kTcp;
    keys.push_back(f);
    keys.push_back(r);
  }
  if (keys.size() != 2 * n)
    die("new-connection round: " + std::to_string(keys.size() / 2) + " of " + std::to_string(n) +
        " connections created");
  uint32_t count = static_cast<uint32_t>(keys.size());
  if (bpf_map_delete_batch(fd, keys.data(), &count, nullptr))
    die("delete a round's connections: " + std::to_string(count) + " of " +
        std::to_string(keys.size()));
}

// One round of kNewPerRound SYNs, each a new 5-tuple (source address and port carry the wrapper's
// counter), to the dsr maglev VIP 10.100.0.10:80 (vip == nullptr) or to a NAT VIP (fullnat: client
// ports below 61000, so every one is allocated from the range by hash, probing when taken). The
// round's flows or connections are deleted after it (not timed), so every round meets the table as
// it was. Returns the round's ns/packet.
double newRound(BpfDataplane& dp, Bench& bench, Bench& one, const char* vip) {
  const char* dst = vip ? vip : "10.100.0.10";
  bench.setCounter(kNewBase);
  const double ns = one.run(dp.programFd(), v4("192.0.2.1", dst, 0, 80, kTcp, kSyn), XDP_TX, true,
                            34, kNewPerRound, nullptr, 26)
                        .best;
  if (vip) {
    deleteNewConns(dp, vip, kNewBase, kNewPerRound);
    return ns;
  }
  const auto addr = xlb::test::parseAddr(dst);
  std::vector<xlb_flow_key> keys;
  for (uint32_t c = kNewBase + 1; c <= kNewBase + kNewPerRound; ++c)
    keys.push_back(roundKey(c, addr));
  uint32_t count = static_cast<uint32_t>(keys.size());
  if (bpf_map_delete_batch(dp.mapFd("xlb_flows"), keys.data(), &count, nullptr) ||
      count != kNewPerRound)
    die("dsr new-flow round: deleted " + std::to_string(count) + " of " +
        std::to_string(kNewPerRound) + " flows");
  return ns;
}

// New flows and connections measured alike and interleaved round by round (a dsr round, a fullnat
// round, and with `with_nat` a nat round), so that load from other users of the machine hits them
// alike; median and best per kind, and fullnat's extra ports tried per connection.
struct NewRows {
  Result dsr, fullnat, nat;
  std::string probes;
};
NewRows newRows(BpfDataplane& dp, Bench& bench, uint32_t rounds, bool with_nat) {
  Bench one(dp, bench.wrapper(), 1, kNewPerRound);
  std::vector<double> d, f, n;
  uint64_t created = 0, tried = 0;
  for (uint32_t i = 0; i < rounds; ++i) {
    d.push_back(newRound(dp, bench, one, nullptr));
    auto c0 = dp.readCounters();
    f.push_back(newRound(dp, bench, one, kFullnatVip));
    auto c1 = dp.readCounters();
    if (c0.ok() && c1.ok()) {
      created += c1->global[XLB_STAT_NAT_NEW] - c0->global[XLB_STAT_NAT_NEW];
      tried += c1->global[XLB_STAT_NAT_PORT_PROBE] - c0->global[XLB_STAT_NAT_PORT_PROBE];
    }
    if (with_nat) n.push_back(newRound(dp, bench, one, kNatVip));
  }
  auto result = [](std::vector<double> v) {
    if (v.empty()) return Result{};
    std::sort(v.begin(), v.end());
    return Result{v[v.size() / 2], v.front()};
  };
  return {result(d), result(f), result(n),
          created ? num("%.2f", static_cast<double>(tried) / static_cast<double>(created)) : "?"};
}

// The nat and fullnat VIPs, their backends and SNAT pool, and the reply filter's settings.
xlb_settings configureNat(BpfDataplane& dp, xlb_settings s) {
  std::vector<uint32_t> table(65537);
  struct V {
    uint32_t id;
    const char* addr;
    uint8_t mode;
  } vips[] = {{7, kNatVip, XLB_FWD_NAT}, {8, kFullnatVip, XLB_FWD_FULLNAT}};
  for (auto& v : vips) {
    const uint32_t b1 = 1 + 2 * v.id, b2 = 2 + 2 * v.id;
    check(dp.upsertBackend(b1, backend("10.0.0.2", v.id)), "backend");
    check(dp.upsertBackend(b2, backend("10.0.0.3", v.id)), "backend");
    xlb_be_nat bn{htons(kBackendPort), 0};
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
  natEp(dp, s, "10.0.0.2", kBackendPort);
  natEp(dp, s, "10.0.0.3", kBackendPort);
  for (const char* a : snat) natEp(dp, s, a, 0);
  check(dp.setSettings(s), "nat settings");
  return s;
}

}  // namespace

xlb_settings natRows(BpfDataplane& dp, Bench& bench, std::vector<Row>& rows,
                     std::vector<RatioRow>& ratios, xlb_settings s, uint32_t rounds,
                     const DsrRefs& dsr) {
  const int bal = dp.programFd();
  s = configureNat(dp, s);
  auto add = [&](Row r, const char* ref_name, const Result& ref, double target) {
    ratios.push_back({r.path + " / " + r.mode, ref_name, r.ns, ref, target});
    rows.push_back(std::move(r));
  };

  Bytes out;
  for (const char* vip : {kNatVip, kFullnatVip}) {
    const bool full = vip == kFullnatVip;
    const char* mode = full ? "fullnat" : "nat";
    auto r =
        xlb::test::runXdp(bal, v4("192.0.2.1", vip, 1000, 80, kTcp, kSyn), xlb::test::lbIfindex());
    if (r.err || r.ret != XDP_TX) die("nat warm-up failed");
    Result ns =
        bench.run(bal, v4("192.0.2.1", vip, 1000, 80, kTcp, kAck), XDP_TX, false, 0, 0, &out);
    if (out[5] != 0xb1 && out[5] != 0xb2) die("nat output has wrong MACs");
    if (out[14 + 16] != 10 || out[14 + 17] != 0 || out[14 + 18] != 0) die("nat: dst not a backend");
    if (full && (out[14 + 12] != 10 || out[14 + 13] != 200)) die("fullnat: src not a SNAT address");
    add({std::string("NAT forward hit (") + mode + ")", mode, ns, "<= 1.15x dsr est.",
         "output checked: backend MAC and address"},
        kDsrEst, dsr.established, 1.15);
    if (full) continue;
    // The reply: from the backend the connection landed on, to the client.
    const xlb_nat4_key k = natKey4(xlb::test::flowKey("192.0.2.1", vip, 1000, 80, kTcp));
    xlb_nat4_value fv{};
    if (bpf_map_lookup_elem(dp.mapFd("xlb_nat4"), &k, &fv)) die("nat entry missing");
    char be[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &fv.new_dst, be, sizeof be);
    ns = bench.run(bal, v4(be, "192.0.2.1", kBackendPort, 1000, kTcp, kAck), XDP_TX, false, 0, 0,
                   &out);
    if (out[14 + 12] != 10 || out[14 + 13] != 100 || out[5] != 0xaa)
      die("nat reply: src not the VIP");
    add({"NAT reply hit (nat)", "nat", ns, "<= 1.15x dsr est.",
         "output checked: source VIP, client MAC"},
        kDsrEst, dsr.established, 1.15);
  }

  // 3x the rounds: a round is only kNewPerRound packets (a few ms), so its best needs samples.
  NewRows nr = newRows(dp, bench, 3 * rounds, true);
  const std::string per_round = std::to_string(kNewPerRound) + " per round, deleted after it";
  rows.push_back({kDsrSynRounds, "dsr", nr.dsr, "-",
                  "as the SYN row above, measured like the NAT rows below: " + per_round +
                      ", the three kinds interleaved round by round, " +
                      std::to_string(3 * rounds) + " rounds"});
  const std::string syn_rounds = std::string(kDsrSynRounds) + " / dsr";
  add({"fullnat new connection with port allocation", "fullnat", nr.fullnat, "<= 1.3x dsr SYN",
       "nat's two inserts + SNAT address and port (4 addresses, range 61000-65535), " + nr.probes +
           " extra ports tried per connection; " + per_round +
           " (table otherwise holds the 3 hit rows' connections)"},
      syn_rounds.c_str(), nr.dsr, 1.3);
  // Also against the SYN row of 60,000 packets per run into a table that only grows (no target:
  // that row never meets a table a batch delete just emptied).
  ratios.push_back({rows.back().path + " / fullnat",
                    "IPv4 TCP SYN (new flow each packet), maglev / dsr", nr.fullnat, dsr.syn, 0});
  add({"nat new connection", "nat", nr.nat, "-", "REV + FWD inserts, " + per_round},
      syn_rounds.c_str(), nr.dsr, 0);
  Result ns =
      bench.run(bal, v4("192.0.2.1", "10.100.0.99", 1000, 80, kTcp, kAck), XDP_PASS, false, 0);
  add({"non-VIP pass with NAT VIPs and pools configured", "pass", ns, "<= 1.1x without",
       "filter: two bloom bits (this tuple misses them)"},
      "non-VIP IPv4 TCP / pass", dsr.pass_plain, 1.1);
  return s;
}

void natRows1M(BpfDataplane& dp, Bench& bench, std::vector<Row>& rows,
               std::vector<RatioRow>& ratios, const xlb_settings& nat_settings, uint32_t rounds,
               uint32_t repeat, const DsrRefs& dsr) {
  const int bal = dp.programFd();
  auto t0 = std::chrono::steady_clock::now();
  fillNat(dp, kNat1MConns);
  const double fill_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Without the filter: nat_flags 0 is the whole difference a non-VIP packet can see (it reads
  // nothing else of the NAT configuration), so toggling it interleaves "without" and "with".
  xlb_settings plain = nat_settings;
  plain.nat_flags = 0;
  auto backendOut = [](const char* what) {
    return [what](const Bytes& o) {
      if (o.size() != kPktLen || (o[5] != 0xb1 && o[5] != 0xb2) || o[14 + 16] != 10)
        die(std::string(what) + ": output not toward a backend");
    };
  };
  struct Case {
    const char* path;
    Bytes frame;
    uint32_t action, sport_off;
    const xlb_settings* settings;
    std::function<void(const Bytes&)> verify;  // the first round's first output; null: none
    std::vector<double> ns;
  };
  std::vector<Case> cases = {
      {"IPv4 TCP established, 1M live flows",
       v4("198.18.0.1", "10.100.0.10", 0, 80, kTcp, kAck),
       XDP_TX,
       34,
       &nat_settings,
       backendOut("dsr 1M"),
       {}},
      {"NAT forward hit (nat), 1M live NAT connections",
       v4("198.19.0.1", kNatVip, 0, 80, kTcp, kAck),
       XDP_TX,
       34,
       &nat_settings,
       backendOut("nat 1M"),
       {}},
      {"NAT reply hit (nat), 1M live NAT connections",
       v4("10.0.0.2", "198.19.0.1", kBackendPort, 0, kTcp, kAck),
       XDP_TX,
       36,
       &nat_settings,
       [](const Bytes& o) {
         if (o[14 + 12] != 10 || o[14 + 13] != 100 || o[5] != 0xaa)
           die("nat 1M reply: source not the VIP");
       },
       {}},
      {"non-VIP IPv4 TCP, 65,536 source ports, no NAT filter",
       v4("192.0.2.1", "10.100.0.99", 0, 80, kTcp, kAck),
       XDP_PASS,
       34,
       &plain,
       nullptr,
       {}},
      {"non-VIP pass with NAT configured, 65,536 source ports, 1M live NAT connections",
       v4("192.0.2.1", "10.100.0.99", 0, 80, kTcp, kAck),
       XDP_PASS,
       34,
       &nat_settings,
       nullptr,
       {}},
  };
  // Round by round, every case once: load from other users of the machine hits all of them alike.
  Bench one(dp, bench.wrapper(), 1, repeat);
  const xlb_settings* current = &nat_settings;
  uint64_t filter_miss = 0;
  for (uint32_t r = 0; r < rounds; ++r) {
    for (size_t i = 0; i < cases.size(); ++i) {
      Case& c = cases[i];
      if (c.settings != current) {
        check(dp.setSettings(*c.settings), "settings");
        current = c.settings;
      }
      const bool count = r == 0 && i == 4;  // how many pass the filter (and miss xlb_nat4)
      auto before = count ? dp.readCounters() : absl::StatusOr<dataplane::CounterSnapshot>();
      Bytes out;
      const bool verify = r == 0 && c.verify != nullptr;
      c.ns.push_back(
          one.run(bal, c.frame, c.action, true, c.sport_off, 0, verify ? &out : nullptr).best);
      if (verify) c.verify(out);
      if (count && before.ok()) {
        auto after = dp.readCounters();
        if (after.ok())
          filter_miss =
              after->global[XLB_STAT_NAT_FILTER_MISS] - before->global[XLB_STAT_NAT_FILTER_MISS];
      }
    }
  }
  const std::string filter_share = num("%.2f", 100.0 * static_cast<double>(filter_miss) / repeat);
  if (current != &nat_settings) check(dp.setSettings(nat_settings), "settings");
  auto result = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return Result{v[v.size() / 2], v.front()};
  };
  const Result dsr1m = result(cases[0].ns), fwd = result(cases[1].ns), rev = result(cases[2].ns),
               pass0 = result(cases[3].ns), pass1 = result(cases[4].ns);
  const std::string dsr1m_name = std::string(cases[0].path) + " / dsr";
  const std::string fill = num("%.1f", fill_s);
  rows.push_back({cases[0].path, "dsr", dsr1m, "-",
                  "flow table holds 1,048,576 flows; each packet a different one of 65,536 "
                  "(xlb_nat4 holds the 1M NAT connections below too)"});
  rows.push_back({cases[1].path, "nat", fwd, "<= 1.15x dsr 1M",
                  "xlb_nat4 holds 2,097,152 entries (batch-filled in " + fill +
                      " s); each packet a different one of 65,536 connections"});
  ratios.push_back({rows.back().path + " / nat", dsr1m_name, fwd, dsr1m, 1.15});
  rows.push_back({cases[2].path, "nat", rev, "<= 1.15x dsr 1M",
                  "as above, replies; each packet another connection's REV entry"});
  ratios.push_back({rows.back().path + " / nat", dsr1m_name, rev, dsr1m, 1.15});
  rows.push_back({cases[3].path, "pass", pass0, "-",
                  "nat_flags 0 (what a non-VIP packet sees without NAT VIPs)"});
  rows.push_back({cases[4].path, "pass", pass1, "<= 1.1x without",
                  filter_share + "% of the packets pass the bloom filter and miss xlb_nat4"});
  ratios.push_back(
      {rows.back().path + " / pass", std::string(cases[3].path) + " / pass", pass1, pass0, 1.1});

  // New connections into the full tables: dsr into the 1M live flows, fullnat into the 1M live
  // NAT connections, measured alike and interleaved (newRows).
  NewRows nr = newRows(dp, bench, 3 * rounds, false);
  rows.push_back({"IPv4 TCP SYN (new flow each packet), maglev, 1M live flows", "dsr", nr.dsr, "-",
                  std::to_string(kNewPerRound) +
                      " per round into the flow table holding 1,048,576 flows, deleted after it; "
                      "interleaved with the fullnat row below"});
  const std::string syn1m_name = rows.back().path + " / dsr";
  const Result ns = nr.fullnat;
  rows.push_back({"fullnat new connection with port allocation, 1M live NAT connections", "fullnat",
                  ns, "<= 1.3x dsr SYN 1M",
                  nr.probes + " extra ports tried per connection; " + std::to_string(kNewPerRound) +
                      " per round into the table holding 1,048,576 connections"});
  ratios.push_back({rows.back().path + " / fullnat", syn1m_name, ns, nr.dsr, 1.3});
}

}  // namespace xlb::bench
