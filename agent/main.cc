// SPDX-License-Identifier: Apache-2.0
// xlb-agent: loads and attaches the XDP balancer, applies the config file, runs health checks and
// the open-flow reconciler, serves the gRPC API and Prometheus /metrics.
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/bgp_service.h"
#include "api/inspect.h"
#include "api/server.h"
#include "api/service.h"
#include "bgp/announcer.h"
#include "bgp/gobgp_speaker.h"
#include "bgp/state_waker.h"
#include "config/discovery.h"
#include "config/validate.h"
#include "config/yaml.h"
#include "discovery/manager.h"
#include "dataplane/bpf_contents.h"
#include "dataplane/bpf_dataplane.h"
#include "dataplane/program_info.h"
#include "health/checker.h"
#include "metrics/metrics.h"
#include "metrics/server.h"
#include "nat/gc.h"
#include "persist/notify.h"
#include "persist/persister.h"
#include "persist/reload.h"
#include "spdlog/spdlog.h"
#include "state/flood_monitor.h"
#include "state/reconciler.h"
#include "state/state.h"
#include "xlb/abi.h"

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitBadConfig = 2;

struct Options {
  std::string config;
  // --interface, repeatable: the first is the primary; NAT two-arm setups add the backend-facing
  // one (the same program on each, one pinned link per interface).
  std::vector<std::string> interfaces;
  bool no_attach = false;
  std::string vlan_ids;  // --vlan-ids: accepted with the config's vlan_ids (the union)
  // --listen (repeatable), --socket-group, TLS and request limits (README "API security").
  xlb::api::ServerOptions api;
  std::string pin_dir = XLB_PIN_DIR;
  uint32_t flow_table_size = XLB_DEFAULT_FLOWS;
  uint32_t protected_flow_table_size = 0;  // 0 = --flow-table-size
  uint32_t flow_protect_after_ms = 1000;   // 0 = flood protection off
  uint32_t nat_table_size = XLB_DEFAULT_NAT_ENTRIES;
  xlb::Capacity capacity;  // --max-vips / --max-backends
  uint32_t nat_gc_interval_ms = 1000;
  uint32_t protected_tcp_timeout_s = 3600;
  uint32_t protected_udp_timeout_s = 300;
  uint32_t protected_closing_timeout_s = 10;
  double flood_new_flow_rate = 0;  // 0 = flow table size / 60 s
  bool xdp_generic = false;
  bool detach_on_exit = false;
  std::string log_level = "info";
  uint32_t reconcile_interval_s = 5;
  uint32_t flow_idle_timeout_s = 300;
  std::string metrics_listen = "127.0.0.1:9440";
  std::string state_dir = "/var/lib/xlb";
  bool config_overrides_state = false;
  // gobgpd's API (README "Running several load balancers"); used when the config has a bgp section.
  std::string bgp_api = "unix:///run/xlb/gobgpd.sock";
  uint32_t bgp_listen_port = 0;
  std::string resolv_conf = "/etc/resolv.conf";  // nameservers for backends by name
};

// The soft RLIMIT_NOFILE is often 1,024 (systemd's default) while the hard one is far higher: the
// agent holds one fd per selection table while it swaps a batch of them in (a larger batch waits
// for fewer RCU grace periods) besides health-check and API sockets, and uses epoll, never
// select(), so it takes the hard limit, as systemd.exec(5) advises such programs to.
void raiseFdLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max) return;
  const rlim_t before = lim.rlim_cur;
  lim.rlim_cur = lim.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &lim) == 0) {
    spdlog::debug("agent: open files limit raised from {} to {}", before, lim.rlim_cur);
  }
}

