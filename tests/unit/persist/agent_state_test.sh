#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# xlb-agent with --no-attach and a temporary --state-dir: state changed through lbctl survives a
# restart (and a SIGKILL), the saved state wins over --config unless --config-overrides-state, a
# corrupt state refuses the start, SIGHUP with an invalid file changes nothing, and sd_notify sends
# READY=1 and WATCHDOG=1 to a NOTIFY_SOCKET stub. Needs root and bpffs (loads the BPF program).
set -u
agent="$1"
lbctl="$2"

if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP: needs root (xlb-agent loads the BPF program even with --no-attach)"
	exit 77
fi
if ! mountpoint -q /sys/fs/bpf; then
	echo "SKIP: bpffs is not mounted at /sys/fs/bpf"
	exit 77
fi

tmp=$(mktemp -d)
pins="/sys/fs/bpf/xlbstate$$"
sock="$tmp/xlb.sock"
pid=""
stub_pid=""
cleanup() {
	[[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null
	[[ -n "$stub_pid" ]] && kill -TERM "$stub_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$pins" "$tmp"
}
trap cleanup EXIT
fail=0
ok() { echo "ok   $*"; }
bad() {
	echo "FAIL $*"
	fail=1
}

# start LOG [flags...]: the agent in the background; waits for "xlb-agent ready" (or its exit).
start() {
	local log=$1
	shift
	"$agent" --no-attach --pin-dir "$pins" --listen "unix://$sock" --state-dir "$tmp/state" \
		--log-level info "$@" >"$log" 2>&1 &
	pid=$!
	local i
	for i in $(seq 1 200); do
		grep -qs "xlb-agent ready" "$log" && return 0
		kill -0 "$pid" 2>/dev/null || {
			wait "$pid"
			local rc=$?
			pid=""
			return $rc
		}
		sleep 0.1
	done
	echo "agent not ready after 20 s: $(tail -n 20 "$log")"
	return 1
}
stop() {  # stop [SIGNAL]
	[[ -n "$pid" ]] || return 0
	kill "-${1:-TERM}" "$pid"
	wait "$pid" 2>/dev/null
	pid=""
}
cfg_get() { "$lbctl" -s "unix://$sock" config get; }

cat >"$tmp/xlb.yaml" <<'YAML'
vips:
  - name: web
    address: 10.0.0.10
    port: 80
    protocol: tcp
    backends:
      - address: 10.0.1.1
YAML

# --- 1. first start from --config creates the state file -----------------------------------------
if start "$tmp/a1.log" --config "$tmp/xlb.yaml"; then
	[[ -s "$tmp/state/state.yaml" ]] && ok "first start saved $tmp/state/state.yaml" ||
		bad "no state file after the first start"
	grep -q "applied config file $tmp/xlb.yaml" "$tmp/a1.log" && ok "first start applied the file" ||
		bad "first start: $(grep applied "$tmp/a1.log")"
else
	bad "first start failed: $(tail -n 20 "$tmp/a1.log")"
fi

# --- 2. lbctl changes, SIGTERM restart: restored (the saved state wins over --config) -------------
"$lbctl" -s "unix://$sock" backend add 10.0.0.10:80/tcp 10.0.1.2 --weight 3 >/dev/null ||
	bad "lbctl backend add"
"$lbctl" -s "unix://$sock" vip add 10.0.0.20:53/udp --backend 10.0.1.9 >/dev/null || bad "lbctl vip add"
"$lbctl" -s "unix://$sock" backend drain 10.0.0.10:80/tcp 10.0.1.1 >/dev/null || bad "lbctl drain"
before=$(cfg_get)
stop TERM
if start "$tmp/a2.log" --config "$tmp/xlb.yaml"; then
	after=$(cfg_get)
	[[ "$after" == "$before" ]] && ok "restart (SIGTERM) restored the API changes" ||
		bad "restart: config differs:"$'\n'"--- before"$'\n'"$before"$'\n'"--- after"$'\n'"$after"
	grep -q "applied saved state $tmp/state/state.yaml" "$tmp/a2.log" && ok "saved state won over --config" ||
		bad "restart did not use the saved state"
else
	bad "restart failed: $(tail -n 20 "$tmp/a2.log")"
fi

# --- 3. SIGKILL right after a change: the change was already on disk -------------------------------
"$lbctl" -s "unix://$sock" backend weight 10.0.0.10:80/tcp 10.0.1.2 7 >/dev/null || bad "lbctl weight"
sleep 1  # the persister saves right after the apply; allow for a loaded machine
before=$(cfg_get)
stop KILL
if start "$tmp/a3.log" --config "$tmp/xlb.yaml"; then
	after=$(cfg_get)
	[[ "$after" == "$before" ]] && ok "restart after SIGKILL restored the last change" ||
		bad "SIGKILL restart differs:"$'\n'"$before"$'\n'"---"$'\n'"$after"
else
	bad "start after SIGKILL failed: $(tail -n 20 "$tmp/a3.log")"
fi

# --- 4. SIGHUP with an invalid file: error logged, state unchanged; then a valid one applies ------
before=$(cfg_get)
cp "$tmp/xlb.yaml" "$tmp/good.yaml"
printf 'vips:\n  - address: 10.0.0.300\n    port: 80\n    protocol: tcp\n' >"$tmp/xlb.yaml"
kill -HUP "$pid"
for _ in $(seq 1 50); do grep -q "reload:" "$tmp/a3.log" && break; sleep 0.1; done
grep -q 'vips\[0\].address: "10.0.0.300"' "$tmp/a3.log" && grep -q "apply_errors=1" "$tmp/a3.log" &&
	ok "SIGHUP with an invalid file logged every error and apply_errors=1" ||
	bad "SIGHUP invalid: $(grep -A3 reload "$tmp/a3.log")"
[[ "$(cfg_get)" == "$before" ]] && ok "SIGHUP with an invalid file changed nothing" ||
	bad "SIGHUP invalid changed the config"
cp "$tmp/good.yaml" "$tmp/xlb.yaml"
kill -HUP "$pid"
for _ in $(seq 1 50); do grep -q "reload: applied" "$tmp/a3.log" && break; sleep 0.1; done
after=$(cfg_get)
if grep -q "reload: applied" "$tmp/a3.log" && ! grep -q "10.0.0.20" <<<"$after"; then
	ok "SIGHUP with a valid file applied it (10.0.0.20 gone)"
else
	bad "SIGHUP valid: $(grep reload "$tmp/a3.log")"$'\n'"$after"
fi
sleep 1
stop TERM
# Saved: gone from state.yaml, or (state.yaml is rewritten whole only at times) removed by a
# record of state.journal.
if ! grep -q "10.0.0.20" "$tmp/state/state.yaml" ||
	awk '/^@ /{rm = ($2 == "remove")} rm && /10\.0\.0\.20/{found = 1} END{exit !found}' \
		"$tmp/state/state.journal"; then
	ok "the reloaded config was saved"
else
	bad "the reloaded config was not saved: $(cat "$tmp/state/state.journal")"
fi

# --- 5. --config-overrides-state and a corrupt state ---------------------------------------------
printf 'vips:\n  - address: 10.0.0.99\n    port: 443\n    protocol: tcp\n' >"$tmp/other.yaml"
if start "$tmp/a5.log" --config "$tmp/other.yaml" --config-overrides-state; then
	cfg_get | grep -q "10.0.0.99" && ! cfg_get | grep -q "10.0.0.10" &&
		ok "--config-overrides-state applied the file" || bad "--config-overrides-state: $(cfg_get)"
	stop TERM
else
	bad "--config-overrides-state start: $(tail -n 20 "$tmp/a5.log")"
fi
head -n 3 "$tmp/state/state.yaml" >"$tmp/state/trunc" && mv "$tmp/state/trunc" "$tmp/state/state.yaml"
start "$tmp/a6.log" --config "$tmp/other.yaml"
rc=$?
if [[ $rc -eq 2 ]] && grep -q "is corrupt: the trailer line is missing" "$tmp/a6.log" &&
	grep -q -- "--config-overrides-state" "$tmp/a6.log"; then
	ok "a corrupt state refuses the start (exit 2) with the cause and the fix"
else
	bad "corrupt state: rc=$rc $(cat "$tmp/a6.log")"
	stop TERM
fi

# --- 6. sd_notify: READY=1 (with STATUS=) and WATCHDOG=1 reach NOTIFY_SOCKET ----------------------
if command -v python3 >/dev/null; then
	python3 - "$tmp/notify" "$tmp/notify.log" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "w", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode().replace("\n", " | ") + "\n")
PY
	stub_pid=$!
	for _ in $(seq 1 50); do [[ -S "$tmp/notify" ]] && break; sleep 0.1; done
	if NOTIFY_SOCKET="$tmp/notify" WATCHDOG_USEC=400000 start "$tmp/a7.log" --config "$tmp/other.yaml" \
		--config-overrides-state; then
		sleep 1
		grep -q "^READY=1 | STATUS=serving 1 VIPs" "$tmp/notify.log" && ok "READY=1 with STATUS= sent" ||
			bad "no READY=1: $(cat "$tmp/notify.log")"
		[[ $(grep -c "^WATCHDOG=1" "$tmp/notify.log") -ge 2 ]] && ok "WATCHDOG=1 pinged every 200 ms" ||
			bad "WATCHDOG=1 pings: $(cat "$tmp/notify.log")"
		kill -HUP "$pid"
		sleep 0.5
		grep -q "^RELOADING=1" "$tmp/notify.log" && ok "SIGHUP sent RELOADING=1" ||
			bad "no RELOADING=1: $(cat "$tmp/notify.log")"
		stop TERM
		grep -q "^STOPPING=1" "$tmp/notify.log" && ok "SIGTERM sent STOPPING=1" ||
			bad "no STOPPING=1: $(cat "$tmp/notify.log")"
	else
		bad "start with NOTIFY_SOCKET: $(tail -n 20 "$tmp/a7.log")"
	fi
else
	echo "skip sd_notify part: no python3"
fi
exit $fail
