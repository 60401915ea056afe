#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# e2e (issue 4): upgrade across an incompatible map layout. 50 long-lived TCP connections stream
# through the balancer (dsr, production agent, maps in v5) while the agent is stopped and replaced by
# xlb-agent-layout-test (abi.h XLB_TEST_LAYOUT 6: ABI v6, xlb_flow_value 24->32 bytes, xlb_nexthop
# 32->40 per CPU, xlb_stats one entry more, xlb_addr_key members changed at the same size). The
# new agent migrates the pinned v5 maps into v6 and switches the pinned link: no connection breaks
# or stalls, every connection's flow entry is in the new table (so each stays on its backend by its
# entry, not by chance), counters continue, the log names every map with what happened to it and
# the v5 pins are gone. A restart of the same build then reuses v6 without migrating.
# Usage: test-migrate.sh BUILD_DIR   (root; exit 77 = skipped)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/restart_lib.sh"

ARROW=$'\u2192'

# map_info PIN FIELD: a field of a pinned map (bpftool JSON: bytes_value, max_entries, id ...).
map_info() {
	bpftool -j map show pinned "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}

# prog_maps PROG_ID: "name id" of each map of the program except its internal (.rodata ...) maps.
prog_maps() {
	python3 - "$1" <<'EOF'
import json, subprocess, sys
prog = json.loads(subprocess.check_output(["bpftool", "-j", "prog", "show", "id", sys.argv[1]]))
maps = {m["id"]: m["name"] for m in json.loads(subprocess.check_output(["bpftool", "-j", "map", "show"]))}
for i in prog.get("map_ids", []):
    if "." not in maps.get(i, "."):
        print(maps[i], i)
EOF
}

# log_line MAP: sets LINE to the agent's migration line for MAP (exactly one is expected; the
# "planned" lines logged before the load are not it).
log_line() {
	local n
	LINE=$(grep -o "migrate: $1 v5${ARROW}v6: .*" "$RUN_DIR/agent.log" | grep -v "v6: planned ")
	n=$(grep -c . <<<"$LINE")
	[ "$n" = 1 ] || fail "want one migration line for $1, found $n: $(grep 'migrate:' "$RUN_DIR/agent.log")"
}

# check_flows_migrated PIN: every held connection (client port from clients.status) has its flow
# entry in the table pinned at PIN, recorded on a backend, and the table has the new value size.
check_flows_migrated() {
	bpftool -j map dump pinned "$1" >"$RUN_DIR/flows.json" || fail "dump $1"
	python3 - "$RUN_DIR/flows.json" "$RUN_DIR/clients.status" "$NCONN" <<'EOF' || fail "flow entries were not migrated"
import json, sys
entries = json.load(open(sys.argv[1]))
want = {int(l.split()[0]) for l in open(sys.argv[2]) if l.strip() and l.strip() != "ready"}
nconn = int(sys.argv[3])

def raw(v):
    return bytes(int(x, 16) for x in v)

have = {}
for e in entries:
    k, v = raw(e["key"]), raw(e["value"])
    if len(v) != 32:
        print(f"flow value of {len(v)} bytes, want 32 (the test layout)")
        sys.exit(1)
    dport = int.from_bytes(k[34:36], "big")
    if dport == 9100 and k[36] == 6:
        have[int.from_bytes(k[32:34], "big")] = int.from_bytes(v[24:32], "little")
missing = sorted(want - have.keys())
if len(want) < nconn or missing:
    print(f"{len(want)} held connections, {len(missing)} without a flow entry: {missing[:10]}")
    sys.exit(1)
if any(have[p] != 0 for p in want):
    print("created_ns (added member) is not zero in a migrated entry")
    sys.exit(1)
print(f"{len(want)} held connections all have their flow entry in the new table "
      f"({len(entries)} entries, 32-byte values, added member zero)")
EOF
}

test_migrate() {
	# The old program keeps forwarding on the v5 maps while no agent runs.
	agent_kill TERM
	[ "$(xdp_prog_id)" = "$PROG_ID" ] || fail "SIGTERM detached the program"
	probes "$RUN_DIR/probes-down.txt" "while no agent runs (v5 program)"
	clients_alive
	[ "$(map_info "$PIN_DIR/v5/xlb_flows" bytes_value)" = 24 ] || fail "v5 flow table value size is not 24"
	local old_prog=$PROG_ID
	agent_run "$LAYOUT_BIN"

	local link prog
	link=$(link_field id)
	prog=$(link_field prog_id)
	[ "$link" = "$LINK_ID" ] || fail "link id $link, want $LINK_ID (the pinned link must be updated)"
	[ "$prog" != "$old_prog" ] || fail "the link still runs program $old_prog"
	[ "$(xdp_prog_id)" = "$prog" ] || fail "the interface runs $(xdp_prog_id), the link says $prog"
	[ "$(build_tag "$prog")" = 3 ] || fail "program $prog has build tag '$(build_tag "$prog")', want 3"
	PROG_ID=$prog
	log "link $link kept, program $old_prog -> $prog (layout build)"

	# One line per map of the new program, saying what happened to it.
	local name id
	log_line xlb_flows
	[[ "$LINE" =~ ([0-9]+)\ entries\ migrated\ field-wise\ \(value\ size\ 24${ARROW}32\;\ added:\ created_ns\;\ dropped:\ none\) ]] ||
		fail "xlb_flows: $LINE"
	[ "${BASH_REMATCH[1]}" -ge "$NCONN" ] || fail "only ${BASH_REMATCH[1]} flow entries migrated, want >= $NCONN"
	log_line xlb_nh_cache
	[[ "$LINE" == *"entries migrated field-wise (value size 32${ARROW}40; added: resolved_ns; dropped: none)"* ]] ||
		fail "xlb_nh_cache: $LINE"
	log_line xlb_stats
	[[ "$LINE" == *": $STAT_MAX entries migrated field-wise (max_entries $STAT_MAX${ARROW}$((STAT_MAX + 1)); added: none; dropped: none)"* ]] ||
		fail "xlb_stats: $LINE"
	log_line xlb_vip_addrs
	[[ "$LINE" == *": reset (key layout: member pad 3${ARROW}2 bytes; key not mappable; no field mapping)" ]] ||
		fail "xlb_vip_addrs: $LINE"
	# The protected flow table (flood protection) shares xlb_flow_value: migrated the same way.
	log_line xlb_flows_prot
	[[ "$LINE" == *"entries migrated field-wise (value size 24${ARROW}32; added: created_ns; dropped: none)"* ]] ||
		fail "xlb_flows_prot: $LINE"
	local maps=0
	while read -r name id; do
		maps=$((maps + 1))
		log_line "$name"
		case $name in
		xlb_flows | xlb_flows_prot | xlb_nh_cache | xlb_stats | xlb_vip_addrs) ;;
		*) [[ "$LINE" == *": reused" ]] || fail "$name: $LINE (want reused)" ;;
		esac
		# The program runs on the maps now pinned in v6.
		[ "$(map_info "$PIN_DIR/v6/$name" id)" = "$id" ] || fail "$name: v6 pin is not the program's map $id"
	done < <(prog_maps "$prog")
	[ "$maps" -ge 13 ] || fail "the program has only $maps maps"
	grep -o "migrate: .*" "$RUN_DIR/agent.log" | grep -v "v6: planned " | sed 's/^/    /'
	log "$maps maps: every one named in the log (xlb_flows, xlb_nh_cache, xlb_stats migrated, xlb_vip_addrs reset, the rest reused)"
	grep -q "migrate: removed $PIN_DIR/v5" "$RUN_DIR/agent.log" || fail "no 'removed v5' log"
	[ ! -e "$PIN_DIR/v5" ] || fail "$PIN_DIR/v5 still exists: $(ls "$PIN_DIR/v5")"
	[ "$(map_info "$PIN_DIR/v6/xlb_stats" max_entries)" = $((STAT_MAX + 1)) ] ||
		fail "v6 xlb_stats is not the $((STAT_MAX + 1))-entry map"
	check_flows_migrated "$PIN_DIR/v6/xlb_flows"

	sleep 1
	snapshot after-migrate
	check_after before after-migrate
	check_owners
	clients_alive
	probes "$RUN_DIR/probes-migrated.txt" "after the migration"
}

