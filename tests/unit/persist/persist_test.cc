// SPDX-License-Identifier: Apache-2.0
// Persisted desired state: atomic save and validated restore, the start-up rule, saving after every
// applied change, SIGHUP reload errors, sd_notify messages (against a NOTIFY_SOCKET stub).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "config/yaml.h"
#include "dataplane/fake_dataplane.h"
#include "persist/notify.h"
#include "persist/persister.h"
#include "persist/reload.h"
#include "persist/state_store.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"
#include "state/state.h"

namespace xlb::persist {
namespace {

namespace fs = std::filesystem;

const bool kQuiet = (spdlog::set_level(spdlog::level::off), true);

constexpr const char* kTwoVips = R"(vips:
  - name: web
    address: 10.0.0.10
    port: 80
    protocol: tcp
    backends:
      - address: 10.0.1.1
        weight: 2
      - address: 10.0.1.2
  - name: dns
    address: "2001:db8::53"
    port: 53
    protocol: udp
    backends:
      - address: "2001:db8:1::1"
)";

v1::Config yaml(const std::string& text) {
  auto c = config::parseConfigYaml(text);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : v1::Config{};
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void writeFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/xlb-persist-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// What the agent applies is a normalized config; tests compare against State's own view.
v1::Config applied(const v1::Config& c) {
  dataplane::FakeDataplane dp;
  state::State s(dp);
  EXPECT_TRUE(s.applyConfig(c, false, nullptr).ok());
  return s.config();
}

TEST(StateStore, SaveThenLoadRoundTripsAndLeavesNoTemporaryFile) {
  TempDir tmp;
  StateStore store(tmp.path() + "/nested/state");  // missing directories are created
  v1::Config cfg = applied(yaml(kTwoVips));
  ASSERT_TRUE(store.save(cfg).ok());
  auto loaded = store.load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->DebugString(), cfg.DebugString());
  EXPECT_FALSE(fs::exists(store.dir() + "/.state.yaml.tmp"));
  struct stat st {};
  ASSERT_EQ(::stat(store.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(readFile(store.path()), StateStore::render(cfg));
}

TEST(StateStore, SaveReplacesThePreviousStateWhole) {
  TempDir tmp;
  StateStore store(tmp.path());
  ASSERT_TRUE(store.save(applied(yaml(kTwoVips))).ok());
  // A stale temporary file from a crash mid-save must not leak into the next state.
  writeFile(tmp.path() + "/.state.yaml.tmp", "garbage that is longer than the next state\n");
  v1::Config empty;
  ASSERT_TRUE(store.save(empty).ok());
  auto loaded = store.load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->vips_size(), 0);
}

TEST(StateStore, MissingFileIsNotFound) {
  TempDir tmp;
  auto loaded = StateStore(tmp.path()).load();
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
}

// Records appended after state.yaml replace, remove and append VIPs and replace the settings;
// load() gives state.yaml with every complete record applied, in order.
TEST(StateStore, JournalRecordsApplyOverTheStateFile) {
  TempDir tmp;
  StateStore store(tmp.path());
  v1::Config base = applied(yaml(kTwoVips));
  ASSERT_TRUE(store.save(base).ok());
  EXPECT_EQ(readFile(store.journalPath()).size(),
            StateStore::emptyJournalBytes(StateStore::render(base)));

  v1::Config want = base;
  want.mutable_vips(0)->mutable_backends(0)->set_weight(7);  // web, in place
  v1::Vip third = want.vips(0);
  third.set_name("third");
  third.set_port(8080);
  *want.add_vips() = third;                       // appended
  v1::Vip dns = want.vips(1);
  want.mutable_vips()->DeleteSubrange(1, 1);      // dns removed
  want.add_vlan_ids(12);                          // a setting
  v1::Config settings = want;
  settings.clear_vips();
  using Kind = StateStore::JournalRecord::Kind;
  const std::vector<StateStore::JournalRecord> records = {
      {Kind::kVip, config::toYamlVipItem(want.vips(0))},
      {Kind::kRemove, config::toYamlVipItem(dns)},
      {Kind::kVip, config::toYamlVipItem(third)},
      {Kind::kGlobals, config::toYaml(settings)},
  };
  auto appended = store.appendJournal({records.data(), 2});
  ASSERT_TRUE(appended.ok()) << appended.status();
  ASSERT_TRUE(store.appendJournal({records.data() + 2, 2}).ok());
  EXPECT_EQ(readFile(store.path()), StateStore::render(base)) << "state.yaml is not rewritten";
  auto loaded = store.load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->DebugString(), want.DebugString());

  // A whole save starts an empty journal for the new file.
  ASSERT_TRUE(store.save(*loaded).ok());
  EXPECT_EQ(readFile(store.journalPath()).size(),
            StateStore::emptyJournalBytes(StateStore::render(*loaded)));
  auto again = store.load();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->DebugString(), want.DebugString());
}

