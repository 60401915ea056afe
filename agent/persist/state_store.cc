// SPDX-License-Identifier: Apache-2.0
// StateStore: atomic write (temp + fsync + rename + fsync dir) and validated read of state.yaml,
// and the journal of changes appended after it.
#include "persist/state_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/errors.h"
#include "config/validate.h"
#include "config/yaml.h"
#include "spdlog/spdlog.h"

namespace xlb::persist {

namespace {

std::string recoveryHint(const std::string& path) {
  return absl::StrCat(
      "hint: move ", path,
      " away to start from --config, or start once with --config-overrides-state (the file is "
      "then replaced by the applied --config)");
}

// The same for a journal that cannot be used.
std::string journalRecoveryHint(const std::string& journal, const std::string& state) {
  return absl::StrCat("hint: move ", journal, " away to start from ", state,
                      " alone (the changes since it was written are lost), or start once with "
                      "--config-overrides-state");
}

// mkdir -p for the state directory; existing directories are left as they are.
absl::Status makeDirs(const std::string& dir) {
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    std::string prefix = dir.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0750) != 0 && errno != EEXIST) {
      return errnoStatus(absl::StrCat("create state directory ", prefix), errno);
    }
  }
  return absl::OkStatus();
}

absl::Status writeAll(int fd, const std::string& data, const std::string& what) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus(what, errno);
    }
    off += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Writes `data` to `tmp`, fsyncs it and renames it over `path` (the directory is not fsynced).
absl::Status replaceFile(const std::string& tmp, const std::string& path, const std::string& data) {
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return errnoStatus(absl::StrCat("create ", tmp), errno);
  absl::Status st = writeAll(fd, data, absl::StrCat("write ", tmp));
  // The data must be on disk before the rename makes it the state, or a crash could leave an
  // empty state.yaml behind a completed rename.
  if (st.ok() && ::fsync(fd) != 0) st = errnoStatus(absl::StrCat("fsync ", tmp), errno);
  ::close(fd);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = errnoStatus(absl::StrCat("rename ", tmp, " to ", path), errno);
  }
  if (!st.ok()) ::unlink(tmp.c_str());
  return st;
}

// FNV-1a, 64 bits: a fixed function, since the files outlive the build that wrote them. Not for
// security: it ties a journal to the state.yaml it follows and finds records cut short by a crash.
uint64_t fnv1a(absl::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

constexpr absl::string_view kJournalHeader = "# xlb-agent state journal v1, after state.yaml ";

std::string journalHeader(const std::string& state_text) {
  return absl::StrCat(kJournalHeader, absl::Hex(fnv1a(state_text), absl::kZeroPad16), " ",
                      state_text.size(), "\n");
}

using Kind = StateStore::JournalRecord::Kind;

constexpr std::pair<Kind, absl::string_view> kKinds[] = {
    {Kind::kVip, "vip"}, {Kind::kRemove, "remove"}, {Kind::kGlobals, "globals"}};

absl::string_view kindName(Kind kind) {
  for (const auto& [k, name] : kKinds)
    if (k == kind) return name;
  return "?";
}

std::optional<Kind> kindOf(absl::string_view name) {
  for (const auto& [k, n] : kKinds)
    if (n == name) return k;
  return std::nullopt;
}

// The one VIP of a kVip or kRemove record.
absl::StatusOr<v1::Vip> recordVip(const std::string& yaml) {
  auto c = config::parseConfigYaml(absl::StrCat("vips:\n", yaml));
  if (!c.ok()) return c.status();
  if (c->vips_size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("holds ", c->vips_size(), " VIPs, not one"));
  }
  return std::move(*c->mutable_vips(0));
}

}  // namespace

StateStore::StateStore(std::string dir)
    : dir_(std::move(dir)), path_(dir_ + "/state.yaml"), journal_path_(dir_ + "/state.journal") {}

size_t StateStore::emptyJournalBytes(const std::string& data) { return journalHeader(data).size(); }

