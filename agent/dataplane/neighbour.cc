// SPDX-License-Identifier: Apache-2.0
// rtnetlink route lookup and managed-neighbour creation (no libnl: two small request/ack exchanges).
#include "dataplane/neighbour.h"

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "xlb/abi.h"

namespace xlb::dataplane {
namespace {

class NetlinkSocket {
 public:
  NetlinkSocket() : fd_(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) {}
  ~NetlinkSocket() {
    if (fd_ >= 0) close(fd_);
  }
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

struct Request {
  nlmsghdr hdr;
  union {
    rtmsg rt;
    ndmsg nd;
  };
  char attrs[128];
};

void addAttr(Request& req, uint16_t type, const void* data, size_t len) {
  auto* rta = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&req) + NLMSG_ALIGN(req.hdr.nlmsg_len));
  rta->rta_type = type;
  rta->rta_len = RTA_LENGTH(len);
  std::memcpy(RTA_DATA(rta), data, len);
  req.hdr.nlmsg_len = NLMSG_ALIGN(req.hdr.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

int addrLen(const IpAddress& a) { return a.isV4() ? 4 : 16; }
int kernelFamily(const IpAddress& a) { return a.isV4() ? AF_INET : AF_INET6; }

// Sends `req` and reads replies until the ack/error; `onMessage` sees every non-error message.
template <typename F>
absl::Status exchange(Request& req, absl::string_view what, F&& onMessage) {
  NetlinkSocket sock;
  if (sock.fd() < 0) return errnoStatus(absl::StrCat(what, ": socket(NETLINK_ROUTE)"), errno);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(sock.fd(), &req, req.hdr.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
             sizeof(kernel)) < 0) {
    return errnoStatus(what, errno);
  }
  alignas(nlmsghdr) char buf[16384];
  for (;;) {
    ssize_t n = recv(sock.fd(), buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus(what, errno);
    }
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, static_cast<unsigned>(n));
         h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        if (err->error == 0) return absl::OkStatus();
        return errnoStatus(what, err->error);
      }
      if (h->nlmsg_type == NLMSG_DONE) return absl::OkStatus();
      onMessage(h);
    }
  }
}

}  // namespace

absl::StatusOr<Route> lookupRoute(const IpAddress& dst) {
  Request req{};
  req.hdr.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
  req.hdr.nlmsg_type = RTM_GETROUTE;
  req.hdr.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  req.rt.rtm_family = kernelFamily(dst);
  req.rt.rtm_dst_len = dst.isV4() ? 32 : 128;
  addAttr(req, RTA_DST, dst.bytes.data(), addrLen(dst));

  Route route;
  route.next_hop = dst;
  bool found = false;
  auto status = exchange(req, absl::StrCat("route lookup ", dst.toString()), [&](nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWROUTE) return;
    auto* rt = static_cast<rtmsg*>(NLMSG_DATA(h));
    int len = RTM_PAYLOAD(h);
    for (auto* a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      if (a->rta_type == RTA_OIF) {
        std::memcpy(&route.ifindex, RTA_DATA(a), sizeof(int));
        found = true;
      } else if (a->rta_type == RTA_GATEWAY &&
                 RTA_PAYLOAD(a) == static_cast<unsigned>(addrLen(dst))) {
        std::memcpy(route.next_hop.bytes.data(), RTA_DATA(a), addrLen(dst));
      }
    }
  });
  if (!status.ok()) return status;
  if (!found) {
    return absl::NotFoundError(absl::StrCat("route lookup ", dst.toString(), ": no route"));
  }
  return route;
}

absl::StatusOr<Route> ensureManagedNeighbour(const IpAddress& dst) {
  auto route = lookupRoute(dst);
  if (!route.ok()) return route.status();

  Request req{};
  req.hdr.nlmsg_len = NLMSG_LENGTH(sizeof(ndmsg));
  req.hdr.nlmsg_type = RTM_NEWNEIGH;
  // CREATE|REPLACE: converts an existing entry to managed without touching its link-layer address.
  req.hdr.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
  req.nd.ndm_family = kernelFamily(route->next_hop);
  req.nd.ndm_ifindex = route->ifindex;
  req.nd.ndm_state = NUD_NONE;
  addAttr(req, NDA_DST, route->next_hop.bytes.data(), addrLen(route->next_hop));
  uint32_t ext = NTF_EXT_MANAGED;
  addAttr(req, NDA_FLAGS_EXT, &ext, sizeof(ext));
  auto status = exchange(req, absl::StrCat("add managed neighbour ", route->next_hop.toString()),
                         [](nlmsghdr*) {});
  if (!status.ok()) return status;
  return route;
}

}  // namespace xlb::dataplane
