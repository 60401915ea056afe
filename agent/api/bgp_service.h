// SPDX-License-Identifier: Apache-2.0
// The xlb.v1.Bgp service (lbctl bgp status | drain | undrain): translation only, the logic is
// bgp::Announcer's.
#pragma once

#include <grpcpp/grpcpp.h>

#include "bgp/announcer.h"
#include "xlb/v1/bgp.grpc.pb.h"

namespace xlb::api {

class BgpService final : public v1::Bgp::Service {
 public:
  explicit BgpService(bgp::Announcer& announcer) : announcer_(announcer) {}

  grpc::Status GetBgpStatus(grpc::ServerContext* ctx, const v1::GetBgpStatusRequest* req,
                            v1::BgpStatus* resp) override;
  grpc::Status DrainBgp(grpc::ServerContext* ctx, const v1::DrainBgpRequest* req,
                        v1::BgpStatus* resp) override;
  grpc::Status UndrainBgp(grpc::ServerContext* ctx, const v1::UndrainBgpRequest* req,
                          v1::BgpStatus* resp) override;

 private:
  bgp::Announcer& announcer_;
};

}  // namespace xlb::api
