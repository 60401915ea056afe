// SPDX-License-Identifier: Apache-2.0
// bpf_obj_get_info_by_fd wrapper for a program's id.
#include "dataplane/program_info.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include "common/errors.h"

namespace xlb::dataplane {

absl::StatusOr<uint32_t> programId(int prog_fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (int err = bpf_obj_get_info_by_fd(prog_fd, &info, &len); err != 0) {
    return errnoStatus("read program info", err);
  }
  return info.id;
}

}  // namespace xlb::dataplane
