// SPDX-License-Identifier: Apache-2.0
// Randomized barrage against the real XDP balancer (BPF_PROG_TEST_RUN): tens of thousands of valid
// and malformed frames from a seeded PRNG, each judged by an independent oracle (barrage_oracle.h).
// Asserts no error or abort, no malformed frame forwarded, every valid VIP frame forwarded, the
// verdict, the counter and the output bytes of every frame, and that the maps' counters add up to
// the oracle's tallies. XLB_BARRAGE_SEED replays a run; XLB_BARRAGE_FRAMES changes its size.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "barrage_gen.h"
#include "barrage_oracle.h"
#include "fixture.h"

namespace xlb::test {
namespace {

using dataplane::BpfDataplane;

constexpr uint8_t kTcp = 6, kUdp = 17;
constexpr uint16_t kAcceptedVlan = 100;

BpfDataplane* g_dp = nullptr;

struct VipDef {
  const char* addr;
  uint16_t port;
  uint8_t proto, mode, alg;
  const char* backend;
  const char* backend_mac;
  bool other_interface;
};

// dsr and ipip (every family mix), IPv4 and IPv6, TCP and UDP, a port-0 VIP, hashing and
// non-hashing algorithms (ICMP errors without a flow entry differ), one backend behind lb1.
const VipDef kVips[] = {
    {"10.100.0.10", 80, kTcp, XLB_FWD_DSR, XLB_ALG_MAGLEV, "10.0.0.2", kBackendMacA, false},
    {"10.100.0.10", 53, kUdp, XLB_FWD_DSR, XLB_ALG_ROUND_ROBIN, "10.0.0.3", kBackendMacB, false},
    {"10.100.0.20", 443, kTcp, XLB_FWD_IPIP, XLB_ALG_MAGLEV, "10.0.0.2", kBackendMacA, false},
    {"10.100.0.20", 4500, kUdp, XLB_FWD_IPIP, XLB_ALG_SOURCE_HASH, "fd00::2", kBackendMacA, false},
    {"10.100.0.30", 0, kTcp, XLB_FWD_DSR, XLB_ALG_MAGLEV, "10.0.0.3", kBackendMacB, false},
    {"10.100.0.60", 80, kTcp, XLB_FWD_DSR, XLB_ALG_LEAST_CONN, "10.0.1.2", kBackendMacC, true},
    {"2001:db8::10", 80, kTcp, XLB_FWD_DSR, XLB_ALG_MAGLEV, "fd00::2", kBackendMacA, false},
    {"2001:db8::10", 53, kUdp, XLB_FWD_DSR, XLB_ALG_SOURCE_HASH, "fd00::3", kBackendMacB, false},
    {"2001:db8::20", 443, kTcp, XLB_FWD_IPIP, XLB_ALG_ROUND_ROBIN, "fd00::3", kBackendMacB, false},
    {"2001:db8::20", 4500, kUdp, XLB_FWD_IPIP, XLB_ALG_MAGLEV, "10.0.0.3", kBackendMacB, false},
};

void configure(Oracle& oracle) {
  ASSERT_TRUE(g_dp->setSettings(testSettings(1)).ok());
  acceptVlan(*g_dp, kAcceptedVlan);
  oracle.acceptVlan(kAcceptedVlan);

  std::map<std::pair<Addr, int>, uint32_t> addr_vips;
  for (uint32_t i = 0; i < std::size(kVips); ++i) {
    const VipDef& d = kVips[i];
    OracleVip v;
    bool v6addr = false, v6be = false;
    v.id = i;
    v.addr = parseAddr(d.addr, &v6addr);
    v.family = v6addr ? 6 : 4;
    v.port = d.port;
    v.proto = d.proto;
    v.algorithm = d.alg;
    v.fwd_mode = d.mode;
    v.backend_id = i + 1;
    v.backend_addr = parseAddr(d.backend, &v6be);
    v.backend_family = v6be ? 6 : 4;
    v.backend_mac = parseMac(d.backend_mac);
    v.egress_mac = parseMac(d.other_interface ? kLb1Mac : kLbMac);
    v.redirect = d.other_interface;
    oracle.addVip(v);
    ++addr_vips[{v.addr, v.family}];

    ASSERT_TRUE(g_dp->upsertBackend(v.backend_id, makeBackend(d.backend, i)).ok());
    ASSERT_TRUE(g_dp->setSelectionTable(i, std::vector<uint32_t>(7, v.backend_id)).ok());
    ASSERT_TRUE(g_dp->upsertVip(makeVipKey(d.addr, d.port, d.proto), {i, d.alg, d.mode, 0}).ok());
  }
  for (const auto& [addr, n] : addr_vips) {
    xlb_addr_key ak{};
    memcpy(ak.addr, addr.first.data(), 16);
    ak.family = addr.second == 6 ? XLB_AF_INET6 : XLB_AF_INET;
    ASSERT_TRUE(g_dp->upsertVipAddr(ak, {n, 0}).ok());
  }
}

class Env : public ::testing::Environment {
 public:
  void SetUp() override {
    setUpOrSkip("barrage test");
    // Far above the flows a run creates: nothing is evicted.
    g_dp = loadOrSkip("barrage test", 1 << 17).release();
  }
  void TearDown() override { delete g_dp; }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new Env);

// A per-CPU u64 array, summed over CPUs (one lookup per index: cheap next to a test run).
std::vector<uint64_t> readPercpu(int fd, uint32_t n) {
  const int ncpu = libbpf_num_possible_cpus();
  std::vector<uint64_t> out(n), vals(static_cast<size_t>(ncpu));
  for (uint32_t i = 0; i < n; ++i) {
    if (bpf_map_lookup_elem(fd, &i, vals.data()) != 0) continue;
    for (uint64_t v : vals) out[i] += v;
  }
  return out;
}

// Global counters the oracle does not model: next-hop cache refreshes, open-flow bookkeeping on
// FIN/RST, flood protection.
bool unmodelled(int stat) {
  return stat == XLB_STAT_FIB_LOOKUP || stat == XLB_STAT_FLOW_CLOSE ||
         stat == XLB_STAT_CONNS_UNDERFLOW || stat == XLB_STAT_FLOW_PROTECT ||
         stat == XLB_STAT_FLOW_PROTECT_FULL;
}

const char* statName(int s) {
  if (s == kStatFlow) return "flow_new|flow_hit";
  if (s < 0) return "-";
  static const char* const names[] = {"aborted",
                                      "drop",
                                      "pass",
                                      "tx",
                                      "redirect",
                                      "rx",
                                      "non_vip",
                                      "malformed_pass",
                                      "non_ip",
                                      "icmp_pass",
                                      "flow_hit",
                                      "flow_new",
                                      "flow_resteer",
                                      "flow_update_fail",
                                      "fib_lookup",
                                      "no_neigh_pass",
                                      "flow_close",
                                      "conns_underflow",
                                      "icmp_fwd",
                                      "icmp_fwd_hash",
                                      "icmp_no_flow_pass",
                                      "icmp_bad_quote_pass",
                                      "icmp_non_vip_quote_pass",
                                      "flow_protect",
                                      "flow_protect_full",
                                      "flow_prot_hit"};
  return s >= 0 && s < static_cast<int>(std::size(names)) ? names[s] : "?";
}

const char* dropName(int d) {
  if (d < 0) return "-";
  static const char* const names[] = {
      "truncated",      "bad_ihl",          "ip_options", "fragment",     "unknown_proto",
      "no_backend",     "no_neigh",         "fib",        "encap",        "bad_len",
      "tcp_doff_short", "tcp_doff_overrun", "bad_source", "l2_multicast", "vlan_not_allowed"};
  return d >= 0 && d < static_cast<int>(std::size(names)) ? names[d] : "?";
}

// The bytes a forwarded frame must carry: dsr rewrites the MACs only; ipip puts an outer header to
// the backend between the (kept) L2 header and the untouched IP packet.
std::string checkOutput(const Verdict& v, const OracleVip* vip, const Bytes& in, const Bytes& out) {
  if (!v.forwarded()) return out == in ? "" : "a passed or dropped frame was modified";
  Bytes want = in;
  memcpy(want.data(), vip->backend_mac.data(), 6);
  memcpy(want.data() + 6, vip->egress_mac.data(), 6);
  if (vip->fwd_mode == XLB_FWD_DSR)
    return out == want ? "" : "dsr output is not the input with new MACs";
  const size_t l3 = v.l3_off, hl = vip->backend_family == 6 ? 40 : 20;
  if (out.size() != in.size() + hl) return "ipip output has the wrong size";
  if (!std::equal(want.begin(), want.begin() + static_cast<long>(l3 - 2), out.begin())) {
    return "ipip output: wrong L2 header";
  }
  if (!std::equal(in.begin() + static_cast<long>(l3), in.end(),
                  out.begin() + static_cast<long>(l3 + hl))) {
    return "ipip output: inner packet modified";
  }
  const uint8_t* o = out.data() + l3;
  const uint8_t inner = (in[l3] >> 4) == 4 ? 4 : 41;
  if (vip->backend_family == 4) {
    const size_t tot = (o[2] << 8) | o[3];
    if (out[l3 - 2] != 0x08 || out[l3 - 1] != 0x00 || o[0] != 0x45 || o[9] != inner ||
        tot != v.ip_len + 20 || memcmp(o + 16, vip->backend_addr.data(), 4) != 0 ||
        inetChecksum(o, 20) != 0) {
      return "ipip output: wrong outer IPv4 header";
    }
  } else {
    const size_t plen = (o[4] << 8) | o[5];
    if (out[l3 - 2] != 0x86 || out[l3 - 1] != 0xdd || (o[0] >> 4) != 6 || o[6] != inner ||
        plen != v.ip_len || memcmp(o + 24, vip->backend_addr.data(), 16) != 0) {
      return "ipip output: wrong outer IPv6 header";
    }
  }
  return "";
}

struct Tally {
  std::vector<uint64_t> stats = std::vector<uint64_t>(XLB_STAT_MAX);
  std::vector<uint64_t> drops = std::vector<uint64_t>(XLB_DROP_MAX);
  uint64_t flow = 0;  // FLOW_NEW + FLOW_HIT
  std::vector<xlb_counters> vips = std::vector<xlb_counters>(std::size(kVips));
  struct Row {
    uint64_t frames = 0, forwarded = 0, dropped = 0, passed = 0;
  };
  std::map<std::string, Row> categories;

