// SPDX-License-Identifier: Apache-2.0
// gRPC server start-up: listener checks, unix-socket directory/group/mode hygiene, TLS and mTLS
// credentials from PEM files, request-size limits.
#include "api/server.h"

#include <grp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/errors.h"
#include "spdlog/spdlog.h"

namespace xlb::api {
namespace {

// ---- listeners ----------------------------------------------------------------------------------

absl::Status checkTcpListen(const std::string& listen) {
  auto bad = [&](const char* why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen \"", listen, "\": ", why,
        " (expected unix:///path.sock, HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9443)"));
  };
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return bad("has no port");
  const std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (host.empty() || host == "[]") return bad("has no address");
  if (host.front() != '[' && host.find(':') != std::string::npos) {
    return bad("has an IPv6 address without brackets");
  }
  int value = -1;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 0 ||
      value > 65535) {
    return bad("has an invalid port");
  }
  return absl::OkStatus();
}

// ---- TLS files ----------------------------------------------------------------------------------

struct TlsMaterial {
  std::string cert_pem;
  std::string key_pem;
  std::string client_ca_pem;  // empty: client certificates not requested
  bool expired = false;       // the server certificate's notAfter is in the past
};

// The first OpenSSL error of this thread as text (and the queue cleared), for "not PEM" details.
std::string opensslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no PEM block found";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

absl::StatusOr<std::string> readPemFile(const char* flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": cannot read: ", std::strerror(errno)));
  }
  std::stringstream s;
  s << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": cannot read: ", std::strerror(errno)));
  }
  return s.str();
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

BioPtr memBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Refuses to prompt: an encrypted key cannot be used by an unattended agent.
int noPassphrase(char*, int, int, void*) { return -1; }

// Every certificate in `pem`; an error naming the flag and path when there is none.
absl::StatusOr<std::vector<X509Ptr>> parseCertificates(const char* flag, const std::string& path,
                                                       const std::string& pem) {
  ERR_clear_error();
  BioPtr bio = memBio(pem);
  std::vector<X509Ptr> certs;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, noPassphrase, nullptr)) {
    certs.emplace_back(x);
  }
  // Reading stops with "no start line" at the end of the file: only an error before any
  // certificate means the file is not what it should be.
  if (certs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, " ", path,
        ": not a PEM certificate (expected \"-----BEGIN CERTIFICATE-----\"): ", opensslError()));
  }
  ERR_clear_error();
  return certs;
}

absl::StatusOr<TlsMaterial> loadTls(const ServerOptions& o) {
  TlsMaterial tls;
  auto cert = readPemFile("--tls-cert", o.tls_cert);
  if (!cert.ok()) return cert.status();
  auto key = readPemFile("--tls-key", o.tls_key);
  if (!key.ok()) return key.status();
  auto certs = parseCertificates("--tls-cert", o.tls_cert, *cert);
  if (!certs.ok()) return certs.status();
  ERR_clear_error();
  BioPtr key_bio = memBio(*key);
  PkeyPtr pkey(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, noPassphrase, nullptr));
  if (!pkey) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls-key ", o.tls_key,
        ": not an unencrypted PEM private key (expected \"-----BEGIN PRIVATE KEY-----\"): ",
        opensslError()));
  }
  X509* leaf = (*certs)[0].get();
  if (X509_check_private_key(leaf, pkey.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-key ", o.tls_key, " does not match the certificate in --tls-cert ",
                     o.tls_cert, " (a key/cert pair from the same CSR?)"));
  }
  tls.expired = X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0;
  tls.cert_pem = std::move(*cert);
  tls.key_pem = std::move(*key);
  if (!o.client_ca.empty()) {
    auto ca = readPemFile("--client-ca", o.client_ca);
    if (!ca.ok()) return ca.status();
    auto ca_certs = parseCertificates("--client-ca", o.client_ca, *ca);
    if (!ca_certs.ok()) return ca_certs.status();
    tls.client_ca_pem = std::move(*ca);
  }
  return tls;
}

// ---- unix sockets -------------------------------------------------------------------------------

