// SPDX-License-Identifier: Apache-2.0
// Registration of lbctl's command groups; each group lives in its own file.
#pragma once

#include <functional>
#include <string_view>

#include "CLI/CLI.hpp"
#include "client.h"

namespace xlb::cli {

// The command CLI11 selected: set by the subcommand's callback, run by main() once parsing
// succeeded and the client exists. Returns the process exit code.
using Action = std::function<int(Client&)>;

struct CommandContext {
  GlobalOptions global;
  Action action;
};

void addVipCommands(CLI::App& app, CommandContext& ctx);      // vip.cc
void addBackendCommands(CLI::App& app, CommandContext& ctx);  // backend.cc
void addStatsCommand(CLI::App& app, CommandContext& ctx);     // stats.cc
void addApplyCommands(CLI::App& app, CommandContext& ctx);    // apply.cc (apply, config get)
void addEventsCommand(CLI::App& app, CommandContext& ctx);    // events.cc
void addTopCommand(CLI::App& app, CommandContext& ctx);       // top.cc
void addFlowsCommand(CLI::App& app, CommandContext& ctx);     // flows.cc
void addExplainCommand(CLI::App& app, CommandContext& ctx);   // explain.cc
void addNatCommands(CLI::App& app, CommandContext& ctx);      // nat.cc (nat list, nat flush)
void addBgpCommands(CLI::App& app, CommandContext& ctx);      // bgp.cc (bgp status, drain, undrain)

// The command word of a command line: its first argument that is neither a global option nor
// the value of one ("" when there is none).
std::string_view commandWord(int argc, const char* const* argv);
// Registers the command group the command word names, or every group when it names none (no
// command, --help, a misspelt command: help and errors then list every command). Building all of
// lbctl's ~150 options costs ~0.3 ms of every command; one group is a fraction of that.
void addCommands(CLI::App& app, CommandContext& ctx, int argc, const char* const* argv);

// Shared by vip/backend: prints a Vip returned by a mutation as a table or JSON.
void printVip(const xlb::v1::Vip& vip, OutputFormat format);

}  // namespace xlb::cli