test_restart_same_layout() {
	agent_kill KILL
	agent_run "$LAYOUT_BIN"
	! grep -q "migrate:" "$RUN_DIR/agent.log" || fail "a restart of the same build migrated: $(grep 'migrate:' "$RUN_DIR/agent.log")"
	[ "$(link_field id)" = "$LINK_ID" ] || fail "link id changed on restart"
	PROG_ID=$(link_field prog_id)
	sleep 1
	snapshot after-restart
	check_after after-migrate after-restart
	check_owners
	clients_alive
	log "restart of the layout build: v6 maps reused as they are, no migration"
	clients_finish
}

e2e_init "${1:-}"
LAYOUT_BIN=$BUILD/tests/e2e/upgrade/layout/xlb-agent-layout-test
# The production xlb_stats size (abi.h: the XLB_STAT_MAX after #else); the test layout has one more.
STAT_MAX=$(sed -n '/^#else/{n;s/^#define XLB_STAT_MAX \([0-9]*\).*/\1/p}' "$E2E_SRC/bpf/include/xlb/abi.h")
[ -n "$STAT_MAX" ] || fail "cannot read XLB_STAT_MAX from abi.h"
[ -x "$LAYOUT_BIN" ] || fail "$LAYOUT_BIN not built (run make build)"
command -v bpftool >/dev/null || skip "bpftool not installed (make deps)"
hold_setup

run test_migrate
run test_restart_same_layout
E2E_CURRENT_TEST=""
log "PASS: e2e map-layout migration"
