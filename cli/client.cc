// SPDX-License-Identifier: Apache-2.0
// lbctl's gRPC channel to xlb-agent and the mapping of failures to messages and exit codes.
#include "client.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "args.h"

namespace xlb::cli {

absl::StatusOr<std::unique_ptr<Client>> Client::create(const GlobalOptions& opts) {
  auto timeout = parseDuration(opts.timeout);
  if (!timeout.ok()) return timeout.status();
  return std::unique_ptr<Client>(new Client(normalizeServer(opts.server), *timeout));
}

Client::Client(std::string target, std::chrono::milliseconds timeout)
    : target_(std::move(target)), timeout_(timeout) {
  grpc::ChannelArguments args;
  // lbctl makes one or two calls and exits: a short reconnect backoff keeps a just-started agent
  // reachable within the deadline instead of waiting out the default 1 s+ backoff.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  channel_ = grpc::CreateCustomChannel(target_, grpc::InsecureChannelCredentials(), args);
  stub_ = xlb::v1::Balancer::NewStub(channel_);
}

std::unique_ptr<grpc::ClientContext> Client::context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + timeout_);
  return ctx;
}

int reportRpcError(const grpc::Status& status, const std::string& target, std::ostream& err) {
  std::string msg = status.error_message();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
       absl::StrContains(msg, "connect"))) {
    msg = absl::StrCat("cannot reach xlb-agent at ", target,
                       " (is xlb-agent running? is --server right?): ", msg);
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
