// SPDX-License-Identifier: Apache-2.0
// One size of the control-plane scale bench and its markdown (see scale_run.h).
#include "scale_run.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "xlb/abi.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "agent_process.h"

namespace xlb::bench {
namespace {

using namespace std::chrono_literals;

std::string oneLine(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.pop_back();
  // Multi-line errors (the validator lists every error, one per line) become one cell.
  s = absl::StrReplaceAll(s, {{":\n", ": "}, {"\n", "; "}, {"|", "\\|"}});
  if (s.size() > 240) s = s.substr(0, 237) + "...";
  return s;
}

// The agent logs its write count just before the RPC answers; give the line a moment to land.
WriteCount writesSince(const AgentProcess& agent, size_t offset) {
  std::this_thread::sleep_for(50ms);
  return dataPlaneWrites(agent.logSince(offset));
}

// An lbctl command against the agent, timed end to end (process start to exit).
Step lbctlStep(const RunOptions& opts, const AgentProcess& agent, const std::string& dir,
               std::vector<std::string> args) {
  std::vector<std::string> argv = {opts.lbctl_bin, "--server", "unix://" + agent.socketPath(),
                                   "--timeout", absl::StrCat(opts.command_timeout.count(), "s")};
  argv.insert(argv.end(), args.begin(), args.end());
  size_t offset = agent.logSize();
  CommandResult r = runCommand(argv, dir, opts.command_timeout + 5s);
  Step s;
  if (r.exit_code != 0) {
    s.error = absl::StrCat(r.exit_code == -1 ? "failed: timed out or killed; " : "rejected: ",
                           oneLine(r.output));
    return s;
  }
  s.seconds = r.wall.count();
  s.writes = writesSince(agent, offset).writes;
  return s;
}

void note(const ScaleShape& shape, const std::string& what) {
  std::cerr << "[scale " << shape.vips << "x" << shape.backends << "] " << what << std::endl;
}

std::string describe(const Step& s) {
  if (!s.error.empty()) return s.error;
  return s.seconds ? absl::StrFormat("%.1f ms, %ld writes", *s.seconds * 1e3, s.writes) : "-";
}

// Weight changes are timed this many times (each a real change: the weight alternates), and the
// median reported: one sample on a shared VM is mostly noise.
constexpr int kWeightRuns = 9;

Step medianStep(std::vector<Step> runs) {
  std::vector<Step> ok;
  for (Step& r : runs) {
    if (!r.error.empty()) return r;
    if (r.seconds) ok.push_back(r);
  }
  if (ok.empty()) return {};
  std::sort(ok.begin(), ok.end(), [](const Step& a, const Step& b) { return *a.seconds < *b.seconds; });
  return ok[ok.size() / 2];
}

// The scale config (every VIP as in the file the agent started from) as a bare ApplyConfig RPC
// without a source digest, timed.
struct TimedApply {
  grpc::Status status;
  int64_t t0 = 0, t1 = 0;  // monotonicNs around the call
  size_t log_offset = 0;   // the agent's log size before it
};
TimedApply applyScaleConfig(v1::Balancer::Stub& stub, const ScaleShape& shape,
                            const AgentProcess& agent, const RunOptions& opts) {
  TimedApply out;
  v1::ApplyConfigRequest req;
  *req.mutable_config() = scaleConfig(shape, false);
  v1::ApplyConfigResponse resp;
  out.log_offset = agent.logSize();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + opts.command_timeout);
  out.t0 = monotonicNs();
  out.status = stub.ApplyConfig(&ctx, req, &resp);
  out.t1 = monotonicNs();
  return out;
}

// The unchanged config as a bare RPC: what any API client that re-sends its config pays.
Step reapplyRpc(v1::Balancer::Stub& stub, const ScaleShape& shape, const AgentProcess& agent,
                const RunOptions& opts) {
  Step step;
  const TimedApply a = applyScaleConfig(stub, shape, agent, opts);
  if (!a.status.ok()) {
    step.error = absl::StrCat("rejected: ", oneLine(a.status.error_message()));
    return step;
  }
  step.seconds = static_cast<double>(a.t1 - a.t0) / 1e9;
  step.writes = writesSince(agent, a.log_offset).writes;
  return step;
}

// The first backend of VIP `vip` to `weight` as a bare SetBackendWeight RPC.
Step weightRpc(v1::Balancer::Stub& stub, const ScaleShape& shape, const AgentProcess& agent,
               const RunOptions& opts, uint32_t vip, uint32_t weight) {
  Step step;
  v1::SetBackendWeightRequest req;
  req.mutable_vip()->set_address(scaleVipAddress(vip));
  req.mutable_vip()->set_port(80);
  req.mutable_vip()->set_protocol(v1::PROTOCOL_TCP);
  req.set_address(scaleBackendAddress(shape, vip, 0));
  req.set_weight(weight);
  size_t offset = agent.logSize();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + opts.command_timeout);
  v1::Vip resp;
  int64_t t0 = monotonicNs();
  grpc::Status st = stub.SetBackendWeight(&ctx, req, &resp);
  int64_t t1 = monotonicNs();
  if (st.ok()) {
    step.seconds = static_cast<double>(t1 - t0) / 1e9;
    step.writes = writesSince(agent, offset).writes;
  } else {
    step.error = absl::StrCat("rejected: ", oneLine(st.error_message()));
  }
  return step;
}

