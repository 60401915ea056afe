// SPDX-License-Identifier: Apache-2.0
// Validation of a VIP's backends by name (dns, srv, allow_empty, discovery options) and of the
// backends discovery added (each names a name the VIP still lists).
#include "config/discovery.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "config/checks.h"
#include "config/enums.h"
#include "config/validate.h"

namespace xlb::config {

bool hasDiscovery(const v1::Vip& vip) { return vip.dns().names_size() > 0 || !vip.srv().empty(); }

bool isDiscovered(const v1::Backend& backend) {
  return backend.source().kind() == v1::BACKEND_SOURCE_KIND_DNS ||
         backend.source().kind() == v1::BACKEND_SOURCE_KIND_SRV;
}

v1::DiscoveryOptions effectiveDiscoveryOptions(const v1::Vip& vip) {
  v1::DiscoveryOptions o = vip.discovery();
  if (!o.has_min_ttl_ms()) o.set_min_ttl_ms(kDefaultMinTtlMs);
  if (!o.has_max_ttl_ms()) o.set_max_ttl_ms(std::max(kDefaultMaxTtlMs, o.min_ttl_ms()));
  if (!o.has_hold_empty_ms()) o.set_hold_empty_ms(kDefaultHoldEmptyMs);
  if (!o.has_drain_limit_ms()) o.set_drain_limit_ms(kDefaultDrainLimitMs);
  return o;
}

std::vector<std::string> discoveryNames(const v1::Vip& vip) {
  std::vector<std::string> out(vip.dns().names().begin(), vip.dns().names().end());
  if (!vip.srv().empty()) out.push_back(vip.srv());
  return out;
}

int copyDiscoveredBackends(const v1::Config& from, v1::Config* to) {
  auto sameKey = [](const v1::Vip& a, const v1::Vip& b) {
    return canonicalAddress(a.address()) == canonicalAddress(b.address()) && a.port() == b.port() &&
           a.protocol() == b.protocol();
  };
  int copied = 0;
  for (v1::Vip& vip : *to->mutable_vips()) {
    if (!hasDiscovery(vip)) continue;
    bool any = false;
    for (const v1::Backend& b : vip.backends()) any = any || isDiscovered(b);
    if (any) continue;
    std::set<std::string> names;
    for (const std::string& n : discoveryNames(vip)) names.insert(absl::AsciiStrToLower(n));
    for (const v1::Vip& old : from.vips()) {
      if (!sameKey(old, vip)) continue;
      for (const v1::Backend& b : old.backends()) {
        if (!isDiscovered(b) || !names.count(absl::AsciiStrToLower(b.source().name()))) continue;
        *vip.add_backends() = b;
        ++copied;
      }
    }
  }
  return copied;
}

std::string hostNameProblem(const std::string& name) {
  std::string n = name;
  if (!n.empty() && n.back() == '.') n.pop_back();
  if (n.empty() || n.size() > 253) return "must be 1-253 characters";
  for (absl::string_view label : absl::StrSplit(n, '.')) {
    if (label.empty() || label.size() > 63)
      return "every label (between dots) must be 1-63 characters";
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
        return "may only hold A-Z a-z 0-9 - _ and dots";
      }
    }
  }
  return "";
}

