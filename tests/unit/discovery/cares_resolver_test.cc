// SPDX-License-Identifier: Apache-2.0
// The c-ares resolver against a scripted DNS server on a loopback UDP socket (no root): NXDOMAIN
// and NODATA answers carry their SOA's negative TTL (RFC 2308) to the discovery rules, also at
// the end of a walk over resolv.conf's search domains, where c-ares 1.18's ares_search would hand
// over no message at all; an answer without an SOA leaves it unknown.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "discovery/resolver.h"
#include "dns_message.h"

namespace xlb::discovery {
namespace {

using namespace std::chrono_literals;
using testing::DnsMessage;

// What the server answers to a question.
using Script = std::function<DnsMessage(uint16_t id, const std::string& qname, uint16_t qtype)>;

// A UDP DNS server on 127.0.0.1:<ephemeral> answering each question with the script's message
// and recording the questions in arrival order.
class ScriptedDns {
 public:
  explicit ScriptedDns(Script script) : script_(std::move(script)) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    timeval tv{0, 50000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedDns() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  std::vector<std::string> questions() const {
    std::lock_guard lock(mu_);
    return questions_;
  }

 private:
  void serve() {
    unsigned char buf[512];
    while (!stop_) {
      sockaddr_in from{};
      socklen_t flen = sizeof from;
      const ssize_t n =
          ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n < 12) continue;
      // The question: labels from offset 12, then QTYPE.
      std::string qname;
      size_t p = 12;
      while (p < static_cast<size_t>(n) && buf[p] != 0) {
        if (!qname.empty()) qname.push_back('.');
        qname.append(reinterpret_cast<const char*>(buf + p + 1), buf[p]);
        p += 1 + buf[p];
      }
      if (p + 3 > static_cast<size_t>(n)) continue;
      const uint16_t qtype = static_cast<uint16_t>((buf[p + 1] << 8) | buf[p + 2]);
      {
        std::lock_guard lock(mu_);
        questions_.push_back(qname);
      }
      const DnsMessage reply = script_(static_cast<uint16_t>((buf[0] << 8) | buf[1]), qname, qtype);
      ::sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
    }
  }