// ListVips while idle (back to back, 0.5 s), then on a schedule around every VIP changed back
// (the original file) as a bare ApplyConfig RPC, so the window is the agent's work alone.
void everyVipRpcWithReads(v1::Balancer::Stub& stub, const ScaleShape& shape,
                          const AgentProcess& agent, const RunOptions& opts, SizeResult* res) {
  v1::VipKey first;
  first.set_address(scaleVipAddress(0));
  first.set_port(80);
  first.set_protocol(v1::PROTOCOL_TCP);
  const ReadKind vips_kind = ReadKind::kListVips;
  {
    ReadSampler idle(agent.socketPath(), {vips_kind}, first, opts.read_deadline);
    idle.start();
    std::this_thread::sleep_for(500ms);
    res->idle_reads = latencyOver(idle.stop(), &vips_kind, 0, INT64_MAX);
  }
  // One call per 4 idle latencies (at least 10 ms): the reads take at most about a quarter of a
  // core, so they do not slow the apply they measure.
  auto interval = std::max<std::chrono::microseconds>(
      10ms, std::chrono::microseconds(static_cast<int64_t>(res->idle_reads.p50_ms * 4000)));
  res->read_interval_ms = static_cast<double>(interval.count()) / 1e3;
  ScheduledListVips sampler(agent.socketPath(), interval, opts.read_deadline);
  sampler.start();
  std::this_thread::sleep_for(300ms);
  {
    const TimedApply a = applyScaleConfig(stub, shape, agent, opts);
    const grpc::Status& st = a.status;
    const int64_t a0 = a.t0, a1 = a.t1;
    const size_t offset = a.log_offset;
    std::this_thread::sleep_for(200ms);
    auto samples = sampler.stop();
    if (st.ok()) {
      res->every_vip_rpc.seconds = static_cast<double>(a1 - a0) / 1e9;
      auto w = dataPlaneWrites(agent.logSince(offset));
      res->every_vip_rpc.writes = w.lines ? w.writes : -1;
    } else {
      res->every_vip_rpc.error = absl::StrCat("rejected: ", oneLine(st.error_message()));
    }
    // Calls scheduled while the apply ran (each timed from its scheduled start).
    std::vector<ReadSample> during;
    for (const auto& smp : samples) {
      if (smp.start_ns >= a0 && smp.start_ns <= a1) during.push_back(smp);
    }
    res->apply_reads = latencyOver(during, &vips_kind, a0, a1);
    res->read_skipped = sampler.skipped();
  }
  note(shape,
       absl::StrFormat("every-VIP apply, RPC: %s; ListVips every %.1f ms during it: p50 %.1f "
                       "p99 %.1f max %.1f ms (%zu calls, %zu errors)",
                       describe(res->every_vip_rpc), res->read_interval_ms, res->apply_reads.p50_ms,
                       res->apply_reads.p99_ms, res->apply_reads.max_ms, res->apply_reads.n,
                       res->apply_reads.errors));
}

}  // namespace