// A crash mid-append leaves a record cut short: it and whatever follows are ignored, the records
// before it apply. A journal written for an earlier state.yaml (a crash between a save's two
// renames) is ignored whole. Without a journal, an append is FAILED_PRECONDITION.
TEST(StateStore, CutJournalTailAndJournalOfAnotherStateFileAreIgnored) {
  TempDir tmp;
  StateStore store(tmp.path());
  v1::Config base = applied(yaml(kTwoVips));
  EXPECT_EQ(store.appendJournal({}).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store.save(base).ok());
  using Kind = StateStore::JournalRecord::Kind;
  v1::Config one = base, two = base;
  one.mutable_vips(0)->mutable_backends(0)->set_weight(3);
  two.mutable_vips(0)->mutable_backends(0)->set_weight(4);
  ASSERT_TRUE(store.appendJournal(std::vector<StateStore::JournalRecord>{
                                      {Kind::kVip, config::toYamlVipItem(one.vips(0))}})
                  .ok());
  const std::string after_one = readFile(store.journalPath());
  ASSERT_TRUE(store.appendJournal(std::vector<StateStore::JournalRecord>{
                                      {Kind::kVip, config::toYamlVipItem(two.vips(0))}})
                  .ok());
  const std::string after_two = readFile(store.journalPath());
  for (size_t cut = after_one.size(); cut < after_two.size(); ++cut) {
    writeFile(store.journalPath(), after_two.substr(0, cut));
    auto loaded = store.load();
    ASSERT_TRUE(loaded.ok()) << cut << ": " << loaded.status();
    EXPECT_EQ(loaded->DebugString(), one.DebugString()) << "cut at byte " << cut;
  }
  // A flipped byte in the record's YAML fails its hash: ignored the same way.
  std::string flipped = after_two;
  flipped[after_two.size() - 5] ^= 0x01;
  writeFile(store.journalPath(), flipped);
  EXPECT_EQ(store.load()->DebugString(), one.DebugString());

  // state.yaml replaced (by hand here), the journal still names the old one.
  writeFile(store.journalPath(), after_two);
  writeFile(store.path(), StateStore::render(one));
  auto loaded = store.load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->DebugString(), one.DebugString());
}

// A journal that cannot be read (here a directory in its place) refuses the start like an
// unreadable state.yaml: going on without it would drop the changes it holds.
TEST(StateStore, UnreadableJournalIsDataLoss) {
  TempDir tmp;
  StateStore store(tmp.path());
  ASSERT_TRUE(store.save(applied(yaml(kTwoVips))).ok());
  fs::remove(store.journalPath());
  fs::create_directory(store.journalPath());
  auto loaded = store.load();
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  std::string msg(loaded.status().message());
  EXPECT_NE(msg.find(store.journalPath()), std::string::npos) << msg;
  EXPECT_NE(msg.find("cannot read"), std::string::npos) << msg;
  fs::remove(store.journalPath());
  EXPECT_TRUE(store.load().ok()) << "no journal: state.yaml alone";
}