namespace internal {
namespace {

void checkName(Errors& errors, const std::string& path, const std::string& name) {
  if (std::string why = hostNameProblem(name); !why.empty()) {
    errors.invalid(path, absl::StrCat("\"", name, "\" is not a host name: ", why,
                                      " (e.g. user-service.default.svc.cluster.local)"));
  }
}

void checkOptions(Errors& errors, const v1::Vip& vip, absl::string_view path) {
  const std::string opath = join(path, "discovery");
  const v1::DiscoveryOptions& o = vip.discovery();
  if (o.has_min_ttl_ms()) {
    checkRange(errors, join(opath, "min_ttl_ms"), o.min_ttl_ms(), kMinTtlFloorMs, kMaxDiscoveryMs);
  }
  if (o.has_max_ttl_ms()) {
    const uint32_t lo =
        o.has_min_ttl_ms() ? std::max(o.min_ttl_ms(), kMinTtlFloorMs) : kMinTtlFloorMs;
    if (o.max_ttl_ms() < lo || o.max_ttl_ms() > kMaxDiscoveryMs) {
      errors.invalid(join(opath, "max_ttl_ms"),
                     absl::StrCat(o.max_ttl_ms(), " is not in [", lo, ", ", kMaxDiscoveryMs,
                                  "] (at least min_ttl_ms)"));
    }
  } else if (o.has_min_ttl_ms() && o.min_ttl_ms() > kDefaultMaxTtlMs) {
    // effectiveDiscoveryOptions raises the default max to the min: nothing to report.
  }
  if (o.has_hold_empty_ms()) {
    checkRange(errors, join(opath, "hold_empty_ms"), o.hold_empty_ms(), 0, kMaxDiscoveryMs);
  }
  if (o.has_drain_limit_ms()) {
    checkRange(errors, join(opath, "drain_limit_ms"), o.drain_limit_ms(), 0, kMaxDiscoveryMs);
  }
}

}  // namespace

void checkDiscoveryVip(Errors& errors, const v1::Vip& vip, absl::string_view path) {
  const bool named = hasDiscovery(vip);
  std::set<std::string> names;
  const std::string dpath = join(path, "dns");
  for (int i = 0; i < vip.dns().names_size(); ++i) {
    const std::string& n = vip.dns().names(i);
    const std::string npath = absl::StrCat(dpath, ".names[", i, "]");
    checkName(errors, npath, n);
    if (!names.insert(absl::AsciiStrToLower(n)).second) {
      errors.invalid(npath, absl::StrCat("\"", n, "\" is listed twice (each name once)"));
    }
  }
  if (vip.has_dns() && vip.dns().names_size() == 0) {
    errors.invalid(join(dpath, "names"), "empty (list at least one name, or drop `dns`)");
  }
  if (!v1::DnsFamily_IsValid(vip.dns().family())) {
    errors.invalid(join(dpath, "family"), absl::StrCat(vip.dns().family(), " is not one of ",
                                                       enumChoices(enumTable<v1::DnsFamily>())));
  }
  checkRange(errors, join(dpath, "port"), vip.dns().port(), 0, 65535);
  if (vip.dns().port() != 0 && vip.dns().port() != vip.port() && !isNat(vip.forwarding())) {
    errors.invalid(join(dpath, "port"),
                   absl::StrCat(vip.dns().port(), " differs from the VIP's port ", vip.port(),
                                ": only forwarding nat or fullnat can change the port (use 0 or ",
                                vip.port(), ")"));
  }
  if (!vip.srv().empty()) {
    checkName(errors, join(path, "srv"), vip.srv());
    if (!names.insert(absl::AsciiStrToLower(vip.srv())).second) {
      errors.invalid(join(path, "srv"),
                     absl::StrCat("\"", vip.srv(), "\" is also in dns.names (list it once)"));
    }
  }
  if (!named && vip.allow_empty()) {
    errors.invalid(join(path, "allow_empty"), "true, but the VIP lists no dns names or srv");
  }
  checkOptions(errors, vip, path);
  // Discovered backends (restored from a saved state or a `config get`) belong to a listed name.
  for (int i = 0; i < vip.backends_size(); ++i) {
    const v1::Backend& b = vip.backends(i);
    if (!v1::BackendSourceKind_IsValid(b.source().kind())) {
      errors.invalid(absl::StrCat(path, ".backends[", i, "].source.kind"),
                     absl::StrCat(b.source().kind(), " is not one of ",
                                  enumChoices(enumTable<v1::BackendSourceKind>())));
      continue;
    }
    if (!isDiscovered(b)) continue;
    if (names.count(absl::AsciiStrToLower(b.source().name())) == 0) {
      errors.invalid(absl::StrCat(path, ".backends[", i, "].source.name"),
                     absl::StrCat("\"", b.source().name(),
                                  "\" is not a name this VIP lists in dns.names or srv (a "
                                  "discovered backend belongs to one; drop it or list the name)"));
    }
  }
}

}  // namespace internal
}  // namespace xlb::config
