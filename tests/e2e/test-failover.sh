#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# e2e (issue 3, scenario 3): failover. A client opens a new connection every 20 ms while one
# backend's server is killed; TCP health checks (interval 100 ms, fall 2, no jitter) take it out of
# rotation, and after the detection time no connection fails. Prints the measured failover time:
# first/last failed connection and the agent's reported transition, relative to the kill. Then the
# server comes back and the backend returns after `rise` successes.
# Usage: test-failover.sh BUILD_DIR   (root; exit 77 = skipped)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WEB="$VIP4:80/tcp"
INTERVAL_MS=100
FALL=2
RISE=2
# Detection bound after the kill: the first failing check starts up to one interval after the
# kill and FALL failures take FALL intervals: (FALL + 1) x interval; plus 500 ms of scheduling slack,
# because the suite runs on a 2-CPU machine that may be busy (the agent's checker thread, the
# client's 50 connections per second and the servers share it). The measured time is printed.
BOUND_MS=$(((FALL + 1) * INTERVAL_MS + 500))
# Once the agent reports the transition the table has already been swapped (the swap happens in
# the transition callback, before the event is published): a connection started more than this
# after the reported time must not fail (covers the client's clock read racing the swap).
SWAP_SLACK_MS=100
LOOP_MS=5000   # client loop length
KILL_AFTER_MS=1500

write_config() {
	cat >"$RUN_DIR/xlb.yaml" <<-EOF
		vips:
		  - name: web
		    address: "$VIP4"
		    port: 80
		    protocol: tcp
		    health_check:
		      type: tcp
		      interval_ms: $INTERVAL_MS
		      timeout_ms: 80
		      rise: $RISE
		      fall: $FALL
		      jitter_percent: 0
		    backends:
		      - {address: "$(be4 1)"}
		      - {address: "$(be4 2)"}
		      - {address: "$(be4 3)"}
	EOF
}

# client_loop OUT: one new connection every 20 ms for LOOP_MS (conn_loop.py, one process with a
# thread per connection); one line per connection: "<start ms> <backend>" or "<start ms> FAIL ...".
client_loop() {
	nsx cl timeout $((LOOP_MS / 1000 + 15)) python3 "$E2E_SRC/tests/e2e/conn_loop.py" "$VIP4" 80 20 \
		"$LOOP_MS" "$1"
}