// A record that passes its hash but is not what its kind says is corruption, not a cut tail:
// DATA_LOSS naming the journal and the way out.
TEST(StateStore, JournalRecordOfTheWrongShapeIsDataLoss) {
  TempDir tmp;
  StateStore store(tmp.path());
  ASSERT_TRUE(store.save(applied(yaml(kTwoVips))).ok());
  using Kind = StateStore::JournalRecord::Kind;
  ASSERT_TRUE(store.appendJournal(std::vector<StateStore::JournalRecord>{
                                      {Kind::kVip, "  - adress: 10.0.0.1\n"}})
                  .ok());
  auto loaded = store.load();
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  std::string msg(loaded.status().message());
  EXPECT_NE(msg.find(store.journalPath()), std::string::npos) << msg;
  EXPECT_NE(msg.find("adress"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--config-overrides-state"), std::string::npos) << msg;
}

struct CorruptCase {
  const char* name;
  std::string text;
  const char* expected;
};

TEST(StateStore, CorruptFilesAreDataLossNamingFileCauseAndFix) {
  const std::string header = std::string(StateStore::kHeader) + "\n";
  const std::string trailer = std::string(StateStore::kTrailer) + "\n";
  const std::string full = StateStore::render(applied(yaml(kTwoVips)));
  const CorruptCase cases[] = {
      {"empty", "", "header line is missing"},
      {"foreign", "vips: []\n", "header line is missing"},
      {"truncated", full.substr(0, full.size() / 2), "trailer line is missing"},
      {"not yaml", header + "vips: [\n" + trailer, "is corrupt"},
      {"unknown field", header + "vips:\n  - adress: 10.0.0.1\n" + trailer,
       "vips[0].adress: unknown field"},
      {"invalid", header + "vips:\n  - address: 10.0.0.1\n    port: 70000\n" + trailer,
       "vips[0].port: 70000 is not in [0, 65535]"},
  };
  for (const auto& c : cases) {
    TempDir tmp;
    StateStore store(tmp.path());
    writeFile(store.path(), c.text);
    auto loaded = store.load();
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss) << c.name;
    std::string msg(loaded.status().message());
    EXPECT_NE(msg.find(store.path()), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(c.expected), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find("--config-overrides-state"), std::string::npos) << c.name << ": " << msg;
  }
}

TEST(StartupRule, SavedStateWinsUnlessOverriddenAndCorruptRefuses) {
  TempDir tmp;
  StateStore store(tmp.path());
  v1::Config file = yaml("vips:\n  - address: 10.9.9.9\n    port: 443\n    protocol: tcp\n");
  v1::Config saved = applied(yaml(kTwoVips));

  auto first = chooseStartupConfig(store, true, "x.yaml", file, false);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->config.vips_size(), 1) << "no saved state: the file";
  EXPECT_EQ(first->source, "config file x.yaml");

  ASSERT_TRUE(store.save(saved).ok());
  auto restart = chooseStartupConfig(store, true, "x.yaml", file, false);
  ASSERT_TRUE(restart.ok());
  EXPECT_EQ(restart->config.DebugString(), saved.DebugString());
  EXPECT_EQ(restart->source, "saved state " + store.path());

  auto forced = chooseStartupConfig(store, true, "x.yaml", file, true);
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(forced->config.vips_size(), 1);

  writeFile(store.path(), "junk");
  auto corrupt = chooseStartupConfig(store, true, "x.yaml", file, false);
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kDataLoss);
  auto corrupt_forced = chooseStartupConfig(store, true, "x.yaml", file, true);
  ASSERT_TRUE(corrupt_forced.ok());
  EXPECT_EQ(corrupt_forced->config.vips_size(), 1);

  auto none = chooseStartupConfig(StateStore(tmp.path() + "/empty"), false, "", v1::Config{}, false);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->source, "empty config");
}

// Polls `pred` for up to 5 s (the persister writes from its own thread).
template <typename Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

