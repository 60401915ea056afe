// SPDX-License-Identifier: Apache-2.0
// lbctl's connection to xlb-agent: global options, the gRPC stub, deadlines and error reporting.
#pragma once

#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "output.h"
#include "xlb/v1/bgp.grpc.pb.h"
#include "xlb/v1/inspect.grpc.pb.h"
#include "xlb/v1/xlb.grpc.pb.h"

// Exit codes: 0 success, 1 the agent refused or could not be reached, 2 bad command line.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRpc = 1;
inline constexpr int kExitUsage = 2;

namespace CLI {
class App;
}

namespace xlb::cli {

// Options shared by every command; filled by CLI11 before any command runs.
struct GlobalOptions {
  std::string server = "unix:///run/xlb/xlb.sock";
  std::string output = "table";
  std::string timeout = "5s";
  // TLS for a host:port --server (README "API security"): CA bundle to verify the agent (empty:
  // the system roots), client certificate and key for mutual TLS, name expected in the agent's
  // certificate instead of the host part of --server.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;
  // Plaintext to a host:port agent started with --insecure-plaintext-tcp.
  bool insecure_plaintext = false;
  OutputFormat format() const {
    return output == "json" ? OutputFormat::kJson : OutputFormat::kTable;
  }
};

// Registers --server and the TLS options (with their XLB_SERVER / LBCTL_TLS_* variables) on `app`.
void addConnectionOptions(CLI::App& app, GlobalOptions& opts);

// gRPC's own start (grpc_init: its threads and plugin registry, ~0.4 ms), with gRPC core's log
// lines silenced (Client::create says why). main runs it on a second thread while the command
// line is parsed; the channel Client::create makes then finds gRPC started.
void startGrpc();

class Client {
 public:
  // Fails (exit code kExitUsage) for a malformed --timeout, contradictory connection options or an
  // unreadable TLS file; connecting is lazy.
  static absl::StatusOr<std::unique_ptr<Client>> create(const GlobalOptions& opts);

  xlb::v1::Balancer::Stub& stub() { return *stub_; }
  // For stubs of the agent's other services (same connection, same credentials).
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  // A fresh context with the configured deadline, one per RPC.
  std::unique_ptr<grpc::ClientContext> context() const;
  const std::string& target() const { return target_; }

 private:
  Client(std::string target, std::chrono::milliseconds timeout,
         std::shared_ptr<grpc::ChannelCredentials> creds, const std::string& server_name);
  std::string target_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<xlb::v1::Balancer::Stub> stub_;
};

// Prints the RPC failure to stderr as "lbctl: CODE: message" and returns kExitRpc. When the agent
// is unreachable the message says why and what to check: the socket (unix), or for host:port a
// refused TLS handshake (client certificate missing or not trusted, server not trusted, TLS vs
// plaintext mismatch).
int reportRpcError(const grpc::Status& status, const std::string& target,
                   std::ostream& err = std::cerr);

// Prints a local (pre-RPC) error such as an unparsable VIP string and returns `exit_code`.
int reportLocalError(const absl::Status& status, int exit_code, std::ostream& err = std::cerr);

// Runs `rpc` with a fresh context; on failure reports and returns kExitRpc, else calls `done`.
template <typename Resp>
int callAndPrint(Client& client,
                 const std::function<grpc::Status(grpc::ClientContext*, Resp*)>& rpc,
                 const std::function<void(const Resp&)>& done) {
  Resp resp;
  auto ctx = client.context();
  grpc::Status st = rpc(ctx.get(), &resp);
  if (!st.ok()) return reportRpcError(st, client.target());
  done(resp);
  return kExitOk;
}

}  // namespace xlb::cli
