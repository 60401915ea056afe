#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# e2e (issue 4): zero interruption across agent restarts. 50 long-lived TCP connections stream
# through the balancer (dsr) while (1) the agent is SIGKILLed and restarted 5 s later, (2) it is
# stopped with a plain SIGTERM (program stays attached) and replaced by xlb-agent-upgrade-test, a
# build whose program differs (a .rodata tag): the pinned XDP link keeps its id while its program id
# changes. No connection breaks or stalls, each stays on its original backend, new connections work
# while no agent runs, counters never go back and the backends are the same after every restart.
# Before (2), the upgrade build started with a broken config exits 2 and takes nothing over.
# (3) --detach-on-exit removes the program on SIGTERM.
# Usage: test-restart.sh BUILD_DIR   (root; exit 77 = skipped)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/restart_lib.sh"

test_sigkill_restart() {
	# An API change just before the crash: the agent appends it to state.journal, and the
	# restarted agent applies it over state.yaml (check_after compares the weights too).
	lbctl backend weight "$HOLD" "$(be4 3)" 2 >/dev/null || fail "lbctl backend weight"
	wait_for 5 "the weight change in state.journal" grep -q "weight: 2" "$RUN_DIR/state/state.journal"
	snapshot before
	log "SIGKILL the agent (pid $AGENT_PID), restart in 5 s"
	local t_kill=$SECONDS
	agent_kill KILL
	local prog
	prog=$(xdp_prog_id)
	[ "$prog" = "$PROG_ID" ] || fail "after SIGKILL the attached program is '$prog', want $PROG_ID"
	probes "$RUN_DIR/probes-down.txt" "while no agent runs"
	clients_alive
	sleep $((5 - (SECONDS - t_kill) > 0 ? 5 - (SECONDS - t_kill) : 0))
	# Started with systemd's default soft open-files limit (1,024): the agent takes the hard limit
	# (its table swaps hold one fd per table in flight).
	AGENT_PREFIX="prlimit --nofile=1024:" agent_run "$AGENT_BIN"
	local soft hard
	read -r soft hard < <(awk '/^Max open files/ {print $4, $5}' "/proc/$AGENT_PID/limits")
	[ "$soft" = "$hard" ] || fail "the agent's open-files limit is $soft (soft) / $hard (hard), want soft = hard"
	log "open-files limit raised to the hard limit ($hard)"
	grep -q "replaced the program on pinned XDP link" "$RUN_DIR/agent.log" ||
		fail "the restarted agent did not take over the pinned link"
	grep -q "changes from .*state.journal applied" "$RUN_DIR/agent.log" ||
		fail "the restarted agent did not apply state.journal"
	[ "$(link_field id)" = "$LINK_ID" ] || fail "link id changed: $(link_field id), want $LINK_ID"
	PROG_ID=$(link_field prog_id)
	sleep 1
	snapshot after-kill
	check_after before after-kill
	check_owners
	clients_alive
	probes "$RUN_DIR/probes-after-kill.txt" "after the restart"
}

