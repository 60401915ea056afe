// SPDX-License-Identifier: Apache-2.0
// e2e helper: a gRPC server answering grpc.health.v1.Health/Check, whose status a test flips by
// writing a control file — the backend keeps accepting TCP (and HTTP/2) while it reports
// NOT_SERVING, which is exactly what a TCP check cannot see.
//
// Usage: xlb-e2e-grpc-health --listen [::]:50051 --service NAME --control FILE
//   FILE absent or not containing NOT_SERVING -> SERVING; containing NOT_SERVING -> NOT_SERVING.
//   A Check for a service other than "" or NAME answers SERVICE_UNKNOWN (NOT_FOUND), as the
//   standard health service does.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class ControlledHealth final : public Health::Service {
 public:
  ControlledHealth(std::string service, std::string control)
      : service_(std::move(service)), control_(std::move(control)) {}

  grpc::Status Check(grpc::ServerContext*, const HealthCheckRequest* req,
                     HealthCheckResponse* resp) override {
    if (!req->service().empty() && req->service() != service_) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service " + req->service());
    }
    // Read on every call: the test flips the state with `echo NOT_SERVING > FILE`.
    std::ifstream in(control_);
    std::stringstream s;
    s << in.rdbuf();
    const bool down = s.str().find("NOT_SERVING") != std::string::npos;
    resp->set_status(down ? HealthCheckResponse::NOT_SERVING : HealthCheckResponse::SERVING);
    return grpc::Status::OK;
  }

 private:
  std::string service_;
  std::string control_;
};

volatile std::sig_atomic_t g_stop = 0;
extern "C" void onSignal(int) { g_stop = 1; }

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "[::]:50051", service, control;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--listen") {
      listen = argv[i + 1];
    } else if (flag == "--service") {
      service = argv[i + 1];
    } else if (flag == "--control") {
      control = argv[i + 1];
    } else {
      std::cerr << "usage: " << argv[0] << " --listen ADDR:PORT --service NAME --control FILE\n";
      return 2;
    }
  }
  if (control.empty() || argc % 2 == 0) {
    std::cerr << "usage: " << argv[0] << " --listen ADDR:PORT --service NAME --control FILE\n";
    return 2;
  }
  ControlledHealth health(service, control);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&health);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << "cannot listen on " << listen << "\n";
    return 1;
  }
  std::signal(SIGTERM, onSignal);
  std::signal(SIGINT, onSignal);
  std::cout << "grpc health server on " << listen << " (service \"" << service << "\", control "
            << control << ")" << std::endl;
  while (g_stop == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}
