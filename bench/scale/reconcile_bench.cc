// SPDX-License-Identifier: Apache-2.0
// xlb-reconcile-bench (issue 12, `make bench`): what the open-flow reconcile of a large flow table
// costs the rest of the agent. Starts xlb-agent --no-attach (VIPS x BACKENDS ipip/maglev VIPs,
// --flow-table-size FLOWS rounded up to a power of two, --reconcile-interval 1) and samples
// ListVips (one 500-VIP page), ListBackends (one VIP) and GetStats back to back, one thread and
// connection each, for SECONDS with the flow table empty; then fills the pinned xlb_flows with
// FLOWS open flows spread over the agent's backends (batched writes through the pin, as the data
// plane would have recorded them), waits for a scan that saw them, and samples again for SECONDS
// while the reconciler scans every second. Reports the read latencies of both phases, the scan's
// duration and pauses as GetStats reports them, and the agent's CPU share over each phase
// (utime + stime from /proc). --build-dir runs another build's agent (before/after in one run);
// --append replaces the section in BENCHMARKS.md.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent_process.h"
#include "read_sampler.h"
#include "scale_config.h"
#include "scale_run.h"
#include "xlb/abi.h"

namespace {

using namespace std::chrono_literals;
using xlb::bench::ReadKind;
constexpr char kHeading[] = "## Reconcile of a large flow table (issue 12)";

uint64_t monotonicNowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// FLOWS entries into the pinned xlb_flows of the agent, round-robin over its backends (ids and
// generations read from the pinned xlb_backends), last seen now. Returns the number written.
long fillFlows(const std::string& pin_dir, uint64_t flows, std::string* error) {
  const std::string dir = absl::StrCat(pin_dir, "/v", XLB_ABI_VERSION, "/");
  int backends_fd = bpf_obj_get((dir + "xlb_backends").c_str());
  int flows_fd = bpf_obj_get((dir + "xlb_flows").c_str());
  if (backends_fd < 0 || flows_fd < 0) {
    *error = "cannot open the pinned xlb_backends / xlb_flows under " + dir;
    return -1;
  }
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  bpf_obj_get_info_by_fd(backends_fd, &info, &len);
  std::vector<std::pair<uint32_t, uint32_t>> live;  // (id, gen)
  for (uint32_t id = 0; id < info.max_entries; ++id) {
    xlb_backend b{};
    if (bpf_map_lookup_elem(backends_fd, &id, &b) == 0 && b.gen != 0) live.emplace_back(id, b.gen);
  }
  close(backends_fd);
  if (live.empty()) {
    close(flows_fd);
    *error = "no backend in xlb_backends";
    return -1;
  }
  const uint64_t now = monotonicNowNs();
  constexpr uint32_t kBatch = 4096;
  std::vector<xlb_flow_key> keys;
  std::vector<xlb_flow_value> vals;
  long written = 0;
  for (uint64_t i = 0; i < flows;) {
    keys.clear();
    vals.clear();
    for (; i < flows && keys.size() < kBatch; ++i) {
      xlb_flow_key k{};
      // Client 100.64.0.0/10 + i, port 1024 + i % 60000, to VIP 10.64.0.1:80.
      const uint32_t src = 0x64400000u + static_cast<uint32_t>(i / 60000);
      k.src[0] = uint8_t(src >> 24), k.src[1] = uint8_t(src >> 16), k.src[2] = uint8_t(src >> 8),
      k.src[3] = uint8_t(src);
      k.dst[0] = 10, k.dst[1] = 64, k.dst[3] = 1;
      k.sport = htons(static_cast<uint16_t>(1024 + i % 60000));
      k.dport = htons(80);
      k.proto = 6;
      k.family = XLB_AF_INET;
      const auto& [id, gen] = live[i % live.size()];
      keys.push_back(k);
      vals.push_back(xlb_flow_value{id, gen, now, 0, 0});
    }
    uint32_t count = static_cast<uint32_t>(keys.size());
    if (bpf_map_update_batch(flows_fd, keys.data(), vals.data(), &count, nullptr) != 0) {
      *error = absl::StrCat("bpf_map_update_batch xlb_flows after ", written, " entries: errno ",
                            errno);
      close(flows_fd);
      return -1;
    }
    written += count;
  }
  close(flows_fd);
  return written;
}

struct Phase {
  xlb::bench::Latency vips, backends, stats;
  double cpu_share = 0;  // agent CPU seconds / wall seconds
};

Phase sample(const xlb::bench::AgentProcess& agent, std::chrono::seconds how_long) {
  xlb::v1::VipKey first;
  first.set_address(xlb::bench::scaleVipAddress(1));
  first.set_port(80);
  first.set_protocol(xlb::v1::PROTOCOL_TCP);
  xlb::bench::ReadSampler sampler(agent.socketPath(), {ReadKind::kListVips, ReadKind::kListBackends, ReadKind::kGetStats},
                                  first, 10000ms);
  const double cpu0 = agent.cpuSeconds();
  const int64_t t0 = xlb::bench::monotonicNs();
  sampler.start();
  std::this_thread::sleep_for(how_long);
  auto samples = sampler.stop();
  const int64_t t1 = xlb::bench::monotonicNs();
  const double cpu1 = agent.cpuSeconds();
  Phase p;
  const ReadKind kinds[] = {ReadKind::kListVips, ReadKind::kListBackends, ReadKind::kGetStats};
  p.vips = xlb::bench::latencyOver(samples, &kinds[0], t0, t1);
  p.backends = xlb::bench::latencyOver(samples, &kinds[1], t0, t1);
  p.stats = xlb::bench::latencyOver(samples, &kinds[2], t0, t1);
  p.cpu_share = (cpu1 - cpu0) / (static_cast<double>(t1 - t0) / 1e9);
  return p;
}

bool flowStats(const std::string& socket, xlb::v1::FlowTableStats* out) {
  auto stub = xlb::v1::Balancer::NewStub(xlb::bench::agentChannel(socket));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  xlb::v1::GetStatsRequest req;
  xlb::v1::Stats resp;
  if (!stub->GetStats(&ctx, req, &resp).ok()) return false;
  *out = resp.flow_table();
  return true;
}

std::string latencyCell(const xlb::bench::Latency& l) {
  if (l.errors > 0) return absl::StrFormat("%zu errors", l.errors);
  return absl::StrFormat("%.1f / %.1f", l.p50_ms, l.p99_ms);
}

std::string defaultBuildDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "build" : exe.parent_path().parent_path().parent_path().string();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"xlb-reconcile-bench: read latency and agent CPU while the reconciler scans a large "
               "flow table (issue 12)"};
  uint32_t vips = 1000, backends = 16, seconds = 6;
  uint64_t flows = 1000000;
  std::string build_dir = defaultBuildDir(), append;
  app.add_option("--vips", vips)->capture_default_str();
  app.add_option("--backends", backends, "per VIP")->capture_default_str();
  app.add_option("--flows", flows, "open flows written into the flow table")->capture_default_str();
  app.add_option("--seconds", seconds, "sampling time of each phase")->capture_default_str();
  app.add_option("--build-dir", build_dir, "whose xlb-agent to run")->capture_default_str();
  app.add_option("--append", append, "Replace (or append) the section in this markdown file");
  CLI11_PARSE(app, argc, argv);
  xlb::bench::installSignalHandlers();

  uint64_t table = 65536;
  while (table < flows) table *= 2;
  uint32_t max_vips = 1024, max_backends = 16384;
  while (max_vips < vips) max_vips *= 2;
  while (max_backends < uint64_t{vips} * backends) max_backends *= 2;
  xlb::bench::TempDir dir;
  xlb::bench::ScaleShape shape{vips, backends, 0};
  if (auto st = xlb::bench::writeScaleConfig(xlb::bench::scaleConfig(shape, false),
                                             dir.path() + "/xlb.yaml");
      !st.ok()) {
    std::cerr << "xlb-reconcile-bench: " << st << "\n";
    return 1;
  }
  xlb::bench::AgentOptions ao;
  ao.agent_bin = build_dir + "/agent/xlb-agent";
  ao.config = dir.path() + "/xlb.yaml";
  ao.dir = dir.path();
  ao.pin_dir = absl::StrCat("/sys/fs/bpf/xlb-reconcile", getpid());
  ao.extra_args = {"--max-vips", absl::StrCat(max_vips), "--max-backends", absl::StrCat(max_backends),
                   "--flow-table-size", absl::StrCat(table), "--reconcile-interval", "1"};
  xlb::bench::AgentProcess agent(ao);
  auto ready = agent.startAndWaitReady(180s);
  if (!ready.ok()) {
    std::cerr << "xlb-reconcile-bench: agent: " << ready.status() << "\n";
    return 1;
  }
  std::cerr << "[reconcile] agent ready, " << vips << "x" << backends << ", flow table " << table
            << "\n";
  // A scan of the empty table has run (the start-up one); sample the idle agent.
  const Phase idle = sample(agent, std::chrono::seconds(seconds));
  std::string error;
  const auto fill0 = std::chrono::steady_clock::now();
  const long written = fillFlows(ao.pin_dir, flows, &error);
  if (written < 0) {
    std::cerr << "xlb-reconcile-bench: " << error << "\n";
    return 1;
  }
  const double fill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - fill0).count();
  std::cerr << "[reconcile] wrote " << written << " flows in " << fill_s << " s\n";
  // Wait for a scan that saw (most of) them: an LRU map may evict a little before it is full.
  xlb::v1::FlowTableStats ft;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!(flowStats(agent.socketPath(), &ft) && ft.lru_entries() >= uint64_t(written) * 9 / 10)) {
    if (std::chrono::steady_clock::now() > deadline || xlb::bench::interrupted()) {
      std::cerr << "xlb-reconcile-bench: no scan saw the flows within 60 s (lru_entries "
                << ft.lru_entries() << ")\n";
      return 1;
    }
    std::this_thread::sleep_for(200ms);
  }
  const Phase loaded = sample(agent, std::chrono::seconds(seconds));
  flowStats(agent.socketPath(), &ft);
  const double rss = agent.rssMiB();

  std::ostringstream md;
  md << kHeading << "\n\n"
     << "`build/bench/scale/xlb-reconcile-bench` (`make bench`): xlb-agent --no-attach with " << vips
     << " x " << backends << " ipip/maglev VIPs, --flow-table-size " << table
     << ", --reconcile-interval 1. ListVips (a 500-VIP page), ListBackends (one VIP) and GetStats "
        "are called back to back (one thread and connection each) for "
     << seconds
     << " s with the flow table empty, then for as long again after the bench wrote open flows into "
        "the pinned table and a scan saw them, while the reconciler rescans every second. Agent CPU "
        "= its utime + stime over the phase / wall time (1.0 = one whole CPU). Latencies p50 / p99 "
        "in ms.\n\n"
     << "| flows in the table | last scan (of it paused) | agent CPU | ListVips | ListBackends | "
        "GetStats | agent RSS |\n"
     << "|---:|---:|---:|---:|---:|---:|---:|\n"
     << absl::StrFormat("| 0 | - | %.2f | %s | %s | %s | |\n", idle.cpu_share, latencyCell(idle.vips),
                        latencyCell(idle.backends), latencyCell(idle.stats))
     << absl::StrFormat("| %u | %.2f s (%.2f s) | %.2f | %s | %s | %s | %.0f MiB |\n",
                        ft.lru_entries(), ft.scan_seconds(), ft.scan_paused_seconds(),
                        loaded.cpu_share, latencyCell(loaded.vips), latencyCell(loaded.backends),
                        latencyCell(loaded.stats), rss);
  std::cout << md.str();
  if (!append.empty() && !xlb::bench::replaceSection(append, kHeading, md.str())) {
    std::cerr << "xlb-reconcile-bench: cannot write " << append << "\n";
    return 1;
  }
  const bool errors = idle.vips.errors + idle.backends.errors + idle.stats.errors +
                          loaded.vips.errors + loaded.backends.errors + loaded.stats.errors >
                      0;
  return errors ? 1 : 0;
}
