#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# e2e: lbctl against a running agent — bad input fails with a non-zero exit and "lbctl: <CODE>: ..."
# on stderr, and the running state (vip list, config get) is exactly what it was before.
# Usage: test-lbctl-errors.sh BUILD_DIR   (root; exit 77 = skipped)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WEB="$VIP4:80/tcp"

# expect_error EXIT_CODE STDERR_ERE lbctl-args...: runs lbctl, checks exit code and stderr, then
# checks the state is unchanged.
expect_error() {
	local want_rc=$1 want_err=$2
	shift 2
	local rc=0
	lbctl "$@" >"$RUN_DIR/out" 2>"$RUN_DIR/err" || rc=$?
	local desc="lbctl $*"
	[ "$rc" = "$want_rc" ] || fail "$desc: exit $rc, want $want_rc (stderr: $(cat "$RUN_DIR/err"))"
	grep -Eq -- "$want_err" "$RUN_DIR/err" ||
		fail "$desc: stderr does not match /$want_err/: $(cat "$RUN_DIR/err")"
	[ ! -s "$RUN_DIR/out" ] || fail "$desc: printed to stdout on failure: $(cat "$RUN_DIR/out")"
	check_state_unchanged "$desc"
	log "ok: $desc -> exit $rc, $(head -n 1 "$RUN_DIR/err")"
}

snapshot_state() {
	lbctl vip list >"$1.vips" || fail "lbctl vip list failed"
	lbctl config get >"$1.config" || fail "lbctl config get failed"
}

check_state_unchanged() {
	snapshot_state "$RUN_DIR/now"
	cmp -s "$RUN_DIR/before.vips" "$RUN_DIR/now.vips" ||
		fail "$1 changed the VIP list:$(diff "$RUN_DIR/before.vips" "$RUN_DIR/now.vips")"
	cmp -s "$RUN_DIR/before.config" "$RUN_DIR/now.config" ||
		fail "$1 changed the config:$(diff "$RUN_DIR/before.config" "$RUN_DIR/now.config")"
}

# Usage errors are caught by lbctl itself: exit 2, nothing sent.
test_usage_errors() {
	expect_error 2 'lbctl: INVALID_ARGUMENT: vip "10.100.0.300:80/tcp": "10.100.0.300" is not an IPv4' \
		vip add 10.100.0.300:80/tcp
	expect_error 2 'missing "/tcp" or "/udp"' vip add 10.100.0.20:80
	expect_error 2 'protocol "sctp" is not tcp or udp' vip del 10.100.0.10:80/sctp
	expect_error 2 'weight "x" is not a number' vip add 10.100.0.20:80/tcp --backend 10.200.0.11:x
	expect_error 2 'lbctl: INVALID_ARGUMENT: backend: "not-an-ip" is not an IPv4 or IPv6 address' \
		backend add "$WEB" not-an-ip
	expect_error 2 'forwarding' vip add 10.100.0.20:80/tcp --forwarding snat
	expect_error 2 'timeout "soon" is not a positive duration' --timeout soon vip list
	expect_error 2 '.' vip frobnicate
	expect_error 2 '.' backend weight "$WEB" 10.200.0.11 -- -3
	expect_error 2 'lbctl: INVALID_ARGUMENT: --hc-interval "fast" is not a positive duration' \
		vip add 10.100.0.20:80/tcp --health-check tcp --hc-interval fast
	expect_error 2 'lbctl: INVALID_ARGUMENT: --hc-http-status "200-700": "200-700" is outside \[100, 599\]' \
		vip add 10.100.0.20:80/tcp --health-check http --hc-http-status 200-700
	expect_error 2 'lbctl: INVALID_ARGUMENT: --hc-rise needs --health-check' vip add 10.100.0.20:80/tcp --hc-rise 3
	expect_error 2 'lbctl: INVALID_ARGUMENT: --timeout "never" is not a positive duration' \
		backend drain "$WEB" 10.200.0.11 --wait --timeout never
}

