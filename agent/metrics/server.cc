// SPDX-License-Identifier: Apache-2.0
// GET /metrics over cpp-httplib.
#include "metrics/server.h"

#include <charconv>
#include <chrono>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "spdlog/spdlog.h"

namespace xlb::metrics {
namespace {

constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";
// Scrapes are rare and cheap; two workers keep a slow client from blocking another scraper
// without adding eight idle threads to the agent.
constexpr size_t kWorkers = 2;

absl::Status badAddress(const std::string& listen, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("--metrics-listen: \"", listen, "\" ", why,
                                                 " (expected ADDR:PORT, e.g. 127.0.0.1:9440 or "
                                                 "[::1]:9440; \"\" disables)"));
}

}  // namespace

absl::StatusOr<std::pair<std::string, int>> parseListenAddress(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return badAddress(listen, "has no port");
  std::string host = listen.substr(0, colon);
  const std::string port_str = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return badAddress(listen, "has an IPv6 address without brackets");
  }
  if (host.empty()) return badAddress(listen, "has no address");
  int port = -1;
  auto [end, ec] = std::from_chars(port_str.data(), port_str.data() + port_str.size(), port);
  if (port_str.empty() || ec != std::errc() || end != port_str.data() + port_str.size() ||
      port < 0 || port > 65535) {
    return badAddress(listen, "has an invalid port");
  }
  return std::make_pair(host, port);
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& listen,
                                                                    Renderer render) {
  auto addr = parseListenAddress(listen);
  if (!addr.ok()) return addr.status();
  std::unique_ptr<MetricsServer> self(new MetricsServer());
  self->server_ = std::make_unique<httplib::Server>();
  httplib::Server& srv = *self->server_;
  srv.new_task_queue = [] { return new httplib::ThreadPool(kWorkers); };
  // httplib's default also sets SO_REUSEPORT, which would let a second agent bind the same port
  // and silently take half of the scrapes: only SO_REUSEADDR (restart while in TIME_WAIT).
  srv.set_socket_options([](socket_t sock) {
    int one = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  });
  srv.Get("/metrics", [render](const httplib::Request&, httplib::Response& res) {
    auto body = render();
    if (!body.ok()) {
      spdlog::warn("metrics: scrape failed: {}", std::string(body.status().message()));
      res.status = 500;
      res.set_content(absl::StrCat("scrape failed: ", body.status().message(), "\n"), "text/plain");
      return;
    }
    res.set_content(std::move(*body), kContentType);
  });
  srv.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("xlb-agent: metrics at /metrics\n", "text/plain");
  });

  const auto& [host, port] = *addr;
  if (port == 0) {
    self->port_ = srv.bind_to_any_port(host);
    if (self->port_ < 0) self->port_ = 0;
  } else if (srv.bind_to_port(host, port)) {
    self->port_ = port;
  }
  if (self->port_ <= 0) {
    return absl::UnavailableError(absl::StrCat("metrics: cannot listen on ", listen,
                                               " (address in use, not local, or not resolvable)"));
  }
  self->thread_ = std::thread([&srv] { srv.listen_after_bind(); });
  // httplib's stop() only closes the socket once the accept loop runs: wait for it, so that a
  // stop() right after start() cannot leave the thread blocked in accept forever.
  for (int i = 0; i < 5000 && !srv.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!srv.is_running()) {
    self->stop();
    return absl::InternalError(absl::StrCat("metrics: server on ", listen, " did not start"));
  }
  return self;
}

void MetricsServer::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

MetricsServer::~MetricsServer() { stop(); }

}  // namespace xlb::metrics
