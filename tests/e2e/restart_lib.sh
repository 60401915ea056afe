#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Helpers shared by test-restart.sh and test-migrate.sh: agent runs with a given binary, the pinned
# link, long-lived connections through a hold VIP and the checks that nothing broke. Source after
# lib.sh.

HOLD="$VIP4:9100/tcp"
NCONN=50
PROBES=20
AGENT_RUNS=0

# agent_run BINARY [flags]: like lib.sh's agent_start but with the given binary and without
# --detach-on-exit (the production default: the program stays attached when the agent stops).
# Each run logs to its own file; agent.log (shown by the cleanup diagnostics) points to the last.
# AGENT_PREFIX, when set, is a command that execs the agent (e.g. prlimit with a lower limit).
agent_run() {
	local bin=$1
	shift
	AGENT_RUNS=$((AGENT_RUNS + 1))
	# Agents that persist their state keep it in the run dir, shared by this run's agents only.
	# (--help read whole first: grep -q would close the pipe early, and under pipefail the agent's
	# SIGPIPE made this false, so every agent shared the host's /var/lib/xlb.)
	local help
	help=$("$bin" --help 2>/dev/null || true)
	if [[ $help == *--state-dir* ]]; then
		set -- --state-dir "$RUN_DIR/state" "$@"
	fi
	local alog="$RUN_DIR/agent-$AGENT_RUNS.log"
	ln -sf "$alog" "$RUN_DIR/agent.log"
	# nsenter itself (not the nsx function, which would run in a forked subshell) so that $! is the
	# agent: nsenter --net execs it, and the signals below reach the agent, not a wrapper shell.
	# shellcheck disable=SC2086 # AGENT_PREFIX is words
	nsenter --net="/run/netns/${P}lb" ${AGENT_PREFIX:-} "$bin" --config "$RUN_DIR/xlb.yaml" --interface "$(ifname lb)" --listen "unix://$SOCK" \
		--pin-dir "$PIN_DIR" --flow-table-size 65536 "$@" >"$alog" 2>&1 &
	AGENT_PID=$!
	local deadline=$((SECONDS + 20))
	until grep -qs "xlb-agent ready" "$alog"; do
		kill -0 "$AGENT_PID" 2>/dev/null || {
			AGENT_PID=""
			fail "$(basename "$bin") exited during startup: $(tail -n 20 "$alog")"
		}
		[ "$SECONDS" -lt "$deadline" ] || fail "$(basename "$bin") not ready after 20s"
		sleep 0.1
	done
	[ "$(readlink "/proc/$AGENT_PID/exe")" = "$(readlink -f "$bin")" ] ||
		fail "pid $AGENT_PID is $(readlink "/proc/$AGENT_PID/exe"), not the agent"
	log "$(basename "$bin") ready (pid $AGENT_PID, run $AGENT_RUNS)"
}

# agent_kill SIGNAL: sends it and waits (bounded) for the agent to exit.
agent_kill() {
	kill "-$1" "$AGENT_PID" 2>/dev/null || fail "agent $AGENT_PID already gone"
	local i
	for i in $(seq 1 100); do
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$AGENT_PID" 2>/dev/null && fail "agent did not exit within 10 s of SIG$1"
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=""
}

