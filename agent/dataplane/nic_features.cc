// SPDX-License-Identifier: Apache-2.0
// The ethtool features API (ETHTOOL_GSSET_INFO/GSTRINGS for the names, G/SFEATURES for the bits).
#include "dataplane/nic_features.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace xlb::dataplane {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

int ethtool(int fd, const std::string& ifname, void* cmd) {
  struct ifreq ifr {};
  strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  ifr.ifr_data = static_cast<char*>(cmd);
  return ioctl(fd, SIOCETHTOOL, &ifr) == 0 ? 0 : errno;
}

absl::Status errnoError(const std::string& what, int err) {
  return absl::UnavailableError(absl::StrCat(what, ": ", strerror(err)));
}

}  // namespace

absl::StatusOr<std::vector<std::string>> disableRxVlanStripping(const std::string& ifname) {
  Fd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) return errnoError("socket for ethtool", errno);

  // How many feature names the kernel has, then the names themselves (ETH_GSTRING_LEN each).
  // ethtool_sset_info ends in a flexible array: one u32 follows for the one set asked for.
  alignas(ethtool_sset_info) uint8_t info_buf[sizeof(ethtool_sset_info) + sizeof(uint32_t)] = {};
  auto* info = reinterpret_cast<ethtool_sset_info*>(info_buf);
  info->cmd = ETHTOOL_GSSET_INFO;
  info->sset_mask = 1ULL << ETH_SS_FEATURES;
  if (int err = ethtool(sock.get(), ifname, info); err)
    return errnoError(absl::StrCat(ifname, ": ethtool feature names"), err);
  const uint32_t n = info->sset_mask ? info->data[0] : 0;
  if (n == 0) return std::vector<std::string>{};
  std::unique_ptr<uint8_t[]> strings(new uint8_t[sizeof(ethtool_gstrings) + n * ETH_GSTRING_LEN]());
  auto* gs = reinterpret_cast<ethtool_gstrings*>(strings.get());
  gs->cmd = ETHTOOL_GSTRINGS;
  gs->string_set = ETH_SS_FEATURES;
  gs->len = n;
  if (int err = ethtool(sock.get(), ifname, gs); err)
    return errnoError(absl::StrCat(ifname, ": ethtool feature names"), err);

  const uint32_t blocks = (n + 31) / 32;
  std::unique_ptr<uint8_t[]> getbuf(
      new uint8_t[sizeof(ethtool_gfeatures) + blocks * sizeof(ethtool_get_features_block)]());
  auto* gf = reinterpret_cast<ethtool_gfeatures*>(getbuf.get());
  gf->cmd = ETHTOOL_GFEATURES;
  gf->size = blocks;
  if (int err = ethtool(sock.get(), ifname, gf); err)
    return errnoError(absl::StrCat(ifname, ": ethtool get features"), err);

  std::unique_ptr<uint8_t[]> setbuf(
      new uint8_t[sizeof(ethtool_sfeatures) + blocks * sizeof(ethtool_set_features_block)]());
  auto* sf = reinterpret_cast<ethtool_sfeatures*>(setbuf.get());
  sf->cmd = ETHTOOL_SFEATURES;
  sf->size = blocks;
  std::vector<std::string> changed;
  for (uint32_t i = 0; i < n; ++i) {
    const char* name = reinterpret_cast<const char*>(gs->data + i * ETH_GSTRING_LEN);
    if (strncmp(name, "rx-vlan-hw-parse", ETH_GSTRING_LEN) != 0 &&
        strncmp(name, "rx-vlan-stag-hw-parse", ETH_GSTRING_LEN) != 0)
      continue;
    const uint32_t bit = 1u << (i % 32);
    const ethtool_get_features_block& b = gf->features[i / 32];
    if (!(b.active & bit)) continue;
    if (!(b.available & bit) || (b.never_changed & bit))
      return absl::FailedPreconditionError(
          absl::StrCat(ifname, ": ", name, " is on and the driver cannot turn it off"));
    sf->features[i / 32].valid |= bit;  // requested: 0
    changed.emplace_back(name);
  }
  if (changed.empty()) return changed;
  if (int err = ethtool(sock.get(), ifname, sf); err)
    return errnoError(absl::StrCat(ifname, ": ethtool -K ", changed.front(), " off"), err);
  return changed;
}

}  // namespace xlb::dataplane