  void add(const Case& c, const Verdict& v) {
    ++stats[XLB_STAT_RX];
    ++stats[v.action];
    if (v.stat == kStatFlow) ++flow;
    if (v.stat >= 0) ++stats[v.stat];
    if (v.drop >= 0) ++drops[v.drop];
    if (v.forwarded() && !v.icmp) {
      ++vips[v.vip].packets;
      vips[v.vip].bytes += c.frame.size();
    }
    Row& r = categories[c.name.substr(0, c.name.find('/', c.name.find('/') + 1))];
    ++r.frames;
    r.forwarded += v.forwarded();
    r.dropped += v.action == XDP_DROP;
    r.passed += v.action == XDP_PASS;
  }
};

class Barrage {
 public:
  explicit Barrage(Oracle& oracle) : oracle_(oracle) {
    stats_fd_ = g_dp->mapFd("xlb_stats");
    drops_fd_ = g_dp->mapFd("xlb_drops");
    stats_ = readPercpu(stats_fd_, XLB_STAT_MAX);
    drops_ = readPercpu(drops_fd_, XLB_DROP_MAX);
  }

  // Runs one frame and checks it against the oracle; returns false on a mismatch.
  bool run(const Case& c) {
    const Verdict v = oracle_.predict(c.frame);
    tally_.add(c, v);
    const RunResult r = runXdp(g_dp->programFd(), c.frame, lbIfindex());
    std::vector<uint64_t> stats = readPercpu(stats_fd_, XLB_STAT_MAX);
    std::vector<uint64_t> drops = readPercpu(drops_fd_, XLB_DROP_MAX);
    std::string why;
    if (r.err != 0) {
      why = "BPF_PROG_TEST_RUN failed: " + std::string(strerror(-r.err));
    } else if (r.ret == XDP_ABORTED) {
      why = "XDP_ABORTED";
    } else if (c.intent == Intent::kNotForwarded && (r.ret == XDP_TX || r.ret == XDP_REDIRECT)) {
      why = "a frame that must never reach a backend was forwarded";
    } else if (c.intent == Intent::kValidVip && r.ret != XDP_TX && r.ret != XDP_REDIRECT) {
      why = "a valid VIP frame was not forwarded";
    } else if (r.ret != v.action) {
      why = "action differs from the oracle's";
    } else {
      why = checkCounters(v, stats, drops);
      if (why.empty())
        why = checkOutput(v, v.vip >= 0 ? &oracle_.vips()[v.vip] : nullptr, c.frame, r.out);
      // The generator's intent and the oracle must agree too (a wrong oracle must not hide a bug).
      if (why.empty() && c.intent == Intent::kNotForwarded && v.forwarded()) {
        why = "oracle forwards a frame the generator made unforwardable";
      }
      if (why.empty() && c.intent == Intent::kValidVip && !v.forwarded()) {
        why = "oracle does not forward a frame the generator made valid";
      }
    }
    stats_ = std::move(stats);
    drops_ = std::move(drops);
    ++frames_;
    if (why.empty()) return true;
    if (++failures_ <= 20) {
      ADD_FAILURE() << "frame " << frames_ << " case " << c.name << ": " << why
                    << "\n  oracle: " << actionName(v.action) << " (" << v.rule << ", stat "
                    << statName(v.stat) << ", drop " << dropName(v.drop)
                    << ")\n  program: " << actionName(r.ret) << " err " << r.err
                    << "\n  frame:" << hexdump(c.frame) << "\n  output:" << hexdump(r.out);
    }
    return false;
  }
  uint64_t failures() const { return failures_; }
  const Tally& tally() const { return tally_; }