# link_field FIELD: a field of the pinned XDP link (bpftool JSON: id, prog_id, ifindex ...).
link_field() {
	bpftool -j link show pinned "$PIN_DIR/link_$(ifname lb)" 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# xdp_prog_id: the XDP program attached to the LB's segment veth per the kernel (0 = none).
xdp_prog_id() {
	nsx lb ip -j -d link show dev "$(ifname lb)" | python3 -c '
import json, sys
xdp = json.load(sys.stdin)[0].get("xdp") or {}
print(xdp.get("prog", {}).get("id") or xdp.get("attached", [{}])[0].get("prog", {}).get("id") or 0)'
}

# build_tag PROG_ID: xlb_test_build_tag from the program's .rodata ("none" for the production
# build, whose .rodata holds only runtime knobs such as xlb_protect_after).
build_tag() {
	local m
	for m in $(bpftool -j prog show id "$1" | python3 -c 'import json, sys; print(*json.load(sys.stdin).get("map_ids", []))'); do
		bpftool -j map show id "$m" | grep -q '"name":"[^"]*\.rodata"' || continue
		bpftool -j map dump id "$m" | python3 -c '
import json, sys
def find(v):
    if isinstance(v, dict):
        if v.get("name") == "xlb_test_build_tag" or "xlb_test_build_tag" in v:
            return v.get("value", v.get("xlb_test_build_tag"))
        for x in v.values():
            r = find(x)
            if r is not None:
                return r
    if isinstance(v, list):
        for x in v:
            r = find(x)
            if r is not None:
                return r
    return None
print(find(json.load(sys.stdin)) or "none")'
		return
	done
	echo none
}

# probes OUT: PROBES new short connections to the hold VIP; the backend's name per line; all must
# answer.
probes() {
	seq 1 "$PROBES" | nsx cl timeout 30 xargs -P 4 -I{} timeout 5 bash -c \
		"exec 3<>/dev/tcp/$VIP4/9100 && head -n 1 <&3; true" 2>/dev/null |
		grep -E '^b[0-9]+$' >"$1"
	[ "$(grep -c . "$1")" = "$PROBES" ] ||
		fail "only $(grep -c . "$1") of $PROBES new connections answered ($2)"
	log "$PROBES new connections $2: $(sort "$1" | uniq -c | tr -s ' \n' ' ')"
}

# snapshot NAME: lbctl stats and backend list (JSON) into $RUN_DIR/NAME.{stats,backends}.json.
snapshot() {
	lbctl -o json stats >"$RUN_DIR/$1.stats.json" || fail "lbctl stats ($1)"
	lbctl -o json backend list "$HOLD" >"$RUN_DIR/$1.backends.json" || fail "lbctl backend list ($1)"
}

# check_after BEFORE AFTER: every counter of BEFORE is still there in AFTER and did not go back, rx
# grew; the backends (address, weight, state) are the same; the open flows of the hold VIP still
# count the NCONN connections (the flow table survived).
check_after() {
	python3 - "$RUN_DIR/$1" "$RUN_DIR/$2" "$NCONN" <<'EOF' || fail "state after the restart ($1 -> $2)"
import json, sys
before, after, nconn = sys.argv[1], sys.argv[2], int(sys.argv[3])

def flat(v, path, out):
    if isinstance(v, dict):
        label = v.get("name") or v.get("address")
        if "vip" in v and isinstance(v["vip"], dict):
            label = json.dumps(v["vip"], sort_keys=True)
        for k, x in v.items():
            if k in ("packets", "bytes", "new_flows", "value") and not isinstance(x, (dict, list)):
                out[f"{path}/{label or ''}/{k}"] = int(x)
            elif isinstance(x, (dict, list)):
                flat(x, f"{path}/{label or ''}/{k}", out)
    elif isinstance(v, list):
        for x in v:
            flat(x, path, out)
    return out

sb = flat(json.load(open(before + ".stats.json")), "", {})
sa = flat(json.load(open(after + ".stats.json")), "", {})
bad = [f"{k}: {sb[k]} -> {sa.get(k)}" for k in sb if k not in sa or sa[k] < sb[k]]
grew = [k for k in sb if k in sa and sa[k] > sb[k]]
rx = [k for k in sb if k.endswith("/rx/value")]
if bad:
    print("counters went back or vanished:", *bad, sep="\n  ")
    sys.exit(1)
if not rx or any(sa[k] <= sb[k] for k in rx):
    print("the rx counter did not grow:", [(k, sb[k], sa.get(k)) for k in rx])
    sys.exit(1)

def backends(path):
    return sorted((b["address"], b.get("weight", 0), b.get("state", ""))
                  for b in json.load(open(path))["vip"].get("backends", []))

bb, ba = backends(before + ".backends.json"), backends(after + ".backends.json")
if bb != ba:
    print("backends changed:", bb, "->", ba)
    sys.exit(1)
opened = sum(int(b.get("open_flows", 0)) for b in json.load(open(after + ".backends.json"))["vip"]["backends"])
if opened < nconn:
    print(f"open flows of the hold VIP after the restart: {opened}, want >= {nconn}")
    sys.exit(1)
print(f"{len(sb)} counters kept (none went back, {len(grew)} grew), {len(ba)} backends unchanged, "
      f"{opened} open flows")
EOF
}

# clients_alive: the long-lived clients have not exited (they exit only on STOP or all failing).
clients_alive() {
	kill -0 "$CLIENTS_PID" 2>/dev/null || fail "the long-lived clients exited early: $(cat "$RUN_DIR/clients.out" 2>/dev/null | grep -v ' OK$' | head -n 5)"
}

# check_owners: each connection (by the client's local port) is established on the backend that
# greeted it — nothing was re-steered to another backend.
check_owners() {
	local i
	: >"$RUN_DIR/owners.now"
	for i in 1 2 3; do
		nsx "b$i" ss -Htn state established "sport = :9100" | awk -v b="b$i" '{
			n = split($4, a, ":"); print a[n], b }' >>"$RUN_DIR/owners.now"
	done
	python3 - "$RUN_DIR/clients.status" "$RUN_DIR/owners.now" <<'EOF' || fail "connections moved between backends"
import sys
want = dict(l.split() for l in open(sys.argv[1]) if l.strip() and l.strip() != "ready")
have = dict(l.split() for l in open(sys.argv[2]) if l.strip())
bad = [f"port {p}: greeted by {b}, now on {have.get(p, 'no backend')}" for p, b in want.items()
       if have.get(p) != b]
if bad:
    print(*bad[:10], sep="\n")
    sys.exit(1)
print(f"{len(want)} connections on their original backends")
EOF
}

