// SPDX-License-Identifier: Apache-2.0
// xlb-decap: attaches the backend-side IPIP/IP6IP6 decapsulation program (XDP or tc) and pins it so
// it stays attached after the tool exits; also detaches it and prints its counters.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "dataplane/bpf_dataplane.h"
#include "spdlog/spdlog.h"
#include "xlb_decap.skel.h"

namespace {

constexpr const char* kPinRoot = "/sys/fs/bpf/xlb-decap";
// tc filter identity: fixed so detach finds exactly our filter and leaves others alone.
constexpr uint32_t kTcHandle = 0x786c;  // "xl"
constexpr uint32_t kTcPriority = 1;

struct Args {
  std::string interface;
  std::string mode = "xdp";
  std::string pin_root = kPinRoot;
  bool generic = false;
};

std::string pinDir(const Args& a) { return absl::StrCat(a.pin_root, "/", a.interface); }

absl::StatusOr<int> ifindexOf(const std::string& name) {
  unsigned idx = if_nametoindex(name.c_str());
  if (idx == 0) return absl::NotFoundError(absl::StrCat("interface ", name, ": no such interface"));
  return static_cast<int>(idx);
}

absl::Status attach(const Args& a) {
  auto ifindex = ifindexOf(a.interface);
  if (!ifindex.ok()) return ifindex.status();
  const std::string dir = pinDir(a);
  if (auto st = xlb::dataplane::ensureBpffsDir(dir); !st.ok()) return st;

  xlb_decap* skel = xlb_decap__open();
  if (!skel) return xlb::errnoStatus("open BPF object xlb_decap", errno);
  std::string stats_pin = dir + "/xlb_dc_stats";
  bpf_map__set_pin_path(skel->maps.xlb_dc_stats, stats_pin.c_str());
  if (int err = xlb_decap__load(skel); err) {
    xlb_decap__destroy(skel);
    return xlb::errnoStatus("load BPF program xlb_decap", err);
  }

  absl::Status result = absl::OkStatus();
  if (a.mode == "xdp") {
    const std::string link_pin = dir + "/link_xdp";
    int prog = bpf_program__fd(skel->progs.xlb_decap_xdp);
    int fd = bpf_obj_get(link_pin.c_str());
    if (fd >= 0 && bpf_link_update(fd, prog, nullptr) == 0) {
      spdlog::info("xlb-decap: replaced the XDP program on {} (pinned link {})", a.interface, link_pin);
    } else {
      if (fd >= 0) {
        close(fd);
        unlink(link_pin.c_str());
      }
      LIBBPF_OPTS(bpf_link_create_opts, lopts);
      lopts.flags = a.generic ? XDP_FLAGS_SKB_MODE : 0;
      fd = bpf_link_create(prog, *ifindex, BPF_XDP, &lopts);
      if (fd < 0) {
        result = xlb::errnoStatus(absl::StrCat("attach XDP to ", a.interface), fd);
      } else if (int err = bpf_obj_pin(fd, link_pin.c_str()); err) {
        result = xlb::errnoStatus(absl::StrCat("pin link at ", link_pin), err);
      } else {
        spdlog::info("xlb-decap: attached XDP decap to {} (link pinned at {})", a.interface, link_pin);
      }
    }
    if (fd >= 0) close(fd);
  } else {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = *ifindex, .attach_point = BPF_TC_INGRESS);
    int err = bpf_tc_hook_create(&hook);
    if (err && err != -EEXIST) {
      result = xlb::errnoStatus(absl::StrCat("create clsact qdisc on ", a.interface), err);
    } else {
      LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(skel->progs.xlb_decap_tc),
                  .flags = BPF_TC_F_REPLACE, .handle = kTcHandle, .priority = kTcPriority);
      err = bpf_tc_attach(&hook, &opts);
      if (err)
        result = xlb::errnoStatus(absl::StrCat("attach tc ingress filter on ", a.interface), err);
      else
        spdlog::info("xlb-decap: attached tc ingress decap to {} (handle {:#x} prio {})", a.interface,
                     kTcHandle, kTcPriority);
    }
  }
  // The link pin (xdp) or the tc filter keeps the program alive; the stats map stays pinned.
  xlb_decap__destroy(skel);
  return result;
}

