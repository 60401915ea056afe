// SPDX-License-Identifier: Apache-2.0
// lbctl's gRPC channel to xlb-agent (unix socket, TLS/mTLS or explicit plaintext TCP) and the
// mapping of failures to messages and exit codes.
#include "client.h"

#include <grpc/grpc.h>
#include <grpc/support/log.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "args.h"

namespace xlb::cli {
namespace {

bool isUnixTarget(const std::string& target) { return absl::StartsWith(target, "unix:"); }

// How lbctl talks to a host:port target. reportRpcError's callers pass only the target, and a
// TLS 1.3 server that rejects the client's certificate just closes the socket after the handshake,
// so the hint depends on what this process sent.
enum class Transport { kUnix, kPlaintext, kTls, kMutualTls };

std::map<std::string, Transport>& transports() {
  static std::map<std::string, Transport> m;
  return m;
}

Transport transportOf(const std::string& target) {
  auto it = transports().find(target);
  if (it != transports().end()) return it->second;
  return isUnixTarget(target) ? Transport::kUnix : Transport::kTls;
}

absl::StatusOr<std::string> readFile(const char* flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": cannot read: ", std::strerror(errno)));
  }
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  // gRPC would only say "handshake failed" much later; a file that is not PEM is named now.
  if (!absl::StrContains(text, "-----BEGIN ")) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": not a PEM file (no \"-----BEGIN\" line)"));
  }
  return text;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentialsFor(
    const GlobalOptions& o, const std::string& target) {
  const bool tls_flags =
      !o.tls_ca.empty() || !o.tls_cert.empty() || !o.tls_key.empty() || !o.tls_server_name.empty();
  if (isUnixTarget(target)) {
    if (tls_flags) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tls-ca/--tls-cert/--tls-key/--tls-server-name (or LBCTL_TLS_*) apply to a host:port "
          "--server; ",
          target, " is a unix socket, whose file mode and group decide who may connect"));
    }
    return grpc::InsecureChannelCredentials();
  }
  if (o.insecure_plaintext) {
    if (tls_flags) {
      return absl::InvalidArgumentError(
          "--insecure-plaintext contradicts --tls-ca/--tls-cert/--tls-key/--tls-server-name: drop "
          "one of them");
    }
    return grpc::InsecureChannelCredentials();
  }
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(o.tls_cert.empty() ? "--tls-key" : "--tls-cert", " needs ",
                     o.tls_cert.empty() ? "--tls-cert" : "--tls-key",
                     " too (the client certificate and its key, for mutual TLS)"));
  }
  grpc::SslCredentialsOptions ssl;
  if (!o.tls_ca.empty()) {
    auto ca = readFile("--tls-ca", o.tls_ca);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = std::move(*ca);
  }
  if (!o.tls_cert.empty()) {
    auto cert = readFile("--tls-cert", o.tls_cert);
    if (!cert.ok()) return cert.status();
    auto key = readFile("--tls-key", o.tls_key);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = std::move(*cert);
    ssl.pem_private_key = std::move(*key);
  }
  return grpc::SslCredentials(ssl);
}

// Why a host:port connection failed, from gRPC's transport text, with what to try.
std::string tcpHint(const std::string& msg, Transport transport) {
  const std::string m = absl::AsciiStrToLower(msg);
  if (absl::StrContains(m, "socket closed") || absl::StrContains(m, "connection reset")) {
    switch (transport) {
      case Transport::kPlaintext:
        return "the agent closed the connection (it serves TLS there? drop --insecure-plaintext "
               "and use --tls-ca)";
      case Transport::kTls:
        return "TLS handshake failed (the agent requires a client certificate? use "
               "--tls-cert/--tls-key)";
      case Transport::kMutualTls:
        return "TLS handshake failed (the agent refused this client certificate: it must be "
               "signed by the CA given to the agent's --client-ca)";
      case Transport::kUnix:
        break;
    }
  }
  if (absl::StrContains(m, "certificate required") ||
      absl::StrContains(m, "peer did not return a certificate") ||
      absl::StrContains(m, "sslv3 alert handshake failure")) {
    return "TLS handshake failed (the agent requires a client certificate? use "
           "--tls-cert/--tls-key)";
  }
  if (absl::StrContains(m, "unknown ca") || absl::StrContains(m, "bad certificate") ||
      absl::StrContains(m, "certificate unknown") || absl::StrContains(m, "decrypt error")) {
    return "TLS handshake failed (the agent does not accept this client certificate: it must be "
           "signed by the agent's --client-ca)";
  }
  if (absl::StrContains(m, "certificate verify failed") || absl::StrContains(m, "self-signed") ||
      absl::StrContains(m, "self signed")) {
    return "TLS handshake failed (the agent's certificate is not trusted: give its CA with "
           "--tls-ca)";
  }
  if (absl::StrContains(m, "peer name") || absl::StrContains(m, "hostname") ||
      absl::StrContains(m, "subject alternative name")) {
    return "TLS handshake failed (the agent's certificate does not name this host: use the name "
           "it carries in --server or --tls-server-name)";
  }
  if (absl::StrContains(m, "wrong version number") ||
      absl::StrContains(m, "packet length too long") ||
      absl::StrContains(m, "record layer failure")) {
    return "TLS handshake failed (the agent speaks plaintext there? then --insecure-plaintext)";
  }
  if (absl::StrContains(m, "handshake") || absl::StrContains(m, "ssl") ||
      absl::StrContains(m, "tls")) {
    return "TLS handshake failed (check --tls-ca, --tls-cert/--tls-key and --tls-server-name)";
  }
  if (absl::StrContains(m, "connection refused")) {
    return "connection refused (is xlb-agent running with --listen on that address?)";
  }
  return "is xlb-agent listening there, and do TLS settings match (--insecure-plaintext only for "
         "an agent started with --insecure-plaintext-tcp)?";
}

}  // namespace

