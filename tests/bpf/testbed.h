// SPDX-License-Identifier: Apache-2.0
// Test bed for the BPF tests: a private network namespace with veths and static neighbours (so
// bpf_fib_lookup gives known MACs), BPF_PROG_TEST_RUN helpers, and the hashes tests predict with.
#pragma once

#include <cstdint>
#include <string>

#include "dataplane/flow_hash.h"
#include "packet_builder.h"
#include "xlb/abi.h"

namespace xlb::test {

// Fixed topology inside the test's own netns (entered with unshare(CLONE_NEWNET)):
//   lb0 (02:00:00:00:00:01, 10.0.0.1/24, fd00::1/64) <-> peer0
//       neighbours: 10.0.0.2, fd00::2 -> kBackendMacA; 10.0.0.3, fd00::3 -> kBackendMacB;
//       10.0.0.9 and fd00::9 have no neighbour entry (NO_NEIGH)
//   lb1 (02:00:00:00:00:03, 10.0.1.1/24) <-> peer1; 10.0.1.2 -> kBackendMacC (REDIRECT path)
//   10.0.2.0/24 is an unreachable route (FIB failure)
inline constexpr const char* kLbMac = "02:00:00:00:00:01";
inline constexpr const char* kLb1Mac = "02:00:00:00:00:03";
inline constexpr const char* kBackendMacA = "02:00:00:00:00:b1";
inline constexpr const char* kBackendMacB = "02:00:00:00:00:b2";
inline constexpr const char* kBackendMacC = "02:00:00:00:00:c1";
inline constexpr const char* kClientMac = "02:00:00:00:00:aa";

// Returns "" on success, else why the test bed cannot be built (the suite then exits 77).
std::string setUpTestbed();
int lbIfindex();
int lb1Ifindex();

struct RunResult {
  int err = 0;      // bpf_prog_test_run_opts() result
  uint32_t ret = 0;  // program return value
  Bytes out;
};
RunResult runXdp(int prog_fd, const Bytes& in, int ingress_ifindex);
RunResult runTc(int prog_fd, const Bytes& in);

// The data plane's hashes are the agent's one C++ implementation (agent/dataplane/flow_hash.h),
// which flow_hash_test.cc checks against the program; the tests predict outer sources and slots
// with it.
using dataplane::flowHash;
using dataplane::sourceHash;
// The selection-table map index (1..m) a hash picks: index 0 holds m (bpf/lib/select.h).
inline uint32_t slotOf(uint32_t hash, uint32_t m) { return 1 + dataplane::slotOfHash(hash, m); }
xlb_flow_key flowKey(const std::string& src, const std::string& dst, uint16_t sport, uint16_t dport,
                     uint8_t proto);

}  // namespace xlb::test
