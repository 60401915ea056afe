#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# e2e (issue 14): backends by name from a real dnsmasq. Two names -> two backends serve; a third
# record joins within TTL + 1 s; an SRV pool honours the records' weights and only the lowest
# priority; a fullnat pool uses the SRV records' port; the AAAA variant; queries counted at the
# server stay within one per name per TTL; a DNS outage with 100 long-lived flows changes nothing,
# breaks nothing and raises then clears the stale flag; a removed record leaves new-flow rotation
# only after the hold (3 s) and two answers while its established flow keeps echoing; NXDOMAIN for
# every name keeps the pool; an agent SIGKILLed and restarted while DNS is down restores its pools
# from the saved last good set with 50 long-lived flows unbroken.
# Usage: test-dns-discovery.sh BUILD_DIR [OUTAGE_S]   (root; exit 77 = skipped)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/dns_lib.sh"

OUTAGE_S=${2:-20}
USERS="$VIP4:9100/tcp"
SRV="$VIP4:80/tcp"
NATVIP="$VIP4:8080/tcp"
USERS6="[$VIP6]:9100/tcp"
TTL_S=2

test_two_names() {
	wait_for 10 "users-1/users-2 resolved into the pool" pool_is "$USERS" "$(be4 1) $(be4 2)"
	tcp_greetings 40 "$VIP4" 9100 "$RUN_DIR/two.txt"
	log "40 connections: $(sort "$RUN_DIR/two.txt" | uniq -c | tr -s ' \n' ' ')"
	grep -qx b1 "$RUN_DIR/two.txt" && grep -qx b2 "$RUN_DIR/two.txt" || fail "b1 and b2 do not both serve"
	grep -qx b3 "$RUN_DIR/two.txt" && fail "b3 served without a record"
	lbctl backend list "$USERS" | tee "$RUN_DIR/list.txt"
	grep -q "dns users-1.test" "$RUN_DIR/list.txt" || fail "backend list does not show the source"
	# The same through the API and lbctl: a VIP added with names, then gone again.
	lbctl vip add "$VIP4:9300/tcp" --name by-cli --dns-name users-1.test --dns-family ipv4 >/dev/null ||
		fail "lbctl vip add --dns-name failed"
	wait_for 10 "the lbctl-added VIP resolved" pool_is "$VIP4:9300/tcp" "$(be4 1)"
	lbctl vip add "$VIP4:9301/tcp" --dns-name "bad name" 2>"$RUN_DIR/bad.err" >/dev/null &&
		fail "an invalid name was accepted"
	grep -q 'vip.dns.names\[0\]: "bad name" is not a host name' "$RUN_DIR/bad.err" ||
		fail "invalid name error: $(cat "$RUN_DIR/bad.err")"
	lbctl vip del "$VIP4:9300/tcp" >/dev/null || fail "lbctl vip del failed"
	lbctl config get >"$RUN_DIR/config.yaml"
	grep -q "names:" "$RUN_DIR/config.yaml" && grep -q "kind: dns" "$RUN_DIR/config.yaml" ||
		fail "config get lacks the names or the sources: $(cat "$RUN_DIR/config.yaml")"
}

test_srv_weights() {
	wait_for 10 "SRV targets resolved" pool_is "$SRV" "$(be4 1) $(be4 2)"
	[ "$(backend_field "$SRV" "$(be4 1)" weight)" = 3 ] || fail "SRV weight 3 not applied to b1"
	http_burst 400 "$(vip_url 4 80 /id)" "$RUN_DIR/srv.txt"
	check_shares "$RUN_DIR/srv.txt" 400 "b1=3 b2=1" 30
}

test_fullnat_record_port() {
	# fullnat VIP :8080 -> the SRV records' port 80 (the backends' HTTP server).
	wait_for 10 "fullnat SRV targets resolved" pool_is "$NATVIP" "$(be4 1):80 $(be4 2):80"
	http_burst 200 "$(vip_url 4 8080 /id)" "$RUN_DIR/nat.txt"
	check_shares "$RUN_DIR/nat.txt" 200 "b1=1 b2=1" 35
}