absl::StatusOr<size_t> StateStore::appendJournal(std::span<const JournalRecord> records) const {
  std::string buf;
  for (const JournalRecord& r : records) {
    absl::StrAppend(&buf, "@ ", kindName(r.kind), " ", r.yaml.size(), " ",
                    absl::Hex(fnv1a(r.yaml), absl::kZeroPad16), "\n", r.yaml, "\n");
  }
  int fd = ::open(journal_path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return absl::FailedPreconditionError(absl::StrCat("no journal at ", journal_path_));
    }
    return errnoStatus(absl::StrCat("open ", journal_path_), errno);
  }
  struct stat before {};
  if (::fstat(fd, &before) != 0) {
    int err = errno;
    ::close(fd);
    return errnoStatus(absl::StrCat("stat ", journal_path_), err);
  }
  absl::Status st = writeAll(fd, buf, absl::StrCat("write ", journal_path_));
  if (st.ok() && ::fsync(fd) != 0) st = errnoStatus(absl::StrCat("fsync ", journal_path_), errno);
  // A part written before a failure would hide every later record: cut it off again.
  if (!st.ok() && ::ftruncate(fd, before.st_size) != 0) {
    st = absl::Status(st.code(), absl::StrCat(st.message(), "; cutting the partial record off "
                                                            "failed too"));
  }
  ::close(fd);
  if (!st.ok()) return st;
  return buf.size();
}

std::string StateStore::render(const v1::Config& config) {
  return renderYaml(config::toYaml(config));
}

std::string StateStore::renderYaml(const std::string& yaml) {
  return absl::StrCat(kHeader, "\n", yaml, "\n", kTrailer, "\n");
}

absl::StatusOr<v1::Config> StateStore::load() const {
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat("no saved state at ", path_));
    return absl::DataLossError(absl::StrCat("saved state ", path_, ": cannot read: ",
                                            errnoStatus("open", err).message(), "\n",
                                            recoveryHint(path_)));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  auto corrupt = [&](absl::string_view why) {
    return absl::DataLossError(
        absl::StrCat("saved state ", path_, " is corrupt: ", why, "\n", recoveryHint(path_)));
  };
  if (!absl::StartsWith(text, absl::StrCat(kHeader, "\n"))) {
    return corrupt("the header line is missing (not written by xlb-agent?)");
  }
  if (!absl::EndsWith(text, absl::StrCat(kTrailer, "\n"))) {
    return corrupt("the trailer line is missing (truncated?)");
  }
  auto config = config::parseConfigYaml(text);
  if (!config.ok()) return corrupt(config.status().message());
  if (auto st = applyJournal(text, &*config); !st.ok()) return st;
  // Limits are the running data plane's business (an apply refuses what does not fit).
  const Capacity largest{Capacity::kMaxVips, Capacity::kMaxBackends};
  if (auto st = config::validateConfig(*config, largest); !st.ok()) return corrupt(st.message());
  return *config;
}

