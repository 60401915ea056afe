#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# deploy/xlb-agent.service passes `systemd-analyze verify` (skipped when systemd-analyze is missing).
set -u
unit="$1"
if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd-analyze not installed"
	exit 77
fi
# verify wants the ExecStart binaries to exist: check a copy whose paths point at stand-ins.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -e "s#/usr/sbin/xlb-agent#/bin/true#g" -e "s#/usr/bin/lbctl#/bin/true#g" "$unit" \
	>"$tmp/xlb-agent.service"
out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$tmp/xlb-agent.service" 2>&1)
rc=$?
# Warnings about the host (no systemd as PID 1 in a container, etc.) are not the unit's fault;
# anything mentioning our unit file is.
if [[ $rc -ne 0 ]] || grep -q "xlb-agent.service" <<<"$out"; then
	echo "FAIL: systemd-analyze verify (rc=$rc):"
	echo "$out"
	exit 1
fi
echo "ok   systemd-analyze verify $unit"
grep -q '^Type=notify' "$unit" && grep -q '^WatchdogSec=' "$unit" && grep -q '^StateDirectory=xlb' "$unit" ||
	{ echo "FAIL: Type=notify / WatchdogSec / StateDirectory missing"; exit 1; }
echo "ok   Type=notify, WatchdogSec, StateDirectory present"