# The agent's validation (config/), codes kept end to end.
test_rpc_errors() {
	expect_error 1 'lbctl: ALREADY_EXISTS: .*10\.100\.0\.10' vip add "$WEB" --backend 10.200.0.11
	expect_error 1 'lbctl: NOT_FOUND: .*10\.100\.0\.99' vip del 10.100.0.99:80/tcp
	expect_error 1 'lbctl: INVALID_ARGUMENT: .*port.*70000.*\[0, 65535\]' vip add 10.100.0.20:70000/tcp
	expect_error 1 'lbctl: INVALID_ARGUMENT: .*maglev_table_size.*1000' \
		vip add 10.100.0.20:80/tcp --maglev-table-size 1000
	expect_error 1 'lbctl: INVALID_ARGUMENT: .*weight.*70000.*\[0, 65535\]' \
		vip add 10.100.0.20:80/tcp --backend 10.200.0.11:70000
	expect_error 1 'lbctl: ALREADY_EXISTS: .*10\.200\.0\.11' backend add "$WEB" 10.200.0.11
	expect_error 1 'lbctl: NOT_FOUND: .*10\.200\.0\.99' backend del "$WEB" 10.200.0.99
	expect_error 1 'lbctl: NOT_FOUND: .*10\.100\.0\.99' backend add 10.100.0.99:80/tcp 10.200.0.11
	expect_error 1 'lbctl: INVALID_ARGUMENT: .*weight.*70000.*\[0, 65535\]' \
		backend weight "$WEB" 10.200.0.11 70000
	expect_error 1 'lbctl: NOT_FOUND: .*10\.100\.0\.99' backend list 10.100.0.99:80/tcp
	expect_error 1 'lbctl: NOT_FOUND: .*10\.200\.0\.99' backend drain "$WEB" 10.200.0.99
	expect_error 1 'lbctl: NOT_FOUND: .*10\.200\.0\.99' backend undrain "$WEB" 10.200.0.99
	expect_error 1 'lbctl: INVALID_ARGUMENT: .*timeout_ms' \
		vip add 10.100.0.20:80/tcp --health-check tcp --hc-interval 1s --hc-timeout 2s
	# Addresses that cannot work (issue 10): the API shares the config file's validator.
	expect_error 1 'lbctl: INVALID_ARGUMENT: .*"127\.0\.0\.5" is a loopback address' \
		vip add 127.0.0.5:80/tcp --backend 10.200.0.11
	expect_error 1 'lbctl: INVALID_ARGUMENT: .*"::1" is the loopback address' \
		vip add 10.100.0.20:80/tcp --backend ::1
	expect_error 1 'lbctl: INVALID_ARGUMENT: .*"10\.100\.0\.20" is the VIP.s own address' \
		vip add 10.100.0.20:80/tcp --backend 10.100.0.20
	expect_error 1 'lbctl: INVALID_ARGUMENT: .*"10\.100\.0\.10" is the address of vips\[0\] \(10\.100\.0\.10:80/tcp;' \
		vip add 10.100.0.20:80/tcp --backend 10.100.0.10
	expect_error 1 'lbctl: INVALID_ARGUMENT: .*"169\.254\.1\.1" is link-local' \
		backend add "$WEB" 169.254.1.1
}

# apply -f: local YAML errors (exit 2) and the agent's all-errors-at-once validation (exit 1).
test_apply_errors() {
	cat >"$RUN_DIR/typo.yaml" <<-'EOF'
		vips:
		  - address: 10.100.0.10
		    port: 80
		    protocol: tcp
		    backendz: []
	EOF
	expect_error 2 'lbctl: INVALID_ARGUMENT: .*typo\.yaml.*backendz' apply -f "$RUN_DIR/typo.yaml"
	cat >"$RUN_DIR/invalid.yaml" <<-'EOF'
		vips:
		  - address: 10.100.0.10
		    port: 70000
		    protocol: tcp
		    backends:
		      - {address: 10.200.0.11, weight: 70000}
		  - address: 10.100.0.10
		    port: 80
		    protocol: udp
		    maglev_table_size: 1000
	EOF
	expect_error 1 'lbctl: INVALID_ARGUMENT: [0-9]+ errors:' apply -f "$RUN_DIR/invalid.yaml"
	grep -q 'vips\[0\]\.port: 70000' "$RUN_DIR/err" || fail "apply: port error missing: $(cat "$RUN_DIR/err")"
	grep -q 'vips\[0\]\.backends\[0\]\.weight: 70000' "$RUN_DIR/err" ||
		fail "apply: weight error missing: $(cat "$RUN_DIR/err")"
	grep -q 'vips\[1\]\.maglev_table_size' "$RUN_DIR/err" ||
		fail "apply: table size error missing: $(cat "$RUN_DIR/err")"
	expect_error 2 'does not exist|not exist|No such' apply -f "$RUN_DIR/missing.yaml"
}

