#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# e2e (issue 10, part 2): established connections survive a flood of spoofed flows. Three dsr VIPs
# share one 8,192-entry flow table: round_robin, least_conn and maglev, 60 long-lived TCP
# connections each (one echo every ECHO_MS, idle in between, longer than the flood's LRU turnover).
# Once they are protected, 50,000 spoofed tuples at ~20k packets/s, three packets each (SYN, ACK,
# ACK), spread over the three VIPs, then the same tuples again a few seconds later (two ACKs each).
# During the flood the backend set changes (b4 added to every VIP, the maglev VIP's weight-0 b3
# removed) and new connections are opened to every VIP. With protection on (the default 1 s) every
# connection must stay with the backend that accepted it, the flood must really have evicted LRU
# entries (flow_prot_hit > 0), every new connection must be answered and lbctl events must show the
# flood start and end. The control run (--flow-protect-after-ms 0, same schedule) must break
# round_robin and maglev connections: it shows what the test would catch.
# One agent run per protection setting: the VIPs share the flow table, which is what a flood
# attacks, and each algorithm still sees its own VIP's spoofed flows, connections and change.
# Usage: test-flood.sh BUILD_DIR   (root; exit 77 = skipped)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALGS=(round_robin least_conn maglev)
declare -A VIP_OF=([round_robin]=10.100.0.10 [least_conn]=10.100.0.11 [maglev]=10.100.0.12)
PORT=9100
NCONN=60
ECHO_MS=4000
FLOWS=50000
RATE=20000
TABLE=8192
FLOOD_GEN=""
declare -A BROKEN=()

# write_config: the three VIPs; the maglev VIP's b3 has weight 0 (no connections) so that removing
# it during the flood changes the set without touching a live connection.
write_config() {
	local alg
	{
		echo "vips:"
		for alg in "${ALGS[@]}"; do
			cat <<-EOT
				  - name: $alg
				    address: "${VIP_OF[$alg]}"
				    port: $PORT
				    protocol: tcp
				    forwarding: dsr
				    algorithm: $alg
				    backends:
				      - {address: "$(be4 1)"}
				      - {address: "$(be4 2)"}
				      - {address: "$(be4 3)", weight: $([ "$alg" = maglev ] && echo 0 || echo 1)}
			EOT
		done
	} >"$RUN_DIR/xlb.yaml"
}

# extra_vips: VIPs 2 and 3 on every backend's lo and routed by the client (lib.sh sets up VIP4).
extra_vips() {
	local alg i
	for alg in least_conn maglev; do
		nsx cl ip route add "${VIP_OF[$alg]}/32" via "$LB4" || fail "client route to ${VIP_OF[$alg]}"
		for i in 1 2 3 4; do
			nsx "b$i" ip addr add "${VIP_OF[$alg]}/32" dev lo || fail "${VIP_OF[$alg]} on b$i"
		done
	done
}

# stats_json: lbctl -o json stats into $RUN_DIR/stats.json (read by gstat and flow_table).
stats_json() { lbctl -o json stats >"$RUN_DIR/stats.json" || fail "lbctl stats"; }

# gstat NAME: a global counter of the last stats_json.
gstat() {
	python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(next((int(c.get("value", 0)) for c in s.get("global", []) if c["name"] == sys.argv[2]), 0))' \
		"$RUN_DIR/stats.json" "$1"
}

# flow_table: the Stats.flow_table gauges of the last stats_json on one line.
flow_table() {
	python3 -c '
import json, sys
f = json.load(open(sys.argv[1])).get("flow_table", {})
fmt = lambda v: f"{v:.1f}" if isinstance(v, float) else v
print(" ".join(f"{k}={fmt(v)}" for k, v in sorted(f.items())))' "$RUN_DIR/stats.json"
}

# flood PASS FLAGS: the spoofed tuples 0..FLOWS-1 (flow i to VIP i % 3), each with FLAGS' packets.
flood() {
	local mac vips
	mac=$(lb_mac) || exit 1
	vips=$(IFS=,; echo "${VIP_OF[*]}")
	nsx cl timeout 60 "$FLOOD_GEN" --ifname "$(ifname cl)" --dst-mac "$mac" --vip "$vips" \
		--dport "$PORT" --flows "$FLOWS" --rate "$RATE" --flags "$2" --max-seconds 30 \
		>"$RUN_DIR/flood-$1.out" 2>&1 || fail "flood generator ($1): $(cat "$RUN_DIR/flood-$1.out")"
}

# probes ALG N TAG: N new short connections to ALG's VIP (lib.sh greet_probes) into
# probes-TAG-ALG.txt.
probes() { greet_probes "${VIP_OF[$1]}" "$PORT" "$2" "$RUN_DIR/probes-$3-$1.txt"; }

# probe_summary TAG ALG: "answered/N (backends) greeting median/max ms".
probe_summary() { greet_summary "$RUN_DIR/probes-$1-$2.txt"; }

