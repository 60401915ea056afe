// SPDX-License-Identifier: Apache-2.0
// Health-check vocabulary: what to check, how often, and what a single check found.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/address.h"

namespace xlb::health {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

enum class CheckType { kNone, kTcp, kHttp, kGrpc };

struct HttpCheck {
  std::string method = "GET";
  std::string path = "/";
  std::string host;  // Host header; empty = the target address
  // Inclusive [low, high] ranges of accepted status codes.
  std::vector<std::pair<int, int>> statuses = {{200, 399}};
  std::string body_contains;  // optional substring the body must contain
};

struct GrpcCheck {
  std::string service;  // grpc.health.v1 service name; empty = the server as a whole
};

struct CheckSpec {
  CheckType type = CheckType::kTcp;
  Millis interval{1000};
  Millis timeout{500};
  uint32_t rise = 2;    // consecutive successes that bring a down backend up
  uint32_t fall = 2;    // consecutive failures that take an up backend down
  double jitter = 0.1;  // each interval is stretched or shrunk by up to this fraction
  HttpCheck http;
  GrpcCheck grpc;

  bool operator==(const CheckSpec& o) const {
    return type == o.type && interval == o.interval && timeout == o.timeout && rise == o.rise &&
           fall == o.fall && jitter == o.jitter && http.method == o.http.method &&
           http.path == o.http.path && http.host == o.http.host &&
           http.statuses == o.http.statuses && http.body_contains == o.http.body_contains &&
           grpc.service == o.grpc.service;
  }
};

struct Endpoint {
  IpAddress address;
  uint16_t port = 0;
  bool operator==(const Endpoint&) const = default;
};

// The outcome of one probe; `reason` is operator-facing: "connect: connection refused", "http 503",
// "timeout after 500ms", "grpc NOT_SERVING".
struct ProbeResult {
  bool ok = false;
  std::string reason;
};

enum class Health { kUnknown, kUp, kDown };

const char* healthName(Health h);

}  // namespace xlb::health
