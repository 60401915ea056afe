// SPDX-License-Identifier: Apache-2.0
// errno -> absl::Status conversion ("update map xlb_vips: No space left on device (ENOSPC)").
#pragma once

#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace xlb {

// Name of an errno value ("ENOSPC"), or "E<n>" when unknown.
absl::string_view errnoName(int err);

// Status for a failed system/libbpf call: "<what>: <strerror> (<ENAME>)". `err` may be negative (libbpf
// style). Code: RESOURCE_EXHAUSTED for ENOSPC/E2BIG/ENOMEM, NOT_FOUND for ENOENT, PERMISSION_DENIED for
// EPERM/EACCES, ALREADY_EXISTS for EEXIST, INVALID_ARGUMENT for EINVAL, otherwise INTERNAL.
absl::Status errnoStatus(absl::string_view what, int err);

}  // namespace xlb
