#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# e2e (issue 13): the shipped systemd units (deploy/xlb-agent.service, xlb-bgp.service,
# xlb-bgp-withdraw.service) run by a real systemd, checked at a BIRD router. The machine's PID 1
# need not be systemd: systemd 252 runs as PID 1 of new pid, mount, uts, ipc and cgroup namespaces
# (its own cgroup2 mount, a private /run, overlays on /usr, /etc and /var holding the installed
# binaries and config) inside balancer lb1's network namespace, so every unit it starts lives on
# lb1. The unit files are the deploy/ files byte for byte; the only host-specific input is
# /etc/default/xlb-agent (interface, pin dir, --bgp-listen-port so that BIRD's connects bring
# sessions up without gobgpd's 5-9 s first-dial delay), as an operator would write it. In order:
#   systemctl start xlb-agent xlb-bgp: both ready (Type=notify), the router installs lb1;
#   systemctl restart xlb-agent: lb1 stays a next hop throughout, the new agent reaches gobgpd;
#   systemctl reload xlb-agent (ExecReload): a new MED reaches the router, a bad file is refused;
#   systemctl stop xlb-bgp: ExecStop drains (the router sees 65535:0, then the withdraw while the
#     session is still up), ExecStopPost ends the drain; start again announces;
#   shutdown.target started (what a shutdown does): the same drain before the agent stops;
#   the agent SIGKILLed until systemd gives up (StartLimitBurst): routes kept across the restarts,
#     then OnFailure=xlb-bgp-withdraw.service stops xlb-bgp and the router withdraws lb1.
# Usage: test-bgp-systemd.sh BUILD_DIR   (root; exit 77 = skipped)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/bgp_lib.sh"

SD_ROOT=""      # $RUN_DIR/sd: units, files to install, overlay storage
SD_PID=""       # systemd (PID 1 of its pid namespace), as seen from here
SD_UNSHARE=""   # the unshare process that forked it
SD_CGROUP=""    # the cgroup2 directory given to that systemd
UNITS="xlb-agent.service xlb-bgp.service xlb-bgp-withdraw.service"
STOPS=0         # drains that xlb-bgp's ExecStop reported so far

# sdx CMD...: CMD inside the systemd's namespaces (its /run, hence its systemctl and journal).
sdx() { nsenter -t "$SD_PID" -m -p -u -i "$@"; }
sdctl() { sdx systemctl --no-pager "$@"; }
prop() { sdctl show -p "$2" --value "$1"; }
lbctl_sd() { "$LBCTL_BIN" --server "unix:///proc/$SD_PID/root/run/xlb/xlb.sock" "$@"; }

sd_check() {
	[ -x /lib/systemd/systemd ] || skip "systemd is not installed"
	command -v unshare >/dev/null || skip "unshare (util-linux) not installed"
	local cg
	cg=$(findmnt -n -t cgroup2 -o TARGET | head -n 1)
	[ -n "$cg" ] || skip "no cgroup2 hierarchy mounted: a nested systemd needs one"
	grep -qw overlay /proc/filesystems || skip "no overlay filesystem (the installed files go on overlays)"
	SD_CGROUP="$cg/xlbt$$-sd"
	mkdir "$SD_CGROUP" || skip "cannot create a cgroup under $cg"
}

sd_cleanup() {
	local rc=$?
	set +e
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -n "$SD_PID" ] && kill -0 "$SD_PID" 2>/dev/null; then
		echo "---- nested systemd: units ----" >&2
		sdctl list-units --all 'xlb*' >&2 2>&1
		# The xlb units' own lines (the kernel's bridge messages would crowd them out of a tail).
		echo "---- journal of the xlb units (last 80 lines) ----" >&2
		sdx journalctl --no-pager -n 80 -u xlb-agent.service -u xlb-bgp.service \
			-u xlb-bgp-withdraw.service >&2 2>&1
	fi
	# Killing PID 1 of the pid namespace kills every process in it; its mounts go with it.
	[ -n "$SD_PID" ] && kill -KILL "$SD_PID" 2>/dev/null
	[ -n "$SD_UNSHARE" ] && wait "$SD_UNSHARE" 2>/dev/null
	if [ -n "$SD_CGROUP" ] && [ -d "$SD_CGROUP" ]; then
		local i
		for i in $(seq 1 50); do
			find "$SD_CGROUP" -depth -type d -exec rmdir {} + 2>/dev/null
			[ -d "$SD_CGROUP" ] || break
			sleep 0.1
		done
	fi
	(exit "$rc")
	bgp_cleanup
}

