// SPDX-License-Identifier: Apache-2.0
// StateStore: atomic write (temp + fsync + rename + fsync dir) and validated read of state.yaml.
#include "persist/state_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/errors.h"
#include "config/validate.h"
#include "config/yaml.h"

namespace xlb::persist {

namespace {

std::string recoveryHint(const std::string& path) {
  return absl::StrCat(
      "hint: move ", path,
      " away to start from --config, or start once with --config-overrides-state (the file is "
      "then replaced by the applied --config)");
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

}  // namespace

StateStore::StateStore(std::string dir) : dir_(std::move(dir)), path_(dir_ + "/state.yaml") {}

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
  // Limits are the running data plane's business (an apply refuses what does not fit).
  const Capacity largest{Capacity::kMaxVips, Capacity::kMaxBackends};
  if (auto st = config::validateConfig(*config, largest); !st.ok()) return corrupt(st.message());
  return *config;
}

absl::Status StateStore::save(const v1::Config& config) const {
  return saveRendered(render(config));
}

absl::Status StateStore::saveRendered(const std::string& data) const {
  if (auto st = makeDirs(dir_); !st.ok()) return st;
  const std::string tmp = dir_ + "/.state.yaml.tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return errnoStatus(absl::StrCat("create ", tmp), errno);
  absl::Status st = writeAll(fd, data, absl::StrCat("write ", tmp));
  // The data must be on disk before the rename makes it the state, or a crash could leave an
  // empty state.yaml behind a completed rename.
  if (st.ok() && ::fsync(fd) != 0) st = errnoStatus(absl::StrCat("fsync ", tmp), errno);
  ::close(fd);
  if (st.ok() && ::rename(tmp.c_str(), path_.c_str()) != 0) {
    st = errnoStatus(absl::StrCat("rename ", tmp, " to ", path_), errno);
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  // The rename itself is durable only once the directory entry is.
  int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return errnoStatus(absl::StrCat("open ", dir_), errno);
  if (::fsync(dfd) != 0) st = errnoStatus(absl::StrCat("fsync ", dir_), errno);
  ::close(dfd);
  return st;
}

}  // namespace xlb::persist
