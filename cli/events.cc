// SPDX-License-Identifier: Apache-2.0
// `lbctl events [--initial-state]`: follows the agent's WatchEvents stream, one line per event.
#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>

#include "commands.h"

namespace xlb::cli {
namespace {

// Set by SIGINT/SIGTERM. A signal handler may only touch a lock-free atomic, so a watcher thread
// turns it into ClientContext::TryCancel (which is not async-signal-safe).
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void onStopSignal(int sig) { g_stop_signal.store(sig); }

int watchEvents(Client& client, bool initial_state, OutputFormat format) {
  struct sigaction sa {};
  sa.sa_handler = onStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  // A stream has no overall deadline: it runs until it ends, fails or is interrupted.
  grpc::ClientContext ctx;
  xlb::v1::WatchEventsRequest req;
  req.set_initial_state(initial_state);
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done.load()) {
      if (g_stop_signal.load() != 0) {
        ctx.TryCancel();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  auto reader = client.stub().WatchEvents(&ctx, req);
  xlb::v1::Event e;
  while (reader->Read(&e)) {
    // Flushed per event: `lbctl events > file` or a pipe sees each event as it happens.
    if (format == OutputFormat::kJson) {
      std::cout << toJsonLine(e) << std::flush;
    } else {
      std::cout << formatEventLine(e) << std::endl;
    }
  }
  grpc::Status st = reader->Finish();
  done.store(true);
  watcher.join();
  if (g_stop_signal.load() != 0) return kExitOk;  // interrupted on purpose
  if (!st.ok()) return reportRpcError(st, client.target());
  return kExitOk;  // the agent ended the stream (shutting down)
}

}  // namespace

void addEventsCommand(CLI::App& app, CommandContext& ctx) {
  auto initial = std::make_shared<bool>(false);
  auto* ev = app.add_subcommand(
      "events", "Follow health transitions, drains and config changes (until Ctrl-C)");
  ev->add_flag("--initial-state", *initial,
               "Print every backend's current health first (one backend-health event each)");
  ev->callback([&ctx, initial] {
    ctx.action = [&ctx, initial](Client& c) {
      return watchEvents(c, *initial, ctx.global.format());
    };
  });
}

}  // namespace xlb::cli