absl::Status detach(const Args& a) {
  const std::string dir = pinDir(a);
  if (a.mode == "xdp") {
    const std::string link_pin = dir + "/link_xdp";
    int fd = bpf_obj_get(link_pin.c_str());
    if (fd < 0)
      return absl::NotFoundError(absl::StrCat("no XDP decap pinned for ", a.interface, " (", link_pin,
                                              " missing)"));
    int err = bpf_link_detach(fd);
    close(fd);
    if (err && err != -ENOLINK) return xlb::errnoStatus("detach XDP link", err);
    unlink(link_pin.c_str());
  } else {
    auto ifindex = ifindexOf(a.interface);
    if (!ifindex.ok()) return ifindex.status();
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = *ifindex, .attach_point = BPF_TC_INGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
    int err = bpf_tc_detach(&hook, &opts);
    if (err) return xlb::errnoStatus(absl::StrCat("detach tc filter on ", a.interface), err);
  }
  // Drop the stats pin once nothing is attached any more.
  std::error_code ec;
  if (!std::filesystem::exists(dir + "/link_xdp", ec)) {
    std::filesystem::remove(dir + "/xlb_dc_stats", ec);
    std::filesystem::remove(dir, ec);
  }
  spdlog::info("xlb-decap: detached {} decap from {}", a.mode, a.interface);
  return absl::OkStatus();
}

absl::Status stats(const Args& a) {
  const std::string pin = pinDir(a) + "/xlb_dc_stats";
  int fd = bpf_obj_get(pin.c_str());
  if (fd < 0)
    return absl::NotFoundError(absl::StrCat("no decap counters for ", a.interface, " (", pin,
                                            " missing: is xlb-decap attached?)"));
  int ncpu = libbpf_num_possible_cpus();
  std::vector<uint64_t> vals(ncpu > 0 ? ncpu : 1);
  static const char* names[XLB_DC_MAX] = {"rx", "decap4", "decap6", "pass", "malformed"};
  for (uint32_t i = 0; i < XLB_DC_MAX; ++i) {
    uint64_t sum = 0;
    if (bpf_map_lookup_elem(fd, &i, vals.data()) == 0)
      for (auto v : vals) sum += v;
    printf("%-10s %llu\n", names[i], static_cast<unsigned long long>(sum));
  }
  close(fd);
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"xlb-decap: backend-side IPIP/IP6IP6 decapsulation (XDP or tc)"};
  app.require_subcommand(1);
  Args args;
  auto add_common = [&](CLI::App* sub, bool with_mode) {
    sub->add_option("--interface,-i", args.interface, "interface receiving encapsulated traffic")
        ->required();
    sub->add_option("--pin-root", args.pin_root, "bpffs directory for pins")->capture_default_str();
    if (with_mode)
      sub->add_option("--mode", args.mode, "xdp or tc")
          ->check(CLI::IsMember({"xdp", "tc"}))
          ->capture_default_str();
  };
  CLI::App* att = app.add_subcommand("attach", "load and attach the decap program (stays attached)");
  add_common(att, true);
  att->add_flag("--xdp-generic", args.generic, "XDP in generic (SKB) mode");
  CLI::App* det = app.add_subcommand("detach", "detach the decap program");
  add_common(det, true);
  CLI::App* st = app.add_subcommand("stats", "print the decap counters");
  add_common(st, false);
  CLI11_PARSE(app, argc, argv);

  xlb::dataplane::installLibbpfLogger();
  absl::Status status;
  if (*att)
    status = attach(args);
  else if (*det)
    status = detach(args);
  else
    status = stats(args);
  if (!status.ok()) {
    fprintf(stderr, "xlb-decap: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