void addConnectionOptions(CLI::App& app, GlobalOptions& opts) {
  app.add_option("-s,--server", opts.server,
                 "Agent endpoint: unix:///path.sock, unix:path, /path.sock or host:port (TLS)")
      ->envname("XLB_SERVER")
      ->capture_default_str();
  app.add_option("--tls-ca", opts.tls_ca,
                 "PEM CA bundle that signed the agent's certificate (default: system roots)")
      ->envname("LBCTL_TLS_CA");
  app.add_option("--tls-cert", opts.tls_cert, "PEM client certificate (agents with --client-ca)")
      ->envname("LBCTL_TLS_CERT");
  app.add_option("--tls-key", opts.tls_key, "PEM private key of --tls-cert")
      ->envname("LBCTL_TLS_KEY");
  app.add_option("--tls-server-name", opts.tls_server_name,
                 "Name to expect in the agent's certificate (default: the --server host)")
      ->envname("LBCTL_TLS_SERVER_NAME");
  app.add_flag("--insecure-plaintext", opts.insecure_plaintext,
               "Plaintext to a host:port agent started with --insecure-plaintext-tcp");
}

namespace {
// gRPC core prints its own handshake errors to stderr; the message lbctl prints carries the same
// detail with a hint. GRPC_VERBOSITY set by the user keeps them (debugging).
void quietGrpcLog() {
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function([](gpr_log_func_args*) {});
}
}  // namespace

void startGrpc() {
  quietGrpcLog();
  grpc_init();
}

absl::StatusOr<std::unique_ptr<Client>> Client::create(const GlobalOptions& opts) {
  auto timeout = parseDuration(opts.timeout);
  if (!timeout.ok()) return timeout.status();
  std::string target = normalizeServer(opts.server);
  auto creds = credentialsFor(opts, target);
  if (!creds.ok()) return creds.status();
  transports()[target] = isUnixTarget(target)      ? Transport::kUnix
                         : opts.insecure_plaintext ? Transport::kPlaintext
                         : opts.tls_cert.empty()   ? Transport::kTls
                                                   : Transport::kMutualTls;
  quietGrpcLog();
  return std::unique_ptr<Client>(
      new Client(std::move(target), *timeout, std::move(*creds), opts.tls_server_name));
}

Client::Client(std::string target, std::chrono::milliseconds timeout,
               std::shared_ptr<grpc::ChannelCredentials> creds, const std::string& server_name)
    : target_(std::move(target)), timeout_(timeout) {
  grpc::ChannelArguments args;
  // lbctl makes one or two calls and exits: a short reconnect backoff keeps a just-started agent
  // reachable within the deadline instead of waiting out the default 1 s+ backoff.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  // Answers are as large as the agent's configuration (10,000 VIPs x 10 backends: ~9 MB of
  // ListVips), past gRPC's default 4 MiB receive limit; the agent's own limits bound them.
  args.SetMaxReceiveMessageSize(-1);
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
  channel_ = grpc::CreateCustomChannel(target_, creds, args);
  stub_ = xlb::v1::Balancer::NewStub(channel_);
}

std::unique_ptr<grpc::ClientContext> Client::context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + timeout_);
  return ctx;
}

int reportRpcError(const grpc::Status& status, const std::string& target, std::ostream& err) {
  std::string msg = status.error_message();
  const bool unreachable = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
                            absl::StrContains(msg, "connect"));
  if (unreachable && isUnixTarget(target) && absl::StrContains(msg, "Permission denied")) {
    msg = absl::StrCat("cannot reach xlb-agent at ", target,
                       ": permission denied (the socket is mode 0660 for root and the agent's "
                       "--socket-group: run lbctl as root or as a member of that group): ",
                       msg);
  } else if (unreachable && isUnixTarget(target)) {
    msg = absl::StrCat("cannot reach xlb-agent at ", target,
                       " (is xlb-agent running? is --server right?): ", msg);
  } else if (unreachable) {
    msg = absl::StrCat("cannot connect to ", target, ": ", tcpHint(msg, transportOf(target)), ": ",
                       msg);
  }
  err << formatError(status.error_code(), msg);
  return kExitRpc;
}

int reportLocalError(const absl::Status& status, int exit_code, std::ostream& err) {
  // absl and gRPC codes share their numbering.
  err << formatError(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
  return exit_code;
}

}  // namespace xlb::cli
