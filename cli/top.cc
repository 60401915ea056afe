// SPDX-License-Identifier: Apache-2.0
// `lbctl top`: a refreshing view of packets/s, bits/s, new flows/s and open flows per VIP and
// backend, from GetStats polled every --interval.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "args.h"
#include "commands.h"
#include "rates.h"

namespace xlb::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct TopArgs {
  std::string interval = "1s";
  int iterations = 0;
  std::string sort = "pps";
  std::string vip;
};

// ---- Ctrl-C: the handler only writes to a pipe, so the wait between polls (poll(2) on the pipe)
// wakes at once and the loop leaves through its normal exit path, which restores the cursor. ----

int g_signal_pipe[2] = {-1, -1};

void onTopStopSignal(int) {
  const int saved = errno;
  const char c = 1;
  [[maybe_unused]] ssize_t n = write(g_signal_pipe[1], &c, 1);
  errno = saved;
}

class StopSignals {
 public:
  StopSignals() {
    if (pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return;
    struct sigaction sa {};
    sa.sa_handler = onTopStopSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
    installed_ = true;
  }
  ~StopSignals() {
    if (!installed_) return;
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    close(g_signal_pipe[0]);
    close(g_signal_pipe[1]);
    g_signal_pipe[0] = g_signal_pipe[1] = -1;
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Sleeps until `deadline`; false when a stop signal arrived (now or earlier).
  bool sleepUntil(Clock::time_point deadline) {
    for (;;) {
      if (stopped()) return false;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return true;
      pollfd p{g_signal_pipe[0], POLLIN, 0};
      // Without the pipe, poll() on no descriptor is a plain sleep.
      poll(installed_ ? &p : nullptr, installed_ ? 1 : 0,
           static_cast<int>(std::min<int64_t>(left, 1000)));
    }
  }

  bool stopped() {
    if (!installed_) return false;
    char c;
    while (read(g_signal_pipe[0], &c, 1) == 1) stopped_ = true;
    return stopped_;
  }

 private:
  bool installed_ = false;
  bool stopped_ = false;
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// ---- the TTY screen: redrawn in place with ANSI sequences (no curses), cursor hidden while
// running and shown again on every exit path, errors included. ----

class Screen {
 public:
  explicit Screen(bool active) : active_(active) {
    if (active_) std::cout << "\x1b[?25l\x1b[H\x1b[2J" << std::flush;
  }
  ~Screen() {
    if (active_) std::cout << "\x1b[?25h" << std::flush;
  }
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;

  // Home, each line cleared to its end, everything below the frame cleared: no flicker from a full
  // clear on every refresh.
  void draw(const std::string& frame) {
    std::string out = "\x1b[H";
    size_t start = 0;
    while (start < frame.size()) {
      size_t nl = frame.find('\n', start);
      if (nl == std::string::npos) nl = frame.size();
      absl::StrAppend(&out, absl::string_view(frame).substr(start, nl - start), "\x1b[K\n");
      start = nl + 1;
    }
    out += "\x1b[J";
    std::cout << out << std::flush;
  }

 private:
  bool active_;
};

// ---- formatting ----

// Rates for humans: "0", "0.5", "950", "12.3k", "4.6M"; "-" when unknown.
std::string formatRate(const std::optional<double>& v) {
  if (!v.has_value()) return "-";
  const double x = *v;
  if (x == 0) return "0";
  if (x < 10) return absl::StrFormat("%.1f", x);
  if (x < 1000) return absl::StrFormat("%.0f", x);
  static constexpr const char* kUnits[] = {"k", "M", "G", "T", "P"};
  double scaled = x / 1000;
  size_t unit = 0;
  while (scaled >= 999.95 && unit + 1 < std::size(kUnits)) {
    scaled /= 1000;
    ++unit;
  }
  return absl::StrFormat("%.1f%s", scaled, kUnits[unit]);
}

std::string jsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string jsonRate(const std::optional<double>& v) {
  return v.has_value() ? absl::StrFormat("%.3f", *v) : "null";
}

std::string jsonRates(const TrafficRates& r) {
  return absl::StrCat("\"pps\":", jsonRate(r.pps), ",\"bps\":", jsonRate(r.bps),
                      ",\"new_flows_per_s\":", jsonRate(r.new_flows_per_s));
}

std::string jsonCounters(const TrafficCounters& c) {
  return absl::StrCat("\"packets\":", c.packets, ",\"bytes\":", c.bytes,
                      ",\"new_flows\":", c.new_flows);
}

std::string jsonNamedRates(const std::vector<NamedRate>& rates) {
  std::vector<std::string> parts;
  for (const auto& r : rates)
    parts.push_back(absl::StrCat(jsonString(r.name), ":", jsonRate(r.per_s)));
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

uint64_t nowUnixMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// One JSON object per line: scripts read one snapshot per iteration.
std::string viewJson(const RateView& view, int iteration, uint64_t time_unix_ms) {
  std::vector<std::string> vips;
  for (const auto& v : view.vips) {
    std::vector<std::string> bes;
    for (const auto& b : v.backends) {
      bes.push_back(absl::StrCat("{\"address\":", jsonString(b.sample.address),
                                 ",\"weight\":", b.sample.weight,
                                 ",\"state\":", jsonString(backendStateName(b.sample.state)),
                                 ",\"health\":", jsonString(healthName(b.sample.health)),
                                 ",\"open_flows\":", b.sample.open_flows, ",",
                                 jsonCounters(b.sample.counters), ",", jsonRates(b.rates), "}"));
    }
    vips.push_back(absl::StrCat("{\"vip\":", jsonString(v.key), ",\"name\":", jsonString(v.name),
                                ",\"open_flows\":", v.open_flows, ",", jsonCounters(v.counters),
                                ",", jsonRates(v.rates), ",\"backends\":[", absl::StrJoin(bes, ","),
                                "]}"));
  }
  return absl::StrCat("{\"time_unix_ms\":", time_unix_ms, ",\"iteration\":", iteration,
                      ",\"elapsed_ms\":", absl::StrFormat("%.3f", view.elapsed_s * 1000),
                      ",\"vips\":[", absl::StrJoin(vips, ","),
                      "],\"drops_per_s\":", jsonNamedRates(view.drops),
                      ",\"global_per_s\":", jsonNamedRates(view.global), "}\n");
}

const NamedRate* findRate(const std::vector<NamedRate>& rates, absl::string_view name) {
  for (const auto& r : rates) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

std::string viewTable(const RateView& view, const std::string& title, const std::string& filter) {
  std::string out = absl::StrCat(title, "  ", formatUtcTime(nowUnixMs()), "\n");
  // The data plane's verdicts in one line: where the packets go, before the per-VIP detail.
  std::vector<std::string> totals;
  for (const char* name : {"rx", "tx", "redirect", "pass", "drop"}) {
    if (const NamedRate* r = findRate(view.global, name)) {
      totals.push_back(absl::StrCat(name, " ", formatRate(r->per_s)));
    }
  }
  if (const NamedRate* r = findRate(view.global, "flow_new")) {
    totals.push_back(absl::StrCat("new flows ", formatRate(r->per_s)));
  }
  absl::StrAppend(&out, "packets/s: ", totals.empty() ? "-" : absl::StrJoin(totals, "  "), "\n\n");

  if (view.vips.empty()) {
    absl::StrAppend(&out, filter.empty() ? "no VIPs configured\n"
                                         : absl::StrCat("no VIP matches --vip ", filter, "\n"));
  } else {
    Table t({"VIP / BACKEND", "NAME", "STATE", "HEALTH", "WEIGHT", "PKTS/S", "BITS/S",
             "NEW FLOWS/S", "OPEN FLOWS"},
            {false, false, false, false, true, true, true, true, true});
    for (const auto& v : view.vips) {
      t.addRow({v.key, v.name.empty() ? "-" : v.name, "-", "-", "", formatRate(v.rates.pps),
                formatRate(v.rates.bps), formatRate(v.rates.new_flows_per_s),
                formatCount(v.open_flows)});
      for (const auto& b : v.backends) {
        t.addRow({absl::StrCat("  ", b.sample.address), "", backendStateName(b.sample.state),
                  healthName(b.sample.health), absl::StrCat(b.sample.weight),
                  formatRate(b.rates.pps), formatRate(b.rates.bps),
                  formatRate(b.rates.new_flows_per_s), formatCount(b.sample.open_flows)});
      }
    }
    out += t.toString();
  }

  Table drops({"DROP REASON", "PKTS/S"}, {false, true});
  for (const auto& d : view.drops) {
    if (d.per_s.has_value() && *d.per_s > 0) drops.addRow({d.name, formatRate(d.per_s)});
  }
  if (drops.rows() > 0) absl::StrAppend(&out, "\n", drops.toString());
  return out;
}

// ---- polling ----

struct Poll {
  StatsSample sample;
  Clock::time_point at;  // midpoint of the RPC: the best guess of when the counters were read
};

grpc::Status pollStats(Client& client, Poll* out) {
  xlb::v1::GetStatsRequest req;
  xlb::v1::Stats resp;
  auto ctx = client.context();
  const auto sent = Clock::now();
  grpc::Status st = client.stub().GetStats(ctx.get(), req, &resp);
  const auto received = Clock::now();
  if (!st.ok()) return st;
  out->sample = sampleFromStats(resp);
  out->at = sent + (received - sent) / 2;
  return grpc::Status::OK;
}

// --vip: "ADDR:PORT/proto" (anything with a '/') or a VIP name.
struct VipFilter {
  std::string text;
  std::string key;   // canonical key, when given as a key
  std::string name;  // otherwise

  bool empty() const { return text.empty(); }
  bool matches(const VipSample& v) const {
    return empty() || (!key.empty() ? v.key == key : v.name == name);
  }
};

absl::StatusOr<VipFilter> parseVipFilter(const std::string& text) {
  VipFilter f;
  f.text = text;
  if (text.empty()) return f;
  if (absl::StrContains(text, '/')) {
    auto key = parseVipKey(text);
    if (!key.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--vip: ", key.status().message()));
    }
    f.key = formatVipKey(*key);
  } else {
    f.name = text;
  }
  return f;
}

void applyFilter(const VipFilter& f, StatsSample& s) {
  if (f.empty()) return;
  std::erase_if(s.vips, [&f](const VipSample& v) { return !f.matches(v); });
}

SortKey sortKey(const std::string& s) {
  if (s == "bps") return SortKey::kBps;
  if (s == "flows") return SortKey::kFlows;
  return SortKey::kPps;
}

int runTop(Client& client, const TopArgs& a, OutputFormat format) {
  auto interval = parseDuration(a.interval, "--interval");
  if (!interval.ok()) return reportLocalError(interval.status(), kExitUsage);
  auto filter = parseVipFilter(a.vip);
  if (!filter.ok()) return reportLocalError(filter.status(), kExitUsage);
  const SortKey sort = sortKey(a.sort);
  const bool json = format == OutputFormat::kJson;
  const bool tty = !json && isatty(STDOUT_FILENO) == 1;

  Poll prev;
  if (grpc::Status st = pollStats(client, &prev); !st.ok()) {
    return reportRpcError(st, client.target());
  }
  applyFilter(*filter, prev.sample);
  if (!filter->empty() && prev.sample.vips.empty()) {
    return reportRpcError(
        grpc::Status(grpc::StatusCode::NOT_FOUND,
                     absl::StrCat("--vip ", filter->text, ": no VIP with that ",
                                  filter->key.empty() ? "name" : "key", " (see lbctl vip list)")),
        client.target());
  }

  StopSignals signals;
  Screen screen(tty);
  const std::string title =
      absl::StrCat("lbctl top  ", client.target(), "  every ", formatAge(interval->count()),
                   "  sort ", a.sort, filter->empty() ? "" : "  vip " + filter->text);
  if (tty) {
    // Counters and health at once; rates fill in after the first interval.
    RateView first = computeRates(nullptr, prev.sample, 0);
    sortView(first, sort);
    screen.draw(viewTable(first, title, filter->text));
  }

  auto next = prev.at + *interval;
  for (int done = 0; a.iterations == 0 || done < a.iterations;) {
    if (!signals.sleepUntil(next)) break;
    Poll cur;
    if (grpc::Status st = pollStats(client, &cur); !st.ok()) {
      return reportRpcError(st, client.target());
    }
    applyFilter(*filter, cur.sample);
    const double elapsed = std::chrono::duration<double>(cur.at - prev.at).count();
    RateView view = computeRates(&prev.sample, cur.sample, elapsed);
    sortView(view, sort);
    ++done;
    if (json) {
      std::cout << viewJson(view, done, nowUnixMs()) << std::flush;
    } else if (tty) {
      screen.draw(viewTable(view, title, filter->text));
    } else {
      std::cout << (done > 1 ? "\n" : "") << viewTable(view, title, filter->text) << std::flush;
    }
    prev = std::move(cur);
    // A slow RPC skips the missed ticks instead of polling back-to-back to catch up.
    next += *interval;
    if (next <= Clock::now()) next = Clock::now() + *interval;
  }
  return kExitOk;
}

}  // namespace

void addTopCommand(CLI::App& app, CommandContext& ctx) {
  auto args = std::make_shared<TopArgs>();
  auto* top = app.add_subcommand(
      "top", "Refreshing rates per VIP and backend: packets/s, bits/s, new flows/s, open flows");
  top->add_option("--interval", args->interval, "Time between polls, e.g. 1s, 500ms")
      ->capture_default_str();
  top->add_option("--iterations", args->iterations,
                  "Stop after this many refreshes (0 = until Ctrl-C)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  top->add_option("--sort", args->sort, "Order VIPs and backends by pps, bps or new flows/s")
      ->check(CLI::IsMember({"pps", "bps", "flows"}))
      ->capture_default_str();
  top->add_option("--vip", args->vip, "Only this VIP: ADDR:PORT/PROTO or its name");
  top->callback([&ctx, args] {
    ctx.action = [&ctx, args](Client& c) { return runTop(c, *args, ctx.global.format()); };
  });
}

}  // namespace xlb::cli
