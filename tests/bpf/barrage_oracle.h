// SPDX-License-Identifier: Apache-2.0
// The barrage test's oracle: the balancer's packet rules of issue 10 restated from their
// specification, read byte by byte from a frame, plus the one piece of state they need (which flows
// were forwarded). It shares no code with bpf/: a disagreement is either a data-plane bug or an
// ambiguous rule.
#pragma once

#include <linux/bpf.h>

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "packet_builder.h"
#include "xlb/abi.h"

namespace xlb::test {

using Addr = std::array<uint8_t, 16>;

struct OracleVip {
  uint32_t id = 0;
  int family = 4;  // 4 or 6
  Addr addr{};
  uint16_t port = 0;  // host order; 0 = every port
  uint8_t proto = 0;
  uint8_t algorithm = XLB_ALG_MAGLEV;
  uint8_t fwd_mode = XLB_FWD_DSR;
  uint32_t backend_id = 0;  // the VIP's only backend
  int backend_family = 4;
  Addr backend_addr{};
  Mac backend_mac{};
  Mac egress_mac{};       // the balancer's MAC on the egress interface
  bool redirect = false;  // backend behind another interface: XDP_REDIRECT
};

// A FLOW_NEW or FLOW_HIT (which one depends on TCP flag history the oracle does not model).
inline constexpr int kStatFlow = -2;

struct Verdict {
  uint32_t action = XDP_PASS;
  int stat = -1;      // XLB_STAT_* counted besides RX and the action, or kStatFlow
  int drop = -1;      // XLB_DROP_* when dropped
  int vip = -1;       // index into Oracle::vips() when forwarded
  bool icmp = false;  // a forwarded ICMP error (not in per-VIP counters)
  size_t l3_off = 14;
  size_t ip_len = 0;  // IP header + payload as the header says (forwarded frames)
  std::string rule;   // the rule that decided, for failure messages and tallies
  bool forwarded() const { return action == XDP_TX || action == XDP_REDIRECT; }
};

class Oracle {
 public:
  void addVip(const OracleVip& vip) { vips_.push_back(vip); }
  void acceptVlan(uint16_t id) { vlans_.insert(id); }
  const std::vector<OracleVip>& vips() const { return vips_; }

  // The verdict for `frame`; a forwarded TCP/UDP frame records its flow (later ICMP errors about it
  // follow the recorded entry).
  Verdict predict(const Bytes& frame);

 private:
  struct Parsed;
  Verdict ipv4(const Bytes& f, Parsed& p);
  Verdict ipv6(const Bytes& f, Parsed& p);
  Verdict transport(const Bytes& f, Parsed& p);
  Verdict icmp(const Bytes& f, Parsed& p);
  Verdict malformed(const Parsed& p, int drop, int pass_stat, const char* rule) const;
  Verdict sanity(const Bytes& f, const Parsed& p, int vip) const;  // rule 5; action PASS when fine
  Verdict forward(const Parsed& p, int vip, int stat, const char* rule) const;
  int findVip(int family, const Addr& addr, uint16_t port, uint8_t proto) const;
  bool isVipAddr(int family, const Addr& addr) const;
  static std::string flowKey(int family, const Addr& src, const Addr& dst, uint16_t sport,
                             uint16_t dport, uint8_t proto);

  std::vector<OracleVip> vips_;
  std::set<uint16_t> vlans_;
  std::set<std::string> flows_;
};

}  // namespace xlb::test
