// SPDX-License-Identifier: Apache-2.0
// Back-to-back read RPC sampling (see read_sampler.h).
#include "read_sampler.h"

#include <time.h>

#include <algorithm>
#include <cmath>

namespace xlb::bench {

const char* readKindName(ReadKind kind) {
  switch (kind) {
    case ReadKind::kListVips:
      return "vips";
    case ReadKind::kListBackends:
      return "backends";
    case ReadKind::kGetStats:
      return "stats";
  }
  return "?";
}

int64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

std::shared_ptr<grpc::Channel> agentChannel(const std::string& socket_path) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel("unix://" + socket_path, grpc::InsecureChannelCredentials(),
                                   args);
}

ReadSampler::ReadSampler(std::string socket_path, std::vector<ReadKind> kinds,
                         v1::VipKey backends_vip, std::chrono::milliseconds deadline)
    : socket_path_(std::move(socket_path)),
      kinds_(std::move(kinds)),
      backends_vip_(std::move(backends_vip)),
      deadline_(deadline) {}

ReadSampler::~ReadSampler() { stop(); }

void ReadSampler::start() {
  stop_ = false;
  per_thread_.assign(kinds_.size(), {});
  for (size_t i = 0; i < kinds_.size(); ++i) {
    threads_.emplace_back([this, i] { run(kinds_[i], &per_thread_[i]); });
  }
}

std::vector<ReadSample> ReadSampler::stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
  std::vector<ReadSample> all;
  for (auto& v : per_thread_) all.insert(all.end(), v.begin(), v.end());
  per_thread_.clear();
  std::sort(all.begin(), all.end(),
            [](const ReadSample& a, const ReadSample& b) { return a.start_ns < b.start_ns; });
  return all;
}

void ReadSampler::run(ReadKind kind, std::vector<ReadSample>* out) {
  auto stub = v1::Balancer::NewStub(agentChannel(socket_path_));
  while (!stop_) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
    ReadSample s{kind};
    s.start_ns = monotonicNs();
    grpc::Status st;
    switch (kind) {
      case ReadKind::kListVips: {
        v1::ListVipsRequest req;
        req.set_page_size(kListVipsPage);
        v1::ListVipsResponse resp;
        st = stub->ListVips(&ctx, req, &resp);
        break;
      }
      case ReadKind::kListBackends: {
        v1::ListBackendsRequest req;
        *req.mutable_vip() = backends_vip_;
        v1::ListBackendsResponse resp;
        st = stub->ListBackends(&ctx, req, &resp);
        break;
      }
      case ReadKind::kGetStats: {
        v1::Stats resp;
        st = stub->GetStats(&ctx, v1::GetStatsRequest(), &resp);
        break;
      }
    }
    s.end_ns = monotonicNs();
    s.code = st.error_code();
    out->push_back(s);
  }
}

struct ScheduledListVips::Call {
  grpc::ClientContext ctx;
  v1::ListVipsRequest req;
  v1::ListVipsResponse resp;
  int64_t scheduled_ns = 0;
};

ScheduledListVips::ScheduledListVips(const std::string& socket_path,
                                     std::chrono::microseconds interval,
                                     std::chrono::milliseconds deadline, size_t max_in_flight)
    : stub_(v1::Balancer::NewStub(agentChannel(socket_path))),
      interval_(interval),
      deadline_(deadline),
      max_in_flight_(max_in_flight) {}

ScheduledListVips::~ScheduledListVips() { stop(); }

void ScheduledListVips::start() {
  stop_ = false;
  thread_ = std::thread([this] { schedule(); });
}

void ScheduledListVips::schedule() {
  const int64_t step = std::chrono::duration_cast<std::chrono::nanoseconds>(interval_).count();
  int64_t next = monotonicNs();
  while (!stop_) {
    int64_t now = monotonicNs();
    if (now < next) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(next - now));
      continue;
    }
    {
      std::lock_guard lock(mu_);
      if (in_flight_ >= max_in_flight_) {
        ++skipped_;
        next += step;
        continue;
      }
      ++in_flight_;
    }
    auto* call = new Call;
    call->scheduled_ns = next;
    call->req.set_page_size(kListVipsPage);
    call->ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
    stub_->async()->ListVips(&call->ctx, &call->req, &call->resp, [this, call](grpc::Status st) {
      ReadSample s{ReadKind::kListVips, call->scheduled_ns, monotonicNs(), st.error_code()};
      delete call;
      std::lock_guard lock(mu_);
      samples_.push_back(s);
      --in_flight_;
      cv_.notify_all();
    });
    next += step;
  }
}

std::vector<ReadSample> ScheduledListVips::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, deadline_ + std::chrono::seconds(5), [this] { return in_flight_ == 0; });
  std::vector<ReadSample> out = samples_;
  std::sort(out.begin(), out.end(),
            [](const ReadSample& a, const ReadSample& b) { return a.start_ns < b.start_ns; });
  return out;
}

Latency latencyOver(const std::vector<ReadSample>& samples, const ReadKind* kind, int64_t from_ns,
                    int64_t to_ns) {
  Latency l;
  std::vector<double> ms;
  for (const auto& s : samples) {
    if (kind != nullptr && s.kind != *kind) continue;
    if (s.end_ns < from_ns || s.start_ns > to_ns) continue;
    if (s.code != grpc::StatusCode::OK) ++l.errors;
    ms.push_back(static_cast<double>(s.end_ns - s.start_ns) / 1e6);
  }
  l.n = ms.size();
  if (ms.empty()) return l;
  std::sort(ms.begin(), ms.end());
  // Nearest-rank percentiles: with few samples p99 is the maximum, which is what matters here.
  auto rank = [&](double p) {
    size_t r = static_cast<size_t>(std::ceil(p * static_cast<double>(ms.size())));
    return ms[std::clamp<size_t>(r, 1, ms.size()) - 1];
  };
  l.p50_ms = rank(0.50);
  l.p99_ms = rank(0.99);
  l.max_ms = ms.back();
  return l;
}

}  // namespace xlb::bench
