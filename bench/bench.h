// SPDX-License-Identifier: Apache-2.0
// xlb-bench internals shared by its parts: the restore-wrapper runner, frame builders, result rows,
// and the NAT rows (nat_rows.cc) that bench_main.cc calls.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "dataplane/bpf_dataplane.h"
#include "packet_builder.h"
#include "xlb/abi.h"

struct xlb_bench_wrapper;

namespace xlb::bench {

using xlb::dataplane::BpfDataplane;
using xlb::test::Bytes;

inline constexpr size_t kPktLen = 128;  // XLB_BENCH_PKT_LEN in wrapper.bpf.c
inline constexpr uint8_t kTcp = 6, kUdp = 17, kSyn = 0x02, kAck = 0x10;

struct Result {
  double median = 0, best = 0;
};

struct Row {
  std::string path, mode;
  Result ns;
  std::string north_star;
  std::string note;
};

// A NAT row stated as a ratio to its dsr (or no-NAT) counterpart from the same run.
struct RatioRow {
  std::string row, counterpart;
  Result ns, ref;
  double target = 0;  // ratio the issue asks for (<=); 0 = none
};

[[noreturn]] void die(const std::string& msg);
void check(const absl::Status& st, const char* what);
std::string num(const char* f, double v);

xlb_vip_key vipKey(const std::string& addr, uint16_t port, uint8_t proto);
xlb_backend backend(const std::string& addr, uint32_t vip);
// A 128-byte client -> LB frame (TCP with `flags`, or UDP).
Bytes v4(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint8_t proto,
         uint8_t flags);
Bytes v6(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint8_t flags);

// Runs a program under test through the restore wrapper (bench/wrapper.bpf.c).
class Bench {
 public:
  Bench(BpfDataplane& dp, xlb_bench_wrapper* w, uint32_t rounds, uint32_t repeat)
      : dp_(dp), w_(w), rounds_(rounds), repeat_(repeat) {}

  // Median and best ns/packet of `rounds` test runs of `repeat` packets; verifies the action every
  // round. bump: the wrapper writes its per-CPU counter into the 16 bits at sport_off (and the low
  // 24 bits of the IPv4 address at saddr_off when non-zero) before every packet.
  Result run(int target_fd, const Bytes& frame, uint32_t want_action, bool bump, uint32_t sport_off,
             uint32_t repeat = 0, Bytes* first_out = nullptr, uint32_t saddr_off = 0);
  // Sets the wrapper's per-CPU counter on every CPU: the next bumped packet carries value + 1.
  void setCounter(uint32_t value);
  xlb_bench_wrapper* wrapper() const { return w_; }

 private:
  // The drop reasons counted so far, to tell why a run dropped what it should have forwarded.
  std::string dropsSeen() const;

  BpfDataplane& dp_;
  xlb_bench_wrapper* w_;
  uint32_t rounds_, repeat_;
};

// The dsr figures the NAT rows are stated against (same run).
struct DsrRefs {
  Result established, syn, pass_plain;
};

// NAT (issue 11): configures a nat and a fullnat VIP (ids 7 and 8, backends 10.0.0.2/.3:8080, a
// four-address SNAT pool) and measures hits both ways, new connections and a non-VIP packet with
// the reply filter configured, on an almost empty NAT table. Leaves the NAT configuration in
// place and returns the settings it wrote.
xlb_settings natRows(BpfDataplane& dp, Bench& bench, std::vector<Row>& rows,
                     std::vector<RatioRow>& ratios, xlb_settings s, uint32_t rounds,
                     const DsrRefs& dsr);

// The same paths with 1,048,576 live NAT connections (2,097,152 xlb_nat entries), each hit packet
// another one of 65,536 of them, interleaved round by round with the dsr row over 1M live flows
// (fillFlows must have run) and with the non-VIP packet without the NAT filter. `nat_settings`:
// what natRows returned.
void natRows1M(BpfDataplane& dp, Bench& bench, std::vector<Row>& rows,
               std::vector<RatioRow>& ratios, const xlb_settings& nat_settings, uint32_t rounds,
               uint32_t repeat, const DsrRefs& dsr);

inline constexpr uint32_t kNat1MConns = 1u << 20;

}  // namespace xlb::bench
