// SPDX-License-Identifier: Apache-2.0
// `lbctl apply -f FILE [--dry-run]` and `lbctl config get`: the declarative whole-config interface.
#include <iostream>

#include "commands.h"
#include "config/yaml.h"

namespace xlb::cli {
namespace {

struct ApplyArgs {
  std::string file;
  bool dry_run = false;
};

void printApplied(const xlb::v1::ApplyConfigResponse& r, const ApplyArgs& a, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    std::cout << toJson(r);
    return;
  }
  if (r.changes().empty()) {
    std::cout << "no changes: the agent already runs " << a.file << "\n";
    return;
  }
  std::cout << (a.dry_run || !r.applied() ? "plan (dry run, nothing changed):\n" : "applied:\n");
  for (const auto& line : r.changes()) std::cout << "  " << line << "\n";
}

// True when the agent says it runs exactly this document and nothing changed since (its
// GetAppliedDigest): applying it again would change nothing, so it is neither parsed nor sent. Any
// failure (an older agent without the RPC included) means "not known": the file is applied.
bool agentRunsDocument(Client& client, const std::string& digest) {
  if (digest.empty()) return false;
  auto ctx = client.context();
  xlb::v1::AppliedDigest resp;
  grpc::Status st = client.stub().GetAppliedDigest(ctx.get(), xlb::v1::GetAppliedDigestRequest(), &resp);
  return st.ok() && resp.source_digest() == digest;
}

int applyConfig(Client& client, const ApplyArgs& a, OutputFormat format) {
  auto text = xlb::config::readConfigFile(a.file);
  if (!text.ok()) return reportLocalError(text.status(), kExitUsage);
  const std::string digest = xlb::config::sourceDigest(*text);
  if (!a.dry_run && agentRunsDocument(client, digest)) {
    xlb::v1::ApplyConfigResponse unchanged;
    unchanged.set_applied(true);
    printApplied(unchanged, a, format);
    return kExitOk;
  }
  // The agent's own loader: the file means exactly what it would mean as the agent's --config.
  auto config = xlb::config::parseConfigFileText(a.file, *text);
  // The loader's errors already name the file (and line/column for YAML errors).
  if (!config.ok()) return reportLocalError(config.status(), kExitUsage);
  xlb::v1::ApplyConfigRequest req;
  *req.mutable_config() = std::move(*config);
  req.set_dry_run(a.dry_run);
  req.set_source_digest(digest);
  return callAndPrint<xlb::v1::ApplyConfigResponse>(
      client,
      [&](grpc::ClientContext* c, xlb::v1::ApplyConfigResponse* r) {
        return client.stub().ApplyConfig(c, req, r);
      },
      [&](const xlb::v1::ApplyConfigResponse& r) { printApplied(r, a, format); });
}

int getConfig(Client& client, OutputFormat format) {
  xlb::v1::GetConfigRequest req;
  return callAndPrint<xlb::v1::Config>(
      client,
      [&](grpc::ClientContext* c, xlb::v1::Config* r) {
        return client.stub().GetConfig(c, req, r);
      },
      [&](const xlb::v1::Config& r) {
        std::cout << (format == OutputFormat::kJson ? toJson(r) : xlb::config::toYaml(r));
      });
}

}  // namespace

void addApplyCommands(CLI::App& app, CommandContext& ctx) {
  auto args = std::make_shared<ApplyArgs>();
  auto* apply = app.add_subcommand(
      "apply",
      "Replace the agent's whole configuration with a YAML file (declarative, idempotent)");
  apply->add_option("-f,--file", args->file, "Config file (same format as xlb-agent --config)")
      ->required()
      ->check(CLI::ExistingFile);
  apply->add_flag("--dry-run", args->dry_run, "Validate and print the plan; change nothing");
  apply->callback([&ctx, args] {
    ctx.action = [&ctx, args](Client& c) { return applyConfig(c, *args, ctx.global.format()); };
  });

  auto* config = app.add_subcommand("config", "Show the running configuration");
  config->require_subcommand(1);
  auto* get = config->add_subcommand(
      "get", "Print the effective configuration (YAML; -o json for protobuf JSON)");
  get->callback(
      [&ctx] { ctx.action = [&ctx](Client& c) { return getConfig(c, ctx.global.format()); }; });
}

}  // namespace xlb::cli
