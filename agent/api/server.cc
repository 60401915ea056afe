// SPDX-License-Identifier: Apache-2.0
// gRPC server start-up with unix-socket directory, stale-socket and permission handling.
#include "api/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "spdlog/spdlog.h"

namespace xlb::api {
namespace {

// True when some process accepts connections on the socket at `path`.
bool socketIsLive(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  bool live = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return live;
}

absl::Status prepareUnixSocket(const std::string& path) {
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("--listen: socket path \"", path,
                                                   "\" is longer than ",
                                                   sizeof(sockaddr_un::sun_path) - 1, " bytes"));
  }
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) return errnoStatus(absl::StrCat("create directory ", parent.string()), ec.value());
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return errnoStatus(absl::StrCat("stat ", path), errno);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a socket; remove it or choose another --listen"));
  }
  if (socketIsLive(path)) {
    return absl::FailedPreconditionError(
        absl::StrCat("another process (an xlb-agent already running?) is listening on ", path));
  }
  spdlog::info("api: removing stale socket {}", path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return errnoStatus(absl::StrCat("remove stale socket ", path), errno);
  }
  return absl::OkStatus();
}

}  // namespace

std::string unixSocketPath(const std::string& listen) {
  if (absl::StartsWith(listen, "unix://")) return listen.substr(7);
  if (absl::StartsWith(listen, "unix:")) return listen.substr(5);
  return "";
}

absl::StatusOr<std::unique_ptr<grpc::Server>> startServer(const std::string& listen,
                                                          grpc::Service* service) {
  const std::string path = unixSocketPath(listen);
  if (!path.empty()) {
    if (auto st = prepareUnixSocket(path); !st.ok()) return st;
  }
  grpc::ServerBuilder builder;
  // Unix sockets need no TLS: access is controlled by the socket's file mode.
  builder.AddListeningPort(path.empty() ? listen : "unix:" + path,
                           grpc::InsecureServerCredentials());
  builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen, " (see the gRPC error above)"));
  }
  if (!path.empty() && ::chmod(path.c_str(), 0660) != 0) {
    int err = errno;
    server->Shutdown();
    return errnoStatus(absl::StrCat("chmod 0660 ", path), err);
  }
  return server;
}

}  // namespace xlb::api
