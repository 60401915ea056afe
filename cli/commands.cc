// SPDX-License-Identifier: Apache-2.0
// Which command groups lbctl registers for one run (see commands.h).
#include "commands.h"

#include <algorithm>
#include <array>

namespace xlb::cli {
namespace {

struct CommandGroup {
  std::array<std::string_view, 2> names;  // its top-level commands ("" when it has one)
  void (*add)(CLI::App&, CommandContext&);
};

// In the order `lbctl --help` lists them.
constexpr CommandGroup kGroups[] = {
    {{"vip", ""}, addVipCommands},       {{"backend", ""}, addBackendCommands},
    {{"stats", ""}, addStatsCommand},    {{"apply", "config"}, addApplyCommands},
    {{"events", ""}, addEventsCommand},  {{"top", ""}, addTopCommand},
    {{"flows", ""}, addFlowsCommand},    {{"explain", ""}, addExplainCommand},
    {{"nat", ""}, addNatCommands},       {{"bgp", ""}, addBgpCommands},
};

// The global options (main.cc, addConnectionOptions) that take a value as the next argument.
constexpr std::string_view kGlobalsWithValue[] = {
    "-s", "--server", "--tls-ca", "--tls-cert", "--tls-key", "--tls-server-name",
    "-o", "--output", "--timeout"};

}  // namespace

std::string_view commandWord(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a.empty() || a.front() != '-') return a;
    if (std::find(std::begin(kGlobalsWithValue), std::end(kGlobalsWithValue), a) !=
        std::end(kGlobalsWithValue)) {
      ++i;  // its value
    }
  }
  return {};
}

void addCommands(CLI::App& app, CommandContext& ctx, int argc, const char* const* argv) {
  const std::string_view word = commandWord(argc, argv);
  for (const CommandGroup& g : kGroups) {
    if (!word.empty() && std::find(g.names.begin(), g.names.end(), word) != g.names.end()) {
      g.add(app, ctx);
      return;
    }
  }
  for (const CommandGroup& g : kGroups) g.add(app, ctx);
}

}  // namespace xlb::cli
