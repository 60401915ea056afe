// SPDX-License-Identifier: Apache-2.0
// The c-ares implementation of Resolver: ares_search on a channel configured from --resolv-conf,
// sockets polled (poll(2) with c-ares' own timeout) by whoever calls process(): the discovery
// thread. No call here blocks on the network.
#include <ares.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "discovery/resolver.h"
#include "spdlog/spdlog.h"
#include "xlb/abi.h"

namespace xlb::discovery {
namespace {

// Reads a (possibly compressed) name at `p`; returns the offset after it, or -1 if malformed.
int skipName(const unsigned char* buf, int len, int p) {
  for (int guard = 0; p < len && guard < 128; ++guard) {
    const unsigned char c = buf[p];
    if (c == 0) return p + 1;
    if ((c & 0xc0) == 0xc0) return p + 2 <= len ? p + 2 : -1;
    p += 1 + c;
  }
  return -1;
}

// The smallest TTL of the answer section (CNAMEs included, as Envoy learnt in #28925), or 0.
uint32_t minAnswerTtl(const unsigned char* buf, int len) {
  if (len < 12) return 0;
  const int qd = (buf[4] << 8) | buf[5];
  const int an = (buf[6] << 8) | buf[7];
  int p = 12;
  for (int i = 0; i < qd && p >= 0; ++i) {
    p = skipName(buf, len, p);
    if (p >= 0) p += 4;
  }
  uint32_t ttl = UINT32_MAX;
  for (int i = 0; i < an && p >= 0; ++i) {
    p = skipName(buf, len, p);
    if (p < 0 || p + 10 > len) break;
    const uint32_t t = (uint32_t{buf[p + 4]} << 24) | (uint32_t{buf[p + 5]} << 16) |
                       (uint32_t{buf[p + 6]} << 8) | uint32_t{buf[p + 7]};
    ttl = std::min(ttl, t);
    p += 10 + ((buf[p + 8] << 8) | buf[p + 9]);
  }
  return ttl == UINT32_MAX ? 0 : ttl;
}

Answer failure(int status) {
  Answer a;
  a.outcome = Outcome::kFailure;
  switch (status) {
    case ARES_ETIMEOUT:
      a.error = "timeout";
      break;
    case ARES_ESERVFAIL:
      a.error = "SERVFAIL";
      break;
    case ARES_EREFUSED:
      a.error = "REFUSED";
      break;
    case ARES_ECONNREFUSED:
      a.error = "connection refused";
      break;
    default:
      a.error = ares_strerror(status);
  }
  return a;
}

Answer parseAddresses(const unsigned char* buf, int len, bool v6) {
  Answer a;
  ares_addrttl v4ttl[64];
  ares_addr6ttl v6ttl[64];
  int n = 64;
  const int st = v6 ? ares_parse_aaaa_reply(buf, len, nullptr, v6ttl, &n)
                    : ares_parse_a_reply(buf, len, nullptr, v4ttl, &n);
  if (st == ARES_ENODATA) {
    a.outcome = Outcome::kEmpty;
    return a;
  }
  if (st != ARES_SUCCESS) return failure(st);
  for (int i = 0; i < n; ++i) {
    Record r;
    r.address.family = v6 ? XLB_AF_INET6 : XLB_AF_INET;
    if (v6) {
      std::memcpy(r.address.bytes.data(), &v6ttl[i].ip6addr, 16);
    } else {
      std::memcpy(r.address.bytes.data(), &v4ttl[i].ipaddr, 4);
    }
    r.record = v6 ? "AAAA" : "A";
    a.records.push_back(r);
  }
  a.outcome = a.records.empty() ? Outcome::kEmpty : Outcome::kOk;
  a.ttl_s = minAnswerTtl(buf, len);
  return a;
}

Answer parseSrv(const unsigned char* buf, int len) {
  Answer a;
  ares_srv_reply* srv = nullptr;
  const int st = ares_parse_srv_reply(buf, len, &srv);
  if (st == ARES_ENODATA) {
    a.outcome = Outcome::kEmpty;
    return a;
  }
  if (st != ARES_SUCCESS) return failure(st);
  unsigned lowest = UINT16_MAX + 1u;
  for (ares_srv_reply* s = srv; s != nullptr; s = s->next)
    lowest = std::min<unsigned>(lowest, s->priority);
  for (ares_srv_reply* s = srv; s != nullptr; s = s->next) {
    if (s->priority != lowest) continue;  // RFC 2782: higher priorities only when these fail
    Record r;
    r.port = s->port;
    r.weight = std::max<uint32_t>(1, s->weight);
    r.record = absl::StrCat(s->host, ":", s->port, " ", s->priority, "/", s->weight);
    a.records.push_back(r);
  }
  ares_free_data(srv);
  a.outcome = a.records.empty() ? Outcome::kEmpty : Outcome::kOk;
  a.ttl_s = minAnswerTtl(buf, len);
  return a;
}

class CaresResolver final : public Resolver {
 public:
  explicit CaresResolver(std::string path) : path_(std::move(path)) {}
  ~CaresResolver() override {
    if (channel_ != nullptr) ares_destroy(channel_);  // runs pending callbacks (cancelled)
    for (ares_channel c : retired_) ares_destroy(c);
  }

