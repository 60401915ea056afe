#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# e2e (issue 13): a peer's settings changed while no agent ran reach gobgpd: the restarted agent
# compares the configured peers with what gobgpd reports (its ListPeer includes the password) and
# replaces what differs. One namespace (loopback only: the sessions never come up, no packet leaves
# it), gobgpd and an agent without XDP (--no-attach):
#   gobgpd reports the password (what the comparison relies on);
#   restart with the same config: gobgpd's peers are left alone (no session reset);
#   restart with a new password for one peer: that peer alone is deleted and added again.
# Usage: test-bgp-peers.sh BUILD_DIR   (root; exit 77 = skipped)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=""
GOBGPD_PID=""

peers_config() {
	cat <<EOF
bgp:
  local_asn: 65001
  router_id: 10.200.0.21
  peers:
    - {address: 10.200.0.254, asn: 65000, hold_time_s: 3, password: "$1"}
    - {address: "fd00:200::fe", asn: 65000, hold_time_s: 3, password: same-v6}
vips:
  - address: $VIP4
    port: 80
    protocol: tcp
    backends: [{address: 10.200.0.11}]
EOF
}

peers_cleanup() {
	local rc=$?
	set +e
	[ -n "$GOBGPD_PID" ] && kill -KILL "$GOBGPD_PID" 2>/dev/null
	(exit "$rc")
	e2e_cleanup
}

# agent_run PASSWORD: (re)starts the agent with the v4 peer's password, the config taking over the
# saved state as an operator's edited config would; waits for the announcer to set gobgpd up.
agent_run() {
	agent_stop
	peers_config "$1" >"$RUN_DIR/xlb.yaml"
	: >"$RUN_DIR/agent.log"
	nsenter --net="/run/netns/$NS" "$AGENT_BIN" --no-attach --config "$RUN_DIR/xlb.yaml" \
		--config-overrides-state --listen "unix://$SOCK" --pin-dir "$PIN_DIR" \
		--state-dir "$RUN_DIR/state" --metrics-listen "" --bgp-api "unix://$RUN_DIR/gobgpd.sock" \
		>>"$RUN_DIR/agent.log" 2>&1 &
	AGENT_PID=$!
	wait_for 20 "the agent to set gobgpd up" grep -q "bgp: gobgpd at" "$RUN_DIR/agent.log"
}

deletes() { grep -c "Delete a peer configuration" "$RUN_DIR/gobgpd.log"; }
adds() { grep -c "Add a peer configuration" "$RUN_DIR/gobgpd.log"; }

test_first_start() {
	agent_run first-secret
	[ "$(adds)" = 2 ] && [ "$(deletes)" = 0 ] ||
		fail "first start: gobgpd added $(adds) and deleted $(deletes) peers, want 2 and 0"
	gobgp --target "unix://$RUN_DIR/gobgpd.sock" neighbor 10.200.0.254 -j >"$RUN_DIR/neighbor.json" ||
		fail "gobgp neighbor"
	grep -q '"auth_password":"first-secret"' "$RUN_DIR/neighbor.json" ||
		fail "gobgpd no longer reports the peer's password: the agent could not see a changed one ($(head -c 300 "$RUN_DIR/neighbor.json"))"
	log "2 peers added; gobgpd's ListPeer reports each peer's password"
}

test_restart_same() {
	agent_run first-secret
	# Past one resync (every 2 s): the comparison runs again there.
	sleep 2.5
	[ "$(deletes)" = 0 ] && [ "$(adds)" = 2 ] ||
		fail "a restart with the same config changed gobgpd's peers (added $(adds), deleted $(deletes))"
	log "restart with the same peers: gobgpd's peers untouched"
}

test_restart_new_password() {
	agent_run second-secret
	wait_for 5 "the changed peer replaced" sh -c "[ \$(grep -c 'Delete a peer configuration' '$RUN_DIR/gobgpd.log') -ge 1 ]"
	# Once: the next resyncs find gobgpd's peer as configured.
	sleep 2.5
	[ "$(deletes)" = 1 ] && [ "$(adds)" = 3 ] ||
		fail "want exactly the IPv4 peer replaced: gobgpd added $(adds), deleted $(deletes) in all"
	grep "Delete a peer configuration" "$RUN_DIR/gobgpd.log" | grep -q "10.200.0.254" ||
		fail "gobgpd deleted another peer: $(grep 'Delete a peer' "$RUN_DIR/gobgpd.log")"
	grep -q "gobgpd peer 10.200.0.254: replacing" "$RUN_DIR/agent.log" ||
		fail "the agent does not say why it replaced the peer"
	log "restart with a new password: $(grep -o 'gobgpd peer 10.200.0.254: replacing.*' "$RUN_DIR/agent.log" | head -n 1)"
}

e2e_init "${1:-}"
command -v gobgpd >/dev/null && command -v gobgp >/dev/null || skip "gobgpd not installed (make deps)"
trap peers_cleanup EXIT
NS="${P}peers"
ip netns add "$NS" || fail "ip netns add $NS"
nsenter --net="/run/netns/$NS" ip link set lo up
nsenter --net="/run/netns/$NS" gobgpd --api-hosts "unix://$RUN_DIR/gobgpd.sock" --pprof-disable \
	--log-plain --log-level info >"$RUN_DIR/gobgpd.log" 2>&1 &
GOBGPD_PID=$!
wait_for 10 "gobgpd's API socket" test -S "$RUN_DIR/gobgpd.sock"
run test_first_start
run test_restart_same
run test_restart_new_password
log "PASS"