# change_backends: b4 joins every VIP; the maglev VIP loses its weight-0 b3 (its table changes).
change_backends() {
	local alg
	for alg in "${ALGS[@]}"; do
		lbctl backend add "${VIP_OF[$alg]}:$PORT/tcp" "$(be4 4)" >/dev/null || fail "add b4 to $alg"
	done
	lbctl backend del "${VIP_OF[maglev]}:$PORT/tcp" "$(be4 3)" >/dev/null || fail "del b3 from maglev"
}

# flood_events: "KIND at +Ns [(peak R/s)]" per flood event, relative to the first pass's start (ms in $1).
flood_events() {
	python3 -c '
import json, sys
t0, out = int(sys.argv[2]), []
for l in open(sys.argv[1]):
    e = json.loads(l)
    kind = e.get("kind", "")
    if "FLOOD" in kind:
        dt = (int(e["time_unix_ms"]) - t0) / 1000
        peak = e.get("message", "").partition("(peak ")[2].partition(")")[0]
        out.append(f"{kind[5:].lower()} at +{dt:.1f}s" + (f" (peak {peak})" if peak else ""))
print(", ".join(out))' "$RUN_DIR/events.jsonl" "$1"
}

# flood_kinds: the flood events' kinds in order, one per line.
flood_kinds() { grep -o 'KIND_FLOOD_[A-Z]*' "$RUN_DIR/events.jsonl"; }

# flood_over: at least one flood seen and the last flood event is its end.
flood_over() { [ "$(flood_kinds | tail -n 1)" = KIND_FLOOD_ENDED ]; }

