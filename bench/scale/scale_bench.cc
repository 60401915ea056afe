// SPDX-License-Identifier: Apache-2.0
// xlb-scale-bench: the control plane at scale (issue 12). Without a subcommand it runs the bench
// over sizes and prints (or --append's) the markdown section; `config` writes a synthetic config;
// `reads` samples read RPCs around one ApplyConfig for tests/e2e/test-scale-reads.sh.
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "agent_process.h"
#include "config/yaml.h"
#include "scale_run.h"

namespace {

using namespace std::chrono_literals;
using xlb::bench::ReadKind;

constexpr const char* kHeading = "## Control plane at scale (issue 12)";

bool parseSizes(const std::string& text, std::vector<xlb::bench::ScaleShape>* out) {
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::vector<absl::string_view> vb = absl::StrSplit(item, 'x');
    xlb::bench::ScaleShape s;
    if (vb.size() != 2 || !absl::SimpleAtoi(vb[0], &s.vips) ||
        !absl::SimpleAtoi(vb[1], &s.backends) || s.vips == 0 || s.backends == 0 ||
        uint64_t{s.vips} * s.backends > (1u << 22)) {
      return false;
    }
    out->push_back(s);
  }
  return !out->empty();
}

// The build directory: this binary is BUILD/bench/scale/xlb-scale-bench.
std::string defaultBuildDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "build" : exe.parent_path().parent_path().parent_path().string();
}

std::string provenance(const std::string& agent_bin) {
  char date[64];
  std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  std::string rev;
  // The source tree of the agent binary, when it is a git checkout (dirty: uncommitted changes).
  std::string src = std::filesystem::path(agent_bin).parent_path().parent_path().parent_path();
  std::string cmd = "git -C '" + src + "' describe --always --dirty 2>/dev/null";
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[128] = {};
    if (std::fgets(buf, sizeof(buf), p) != nullptr) rev = buf;
    pclose(p);
  }
  while (!rev.empty() && (rev.back() == '\n' || rev.back() == ' ')) rev.pop_back();
  return std::string(date) + (rev.empty() ? "" : ", agent built from " + rev);
}

int runBench(const std::string& sizes_text, uint32_t table_size, const std::string& build_dir,
             const std::string& append, xlb::bench::RunOptions opts) {
  std::vector<xlb::bench::ScaleShape> sizes;
  if (!parseSizes(sizes_text, &sizes)) {
    std::cerr << "xlb-scale-bench: --sizes " << sizes_text << ": expected VxB[,VxB...]\n";
    return 2;
  }
  if (geteuid() != 0) {
    std::cerr << "xlb-scale-bench: needs root (BPF maps, network namespaces): skipped\n";
    return 77;
  }
  opts.agent_bin = build_dir + "/agent/xlb-agent";
  opts.lbctl_bin = build_dir + "/cli/lbctl";
  for (const auto& bin : {opts.agent_bin, opts.lbctl_bin}) {
    if (access(bin.c_str(), X_OK) != 0) {
      std::cerr << "xlb-scale-bench: " << bin << " not built (make build)\n";
      return 1;
    }
  }
  xlb::bench::installSignalHandlers();
  std::vector<xlb::bench::SizeResult> results;
  for (auto shape : sizes) {
    shape.maglev_table_size = table_size;
    results.push_back(xlb::bench::runSize(shape, opts));
    if (xlb::bench::interrupted()) {
      std::cerr << "xlb-scale-bench: interrupted\n";
      return 130;
    }
  }
  std::string md = xlb::bench::markdownSection(results, table_size, provenance(opts.agent_bin));
  std::cout << md;
  if (!append.empty() && !xlb::bench::replaceSection(append, kHeading, md)) {
    std::cerr << "xlb-scale-bench: cannot write " << append << "\n";
    return 1;
  }
  return 0;
}

int writeConfig(const xlb::bench::ScaleShape& shape, bool every_vip, const std::string& out) {
  auto st = xlb::bench::writeScaleConfig(xlb::bench::scaleConfig(shape, every_vip), out);
  if (!st.ok()) std::cerr << "xlb-scale-bench: " << st.message() << "\n";
  return st.ok() ? 0 : 1;
}