 private:
  static const char* actionName(uint32_t a) {
    static const char* const names[] = {"ABORTED", "DROP", "PASS", "TX", "REDIRECT"};
    return a < 5 ? names[a] : "?";
  }

  std::string checkCounters(const Verdict& v, const std::vector<uint64_t>& stats,
                            const std::vector<uint64_t>& drops) const {
    std::string why;
    for (int s = 0; s < XLB_STAT_MAX; ++s) {
      if (unmodelled(s) || s == XLB_STAT_FLOW_NEW || s == XLB_STAT_FLOW_HIT) continue;
      const uint64_t want = (s == XLB_STAT_RX) + (s == static_cast<int>(v.action)) + (s == v.stat);
      if (stats[s] - stats_[s] != want)
        why += std::string(" stat ") + statName(s) + " moved by " +
               std::to_string(stats[s] - stats_[s]);
    }
    const uint64_t flow = stats[XLB_STAT_FLOW_NEW] - stats_[XLB_STAT_FLOW_NEW] +
                          stats[XLB_STAT_FLOW_HIT] - stats_[XLB_STAT_FLOW_HIT];
    if (flow != (v.stat == kStatFlow ? 1u : 0u))
      why += " flow_new+flow_hit moved by " + std::to_string(flow);
    for (int d = 0; d < XLB_DROP_MAX; ++d) {
      if (drops[d] - drops_[d] != (d == v.drop ? 1u : 0u))
        why += std::string(" drop ") + dropName(d) + " moved by " +
               std::to_string(drops[d] - drops_[d]);
    }
    return why.empty() ? "" : "counters:" + why;
  }

