// SPDX-License-Identifier: Apache-2.0
// A scripted Resolver for the discovery tests: answers come from a table set by the test, are
// delivered by process(), and every question is counted.
#pragma once

#include <deque>
#include <map>
#include <string>
#include <utility>

#include "discovery/resolver.h"

namespace xlb::discovery {

class FakeResolver final : public Resolver {
 public:
  // The answer to (name, type) from now on; unset = NXDOMAIN.
  void set(const std::string& name, QueryType type, Answer a) {
    table_[{name, type}] = std::move(a);
  }
  // An A answer with the given addresses and TTL.
  void setA(const std::string& name, std::vector<std::string> addrs, uint32_t ttl = 5) {
    set(name, QueryType::kA, addresses(addrs, ttl, "A"));
  }
  static Answer addresses(const std::vector<std::string>& addrs, uint32_t ttl, const char* rr) {
    Answer a;
    a.outcome = addrs.empty() ? Outcome::kEmpty : Outcome::kOk;
    a.ttl_s = ttl;
    for (const auto& s : addrs) a.records.push_back(Record{*parseIpAddress(s), 0, 1, rr});
    return a;
  }
  static Answer fail(const char* why = "timeout") {
    Answer a;
    a.outcome = Outcome::kFailure;
    a.error = why;
    return a;
  }
  static Answer nx() {
    Answer a;
    a.outcome = Outcome::kNxDomain;
    return a;
  }

  void query(const std::string& name, QueryType type, Callback done) override {
    ++queries_[name];
    pending_.emplace_back(std::make_pair(name, type), std::move(done));
  }
  void process(std::chrono::milliseconds) override {
    // Answers may ask further questions (SRV targets): run until quiet.
    while (!pending_.empty()) {
      auto [q, cb] = std::move(pending_.front());
      pending_.pop_front();
      auto it = table_.find(q);
      cb(it == table_.end() ? nx() : it->second);
    }
  }
  size_t inFlight() const override { return pending_.size(); }
  absl::Status reload() override {
    ++reloads_;
    return absl::OkStatus();
  }

  int queries(const std::string& name) const {
    auto it = queries_.find(name);
    return it == queries_.end() ? 0 : it->second;
  }
  int reloads() const { return reloads_; }

 private:
  std::map<std::pair<std::string, QueryType>, Answer> table_;
  std::deque<std::pair<std::pair<std::string, QueryType>, Callback>> pending_;
  std::map<std::string, int> queries_;
  int reloads_ = 0;
};

}  // namespace xlb::discovery
