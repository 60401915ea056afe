// SPDX-License-Identifier: Apache-2.0
// Read RPCs sampled back to back against the agent's unix socket, one thread (and one connection)
// per RPC kind, each sample timed on CLOCK_MONOTONIC; and the percentile helpers for them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "xlb/v1/xlb.grpc.pb.h"

namespace xlb::bench {

enum class ReadKind { kListVips, kListBackends, kGetStats };

// VIPs per sampled ListVips: one page of lbctl's size (cli/vip.cc), the first one.
inline constexpr uint32_t kListVipsPage = 500;
const char* readKindName(ReadKind kind);  // "vips", "backends", "stats"

struct ReadSample {
  ReadKind kind;
  int64_t start_ns = 0;  // CLOCK_MONOTONIC
  int64_t end_ns = 0;
  grpc::StatusCode code = grpc::StatusCode::OK;
};

int64_t monotonicNs();

// A channel to unix://PATH with no message-size cap (ListVips of 10,000 VIPs is several MB) and a
// connection of its own (no shared subchannel), so that samplers do not queue behind each other.
std::shared_ptr<grpc::Channel> agentChannel(const std::string& socket_path);

class ReadSampler {
 public:
  // `backends_vip`: the VIP whose backends ListBackends reads. Each read has `deadline`.
  ReadSampler(std::string socket_path, std::vector<ReadKind> kinds, v1::VipKey backends_vip,
              std::chrono::milliseconds deadline);
  ~ReadSampler();
  void start();
  // Stops after the reads in flight answer (each is bounded by the deadline).
  std::vector<ReadSample> stop();

 private:
  void run(ReadKind kind, std::vector<ReadSample>* out);

  std::string socket_path_;
  std::vector<ReadKind> kinds_;
  v1::VipKey backends_vip_;
  std::chrono::milliseconds deadline_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::vector<std::vector<ReadSample>> per_thread_;
};

// ListVips issued on a fixed schedule (every `interval`, whether or not earlier calls answered, at
// most `max_in_flight` outstanding), each timed from its scheduled start: a stall shows as many
// slow calls, not as one (a back-to-back sampler would record one call per stall: coordinated
// omission).
class ScheduledListVips {
 public:
  ScheduledListVips(const std::string& socket_path, std::chrono::microseconds interval,
                    std::chrono::milliseconds deadline, size_t max_in_flight = 1000);
  ~ScheduledListVips();
  void start();
  // Stops issuing and waits for the calls in flight (each bounded by the deadline).
  std::vector<ReadSample> stop();
  size_t skipped() const { return skipped_; }  // schedule slots missed at max_in_flight

 private:
  struct Call;
  void schedule();

  std::unique_ptr<v1::Balancer::Stub> stub_;
  std::chrono::microseconds interval_;
  std::chrono::milliseconds deadline_;
  size_t max_in_flight_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t in_flight_ = 0;
  size_t skipped_ = 0;
  std::vector<ReadSample> samples_;
};

struct Latency {
  size_t n = 0;
  size_t errors = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};
// Over the samples of `kind` that overlap [from_ns, to_ns] (all kinds when kind is null).
Latency latencyOver(const std::vector<ReadSample>& samples, const ReadKind* kind, int64_t from_ns,
                    int64_t to_ns);

}  // namespace xlb::bench
