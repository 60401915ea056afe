// SPDX-License-Identifier: Apache-2.0
// e2e helper (test-flood.sh): sends spoofed TCP/IPv4 flows to VIPs through an AF_PACKET socket
// (sendmmsg, batches of 64) at a bounded rate. Flow i has source 198.18.0.0 + i (RFC 2544
// benchmarking space), a source port derived from i and VIP number i % (number of --vip addresses),
// so two runs with the same range address the same tuples (the "re-send each tuple after a few
// seconds" attacker). Each flow gets the packets of --flags in order (S = SYN, A = ACK). Bounded by
// --flows, --rate and --max-seconds.
// Usage: xlb-e2e-flood-gen --ifname DEV --dst-mac MAC --vip ADDR[,ADDR...] --dport PORT --flows N
//        [--first I] [--rate PPS] [--flags SAA] [--max-seconds S]
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr size_t kFrameLen = 14 + 20 + 20;
constexpr unsigned kBatch = 64;

uint16_t checksum(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t{p[i]} << 8) | p[i + 1];
  if (n & 1) sum += uint32_t{p[n - 1]} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// One Ethernet + IPv4 + TCP frame (no payload) of flow i with TCP flags `flags`.
void buildFrame(uint8_t* f, const uint8_t dmac[6], const uint8_t smac[6], uint32_t vip_be,
                uint16_t dport, uint32_t i, uint8_t flags, uint32_t seq) {
  std::memset(f, 0, kFrameLen);
  std::memcpy(f, dmac, 6);
  std::memcpy(f + 6, smac, 6);
  put16(f + 12, ETHERTYPE_IP);
  uint8_t* ip = f + 14;
  ip[0] = 0x45;
  put16(ip + 2, 40);
  ip[8] = 64;
  ip[9] = IPPROTO_TCP;
  const uint32_t src = (198u << 24) | (18u << 16) | (i & 0x1ffff);  // 198.18.0.0/15
  uint32_t src_be = htonl(src);
  std::memcpy(ip + 12, &src_be, 4);
  std::memcpy(ip + 16, &vip_be, 4);
  put16(ip + 10, checksum(ip, 20));
  uint8_t* tcp = ip + 20;
  put16(tcp, static_cast<uint16_t>(1024 + (i * 7919u) % 60000u));
  put16(tcp + 2, dport);
  tcp[4] = static_cast<uint8_t>(seq >> 24);
  tcp[5] = static_cast<uint8_t>(seq >> 16);
  tcp[6] = static_cast<uint8_t>(seq >> 8);
  tcp[7] = static_cast<uint8_t>(seq);
  if (flags & 0x10) tcp[11] = 1;  // ack number 1
  tcp[12] = 5 << 4;
  tcp[13] = flags;
  put16(tcp + 14, 65535);
  // Pseudo-header sum: source, destination, protocol, TCP length.
  uint32_t sum = 0;
  for (int k = 12; k < 20; k += 2) sum += (uint32_t{ip[k]} << 8) | ip[k + 1];
  sum += IPPROTO_TCP + 20;
  put16(tcp + 16, checksum(tcp, 20, sum));
}