  absl::Status init() {
    ares_channel c = nullptr;
    ares_options o{};
    o.timeout = 1000;  // ms per try
    o.tries = 2;
    o.resolvconf_path = const_cast<char*>(path_.c_str());
    const int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_RESOLVCONF;
    if (int st = ares_init_options(&c, &o, mask); st != ARES_SUCCESS) {
      return absl::UnavailableError(
          absl::StrCat("c-ares init with ", path_, ": ", ares_strerror(st)));
    }
    if (channel_ != nullptr) retired_.push_back(channel_);
    channel_ = c;
    return absl::OkStatus();
  }

  void query(const std::string& name, QueryType type, Callback done) override {
    auto* ctx = new Pending{this, type, std::move(done)};
    ++in_flight_;
    const int t = type == QueryType::kA ? ns_t_a : type == QueryType::kAAAA ? ns_t_aaaa : ns_t_srv;
    ares_search(channel_, name.c_str(), ns_c_in, t, &CaresResolver::onReply, ctx);
  }

  void process(std::chrono::milliseconds max) override {
    std::vector<pollfd> fds;
    std::vector<ares_channel> channels = retired_;
    channels.push_back(channel_);
    std::vector<std::pair<ares_channel, int>> owner;
    for (ares_channel c : channels) {
      ares_socket_t socks[ARES_GETSOCK_MAXNUM];
      const int bits = ares_getsock(c, socks, ARES_GETSOCK_MAXNUM);
      for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
        short ev = 0;
        if (ARES_GETSOCK_READABLE(bits, i)) ev |= POLLIN;
        if (ARES_GETSOCK_WRITABLE(bits, i)) ev |= POLLOUT;
        if (ev == 0) continue;
        fds.push_back(pollfd{socks[i], ev, 0});
        owner.emplace_back(c, i);
      }
    }
    timeval tv{}, maxtv{};
    maxtv.tv_sec = max.count() / 1000;
    maxtv.tv_usec = (max.count() % 1000) * 1000;
    int wait_ms = static_cast<int>(max.count());
    for (ares_channel c : channels) {
      if (timeval* t = ares_timeout(c, &maxtv, &tv); t != nullptr) {
        wait_ms = std::min<int>(wait_ms, static_cast<int>(t->tv_sec * 1000 + t->tv_usec / 1000));
      }
    }
    const int n = ::poll(fds.data(), fds.size(), std::max(wait_ms, 0));
    for (size_t i = 0; n > 0 && i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      const bool r = fds[i].revents & (POLLIN | POLLERR | POLLHUP);
      const bool w = fds[i].revents & POLLOUT;
      ares_process_fd(owner[i].first, r ? fds[i].fd : ARES_SOCKET_BAD,
                      w ? fds[i].fd : ARES_SOCKET_BAD);
    }
    // Timeouts (and retries) of every channel.
    for (ares_channel c : channels) ares_process_fd(c, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    // A retired channel is destroyed once its questions are answered.
    for (auto it = retired_.begin(); it != retired_.end();) {
      ares_socket_t socks[ARES_GETSOCK_MAXNUM];
      if (ares_getsock(*it, socks, ARES_GETSOCK_MAXNUM) == 0 &&
          ares_timeout(*it, nullptr, &tv) == nullptr) {
        ares_destroy(*it);
        it = retired_.erase(it);
      } else {
        ++it;
      }
    }
  }

  size_t inFlight() const override { return in_flight_; }

  absl::Status reload() override { return init(); }

 private:
  struct Pending {
    CaresResolver* self;
    QueryType type;
    Callback done;
  };

  static void onReply(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    std::unique_ptr<Pending> p(static_cast<Pending*>(arg));
    --p->self->in_flight_;
    Answer a;
    if (status == ARES_SUCCESS) {
      a = p->type == QueryType::kSrv ? parseSrv(abuf, alen)
                                     : parseAddresses(abuf, alen, p->type == QueryType::kAAAA);
    } else if (status == ARES_ENODATA) {
      a.outcome = Outcome::kEmpty;
    } else if (status == ARES_ENOTFOUND) {
      a.outcome = Outcome::kNxDomain;
    } else {
      a = failure(status);
    }
    p->done(std::move(a));
  }

  std::string path_;
  ares_channel channel_ = nullptr;
  std::vector<ares_channel> retired_;
  size_t in_flight_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Resolver>> makeCaresResolver(const std::string& resolv_conf) {
  static const int lib = ares_library_init(ARES_LIB_INIT_ALL);
  if (lib != ARES_SUCCESS) {
    return absl::UnavailableError(absl::StrCat("c-ares: ", ares_strerror(lib)));
  }
  auto r = std::make_unique<CaresResolver>(resolv_conf);
  if (auto st = r->init(); !st.ok()) return st;
  return std::unique_ptr<Resolver>(std::move(r));
}

}  // namespace xlb::discovery
