#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# e2e (issue 10, part 2): established connections survive a flood of spoofed flows. 60 long-lived
# TCP connections (one echo every 8 s, idle in between) through a dsr VIP with an 8,192-entry flow
# table; once they are protected, 50,000 spoofed tuples at ~20k packets/s, three packets each (SYN,
# ACK, ACK), then the same tuples again a few seconds later (two ACKs each). With round_robin,
# least_conn, and maglev with a backend-set change during the flood (b4 added, b3 removed), every
# connection must stay with the backend that accepted it, the flood must really have evicted LRU
# entries (flow_prot_hit > 0), new connections during the flood must work, and lbctl events must
# show the flood start and end. A control run with protection off (--flow-protect-after-ms 0,
# round_robin) must break connections: it shows what the test would catch.
# Usage: test-flood.sh BUILD_DIR   (root; exit 77 = skipped)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HOLD="$VIP4:9100/tcp"
NCONN=60
FLOWS=50000
RATE=20000
FLOOD_GEN=""

write_config() {
	local algorithm=$1 b3_weight=$2
	cat >"$RUN_DIR/xlb.yaml" <<-EOT
		vips:
		  - name: hold
		    address: "$VIP4"
		    port: 9100
		    protocol: tcp
		    forwarding: dsr
		    algorithm: $algorithm
		    backends:
		      - {address: "$(be4 1)"}
		      - {address: "$(be4 2)"}
		      - {address: "$(be4 3)", weight: $b3_weight}
	EOT
}

# global_stat NAME: a global counter from lbctl stats.
global_stat() {
	lbctl -o json stats | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(next((int(c.get("value", 0)) for c in s.get("global", []) if c["name"] == sys.argv[1]), 0))' "$1"
}

# flow_table: the Stats.flow_table gauges on one line.
flow_table() {
	lbctl -o json stats | python3 -c '
import json, sys
f = json.load(sys.stdin).get("flow_table", {})
print(" ".join(f"{k}={v}" for k, v in sorted(f.items())))'
}

# flood PASS FLAGS: the spoofed tuples 0..FLOWS-1 from the client, each with the packets of FLAGS.
flood() {
	local mac
	mac=$(nsx lb cat "/sys/class/net/$(ifname lb)/address")
	nsx cl timeout 60 "$FLOOD_GEN" --ifname "$(ifname cl)" --dst-mac "$mac" --vip "$VIP4" \
		--dport 9100 --flows "$FLOWS" --rate "$RATE" --flags "$2" --max-seconds 30 \
		>"$RUN_DIR/flood-$1.out" 2>&1 || fail "flood generator ($1): $(cat "$RUN_DIR/flood-$1.out")"
	log "flood $1: $(cat "$RUN_DIR/flood-$1.out")"
}

# probes N: N new short connections during the flood; all must be greeted.
probes() {
	seq 1 "$1" | nsx cl timeout 30 xargs -P 4 -I{} timeout 5 bash -c \
		"exec 3<>/dev/tcp/$VIP4/9100 && head -n 1 <&3; true" 2>/dev/null |
		grep -E '^b[0-9]+$' >"$RUN_DIR/probes.txt"
	local got
	got=$(grep -c . "$RUN_DIR/probes.txt")
	log "new connections during the flood: $got of $1 answered ($(sort "$RUN_DIR/probes.txt" | uniq -c | tr -s ' \n' ' '))"
	[ "$got" = "$1" ] || fail "only $got of $1 new connections during the flood were answered"
}