# attack PROTECT_AFTER_MS: one agent run (fresh pins, state and flow table) with the whole schedule.
# Sets BROKEN[alg] to the number of long-lived connections of each VIP that broke.
attack() {
	local protect=$1 alg
	write_config
	rm -rf "$PIN_DIR" "$RUN_DIR/state" "$RUN_DIR"/clients-* "$RUN_DIR/clients.stop" "$RUN_DIR"/probes-* "$RUN_DIR/events.jsonl"
	E2E_FLOW_TABLE_SIZE=$TABLE agent_start "$RUN_DIR/xlb.yaml" --reconcile-interval 1 \
		--flow-protect-after-ms "$protect"
	# The binaries themselves in the background (not the lbctl/nsx functions), so $! is the process.
	"$LBCTL_BIN" --server "unix://$SOCK" -o json events >"$RUN_DIR/events.jsonl" \
		2>"$RUN_DIR/events.err" &
	local events_pid=$!
	E2E_BG_PIDS+=($events_pid)
	local -A clients_pid=()
	local -a probe_pids=()
	for alg in "${ALGS[@]}"; do
		nsenter --net="/run/netns/${P}cl" timeout 120 python3 "$E2E_SRC/tests/e2e/hold_clients.py" \
			"${VIP_OF[$alg]}" "$PORT" "$NCONN" "$ECHO_MS" 3000 "$RUN_DIR/clients-$alg.status" \
			"$RUN_DIR/clients.stop" "$RUN_DIR/clients-$alg.out" >"$RUN_DIR/clients-$alg.log" 2>&1 &
		clients_pid[$alg]=$!
		E2E_BG_PIDS+=($!)
	done
	for alg in "${ALGS[@]}"; do
		wait_for 20 "$NCONN $alg connections greeted" grep -qx ready "$RUN_DIR/clients-$alg.status"
		log "$alg: $NCONN connections: $(grep -v ready "$RUN_DIR/clients-$alg.status" |
			awk '{print $2}' | sort | uniq -c | tr -s ' \n' ' ')"
	done
	# The second echo (ECHO_MS after ready) finds every flow old enough to be protected; meanwhile
	# new connections without a flood, the baseline of the ones opened during it.
	local t_ready
	t_ready=$(now_ms)
	for alg in "${ALGS[@]}"; do
		probes "$alg" 20 quiet &
		probe_pids+=($!)
	done
	wait "${probe_pids[@]}"
	probe_pids=()
	for alg in "${ALGS[@]}"; do
		log "$alg: new connections before the flood: $(probe_summary quiet "$alg")"
	done
	local left=$((ECHO_MS + 1000 - ($(now_ms) - t_ready)))
	[ "$left" -le 0 ] || sleep "$((left / 1000)).$(printf %03d $((left % 1000)))"
	stats_json
	local protected_before hits_before
	protected_before=$(gstat flow_protect)
	hits_before=$(gstat flow_prot_hit)
	log "before the flood: flow_protect=$protected_before; $(flow_table)"
	if [ "$protect" != 0 ] && [ "$protected_before" != $((3 * NCONN)) ]; then
		fail "$protected_before of $((3 * NCONN)) connections protected before the flood"
	fi

	local t0 t1 t2 t3 tp0 tp1
	t0=$(now_ms)
	flood 1 SAA &
	local flood_pid=$!
	sleep 1.5
	change_backends
	log "backend set changed during the flood: b4 added to every VIP, b3 (weight 0) removed from maglev"
	tp0=$(now_ms)
	for alg in "${ALGS[@]}"; do
		probes "$alg" 20 flood &
		probe_pids+=($!)
	done
	wait "${probe_pids[@]}"
	tp1=$(now_ms)
	wait "$flood_pid" || fail "flood pass 1"
	t1=$(now_ms)
	log "flood 1 (+0.0s..+$(((t1 - t0) / 1000)).$((((t1 - t0) % 1000) / 100))s): $(cat "$RUN_DIR/flood-1.out")"
	stats_json
	log "after pass 1: $(flow_table)"
	for alg in "${ALGS[@]}"; do
		local got
		got=$(grep -c . "$RUN_DIR/probes-flood-$alg.txt")
		log "$alg: new connections during the flood (+$(((tp0 - t0) / 100))..+$(((tp1 - t0) / 100)) ds):" \
			"$(probe_summary flood "$alg")"
		[ "$got" = 20 ] || fail "$alg: only $got of 20 new connections during the flood were answered"
	done
	sleep 3
	t2=$(now_ms)
	flood 2 AA
	t3=$(now_ms)
	log "flood 2 (+$(((t2 - t0) / 1000))s..+$(((t3 - t0) / 1000))s): $(cat "$RUN_DIR/flood-2.out")"
	stats_json
	log "after pass 2: $(flow_table)"
	# Every connection echoes at least once more after the flood.
	sleep "$(((ECHO_MS + 1000) / 1000))"
	local deadline=$((SECONDS + 10))
	until flood_over; do
		[ "$SECONDS" -lt "$deadline" ] || fail "no flood-ended event after the last flood-started" \
			"within 10 s; flood events: $(flood_kinds | tr '\n' ' ')lbctl events" \
			"$(kill -0 "$events_pid" 2>/dev/null && echo running || echo exited):" \
			"$(cat "$RUN_DIR/events.err")"
		sleep 0.1
	done
	touch "$RUN_DIR/clients.stop"
	for alg in "${ALGS[@]}"; do
		wait "${clients_pid[$alg]}"
		BROKEN[$alg]=$(grep -v '^#' "$RUN_DIR/clients-$alg.out" | grep -vc ' OK$')
		log "$alg: ${BROKEN[$alg]} of $NCONN connections broken ($(grep '^#' "$RUN_DIR/clients-$alg.out" | tr -d '#'))"
		grep -v '^#' "$RUN_DIR/clients-$alg.out" | grep -v ' OK$' | head -n 2
	done
	stats_json
	log "protect after ${protect} ms: protected hits $(($(gstat flow_prot_hit) - hits_before));" \
		"flow_protect=$(gstat flow_protect) flow_protect_full=$(gstat flow_protect_full)" \
		"flow_new=$(gstat flow_new) flow_resteer=$(gstat flow_resteer)"
	log "flood events: $(flood_events "$t0")"
	kill -TERM "$events_pid" 2>/dev/null
	wait "$events_pid" 2>/dev/null
	[ "$(gstat flow_prot_hit)" -gt "$hits_before" ] || [ "$protect" = 0 ] ||
		fail "no protected hit: the flood did not evict any connection's LRU entry"
	# Each pass starts a flood (detected within a few reconcile rounds) that ends after it.
	[ "$(flood_kinds | head -n 1)" = KIND_FLOOD_STARTED ] || fail "no flood-started event first"
	agent_stop
}

test_protected() {
	attack 1000
	local alg bad=""
	for alg in "${ALGS[@]}"; do
		[ "${BROKEN[$alg]}" = 0 ] || bad+=" $alg=${BROKEN[$alg]}"
	done
	[ -z "$bad" ] || fail "established connections broken under the flood (of $NCONN each):$bad"
}

# Protection off, same schedule: the round_robin and maglev (set changed) connections whose LRU
# entries the flood evicted are balanced again (least_conn too, but its choice depends on counts).
test_unprotected_control() {
	attack 0
	[ "${BROKEN[round_robin]}" -gt 0 ] ||
		fail "protection off: no round_robin connection broke, so the flood would not show a regression"
	[ "${BROKEN[maglev]}" -gt 0 ] ||
		fail "protection off: no maglev connection broke across the backend-set change"
	log "control: without protection the flood broke round_robin ${BROKEN[round_robin]}," \
		"least_conn ${BROKEN[least_conn]}, maglev ${BROKEN[maglev]} of $NCONN connections each"
}

e2e_init "$@"
FLOOD_GEN=$BUILD/tests/e2e/xlb-e2e-flood-gen
[ -x "$FLOOD_GEN" ] || fail "$FLOOD_GEN not built (run make build)"
topo_create 4
extra_vips
run test_protected
run test_unprotected_control
log "PASS"