# sd_install: what an operator installs on lb1, laid out under $SD_ROOT/files (copied into the
# overlays at boot): the binaries where the units expect them, the config, /etc/default/xlb-agent.
sd_install() {
	local f=$SD_ROOT/files u
	mkdir -p "$f/usr/sbin" "$f/usr/bin" "$f/etc/xlb" "$f/etc/default" "$SD_ROOT/units" "$SD_ROOT/ovl"
	cp "$AGENT_BIN" "$f/usr/sbin/xlb-agent"
	cp "$LBCTL_BIN" "$f/usr/bin/lbctl"
	cp "$RUN_DIR/lb1/xlb.yaml" "$f/etc/xlb/xlb.yaml"
	cat >"$f/etc/default/xlb-agent" <<EOF
XLB_ATTACH="--interface $(ifname lb1)"
XLB_AGENT_ARGS="--pin-dir ${PIN_DIR}-lb1 --flow-table-size 65536 --metrics-listen 127.0.0.1:9440 --bgp-listen-port 179"
EOF
	for u in $UNITS; do
		cp "$E2E_SRC/deploy/$u" "$SD_ROOT/units/$u"
	done
	# journald from the host's systemd package, so `journalctl -u` shows each unit's output.
	cp /lib/systemd/system/systemd-journald.service /lib/systemd/system/systemd-journald.socket \
		"$SD_ROOT/units/"
	# The targets the units (and their default dependencies) order against, empty: this systemd
	# runs only what the test starts.
	local t
	for t in sysinit basic sockets paths timers slices local-fs swap network network-online \
		multi-user shutdown umount final; do
		printf '[Unit]\nDescription=stand-in %s\nDefaultDependencies=no\n' "$t" >"$SD_ROOT/units/$t.target"
	done
	cat >"$SD_ROOT/units/xlbt.target" <<EOF
[Unit]
Description=xlb e2e: journald only; the test starts the xlb units itself
DefaultDependencies=no
Wants=systemd-journald.socket systemd-journald.service
EOF
	cat >"$SD_ROOT/boot.sh" <<'EOF'
#!/bin/sh
# Runs as PID 1's predecessor in the new namespaces: private mounts, then exec systemd.
set -e
R=$1
mount --make-rprivate /
mount -t tmpfs -o mode=0755 xlbt-ovl "$R/ovl"
for d in usr etc var; do
	mkdir -p "$R/ovl/$d-up" "$R/ovl/$d-work"
	[ -d "$R/files/$d" ] && cp -a "$R/files/$d/." "$R/ovl/$d-up/"
	mount -t overlay overlay -o "lowerdir=/$d,upperdir=$R/ovl/$d-up,workdir=$R/ovl/$d-work" "/$d"
done
# A first install: no saved state. The host's /var/lib/xlb (an agent run there without
# --state-dir leaves state.yaml, which wins over --config) is hidden here, not touched.
rm -rf /var/lib/xlb
mount -t tmpfs -o mode=0755 tmpfs /run
umount -R /sys/fs/cgroup 2>/dev/null || true
mount -t cgroup2 cgroup2 /sys/fs/cgroup
export SYSTEMD_UNIT_PATH="$R/units" container=xlbt
exec /lib/systemd/systemd --system --unit=xlbt.target
EOF
	for u in $UNITS; do
		cmp -s "$E2E_SRC/deploy/$u" "$SD_ROOT/units/$u" || fail "installed $u differs from deploy/$u"
	done
}

