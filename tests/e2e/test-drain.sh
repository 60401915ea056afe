#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# e2e (issue 3, scenario 4): draining. A long-lived connection to a backend keeps working after the
# backend is drained while new connections avoid it; lbctl shows it draining with 1 open flow;
# `backend drain --wait` times out (exit 1) while the connection is open and returns (exit 0) once it
# closes; undrain puts the backend back. Drain and undrain change the selection table in place
# (a flip of its live half, counted in lbctl stats), not by swapping in a new table.
# Usage: test-drain.sh BUILD_DIR   (root; exit 77 = skipped)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HOLD="$VIP4:9100/tcp"
PROBES=30

# probes OUT: PROBES new short connections to the hold VIP; the backend's name per line.
probes() { tcp_greetings "$PROBES" "$VIP4" 9100 "$1"; }

# send_line LINE: through the long-lived connection; waits for its echo.
send_line() {
	echo "$1" >&3
	wait_for 5 "echo of '$1' on the long-lived connection" grep -qx "$1" "$RUN_DIR/long.out"
}

# table_writes: "FLIPPED SWAPPED", the agent's selection-table changes so far (lbctl stats).
table_writes() {
	lbctl -o json stats >"$RUN_DIR/tw.json" || fail "lbctl stats failed"
	echo "$(json_field "$RUN_DIR/tw.json" table_writes.flipped) $(json_field "$RUN_DIR/tw.json" table_writes.swapped)"
}

test_drain() {
	# The long-lived connection: socat's stdin is a FIFO we hold open on fd 3 (closing it = FIN).
	mkfifo "$RUN_DIR/long.in"
	nsx cl socat - "TCP4:$VIP4:9100" <"$RUN_DIR/long.in" >"$RUN_DIR/long.out" 2>"$RUN_DIR/long.err" &
	local long_pid=$!
	E2E_BG_PIDS+=($long_pid)
	exec 3>"$RUN_DIR/long.in"
	wait_for 5 "the long-lived connection's greeting" test -s "$RUN_DIR/long.out"
	local owner addr
	owner=$(head -n 1 "$RUN_DIR/long.out")
	addr=$(be4 "${owner#b}")
	send_line ping-1
	log "long-lived connection served by $owner ($addr)"

	# The drain and the undrain keep the table's size: each changes it in place (a flip, no new
	# map), the agent having been up for over a second (README "Control plane at scale").
	local flips0 swaps0
	read -r flips0 swaps0 < <(table_writes)
	lbctl backend drain "$HOLD" "$addr" >"$RUN_DIR/drain.out" || fail "lbctl backend drain failed"
	cat "$RUN_DIR/drain.out"
	local flips swaps
	read -r flips swaps < <(table_writes)
	[ "$flips" = $((flips0 + 1)) ] && [ "$swaps" = "$swaps0" ] ||
		fail "drain: tables flipped $flips0 -> $flips, swapped $swaps0 -> $swaps; want one flip, no swap"
	backend_is "$HOLD" "$addr" state BACKEND_STATE_DRAINING || fail "$addr not shown draining"
	backend_is "$HOLD" "$addr" in_rotation false || fail "$addr still in rotation while draining"
	backend_is "$HOLD" "$addr" open_flows 1 ||
		fail "$addr: open flows $(backend_field "$HOLD" "$addr" open_flows), want 1 (the long-lived connection)"

	probes "$RUN_DIR/probes-drained.txt"
	log "new connections while $owner drains: $(sort "$RUN_DIR/probes-drained.txt" | uniq -c | tr -s ' \n' ' ')"
	grep -qx "$owner" "$RUN_DIR/probes-drained.txt" && fail "a new connection reached draining $owner"
	send_line ping-2
	log "the long-lived connection still works while $owner drains"

	# --wait with the connection open: times out, names the remaining count, exit 1.
	local rc=0
	lbctl backend drain "$HOLD" "$addr" --wait --timeout 1s >"$RUN_DIR/w1.out" 2>"$RUN_DIR/w1.err" || rc=$?
	[ "$rc" = 1 ] || fail "drain --wait --timeout 1s with an open flow: exit $rc, want 1"
	grep -q "still has 1 open flow after 1s" "$RUN_DIR/w1.err" || fail "drain --wait timeout message: $(cat "$RUN_DIR/w1.err")"
	log "drain --wait --timeout 1s: $(tail -n 1 "$RUN_DIR/w1.err")"

	# --wait returns once the connection closes.
	# 3>&-: the background lbctl must not inherit our end of the FIFO, or closing it sends no EOF.
	lbctl backend drain "$HOLD" "$addr" --wait --timeout 30s >"$RUN_DIR/w2.out" 2>"$RUN_DIR/w2.err" 3>&- &
	local wait_pid=$!
	sleep 1
	kill -0 "$wait_pid" 2>/dev/null || fail "drain --wait returned while the connection was open: $(cat "$RUN_DIR/w2.err")"
	send_line ping-3
	local t_close
	t_close=$(now_ms)
	exec 3>&-   # EOF on socat's stdin: it sends FIN, the server closes too
	rc=0
	wait "$wait_pid" || rc=$?
	local took=$(($(now_ms) - t_close))
	[ "$rc" = 0 ] || fail "drain --wait: exit $rc after the connection closed: $(cat "$RUN_DIR/w2.err")"
	log "drain --wait returned ${took} ms after the long-lived connection closed ($(grep drained "$RUN_DIR/w2.err"))"
	# The data plane decrements on the client's FIN; the poll is every 200 ms.
	[ "$took" -le 3000 ] || fail "drain --wait took ${took} ms after the close"
	wait "$long_pid" 2>/dev/null
	[ "$(sed -n 2,4p "$RUN_DIR/long.out" | tr '\n' ' ')" = "ping-1 ping-2 ping-3 " ] ||
		fail "long-lived connection transcript: $(tr '\n' ' ' <"$RUN_DIR/long.out")"

	lbctl backend undrain "$HOLD" "$addr" >/dev/null || fail "lbctl backend undrain failed"
	read -r flips swaps < <(table_writes)
	[ "$flips" = $((flips0 + 2)) ] && [ "$swaps" = "$swaps0" ] ||
		fail "undrain: tables flipped $flips0 -> $flips, swapped $swaps0 -> $swaps; want two flips in all, no swap"
	log "drain and undrain changed the table in place: $((flips - flips0)) flips, no swap"
	backend_is "$HOLD" "$addr" in_rotation true || fail "$addr not back in rotation after undrain"
	probes "$RUN_DIR/probes-undrained.txt"
	log "new connections after undrain: $(sort "$RUN_DIR/probes-undrained.txt" | uniq -c | tr -s ' \n' ' ')"
	# Maglev with 3 equal backends: P(none of 30 on the undrained one) = (2/3)^30, about 5e-6.
	grep -qx "$owner" "$RUN_DIR/probes-undrained.txt" || fail "no new connection reached undrained $owner"
}

e2e_init "${1:-}"
topo_create 3
cat >"$RUN_DIR/xlb.yaml" <<EOF
vips:
  - name: hold
    address: "$VIP4"
    port: 9100
    protocol: tcp
    backends:
      - {address: "$(be4 1)"}
      - {address: "$(be4 2)"}
      - {address: "$(be4 3)"}
EOF
agent_start "$RUN_DIR/xlb.yaml"
sleep 1.1  # past the agent's table flip guard (1 s from its load)
run test_drain
E2E_CURRENT_TEST=""
log "PASS: e2e drain"