SizeResult runSize(const ScaleShape& shape, const RunOptions& opts) {
  SizeResult res;
  res.shape = shape;
  TempDir tmp;
  if (tmp.path().empty()) {
    res.start.error = "failed: mkdtemp";
    return res;
  }
  const std::string config_a = tmp.path() + "/scale.yaml";
  const std::string config_b = tmp.path() + "/scale-every-vip.yaml";
  for (bool changed : {false, true}) {
    auto st = writeScaleConfig(scaleConfig(shape, changed), changed ? config_b : config_a);
    if (!st.ok()) {
      res.start.error = absl::StrCat("failed: ", st.message());
      return res;
    }
  }

  AgentOptions ao;
  ao.agent_bin = opts.agent_bin;
  ao.config = config_a;
  ao.dir = tmp.path();
  ao.pin_dir = absl::StrCat("/sys/fs/bpf/xlb-scale", getpid());
  // Capacity: the agent's defaults, doubled until the size fits (as an operator would size it).
  uint64_t max_vips = XLB_MAX_VIPS, max_backends = XLB_MAX_BACKENDS;
  while (max_vips < shape.vips) max_vips *= 2;
  while (max_backends < uint64_t{shape.vips} * shape.backends) max_backends *= 2;
  ao.extra_args = {"--max-vips", absl::StrCat(max_vips), "--max-backends",
                   absl::StrCat(max_backends)};
  AgentProcess agent(ao);
  auto ready = agent.startAndWaitReady(opts.start_timeout);
  if (!ready.ok()) {
    bool refused = ready.status().code() == absl::StatusCode::kFailedPrecondition;
    // The temp dir's name changes every run: the file name alone says which config.
    std::string why = absl::StrReplaceAll(ready.status().message(), {{tmp.path() + "/", ""}});
    res.start.error = absl::StrCat(refused ? "rejected: " : "failed: ", oneLine(why));
    note(shape, res.start.error);
    return res;
  }
  res.start.seconds = ready->count();
  res.rss_mib = agent.rssMiB();
  note(shape, absl::StrFormat("ready in %.2f s, RSS %.0f MiB", ready->count(), res.rss_mib));

  auto stub = v1::Balancer::NewStub(agentChannel(agent.socketPath()));
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + opts.read_deadline);
    v1::ListVipsResponse vips;
    grpc::Status st = stub->ListVips(&ctx, v1::ListVipsRequest(), &vips);
    if (!st.ok() || vips.vips_size() != static_cast<int>(shape.vips)) {
      res.start.error = absl::StrCat("failed: ListVips after start: ", st.error_message(), " (",
                                     vips.vips_size(), " VIPs)");
      return res;
    }
  }

  // The agent started from config_a, so lbctl finds it running that document (its digest).
  res.reapply = lbctlStep(opts, agent, tmp.path(), {"apply", "-f", config_a});
  note(shape, "unchanged re-apply, lbctl: " + describe(res.reapply));
  res.reapply_rpc = reapplyRpc(*stub, shape, agent, opts);
  note(shape, "unchanged re-apply, RPC (whole diff): " + describe(res.reapply_rpc));
  // Let the state save that follows a change finish before timing the next one.
  auto settle = [] { std::this_thread::sleep_for(300ms); };

  // One backend's weight, through lbctl (what an operator types) and as the RPC alone. Each run
  // changes another VIP (from 1 to 3 or 4): a VIP's table changes in place at most once per
  // second (BpfOptions::table_flip_guard), so nine changes of one VIP 0.3 s apart would time the
  // swap that a second change within a second takes instead.
  settle();
  const double idle0 = agent.cpuSeconds();
  for (int i = 0; i < kWeightRuns; ++i) settle();
  const double idle1 = agent.cpuSeconds();
  std::vector<Step> runs;
  for (int i = 0; i < kWeightRuns; ++i) {
    runs.push_back(lbctlStep(
        opts, agent, tmp.path(),
        {"backend", "weight", scaleVipRef(static_cast<uint32_t>(i) % shape.vips),
         scaleBackendAddress(shape, static_cast<uint32_t>(i) % shape.vips, 0), i % 2 ? "4" : "3"}));
    settle();
  }
  const double busy1 = agent.cpuSeconds();
  if (idle0 >= 0 && busy1 >= 0) {
    res.weight_agent_cpu_ms = ((busy1 - idle1) - (idle1 - idle0)) * 1e3 / kWeightRuns;
  }
  res.weight_lbctl = medianStep(std::move(runs));
  note(shape, "lbctl backend weight (median of 9): " + describe(res.weight_lbctl) +
                   absl::StrFormat(", agent CPU %.1f ms per change", res.weight_agent_cpu_ms));
  // The same process, connection and one RPC for a read of one VIP: lbctl's own floor, which
  // the weight's figure holds too.
  runs.clear();
  for (int i = 0; i < kWeightRuns; ++i) {
    runs.push_back(lbctlStep(opts, agent, tmp.path(),
                             {"backend", "list", scaleVipRef(static_cast<uint32_t>(i) % shape.vips)}));
    settle();
  }
  res.read_lbctl = medianStep(std::move(runs));
  note(shape, "lbctl backend list (median of 9): " + describe(res.read_lbctl));
  if (shape.vips > 1) {
    runs.clear();
    for (int i = 0; i < kWeightRuns; ++i) {
      settle();
      runs.push_back(weightRpc(*stub, shape, agent, opts,
                               static_cast<uint32_t>(kWeightRuns + i) % shape.vips, i % 2 ? 4 : 3));
    }
    res.weight_rpc = medianStep(std::move(runs));
    note(shape, "SetBackendWeight RPC (median of 9): " + describe(res.weight_rpc));
  }
  settle();

  // Every VIP changed (one weight each) through lbctl: the operator's end-to-end time.
  res.every_vip = lbctlStep(opts, agent, tmp.path(), {"apply", "-f", config_b});
  if (res.every_vip.seconds && res.every_vip.writes == 0) {
    res.every_vip.writes = -1;  // the agent wrote: its log line was not found
  }
  note(shape, "every-VIP apply, lbctl: " + describe(res.every_vip));

  everyVipRpcWithReads(*stub, shape, agent, opts, &res);
  res.peak_rss_mib = agent.peakRssMiB();
  return res;
}