// kTwoVips applied to a State on a fake data plane, with a persister saving into a temporary dir.
class StatePersisterTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(s.applyConfig(yaml(kTwoVips), false, nullptr).ok()); }
  static v1::VipKey webKey() {
    v1::VipKey key;
    key.set_address("10.0.0.10");
    key.set_port(80);
    key.set_protocol(v1::PROTOCOL_TCP);
    return key;
  }
  TempDir tmp;
  StateStore store{tmp.path()};
  dataplane::FakeDataplane dp;
  state::State s{dp};
  StatePersister p{s, store};
};

TEST_F(StatePersisterTest, SavesEveryAppliedChangeAndNothingElse) {
  ASSERT_TRUE(p.flush().ok());
  EXPECT_EQ(p.saves(), 1u);
  ASSERT_TRUE(p.flush().ok());
  EXPECT_EQ(p.saves(), 1u) << "unchanged state is not rewritten";
  p.start();

  // An API-style single-object change.
  const v1::VipKey key = webKey();
  v1::Backend b;
  b.set_address("10.0.1.3");
  b.set_weight(5);
  ASSERT_TRUE(s.addBackend(key, b).ok());
  EXPECT_TRUE(eventually([&] {
    auto l = store.load();
    return l.ok() && l->DebugString() == s.config().DebugString();
  })) << readFile(store.path());

  // Draining is desired state too.
  ASSERT_TRUE(s.drainBackend(key, "10.0.1.1").ok());
  EXPECT_TRUE(eventually([&] {
    auto l = store.load();
    return l.ok() && l->DebugString() == s.config().DebugString() &&
           l->DebugString().find("DRAINING") != std::string::npos;
  })) << readFile(store.journalPath());

  // A failed change writes nothing. (The counter goes up just after the rename the check above
  // saw: let that save finish first.)
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  uint64_t before = p.saves();
  EXPECT_FALSE(s.addBackend(key, b).ok());  // already exists
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_EQ(p.saves(), before);
  p.stop();

  auto restored = store.load();
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->DebugString(), s.config().DebugString());
  // A new agent given the restored state plans no change at all.
  dataplane::FakeDataplane dp2;
  state::State s2(dp2);
  ASSERT_TRUE(s2.applyConfig(*restored, false, nullptr).ok());
  EXPECT_EQ(s2.config().DebugString(), s.config().DebugString());
}

// The persister renders only the VIPs whose entry changed since its last save and appends them to
// the journal; state.yaml is written whole at the first save, when VIPs change places, and when the
// journal outgrows its limit. Whatever it wrote, load() gives State's config.
TEST_F(StatePersisterTest, JournalsChangesAndWritesTheWholeFileWhenNeeded) {
  auto loadsAsApplied = [&] {
    auto l = store.load();
    EXPECT_TRUE(l.ok()) << l.status();
    return l.ok() && l->DebugString() == s.config().DebugString();
  };
  ASSERT_TRUE(p.flush().ok());
  EXPECT_EQ(p.wholeSaves(), 1u);
  const std::string first = readFile(store.path());
  EXPECT_EQ(first, StateStore::render(s.config()));

  // One weight: one record, state.yaml untouched.
  const v1::VipKey key = webKey();
  ASSERT_TRUE(s.setBackendWeight(key, "10.0.1.1", 9).ok());
  ASSERT_TRUE(p.flush().ok());
  EXPECT_EQ(p.saves(), 2u);
  EXPECT_EQ(p.wholeSaves(), 1u);
  EXPECT_EQ(readFile(store.path()), first);
  EXPECT_NE(readFile(store.journalPath()).find("weight: 9"), std::string::npos);
  EXPECT_TRUE(loadsAsApplied());

  // A setting and a VIP appended at the end: journaled too.
  v1::Config bigger = s.config();
  bigger.add_vlan_ids(12);
  *bigger.add_vips() = bigger.vips(0);
  bigger.mutable_vips(2)->set_port(8080);
  bigger.mutable_vips(2)->set_name("third");
  ASSERT_TRUE(s.applyConfig(bigger, false, nullptr).ok());
  ASSERT_TRUE(p.flush().ok());
  EXPECT_EQ(p.wholeSaves(), 1u);
  EXPECT_EQ(readFile(store.path()), first);
  EXPECT_TRUE(loadsAsApplied());

  // A VIP removed: journaled.
  v1::Config smaller = s.config();
  smaller.mutable_vips()->DeleteSubrange(1, 1);
  ASSERT_TRUE(s.applyConfig(smaller, false, nullptr).ok());
  ASSERT_TRUE(p.flush().ok());
  EXPECT_EQ(p.wholeSaves(), 1u);
  EXPECT_TRUE(loadsAsApplied());

  // The same VIPs in another order: the journal cannot say that, the file is written whole.
  v1::Config reversed = s.config();
  std::reverse(reversed.mutable_vips()->begin(), reversed.mutable_vips()->end());
  ASSERT_TRUE(s.applyConfig(reversed, false, nullptr).ok());
  ASSERT_TRUE(p.flush().ok());
  EXPECT_EQ(p.wholeSaves(), 2u);
  EXPECT_EQ(readFile(store.path()), StateStore::render(s.config()));
  EXPECT_EQ(readFile(store.journalPath()).size(),
            StateStore::emptyJournalBytes(readFile(store.path())));
  EXPECT_TRUE(loadsAsApplied());

  // The journal removed by hand: the next change writes the whole file (and a new journal).
  fs::remove(store.journalPath());
  ASSERT_TRUE(s.setBackendWeight(key, "10.0.1.1", 5).ok());
  ASSERT_TRUE(p.flush().ok());
  EXPECT_EQ(p.wholeSaves(), 3u);
  EXPECT_TRUE(fs::exists(store.journalPath()));
  EXPECT_TRUE(loadsAsApplied());
  EXPECT_EQ(p.saveErrors(), 0u);
}