bool parseMac(const char* s, uint8_t out[6]) {
  unsigned v[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return false;
  for (int k = 0; k < 6; ++k) out[k] = static_cast<uint8_t>(v[k]);
  return true;
}

double nowS() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

[[noreturn]] void usage(const char* why) {
  fprintf(stderr, "xlb-e2e-flood-gen: %s\n", why);
  exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string ifname, flags_spec = "SAA";
  uint8_t dmac[6] = {}, smac[6] = {};
  std::vector<uint32_t> vips_be;
  uint32_t flows = 0, first = 0;
  uint16_t dport = 0;
  double rate = 20000, max_seconds = 60;
  bool have_mac = false;
  for (int a = 1; a + 1 < argc; a += 2) {
    std::string k = argv[a];
    const char* v = argv[a + 1];
    if (k == "--ifname") ifname = v;
    else if (k == "--dst-mac") have_mac = parseMac(v, dmac);
    else if (k == "--vip") {
      std::string list = v;
      for (size_t pos = 0; pos <= list.size();) {
        size_t comma = list.find(',', pos);
        if (comma == std::string::npos) comma = list.size();
        uint32_t be = 0;
        if (inet_pton(AF_INET, list.substr(pos, comma - pos).c_str(), &be) != 1)
          usage("--vip: IPv4 addresses separated by commas");
        vips_be.push_back(be);
        pos = comma + 1;
      }
    }
    else if (k == "--dport") dport = static_cast<uint16_t>(atoi(v));
    else if (k == "--flows") flows = static_cast<uint32_t>(strtoul(v, nullptr, 10));
    else if (k == "--first") first = static_cast<uint32_t>(strtoul(v, nullptr, 10));
    else if (k == "--rate") rate = atof(v);
    else if (k == "--flags") flags_spec = v;
    else if (k == "--max-seconds") max_seconds = atof(v);
    else usage(("unknown option " + k).c_str());
  }
  if (ifname.empty() || !have_mac || vips_be.empty() || !dport || !flows || rate <= 0 || flags_spec.empty())
    usage("need --ifname --dst-mac --vip --dport --flows (and a positive --rate)");
  if (first + flows > 0x20000) usage("--first + --flows must stay within 198.18.0.0/15 (131072)");

  int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (fd < 0) usage(strerror(errno));
  ifreq ifr{};
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname.c_str());
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) usage(("SIOCGIFHWADDR: " + std::string(strerror(errno))).c_str());
  std::memcpy(smac, ifr.ifr_hwaddr.sa_data, 6);
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  sll.sll_halen = 6;
  std::memcpy(sll.sll_addr, dmac, 6);
  if (sll.sll_ifindex == 0) usage("no such interface");

  // Packet k of the run: flow first + k / P, flag k % P, so each flow's packets go out back to back.
  const uint32_t per_flow = static_cast<uint32_t>(flags_spec.size());
  const uint64_t total = uint64_t{flows} * per_flow;
  std::vector<uint8_t> frames(kBatch * kFrameLen);
  std::vector<iovec> iov(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  const double start = nowS();
  uint64_t sent = 0, errors = 0;
  while (sent < total) {
    const double t = nowS() - start;
    if (t > max_seconds) break;
    // Rate bound: never ahead of rate * elapsed.
    const double due = static_cast<double>(sent + kBatch) / rate;
    if (due > t) {
      const double wait = due - t;
      timespec ts{static_cast<time_t>(wait), static_cast<long>((wait - static_cast<double>(static_cast<time_t>(wait))) * 1e9)};
      nanosleep(&ts, nullptr);
    }
    unsigned n = 0;
    for (; n < kBatch && sent + n < total; ++n) {
      const uint64_t k = sent + n;
      const uint32_t i = first + static_cast<uint32_t>(k / per_flow);
      const char c = flags_spec[k % per_flow];
      const uint8_t flags = c == 'S' ? 0x02 : 0x10;
      uint8_t* f = &frames[n * kFrameLen];
      buildFrame(f, dmac, smac, vips_be[i % vips_be.size()], dport, i, flags,
                 c == 'S' ? 1000u : 1001u);
      iov[n] = {f, kFrameLen};
      msgs[n] = {};
      msgs[n].msg_hdr.msg_name = &sll;
      msgs[n].msg_hdr.msg_namelen = sizeof(sll);
      msgs[n].msg_hdr.msg_iov = &iov[n];
      msgs[n].msg_hdr.msg_iovlen = 1;
    }
    int r = sendmmsg(fd, msgs.data(), n, 0);
    if (r < 0) {
      ++errors;
      if (errors > 1000) usage(("sendmmsg: " + std::string(strerror(errno))).c_str());
      continue;
    }
    sent += static_cast<unsigned>(r);
  }
  const double took = nowS() - start;
  printf("sent %llu packets (%u flows x %u) in %.2f s: %.0f packets/s\n",
         static_cast<unsigned long long>(sent), flows, per_flow, took,
         static_cast<double>(sent) / (took > 0 ? took : 1));
  close(fd);
  return sent == total ? 0 : 1;
}
