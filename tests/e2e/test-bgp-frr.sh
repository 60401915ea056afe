#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# e2e (issue 13): the same balancers behind an FRR 8.4 router (zebra + bgpd) configured with the
# FRR block of README.md ("On the routers"), a lighter run than e2e_bgp_ecmp_* (which uses BIRD):
# three balancers (dsr), 60 IPv4 and 30 IPv6 long-lived connections, then
#   three next hops per VIP in the kernel (FRR multipath), every balancer forwards;
#   lb2 drained: FRR holds lb2's path with GRACEFUL_SHUTDOWN at local preference 0 (out of the
#     ECMP set at once), then the withdraw; lb2's counters stop; undrain brings it back;
#   lb3's gobgpd SIGKILLed: FRR drops lb3 (measured); gobgpd restarted: the agent repopulates it;
# and 0 connections broken. Times are printed as "FIGURE ...".
# Usage: test-bgp-frr.sh BUILD_DIR   (root; exit 77 = skipped)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/bgp_lib.sh"

N4=60
N6=30
BGP_ROUTER=frr

test_converged() {
	local ms4 ms6
	local both
	both=$(time_until_nexthops_both "1 2 3" 30) || exit 1
	read -r ms4 ms6 <<<"$both"
	log "FIGURE FRR installs 3 next hops: IPv4 $ms4 ms, IPv6 $ms6 ms after the last agent was ready"
	log "router: IPv4 $(nexthops 4); IPv6 $(nexthops 6)"
	vtyrt -c "show bgp summary" | grep -E "^\*?[0-9a-f:.]+ +4 +65001" >&2
}

test_flows_spread() {
	flows_spread "1 2 3"
}

# frr_path_of N: "<local preference> <communities>" of lb N's path to VIP4 in FRR's BGP table, or
# "none".
frr_path_of() {
	vtyrt -c "show bgp ipv4 unicast $VIP4/32 json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for p in d.get("paths", []):
    if p.get("peer", {}).get("peerId") == sys.argv[1]:
        print(p.get("locPrf", 100), p.get("community", {}).get("string", "-").replace(" ", ","))
        break
else:
    print("none")' "$(lb4 "$1")"
}

test_drain() {
	lbctl_n 2 bgp drain --wait >"$RUN_DIR/drain.out" 2>&1 &
	local drainer=$! ms4 path
	ms4=$(time_until_nexthops 4 "1 3" 10) || exit 1
	time_until_nexthops 6 "1 3" 10 >/dev/null
	path=$(frr_path_of 2)
	log "FIGURE drain lb2 (FRR): out of the kernel's ECMP set after $ms4 ms; FRR holds lb2's path as: $path"
	[[ "$path" == "0 "*graceful-shutdown* ]] ||
		fail "FRR does not hold lb2's draining path at local preference 0 with graceful-shutdown: '$path'"
	wait "$drainer" || fail "lbctl bgp drain --wait: $(cat "$RUN_DIR/drain.out")"
	# `drain --wait` returns once the agent withdrew from gobgpd; the UPDATE reaches FRR just after.
	frr_path_gone() { [ "$(frr_path_of 2)" = none ]; }
	wait_for 3 "FRR to drop lb2's path after the drain" frr_path_gone
	lb_quiet_then_undrain 2 "1 2 3"
}

test_gobgpd_killed() {
	local t0 ms
	kill -KILL "$(cat "$RUN_DIR/lb3/gobgpd.pid")"
	t0=$(now_ms)
	time_until_nexthops 4 "1 2" 10 >/dev/null
	ms=$(($(now_ms) - t0))
	time_until_nexthops 6 "1 2" 10 >/dev/null
	log "FIGURE gobgpd on lb3 SIGKILLed -> FRR without lb3 after $ms ms"
	gobgpd_start 3
	t0=$(now_ms)
	time_until_nexthops 4 "1 2 3" 30 >/dev/null
	time_until_nexthops 6 "1 2 3" 30 >/dev/null
	log "FIGURE lb3 back $(($(now_ms) - t0)) ms after gobgpd's restart (the agent repopulates it)"
	flows_alive
}

test_no_flow_broken() {
	touch "$RUN_DIR/flows.stop"
	local fam rc=0
	for fam in 4 6; do
		wait "$(eval echo "\$FLOWS${fam}_PID")" || rc=1
	done
	local total=$((N4 + N6))
	if [ "$rc" != 0 ]; then
		grep -h FAIL "$RUN_DIR/flows4.out" "$RUN_DIR/flows6.out" | head -n 5 >&2
		fail "connections broken: $(grep -h FAIL "$RUN_DIR/flows4.out" "$RUN_DIR/flows6.out" | grep -c .) of $total"
	fi
	log "FIGURE flows broken across drain and gobgpd kill behind FRR: 0 of $total"
}

e2e_init "${1:-}"
E2E_TEST_PREFIX="frr: "
bgp_init
bgp_topology 3
for n in 1 2 3; do lb_add "$n"; done
run test_converged
run test_flows_spread
run test_drain
run test_gobgpd_killed
run test_no_flow_broken
log "PASS"
