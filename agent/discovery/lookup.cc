// SPDX-License-Identifier: Apache-2.0
// Composed lookups (resolver.h): family any = A + AAAA, SRV = SRV + the targets' addresses.
#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "discovery/resolver.h"

namespace xlb::discovery {
namespace {

// Merges answers to questions asked together into one, by the rules of lookupName.
struct Join {
  size_t pending = 0;
  std::vector<Answer> answers;
  Resolver::Callback done;

  Answer merged() const {
    Answer out;
    bool any_ok = false, any_failure = false, any_nx = false;
    uint32_t ttl = UINT32_MAX;
    // A negative result holds as long as its shortest-lived part; a part without an SOA makes it
    // unknown (asked again after min_ttl).
    std::optional<uint32_t> negative_ttl;
    bool negative_known = true;
    auto foldNegative = [&](const Answer& a) {
      if (!a.negative_ttl_s) {
        negative_known = false;
      } else {
        negative_ttl = std::min(negative_ttl.value_or(UINT32_MAX), *a.negative_ttl_s);
      }
    };
    for (const Answer& a : answers) {
      switch (a.outcome) {
        case Outcome::kOk:
          any_ok = true;
          ttl = std::min(ttl, a.ttl_s);
          out.records.insert(out.records.end(), a.records.begin(), a.records.end());
          break;
        case Outcome::kFailure:
          any_failure = true;
          if (out.error.empty()) out.error = a.error;
          break;
        case Outcome::kNxDomain:
          any_nx = true;
          foldNegative(a);
          break;
        case Outcome::kEmpty:
          foldNegative(a);
          break;
      }
    }
    if (any_ok && !any_failure) {
      out.outcome = Outcome::kOk;
      out.ttl_s = ttl;
    } else if (any_failure) {
      // Half an answer is not a good set: keep the last one (stale) rather than shrink the pool.
      out.outcome = Outcome::kFailure;
      out.records.clear();
    } else {
      out.outcome = any_nx ? Outcome::kNxDomain : Outcome::kEmpty;
      out.records.clear();
      if (negative_known) out.negative_ttl_s = negative_ttl;
    }
    return out;
  }
};

Resolver::Callback joinPart(const std::shared_ptr<Join>& j) {
  return [j](Answer a) {
    j->answers.push_back(std::move(a));
    if (--j->pending == 0) j->done(j->merged());
  };
}

}  // namespace

void lookupName(Resolver& r, const std::string& name, v1::DnsFamily family,
                Resolver::Callback done) {
  auto j = std::make_shared<Join>();
  j->done = std::move(done);
  const bool v4 = family != v1::DNS_FAMILY_IPV6;
  const bool v6 = family != v1::DNS_FAMILY_IPV4;
  j->pending = (v4 ? 1 : 0) + (v6 ? 1 : 0);
  if (v4) r.query(name, QueryType::kA, joinPart(j));
  if (v6) r.query(name, QueryType::kAAAA, joinPart(j));
}

void lookupSrv(Resolver& r, const std::string& name, Resolver::Callback done) {
  r.query(name, QueryType::kSrv, [&r, done = std::move(done)](Answer srv) {
    if (srv.outcome != Outcome::kOk || srv.records.empty()) {
      if (srv.outcome == Outcome::kOk) srv.outcome = Outcome::kEmpty;
      done(std::move(srv));
      return;
    }
    auto j = std::make_shared<Join>();
    j->pending = srv.records.size();
    const uint32_t srv_ttl = srv.ttl_s;
    j->done = [done, srv_ttl](Answer a) {
      // Targets without addresses are left out; none at all is an empty answer, which holds no
      // longer than the SRV records that named the targets.
      if (a.outcome == Outcome::kNxDomain) a.outcome = Outcome::kEmpty;
      if (a.outcome == Outcome::kOk) a.ttl_s = std::min(a.ttl_s, srv_ttl);
      if (a.negative_ttl_s) a.negative_ttl_s = std::min(*a.negative_ttl_s, srv_ttl);
      done(std::move(a));
    };
    for (const Record& target : srv.records) {
      const std::string host = target.record.substr(0, target.record.find(':'));
      lookupName(r, host, v1::DNS_FAMILY_ANY, [j, target](Answer a) {
        if (a.outcome == Outcome::kNxDomain || a.outcome == Outcome::kEmpty) {
          a.outcome = Outcome::kEmpty;  // this target contributes nothing, the others still do
        }
        for (Record& rec : a.records) {
          rec.port = target.port;
          rec.weight = target.weight;
          rec.record = target.record;
        }
        j->answers.push_back(std::move(a));
        if (--j->pending == 0) j->done(j->merged());
      });
    }
  });
}

}  // namespace xlb::discovery