// The gid --socket-group names: numeric as is (no /etc/group entry needed), a name through the
// group database. A missing group is not fatal (the .deb creates it; a hand install may not).
std::optional<gid_t> resolveGroup(const std::string& group, const std::string& socket) {
  if (group.empty()) return std::nullopt;
  if (std::all_of(group.begin(), group.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    gid_t gid = 0;
    auto [end, ec] = std::from_chars(group.data(), group.data() + group.size(), gid);
    if (ec == std::errc() && end == group.data() + group.size()) return gid;
  }
  struct group grp {};
  struct group* found = nullptr;
  std::vector<char> buf(16384);
  int err = ::getgrnam_r(group.c_str(), &grp, buf.data(), buf.size(), &found);
  if (found != nullptr) return found->gr_gid;
  spdlog::warn(
      "api: socket group \"{}\" does not exist{}{}, so {} stays root:root 0660 and only root can "
      "use lbctl; create it (groupadd --system {}) and restart the agent, or pass "
      "--socket-group NAME|GID",
      group, err != 0 ? ": " : "", err != 0 ? std::strerror(err) : "", socket, group);
  return std::nullopt;
}

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

// The socket's directory must let the group through, or the socket's own mode is moot.
absl::Status prepareSocketDirectory(const std::filesystem::path& dir, std::optional<gid_t> gid) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return errnoStatus(absl::StrCat("stat ", dir.string()), errno);
    std::error_code ec;
    if (dir.has_parent_path()) std::filesystem::create_directories(dir.parent_path(), ec);
    if (ec) return errnoStatus(absl::StrCat("create directory ", dir.string()), ec.value());
    // Created here, so it is ours to shape: no access for others, traversal for the group.
    if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
      return errnoStatus(absl::StrCat("create directory ", dir.string()), errno);
    }
    if (::chmod(dir.c_str(), 0750) != 0) {
      return errnoStatus(absl::StrCat("chmod 0750 ", dir.string()), errno);
    }
    if (gid && ::chown(dir.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
      return errnoStatus(absl::StrCat("chgrp ", *gid, " ", dir.string()), errno);
    }
    return absl::OkStatus();
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir.string(), " is not a directory; choose another --listen"));
  }
  if (!gid) return absl::OkStatus();
  // A root:root directory made for group access but closed to others (systemd's
  // RuntimeDirectory=xlb with RuntimeDirectoryMode=0750) exists for the agent's socket: it gets the
  // socket group. Shared directories (/run, /tmp: others may enter), private ones (/root: 0700)
  // and directories someone gave a group are never touched.
  if (st.st_uid == 0 && st.st_gid == 0 && (st.st_mode & 0007) == 0 && (st.st_mode & 0010) != 0 &&
      ::geteuid() == 0 && *gid != 0) {
    if (::chown(dir.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
      return errnoStatus(absl::StrCat("chgrp ", *gid, " ", dir.string()), errno);
    }
    st.st_gid = *gid;
    spdlog::info("api: gave {} to group {} (socket directory)", dir.string(), *gid);
  }
  const bool group_can_enter = st.st_gid == *gid && (st.st_mode & 0010) != 0;
  const bool others_can_enter = (st.st_mode & 0001) != 0;
  if (!group_can_enter && !others_can_enter) {
    spdlog::warn(
        "api: members of group {} cannot enter {} (mode {:o}, group {}), so they cannot reach the "
        "socket; chgrp {} {} && chmod g+x {}",
        *gid, dir.string(), st.st_mode & 07777, st.st_gid, *gid, dir.string(), dir.string());
  }
  return absl::OkStatus();
}

absl::Status prepareUnixSocket(const std::string& path, std::optional<gid_t> gid) {
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("--listen: socket path \"", path,
                                                   "\" is longer than ",
                                                   sizeof(sockaddr_un::sun_path) - 1, " bytes"));
  }
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    if (auto st = prepareSocketDirectory(parent, gid); !st.ok()) return st;
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

// Group before mode, so the socket is never 0660 with a group it should not have.
absl::Status secureSocket(const std::string& path, std::optional<gid_t> gid) {
  if (gid && ::chown(path.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
    return errnoStatus(absl::StrCat("chgrp ", *gid, " ", path), errno);
  }
  if (::chmod(path.c_str(), 0660) != 0)
    return errnoStatus(absl::StrCat("chmod 0660 ", path), errno);
  return absl::OkStatus();
}

}  // namespace

std::string unixSocketPath(const std::string& listen) {
  if (absl::StartsWith(listen, "unix://")) return listen.substr(7);
  if (absl::StartsWith(listen, "unix:")) return listen.substr(5);
  return "";
}

absl::Status checkServerOptions(const ServerOptions& o) {
  if (o.listen.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen: no listener given (the default is ", kDefaultListen, ")"));
  }
  std::string first_tcp;
  for (const std::string& listen : o.listen) {
    if (absl::StartsWith(listen, "unix:")) {
      if (unixSocketPath(listen).empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--listen \"", listen, "\": no socket path (e.g. unix:///run/xlb/xlb.sock)"));
      }
      continue;
    }
    if (auto st = checkTcpListen(listen); !st.ok()) return st;
    if (first_tcp.empty()) first_tcp = listen;
  }
  const bool tls = !o.tls_cert.empty() || !o.tls_key.empty();
  if (first_tcp.empty()) {
    if (tls || !o.client_ca.empty() || o.insecure_plaintext_tcp) {
      return absl::InvalidArgumentError(
          "--tls-cert/--tls-key/--client-ca/--insecure-plaintext-tcp configure TCP listeners, but "
          "every --listen is a unix socket (protected by its file mode, no TLS); add --listen "
          "HOST:PORT or drop them");
    }
    return absl::OkStatus();
  }
  if (tls && o.insecure_plaintext_tcp) {
    return absl::InvalidArgumentError(
        "--insecure-plaintext-tcp contradicts --tls-cert/--tls-key: drop one of them");
  }
  if (!tls) {
    if (!o.client_ca.empty()) {
      return absl::InvalidArgumentError(
          "--client-ca needs the server's own --tls-cert and --tls-key");
    }
    if (o.insecure_plaintext_tcp) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen ", first_tcp,
        ": a TCP listener serves TLS only: give --tls-cert FILE --tls-key FILE (and --client-ca "
        "FILE to require client certificates), or --insecure-plaintext-tcp to let anyone who can "
        "reach the port control the balancer"));
  }
  if (o.tls_cert.empty() || o.tls_key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(o.tls_cert.empty() ? "--tls-key" : "--tls-cert",
                                                   " needs ",
                                                   o.tls_cert.empty() ? "--tls-cert" : "--tls-key",
                                                   " too (the server's certificate and key)"));
  }
  return loadTls(o).status();
}

