// SPDX-License-Identifier: Apache-2.0
// The barrage oracle (barrage_oracle.h): issue 10's data-plane rules, in the order the issue states
// them.
#include "barrage_oracle.h"

#include <cstring>

namespace xlb::test {

namespace {

constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmp6 = 58;

uint16_t be16(const Bytes& f, size_t off) {
  return static_cast<uint16_t>((f[off] << 8) | f[off + 1]);
}

Addr addrAt(const Bytes& f, size_t off, size_t len) {
  Addr a{};
  memcpy(a.data(), f.data() + off, len);
  return a;
}

bool isIpv6ExtensionHeader(uint8_t nh) {
  return nh == 0 || nh == 43 || nh == 51 || nh == 60 || nh == 135 || nh == 139 || nh == 140;
}

Verdict pass(int stat, const char* rule) {
  Verdict v;
  v.action = XDP_PASS;
  v.stat = stat;
  v.rule = rule;
  return v;
}

Verdict drop(int reason, const char* rule) {
  Verdict v;
  v.action = XDP_DROP;
  v.drop = reason;
  v.rule = rule;
  return v;
}

// Rule 5's sources that can never be a client.
bool badSource(int family, const Addr& src, const Addr& dst) {
  if (src == dst) return true;
  if (family == 4) return src[0] == 0 || src[0] == 127 || src[0] >= 224;
  if (src[0] == 0xff) return true;
  for (int i = 0; i < 15; ++i) {
    if (src[i] != 0) return false;
  }
  return src[15] == 0 || src[15] == 1;
}

}  // namespace

struct Oracle::Parsed {
  size_t l3 = 14;
  bool vlan = false;
  uint16_t vlan_id = 0;
  int family = 0;
  Addr src{}, dst{};
  size_t l4 = 0, l4_len = 0, ip_len = 0;
  uint8_t proto = 0;
};

Verdict Oracle::predict(const Bytes& f) {
  Parsed p;
  // Rule 1: Ethernet, one tag.
  if (f.size() < 14) return pass(XLB_STAT_MALFORMED_PASS, "ethernet header truncated");
  uint16_t type = be16(f, 12);
  if (type == 0x8100 || type == 0x88a8) {
    if (f.size() < 18) return pass(XLB_STAT_MALFORMED_PASS, "VLAN tag truncated");
    p.vlan = true;
    p.vlan_id = be16(f, 14) & 0xfff;
    type = be16(f, 16);
    p.l3 = 18;
  }
  Verdict v;
  if (type == 0x0800) {
    v = ipv4(f, p);
  } else if (type == 0x86dd) {
    v = ipv6(f, p);
  } else {
    v = pass(XLB_STAT_NON_IP,
             p.vlan && (type == 0x8100 || type == 0x88a8) ? "second VLAN tag" : "not IP");
  }
  v.l3_off = p.l3;
  v.ip_len = p.ip_len;
  return v;
}

Verdict Oracle::malformed(const Parsed& p, int drop_reason, int pass_stat, const char* rule) const {
  if (isVipAddr(p.family, p.dst)) return drop(drop_reason, rule);
  return pass(pass_stat, rule);
}

Verdict Oracle::ipv4(const Bytes& f, Parsed& p) {
  const size_t l3 = p.l3;
  // Rule 2: the destination must be readable and the version must be the ethertype's.
  if (f.size() < l3 + 20) return pass(XLB_STAT_MALFORMED_PASS, "IPv4 header truncated");
  if ((f[l3] >> 4) != 4) return pass(XLB_STAT_MALFORMED_PASS, "IP version is not 4");
  p.family = 4;
  p.src = addrAt(f, l3 + 12, 4);
  p.dst = addrAt(f, l3 + 16, 4);
  // Rule 3.
  const unsigned ihl = f[l3] & 0xf;
  if (ihl < 5) return malformed(p, XLB_DROP_BAD_IHL, XLB_STAT_MALFORMED_PASS, "IPv4 IHL < 5");
  if (ihl > 5) return malformed(p, XLB_DROP_IP_OPTIONS, XLB_STAT_MALFORMED_PASS, "IPv4 options");
  const size_t tot = be16(f, l3 + 2);
  if (tot < 20 || l3 + tot > f.size()) {
    return malformed(p, XLB_DROP_BAD_LEN, XLB_STAT_MALFORMED_PASS, "IPv4 total length");
  }
  if (be16(f, l3 + 6) & 0x3fff) {
    return malformed(p, XLB_DROP_FRAGMENT, XLB_STAT_MALFORMED_PASS, "IPv4 fragment");
  }
  p.ip_len = tot;
  p.proto = f[l3 + 9];
  p.l4 = l3 + 20;
  p.l4_len = tot - 20;
  if (p.proto == kTcp || p.proto == kUdp) return transport(f, p);
  if (p.proto == kIcmp) return icmp(f, p);
  return malformed(p, XLB_DROP_UNKNOWN_PROTO, XLB_STAT_NON_VIP, "IPv4 protocol not TCP/UDP/ICMP");
}

Verdict Oracle::ipv6(const Bytes& f, Parsed& p) {
  const size_t l3 = p.l3;
  if (f.size() < l3 + 40) return pass(XLB_STAT_MALFORMED_PASS, "IPv6 header truncated");
  if ((f[l3] >> 4) != 6) return pass(XLB_STAT_MALFORMED_PASS, "IP version is not 6");
  p.family = 6;
  p.src = addrAt(f, l3 + 8, 16);
  p.dst = addrAt(f, l3 + 24, 16);
  const size_t plen = be16(f, l3 + 4);
  if (plen == 0 || l3 + 40 + plen > f.size()) {
    return malformed(p, XLB_DROP_BAD_LEN, XLB_STAT_MALFORMED_PASS, "IPv6 payload length");
  }
  p.ip_len = plen + 40;
  p.proto = f[l3 + 6];
  p.l4 = l3 + 40;
  p.l4_len = plen;
  if (p.proto == kTcp || p.proto == kUdp) return transport(f, p);
  if (p.proto == kIcmp6) return icmp(f, p);
  if (p.proto == 44) {
    return malformed(p, XLB_DROP_FRAGMENT, XLB_STAT_MALFORMED_PASS, "IPv6 fragment header");
  }
  if (isIpv6ExtensionHeader(p.proto)) {
    return malformed(p, XLB_DROP_IP_OPTIONS, XLB_STAT_MALFORMED_PASS, "IPv6 extension header");
  }
  return malformed(p, XLB_DROP_UNKNOWN_PROTO, XLB_STAT_NON_VIP,
                   "IPv6 next header not TCP/UDP/ICMPv6");
}

Verdict Oracle::transport(const Bytes& f, Parsed& p) {
  // The header must lie inside the IP packet (l4_len), which the checks above keep inside the
  // frame.
  if (p.proto == kTcp) {
    if (p.l4_len < 20)
      return malformed(p, XLB_DROP_TRUNCATED, XLB_STAT_MALFORMED_PASS, "TCP header truncated");
    const size_t doff = f[p.l4 + 12] >> 4;
    if (doff < 5)
      return malformed(p, XLB_DROP_TCP_DOFF_SHORT, XLB_STAT_MALFORMED_PASS, "TCP data offset < 5");
    if (doff * 4 > p.l4_len) {
      return malformed(p, XLB_DROP_TCP_DOFF_OVERRUN, XLB_STAT_MALFORMED_PASS,
                       "TCP data offset overrun");
    }
  } else {
    if (p.l4_len < 8)
      return malformed(p, XLB_DROP_TRUNCATED, XLB_STAT_MALFORMED_PASS, "UDP header truncated");
    const size_t ulen = be16(f, p.l4 + 4);
    if (ulen < 8 || ulen > p.l4_len) {
      return malformed(p, XLB_DROP_BAD_LEN, XLB_STAT_MALFORMED_PASS, "UDP length");
    }
  }
  const uint16_t sport = be16(f, p.l4), dport = be16(f, p.l4 + 2);
  // Rule 4.
  const int vip = findVip(p.family, p.dst, dport, p.proto);
  if (vip < 0) return pass(XLB_STAT_NON_VIP, "TCP/UDP not for a VIP");
  // Rule 5.
  Verdict s = sanity(f, p, vip);
  if (s.action != XDP_PASS) return s;
  // Rule 6.
  flows_.insert(flowKey(p.family, p.src, p.dst, sport, dport, p.proto));
  return forward(p, vip, kStatFlow, "balanced");
}

Verdict Oracle::icmp(const Bytes& f, Parsed& p) {
  if (!isVipAddr(p.family, p.dst)) return pass(XLB_STAT_NON_VIP, "ICMP not to a VIP address");
  const bool v6 = p.family == 6;
  // Without a whole ICMP header there is no type to call it an error: counted like other ICMP.
  if (p.l4_len < 8) return pass(XLB_STAT_ICMP_PASS, "ICMP header truncated");
  const uint8_t type = f[p.l4];
  const bool error = v6 ? (type == 1 || type == 2 || type == 3) : (type == 3 || type == 11);
  if (!error) return pass(XLB_STAT_ICMP_PASS, "ICMP other than an error");

  // The quote: an IP header and 8 bytes of its transport header, inside the outer IP packet.
  const size_t q = p.l4 + 8, qhl = v6 ? 40 : 20;
  if (p.l4_len < 8 + qhl + 8) return pass(XLB_STAT_ICMP_BAD_QUOTE_PASS, "quote truncated");
  uint8_t qproto;
  Addr qsrc, qdst;
  if (!v6) {
    if (f[q] != 0x45) return pass(XLB_STAT_ICMP_BAD_QUOTE_PASS, "quote not IPv4 with IHL 5");
    if (be16(f, q + 6) & 0x1fff)
      return pass(XLB_STAT_ICMP_BAD_QUOTE_PASS, "quote is a later fragment");
    qproto = f[q + 9];
    qsrc = addrAt(f, q + 12, 4);
    qdst = addrAt(f, q + 16, 4);
  } else {
    if ((f[q] >> 4) != 6) return pass(XLB_STAT_ICMP_BAD_QUOTE_PASS, "quote not IPv6");
    qproto = f[q + 6];
    if (qproto == 44 || isIpv6ExtensionHeader(qproto)) {
      return pass(XLB_STAT_ICMP_BAD_QUOTE_PASS, "quote with an extension header");
    }
    qsrc = addrAt(f, q + 8, 16);
    qdst = addrAt(f, q + 24, 16);
  }
  // A quote of another protocol (ICMP, or an IPv6 next header that is not an extension header) is a
  // well-formed quote of no VIP's flow: the README's ICMP table says non-VIP quote, not bad quote.
  if (qproto != kTcp && qproto != kUdp) {
    return pass(XLB_STAT_ICMP_NON_VIP_QUOTE_PASS, "quote not TCP/UDP");
  }
  if (qsrc != p.dst)
    return pass(XLB_STAT_ICMP_NON_VIP_QUOTE_PASS, "quote not from the destination");
  const uint16_t qsport = be16(f, q + qhl), qdport = be16(f, q + qhl + 2);
  const int vip = findVip(p.family, p.dst, qsport, qproto);
  if (vip < 0) return pass(XLB_STAT_ICMP_NON_VIP_QUOTE_PASS, "quote not from a VIP");
  // The VIP checks judge the error itself (its tag, MAC and source), not the quote.
  Verdict s = sanity(f, p, vip);
  if (s.action != XDP_PASS) return s;
  if (flows_.count(flowKey(p.family, qdst, p.dst, qdport, qsport, qproto))) {
    return forward(p, vip, XLB_STAT_ICMP_FWD, "ICMP error, recorded flow");
  }
  const uint8_t alg = vips_[vip].algorithm;
  if (alg == XLB_ALG_ROUND_ROBIN || alg == XLB_ALG_RANDOM || alg == XLB_ALG_LEAST_CONN) {
    return pass(XLB_STAT_ICMP_NO_FLOW_PASS, "ICMP error, no flow, VIP does not hash");
  }
  return forward(p, vip, XLB_STAT_ICMP_FWD_HASH, "ICMP error, no flow, hashed");
}

Verdict Oracle::sanity(const Bytes& f, const Parsed& p, int) const {
  if (p.vlan && !vlans_.count(p.vlan_id)) return drop(XLB_DROP_VLAN, "VLAN id not accepted");
  if (f[0] & 1) return drop(XLB_DROP_L2_MULTICAST, "multicast/broadcast destination MAC");
  if (badSource(p.family, p.src, p.dst))
    return drop(XLB_DROP_BAD_SOURCE, "source can never be a client");
  return pass(-1, "sane");
}

Verdict Oracle::forward(const Parsed& p, int vip, int stat, const char* rule) const {
  Verdict v;
  v.action = vips_[vip].redirect ? XDP_REDIRECT : XDP_TX;
  v.stat = stat;
  v.vip = vip;
  v.icmp = stat != kStatFlow;
  v.rule = rule;
  (void)p;
  return v;
}

int Oracle::findVip(int family, const Addr& addr, uint16_t port, uint8_t proto) const {
  for (int pass_port : {static_cast<int>(port), 0}) {
    for (size_t i = 0; i < vips_.size(); ++i) {
      const OracleVip& v = vips_[i];
      if (v.family == family && v.addr == addr && v.port == pass_port && v.proto == proto) {
        return static_cast<int>(i);
      }
    }
  }
  return -1;
}

bool Oracle::isVipAddr(int family, const Addr& addr) const {
  for (const OracleVip& v : vips_) {
    if (v.family == family && v.addr == addr) return true;
  }
  return false;
}

std::string Oracle::flowKey(int family, const Addr& src, const Addr& dst, uint16_t sport,
                            uint16_t dport, uint8_t proto) {
  std::string k(reinterpret_cast<const char*>(src.data()), 16);
  k.append(reinterpret_cast<const char*>(dst.data()), 16);
  k.push_back(static_cast<char>(sport >> 8));
  k.push_back(static_cast<char>(sport));
  k.push_back(static_cast<char>(dport >> 8));
  k.push_back(static_cast<char>(dport));
  k.push_back(static_cast<char>(proto));
  k.push_back(static_cast<char>(family));
  return k;
}

}  // namespace xlb::test
