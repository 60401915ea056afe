// SPDX-License-Identifier: Apache-2.0
// DNS message walking for the TTLs the discovery rules need (wire.h).
#include "discovery/wire.h"

#include <algorithm>

namespace xlb::discovery {
namespace {

constexpr int kHeaderLen = 12;
constexpr int kRrFixedLen = 10;  // type, class, TTL, RDLENGTH
constexpr unsigned kTypeSoa = 6;
constexpr unsigned kClassIn = 1;
constexpr int kSoaCountersLen = 20;  // serial, refresh, retry, expire, minimum

unsigned u16(const unsigned char* p) { return (unsigned{p[0]} << 8) | p[1]; }
uint32_t u32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Skips a (possibly compressed) name starting at `p`; returns the offset after it, or -1 if it
// runs past `end` or has more labels than a name can.
int skipName(const unsigned char* buf, int end, int p) {
  for (int guard = 0; p >= 0 && p < end && guard < 128; ++guard) {
    const unsigned char c = buf[p];
    if (c == 0) return p + 1;
    if ((c & 0xc0) == 0xc0) return p + 2 <= end ? p + 2 : -1;
    if ((c & 0xc0) != 0) return -1;  // the reserved label types
    p += 1 + c;
  }
  return -1;
}

struct Rr {
  unsigned type = 0, klass = 0;
  uint32_t ttl = 0;
  int rdata = 0, rdlen = 0;
};

// Reads the record at `*p` and moves `*p` past it; false if it does not fit in the message.
bool readRr(const unsigned char* buf, int len, int* p, Rr* rr) {
  int q = skipName(buf, len, *p);
  if (q < 0 || q + kRrFixedLen > len) return false;
  rr->type = u16(buf + q);
  rr->klass = u16(buf + q + 2);
  rr->ttl = u32(buf + q + 4);
  rr->rdlen = static_cast<int>(u16(buf + q + 8));
  rr->rdata = q + kRrFixedLen;
  if (rr->rdata + rr->rdlen > len) return false;
  *p = rr->rdata + rr->rdlen;
  return true;
}

// The offset of the first answer record, or -1.
int skipQuestions(const unsigned char* buf, int len) {
  if (len < kHeaderLen) return -1;
  int p = kHeaderLen;
  for (unsigned i = 0, qd = u16(buf + 4); i < qd && p >= 0; ++i) {
    p = skipName(buf, len, p);
    if (p >= 0) p = p + 4 <= len ? p + 4 : -1;  // QTYPE, QCLASS
  }
  return p;
}

}  // namespace

uint32_t minAnswerTtl(const unsigned char* buf, int len) {
  int p = skipQuestions(buf, len);
  if (p < 0) return 0;
  uint32_t ttl = UINT32_MAX;
  Rr rr;
  for (unsigned i = 0, an = u16(buf + 6); i < an && readRr(buf, len, &p, &rr); ++i) {
    ttl = std::min(ttl, rr.ttl);
  }
  return ttl == UINT32_MAX ? 0 : ttl;
}

std::optional<uint32_t> negativeTtl(const unsigned char* buf, int len) {
  int p = skipQuestions(buf, len);
  if (p < 0) return std::nullopt;
  uint32_t answers = UINT32_MAX;
  Rr rr;
  for (unsigned i = 0, an = u16(buf + 6); i < an; ++i) {
    if (!readRr(buf, len, &p, &rr)) return std::nullopt;
    answers = std::min(answers, rr.ttl);
  }
  std::optional<uint32_t> best;
  for (unsigned i = 0, ns = u16(buf + 8); i < ns; ++i) {
    if (!readRr(buf, len, &p, &rr)) return std::nullopt;
    if (rr.type != kTypeSoa || rr.klass != kClassIn) continue;
    const int end = rr.rdata + rr.rdlen;
    int q = skipName(buf, end, rr.rdata);   // MNAME
    if (q >= 0) q = skipName(buf, end, q);  // RNAME
    if (q < 0 || q + kSoaCountersLen > end) return std::nullopt;
    const uint32_t minimum = u32(buf + q + 16);
    const uint32_t ttl = std::min({rr.ttl, minimum, answers});
    best = best ? std::min(*best, ttl) : ttl;
  }
  return best;
}

}  // namespace xlb::discovery
