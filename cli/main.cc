// SPDX-License-Identifier: Apache-2.0
// lbctl: command-line client of xlb-agent's gRPC API (xlb.v1.Balancer).
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "client.h"
#include "commands.h"

namespace {

// Every way out of lbctl. gRPC's threads are running, so no return from main (static destructors
// would race them), and tearing gRPC down (joining its threads, ~5 ms) would only delay the exit
// of a command that is run once per change. Everything lbctl says is written first.
[[noreturn]] void exitNow(std::thread& grpc_start, int rc) {
  if (grpc_start.joinable()) grpc_start.join();
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(rc);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace xlb::cli;
  // One malloc arena: gRPC's six threads would each map a 64 MiB arena heap of their own (mmap,
  // trim, page faults, munmap at exit) for the few allocations of one command.
  mallopt(M_ARENA_MAX, 1);
  // gRPC starts on a second CPU while the command line below is built and parsed.
  std::thread grpc_start(startGrpc);
  CommandContext ctx;
  CLI::App app{"lbctl: control the xlb load balancer through xlb-agent's API", "lbctl"};
  // Global options may also be given after the command (`lbctl vip list -o json`).
  app.fallthrough(true);
  // Usage errors look like every other lbctl error line.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("lbctl: usage: ") + e.what() + " (see lbctl --help)\n";
  });
  app.require_subcommand(1);
  addConnectionOptions(app, ctx.global);  // --server and TLS (client.cc)
  app.add_option("-o,--output", ctx.global.output, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  app.add_option("--timeout", ctx.global.timeout, "Deadline per RPC (e.g. 5s, 500ms)")
      ->capture_default_str();

  addCommands(app, ctx, argc, argv);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    exitNow(grpc_start, app.exit(e));
  } catch (const CLI::CallForAllHelp& e) {
    exitNow(grpc_start, app.exit(e));
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    exitNow(grpc_start, kExitUsage);
  }
  if (!ctx.action) {
    std::cerr << "lbctl: no command given (see lbctl --help)\n";
    exitNow(grpc_start, kExitUsage);
  }
  grpc_start.join();
  auto client = Client::create(ctx.global);
  if (!client.ok()) exitNow(grpc_start, reportLocalError(client.status(), kExitUsage));
  exitNow(grpc_start, ctx.action(**client));
}