test_aaaa() {
	wait_for 10 "AAAA records resolved" pool_is "$USERS6" "$(be6 1) $(be6 2)"
	tcp_greetings 20 "$VIP6" 9100 "$RUN_DIR/six.txt"
	grep -qx b3 "$RUN_DIR/six.txt" && fail "b3 served over IPv6 without a record"
	log "IPv6: $(sort "$RUN_DIR/six.txt" | uniq -c | tr -s ' \n' ' ')"
}

test_query_rate() {
	local a0 b0 window=12
	a0=$(dns_queries users-1.test A)
	b0=$(dns_queries _http._tcp.users.test SRV)
	sleep "$window"
	local a=$(($(dns_queries users-1.test A) - a0)) b=$(($(dns_queries _http._tcp.users.test SRV) - b0))
	log "queries in ${window}s at TTL ${TTL_S}s: users-1.test A $a, _http._tcp.users.test SRV $b"
	# At most one per TTL (refreshes never come early; jitter only delays), +1 for the window edge.
	local max=$((window / TTL_S + 1))
	[ "$a" -le "$max" ] && [ "$b" -le "$max" ] || fail "more than $max queries per name in ${window}s"
	[ "$a" -ge $((window / (TTL_S * 2))) ] || fail "only $a queries in ${window}s: not refreshing"
}

test_third_added() {
	dns_hosts "$(be4 1) users-1.test" "$(be4 2) users-2.test" "$(be4 3) users-2.test" \
		"$(be4 1) srv-b1.test" "$(be4 2) srv-b2.test" "$(be6 1) users6.test" "$(be6 2) users6.test"
	local t0
	t0=$(now_ms)
	wait_for 10 "the third record in rotation" pool_is "$USERS" "$(be4 1) $(be4 2) $(be4 3)"
	local took=$(($(now_ms) - t0))
	log "third backend in rotation ${took} ms after the record was added (TTL ${TTL_S}s)"
	# TTL (+10 % jitter) + 1 s.
	[ "$took" -le $((TTL_S * 1100 + 1000)) ] || fail "took ${took} ms, more than TTL + 1 s"
	tcp_greetings 30 "$VIP4" 9100 "$RUN_DIR/three.txt"
	grep -qx b3 "$RUN_DIR/three.txt" || fail "no new flow reached b3"
}

test_outage_keeps_pool() {
	local before
	before=$(pool_rotation "$USERS")
	nsx cl timeout $((OUTAGE_S + 60)) python3 "$E2E_SRC/tests/e2e/hold_clients.py" "$VIP4" 9100 100 \
		500 5000 "$RUN_DIR/hold.status" "$RUN_DIR/hold.stop" "$RUN_DIR/hold.out" &
	local hold_pid=$!
	E2E_BG_PIDS+=($hold_pid)
	wait_for 20 "100 long-lived flows" grep -qx ready "$RUN_DIR/hold.status"
	dns_stop
	log "DNS server stopped for ${OUTAGE_S}s with 100 long-lived flows"
	wait_for 10 "stale flag raised" metric_is "xlb_discovery_stale{vip=\"$USERS\",name=\"users-1.test\"}" 1
	lbctl backend list "$USERS" | grep -q "STALE" || fail "backend list does not mark the stale name"
	local end=$((SECONDS + OUTAGE_S))
	while [ "$SECONDS" -lt "$end" ]; do
		[ "$(pool_rotation "$USERS")" = "$before" ] || fail "pool changed during the outage: $(pool_rotation "$USERS")"
		sleep 2
	done
	dns_start
	wait_for 15 "stale flag cleared" metric_is "xlb_discovery_stale{vip=\"$USERS\",name=\"users-1.test\"}" 0
	touch "$RUN_DIR/hold.stop"
	wait "$hold_pid" || fail "long-lived flows broke: $(grep -v ' OK$' "$RUN_DIR/hold.out" | head -n 3)"
	log "outage: pool unchanged, $(grep -c ' OK$' "$RUN_DIR/hold.out") of 100 flows OK, $(tail -n 1 "$RUN_DIR/hold.out")"
	grep -q KIND_DISCOVERY_STALE "$RUN_DIR/events.json" || fail "no stale event"
	grep -q KIND_DISCOVERY_RECOVERED "$RUN_DIR/events.json" || fail "no recovered event"
	wait_for 15 "users-2.test no longer stale" metric_is "xlb_discovery_stale{vip=\"$USERS\",name=\"users-2.test\"}" 0
}