# Successful commands that must leave the state as found: a dry run, an add+delete round trip, and
# re-applying the running config (idempotent: no changes).
test_no_change_paths() {
	cat >"$RUN_DIR/other.yaml" <<-'EOF'
		vips:
		  - address: 10.100.0.30
		    port: 53
		    protocol: udp
		    backends: [{address: 10.200.0.11}]
	EOF
	lbctl apply -f "$RUN_DIR/other.yaml" --dry-run >"$RUN_DIR/out" || fail "apply --dry-run failed"
	grep -q 'dry run' "$RUN_DIR/out" || fail "dry run output lacks the plan header: $(cat "$RUN_DIR/out")"
	grep -q '10.100.0.30' "$RUN_DIR/out" || fail "dry-run plan does not mention the new VIP: $(cat "$RUN_DIR/out")"
	check_state_unchanged "apply --dry-run"

	lbctl vip add 10.100.0.20:0/udp --name tmp --backend 10.200.0.11:3 >"$RUN_DIR/out" || fail "vip add failed"
	grep -q '10.100.0.20:0/udp' "$RUN_DIR/out" || fail "vip add did not print the VIP: $(cat "$RUN_DIR/out")"
	lbctl vip del 10.100.0.20:0/udp >/dev/null || fail "vip del failed"
	check_state_unchanged "vip add + vip del"

	lbctl config get >"$RUN_DIR/running.yaml" || fail "config get failed"
	lbctl apply -f "$RUN_DIR/running.yaml" >"$RUN_DIR/out" || fail "re-applying the running config failed"
	grep -q 'no changes' "$RUN_DIR/out" || fail "re-applying the running config changed something: $(cat "$RUN_DIR/out")"
	check_state_unchanged "apply of the running config"
	log "ok: dry run, add/del round trip and idempotent apply leave the state unchanged"
}

# The agent is unreachable: UNAVAILABLE naming the socket, with a hint.
test_unreachable() {
	local rc=0
	"$LBCTL_BIN" --server "unix://$RUN_DIR/nope.sock" --timeout 2s vip list 2>"$RUN_DIR/err" || rc=$?
	[ "$rc" = 1 ] || fail "unreachable agent: exit $rc, want 1"
	grep -q "lbctl: UNAVAILABLE: cannot reach xlb-agent at unix://$RUN_DIR/nope.sock (is xlb-agent running?" \
		"$RUN_DIR/err" || fail "unreachable agent: unexpected message: $(cat "$RUN_DIR/err")"
	log "ok: unreachable agent -> $(cat "$RUN_DIR/err")"
}

e2e_init "${1:-}"
topo_create 1
cat >"$RUN_DIR/xlb.yaml" <<EOF
vips:
  - name: web
    address: $VIP4
    port: 80
    protocol: tcp
    backends:
      - {address: "$(be4 1)", weight: 2}
  - name: web6
    address: "$VIP6"
    port: 443
    protocol: tcp
    forwarding: ipip
    backends:
      - {address: "$(be6 1)"}
EOF
agent_start "$RUN_DIR/xlb.yaml"
snapshot_state "$RUN_DIR/before"
log "state: $(grep -c . "$RUN_DIR/before.vips") lines of vip list"

run test_usage_errors
run test_rpc_errors
run test_apply_errors
run test_no_change_paths
run test_unreachable
E2E_CURRENT_TEST=""
log "PASS: e2e lbctl errors"
