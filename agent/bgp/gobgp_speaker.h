// SPDX-License-Identifier: Apache-2.0
// Speaker over gobgpd's gRPC API (GoBGP v3, package apipb, as Debian 12 ships it), normally on a
// unix socket. Every call has a deadline; a daemon that does not answer is an UNAVAILABLE status,
// never a hang.
#pragma once

#include <chrono>
#include <cstdint>
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
  struct Options {
    // 0: gobgpd only connects out (it does not listen). A port: gobgpd also accepts its peers'
    // connections there, so a router that connects actively brings a new session up at its own
    // retry interval instead of waiting for gobgpd 3.x's first dial, 5-9 s after the peer is
    // added (README "What each failure costs").
    uint32_t listen_port = 0;
    std::chrono::milliseconds deadline{2000};  // of every API call
  };
  // `target`: a gRPC target, e.g. "unix:///run/xlb/gobgpd.sock".
  GoBgpSpeaker(std::string target, Options options);
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
  int32_t listen_port_;  // as gobgpd's StartBgp takes it: -1 = do not listen
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Stub> stub_;
  std::mutex mu_;
  // Peers this process replaced, with the settings it gave them: a peer that gobgpd still
  // reports differently afterwards is not replaced again on every resync.
  std::map<std::string, std::string> replaced_;
};

}  // namespace xlb::bgp