// Reads of every kind back to back (one thread each) for `settle` before ApplyConfig(FILE), during
// it and for `settle` after; writes one line per call to OUT:
//   read KIND START_NS END_NS CODE       (CLOCK_MONOTONIC; CODE 0 = OK)
//   apply START_NS END_NS CODE MESSAGE
// `apply_socket` (default: `socket`) lets a test apply to another agent: the control run of reads
// that share the machine, but not the agent, with the apply.
int sampleReads(const std::string& socket, const std::string& apply_socket,
                const std::string& apply_file, const std::string& out,
                std::chrono::milliseconds settle, std::chrono::seconds deadline) {
  auto config = xlb::config::loadConfigFile(apply_file);
  if (!config.ok() || config->vips_size() == 0) {
    std::cerr << "xlb-scale-bench reads: " << apply_file << ": "
              << (config.ok() ? "no VIPs" : std::string(config.status().message())) << "\n";
    return 2;
  }
  xlb::v1::VipKey first;
  first.set_address(config->vips(0).address());
  first.set_port(config->vips(0).port());
  first.set_protocol(config->vips(0).protocol());
  xlb::bench::ReadSampler sampler(
      socket, {ReadKind::kListVips, ReadKind::kListBackends, ReadKind::kGetStats}, first,
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline));
  sampler.start();
  std::this_thread::sleep_for(settle);
  auto stub = xlb::v1::Balancer::NewStub(
      xlb::bench::agentChannel(apply_socket.empty() ? socket : apply_socket));
  xlb::v1::ApplyConfigRequest req;
  *req.mutable_config() = std::move(*config);
  xlb::v1::ApplyConfigResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  int64_t a0 = xlb::bench::monotonicNs();
  grpc::Status st = stub->ApplyConfig(&ctx, req, &resp);
  int64_t a1 = xlb::bench::monotonicNs();
  std::this_thread::sleep_for(settle);
  auto samples = sampler.stop();
  std::ofstream f(out);
  for (const auto& s : samples) {
    f << "read " << xlb::bench::readKindName(s.kind) << " " << s.start_ns << " " << s.end_ns << " "
      << static_cast<int>(s.code) << "\n";
  }
  std::string msg = st.error_message();
  for (char& c : msg) {
    if (c == '\n') c = ' ';
  }
  f << "apply " << a0 << " " << a1 << " " << static_cast<int>(st.error_code()) << " "
    << resp.changes_size() << " changes " << msg << "\n";
  f.close();
  if (!f) {
    std::cerr << "xlb-scale-bench reads: cannot write " << out << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"xlb-scale-bench: control plane at scale (issue 12)"};
  std::string sizes = "300x16,1000x16,2000x10,10000x10,1000x100";
  uint32_t table_size = 0;
  std::string build_dir = defaultBuildDir(), append;
  xlb::bench::RunOptions opts;
  uint32_t start_timeout = 180, command_timeout = 120;
  app.add_option("--sizes", sizes, "VIPSxBACKENDS list")->capture_default_str();
  app.add_option("--maglev-table-size", table_size,
                 "maglev_table_size of every VIP; 0 = unset (the agent's default)")
      ->capture_default_str();
  app.add_option("--build-dir", build_dir, "Where xlb-agent and lbctl are built")
      ->capture_default_str();
  app.add_option("--append", append, "Replace (or append) the section in this markdown file");
  app.add_option("--start-timeout", start_timeout, "Seconds an agent may take to become ready")
      ->capture_default_str()
      ->check(CLI::Range(1u, 3600u));
  app.add_option("--command-timeout", command_timeout, "Seconds an lbctl command or RPC may take")
      ->capture_default_str()
      ->check(CLI::Range(1u, 3600u));

  auto* cfg = app.add_subcommand("config", "Write a synthetic scale config (YAML)");
  xlb::bench::ScaleShape shape;
  bool every_vip = false;
  std::string out;
  cfg->add_option("--vips", shape.vips, "VIPs")->required()->check(CLI::Range(1u, 1u << 20));
  cfg->add_option("--backends", shape.backends, "Backends per VIP")
      ->required()
      ->check(CLI::Range(1u, 4096u));
  cfg->add_option("--maglev-table-size", shape.maglev_table_size, "0 = unset");
  cfg->add_flag("--every-vip-changed", every_vip, "Each VIP's first backend gets weight 2");
  cfg->add_option("--out", out, "YAML file to write")->required();

  auto* reads = app.add_subcommand("reads", "Sample read RPCs around one ApplyConfig");
  std::string socket, apply_socket, apply_file, samples_out;
  uint32_t settle_ms = 1000, deadline_s = 60;
  reads->add_option("--socket", socket, "The agent's unix socket path")->required();
  reads->add_option("--apply-socket", apply_socket,
                    "Send the ApplyConfig to this agent instead (a control run)");
  reads->add_option("--apply", apply_file, "Config file to apply (ApplyConfig RPC)")->required();
  reads->add_option("--out", samples_out, "Samples file to write")->required();
  reads->add_option("--settle-ms", settle_ms, "Sampling before and after the apply")
      ->capture_default_str()
      ->check(CLI::Range(100u, 60000u));
  reads->add_option("--deadline", deadline_s, "Seconds each RPC may take")
      ->capture_default_str()
      ->check(CLI::Range(1u, 600u));
  CLI11_PARSE(app, argc, argv);

  if (cfg->parsed()) return writeConfig(shape, every_vip, out);
  if (reads->parsed()) {
    return sampleReads(socket, apply_socket, apply_file, samples_out,
                       std::chrono::milliseconds(settle_ms), std::chrono::seconds(deadline_s));
  }
  opts.start_timeout = std::chrono::seconds(start_timeout);
  opts.command_timeout = std::chrono::seconds(command_timeout);
  opts.read_deadline = std::chrono::seconds(command_timeout);
  return runBench(sizes, table_size, build_dir, append, opts);
}