int run(const Options& opts) {
  raiseFdLimit();
  // Block the stop signals before any thread exists (gRPC starts several) so that only the
  // dedicated waiter below ever receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);  // reload, handled by the same waiter
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // The program and its maps load while the config is parsed (a 10,000-VIP file takes about as
  // long as the load). Loading changes nothing a running balancer uses (BpfDataplane::open): the
  // takeover (attach, migration) waits for the parsed and validated config, so a typo still never
  // detaches a running balancer or leaves a half-configured one.
  xlb::dataplane::installLibbpfLogger();
  xlb::dataplane::BpfOptions bpf;
  if (!opts.no_attach) {
    bpf.interface = opts.interfaces.front();
    bpf.extra_interfaces.assign(opts.interfaces.begin() + 1, opts.interfaces.end());
  }
  bpf.nat_table_size = opts.nat_table_size;
  bpf.capacity = opts.capacity;
  bpf.pin_dir = opts.pin_dir;
  bpf.flow_table_size = opts.flow_table_size;
  bpf.protected_flow_table_size = opts.protected_flow_table_size;
  bpf.flow_protect_after_ms = opts.flow_protect_after_ms;
  bpf.xdp_generic = opts.xdp_generic;
  const auto started = std::chrono::steady_clock::now();
  // A bad config returns below while this runs: the future's destructor waits for it.
  std::chrono::steady_clock::duration load_took{};
  auto loading = std::async(std::launch::async, [&bpf, &load_took, started] {
    auto dp = xlb::dataplane::BpfDataplane::open(bpf);
    load_took = std::chrono::steady_clock::now() - started;
    return dp;
  });

  auto flag_vlans = xlb::config::parseVlanIdList(opts.vlan_ids, "--vlan-ids");
  if (!flag_vlans.ok()) {
    std::cerr << "xlb-agent: " << flag_vlans.status().message() << "\n";
    return kExitBadConfig;
  }
  xlb::v1::Config config;
  std::string config_digest;  // of the --config file's bytes (GetAppliedDigest)
  if (!opts.config.empty()) {
    auto text = xlb::config::readConfigFile(opts.config);
    auto loaded = text.ok() ? xlb::config::parseConfigFileText(opts.config, *text)
                            : absl::StatusOr<xlb::v1::Config>(text.status());
    if (text.ok()) config_digest = xlb::config::sourceDigest(*text);
    if (!loaded.ok()) {
      std::cerr << "xlb-agent: invalid config " << loaded.status().message() << "\n";
      return kExitBadConfig;
    }
    if (auto st = xlb::config::validateConfig(*loaded, opts.capacity); !st.ok()) {
      std::cerr << "xlb-agent: invalid config " << opts.config << ":\n" << st.message() << "\n";
      return kExitBadConfig;
    }
    config = std::move(*loaded);
  }

  // Persisted desired state (README "State and reload"): a saved state wins over --config unless
  // --config-overrides-state; a corrupt one refuses the start rather than dropping VIPs.
  std::unique_ptr<xlb::persist::StateStore> store;
  std::string config_source = opts.config.empty() ? "empty config" : "config file " + opts.config;
  if (!opts.state_dir.empty()) {
    store = std::make_unique<xlb::persist::StateStore>(opts.state_dir);
    auto chosen = xlb::persist::chooseStartupConfig(*store, !opts.config.empty(), opts.config,
                                                    std::move(config), opts.config_overrides_state);
    if (!chosen.ok()) {
      std::cerr << "xlb-agent: " << chosen.status().message() << "\n";
      return kExitBadConfig;
    }
    config = std::move(chosen->config);
    if (chosen->source != config_source) config_digest.clear();  // the saved state, not the file
    config_source = chosen->source;
    if (opts.config_overrides_state) {
      // Backends by name keep their saved last good set (README "Backends by name").
      if (auto saved = store->load(); saved.ok()) {
        if (int n = xlb::config::copyDiscoveredBackends(*saved, &config); n > 0) {
          spdlog::info("agent: {} discovered backends restored from the saved state", n);
        }
      }
    }
  }

  const auto config_took = std::chrono::steady_clock::now() - started;
  auto dataplane = loading.get();
  if (dataplane.ok()) {
    if (auto st = (*dataplane)->takeOver(bpf); !st.ok()) dataplane = st;
  }
  if (!dataplane.ok()) {
    spdlog::critical("agent: data plane: {}", std::string(dataplane.status().message()));
    return kExitFailure;
  }
  // Start-up phases are logged with their durations: a slow start shows where it spent its time.
  auto ms = [](std::chrono::steady_clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  spdlog::info("agent: data plane loaded in {} ms, {} read in {} ms alongside; ready to apply "
               "{} ms after start",
               ms(load_took), config_source, ms(config_took),
               ms(std::chrono::steady_clock::now() - started));

  xlb::state::State state(**dataplane);
  // Declared after State: destroyed (stopped) first, since its listener calls into State.
  xlb::health::HealthChecker checker(
      [&state](const std::string& key, const xlb::health::Transition& tr) {
        state.submitHealthTransition(key, tr);
      });
  // Pinned maps outlive the agent: take over what a previous agent left so unchanged VIPs keep
  // their ids (flows survive the restart) and whatever the config no longer has is removed below.
  auto contents = xlb::dataplane::readBpfContents(**dataplane);
  if (!contents.ok()) {
    spdlog::critical("agent: reading the pinned maps: {}",
                     std::string(contents.status().message()));
    return kExitFailure;
  }
  if (auto st = state.adopt(*contents); !st.ok()) {
    spdlog::critical("agent: {}", std::string(st.message()));
    return kExitFailure;
  }
  state.setFlagVlanIds(*flag_vlans);
  std::vector<std::string> changes;
  if (auto st = state.applyConfig(config, false, &changes, config_digest); !st.ok()) {
    // Validation passed above, so this is the data plane refusing (e.g. a map is full).
    spdlog::critical("agent: applying {}: {}", opts.config.empty() ? "empty config" : opts.config,
                     std::string(st.message()));
    // INVALID_ARGUMENT, and FAILED_PRECONDITION (a fullnat pool overlapping the host's
    // ip_local_port_range), are the config's fault.
    return st.code() == absl::StatusCode::kInvalidArgument ||
                   st.code() == absl::StatusCode::kFailedPrecondition
               ? kExitBadConfig
               : kExitFailure;
  }
  xlb::persist::logChanges("agent", changes);
  spdlog::info("agent: applied {} ({} ms after start)", config_source,
               ms(std::chrono::steady_clock::now() - started));
  std::unique_ptr<xlb::persist::StatePersister> persister;
  if (store) {
    persister = std::make_unique<xlb::persist::StatePersister>(state, *store);
    // The applied start-up state is saved at once (a first start from --config creates the file).
    if (auto st = persister->flush(); !st.ok()) {
      spdlog::critical("agent: saving state: {}", std::string(st.message()));
      return kExitFailure;
    }
    persister->start();
  }
  xlb::persist::ConfigReloader reloader(state, opts.config);
  xlb::persist::SystemdNotifier notifier;

  if (auto st = checker.start(); !st.ok()) {
    spdlog::critical("agent: health checker: {}", std::string(st.message()));
    return kExitFailure;
  }
  state.attachHealthChecker(&checker);
  state.startHealthApplier();
  xlb::state::FloodMonitor::Options flood_opts;
  flood_opts.timeouts.tcp_ns = uint64_t{opts.protected_tcp_timeout_s} * 1000000000ull;
  flood_opts.timeouts.udp_ns = uint64_t{opts.protected_udp_timeout_s} * 1000000000ull;
  flood_opts.timeouts.closing_ns = uint64_t{opts.protected_closing_timeout_s} * 1000000000ull;
  flood_opts.flood_rate = opts.flood_new_flow_rate;
  xlb::state::FloodMonitor flood(state, **dataplane, flood_opts);
  xlb::state::Reconciler reconciler(state, std::chrono::seconds(opts.reconcile_interval_s),
                                    std::chrono::seconds(opts.flow_idle_timeout_s));
  reconciler.setFloodMonitor(&flood);
  // Counts left by a previous agent (or a crash) are corrected before the API answers.
  reconciler.runOnce(/*paced=*/false);
  reconciler.start();
  // NAT connections: idle expiry, orphans, table pressure (README "Forwarding modes").
  xlb::nat::NatCollector nat_collector(**dataplane, [&state] { return state.sharedNatVips(); },
                                       std::chrono::milliseconds(opts.nat_gc_interval_ms));
  if (auto st = nat_collector.runOnce(); !st.ok()) {
    spdlog::warn("agent: NAT collection: {}", std::string(st.message()));
  }
  nat_collector.start();

  // BGP announcements through gobgpd (README "Running several load balancers"): started once the
  // program is attached and the config applied, so a VIP is never announced before it forwards.
  // Never stopped with a withdraw: gobgpd keeps announcing while the agent restarts.
  xlb::bgp::GoBgpSpeaker::Options speaker_opts;
  speaker_opts.listen_port = opts.bgp_listen_port;
  xlb::bgp::GoBgpSpeaker speaker(opts.bgp_api, speaker_opts);
  xlb::bgp::Announcer::Options bgp_opts;
  if (!opts.state_dir.empty()) {
    bgp_opts.drain_file = opts.state_dir + "/bgp-drain";
    bgp_opts.active_file = opts.state_dir + "/bgp-active";
  }
  xlb::bgp::Announcer announcer(
      speaker,
      xlb::bgp::stateGateInput(state, !opts.no_attach),
      [&state](const xlb::v1::Event& e) { state.events().publish(e); }, bgp_opts);
  announcer.start();
  // Health transitions and config changes reach the gate at once, not at its next interval.
  xlb::bgp::StateWaker bgp_waker(state.events(), announcer);

  // Backends by name: c-ares on its own thread, feeding State (README "Backends by name").
  auto resolver = xlb::discovery::makeCaresResolver(opts.resolv_conf);
  if (!resolver.ok()) {
    spdlog::critical("agent: {}", std::string(resolver.status().message()));
    return kExitFailure;
  }
  xlb::discovery::DiscoveryManager discovery(state, std::move(*resolver),
                                             {.resolv_conf = opts.resolv_conf});
  state.setDiscoveryStatus([&discovery](const xlb::config::VipKey& vip,
                                        xlb::v1::BackendSource* source) {
    discovery.fillStatus(vip, source);
  });
  discovery.start();

  // Prometheus /metrics (README "Metrics"): each scrape gathers through inspect::gatherStats, as
  // GetStats does.
  // A port that cannot be bound is logged, not fatal: forwarding must not depend on observability.
  std::unique_ptr<xlb::metrics::MetricsServer> metrics;
  if (!opts.metrics_listen.empty()) {
    // The program this agent loaded (an upgrade replaces it in the pinned link: the id changes).
    std::optional<uint32_t> program_id;
    if (auto id = xlb::dataplane::programId((*dataplane)->programFd()); id.ok()) program_id = *id;
    auto render = [&state, &dp = **dataplane, program_id, &nat_collector, &announcer,
                   &discovery]() -> absl::StatusOr<std::string> {
      xlb::metrics::AgentInfo agent;
      agent.version = xlb::metrics::agentVersion();
      agent.program_id = program_id;
      agent.apply = state.applyStats();
      auto in = xlb::metrics::collectMetrics(state, dp, std::move(agent), &nat_collector);
      if (!in.ok()) return in.status();
      return xlb::metrics::renderMetrics(*in) + announcer.renderMetrics() +
             discovery.renderMetrics();
    };
    auto started = xlb::metrics::MetricsServer::start(opts.metrics_listen, render);
    if (started.ok()) {
      metrics = std::move(*started);
      spdlog::info("agent: metrics on {} (port {}), GET /metrics", opts.metrics_listen,
                   metrics->port());
    } else {
      spdlog::error("agent: {}; /metrics disabled", std::string(started.status().message()));
    }
  }


  xlb::api::BalancerService service(state, **dataplane, opts.api.limits);
  service.setNatCollector(&nat_collector);
  // Flow-table and per-packet inspection (lbctl flows / lbctl explain), NAT connections (lbctl nat).
  xlb::api::InspectorService inspector(state, **dataplane);
  inspector.setNatCollector(&nat_collector);
  xlb::api::BgpService bgp_service(announcer);
  auto server = xlb::api::startServer(opts.api, {&service, &inspector, &bgp_service});
  if (!server.ok()) {
    spdlog::critical("agent: gRPC: {}", std::string(server.status().message()));
    return kExitFailure;
  }

  std::thread waiter([&] {
    int sig = 0;
    for (;;) {
      sigwait(&stop_signals, &sig);
      if (sig != SIGHUP) break;
      spdlog::info("agent: SIGHUP received, reloading {}", opts.config);
      notifier.reloading();
      bool ok = reloader.reload().ok();
      notifier.ready(ok ? "serving; reloaded " + opts.config
                        : "serving; reload failed, previous state kept (apply_errors=" +
                              std::to_string(reloader.applyErrors()) + ")");
    }
    notifier.stopping();
    spdlog::info("agent: {} received, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    // In-flight RPCs get a few seconds to finish; then they are cancelled.
    (*server)->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  });

  const std::string listening = absl::StrJoin(opts.api.listen, ", ");
  const std::string interfaces = absl::StrJoin(opts.interfaces, ", ");
  spdlog::info("xlb-agent ready: interface {}, {} VIPs, listening on {}",
               opts.no_attach ? "(none, --no-attach)" : interfaces, config.vips_size(),
               listening);
  notifier.ready("serving " + std::to_string(config.vips_size()) + " VIPs on " + listening);
  // Parsing, validating and planning a large config left tens of MB of freed heap behind (the
  // file's text, its parse and copies of it): give it back to the kernel (after READY: it is not
  // on the start's critical path) instead of keeping it in the agent's RSS for its whole life.
  config.Clear();
  malloc_trim(0);
  // Liveness for the watchdog: the State lock can be taken (a wedged apply stops the pings).
  notifier.startWatchdog([&state] {
    (void)state.ids();
    return true;
  });
  (*server)->Wait();
  waiter.join();
  if (metrics) metrics->stop();
  discovery.stop();  // its status callback stays valid: every thread reading State stops first
  announcer.stop();  // no withdraw: gobgpd keeps announcing while no agent runs
  notifier.stopWatchdog();
  if (persister) persister->stop();  // final save
  reconciler.stop();
  nat_collector.stop();
  // State must not call into a stopped checker (ListBackends still answers until the end).
  state.attachHealthChecker(nullptr);
  checker.stop();
  state.stopHealthApplier();

  int rc = 0;
  for (const std::string& listen : opts.api.listen) {
    if (!xlb::api::unixSocketPath(listen).empty()) {
      std::remove(xlb::api::unixSocketPath(listen).c_str());
    }
  }
  if (opts.detach_on_exit && !opts.no_attach) {
    if (auto st = (*dataplane)->detach(); !st.ok()) {
      spdlog::error("agent: detach from {}: {}", interfaces, std::string(st.message()));
      rc = kExitFailure;
    } else {
      spdlog::info("agent: detached from {}", interfaces);
    }
  } else if (!opts.no_attach) {
    spdlog::info("agent: leaving the balancer attached to {} (pinned); traffic keeps flowing",
                 interfaces);
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  CLI::App app{"xlb-agent: XDP L4 load balancer agent"};
  app.add_option("--config", opts.config, "YAML config file (the xlb.v1.Config schema)");
  auto* iface = app.add_option("--interface", opts.interfaces,
                               "Interface to attach the balancer to; repeatable (NAT two-arm: "
                               "the client- and the backend-facing interface)")
                    ->expected(1)
                    ->take_all();
  auto* no_attach =
      app.add_flag("--no-attach", opts.no_attach, "Load and pin the program, attach nowhere");
  iface->excludes(no_attach);
  app.add_option("--listen", opts.api.listen,
                 "gRPC listen address, repeatable: unix:///path.sock, HOST:PORT (TLS)")
      ->capture_default_str()
      ->expected(1)
      ->take_all();
  app.add_option("--socket-group", opts.api.socket_group,
                 "Group (name or gid) of unix sockets, mode 0660; \"\" keeps the agent's group")
      ->capture_default_str();
  app.add_option("--tls-cert", opts.api.tls_cert, "PEM server certificate for TCP listeners");
  app.add_option("--tls-key", opts.api.tls_key, "PEM private key of --tls-cert");
  app.add_option("--client-ca", opts.api.client_ca,
                 "PEM CA bundle: TCP clients must present a certificate it signed (mutual TLS)");
  app.add_flag("--insecure-plaintext-tcp", opts.api.insecure_plaintext_tcp,
               "Allow TCP listeners without TLS (no authentication at all; tests only)");
  app.add_option("--max-request-bytes", opts.api.limits.max_request_bytes,
                 "Largest accepted gRPC request (bytes)")
      ->capture_default_str()
      ->check(CLI::Range(1024u, xlb::api::RequestLimits::kMaxMaxRequestBytes));
  app.add_option("--max-vips-per-request", opts.api.limits.max_vips_per_request,
                 "Most VIPs in one ApplyConfig request")
      ->capture_default_str()
      ->check(CLI::Range(1u, xlb::Capacity::kMaxVips));
  app.add_option("--max-backends-per-request", opts.api.limits.max_backends_per_request,
                 "Most backends in one request (ApplyConfig: over all VIPs; AddVip)")
      ->capture_default_str()
      ->check(CLI::Range(1u, xlb::Capacity::kMaxBackends));
  app.add_option("--pin-dir", opts.pin_dir, "bpffs directory for pinned maps and the XDP link")
      ->capture_default_str();
  app.add_option("--vlan-ids", opts.vlan_ids,
                 "VLAN ids whose tagged frames to a VIP are balanced, e.g. 100,200-205 (added to "
                 "the config's vlan_ids; default none: untagged only)");
  app.add_option("--max-vips", opts.capacity.vips,
                 "VIPs the data plane holds (sizes the VIP-indexed maps at load; README \"Limits\")")
      ->capture_default_str()
      ->check(CLI::Range(xlb::Capacity::kMinVips, xlb::Capacity::kMaxVips));
  app.add_option("--max-backends", opts.capacity.backends,
                 "Backend memberships the data plane holds (one per VIP x backend; sizes the "
                 "backend-indexed maps at load, ~56 bytes x possible CPUs each)")
      ->capture_default_str()
      ->check(CLI::Range(xlb::Capacity::kMinBackends, xlb::Capacity::kMaxBackends));
  app.add_option("--flow-table-size", opts.flow_table_size, "Flow table capacity (entries)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 28));
  app.add_option("--protected-flow-table-size", opts.protected_flow_table_size,
                 "Protected flow table capacity (entries; 0 = --flow-table-size)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 1u << 28));
  app.add_option("--nat-table-size", opts.nat_table_size,
                 "NAT table capacity per address family (entries, two per connection; a pinned "
                 "table keeps its size)")
      ->capture_default_str()
      ->check(CLI::Range(2u, 1u << 28));
  app.add_option("--nat-gc-interval-ms", opts.nat_gc_interval_ms,
                 "Milliseconds between NAT collector passes (idle expiry, table pressure)")
      ->capture_default_str()
      ->check(CLI::Range(100u, 60000u));
  app.add_option("--flow-protect-after-ms", opts.flow_protect_after_ms,
                 "Age at which a flow seen again is protected from flow-table floods (ms; 0 = off)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 3600000u));
  app.add_option("--protected-tcp-timeout", opts.protected_tcp_timeout_s,
                 "Seconds idle after which a protected TCP flow is expired")
      ->capture_default_str()
      ->check(CLI::Range(1u, 7u * 86400u));
  app.add_option("--protected-udp-timeout", opts.protected_udp_timeout_s,
                 "Seconds idle after which a protected UDP flow is expired")
      ->capture_default_str()
      ->check(CLI::Range(1u, 7u * 86400u));
  app.add_option("--protected-closing-timeout", opts.protected_closing_timeout_s,
                 "Seconds idle after which a protected flow that saw a FIN/RST is expired")
      ->capture_default_str()
      ->check(CLI::Range(1u, 86400u));
  app.add_option("--flood-new-flow-rate", opts.flood_new_flow_rate,
                 "New flows/s at which a flood is reported (ends below half); 0 = flow table "
                 "size / 60 s")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e9));
  app.add_flag("--xdp-generic", opts.xdp_generic, "Attach in generic (SKB) mode");
  app.add_flag("--detach-on-exit", opts.detach_on_exit,
               "Detach the balancer on exit (default: keep forwarding)");
  app.add_option("--reconcile-interval", opts.reconcile_interval_s,
                 "Seconds between open-flow recounts of the flow table")
      ->capture_default_str()
      ->check(CLI::Range(1u, 3600u));
  app.add_option("--flow-idle-timeout", opts.flow_idle_timeout_s,
                 "Seconds without a packet after which a flow no longer counts as open")
      ->capture_default_str()
      ->check(CLI::Range(2u, 86400u));
  app.add_option("--state-dir", opts.state_dir,
                 "Directory of the persisted desired state (state.yaml); empty: no persistence")
      ->capture_default_str();
  app.add_flag("--config-overrides-state", opts.config_overrides_state,
               "Apply --config at start-up even when a saved state exists");
  app.add_option("--metrics-listen", opts.metrics_listen,
                 "Prometheus /metrics address (ADDR:PORT, [v6]:PORT; \"\" disables)")
      ->capture_default_str();
  app.add_option("--bgp-api", opts.bgp_api,
                 "gobgpd's gRPC API (unix:///path.sock), used when the config has a bgp section")
      ->capture_default_str();
  app.add_option("--bgp-listen-port", opts.bgp_listen_port,
                 "gobgpd also accepts its peers' connections on this port (0: it only connects "
                 "out; a router that connects brings a new session up sooner)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--resolv-conf", opts.resolv_conf,
                 "Resolver configuration for backends by name (re-read when it changes)")
      ->capture_default_str();
  app.add_option("--log-level", opts.log_level, "trace, debug, info, warn, error, critical")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  try {
    app.parse(argc, argv);
    if (opts.interfaces.empty() && !opts.no_attach) {
      throw CLI::RequiredError("--interface (or --no-attach)");
    }
    // Per-request limits default to (and may not exceed) what the data plane holds.
    auto& limits = opts.api.limits;
    limits.capacity = opts.capacity;
    if (app.count("--max-vips-per-request") == 0) limits.max_vips_per_request = opts.capacity.vips;
    if (app.count("--max-backends-per-request") == 0) {
      limits.max_backends_per_request = opts.capacity.backends;
    }
    // A whole configuration at the capacity must fit in one ApplyConfig: ~64 bytes of protobuf per
    // backend and ~256 per VIP (with health checks and names), at least gRPC's own 4 MiB.
    if (app.count("--max-request-bytes") == 0) {
      const uint64_t need = 256ull * opts.capacity.vips + 64ull * opts.capacity.backends;
      limits.max_request_bytes = static_cast<uint32_t>(std::min<uint64_t>(
          xlb::api::RequestLimits::kMaxMaxRequestBytes,
          std::max<uint64_t>(xlb::api::RequestLimits::kDefaultMaxRequestBytes, need)));
    }
    if (limits.max_vips_per_request > opts.capacity.vips) {
      throw CLI::ValidationError("--max-vips-per-request",
                                 absl::StrCat(limits.max_vips_per_request, " exceeds --max-vips ",
                                              opts.capacity.vips));
    }
    if (limits.max_backends_per_request > opts.capacity.backends) {
      throw CLI::ValidationError("--max-backends-per-request",
                                 absl::StrCat(limits.max_backends_per_request,
                                              " exceeds --max-backends ", opts.capacity.backends));
    }
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);                 // prints help or the error
    return rc == 0 ? 0 : kExitBadConfig;  // usage errors: 2, like other xlb tools
  }
  // Listener and TLS mistakes (and unreadable or mismatched PEM files) exit 2 before the data plane
  // is touched.
  if (auto st = xlb::api::checkServerOptions(opts.api); !st.ok()) {
    std::cerr << "xlb-agent: " << st.message() << "\n";
    return kExitBadConfig;
  }
  if (!opts.metrics_listen.empty()) {
    if (auto addr = xlb::metrics::parseListenAddress(opts.metrics_listen); !addr.ok()) {
      std::cerr << "xlb-agent: " << addr.status().message() << "\n";
      return kExitBadConfig;
    }
  }

  // Set before anything clones the default logger (modules create named loggers from it).
  spdlog::set_default_logger(spdlog::default_logger()->clone("agent"));
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%l] %v");
  spdlog::set_level(spdlog::level::from_str(opts.log_level));
  return run(opts);
}
