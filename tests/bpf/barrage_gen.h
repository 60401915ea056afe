// SPDX-License-Identifier: Apache-2.0
// The barrage test's frame generator: valid frames to the test's VIPs and non-VIPs, and mutations
// of every header field that can be wrong, drawn from a seeded PRNG so a failing run can be
// replayed.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "barrage_oracle.h"
#include "packet_builder.h"

namespace xlb::test {

// What the generator meant, checked independently of the oracle's verdict.
enum class Intent {
  kValidVip,      // a well-formed frame to a VIP: must be forwarded
  kNotForwarded,  // malformed, insane, or not balanced traffic: must never be forwarded
  kAny,           // a random mutation: the oracle alone decides
};

struct Case {
  std::string name;  // category, e.g. "v4/fragment"
  Bytes frame;
  Intent intent = Intent::kAny;
};

class BarrageGenerator {
 public:
  BarrageGenerator(uint64_t seed, const std::vector<OracleVip>& vips) : rng_(seed), vips_(vips) {}
  Case next();
  // Every truncation (14 .. size-1) of a few templates: deterministic, no PRNG.
  std::vector<Case> truncationSweep();

 private:
  // A frame's variable parts before serialisation.
  struct Spec {
    int family = 4;
    uint8_t proto = 6;
    std::string src, dst, dmac;
    uint16_t sport = 0, dport = 0;
    uint8_t flags = 0x10;
    std::vector<std::pair<uint16_t, uint16_t>> tags;  // tpid, tci
    size_t payload = 0;
    Bytes raw;     // ICMP body
    int vip = -1;  // target VIP index (exact VIP match), or -1
  };
  enum class Target { kVip, kVipAddrOtherPort, kNonVip };

  uint32_t u(uint32_t n) { return static_cast<uint32_t>(rng_() % n); }
  bool chance(uint32_t percent) { return u(100) < percent; }
  Spec target(Target t, int family = 0);
  Target randomTarget();
  std::string client(int family);
  PacketBuilder builder(const Spec& s);
  Bytes build(const Spec& s) { return builder(s).build(); }
  static size_t l3Off(const Bytes& f);

  Case valid();
  Case nonVip();
  Case l2Mutation();
  Case ipv4Mutation();
  Case ipv6Mutation();
  Case transportMutation();
  Case sourceMutation();
  Case truncation();
  Case byteFlips();
  Case icmpEcho();
  Case icmpError();
  Case icmpBadQuote();
  Case icmpForeignQuote();
  Bytes quoteOf(const Spec& flow, size_t keep);
  Spec icmpErrorTo(const Spec& flow, uint8_t type);

  std::mt19937_64 rng_;
  const std::vector<OracleVip>& vips_;
  std::vector<Spec> flows_;  // client flows sent so far (reused; ICMP errors quote them)
};

}  // namespace xlb::test