// The journal is bounded: past max(floor, half of state.yaml) the next change writes the whole
// file and an empty journal.
TEST(StatePersisterJournal, OutgrownJournalIsFoldedIntoTheStateFile) {
  TempDir tmp;
  StateStore store(tmp.path());
  dataplane::FakeDataplane dp;
  state::State s(dp);
  ASSERT_TRUE(s.applyConfig(yaml(kTwoVips), false, nullptr).ok());
  StatePersister p(s, store, /*journal_floor=*/2048);
  ASSERT_TRUE(p.flush().ok());
  v1::VipKey key;
  key.set_address("10.0.0.10");
  key.set_port(80);
  key.set_protocol(v1::PROTOCOL_TCP);
  size_t largest = 0;
  for (uint32_t w = 3; w <= 40; ++w) {  // 10.0.1.1 starts at weight 2
    ASSERT_TRUE(s.setBackendWeight(key, "10.0.1.1", w).ok());
    ASSERT_TRUE(p.flush().ok());
    largest = std::max(largest, readFile(store.journalPath()).size());
    auto l = store.load();
    ASSERT_TRUE(l.ok()) << l.status();
    ASSERT_EQ(l->DebugString(), s.config().DebugString()) << "weight " << w;
  }
  EXPECT_EQ(p.saves(), 39u);
  EXPECT_GE(p.wholeSaves(), 3u) << "38 changes of ~250 bytes in a 2 KB journal fold at least twice";
  EXPECT_LE(largest, 2048u);
}

TEST(ConfigReloader, InvalidFileKeepsRunningStateAndCountsTheError) {
  TempDir tmp;
  const std::string path = tmp.path() + "/xlb.yaml";
  writeFile(path, kTwoVips);
  dataplane::FakeDataplane dp;
  state::State s(dp);
  ConfigReloader r(s, path);
  ASSERT_TRUE(r.reload().ok());
  const std::string good = s.config().DebugString();
  EXPECT_EQ(s.config().vips_size(), 2);

  writeFile(path, "vips:\n  - address: 10.0.0.300\n    port: 80\n    protocol: tcp\n");
  auto st = r.reload();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(st.message()).find("10.0.0.300"), std::string::npos) << st;
  EXPECT_EQ(r.applyErrors(), 1u);
  EXPECT_EQ(s.applyStats().errors, 1u);  // what xlb_apply_errors_total exports
  EXPECT_EQ(s.config().DebugString(), good);

  fs::remove(path);
  EXPECT_FALSE(r.reload().ok());
  EXPECT_EQ(r.applyErrors(), 2u);
  EXPECT_EQ(s.applyStats().errors, 2u);  // a missing file counts as well
  EXPECT_EQ(s.config().DebugString(), good);
  EXPECT_EQ(r.reloads(), 3u);

  ConfigReloader none(s, "");
  EXPECT_EQ(none.reload().code(), absl::StatusCode::kFailedPrecondition);
}

