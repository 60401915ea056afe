// SPDX-License-Identifier: Apache-2.0
// Rate computation for `lbctl top` (see rates.h for the rules).
#include "rates.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "args.h"
#include "common/address.h"

namespace xlb::cli {
namespace {

TrafficCounters fromProto(const xlb::v1::Counters& c) {
  return TrafficCounters{c.packets(), c.bytes(), c.new_flows()};
}

// The agent stores addresses as given; a canonical form keeps "2001:db8:0::5" and "2001:db8::5"
// the same backend across samples.
std::string canonicalAddress(const std::string& address) {
  auto a = parseIpAddress(address);
  return a.ok() ? a->toString() : address;
}

std::vector<NamedRate> namedRates(const std::vector<NamedValue>* prev,
                                  const std::vector<NamedValue>& cur, double seconds) {
  std::map<std::string, uint64_t> before;
  if (prev != nullptr) {
    for (const auto& v : *prev) before[v.name] = v.value;
  }
  std::vector<NamedRate> out;
  out.reserve(cur.size());
  for (const auto& v : cur) {
    NamedRate r{v.name, v.value, std::nullopt};
    if (auto it = before.find(v.name); it != before.end()) {
      r.per_s = counterRate(it->second, v.value, seconds);
    }
    out.push_back(std::move(r));
  }
  return out;
}

double rateOrMinus(const std::optional<double>& r) { return r.has_value() ? *r : -1.0; }

double sortValue(const TrafficRates& r, SortKey key) {
  switch (key) {
    case SortKey::kPps:
      return rateOrMinus(r.pps);
    case SortKey::kBps:
      return rateOrMinus(r.bps);
    case SortKey::kFlows:
      return rateOrMinus(r.new_flows_per_s);
  }
  return -1.0;
}

}  // namespace

std::optional<double> counterRate(uint64_t prev, uint64_t cur, double seconds) {
  if (!(seconds > 0) || cur < prev) return std::nullopt;
  return static_cast<double>(cur - prev) / seconds;
}

TrafficRates trafficRates(const TrafficCounters* prev, const TrafficCounters& cur, double seconds) {
  if (prev == nullptr || !(seconds > 0)) return {};
  if (cur.packets < prev->packets || cur.bytes < prev->bytes || cur.new_flows < prev->new_flows) {
    return {};
  }
  TrafficRates r;
  r.pps = counterRate(prev->packets, cur.packets, seconds);
  auto bytes = counterRate(prev->bytes, cur.bytes, seconds);
  if (bytes.has_value()) r.bps = *bytes * 8.0;
  r.new_flows_per_s = counterRate(prev->new_flows, cur.new_flows, seconds);
  return r;
}

StatsSample sampleFromStats(const xlb::v1::Stats& stats) {
  StatsSample s;
  for (const auto& c : stats.global()) s.global.push_back({c.name(), c.value()});
  for (const auto& c : stats.drops()) s.drops.push_back({c.name(), c.value()});
  for (const auto& v : stats.vips()) {
    VipSample vs;
    vs.key = formatVipKey(v.vip());
    vs.name = v.name();
    vs.counters = fromProto(v.counters());
    for (const auto& b : v.backends()) {
      vs.backends.push_back(BackendSample{canonicalAddress(b.address()), b.weight(), b.state(),
                                          b.health(), b.open_flows(), fromProto(b.counters())});
    }
    s.vips.push_back(std::move(vs));
  }
  return s;
}

RateView computeRates(const StatsSample* prev, const StatsSample& cur, double elapsed_s) {
  RateView view;
  view.elapsed_s = elapsed_s;
  std::map<std::string, const VipSample*> prev_vips;
  if (prev != nullptr) {
    for (const auto& v : prev->vips) prev_vips[v.key] = &v;
  }
  for (const auto& v : cur.vips) {
    VipRow row;
    row.key = v.key;
    row.name = v.name;
    row.counters = v.counters;
    const VipSample* before = nullptr;
    if (auto it = prev_vips.find(v.key); it != prev_vips.end()) before = it->second;
    row.rates =
        trafficRates(before != nullptr ? &before->counters : nullptr, v.counters, elapsed_s);
    std::map<std::string, const BackendSample*> prev_backends;
    if (before != nullptr) {
      for (const auto& b : before->backends) prev_backends[b.address] = &b;
    }
    for (const auto& b : v.backends) {
      const TrafficCounters* pb = nullptr;
      if (auto it = prev_backends.find(b.address); it != prev_backends.end()) {
        pb = &it->second->counters;
      }
      row.open_flows += b.open_flows;
      row.backends.push_back(BackendRow{b, trafficRates(pb, b.counters, elapsed_s)});
    }
    view.vips.push_back(std::move(row));
  }
  view.global = namedRates(prev != nullptr ? &prev->global : nullptr, cur.global, elapsed_s);
  view.drops = namedRates(prev != nullptr ? &prev->drops : nullptr, cur.drops, elapsed_s);
  return view;
}

void sortView(RateView& view, SortKey key) {
  for (auto& v : view.vips) {
    std::stable_sort(v.backends.begin(), v.backends.end(),
                     [key](const BackendRow& a, const BackendRow& b) {
                       const double x = sortValue(a.rates, key), y = sortValue(b.rates, key);
                       if (x != y) return x > y;
                       if (key == SortKey::kFlows && a.sample.open_flows != b.sample.open_flows) {
                         return a.sample.open_flows > b.sample.open_flows;
                       }
                       return a.sample.address < b.sample.address;
                     });
  }
  std::stable_sort(view.vips.begin(), view.vips.end(), [key](const VipRow& a, const VipRow& b) {
    const double x = sortValue(a.rates, key), y = sortValue(b.rates, key);
    if (x != y) return x > y;
    if (key == SortKey::kFlows && a.open_flows != b.open_flows) return a.open_flows > b.open_flows;
    return a.key < b.key;
  });
}

}  // namespace xlb::cli