test_removed_after_hold() {
	# A long-lived connection to b1, the backend whose record goes.
	hold_on_b1 "$VIP4" 9100
	dns_hosts "$(be4 2) users-2.test" "$(be4 3) users-2.test" \
		"$(be4 1) srv-b1.test" "$(be4 2) srv-b2.test" "$(be6 1) users6.test" "$(be6 2) users6.test"
	local t0
	t0=$(now_ms)
	sleep 2.5
	pool_is "$USERS" "$(be4 1) $(be4 2) $(be4 3)" || fail "b1 left rotation within the 3 s hold"
	wait_for 10 "b1 out of rotation" pool_is "$USERS" "$(be4 2) $(be4 3)"
	local took=$(($(now_ms) - t0))
	log "users-1.test NXDOMAIN: b1 left rotation after ${took} ms (hold 3 s, two answers)"
	[ "$took" -ge 3000 ] || fail "b1 left after ${took} ms, before the hold"
	backend_is "$USERS" "$(be4 1)" state BACKEND_STATE_DRAINING || fail "b1 not draining"
	send_line after-removal
	tcp_greetings 30 "$VIP4" 9100 "$RUN_DIR/after.txt"
	grep -qx b1 "$RUN_DIR/after.txt" && fail "a new flow reached removed b1"
	exec 3>&-
	wait "$LONG_PID" 2>/dev/null
	wait_for 10 "drained b1 removed once its flow ended" backend_absent "$USERS" "$(be4 1)"
	log "b1 removed after its last flow closed"
}