  Oracle& oracle_;
  int stats_fd_, drops_fd_;
  std::vector<uint64_t> stats_, drops_;
  Tally tally_;
  uint64_t frames_ = 0, failures_ = 0;
};

uint64_t envOr(const char* name, uint64_t fallback) {
  const char* v = getenv(name);
  return v && *v ? strtoull(v, nullptr, 0) : fallback;
}

void printTable(const Tally& t, const std::vector<uint64_t>& drops_delta) {
  printf("\nbarrage: frames by category (forwarded / dropped / passed)\n");
  for (const auto& [name, r] : t.categories) {
    printf("  %-34s %7lu  %7lu / %7lu / %7lu\n", name.c_str(), r.frames, r.forwarded, r.dropped,
           r.passed);
  }
  printf("\nbarrage: drops by reason (map xlb_drops, equal to the oracle's tally)\n");
  uint64_t total = 0;
  for (int d = 0; d < XLB_DROP_MAX; ++d) {
    if (!drops_delta[d]) continue;
    printf("  %-20s %8lu\n", dropName(d), drops_delta[d]);
    total += drops_delta[d];
  }
  printf("  %-20s %8lu\n", "total", total);
  printf("\nbarrage: actions and counters (map xlb_stats)\n");
  for (int s = 0; s < XLB_STAT_MAX; ++s) {
    if (t.stats[s] || s == XLB_STAT_ABORTED) printf("  %-24s %8lu\n", statName(s), t.stats[s]);
  }
  printf("  %-24s %8lu\n", "flow_new+flow_hit", t.flow);
}

TEST(Barrage, RandomFramesMatchTheOracle) {
  Oracle oracle;
  configure(oracle);
  if (HasFatalFailure()) return;
  const uint64_t seed = envOr("XLB_BARRAGE_SEED", std::random_device{}());
  const uint64_t frames = envOr("XLB_BARRAGE_FRAMES", 100000);
  printf("barrage: seed %lu, %lu random frames (replay: XLB_BARRAGE_SEED=%lu)\n", seed, frames,
         seed);
  RecordProperty("seed", std::to_string(seed));

  auto before = g_dp->readCounters();
  ASSERT_TRUE(before.ok()) << before.status();
  const auto start = std::chrono::steady_clock::now();
  BarrageGenerator gen(seed, oracle.vips());
  Barrage barrage(oracle);
  std::vector<Case> sweep = gen.truncationSweep();
  for (const Case& c : sweep) barrage.run(c);
  for (uint64_t i = 0; i < frames; ++i) barrage.run(gen.next());
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  printf("barrage: %zu sweep + %lu random frames in %.1f s, %lu mismatches\n", sweep.size(), frames,
         secs, barrage.failures());
  EXPECT_EQ(barrage.failures(), 0u) << "replay with XLB_BARRAGE_SEED=" << seed;

  // The whole run's counters against the oracle's tallies.
  auto after = g_dp->readCounters();
  ASSERT_TRUE(after.ok()) << after.status();
  const Tally& t = barrage.tally();
  std::vector<uint64_t> drops_delta(XLB_DROP_MAX);
  for (int d = 0; d < XLB_DROP_MAX; ++d) {
    drops_delta[d] = after->drops[d] - before->drops[d];
    EXPECT_EQ(drops_delta[d], t.drops[d]) << "drop reason " << dropName(d);
  }
  for (int s = 0; s < XLB_STAT_MAX; ++s) {
    if (unmodelled(s) || s == XLB_STAT_FLOW_NEW || s == XLB_STAT_FLOW_HIT) continue;
    EXPECT_EQ(after->global[s] - before->global[s], t.stats[s]) << "stat " << statName(s);
  }
  EXPECT_EQ(after->global[XLB_STAT_FLOW_NEW] + after->global[XLB_STAT_FLOW_HIT] -
                before->global[XLB_STAT_FLOW_NEW] - before->global[XLB_STAT_FLOW_HIT],
            t.flow);
  EXPECT_EQ(t.stats[XLB_STAT_RX], sweep.size() + frames);
  for (size_t i = 0; i < std::size(kVips); ++i) {
    const uint32_t be = oracle.vips()[i].backend_id;
    EXPECT_EQ(after->vips[i].packets - before->vips[i].packets, t.vips[i].packets) << "vip " << i;
    EXPECT_EQ(after->vips[i].bytes - before->vips[i].bytes, t.vips[i].bytes) << "vip " << i;
    EXPECT_EQ(after->backends[be].packets - before->backends[be].packets, t.vips[i].packets)
        << "backend " << be;
  }
  // Every kind of verdict must have been exercised, or the barrage proves little.
  for (int d :
       {XLB_DROP_TRUNCATED, XLB_DROP_BAD_IHL, XLB_DROP_IP_OPTIONS, XLB_DROP_FRAGMENT,
        XLB_DROP_UNKNOWN_PROTO, XLB_DROP_BAD_LEN, XLB_DROP_TCP_DOFF_SHORT,
        XLB_DROP_TCP_DOFF_OVERRUN, XLB_DROP_BAD_SOURCE, XLB_DROP_L2_MULTICAST, XLB_DROP_VLAN}) {
    if (frames >= 20000) {
      EXPECT_GT(t.drops[d], 0u) << "never exercised: drop " << dropName(d);
    }
  }
  for (int s :
       {XLB_STAT_TX, XLB_STAT_REDIRECT, XLB_STAT_NON_VIP, XLB_STAT_MALFORMED_PASS, XLB_STAT_NON_IP,
        XLB_STAT_ICMP_PASS, XLB_STAT_ICMP_FWD, XLB_STAT_ICMP_FWD_HASH, XLB_STAT_ICMP_NO_FLOW_PASS,
        XLB_STAT_ICMP_BAD_QUOTE_PASS, XLB_STAT_ICMP_NON_VIP_QUOTE_PASS}) {
    if (frames >= 20000) {
      EXPECT_GT(t.stats[s], 0u) << "never exercised: " << statName(s);
    }
  }
  printTable(t, drops_delta);
}

}  // namespace
}  // namespace xlb::test
