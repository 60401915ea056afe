// SPDX-License-Identifier: Apache-2.0
// `lbctl vip add` options for backends by name (discovery.h).
#include "discovery.h"

#include "config/enums.h"

namespace xlb::cli {

void addDiscoveryOptions(CLI::App* add, DiscoveryArgs* args) {
  add->add_option("--dns-name", args->dns_names,
                  "A/AAAA name whose addresses are backends (repeatable)");
  add->add_option("--dns-port", args->dns_port, "Port of the --dns-name backends (0 = the VIP's)");
  add->add_option("--dns-family", args->dns_family, "any (A and AAAA), ipv4 or ipv6");
  add->add_option("--srv", args->srv, "SRV name (_service._proto.name): backends on its records");
  add->add_flag("--allow-empty", args->allow_empty,
                "Let answers without records empty the pool (default: keep the last set)");
}

absl::Status buildDiscovery(const DiscoveryArgs& args, xlb::v1::Vip* vip) {
  for (const std::string& n : args.dns_names) vip->mutable_dns()->add_names(n);
  if (args.dns_port != 0) vip->mutable_dns()->set_port(args.dns_port);
  if (!args.dns_family.empty()) {
    auto family = config::parseEnum<xlb::v1::DnsFamily>("--dns-family", args.dns_family);
    if (!family.ok()) return family.status();
    vip->mutable_dns()->set_family(*family);
  }
  if (!args.srv.empty()) vip->set_srv(args.srv);
  vip->set_allow_empty(args.allow_empty);
  return absl::OkStatus();
}

}  // namespace xlb::cli