absl::Status StateStore::applyJournal(const std::string& state_text, v1::Config* config) const {
  // None: state.yaml is the whole state. One that cannot be read refuses the start, like an
  // unreadable state.yaml: going on without it would drop the changes it holds.
  std::string j;
  int fd = ::open(journal_path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return absl::OkStatus();
  for (char chunk[65536]; fd >= 0;) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) {
        ::close(fd);
        fd = -2;  // read whole
      }
      break;
    }
    j.append(chunk, static_cast<size_t>(n));
  }
  if (fd != -2) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    return absl::DataLossError(absl::StrCat("saved state journal ", journal_path_,
                                            ": cannot read: ", errnoStatus("read", err).message(),
                                            "\n", journalRecoveryHint(journal_path_, path_)));
  }
  const std::string header = journalHeader(state_text);
  if (!absl::StartsWith(j, header)) {
    // Written for another state.yaml: a save was interrupted between its two renames, and
    // state.yaml already holds what the journal said.
    spdlog::warn("persist: {} does not follow {} (an interrupted save): ignored", journal_path_,
                 path_);
    return absl::OkStatus();
  }
  auto corrupt = [&](size_t at, absl::string_view why) {
    return absl::DataLossError(absl::StrCat(
        "saved state journal ", journal_path_, " is corrupt: the record at byte ", at, " ", why,
        "\n", journalRecoveryHint(journal_path_, path_)));
  };
  // The VIPs by key, in order; a removed one leaves an empty place.
  std::vector<std::optional<v1::Vip>> vips;
  vips.reserve(config->vips_size());
  std::map<config::VipKey, size_t> index;
  for (v1::Vip& v : *config->mutable_vips()) {
    if (auto key = config::vipKeyOf(v); key.ok()) index[*key] = vips.size();
    vips.emplace_back(std::move(v));  // an unparsable key fails the validation after this
  }
  config->clear_vips();
  size_t pos = header.size(), records = 0;
  while (pos < j.size()) {
    // "@ <kind> <bytes> <hash>\n<yaml>\n"; anything short of that ends the journal.
    const size_t eol = j.find('\n', pos);
    if (eol == std::string::npos) break;
    std::vector<absl::string_view> f =
        absl::StrSplit(absl::string_view(j).substr(pos, eol - pos), ' ');
    size_t len = 0;
    uint64_t hash = 0;
    if (f.size() != 4 || f[0] != "@" || !kindOf(f[1]) || !absl::SimpleAtoi(f[2], &len) ||
        f[3].size() != 16 || !absl::SimpleHexAtoi(f[3], &hash) || len > j.size() - eol - 1 ||
        j.size() - eol - 1 - len < 1 || j[eol + 1 + len] != '\n') {
      break;
    }
    const std::string yaml = j.substr(eol + 1, len);
    if (fnv1a(yaml) != hash) break;
    const Kind kind = *kindOf(f[1]);
    if (kind == Kind::kGlobals) {
      auto g = yaml.empty() ? absl::StatusOr<v1::Config>(v1::Config())
                            : config::parseConfigYaml(yaml);
      if (!g.ok()) return corrupt(pos, g.status().message());
      if (g->vips_size() != 0) return corrupt(pos, "(settings) holds VIPs");
      *config = std::move(*g);
    } else {
      auto vip = recordVip(yaml);
      if (!vip.ok()) return corrupt(pos, vip.status().message());
      auto key = config::vipKeyOf(*vip);
      if (!key.ok()) return corrupt(pos, key.status().message());
      auto it = index.find(*key);
      if (kind == Kind::kRemove) {
        if (it != index.end()) {
          vips[it->second].reset();
          index.erase(it);
        }
      } else if (it != index.end()) {
        vips[it->second] = std::move(*vip);
      } else {
        index.emplace(*key, vips.size());
        vips.emplace_back(std::move(*vip));
      }
    }
    ++records;
    pos = eol + 1 + len + 1;
  }
  for (auto& v : vips) {
    if (v) *config->add_vips() = std::move(*v);
  }
  if (pos < j.size()) {
    spdlog::warn("persist: {}: the last {} bytes are not a complete record (a write cut short): "
                 "ignored",
                 journal_path_, j.size() - pos);
  }
  if (records > 0) spdlog::info("persist: {} changes from {} applied", records, journal_path_);
  return absl::OkStatus();
}

absl::Status StateStore::save(const v1::Config& config) const {
  return saveRendered(render(config));
}

absl::Status StateStore::saveRendered(const std::string& data) const {
  if (auto st = makeDirs(dir_); !st.ok()) return st;
  if (auto st = replaceFile(dir_ + "/.state.yaml.tmp", path_, data); !st.ok()) return st;
  // Until this rename the old journal names the old state.yaml, so it is ignored: the new file
  // already holds what it said.
  if (auto st = replaceFile(dir_ + "/.state.journal.tmp", journal_path_, journalHeader(data));
      !st.ok()) {
    return st;
  }
  // The renames themselves are durable only once the directory entries are.
  int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return errnoStatus(absl::StrCat("open ", dir_), errno);
  absl::Status st;
  if (::fsync(dfd) != 0) st = errnoStatus(absl::StrCat("fsync ", dir_), errno);
  ::close(dfd);
  return st;
}

}  // namespace xlb::persist
