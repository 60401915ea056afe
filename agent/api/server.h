// SPDX-License-Identifier: Apache-2.0
// Starts the gRPC server on its listeners: unix sockets guarded by file mode and group, TCP only
// with TLS (optionally mutual) unless plaintext is explicitly allowed, with the request limits.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/limits.h"

namespace xlb::api {

inline constexpr char kDefaultListen[] = "unix:///run/xlb/xlb.sock";
inline constexpr char kDefaultSocketGroup[] = "xlb";

struct ServerOptions {
  // "unix:///abs/path", "unix:path", "HOST:PORT", "[V6]:PORT" (port 0: any free port).
  std::vector<std::string> listen = {kDefaultListen};
  // Group given to unix sockets (and to their directory when the agent owns it): a name or a
  // numeric gid; empty keeps the agent's own group. A missing named group is a warning only.
  std::string socket_group = kDefaultSocketGroup;
  // PEM files; TCP listeners use TLS when tls_cert is set, and require a client certificate
  // signed by client_ca when that is set too.
  std::string tls_cert;
  std::string tls_key;
  std::string client_ca;
  // Lets a TCP listener run without TLS (anyone reaching the port controls the balancer).
  bool insecure_plaintext_tcp = false;
  RequestLimits limits;
};

// Socket path of a "unix:///abs/path" or "unix:rel/or/abs" listen address; empty for TCP addresses.
std::string unixSocketPath(const std::string& listen);

// Checks the listeners and the TLS flags together and reads the PEM files (missing, unreadable,
// not PEM, key not matching the certificate): INVALID_ARGUMENT naming the flag, value and fix.
// Touches nothing, so the agent can call it before loading the data plane.
absl::Status checkServerOptions(const ServerOptions& options);

// Serves every service on every listener. Runs checkServerOptions first. For unix sockets:
// creates a missing parent directory 0750 root:<group>, gives an existing root:root directory
// open to its group but closed to others (systemd's RuntimeDirectory, 0750) that group, removes a
// stale socket left by a dead agent (but refuses, FAILED_PRECONDITION, when another process still
// accepts on it), and sets the socket to 0660 root:<group> so only root and the group may drive the
// balancer. `tcp_ports`, when given, receives the bound port of each TCP listener in order (useful
// with port 0).
absl::StatusOr<std::unique_ptr<grpc::Server>> startServer(
    const ServerOptions& options, const std::vector<grpc::Service*>& services,
    std::vector<int>* tcp_ports = nullptr);

// One listener with default options, except that a unix socket keeps the caller's group (no
// --socket-group); plaintext TCP is refused.
absl::StatusOr<std::unique_ptr<grpc::Server>> startServer(
    const std::string& listen, const std::vector<grpc::Service*>& services);
inline absl::StatusOr<std::unique_ptr<grpc::Server>> startServer(const std::string& listen,
                                                                 grpc::Service* service) {
  return startServer(listen, std::vector<grpc::Service*>{service});
}

}  // namespace xlb::api