test_upgrade() {
	# A plain SIGTERM (no --detach-on-exit) leaves the program attached and forwarding.
	agent_kill TERM
	grep -q "leaving the balancer attached" "$RUN_DIR/agent.log" || fail "no 'leaving attached' log on SIGTERM"
	[ "$(xdp_prog_id)" = "$PROG_ID" ] || fail "SIGTERM detached the program"
	probes "$RUN_DIR/probes-term.txt" "after a plain SIGTERM"
	clients_alive

	local old_prog=$PROG_ID old_tag
	old_tag=$(build_tag "$old_prog")
	[ "$old_tag" = none ] || fail "production program $old_prog has a test build tag ($old_tag)"

	# The new build started with a broken config: it loads its program while it parses the file
	# (BpfDataplane::open), but takes nothing over. It exits 2, and the running program, its link
	# and every connection stay as they are.
	sed 's/port: 9100$/port: 91000/' "$RUN_DIR/xlb.yaml" >"$RUN_DIR/bad.yaml"
	grep -q 'port: 91000' "$RUN_DIR/bad.yaml" || fail "bad.yaml does not have the bad port"
	local rc=0
	nsenter --net="/run/netns/${P}lb" timeout 30 "$UPGRADE_BIN" --config "$RUN_DIR/bad.yaml" \
		--interface "$(ifname lb)" --listen "unix://$RUN_DIR/bad.sock" --pin-dir "$PIN_DIR" \
		--flow-table-size 65536 --state-dir "$RUN_DIR/state" >"$RUN_DIR/agent-bad.log" 2>&1 || rc=$?
	[ "$rc" = 2 ] || fail "the upgrade with a bad config exited $rc, want 2: $(tail -n 5 "$RUN_DIR/agent-bad.log")"
	grep -q "port.*91000" "$RUN_DIR/agent-bad.log" ||
		fail "the bad config's error does not name the value: $(tail -n 5 "$RUN_DIR/agent-bad.log")"
	[ "$(link_field id)" = "$LINK_ID" ] || fail "bad config: link id $(link_field id), want $LINK_ID"
	[ "$(link_field prog_id)" = "$old_prog" ] || fail "bad config: the link runs $(link_field prog_id), want $old_prog"
	[ "$(xdp_prog_id)" = "$old_prog" ] || fail "bad config: the interface runs $(xdp_prog_id), want $old_prog"
	probes "$RUN_DIR/probes-bad-config.txt" "after an upgrade refused its config"
	clients_alive
	log "an upgrade with a bad config exited 2 and left program $old_prog and its link in place"
	agent_run "$UPGRADE_BIN"
	local link prog tag
	link=$(link_field id)
	prog=$(link_field prog_id)
	[ "$link" = "$LINK_ID" ] || fail "upgrade: link id $link, want $LINK_ID (the pinned link must be updated, not re-created)"
	[ "$prog" != "$old_prog" ] || fail "upgrade: the link still runs program $old_prog"
	[ "$(xdp_prog_id)" = "$prog" ] || fail "upgrade: the interface runs $(xdp_prog_id), the link says $prog"
	tag=$(build_tag "$prog")
	[ "$tag" = 2 ] || fail "upgrade: program $prog has build tag '$tag', want 2"
	log "upgrade: link $link kept, program $old_prog -> $prog (build tag $old_tag -> $tag)"
	PROG_ID=$prog
	sleep 1
	snapshot after-upgrade
	check_after after-kill after-upgrade
	check_owners
	clients_alive
	probes "$RUN_DIR/probes-upgraded.txt" "after the upgrade"

	# The long-lived connections end here: every one of them must have stayed healthy throughout.
	clients_finish
}

test_detach_on_exit() {
	agent_kill TERM
	# Back to the production agent (a downgrade: the same link again), this time --detach-on-exit.
	agent_run "$AGENT_BIN" --detach-on-exit
	[ "$(link_field id)" = "$LINK_ID" ] || fail "downgrade: link id $(link_field id), want $LINK_ID"
	[ "$(build_tag "$(link_field prog_id)")" = none ] || fail "downgrade: the production program is not running"
	agent_kill TERM
	grep -q "agent: detached from" "$RUN_DIR/agent.log" || fail "no 'detached' log with --detach-on-exit"
	[ "$(xdp_prog_id)" = 0 ] || fail "--detach-on-exit left program $(xdp_prog_id) attached"
	[ ! -e "$PIN_DIR/link_$(ifname lb)" ] || fail "--detach-on-exit left the link pinned"
	# Nothing forwards to the backends any more: the LB's kernel has no route for the VIP.
	if nsx cl timeout 3 bash -c "exec 3<>/dev/tcp/$VIP4/9100 && head -n 1 <&3" 2>/dev/null | grep -q '^b'; then
		fail "a connection to the VIP still reached a backend after --detach-on-exit"
	fi
	log "--detach-on-exit: program detached, link pin removed, the VIP no longer answers"
}

e2e_init "${1:-}"
UPGRADE_BIN=$BUILD/tests/e2e/upgrade/xlb-agent-upgrade-test
[ -x "$UPGRADE_BIN" ] || fail "$UPGRADE_BIN not built (run make build)"
command -v bpftool >/dev/null || skip "bpftool not installed (make deps)"
hold_setup

run test_sigkill_restart
run test_upgrade
run test_detach_on_exit
E2E_CURRENT_TEST=""
log "PASS: e2e restart and upgrade"