# hold_setup: three backends and the hold VIP (dsr), the first agent run with $1 (default: the
# production agent), then NCONN long-lived connections (a line each every 100 ms; an echo later than
# 1.5 s is a stall) and the `before` snapshot. Sets LINK_ID, PROG_ID, CLIENTS_PID, T_CLIENTS.
hold_setup() {
	topo_create 3
	cat >"$RUN_DIR/xlb.yaml" <<EOT
vips:
  - name: hold
    address: "$VIP4"
    port: 9100
    protocol: tcp
    forwarding: dsr
    backends:
      - {address: "$(be4 1)"}
      - {address: "$(be4 2)"}
      - {address: "$(be4 3)"}
EOT
	agent_run "${1:-$AGENT_BIN}"
	LINK_ID=$(link_field id)
	PROG_ID=$(link_field prog_id)
	[ -n "$LINK_ID" ] && [ "$(xdp_prog_id)" = "$PROG_ID" ] || fail "no pinned XDP link after the first start"
	log "pinned XDP link $LINK_ID runs program $PROG_ID"
	nsx cl python3 "$E2E_SRC/tests/e2e/hold_clients.py" "$VIP4" 9100 "$NCONN" 100 1500 \
		"$RUN_DIR/clients.status" "$RUN_DIR/clients.stop" "$RUN_DIR/clients.out" \
		>"$RUN_DIR/clients.log" 2>&1 &
	CLIENTS_PID=$!
	E2E_BG_PIDS+=($CLIENTS_PID)
	T_CLIENTS=$SECONDS
	wait_for 15 "$NCONN long-lived connections greeted" grep -qx ready "$RUN_DIR/clients.status"
	log "$NCONN long-lived connections: $(grep -v ready "$RUN_DIR/clients.status" | awk '{print $2}' | sort | uniq -c | tr -s ' \n' ' ')"
	sleep 1
	snapshot before
}

# clients_finish: ends the long-lived connections; every one of them must have stayed healthy and
# streaming throughout.
clients_finish() {
	touch "$RUN_DIR/clients.stop"
	local rc=0
	wait "$CLIENTS_PID" || rc=$?
	CLIENTS_PID=""
	log "long-lived connections: $(grep -c ' OK$' "$RUN_DIR/clients.out") of $NCONN OK," \
		"$(awk '!/^#/ {s += $3} END {print s}' "$RUN_DIR/clients.out") lines echoed, $(tail -n 1 "$RUN_DIR/clients.out" | tr -d '#')"
	[ "$rc" = 0 ] || fail "broken long-lived connections: $(grep -v ' OK$' "$RUN_DIR/clients.out" | grep -v '^#' | head -n 5)"
	# Lines every 100 ms over the whole run: a connection that stopped echoing for long would fail
	# on its stall limit; this checks it really streamed (at least half the expected lines).
	local elapsed_lines=$(((SECONDS - T_CLIENTS) * 10 / 2))
	awk -v min="$elapsed_lines" '!/^#/ && $3 < min {bad = 1; print "connection " $1 " echoed only " $3 " lines"} END {exit bad}' \
		"$RUN_DIR/clients.out" || fail "a long-lived connection did not stream"
}