test_failover() {
	local victim=2 addr
	addr=$(be4 $victim)
	for i in 1 2 3; do
		wait_for 10 "b$i to be up" backend_is "$WEB" "$(be4 "$i")" health HEALTH_UP
	done
	events_start "$RUN_DIR/events.jsonl"
	local out=$RUN_DIR/loop.txt
	client_loop "$out" &
	local loop_pid=$!
	sleep "$(awk -v ms=$KILL_AFTER_MS 'BEGIN {print ms / 1000}')"
	local kill_ms
	kill_ms=$(now_ms)
	log "killing b$victim's HTTP server (pid $(kill_listener b$victim 80))"
	wait "$loop_pid"
	events_stop

	local total failed
	total=$(grep -c . "$out")
	failed=$(awk '$2 == "FAIL"' "$out" | wc -l)
	# Agent's view: the time of b2's up -> down transition from the event stream.
	local down_ms
	down_ms=$(health_event_ms "$RUN_DIR/events.jsonl" "$addr" HEALTH_DOWN)
	[ -n "$down_ms" ] || fail "no backend-health down event for $addr: $(cat "$RUN_DIR/events.jsonl" "$RUN_DIR/events.jsonl.err")"
	local first_fail=- last_fail=-
	if [ "$failed" -gt 0 ]; then
		first_fail=$(($(awk '$2 == "FAIL" {print $1}' "$out" | sort -n | head -n 1) - kill_ms))
		last_fail=$(($(awk '$2 == "FAIL" {print $1}' "$out" | sort -n | tail -n 1) - kill_ms))
	fi
	local detect=$((down_ms - kill_ms))
	log "failover: $total connections (one per 20 ms), $failed failed; relative to the kill: first failed connection started at ${first_fail} ms, last failed at ${last_fail} ms; agent reported $addr down at ${detect} ms (fall x interval = $((FALL * INTERVAL_MS)) ms, bound ${BOUND_MS} ms)"
	[ "$total" -ge $((LOOP_MS / 20 * 9 / 10)) ] || fail "the client loop made only $total connections"
	# Failures only after the kill (before it, every backend answered).
	local early
	early=$(awk -v k="$kill_ms" '$1 < k - 50 && $2 == "FAIL"' "$out" | wc -l)
	[ "$early" = 0 ] || fail "$early connections failed before the kill: $(awk '$2 == "FAIL"' "$out" | head -n 3)"
	# The agent detected the failure within the bound...
	[ "$detect" -le "$BOUND_MS" ] ||
		fail "the agent reported $addr down ${detect} ms after the kill (bound ${BOUND_MS} ms)"
	# ...and from then on no connection fails (the dead backend left the table; nothing black-holed).
	local late
	late=$(awk -v d="$down_ms" -v s="$SWAP_SLACK_MS" '$1 >= d + s && $2 == "FAIL"' "$out" | wc -l)
	[ "$late" = 0 ] || fail "$late connections failed after the agent reported the failure: $(awk -v k="$kill_ms" -v d="$down_ms" -v s="$SWAP_SLACK_MS" '$1 >= d + s && $2 == "FAIL" {print $1 - k " ms: " $0}' "$out" | head -n 5)"
	# Nor after the detection bound, whatever the agent's clock said.
	late=$(awk -v k="$kill_ms" -v b="$BOUND_MS" '$1 >= k + b && $2 == "FAIL"' "$out" | wc -l)
	[ "$late" = 0 ] || fail "$late connections failed more than ${BOUND_MS} ms after the kill"
	# lbctl shows it: down, out of rotation, with the reason.
	backend_is "$WEB" "$addr" health HEALTH_DOWN || fail "backend list: $addr not down"
	backend_is "$WEB" "$addr" in_rotation false || fail "backend list: $addr still in rotation"
	local reason
	reason=$(backend_field "$WEB" "$addr" last_transition.reason)
	log "lbctl backend list: $addr down, reason \"$reason\""
	echo "$reason" | grep -qi 'refused\|connect' || fail "unexpected down reason: $reason"
	lbctl backend list "$WEB"
}

test_recovery() {
	local victim=2 addr
	addr=$(be4 $victim)
	nsx b$victim python3 -m http.server 80 --bind :: --directory "$RUN_DIR/www-b$victim" \
		>>"$RUN_DIR/http-b$victim.log" 2>&1 &
	E2E_BG_PIDS+=($!)
	disown $!
	wait_for 10 "b$victim's HTTP server to listen again" nsx b$victim sh -c "ss -ltn | grep -q ':80 '"
	local t0
	t0=$(now_ms)
	# rise x interval = 200 ms after the server listens; 3 s bounds it on a busy machine.
	wait_for 3 "$addr back in rotation" backend_is "$WEB" "$addr" in_rotation true
	log "b$victim back in rotation $(($(now_ms) - t0)) ms after its server listened again (rise x interval = $((RISE * INTERVAL_MS)) ms)"
	backend_is "$WEB" "$addr" health HEALTH_UP || fail "$addr in rotation but not up"
	http_burst 60 "$(vip_url 4 80 /id)" "$RUN_DIR/after.txt"
	grep -q '^FAIL$' "$RUN_DIR/after.txt" && fail "connections failed after recovery"
	grep -qx "b$victim" "$RUN_DIR/after.txt" || fail "no new connection reached recovered b$victim (60 tries)"
}

e2e_init "${1:-}"
topo_create 3
write_config
agent_start "$RUN_DIR/xlb.yaml"
run test_failover
run test_recovery
E2E_CURRENT_TEST=""
log "PASS: e2e failover"
