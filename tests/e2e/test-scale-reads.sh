#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# e2e_scale_reads (issue 12): read RPCs answer while a large apply runs; no read waits behind it.
# Usage: test-scale-reads.sh BUILD_DIR   (root; exit 77 = skipped)
# Environment: SCALE_VIPS (1000) x SCALE_BACKENDS (10) ipip/maglev VIPs, SCALE_MAGLEV_TABLE_SIZE
# (1021; 0 = unset, the agent's default).
#
# An xlb-agent --no-attach (its own network namespace, pin dir and socket) starts with the config;
# `xlb-scale-bench reads` then calls ListVips, ListBackends (the first VIP) and GetStats back to back,
# one thread and one connection each, for 1 s, sends one ApplyConfig that changes one weight on every
# VIP, and keeps sampling for 1 s after it answered. Let D be the apply RPC's duration [a0, a1] seen
# by that client. Criterion, all relative to D (no absolute timing, so a slow or busy machine does
# not flake it):
#   1. the apply succeeds and every read of every kind returns OK (deadline 60 s);
#   2. for each kind, the longest stretch of [a0, a1] in which no call of that kind completed
#      (a0 to the first completion, between completions, the last completion to a1) is < D/2;
#   3. no read that overlaps [a0, a1] lasts D/2 or more.
# An agent whose reads wait behind the write lock has a gap of about D (everything queues until the
# apply ends), so 2 and 3 fail however fast or slow the machine is. Reads that do not wait stay
# near their idle latency, far below D/2. For the test to tell the two apart the apply must be long
# against a read: it checks D >= 4 x the slowest kind's idle median first and otherwise fails with
# "apply too short" (raise SCALE_VIPS) rather than pass without having tested anything.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCALE_VIPS=${SCALE_VIPS:-1000}
SCALE_BACKENDS=${SCALE_BACKENDS:-10}
SCALE_MAGLEV_TABLE_SIZE=${SCALE_MAGLEV_TABLE_SIZE:-1021}

# scale_agent_start CONFIG: xlb-agent --no-attach in namespace <P>lb, waits for "xlb-agent ready".
scale_agent_start() {
	ip netns add "${P}lb" || fail "ip netns add ${P}lb"
	nsx lb ip link set lo up
	rm -f "$RUN_DIR/agent.log"
	# nsenter itself (it execs the agent), so that $! is the agent and agent_stop reaches it.
	nsenter --net="/run/netns/${P}lb" "$AGENT_BIN" --no-attach --config "$1" \
		--listen "unix://$SOCK" --pin-dir "$PIN_DIR" --state-dir "$RUN_DIR/state" \
		>"$RUN_DIR/agent.log" 2>&1 &
	AGENT_PID=$!
	local deadline=$((SECONDS + 120))
	until grep -qs "xlb-agent ready" "$RUN_DIR/agent.log"; do
		kill -0 "$AGENT_PID" 2>/dev/null || {
			AGENT_PID=""
			fail "xlb-agent exited during startup: $(tail -n 5 "$RUN_DIR/agent.log")"
		}
		[ "$SECONDS" -lt "$deadline" ] || fail "xlb-agent not ready after 120s"
		sleep 0.1
	done
	log "xlb-agent ready (pid $AGENT_PID): $SCALE_VIPS VIPs x $SCALE_BACKENDS backends"
}

# judge_reads SAMPLES: criterion 1-3 of the header; prints a summary, exits non-zero on failure.
judge_reads() {
	python3 - "$1" <<'PYEOF'
import statistics, sys
reads, apply = [], None
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == "read":
        reads.append((f[1], int(f[2]), int(f[3]), int(f[4])))
    elif f[0] == "apply":
        apply = (int(f[1]), int(f[2]), int(f[3]), " ".join(f[4:]))
if apply is None:
    sys.exit("no apply line in the samples")
a0, a1, code, msg = apply
D = a1 - a0
ms = lambda ns: ns / 1e6
print(f"apply: {ms(D):.1f} ms, status {code} ({msg})")
if code != 0:
    sys.exit(f"the apply failed: status {code}: {msg}")
bad = [r for r in reads if r[3] != 0]
if bad:
    sys.exit(f"{len(bad)} of {len(reads)} reads failed, first: {bad[0][0]} status {bad[0][3]}")
failures = []
idle_medians = {}
for kind in ("vips", "backends", "stats"):
    rs = [r for r in reads if r[0] == kind]
    idle = [r[2] - r[1] for r in rs if r[2] < a0]
    if not idle:
        sys.exit(f"no idle {kind} read before the apply (the sampler did not run)")
    idle_medians[kind] = statistics.median(idle)
    during = [r for r in rs if r[2] >= a0 and r[1] <= a1]
    ends = sorted(r[2] for r in rs if a0 <= r[2] <= a1)
    edges = [a0] + ends + [a1]
    gap = max(b - a for a, b in zip(edges, edges[1:]))
    longest = max((r[2] - r[1] for r in during), default=0)
    print(f"{kind}: idle median {ms(idle_medians[kind]):.1f} ms; during the apply {len(ends)} "
          f"completed, longest gap {ms(gap):.1f} ms, longest call {ms(longest):.1f} ms "
          f"(limit {ms(D / 2):.1f} ms = D/2)")
    if gap >= D / 2:
        failures.append(f"{kind}: no call completed for {ms(gap):.1f} ms of the {ms(D):.1f} ms apply")
    if longest >= D / 2:
        failures.append(f"{kind}: a call took {ms(longest):.1f} ms during the {ms(D):.1f} ms apply")
slowest = max(idle_medians.values())
if D < 4 * slowest:
    sys.exit(f"apply too short to tell: {ms(D):.1f} ms < 4 x the slowest idle read "
             f"({ms(slowest):.1f} ms); raise SCALE_VIPS")
if failures:
    sys.exit("reads waited behind the apply:\n  " + "\n  ".join(failures))
PYEOF
}

test_reads_during_apply() {
	local bench=$BUILD/bench/scale/xlb-scale-bench
	"$bench" config --vips "$SCALE_VIPS" --backends "$SCALE_BACKENDS" \
		--maglev-table-size "$SCALE_MAGLEV_TABLE_SIZE" --out "$RUN_DIR/scale.yaml" ||
		fail "write the config"
	"$bench" config --vips "$SCALE_VIPS" --backends "$SCALE_BACKENDS" \
		--maglev-table-size "$SCALE_MAGLEV_TABLE_SIZE" --every-vip-changed \
		--out "$RUN_DIR/scale-every-vip.yaml" || fail "write the changed config"
	scale_agent_start "$RUN_DIR/scale.yaml"
	timeout 150 "$bench" reads --socket "$SOCK" --apply "$RUN_DIR/scale-every-vip.yaml" \
		--out "$RUN_DIR/samples" || fail "xlb-scale-bench reads failed"
	judge_reads "$RUN_DIR/samples" || fail "reads were not answered during the apply (above)"
	# The apply really landed: every VIP's first backend now has weight 2.
	local changed
	changed=$(lbctl --timeout 30s -o json vip list | python3 -c '
import json, sys
vips = json.load(sys.stdin).get("vips", [])
print(sum(1 for v in vips if v["backends"][0].get("weight") == 2))') || fail "lbctl vip list"
	[ "$changed" = "$SCALE_VIPS" ] || fail "$changed of $SCALE_VIPS VIPs show the new weight"
}

e2e_init "$@"
[ -x "$BUILD/bench/scale/xlb-scale-bench" ] || fail "$BUILD/bench/scale/xlb-scale-bench not built"
run test_reads_during_apply
log "PASS"