// A unix datagram socket standing in for systemd's notify socket.
class NotifyStub {
 public:
  explicit NotifyStub(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    timeval tv{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~NotifyStub() { ::close(fd_); }
  std::string next() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("(timeout)");
  }

 private:
  std::string path_;
  int fd_ = -1;
};

TEST(SystemdNotifier, ReadyStatusAndWatchdogReachTheNotifySocket) {
  TempDir tmp;
  const std::string sock = tmp.path() + "/notify";
  NotifyStub stub(sock);
  ::setenv("NOTIFY_SOCKET", sock.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "200000", 1);
  ::unsetenv("WATCHDOG_PID");
  SystemdNotifier n;
  ASSERT_TRUE(n.enabled());
  n.ready("serving 2 VIPs");
  EXPECT_EQ(stub.next(), "READY=1\nSTATUS=serving 2 VIPs");
  auto interval = n.startWatchdog([] { return true; });
  EXPECT_EQ(interval, std::chrono::microseconds(100000));
  EXPECT_EQ(stub.next(), "WATCHDOG=1");
  EXPECT_EQ(stub.next(), "WATCHDOG=1");
  n.stopWatchdog();
  n.stopping();
  EXPECT_EQ(stub.next(), "STOPPING=1\nSTATUS=shutting down");

  // A dead liveness check stops the pings: systemd will restart the agent.
  SystemdNotifier wedged;
  wedged.startWatchdog([] { return false; });
  EXPECT_EQ(stub.next(), "(timeout)");
  wedged.stopWatchdog();

  ::unsetenv("WATCHDOG_USEC");
  SystemdNotifier plain;
  EXPECT_EQ(plain.startWatchdog([] { return true; }), std::chrono::microseconds(0));
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(plain.enabled());
}

}  // namespace
}  // namespace xlb::persist

namespace xlb::persist {
namespace {

std::ostringstream& captured_log() {
  static std::ostringstream out;
  return out;
}

// Issue 12: an apply of 10,000 VIPs plans >100,000 lines; the log gets the first
// kLoggedChanges and a count, not every line.
TEST(LogChanges, LogsAtMostTheCapAndSaysHowManyMore) {
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured_log());
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  std::vector<std::string> many;
  for (size_t i = 0; i < kLoggedChanges + 50; ++i) many.push_back("change " + std::to_string(i));
  logChanges("agent", many);
  std::vector<std::string> few{"add vip 10.0.0.1:80/tcp"};
  logChanges("reload", few);
  spdlog::set_default_logger(previous);

  std::string text = captured_log().str();
  size_t lines = 0;
  for (char c : text) lines += c == '\n';
  EXPECT_EQ(lines, kLoggedChanges + 1 + 1) << "cap + the count line + the short plan's line";
  EXPECT_NE(text.find("agent: change 0\n"), std::string::npos);
  EXPECT_NE(text.find("agent: change " + std::to_string(kLoggedChanges - 1) + "\n"),
            std::string::npos);
  EXPECT_EQ(text.find("agent: change " + std::to_string(kLoggedChanges) + "\n"), std::string::npos);
  EXPECT_NE(text.find("agent: ... and 50 more changes (" + std::to_string(kLoggedChanges + 50) +
                      " in all)"),
            std::string::npos);
  EXPECT_NE(text.find("reload: add vip 10.0.0.1:80/tcp\n"), std::string::npos);
  EXPECT_EQ(text.find("reload: ..."), std::string::npos);
}

}  // namespace
}  // namespace xlb::persist
