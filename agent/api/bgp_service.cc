// SPDX-License-Identifier: Apache-2.0
// BgpService: requests in, Announcer called, status and the resulting BgpStatus out.
#include "api/bgp_service.h"

#include "api/service.h"

namespace xlb::api {

grpc::Status BgpService::GetBgpStatus(grpc::ServerContext*, const v1::GetBgpStatusRequest*,
                                      v1::BgpStatus* resp) {
  *resp = announcer_.status();
  return grpc::Status::OK;
}

grpc::Status BgpService::DrainBgp(grpc::ServerContext*, const v1::DrainBgpRequest* req,
                                  v1::BgpStatus* resp) {
  if (auto st = announcer_.drain(req->wait()); !st.ok()) return toGrpcStatus(st);
  *resp = announcer_.status();
  return grpc::Status::OK;
}

grpc::Status BgpService::UndrainBgp(grpc::ServerContext*, const v1::UndrainBgpRequest*,
                                    v1::BgpStatus* resp) {
  if (auto st = announcer_.undrain(); !st.ok()) return toGrpcStatus(st);
  *resp = announcer_.status();
  return grpc::Status::OK;
}

}  // namespace xlb::api