# is_systemd PID: PID runs systemd itself (not yet the shell that execs it).
is_systemd() { case "$(readlink "/proc/$1/exe" 2>/dev/null)" in */lib/systemd/systemd) return 0 ;; esac; return 1; }

sd_boot() {
	SD_ROOT=$RUN_DIR/sd
	[ -e /var/lib/xlb/state.yaml ] &&
		log "note: the host has /var/lib/xlb/state.yaml ($(stat -c %y /var/lib/xlb/state.yaml)); hidden from the nested systemd"
	sd_install
	# The child joins the cgroup first, so the cgroup namespace (and systemd's tree) is rooted there.
	nsenter --net="/run/netns/${P}lb1" sh -c \
		"echo \$\$ >'$SD_CGROUP/cgroup.procs' && exec unshare --pid --fork --mount --uts --ipc --cgroup --mount-proc --kill-child sh '$SD_ROOT/boot.sh' '$SD_ROOT'" \
		>"$RUN_DIR/sd.out" 2>&1 &
	SD_UNSHARE=$!
	local i
	for i in $(seq 1 50); do
		SD_PID=$(cat "/proc/$SD_UNSHARE/task/$SD_UNSHARE/children" 2>/dev/null | awk '{print $1}')
		[ -n "$SD_PID" ] && is_systemd "$SD_PID" && break
		kill -0 "$SD_UNSHARE" 2>/dev/null || fail "the nested systemd did not start: $(cat "$RUN_DIR/sd.out")"
		sleep 0.1
	done
	is_systemd "$SD_PID" ||
		fail "no systemd in the new namespaces after 5 s: $(cat "$RUN_DIR/sd.out")"
	wait_for 20 "the nested systemd to finish booting" sh -c \
		"nsenter -t $SD_PID -m -p -u -i systemctl is-system-running | grep -qxE 'running|degraded'"
	log "systemd $(sdx systemctl --version | head -n 1 | awk '{print $2}') is PID 1 of its namespaces (pid $SD_PID here), in lb1's network namespace"
}

test_units_start() {
	local t0 ms
	t0=$(now_ms)
	sdctl start xlb-agent.service xlb-bgp.service || fail "systemctl start: $(sdctl status $UNITS 2>&1 | tail -n 30)"
	log "FIGURE systemctl start xlb-agent xlb-bgp returned after $(($(now_ms) - t0)) ms (both Type=notify: ready)"
	local u
	for u in xlb-agent.service xlb-bgp.service; do
		[ "$(prop "$u" ActiveState)" = active ] || fail "$u is $(prop "$u" ActiveState)"
	done
	ms=$(time_until_nexthops 4 "1" 30) || exit 1
	time_until_nexthops 6 "1" 30 >/dev/null
	log "FIGURE router installs lb1 (IPv4) $ms ms after the units are ready"
	wait_for 10 "lb1's agent connected to gobgpd" sh -c \
		"'$LBCTL_BIN' --server unix:///proc/$SD_PID/root/run/xlb/xlb.sock -o json bgp status | grep -q '\"daemon_connected\": true'"
}

test_agent_restart() {
	local before after missing lines
	before=$(prop xlb-agent.service MainPID)
	watch_router "$RUN_DIR/watch-restart"
	sdctl restart xlb-agent.service || fail "systemctl restart xlb-agent"
	after=$(prop xlb-agent.service MainPID)
	[ "$after" != "$before" ] && [ "$after" != 0 ] || fail "the agent's MainPID did not change ($before -> $after)"
	# The new agent reads gobgpd's routes back (resync) and must reach gobgpd through /run/xlb.
	wait_for 10 "the restarted agent connected to gobgpd" sh -c \
		"'$LBCTL_BIN' --server unix:///proc/$SD_PID/root/run/xlb/xlb.sock -o json bgp status | grep -q '\"daemon_connected\": true'"
	sleep 1
	watch_stop "$RUN_DIR/watch-restart"
	lines=$(grep -c . "$RUN_DIR/watch-restart")
	missing=$(grep -vc "$(lb4 1)|$(lb6 1)" "$RUN_DIR/watch-restart")
	[ "$missing" = 0 ] || fail "the router lost lb1 in $missing of $lines samples during systemctl restart xlb-agent"
	sdx journalctl --no-pager -u xlb-agent.service >"$RUN_DIR/agent-journal.txt"
	grep -q "already announced (kept" "$RUN_DIR/agent-journal.txt" ||
		fail "the restarted agent did not adopt gobgpd's routes: $(grep 'bgp:' "$RUN_DIR/agent-journal.txt" | tail -n 5)"
	log "systemctl restart xlb-agent: lb1 a next hop in all $lines samples; the new agent (pid $after) adopted gobgpd's routes"
}

