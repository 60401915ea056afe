// SPDX-License-Identifier: Apache-2.0
// xlb-churn-bench (issue 12, `make bench`): health-transition churn against the real data plane.
// Loads the balancer (unpinned, not attached, capacity sized to the config), applies VIPS x
// BACKENDS ipip/maglev VIPs whose backends are TCP-checked (no checker runs: transitions are
// submitted exactly as the checker's listener does, State::submitHealthTransition), starts State's
// health applier and submits RATE transitions per second for SECONDS on a fixed schedule, each
// flipping a random backend of a random VIP (down, or up again). Every applied transition shows up
// as a KIND_BACKEND_HEALTH event once its table is changed; the latency of a transition is the
// time from its submission to that event. Reports the submitted/applied counts, the applier's
// changes (rounds) and transitions per change, latency p50/p99/max and the longest queue, and
// (--append) replaces the section in BENCHMARKS.md.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dataplane/bpf_dataplane.h"
#include "scale_config.h"
#include "scale_run.h"
#include "spdlog/spdlog.h"
#include "state/state.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr char kHeading[] = "## Health churn (issue 12)";

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"xlb-churn-bench: health-transition churn against the real data plane (issue 12)"};
  uint32_t vips = 10000, backends = 10, rate = 100, seconds = 10;
  std::string append;
  app.add_option("--vips", vips)->capture_default_str();
  app.add_option("--backends", backends, "per VIP")->capture_default_str();
  app.add_option("--rate", rate, "transitions per second")->capture_default_str();
  app.add_option("--seconds", seconds)->capture_default_str();
  app.add_option("--append", append, "Replace (or append) the section in this markdown file");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  xlb::dataplane::BpfOptions opts;
  opts.pin_dir = "";
  opts.flow_table_size = 65536;
  opts.nat_table_size = 1024;
  while (opts.capacity.vips < vips) opts.capacity.vips *= 2;
  while (opts.capacity.backends < uint64_t{vips} * backends) opts.capacity.backends *= 2;
  auto dp = xlb::dataplane::BpfDataplane::create(opts);
  if (!dp.ok()) {
    std::cerr << "xlb-churn-bench: load: " << dp.status() << "\n";
    return 1;
  }
  xlb::bench::ScaleShape shape{vips, backends, 0};
  xlb::v1::Config config = xlb::bench::scaleConfig(shape, false);
  for (auto& v : *config.mutable_vips()) v.mutable_health_check()->set_type(xlb::v1::HEALTH_CHECK_TYPE_TCP);
  xlb::state::State state(**dp);
  auto t0 = Clock::now();
  if (auto st = state.applyConfig(config, false, nullptr); !st.ok()) {
    std::cerr << "xlb-churn-bench: apply: " << st << "\n";
    return 1;
  }
  const double apply_ms = ms(Clock::now() - t0);
  std::cerr << "[churn] " << vips << "x" << backends << " applied in " << apply_ms << " ms\n";

  auto sub = state.events().subscribe();
  state.startHealthApplier();
  std::mt19937 rng(12345);
  std::map<std::string, xlb::health::Health> health;  // key -> last submitted
  std::map<std::string, std::vector<Clock::time_point>> submitted;  // key -> pending submit times
  std::mutex mu;
  std::vector<double> latencies;
  size_t applied = 0, max_queue = 0;
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    for (;;) {
      auto e = sub->next(std::chrono::milliseconds(20));
      if (!e) {
        if (done.load()) break;
        continue;
      }
      if (e->kind() != xlb::v1::Event::KIND_BACKEND_HEALTH || !e->has_health_transition()) continue;
      const auto now = Clock::now();
      std::lock_guard lock(mu);
      auto key = xlb::state::State::healthKey(*xlb::config::vipKeyOf(e->vip()),
                                              *xlb::parseIpAddress(e->backend()));
      auto it = submitted.find(key);
      if (it == submitted.end() || it->second.empty()) continue;
      latencies.push_back(ms(now - it->second.front()));
      it->second.erase(it->second.begin());
      ++applied;
    }
  });
  const size_t total = size_t{rate} * seconds;
  latencies.reserve(total);
  const auto period = std::chrono::nanoseconds(1000000000ull / rate);
  const auto start = Clock::now();
  for (size_t i = 0; i < total; ++i) {
    std::this_thread::sleep_until(start + period * static_cast<int64_t>(i));
    const uint32_t v = rng() % vips, b = rng() % backends;
    const xlb::v1::Vip& vip = config.vips(static_cast<int>(v));
    auto vk = xlb::config::vipKeyOf(vip);
    const std::string key =
        xlb::state::State::healthKey(*vk, *xlb::parseIpAddress(vip.backends(static_cast<int>(b)).address()));
    auto& h = health[key];
    const auto from = h == xlb::health::Health::kDown ? xlb::health::Health::kDown
                                                      : xlb::health::Health::kUnknown;
    const auto to = h == xlb::health::Health::kDown ? xlb::health::Health::kUp
                                                    : xlb::health::Health::kDown;
    h = to;
    {
      std::lock_guard lock(mu);
      submitted[key].push_back(Clock::now());
    }
    state.submitHealthTransition(key, {from, to, xlb::health::Clock::now(), "churn"});
    max_queue = std::max(max_queue, state.healthApplyStats().queued);
  }
  const auto last_submit = Clock::now();
  while (state.healthApplyStats().transitions < total && Clock::now() - last_submit < std::chrono::seconds(30)) {
    max_queue = std::max(max_queue, state.healthApplyStats().queued);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double drain_ms = ms(Clock::now() - last_submit);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  done = true;
  watcher.join();
  state.stopHealthApplier();
  const auto stats = state.healthApplyStats();

  std::ostringstream md;
  md << kHeading << "\n\n"
     << "`build/bench/scale/xlb-churn-bench` (`make bench`): the real data plane (loaded, not attached, "
        "capacity sized to the config), "
     << vips << " VIPs x " << backends
     << " TCP-checked backends applied, then health transitions submitted the way the checker's "
        "listener does (State::submitHealthTransition) at a fixed rate, each flipping a random "
        "backend down or back up; latency = submission to the transition's event, published once "
        "its VIP's table is changed (in place: the idle half written and flipped; or swapped in as "
        "a new map when the same VIP changed less than a second before). The applier takes "
        "everything queued as one change.\n\n"
     << "| VIPs x backends | rate | transitions submitted / applied | changes (rounds) | transitions "
        "per change | latency p50 / p99 / max | longest queue | drained after the last submit |\n"
     << "|---|---:|---:|---:|---:|---:|---:|---:|\n"
     << absl::StrFormat("| %u x %u | %u/s for %u s | %u / %u | %u | %.2f | %.1f / %.1f / %.1f ms | %u | %.1f ms |\n",
                        vips, backends, rate, seconds, total, stats.transitions, stats.rounds,
                        stats.rounds ? static_cast<double>(stats.transitions) / static_cast<double>(stats.rounds) : 0.0,
                        percentile(latencies, 0.5), percentile(latencies, 0.99),
                        percentile(latencies, 1.0), max_queue, drain_ms);
  std::cout << md.str();
  if (!append.empty() && !xlb::bench::replaceSection(append, kHeading, md.str())) {
    std::cerr << "xlb-churn-bench: cannot write " << append << "\n";
    return 1;
  }
  return stats.transitions == total ? 0 : 1;
}