  Script script_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<std::string> questions_;
};

// A resolv.conf naming 127.0.0.1 with the given extra lines, in a fresh temporary file.
std::string writeResolvConf(const std::string& extra) {
  char path[] = "/tmp/xlb-cares-test.XXXXXX";
  const int fd = ::mkstemp(path);
  ::close(fd);
  std::ofstream(path) << "nameserver 127.0.0.1\n" << extra;
  return path;
}

// One question through the resolver, driven by process() until answered (bounded).
Answer ask(Resolver& r, const std::string& name, QueryType type) {
  Answer out;
  bool done = false;
  r.query(name, type, [&](Answer a) {
    out = std::move(a);
    done = true;
  });
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       !done && std::chrono::steady_clock::now() < deadline;) {
    r.process(100ms);
  }
  EXPECT_TRUE(done) << name << " not answered";
  return out;
}

// NXDOMAIN with SOA (ttl, minimum) for every name, or without an SOA when ttl < 0.
DnsMessage nxdomain(uint16_t id, const std::string& qname, uint16_t qtype, int64_t ttl,
                    uint32_t minimum) {
  DnsMessage m;
  m.response(id, testing::kRcodeNxDomain, qname, qtype, 0, ttl < 0 ? 0 : 1);
  if (ttl >= 0) m.soa(static_cast<uint32_t>(ttl), minimum);
  return m;
}

struct CaresResolverTest : ::testing::Test {
  void TearDown() override {
    if (!conf.empty()) ::unlink(conf.c_str());
  }
  std::unique_ptr<Resolver> make(const ScriptedDns& dns, const std::string& extra = "") {
    conf = writeResolvConf(extra);
    auto r = makeCaresResolver(conf, dns.port());
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(*r) : nullptr;
  }
  std::string conf;
};

TEST_F(CaresResolverTest, NxdomainCarriesTheSoaNegativeTtl) {
  ScriptedDns dns([](uint16_t id, const std::string& q, uint16_t t) {
    return nxdomain(id, q, t, /*ttl=*/300, /*minimum=*/7);
  });
  ASSERT_NE(dns.port(), 0);
  auto r = make(dns);
  ASSERT_NE(r, nullptr);
  Answer a = ask(*r, "gone.svc", QueryType::kA);
  EXPECT_EQ(a.outcome, Outcome::kNxDomain);
  EXPECT_EQ(a.negative_ttl_s, 7u);
  ASSERT_FALSE(dns.questions().empty());
  EXPECT_EQ(dns.questions().front(), "gone.svc");
}

TEST_F(CaresResolverTest, NodataCarriesTheSoaNegativeTtl) {
  ScriptedDns dns([](uint16_t id, const std::string& q, uint16_t t) {
    DnsMessage m;
    m.response(id, testing::kRcodeNoError, q, t, 0, 1).soa(/*ttl=*/4, /*minimum=*/60);
    return m;
  });
  auto r = make(dns);
  ASSERT_NE(r, nullptr);
  Answer a = ask(*r, "v4only.svc", QueryType::kAAAA);
  EXPECT_EQ(a.outcome, Outcome::kEmpty);
  EXPECT_EQ(a.negative_ttl_s, 4u);
}

TEST_F(CaresResolverTest, NoSoaLeavesTheNegativeTtlUnknown) {
  ScriptedDns dns(
      [](uint16_t id, const std::string& q, uint16_t t) { return nxdomain(id, q, t, -1, 0); });
  auto r = make(dns);
  ASSERT_NE(r, nullptr);
  Answer a = ask(*r, "gone.svc", QueryType::kA);
  EXPECT_EQ(a.outcome, Outcome::kNxDomain);
  EXPECT_EQ(a.negative_ttl_s, std::nullopt);
}

TEST_F(CaresResolverTest, SearchListWalkKeepsTheSmallestNegativeTtl) {
  // ndots:5 as in Kubernetes: "svc" is asked with each search domain first, then as is; each
  // answer is NXDOMAIN with its own zone's SOA. The name's negative answer holds as long as the
  // shortest of them (any could start to exist first).
  const std::map<std::string, uint32_t> minimum = {
      {"svc.ns1.test", 30}, {"svc.ns2.test", 12}, {"svc", 20}};
  ScriptedDns dns([&](uint16_t id, const std::string& q, uint16_t t) {
    return nxdomain(id, q, t, 600, minimum.at(q));
  });
  auto r = make(dns, "search ns1.test ns2.test\noptions ndots:5\n");
  ASSERT_NE(r, nullptr);
  Answer a = ask(*r, "svc", QueryType::kA);
  EXPECT_EQ(a.outcome, Outcome::kNxDomain);
  EXPECT_EQ(a.negative_ttl_s, 12u);
  EXPECT_EQ(dns.questions(), (std::vector<std::string>{"svc.ns1.test", "svc.ns2.test", "svc"}));
}

TEST_F(CaresResolverTest, SearchListWalkWithOneAnswerWithoutSoaIsUnknown) {
  ScriptedDns dns([](uint16_t id, const std::string& q, uint16_t t) {
    return nxdomain(id, q, t, q == "svc.ns2.test" ? -1 : 60, 10);
  });
  auto r = make(dns, "search ns1.test ns2.test\noptions ndots:5\n");
  ASSERT_NE(r, nullptr);
  Answer a = ask(*r, "svc", QueryType::kA);
  EXPECT_EQ(a.outcome, Outcome::kNxDomain);
  EXPECT_EQ(a.negative_ttl_s, std::nullopt);
}

TEST_F(CaresResolverTest, SearchListWalkStopsAtTheFirstAnswerAndNamesWithDotsGoFirst) {
  // "svc.ns2" has 1 dot >= ndots 1: asked as is first (NXDOMAIN), then svc.ns2.ns1.test
  // (NXDOMAIN), then svc.ns2.ns2.test, which has the address: the walk ends there.
  ScriptedDns dns([](uint16_t id, const std::string& q, uint16_t t) {
    if (q != "svc.ns2.ns2.test") return nxdomain(id, q, t, 60, 10);
    DnsMessage m;
    m.response(id, testing::kRcodeNoError, q, t, 1, 0)
        .u16(testing::kPtrQuestion)
        .rr(testing::kTypeA, 9, 4)
        .u32(0x0a000107);
    return m;
  });
  auto r = make(dns, "search ns1.test ns2.test ns3.test\noptions ndots:1\n");
  ASSERT_NE(r, nullptr);
  Answer a = ask(*r, "svc.ns2", QueryType::kA);
  ASSERT_EQ(a.outcome, Outcome::kOk);
  ASSERT_EQ(a.records.size(), 1u);
  EXPECT_EQ(a.records[0].address.toString(), "10.0.1.7");
  EXPECT_EQ(a.ttl_s, 9u);
  EXPECT_EQ(dns.questions(),
            (std::vector<std::string>{"svc.ns2", "svc.ns2.ns1.test", "svc.ns2.ns2.test"}));
}

TEST_F(CaresResolverTest, ServfailEndsTheWalkAsAFailure) {
  // c-ares 1.18 tries the next server after a SERVFAIL and, with none left, reports the query as
  // ECONNREFUSED (its initial error status): a failure that ends the walk, as in ares_search, so
  // the last good set is kept (stale) rather than the name read as missing.
  ScriptedDns dns([](uint16_t id, const std::string& q, uint16_t t) {
    if (q != "svc.ns1.test") return nxdomain(id, q, t, 60, 10);
    DnsMessage m;
    m.response(id, testing::kRcodeServFail, q, t, 0, 0);
    return m;
  });
  auto r = make(dns, "search ns1.test\noptions ndots:5\n");
  ASSERT_NE(r, nullptr);
  Answer a = ask(*r, "svc", QueryType::kA);
  EXPECT_EQ(a.outcome, Outcome::kFailure);
  EXPECT_EQ(a.negative_ttl_s, std::nullopt);
  for (const std::string& q : dns.questions()) EXPECT_EQ(q, "svc.ns1.test") << "the walk went on";
}

}  // namespace
}  // namespace xlb::discovery
