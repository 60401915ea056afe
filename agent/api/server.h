// SPDX-License-Identifier: Apache-2.0
// Starts the gRPC server on a unix socket (or TCP address) with the agent's socket hygiene.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace xlb::api {

// Socket path of a "unix:///abs/path" or "unix:rel/or/abs" listen address; empty for TCP addresses.
std::string unixSocketPath(const std::string& listen);

// For unix sockets: creates the parent directory (0755), removes a stale socket left by a dead
// agent (but refuses, FAILED_PRECONDITION, when another process still accepts on it), and sets the
// socket mode to 0660 so only root and the socket's group may drive the balancer.
absl::StatusOr<std::unique_ptr<grpc::Server>> startServer(const std::string& listen,
                                                          grpc::Service* service);

}  // namespace xlb::api