namespace {

std::string ms(const Step& s) {
  if (!s.error.empty()) return s.error;
  if (!s.seconds) return "-";
  std::string w = s.writes < 0 ? "? writes" : absl::StrCat(s.writes, " writes");
  return absl::StrFormat("%.1f ms (%s)", *s.seconds * 1e3, w);
}

std::string withCommas(uint64_t n) {
  const std::string digits = std::to_string(n);
  std::string s;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s.push_back(',');
    s.push_back(digits[i]);
  }
  return s;
}

}  // namespace

std::string markdownSection(const std::vector<SizeResult>& results, uint32_t maglev_table_size,
                            const std::string& provenance) {
  std::ostringstream md;
  md << "## Control plane at scale (issue 12)\n\n"
     << "`build/bench/scale/xlb-scale-bench` (`make bench`), " << provenance << ". For each size "
     << "(VIPs x backends per VIP; ipip, maglev, "
     << (maglev_table_size ? absl::StrCat("maglev_table_size ", maglev_table_size)
                           : std::string("maglev_table_size unset (the agent's default)"))
     << "; distinct backend addresses per VIP) a fresh `xlb-agent --no-attach` starts in a network "
        "namespace of its own with its own pin dir, state dir and unix socket, from a config file "
        "holding every VIP. **Start**: fork to the agent's sd_notify `READY=1` (a NOTIFY_SOCKET "
        "the "
        "bench listens on), a ListVips then checks every VIP is there. **RSS**: the agent's VmRSS "
        "right after ready (peak VmHWM at the end of the run). **Re-apply**: `lbctl apply -f` of "
        "the unchanged file the agent started from (lbctl sends its SHA-256 first and the agent, "
        "running that document with nothing changed since, answers without a parse; "
        "GetAppliedDigest), and the same config as a bare ApplyConfig RPC without a digest (the "
        "agent's whole validate, normalize and per-VIP diff). **Weight**: `lbctl backend weight` "
        "of one backend (the whole lbctl process), and the same change as a bare SetBackendWeight "
        "RPC from the bench; each the median of 9 changes, 0.3 s apart, each on another VIP (a VIP's "
        "table changes in place at most once a second; a second change within a second swaps in "
        "a new table and waits for an RCU grace period); **lbctl read**: `lbctl backend list` of "
        "one VIP timed the same way (lbctl's start, its connection and one RPC that changes "
        "nothing: the part of the lbctl weight figure that is not the change); **agent CPU per "
        "weight**: "
        "the agent's utime + stime over the 9 lbctl changes and the 0.3 s after each (the state "
        "save it triggers included), minus an idle window as long just before, per change. "
        "**Every VIP, "
        "lbctl**: `lbctl apply -f` of the file with one weight changed on every VIP; **every VIP, "
        "RPC**: the original file back (every VIP changed again) as a bare ApplyConfig RPC. lbctl "
        "figures are wall time of the lbctl process (its start-up and YAML parsing included); "
        "writes are the sum of the agent's `state: applied N data-plane writes` log lines during "
        "the step (`?`: none found although the step wrote). **ListVips**: the first page of "
        "500 VIPs (lbctl's page size; `lbctl vip list` follows every page), from a direct C++ "
        "gRPC client on the unix socket; idle p50 from 0.5 s of back-to-back calls; then calls are issued on a "
        "fixed schedule (every 4 idle p50s, at least every 10 ms, whether or not earlier calls "
        "answered) and every call scheduled while the RPC apply ran is timed from its scheduled "
        "start, so a read that waits behind the apply counts once per slot it blocked, not once "
        "(no coordinated omission). A size the agent refuses shows its error as `rejected: ...`. "
        "Targets (issue 12, at 10,000 x 10 and 1,000 x 100): start <= 3 s, RSS <= 250 MB, "
        "re-apply <= 200 ms and 0 writes, one weight <= 5 ms through lbctl, every VIP <= 2 s, "
        "reads "
        "<= 50 ms p99 during any apply. One 2-vCPU VM shared with other work: the shape (how a "
        "figure grows with the size) matters more than the exact milliseconds.\n\n"
     << "| VIPs x backends | memberships | start to ready | RSS after start (peak) | re-apply "
        "unchanged, lbctl | re-apply unchanged, RPC | backend weight, lbctl | lbctl read | weight, "
        "RPC | agent "
        "CPU per weight | every VIP, lbctl | every VIP, RPC | ListVips idle p50 | ListVips during the every-VIP RPC: p50 "
        "/ p99 / max (calls, errors) |\n"
     << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : results) {
    md << "| " << withCommas(r.shape.vips) << " x " << r.shape.backends << " | "
       << withCommas(uint64_t{r.shape.vips} * r.shape.backends) << " | ";
    if (!r.start.error.empty()) {
      md << r.start.error << " | - | - | - | - | - | - | - | - | - | - | - |\n";
      continue;
    }
    md << absl::StrFormat("%.2f s", *r.start.seconds) << " | "
       << absl::StrFormat("%.0f MiB (%.0f)", r.rss_mib, r.peak_rss_mib) << " | " << ms(r.reapply)
       << " | " << ms(r.reapply_rpc) << " | " << ms(r.weight_lbctl) << " | " << ms(r.read_lbctl)
       << " | "
       << (r.weight_rpc.seconds         ? absl::StrFormat("%.2f ms", *r.weight_rpc.seconds * 1e3)
           : r.weight_rpc.error.empty() ? "-"
                                        : r.weight_rpc.error)
       << " | "
       << (r.weight_agent_cpu_ms >= 0 ? absl::StrFormat("%.1f ms", r.weight_agent_cpu_ms) : "-")
       << " | " << ms(r.every_vip) << " | " << ms(r.every_vip_rpc) << " | "
       << (r.idle_reads.n ? absl::StrFormat("%.1f ms", r.idle_reads.p50_ms) : "-") << " | "
       << (r.apply_reads.n
               ? absl::StrFormat("%.1f / %.1f / %.1f ms (%zu, %zu)", r.apply_reads.p50_ms,
                                 r.apply_reads.p99_ms, r.apply_reads.max_ms, r.apply_reads.n,
                                 r.apply_reads.errors) +
                     (r.read_skipped ? absl::StrCat(", ", r.read_skipped, " skipped")
                                     : std::string())
               : "-")
       << " |\n";
  }
  return md.str();
}

bool replaceSection(const std::string& path, const std::string& heading, const std::string& text) {
  std::ifstream in(path);
  std::string line, kept;
  bool skipping = false;
  while (std::getline(in, line)) {
    if (line.rfind(heading, 0) == 0) {
      skipping = true;
      continue;
    }
    if (skipping && line.rfind("## ", 0) == 0) skipping = false;
    if (!skipping) kept += line + "\n";
  }
  in.close();
  while (!kept.empty() && kept.back() == '\n') kept.pop_back();
  std::ofstream out(path, std::ios::trunc);
  out << (kept.empty() ? "" : kept + "\n\n") << text;
  out.close();
  return static_cast<bool>(out);
}

}  // namespace xlb::bench
