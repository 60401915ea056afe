// SPDX-License-Identifier: Apache-2.0
// planPeers and the applied-peers record (see peer_plan.h).
#include "bgp/peer_plan.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "config/bgp.h"
#include "config/validate.h"

namespace xlb::bgp {

std::string peerDigest(const v1::BgpPeer& p) {
  // Lengths keep fields apart: ("a", "bc") and ("ab", "c") differ.
  const std::string text =
      absl::StrCat(p.asn(), "|", config::bgpPeerPort(p), "|", config::bgpPeerHoldTime(p), "|",
                   p.password().size(), ":", p.password(), "|", p.description());
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64 offset basis
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;  // FNV prime
  }
  return absl::StrFormat("%016x", h);
}

std::vector<PeerChange> planPeers(const v1::BgpSettings& settings,
                                  const std::map<std::string, ObservedPeer>& have,
                                  const std::map<std::string, std::string>& applied) {
  std::vector<PeerChange> out;
  std::set<std::string> wanted;
  for (const v1::BgpPeer& p : settings.peers()) {
    const std::string addr = config::canonicalAddress(p.address());
    wanted.insert(addr);
    auto it = have.find(addr);
    if (it == have.end()) {
      out.push_back({addr, PeerChange::Action::kAdd, "new"});
      continue;
    }
    auto rec = applied.find(addr);
    if (rec != applied.end()) {
      if (rec->second != peerDigest(p)) {
        out.push_back({addr, PeerChange::Action::kReplace,
                       "settings differ from the applied ones (asn, port, hold time, password or "
                       "description)"});
      }
      continue;
    }
    const ObservedPeer& cur = it->second;
    const bool same = cur.asn == p.asn() && cur.hold_time_s == config::bgpPeerHoldTime(p) &&
                      (cur.remote_port == 0 || cur.remote_port == config::bgpPeerPort(p));
    if (!same) {
      out.push_back({addr, PeerChange::Action::kReplace,
                     "asn, port or hold time differ from the running peer"});
    }
  }
  for (const auto& [addr, peer] : have) {
    if (!wanted.count(addr)) out.push_back({addr, PeerChange::Action::kDelete, "not configured"});
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> loadAppliedPeers(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream f(path);
  if (!f) {
    if (errno == ENOENT) return out;
    return absl::UnavailableError(absl::StrCat("read ", path, ": ", std::strerror(errno)));
  }
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string addr, digest;
    if (in >> addr >> digest) out[addr] = digest;
  }
  return out;
}

absl::Status saveAppliedPeers(const std::string& path,
                              const std::map<std::string, std::string>& applied) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    for (const auto& [addr, digest] : applied) f << addr << " " << digest << "\n";
    f.flush();
    if (!f) return absl::UnavailableError(absl::StrCat("write ", tmp, ": ", std::strerror(errno)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("rename ", tmp, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace xlb::bgp
