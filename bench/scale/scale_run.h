// SPDX-License-Identifier: Apache-2.0
// One size of the control-plane scale bench (issue 12): cold start, RSS, unchanged re-apply, one
// weight change, an every-VIP apply with ListVips sampled during it; and the markdown section.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "read_sampler.h"
#include "scale_config.h"

namespace xlb::bench {

struct RunOptions {
  std::string agent_bin;
  std::string lbctl_bin;
  std::chrono::seconds start_timeout{180};
  std::chrono::seconds command_timeout{120};
  std::chrono::milliseconds read_deadline{60000};
};

// A timed step: wall seconds, data-plane writes the agent logged (-1: unknown), or why it failed.
struct Step {
  std::optional<double> seconds;
  long writes = -1;
  std::string error;  // "rejected: ..." / "failed: ..."
};

struct SizeResult {
  ScaleShape shape;
  Step start;  // cold start to READY=1
  double rss_mib = -1, peak_rss_mib = -1;
  Step reapply;                 // lbctl apply of the unchanged config
  Step reapply_rpc;             // the same config as a bare ApplyConfig RPC (no digest)
  Step weight_lbctl;            // lbctl backend weight: median of kWeightRuns
  Step read_lbctl;              // lbctl backend list of one VIP: median of kWeightRuns
  Step weight_rpc;              // SetBackendWeight, direct RPC: median of kWeightRuns
  // Agent CPU (ms) per lbctl weight change: over the kWeightRuns changes and the 0.3 s after each
  // (its state save included), minus what the agent used in as long an idle window before them.
  double weight_agent_cpu_ms = -1;
  Step every_vip;               // lbctl apply changing one weight per VIP
  Step every_vip_rpc;           // every VIP changed back, as a bare ApplyConfig RPC
  Latency idle_reads;           // ListVips back to back before it
  double read_interval_ms = 0;  // ListVips schedule during it
  Latency apply_reads;          // ListVips scheduled while the RPC apply ran
  size_t read_skipped = 0;      // schedule slots missed (too many calls outstanding)
};

SizeResult runSize(const ScaleShape& shape, const RunOptions& opts);

// "## Control plane at scale (issue 12)": method, table, notes.
std::string markdownSection(const std::vector<SizeResult>& results, uint32_t maglev_table_size,
                            const std::string& provenance);

// Replaces the section that starts with `heading` in FILE (up to the next "## ") or appends it.
bool replaceSection(const std::string& path, const std::string& heading, const std::string& text);

}  // namespace xlb::bench