# ExecReload (lbctl apply -f /etc/xlb/xlb.yaml): an edited file reaches the router as one update
# (a new MED, no withdraw); an invalid one fails the reload and changes nothing.
test_reload() {
	local conf=/proc/$SD_PID/root/etc/xlb/xlb.yaml
	sed -i 's/^  local_asn: 65001$/  local_asn: 65001\n  med: 7/' "$conf"
	grep -q '^  med: 7$' "$conf" || fail "could not edit the installed config"
	watch_router "$RUN_DIR/watch-reload"
	sdctl reload xlb-agent.service || fail "systemctl reload xlb-agent: $(sdx journalctl --no-pager -n 5 -u xlb-agent.service)"
	wait_for 10 "the router to see MED 7 on lb1's route" sh -c \
		"nsenter --net=/run/netns/${P}rt birdc -s '$RUN_DIR/bird.ctl' show route '$VIP4/32' protocol lb1v4 all | grep -q 'BGP.med: 7'"
	sed -i 's/^  local_asn: 65001$/  local_asn: 0/' "$conf"
	sdctl reload xlb-agent.service 2>/dev/null && fail "systemctl reload accepted an invalid config"
	sleep 0.5
	watch_stop "$RUN_DIR/watch-reload"
	local missing
	missing=$(grep -vc "$(lb4 1)|$(lb6 1)" "$RUN_DIR/watch-reload")
	[ "$missing" = 0 ] || fail "the router lost lb1 in $missing samples during the reloads"
	lbctl_sd bgp status | head -n 1 | grep -q "AS 65001" || fail "the refused reload changed the running bgp settings"
	sed -i 's/^  local_asn: 0$/  local_asn: 65001/' "$conf"
	log "systemctl reload xlb-agent: the new MED reached the router without a withdraw; an invalid file failed the reload and changed nothing"
}

