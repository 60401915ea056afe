// SPDX-License-Identifier: Apache-2.0
// NAT connection collection, the pure part: pairs the two xlb_nat entries of each connection,
// derives its state, and plans which keys to delete (idle expiry per state and per-VIP timeouts,
// orphans, unanswered connections first under table pressure), and tells pressure episodes apart
// for the logs. The kernel side is gc.h.
//
// Answered (abi.h XLB_NAT_S_*): TCP when the client's ACK (FWD XLB_NAT_S_ACK) and the backend's
// reply (REV XLB_NAT_S_SEEN) were both seen, UDP when both sides sent after the creating packet
// (FWD and REV XLB_NAT_S_SEEN). A spoofed SYN, however often retransmitted, draws a SYN-ACK but no
// ACK, so it stays unanswered (state syn, 60 s) and goes first under pressure; a spoofer that also
// sends blind ACKs draws the backend's RST (closing, 10 s), and closed-by-RST connections go right
// after the unanswered ones. A one-shot UDP request/response (DNS-like) stays unanswered too: it
// is done, so it is the cheapest to lose.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "xlb/abi.h"
#include "xlb/v1/xlb.pb.h"

namespace xlb::nat {

inline constexpr uint64_t kNsPerSec = 1'000'000'000ull;

struct Timeouts {
  uint64_t syn_ns = 60 * kNsPerSec;
  uint64_t established_ns = 21600 * kNsPerSec;
  uint64_t closing_ns = 10 * kNsPerSec;
  uint64_t udp_ns = 60 * kNsPerSec;
};
// A fullnat connection its backend closed with a FIN (not a RST) may leave the backend's socket in
// TIME_WAIT (Linux: 60 s, TCP_TIMEWAIT_LEN) for the SNAT tuple; its pair (and so its SNAT port) is
// kept at least that long, or another client's new connection on that port would meet the
// TIME_WAIT socket (challenge ACK, RST, a SYN retransmit later). IPVS keeps its TIME_WAIT entries
// 120 s for the same reason.
inline constexpr uint64_t kBackendTimeWaitNs = 60 * kNsPerSec;
// Vip.nat_timeouts with defaults for the fields left unset.
Timeouts timeoutsOf(const v1::NatTimeouts& t);

enum class ConnState { kSyn, kEstablished, kClosing, kUdp };
v1::NatState toProto(ConnState s);
const char* stateName(ConnState s);  // "syn", "established", "closing", "udp"

using NatEntry = std::pair<xlb_flow_key, xlb_nat_value>;

// The key of an entry's peer: the value's new tuple reversed (abi.h "NAT").
xlb_flow_key peerKey(const xlb_flow_key& key, const xlb_nat_value& value);

struct Connection {
  NatEntry fwd;  // client -> VIP
  NatEntry rev;  // backend -> client / SNAT address
  ConnState state = ConnState::kSyn;
  bool replied = false;       // REV saw a packet after creation (XLB_NAT_S_SEEN)
  bool answered = false;      // both sides spoke (see the top); syn = TCP not answered
  bool reset = false;         // a RST was seen (either direction): the connection is over
  uint64_t last_seen_ns = 0;  // of both entries
  uint64_t created_ns = 0;
};
bool connectionAnswered(const xlb_flow_key& fwd_key, const xlb_nat_value& fwd,
                        const xlb_nat_value& rev);
ConnState connectionState(const xlb_flow_key& fwd_key, const xlb_nat_value& fwd,
                          const xlb_nat_value& rev);

// The connection made of a FWD entry and a REV entry as they are (either may be all zero: a
// missing half), without checking that they belong together.
Connection connectionOf(const NatEntry& fwd, const NatEntry& rev);
// The connection of a FWD entry and its REV peer; nullopt unless they are each other's peers
// (rev's key is fwd's peerKey and rev's points back), with the directions set.
std::optional<Connection> pairOf(const NatEntry& fwd, const NatEntry& rev);

struct Snapshot {
  std::vector<Connection> connections;
  std::vector<NatEntry> unpaired;  // entries whose peer is missing or does not point back
  uint64_t entries = 0;
};
// Pairs a scan of xlb_nat (any order).
Snapshot pairEntries(std::vector<NatEntry> entries);

// Idle timeout of a connection in its state.
uint64_t timeoutFor(const Connection& c, const Timeouts& t);
// ns left before expiry at now_ns (0 when due).
uint64_t expiresIn(const Connection& c, const Timeouts& t, uint64_t now_ns);

struct CollectPolicy {
  uint64_t now_ns = 0;
  uint64_t capacity = XLB_DEFAULT_NAT_ENTRIES;
  // The data plane refused a connection because the table was full since the last pass.
  bool table_full_seen = false;
  // An entry without its peer is deleted once this old (a pair is created REV first, FWD a moment
  // later; the grace covers that and a delete racing the scan).
  uint64_t orphan_grace_ns = 5 * kNsPerSec;
  // Capacity of each family's table (xlb_nat4, xlb_nat6); fill and pressure are per family (a
  // full-table drop does not say which family refused: it relieves both).
  // Pressure: above high_water x capacity entries (or after a full table), unanswered connections
  // older than pressure_min_age_ns are deleted, oldest first, then connections closed by a RST
  // and idle that long, until the table is back at low_water x capacity (all of them after a
  // full table). Answered connections (and FIN-closing ones, which may be half-closed with data
  // still flowing) are never touched.
  double high_water = 0.75;
  double low_water = 0.60;
  uint64_t pressure_min_age_ns = 1 * kNsPerSec;
  std::function<Timeouts(uint32_t vip_id)> timeouts = [](uint32_t) { return Timeouts{}; };
};

struct CollectPlan {
  // Delete fwd first, then rev (a client packet racing the delete finds no FWD and starts anew;
  // a REV without FWD would be an orphan).
  std::vector<xlb_flow_key> fwd;
  std::vector<xlb_flow_key> rev;
  std::vector<xlb_flow_key> orphans;
  uint64_t expired = 0;           // connections past their idle timeout
  uint64_t pressure_expired = 0;  // unanswered (or reset) connections deleted early
  bool pressure = false;
  // What stays after the plan is carried out.
  uint64_t connections = 0;
  uint64_t unanswered = 0;
  uint64_t by_state[4] = {0, 0, 0, 0};  // indexed by ConnState
};
CollectPlan planCollection(const Snapshot& snap, const CollectPolicy& policy);

// Pressure episodes, for the logs: an episode starts with a pass under pressure and ends once no
// pass was under pressure for calm_ns; "table full" is said once per episode (the first pass that
// sees new connections refused), not once per pass or per packet.
class PressureEpisodes {
 public:
  struct Pass {
    uint64_t now_ns = 0;
    bool pressure = false;
    bool full_seen = false;         // XLB_DROP_NAT_FULL moved since the previous pass
    uint64_t refused_total = 0;     // XLB_DROP_NAT_FULL so far
    uint64_t pressure_expired = 0;  // by this pass
  };
  struct Events {
    bool started = false;
    bool full = false;  // say "table full" now (first time in this episode)
    bool ended = false;
    // Of the episode (started, or just ended): refused new connections and early expiries.
    uint64_t refused = 0;
    uint64_t pressure_expired = 0;
    uint64_t duration_ns = 0;
  };
  explicit PressureEpisodes(uint64_t calm_ns = 10 * kNsPerSec) : calm_ns_(calm_ns) {}
  Events onPass(const Pass& p);
  bool active() const { return active_; }
  uint64_t episodes() const { return episodes_; }
  uint64_t fullEpisodes() const { return full_episodes_; }

 private:
  uint64_t calm_ns_;
  bool active_ = false;
  bool full_said_ = false;
  uint64_t started_ns_ = 0;
  uint64_t last_pressure_ns_ = 0;
  uint64_t refused_at_start_ = 0;
  uint64_t last_refused_ = 0;
  bool have_last_ = false;
  uint64_t expired_ = 0;
  uint64_t episodes_ = 0;
  uint64_t full_episodes_ = 0;
};

}  // namespace xlb::nat
