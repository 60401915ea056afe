// SPDX-License-Identifier: Apache-2.0
// The HTTP endpoint serving GET /metrics (cpp-httplib, its own small thread pool).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace xlb::metrics {

class MetricsServer {
 public:
  // Produces the body of one scrape; an error becomes HTTP 500 with the message.
  using Renderer = std::function<absl::StatusOr<std::string>()>;

  // Listens on "ADDR:PORT" ("127.0.0.1:9440", "[::1]:9440", port 0 = any free port) and serves
  // until stop() or destruction. INVALID_ARGUMENT for a malformed address, UNAVAILABLE when the
  // bind fails.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> start(const std::string& listen,
                                                              Renderer render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }
  void stop();

 private:
  MetricsServer() = default;

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// Splits "ADDR:PORT" (IPv6 in brackets) into host and port. INVALID_ARGUMENT naming the flag.
absl::StatusOr<std::pair<std::string, int>> parseListenAddress(const std::string& listen);

}  // namespace xlb::metrics