absl::StatusOr<std::unique_ptr<grpc::Server>> startServer(
    const ServerOptions& o, const std::vector<grpc::Service*>& services,
    std::vector<int>* tcp_ports) {
  if (auto st = checkServerOptions(o); !st.ok()) return st;
  std::optional<TlsMaterial> tls;
  if (!o.tls_cert.empty()) {
    auto loaded = loadTls(o);
    if (!loaded.ok()) return loaded.status();
    tls = std::move(*loaded);
    // Only a warning: refusing to start would take the unix socket down with it.
    if (tls->expired) {
      spdlog::warn("api: the certificate in --tls-cert {} has expired: clients will refuse it",
                   o.tls_cert);
    }
  }

  grpc::ServerBuilder builder;
  // Over the limit, gRPC itself answers RESOURCE_EXHAUSTED before the message is parsed.
  builder.SetMaxReceiveMessageSize(static_cast<int>(o.limits.max_request_bytes));
  // gRPC sets SO_REUSEPORT by default: a second agent could then bind the same port and silently
  // take half of the connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);

  std::vector<std::string> sockets;
  std::vector<std::unique_ptr<int>> ports;  // stable addresses: gRPC fills them in BuildAndStart
  std::optional<gid_t> gid;
  bool gid_resolved = false;
  for (const std::string& listen : o.listen) {
    const std::string path = unixSocketPath(listen);
    if (!path.empty()) {
      if (!gid_resolved) {
        gid = resolveGroup(o.socket_group, path);
        gid_resolved = true;
      }
      if (auto st = prepareUnixSocket(path, gid); !st.ok()) return st;
      // Unix sockets need no TLS: access is controlled by the socket's file mode and group.
      builder.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials());
      sockets.push_back(path);
      continue;
    }
    std::shared_ptr<grpc::ServerCredentials> creds;
    if (tls) {
      grpc::SslServerCredentialsOptions ssl(
          tls->client_ca_pem.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                     : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
      ssl.pem_root_certs = tls->client_ca_pem;
      ssl.pem_key_cert_pairs.push_back({tls->key_pem, tls->cert_pem});
      creds = grpc::SslServerCredentials(ssl);
    } else {
      spdlog::warn(
          "api: SECURITY: {} serves the API in PLAINTEXT without authentication "
          "(--insecure-plaintext-tcp): anyone who can reach it can change or remove every VIP; "
          "use --tls-cert/--tls-key/--client-ca outside of tests",
          listen);
      creds = grpc::InsecureServerCredentials();
    }
    ports.push_back(std::make_unique<int>(0));
    builder.AddListeningPort(listen, creds, ports.back().get());
  }
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", absl::StrJoin(o.listen, ", "),
                                               " (see the gRPC error above)"));
  }
  for (size_t i = 0; i < ports.size(); ++i) {
    if (*ports[i] == 0) {
      server->Shutdown();
      return absl::UnavailableError(absl::StrCat(
          "cannot listen on the TCP --listen addresses (address in use or not local?)"));
    }
  }
  for (const std::string& path : sockets) {
    if (auto st = secureSocket(path, gid); !st.ok()) {
      server->Shutdown();
      return st;
    }
  }
  size_t tcp_index = 0;
  for (const std::string& listen : o.listen) {
    if (!unixSocketPath(listen).empty()) {
      spdlog::info("api: listening on {} (mode 0660, group {})", listen,
                   gid ? std::to_string(*gid) : std::string("unchanged"));
      continue;
    }
    const int port = *ports[tcp_index++];
    spdlog::info("api: listening on {} (port {}, {})", listen, port,
                 !tls                         ? "PLAINTEXT"
                 : tls->client_ca_pem.empty() ? "TLS, no client certificates"
                                              : "TLS, client certificate required");
    if (tcp_ports) tcp_ports->push_back(port);
  }
  return server;
}

absl::StatusOr<std::unique_ptr<grpc::Server>> startServer(
    const std::string& listen, const std::vector<grpc::Service*>& services) {
  ServerOptions o;
  o.listen = {listen};
  o.socket_group.clear();  // as before: the socket keeps the caller's group
  return startServer(o, services);
}

}  // namespace xlb::api
