// SPDX-License-Identifier: Apache-2.0
// The NAT suites' shared fixture (nat_test.cc, nat_edge_test.cc): the balancer loaded with the NAT
// VIPs, backends, SNAT pools and reply filter the agent would write, and the helpers every NAT
// fixture uses (frames, the exact-bytes-and-counters check, checksum re-verification, map reads).
// Owns the suite-wide NAT configuration; each test file owns its own fixtures.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fixture.h"

namespace xlb::test {

inline constexpr uint8_t kSyn = 0x02, kAck = 0x10, kFin = 0x01, kSynAck = 0x12, kFinAck = 0x11,
                         kRst = 0x04;
inline constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmp6 = 58;
inline constexpr const char* kSnat4 = "10.200.0.1";
inline constexpr const char* kSnat4Tiny = "10.200.0.2";
inline constexpr const char* kSnat6 = "fd00:5a::1";
inline constexpr uint16_t kPortMin = 61000, kPortMax = 61010;
inline constexpr uint16_t kTinyMin = 61100, kTinyMax = 61103;

// The balancer every NAT test runs, loaded and configured once per binary (a global test
// environment in nat_fixture.cc; the suite is skipped without root).
extern dataplane::BpfDataplane* g_dp;
// The settings as last written: the reply filter's bloom bits and the NAT port range.
extern xlb_settings g_settings;

int natFd(uint8_t family);  // xlb_nat4 (XLB_AF_INET) or xlb_nat6

// Sets the reply filter's bit of addr:port in `bloom`; bloomHas tests it.
void setBloom(__u64* bloom, const std::string& addr, uint16_t port);
bool bloomHas(const __u64* bloom, const std::string& addr, uint16_t port);
// A NAT endpoint (xlb_nat_eps) and its bloom bit: a backend endpoint (port != 0) or an SNAT
// address (port 0). Written to the program by writeSettings.
void addEp(const std::string& addr, uint16_t port, uint8_t proto);
void writeSettings();
// A nat/fullnat backend with its port (xlb_be_nat); `ep`: also a NAT endpoint (nat mode).
void addBackend(uint32_t id, const std::string& addr, uint32_t vip, uint16_t port, bool ep = true,
                uint8_t proto = kTcp);
// A VIP of `mode` (XLB_FWD_NAT / XLB_FWD_FULLNAT) with its selection table.
void addVip(uint32_t id, const std::string& addr, uint16_t port, uint8_t proto, uint8_t mode,
            const std::vector<uint32_t>& table);
// A VIP's SNAT pool (one address per family, either may be null) and its endpoints.
void setPool(uint32_t vip, const char* a4, const char* a6, uint16_t lo, uint16_t hi);

dataplane::CounterSnapshot counters();

// Independent of PacketBuilder: sums the IPv4 header and the TCP/UDP/ICMP checksum (with the
// pseudo-header where the protocol has one) of `f`; a UDP/IPv4 checksum 0 means none.
bool checksumsOk(const Bytes& f, std::string* why);

struct Fixture {
  std::string description;
  Bytes input;
  uint32_t action;
  Bytes expected;  // exact output bytes
  int stat = -1;   // global counter that must grow by one
  int drop = -1;   // drop reason that must grow by one (and no other)
};
// Runs f.input once: the action, the exact bytes, valid checksums on a forwarded frame, RX and the
// action's counter, f.stat, and f.drop and no other drop reason.
void check(const Fixture& f);

// Appends the IP header for src -> dst, IPv4 or IPv6 by src's family; returns p.
PacketBuilder& ipOf(PacketBuilder& p, const std::string& src, const std::string& dst);

// Frames: client side (client MAC -> LB), backend side (backend MAC -> LB), and what leaves.
Bytes tcpFrame(const char* dmac, const char* smac, const std::string& src, const std::string& dst,
               uint16_t sport, uint16_t dport, uint8_t flags);
Bytes udpFrame(const char* dmac, const char* smac, const std::string& src, const std::string& dst,
               uint16_t sport, uint16_t dport);

xlb_flow_key key(const std::string& src, const std::string& dst, uint16_t sport, uint16_t dport,
                 uint8_t proto);
// An entry of xlb_nat4/xlb_nat6 by its wide key, in the wide form (dataplane/nat_layout.h).
bool natEntry(const xlb_flow_key& k, xlb_nat_value* v);
int natInsert(const xlb_flow_key& k, const xlb_nat_value& v, uint64_t flags);  // 0 or -errno
int natDelete(const xlb_flow_key& k);                                          // 0 or -errno
uint64_t conns(uint32_t be);                                                   // xlb_be_conns
uint64_t natFail(uint32_t be);  // xlb_nat_fail, summed over CPUs

}  // namespace xlb::test