# scenario ALGORITHM PROTECT_AFTER_MS CHANGE(yes|no): one run on a fresh agent and flow table.
# Sets BROKEN to the number of long-lived connections that broke.
scenario() {
	local algorithm=$1 protect=$2 change=$3
	write_config "$algorithm" "$([ "$change" = yes ] && echo 0 || echo 1)"
	rm -rf "$PIN_DIR" "$RUN_DIR/clients."* "$RUN_DIR/events.jsonl"
	agent_start "$RUN_DIR/xlb.yaml" --flow-table-size 8192 --reconcile-interval 1 \
		--flow-protect-after-ms "$protect"
	lbctl -o json events >"$RUN_DIR/events.jsonl" 2>"$RUN_DIR/events.err" &
	local events_pid=$!
	E2E_BG_PIDS+=($events_pid)

	nsx cl timeout 120 python3 "$E2E_SRC/tests/e2e/hold_clients.py" "$VIP4" 9100 "$NCONN" 8000 3000 \
		"$RUN_DIR/clients.status" "$RUN_DIR/clients.stop" "$RUN_DIR/clients.out" \
		>"$RUN_DIR/clients.log" 2>&1 &
	local clients_pid=$!
	E2E_BG_PIDS+=($clients_pid)
	wait_for 15 "$NCONN long-lived connections greeted" grep -qx ready "$RUN_DIR/clients.status"
	log "$NCONN connections: $(grep -v ready "$RUN_DIR/clients.status" | awk '{print $2}' | sort | uniq -c | tr -s ' \n' ' ')"
	# The second echo (8 s) is the packet that finds each flow old enough to be protected.
	sleep 9.5
	local protected_before hits_before
	protected_before=$(global_stat flow_protect)
	hits_before=$(global_stat flow_prot_hit)
	log "before the flood: flow_protect=$protected_before; $(flow_table)"

	flood 1 SAA &
	local flood_pid=$!
	sleep 2
	probes 20
	if [ "$change" = yes ]; then
		lbctl backend add "$HOLD" "$(be4 4)" >/dev/null || fail "lbctl backend add b4"
		lbctl backend del "$HOLD" "$(be4 3)" >/dev/null || fail "lbctl backend del b3"
		log "backend set changed during the flood: b4 added, b3 removed"
	fi
	wait "$flood_pid" || fail "flood pass 1"
	log "after pass 1: $(flow_table)"
	sleep 3
	flood 2 AA
	log "after pass 2: $(flow_table)"
	# Every connection echoes at least once more after the flood (every 8 s).
	sleep 9
	wait_for 15 "the flood-ended event" grep -q KIND_FLOOD_ENDED "$RUN_DIR/events.jsonl"
	touch "$RUN_DIR/clients.stop"
	wait "$clients_pid"
	BROKEN=$(grep -v '^#' "$RUN_DIR/clients.out" | grep -vc ' OK$')
	local hits
	hits=$(($(global_stat flow_prot_hit) - hits_before))
	log "$algorithm (protect after ${protect} ms${change:+, change $change}): $BROKEN of $NCONN connections broken;" \
		"protected hits $hits; flow_protect=$(global_stat flow_protect) flow_protect_full=$(global_stat flow_protect_full) flow_new=$(global_stat flow_new)"
	grep -v '^#' "$RUN_DIR/clients.out" | grep -v ' OK$' | head -n 3
	log "events: $(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if "FLOOD" in e.get("kind", ""): print(e["kind"], e.get("message", ""), end="; ")' "$RUN_DIR/events.jsonl")"
	kill -TERM "$events_pid" 2>/dev/null
	wait "$events_pid" 2>/dev/null
	if [ "$protect" != 0 ]; then
		[ "$hits" -gt 0 ] || fail "no protected hit: the flood did not evict any connection's LRU entry"
		grep -q KIND_FLOOD_STARTED "$RUN_DIR/events.jsonl" || fail "no flood-started event"
	fi
	agent_stop
}

test_protected() {
	scenario "$1" 1000 "$2"
	[ "$BROKEN" = 0 ] || fail "$BROKEN of $NCONN established connections broken under the flood ($1)"
}

test_unprotected_control() {
	scenario round_robin 0 no
	[ "$BROKEN" -gt 0 ] ||
		fail "protection off: no connection broke, so the flood would not show a regression either"
	log "control: without protection the same flood broke $BROKEN of $NCONN connections"
}

e2e_init "$@"
FLOOD_GEN=$BUILD/tests/e2e/xlb-e2e-flood-gen
[ -x "$FLOOD_GEN" ] || fail "$FLOOD_GEN not built (run make build)"
topo_create 4
run test_protected round_robin no
run test_protected least_conn no
run test_protected maglev yes
run test_unprotected_control
log "PASS"
