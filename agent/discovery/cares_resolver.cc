// SPDX-License-Identifier: Apache-2.0
// The c-ares implementation of Resolver: a search-list walk of ares_query questions on a channel
// configured from --resolv-conf, sockets polled (poll(2) with c-ares' own timeout) by whoever
// calls process(): the discovery thread. No call here blocks on the network.
// Why not ares_search: in c-ares 1.18 it hands its callback no message for a NXDOMAIN or NODATA
// ending a walk over search domains (abuf NULL), so the SOA that says how long the negative answer
// holds (RFC 2308) would be lost exactly where search lists are common (Kubernetes' ndots:5).
#include <ares.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "discovery/resolver.h"
#include "discovery/wire.h"
#include "spdlog/spdlog.h"
#include "xlb/abi.h"

namespace xlb::discovery {
namespace {

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
  CaresResolver(std::string path, uint16_t port) : path_(std::move(path)), port_(port) {}
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
    o.udp_port = port_;
    o.tcp_port = port_;
    const int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_RESOLVCONF | ARES_OPT_UDP_PORT |
                     ARES_OPT_TCP_PORT;
    if (int st = ares_init_options(&c, &o, mask); st != ARES_SUCCESS) {
      return absl::UnavailableError(
          absl::StrCat("c-ares init with ", path_, ": ", ares_strerror(st)));
    }
    // The search rules the channel read (ndots, search domains), for the walk in query().
    SearchList list;
    ares_options saved{};
    int saved_mask = 0;
    if (ares_save_options(c, &saved, &saved_mask) == ARES_SUCCESS) {
      list.ndots = saved.ndots;
      list.no_search = (saved.flags & ARES_FLAG_NOSEARCH) != 0;
      for (int i = 0; i < saved.ndomains; ++i) list.domains.emplace_back(saved.domains[i]);
      ares_destroy_options(&saved);
    }
    if (channel_ != nullptr) retired_.push_back(channel_);
    channel_ = c;
    search_ = std::move(list);
    return absl::OkStatus();
  }

  void query(const std::string& name, QueryType type, Callback done) override {
    auto* walk = new Walk{this, channel_, type, std::move(done)};
    walk->names = candidates(name, &walk->as_is);
    ++in_flight_;
    ask(walk);
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
  struct SearchList {
    int ndots = 1;
    bool no_search = false;
    std::vector<std::string> domains;
  };

  // One question walked over the search list, as ares_search does it (c-ares 1.18
  // ares_search.c): a name with at least ndots dots is asked as is first, others last; NXDOMAIN,
  // NODATA and SERVFAIL move on to the next candidate; anything else ends the walk; an exhausted
  // walk ends with what the name as is got (NODATA if any candidate had the name). HOSTALIASES is
  // not consulted (names are validated host names).
  struct Walk {
    CaresResolver* self;
    ares_channel channel;  // the walk stays on its channel even if reload() retires it
    QueryType type;
    Callback done;
    std::vector<std::string> names;
    size_t as_is = 0;  // index of the name as given
    size_t next = 0;   // index of the candidate asked now
    int status_as_is = ARES_ENOTFOUND;
    bool nodata_seen = false;
    // The smallest negative TTL over the negative answers of the walk; unknown once one of them
    // (or a SERVFAIL on the way) carried no SOA.
    std::optional<uint32_t> negative_ttl;
    bool negative_known = true;
  };

  std::vector<std::string> candidates(const std::string& name, size_t* as_is) const {
    *as_is = 0;
    if ((!name.empty() && name.back() == '.') || search_.no_search || search_.domains.empty()) {
      return {name};
    }
    std::vector<std::string> out;
    const bool first = std::count(name.begin(), name.end(), '.') >= search_.ndots;
    if (first) out.push_back(name);
    for (const std::string& d : search_.domains) out.push_back(absl::StrCat(name, ".", d));
    if (!first) {
      *as_is = out.size();
      out.push_back(name);
    }
    return out;
  }

  static void ask(Walk* w) {
    const int t = w->type == QueryType::kA      ? ns_t_a
                  : w->type == QueryType::kAAAA ? ns_t_aaaa
                                                : ns_t_srv;
    ares_query(w->channel, w->names[w->next].c_str(), ns_c_in, t, &CaresResolver::onReply, w);
  }

  static void foldNegative(Walk* w, const unsigned char* abuf, int alen) {
    const std::optional<uint32_t> t = abuf != nullptr ? negativeTtl(abuf, alen) : std::nullopt;
    if (!t) {
      w->negative_known = false;
    } else {
      w->negative_ttl = std::min(w->negative_ttl.value_or(UINT32_MAX), *t);
    }
  }

  static void onReply(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    auto* w = static_cast<Walk*>(arg);
    const bool negative = status == ARES_ENOTFOUND || status == ARES_ENODATA;
    if (negative || status == ARES_ESERVFAIL) {
      if (w->next == w->as_is) w->status_as_is = status;
      w->nodata_seen = w->nodata_seen || status == ARES_ENODATA;
      foldNegative(w, negative ? abuf : nullptr, alen);
      if (++w->next < w->names.size()) {
        ask(w);
        return;
      }
      status = w->status_as_is == ARES_ENOTFOUND && w->nodata_seen ? ARES_ENODATA : w->status_as_is;
      abuf = nullptr;
    }
    std::unique_ptr<Walk> p(w);
    --p->self->in_flight_;
    Answer a;
    if (status == ARES_SUCCESS) {
      a = p->type == QueryType::kSrv ? parseSrv(abuf, alen)
                                     : parseAddresses(abuf, alen, p->type == QueryType::kAAAA);
      if (a.outcome == Outcome::kEmpty) foldNegative(w, abuf, alen);  // e.g. only a CNAME
    } else if (status == ARES_ENODATA) {
      a.outcome = Outcome::kEmpty;
    } else if (status == ARES_ENOTFOUND) {
      a.outcome = Outcome::kNxDomain;
    } else {
      a = failure(status);
    }
    if (a.outcome == Outcome::kEmpty || a.outcome == Outcome::kNxDomain) {
      a.negative_ttl_s = p->negative_known ? p->negative_ttl : std::nullopt;
    }
    p->done(std::move(a));
  }

  std::string path_;
  uint16_t port_;
  ares_channel channel_ = nullptr;
  SearchList search_;
  std::vector<ares_channel> retired_;
  size_t in_flight_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Resolver>> makeCaresResolver(const std::string& resolv_conf,
                                                            uint16_t port) {
  static const int lib = ares_library_init(ARES_LIB_INIT_ALL);
  if (lib != ARES_SUCCESS) {
    return absl::UnavailableError(absl::StrCat("c-ares: ", ares_strerror(lib)));
  }
  auto r = std::make_unique<CaresResolver>(resolv_conf, port);
  if (auto st = r->init(); !st.ok()) return st;
  return std::unique_ptr<Resolver>(std::move(r));
}

}  // namespace xlb::discovery