test_nxdomain_everywhere() {
	dns_hosts "$(be4 1) srv-b1.test" "$(be4 2) srv-b2.test" "$(be6 1) users6.test" "$(be6 2) users6.test"
	sleep 8  # hold 3 s, two answers, plus margin
	pool_is "$USERS" "$(be4 2) $(be4 3)" || fail "pool changed after NXDOMAIN everywhere: $(pool_rotation "$USERS")"
	[ "$(metric "xlb_discovery_backends{vip=\"$USERS\",name=\"users-2.test\"}")" = 0 ] ||
		fail "users-2.test still has records after its NXDOMAIN hold"
	tcp_greetings 10 "$VIP4" 9100 "$RUN_DIR/nx.txt"
	log "NXDOMAIN for every name: pool kept ($(pool_rotation "$USERS"))"
	# Membership changes went through State: lbctl events has them.
	local kind
	for kind in KIND_DISCOVERY_CHANGED KIND_BACKEND_ADDED KIND_BACKEND_DRAINING KIND_BACKEND_REMOVED; do
		grep -q "$kind" "$RUN_DIR/events.json" || fail "no $kind event in lbctl events"
	done
	log "lbctl events: $(grep -c KIND_DISCOVERY_CHANGED "$RUN_DIR/events.json") DISCOVERY-CHANGED, $(grep -c KIND_DISCOVERY_STALE "$RUN_DIR/events.json") DISCOVERY-STALE, $(grep -c KIND_DISCOVERY_RECOVERED "$RUN_DIR/events.json") DISCOVERY-RECOVERED"
}

test_restart_during_outage() {
	dns_hosts "$(be4 1) users-1.test" "$(be4 2) users-2.test" \
		"$(be4 1) srv-b1.test" "$(be4 2) srv-b2.test" "$(be6 1) users6.test" "$(be6 2) users6.test"
	wait_for 10 "pool back to b1 b2" pool_is "$USERS" "$(be4 1) $(be4 2)"
	sleep 1  # the persister saves right after the change
	# 50 long-lived flows through the restart: the pinned balancer keeps forwarding while no agent
	# runs, and the restarted agent must plan the same backends (restored, not re-resolved).
	nsx cl timeout 120 python3 "$E2E_SRC/tests/e2e/hold_clients.py" "$VIP4" 9100 50 \
		200 3000 "$RUN_DIR/hold2.status" "$RUN_DIR/hold2.stop" "$RUN_DIR/hold2.out" &
	local hold_pid=$!
	E2E_BG_PIDS+=($hold_pid)
	wait_for 20 "50 long-lived flows" grep -qx ready "$RUN_DIR/hold2.status"
	dns_stop
	kill -KILL "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=""
	agent_start "$RUN_DIR/xlb.yaml" --resolv-conf "$RUN_DIR/resolv.conf"
	for key in "$USERS" "$SRV" "$USERS6"; do
		log "after restart, DNS down: $key -> $(pool_rotation "$key")"
	done
	pool_is "$USERS" "$(be4 1) $(be4 2)" || fail "users pool not restored: $(pool_rotation "$USERS")"
	pool_is "$SRV" "$(be4 1) $(be4 2)" || fail "SRV pool not restored: $(pool_rotation "$SRV")"
	pool_is "$USERS6" "$(be6 1) $(be6 2)" || fail "AAAA pool not restored"
	tcp_greetings 10 "$VIP4" 9100 "$RUN_DIR/restarted.txt"
	sleep 5
	pool_is "$USERS" "$(be4 1) $(be4 2)" || fail "pool changed while DNS is still down"
	touch "$RUN_DIR/hold2.stop"
	wait "$hold_pid" || fail "flows broke across the restart: $(grep -v ' OK$' "$RUN_DIR/hold2.out" | head -n 3)"
	log "agent SIGKILLed and restarted with DNS down: $(grep -c ' OK$' "$RUN_DIR/hold2.out") of 50 flows OK, $(tail -n 1 "$RUN_DIR/hold2.out")"
}

e2e_init "${1:-}"
topo_create 3
mkdir -p "$RUN_DIR/dns"
dns_hosts "$(be4 1) users-1.test" "$(be4 2) users-2.test" \
	"$(be4 1) srv-b1.test" "$(be4 2) srv-b2.test" "$(be6 1) users6.test" "$(be6 2) users6.test"
cat >"$RUN_DIR/dns/srv.conf" <<EOF
srv-host=_http._tcp.users.test,srv-b1.test,80,0,3
srv-host=_http._tcp.users.test,srv-b2.test,80,0,1
srv-host=_http._tcp.users.test,srv-b3.test,80,1,100
host-record=srv-b3.test,$(be4 3)
srv-host=_web._tcp.users.test,srv-b1.test,80,0,1
srv-host=_web._tcp.users.test,srv-b2.test,80,0,1
EOF
dns_start
# fullnat: the backends' replies cross the XDP balancer, which rewrites them (no partial
# checksums, TESTBED.md); the SNAT address lives on the LB.
for i in 1 2 3; do nsx "b$i" ethtool -K "$(ifname "b$i")" tx off >/dev/null 2>&1; done
nsx lb ip addr add 10.200.0.100/24 dev "$(ifname lb)"
cat >"$RUN_DIR/xlb.yaml" <<EOF
snat_pool: {addresses: [10.200.0.100]}
vips:
  - name: users
    address: "$VIP4"
    port: 9100
    protocol: tcp
    dns: {names: [users-1.test, users-2.test], family: ipv4}
    discovery: {min_ttl_ms: 1000, hold_empty_ms: 3000, drain_limit_ms: 120000}
  - name: users-srv
    address: "$VIP4"
    port: 80
    protocol: tcp
    srv: _http._tcp.users.test
    discovery: {hold_empty_ms: 3000}
  - name: users6
    address: "$VIP6"
    port: 9100
    protocol: tcp
    dns: {names: [users6.test], family: ipv6}
  - name: users-nat
    address: "$VIP4"
    port: 8080
    protocol: tcp
    forwarding: fullnat
    srv: _web._tcp.users.test
EOF
agent_start "$RUN_DIR/xlb.yaml" --resolv-conf "$RUN_DIR/resolv.conf"
events_start "$RUN_DIR/events.json"
run test_two_names
run test_srv_weights
run test_aaaa
run test_fullnat_record_port
run test_query_rate
run test_third_added
run test_outage_keeps_pool
run test_removed_after_hold
run test_nxdomain_everywhere
events_stop
run test_restart_during_outage
E2E_CURRENT_TEST=""
log "PASS: e2e dns discovery"
