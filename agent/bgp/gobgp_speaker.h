// SPDX-License-Identifier: Apache-2.0
// Speaker over gobgpd's gRPC API (GoBGP v3, package apipb, as Debian 12 ships it), normally on a
// unix socket. Every call has a deadline; a daemon that does not answer is an UNAVAILABLE status,
// never a hang.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "bgp/speaker.h"

namespace grpc {
class Channel;
}

namespace xlb::bgp {

class GoBgpSpeaker : public Speaker {
 public:
  // `target`: a gRPC target, e.g. "unix:///run/xlb/gobgpd.sock".
  explicit GoBgpSpeaker(std::string target,
                        std::chrono::milliseconds deadline = std::chrono::milliseconds(2000));
  ~GoBgpSpeaker() override;

  std::string address() const override { return target_; }
  absl::Status configure(const v1::BgpSettings& settings) override;
  absl::StatusOr<std::map<std::string, Route>> listRoutes() override;
  absl::Status announce(const Route& route) override;
  absl::Status withdraw(const Route& route) override;
  absl::StatusOr<std::vector<PeerInfo>> listPeers() override;

 private:
  struct Stub;
  absl::Status configureGlobal(const v1::BgpSettings& settings);
  absl::Status configurePeers(const v1::BgpSettings& settings);

  std::string target_;
  std::chrono::milliseconds deadline_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Stub> stub_;
  std::mutex mu_;
  // What this process last set per peer (gobgpd does not report the password back).
  std::map<std::string, std::string> peer_fingerprints_;
};

}  // namespace xlb::bgp
