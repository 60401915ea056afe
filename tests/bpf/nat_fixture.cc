// SPDX-License-Identifier: Apache-2.0
// The NAT suites' shared fixture (see nat_fixture.h): the suite-wide NAT configuration and helpers.
#include "nat_fixture.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "dataplane/nat_layout.h"

namespace xlb::test {

void addBackend(uint32_t id, const std::string& addr, uint32_t vip, uint16_t port, bool ep,
                uint8_t proto) {
  ASSERT_TRUE(g_dp->upsertBackend(id, makeBackend(addr, vip)).ok());
  xlb_be_nat bn{htons(port), 0};
  ASSERT_EQ(bpf_map_update_elem(g_dp->mapFd("xlb_be_nat"), &id, &bn, BPF_ANY), 0);
  if (ep) addEp(addr, port, proto);
}

void addVip(uint32_t id, const std::string& addr, uint16_t port, uint8_t proto, uint8_t mode,
            const std::vector<uint32_t>& table) {
  ASSERT_TRUE(g_dp->upsertVipAddr(makeAddrKey(addr), {1, 0}).ok());
  ASSERT_TRUE(g_dp->setSelectionTable(id, table).ok());
  ASSERT_TRUE(g_dp->upsertVip(makeVipKey(addr, port, proto), {id, XLB_ALG_MAGLEV, mode, 0}).ok());
}

void setPool(uint32_t vip, const char* a4, const char* a6, uint16_t lo, uint16_t hi) {
  xlb_snat p{};
  if (a4) {
    memcpy(p.addrs4[0], parseAddr(a4).data(), 4);
    p.nr4 = 1;
    addEp(a4, 0, kTcp);
    addEp(a4, 0, kUdp);
  }
  if (a6) {
    memcpy(p.addrs6[0], parseAddr(a6).data(), 16);
    p.nr6 = 1;
    addEp(a6, 0, kTcp);
  }
  p.port_min = lo;
  p.port_max = hi;
  ASSERT_EQ(bpf_map_update_elem(g_dp->mapFd("xlb_snat"), &vip, &p, BPF_ANY), 0);
}

dataplane::BpfDataplane* g_dp = nullptr;
xlb_settings g_settings{};

int natFd(uint8_t family) { return g_dp->mapFd(family == XLB_AF_INET6 ? "xlb_nat6" : "xlb_nat4"); }

void setBloom(__u64* bloom, const std::string& addr, uint16_t port) {
  bool v6 = false;
  auto a = parseAddr(addr, &v6);
  uint32_t a32;
  memcpy(&a32, a.data() + (v6 ? 12 : 0), 4);
  uint32_t bit = xlb_nat_bloom_bit(a32, htons(port));
  bloom[bit / 64] |= 1ull << (bit % 64);
}

bool bloomHas(const __u64* bloom, const std::string& addr, uint16_t port) {
  __u64 b[XLB_NAT_BLOOM_BITS / 64] = {};
  setBloom(b, addr, port);
  for (int i = 0; i < XLB_NAT_BLOOM_BITS / 64; ++i)
    if (b[i] & bloom[i]) return true;
  return false;
}

void addEp(const std::string& addr, uint16_t port, uint8_t proto) {
  xlb_nat_ep ep{};
  bool v6 = false;
  auto a = parseAddr(addr, &v6);
  memcpy(ep.addr, a.data(), 16);
  ep.port = htons(port);
  ep.proto = proto;
  ep.family = v6 ? XLB_AF_INET6 : XLB_AF_INET;
  uint32_t one = 1;
  ASSERT_EQ(bpf_map_update_elem(g_dp->mapFd("xlb_nat_eps"), &ep, &one, BPF_ANY), 0);
  if (port)
    setBloom(g_settings.nat_src_bloom, addr, port);
  else
    setBloom(g_settings.snat_dst_bloom, addr, 0);
}

void writeSettings() { ASSERT_TRUE(g_dp->setSettings(g_settings).ok()); }

dataplane::CounterSnapshot counters() { return readCounters(*g_dp); }

bool checksumsOk(const Bytes& f, std::string* why) {
  size_t l3 = 14;
  uint16_t et = static_cast<uint16_t>(f[12] << 8 | f[13]);
  if (et == 0x8100) l3 = 18, et = static_cast<uint16_t>(f[16] << 8 | f[17]);
  uint32_t seed = 0;
  size_t l4, len;
  uint8_t proto;
  if (et == 0x0800) {
    size_t ihl = (f[l3] & 0xf) * 4u;
    if (inetChecksum(&f[l3], ihl) != 0) return *why = "IPv4 header checksum", false;
    proto = f[l3 + 9];
    len = (f[l3 + 2] << 8 | f[l3 + 3]) - ihl;
    l4 = l3 + ihl;
    for (size_t i = 12; i < 20; i += 2) seed += f[l3 + i] << 8 | f[l3 + i + 1];
  } else {
    proto = f[l3 + 6];
    len = f[l3 + 4] << 8 | f[l3 + 5];
    l4 = l3 + 40;
    for (size_t i = 8; i < 40; i += 2) seed += f[l3 + i] << 8 | f[l3 + i + 1];
  }
  if (proto == kIcmp) {
    seed = 0;
  } else {
    seed += proto;
    seed += static_cast<uint32_t>(len);
  }
  if (proto == kUdp && et == 0x0800 && f[l4 + 6] == 0 && f[l4 + 7] == 0) return true;
  if (inetChecksum(&f[l4], len, seed) != 0) return *why = "L4 checksum", false;
  return true;
}

void check(const Fixture& f) {
  SCOPED_TRACE(f.description);
  dataplane::CounterSnapshot before = counters();
  RunResult r = runXdp(g_dp->programFd(), f.input, lbIfindex());
  ASSERT_EQ(r.err, 0) << "test run failed";
  EXPECT_EQ(r.ret, f.action);
  EXPECT_EQ(r.out, f.expected) << "got:" << hexdump(r.out) << "\nwant:" << hexdump(f.expected);
  if (f.action == XDP_TX || f.action == XDP_REDIRECT) {
    std::string why;
    EXPECT_TRUE(checksumsOk(r.out, &why)) << why;
  }
  dataplane::CounterSnapshot after = counters();
  EXPECT_EQ(after.global[XLB_STAT_RX], before.global[XLB_STAT_RX] + 1);
  EXPECT_EQ(after.global[f.action], before.global[f.action] + 1);
  if (f.stat >= 0) {
    EXPECT_EQ(after.global[f.stat], before.global[f.stat] + 1) << "stat " << f.stat;
  }
  for (int d = 0; d < XLB_DROP_MAX; ++d) {
    EXPECT_EQ(after.drops[d], before.drops[d] + (d == f.drop ? 1 : 0)) << "drop reason " << d;
  }
}

PacketBuilder& ipOf(PacketBuilder& p, const std::string& src, const std::string& dst) {
  bool v6 = false;
  parseAddr(src, &v6);
  return v6 ? p.ipv6(src, dst) : p.ipv4(src, dst);
}

Bytes tcpFrame(const char* dmac, const char* smac, const std::string& src, const std::string& dst,
               uint16_t sport, uint16_t dport, uint8_t flags) {
  PacketBuilder p;
  p.eth(dmac, smac);
  return ipOf(p, src, dst).tcp(sport, dport, flags).payload(Bytes(13, 0x61)).build();
}
Bytes udpFrame(const char* dmac, const char* smac, const std::string& src, const std::string& dst,
               uint16_t sport, uint16_t dport) {
  PacketBuilder p;
  p.eth(dmac, smac);
  return ipOf(p, src, dst).udp(sport, dport).payload(Bytes(11, 0x7e)).build();
}

xlb_flow_key key(const std::string& src, const std::string& dst, uint16_t sport, uint16_t dport,
                 uint8_t proto) {
  return flowKey(src, dst, sport, dport, proto);
}

bool natEntry(const xlb_flow_key& k, xlb_nat_value* v) {
  if (k.family == XLB_AF_INET6) {
    xlb_nat6_value v6{};
    if (bpf_map_lookup_elem(natFd(XLB_AF_INET6), &k, &v6)) return false;
    *v = dataplane::natWide(v6);
    return true;
  }
  const xlb_nat4_key k4 = dataplane::natKey4(k);
  xlb_nat4_value v4{};
  if (bpf_map_lookup_elem(natFd(XLB_AF_INET), &k4, &v4)) return false;
  *v = dataplane::natWide(v4);
  return true;
}

int natInsert(const xlb_flow_key& k, const xlb_nat_value& v, uint64_t flags) {
  if (k.family == XLB_AF_INET6) {
    const xlb_nat6_value v6 = dataplane::natValue6(v);
    return bpf_map_update_elem(natFd(XLB_AF_INET6), &k, &v6, flags);
  }
  const xlb_nat4_key k4 = dataplane::natKey4(k);
  const xlb_nat4_value v4 = dataplane::natValue4(v);
  return bpf_map_update_elem(natFd(XLB_AF_INET), &k4, &v4, flags);
}

int natDelete(const xlb_flow_key& k) {
  if (k.family == XLB_AF_INET6) return bpf_map_delete_elem(natFd(XLB_AF_INET6), &k);
  const xlb_nat4_key k4 = dataplane::natKey4(k);
  return bpf_map_delete_elem(natFd(XLB_AF_INET), &k4);
}

uint64_t conns(uint32_t be) {
  uint64_t v = 0;
  bpf_map_lookup_elem(g_dp->mapFd("xlb_be_conns"), &be, &v);
  return v;
}

uint64_t natFail(uint32_t be) {
  int n = libbpf_num_possible_cpus();
  std::vector<uint64_t> v(static_cast<size_t>(n));
  bpf_map_lookup_elem(g_dp->mapFd("xlb_nat_fail"), &be, v.data());
  uint64_t s = 0;
  for (auto x : v) s += x;
  return s;
}

namespace {

class Env : public ::testing::Environment {
 public:
  void SetUp() override {
    setUpOrSkip("nat tests");
    g_dp = loadOrSkip("nat tests", 4096).release();
    g_settings = testSettings();
    g_settings.nat_flags = XLB_NAT_F_EPS | XLB_NAT_F_SNAT;
    g_settings.nat_port_min = kPortMin;
    g_settings.nat_port_max = kTinyMax;

    addBackend(11, "10.0.0.2", 10, 8080);
    addBackend(12, "10.0.0.3", 11, 9090, false);  // fullnat: no endpoint
    addBackend(13, "fd00::2", 12, 8080);
    addBackend(14, "fd00::3", 13, 9090, false);
    addBackend(15, "10.0.0.2", 14, 5353, true, kUdp);
    addBackend(16, "fd00::2", 15, 5353, true, kUdp);
    addBackend(17, "10.0.0.3", 16, 9191, false);
    addBackend(18, "10.0.0.2", 17, 8080);
    addBackend(19, "10.0.0.3", 18, 8080);
    addBackend(20, "10.0.0.2", 18, 8081);
    addVip(10, "10.100.1.10", 80, kTcp, XLB_FWD_NAT, {11});
    addVip(11, "10.100.1.11", 80, kTcp, XLB_FWD_FULLNAT, {12});
    addVip(12, "2001:db8::1:10", 80, kTcp, XLB_FWD_NAT, {13});
    addVip(13, "2001:db8::1:11", 80, kTcp, XLB_FWD_FULLNAT, {14});
    addVip(14, "10.100.1.14", 53, kUdp, XLB_FWD_NAT, {15});
    addVip(15, "2001:db8::1:15", 53, kUdp, XLB_FWD_NAT, {16});
    addVip(16, "10.100.1.16", 80, kTcp, XLB_FWD_FULLNAT, {17});
    addVip(17, "10.100.1.17", 80, kTcp, XLB_FWD_NAT, {18});
    addVip(18, "10.100.1.18", 80, kTcp, XLB_FWD_NAT, {19});
    setPool(11, kSnat4, nullptr, kPortMin, kPortMax);
    setPool(13, nullptr, kSnat6, kPortMin, kPortMax);
    setPool(16, kSnat4Tiny, nullptr, kTinyMin, kTinyMax);
    writeSettings();
  }
  void TearDown() override { delete g_dp; }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new Env);

}  // namespace
}  // namespace xlb::test