# stop_drains UNIT: `systemctl stop UNIT` (or start, for shutdown.target) must drain lb1 as documented: the
# router sees lb1's route with 65535:0, then the withdraw arrives on a session that is still up
# (BIRD's log), then the session ends with gobgpd.
stop_drains() {
	# Samples of the router's view of lb1's IPv4 route: time, present, with GRACEFUL_SHUTDOWN.
	local samples=$RUN_DIR/stop-samples
	rm -f "$samples.stop"
	(
		for _ in $(seq 1 1500); do
			[ -f "$samples.stop" ] && break
			local r
			r=$(nsx rt birdc -s "$RUN_DIR/bird.ctl" show route "$VIP4/32" protocol lb1v4 all 2>/dev/null)
			echo "$(now_ms) $(echo "$r" | grep -c "$VIP4/32") $(echo "$r" | grep -c '(65535,0)')"
			sleep 0.02
		done
	) >"$samples" &
	local sampler=$!
	E2E_BG_PIDS+=($sampler)
	sleep 0.3
	local t0 t1
	t0=$(now_ms)
	local what="systemctl stop $1"
	[ "$1" = shutdown.target ] && what="systemctl start shutdown.target"
	sdctl ${what#systemctl } || fail "$what"
	t1=$(now_ms)
	sleep 0.5
	touch "$samples.stop"
	wait "$sampler" 2>/dev/null
	python3 - "$samples" "$t0" <<'PY' >"$RUN_DIR/stop-summary" || fail "$what did not drain as documented: $(cat "$RUN_DIR/stop-summary")"
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
t0 = int(sys.argv[2])
rows = [(int(t) - t0, int(p), int(g)) for t, p, g in rows]
gshut = [r for r in rows if r[1] and r[2]]
if not gshut:
    print("the router never saw lb1's route with 65535:0"); sys.exit(1)
gone = [r for r in rows if r[0] > gshut[-1][0] and not r[1]]
if not gone:
    print("lb1's route never left the router"); sys.exit(1)
print(f"65535:0 first seen {gshut[0][0]} ms after it, last {gshut[-1][0]} ms; "
      f"route gone at {gone[0][0]} ms")
PY
	log "FIGURE $what ($((t1 - t0)) ms): $(cat "$RUN_DIR/stop-summary")"
	# Withdrawn by the drain, not by the session's end: BIRD received the withdraw (an UPDATE) on a
	# session that was still up, then saw the session close when gobgpd stopped.
	python3 - "$RUN_DIR/bird.log" "$VIP4/32" <<'PY' || fail "BIRD did not get lb1's withdraw before the session closed"
import sys
log = [l.rstrip() for l in open(sys.argv[1])]
removed = [i for i, l in enumerate(log) if "lb1v4.ipv4 > removed" in l and sys.argv[2] + " " in l]
down = [i for i, l in enumerate(log) if "lb1v4: State changed to stop" in l]
if not removed or not down:
    print("BIRD log: withdraws", removed[-1:], "session ends", down[-1:])
    print("\n".join([l for l in log if "lb1v4" in l][-12:]))
    sys.exit(1)
print(log[removed[-1]])
print(log[down[-1]])
sys.exit(0 if removed[-1] < down[-1] else 1)
PY
	sdx journalctl --no-pager -u xlb-bgp.service >"$RUN_DIR/bgp-journal.txt"
	[ "$(grep -c "drain drained" "$RUN_DIR/bgp-journal.txt")" = "$((++STOPS))" ] ||
		fail "ExecStop's lbctl bgp drain --wait did not report the drain: $(tail -n 10 "$RUN_DIR/bgp-journal.txt")"
	want_nexthops 4 "" || fail "lb1 still a next hop after $what: $(nexthops 4)"
}

test_stop_drains() {
	stop_drains xlb-bgp.service
	# ExecStopPost ended the drain: the agent (still running) is ready to announce at the next start.
	lbctl_sd bgp status | grep -q "drain none" ||
		fail "the drain was not ended by ExecStopPost: $(lbctl_sd bgp status | head -n 3)"
	local t0
	t0=$(now_ms)
	sdctl start xlb-bgp.service || fail "systemctl start xlb-bgp"
	time_until_nexthops 4 "1" 30 >/dev/null
	time_until_nexthops 6 "1" 30 >/dev/null
	log "FIGURE systemctl start xlb-bgp again: router uses lb1 $(($(now_ms) - t0)) ms after the start (the agent repopulates the new gobgpd within its 2 s resync)"
}

# A shutdown: starting shutdown.target stops every unit with default dependencies (they conflict
# with it) in one transaction, in the reverse of their start order: xlb-bgp (After=xlb-agent) stops
# first, so its ExecStop still finds the agent to drain through. (`systemctl stop xlb-agent
# xlb-bgp` is not that: systemctl sends one request per unit, and the agent's stop is already
# running when xlb-bgp's arrives, so ExecStop finds no agent and gobgpd's exit withdraws.)
test_shutdown_drains() {
	stop_drains shutdown.target
	local u
	for u in xlb-agent.service xlb-bgp.service; do
		[ "$(prop "$u" ActiveState)" = inactive ] || fail "$u is $(prop "$u" ActiveState) after the shutdown"
	done
	sdctl start xlb-agent.service xlb-bgp.service || fail "systemctl start after the shutdown"
	time_until_nexthops 4 "1" 30 >/dev/null
	time_until_nexthops 6 "1" 30 >/dev/null
	log "shutdown.target stopped xlb-bgp (drained) before xlb-agent; started again, lb1 is announced again"
}

test_failed_agent_withdraws() {
	sdctl reset-failed xlb-agent.service 2>/dev/null
	local burst interval kills=0 pid state t_last=0 t0
	burst=$(prop xlb-agent.service StartLimitBurst)
	interval=$(prop xlb-agent.service StartLimitIntervalUSec)
	watch_router "$RUN_DIR/watch-crash"
	t0=$(now_ms)
	while [ "$kills" -lt 10 ]; do
		pid=$(prop xlb-agent.service MainPID)
		[ "$pid" != 0 ] || fail "xlb-agent has no main process ($(prop xlb-agent.service ActiveState))"
		# MainPID is a pid of systemd's namespace: kill from inside it.
		sdx kill -KILL "$pid" || fail "kill the agent ($pid)"
		kills=$((kills + 1))
		t_last=$(now_ms)
		# Either systemd restarts it (a new main process, ready) or gives up (failed). The state and
		# the pid are two reads: the new process counts only when the same nonzero pid is seen on
		# both sides of an "active" (the killed one still reads active until systemd reaps it, and
		# its MainPID is 0 from then until the restart).
		local deadline=$((SECONDS + 30)) pid_before pid_after
		while :; do
			pid_before=$(prop xlb-agent.service MainPID)
			state=$(prop xlb-agent.service ActiveState)
			pid_after=$(prop xlb-agent.service MainPID)
			[ "$state" = failed ] && break 2
			[ "$state" = active ] && [ "$pid_before" = "$pid_after" ] && [ "$pid_after" != 0 ] &&
				[ "$pid_after" != "$pid" ] && break
			[ "$SECONDS" -lt "$deadline" ] || fail "xlb-agent neither restarted nor failed 30 s after kill $kills ($state)"
			sleep 0.1
		done
	done
	[ "$state" = failed ] || fail "systemd still restarts xlb-agent after $kills kills (StartLimitBurst $burst)"
	log "xlb-agent SIGKILLed $kills times in $(($(now_ms) - t0)) ms: systemd restarted it $((kills - 1)) times, then gave up (result $(prop xlb-agent.service Result); StartLimitBurst $burst in $interval)"
	time_until_nexthops 4 "" 15 >/dev/null
	log "FIGURE last agent kill -> router without lb1 after $(($(now_ms) - t_last)) ms (RestartSec=2s passes before systemd finds the start limit hit)"
	time_until_nexthops 6 "" 15 >/dev/null
	watch_stop "$RUN_DIR/watch-crash"
	# Until the last kill, lb1 stayed a next hop: restarts do not withdraw.
	local lost
	lost=$(awk -v t="$t_last" -v want="$(lb4 1)|$(lb6 1)" '$1 < t && index($0, want) == 0' "$RUN_DIR/watch-crash" | grep -c .)
	[ "$lost" = 0 ] || fail "the router lost lb1 in $lost samples while systemd was still restarting the agent"
	[ "$(prop xlb-bgp.service ActiveState)" = inactive ] || fail "xlb-bgp.service is $(prop xlb-bgp.service ActiveState) after the agent failed"
	[ "$(prop xlb-bgp-withdraw.service ExecMainStartTimestampMonotonic)" != 0 ] ||
		fail "OnFailure= did not run xlb-bgp-withdraw.service"
	sdx journalctl --no-pager -u xlb-bgp-withdraw.service | grep -q "Withdraw xlb" ||
		fail "no journal entry of xlb-bgp-withdraw.service"
	log "OnFailure=xlb-bgp-withdraw.service ran; xlb-bgp.service stopped (Conflicts=), gobgpd closed its sessions"
}

e2e_init "${1:-}"
BIRD_DEBUG="states, routes"
bgp_init
sd_check
trap sd_cleanup EXIT
bgp_topology 3
lb_node 1
BGP_LBS+=(1)
sd_boot
run test_units_start
run test_agent_restart
run test_reload
run test_stop_drains
run test_shutdown_drains
run test_failed_agent_withdraws
log "PASS"
