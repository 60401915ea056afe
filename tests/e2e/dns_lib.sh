# SPDX-License-Identifier: Apache-2.0
# e2e helpers for backends by name (issue 14): a real dnsmasq in its own namespace on the segment
# serving the test's records from files it re-reads on SIGHUP, the agent's resolver pointed at it
# with --resolv-conf, and probes of a VIP's discovered pool. Source after lib.sh.

DNS4=10.200.0.5
DNS6=fd00:200::5
DNS_PID=""
# Extra dnsmasq options of dns_start's server (e.g. --server=/zone/ADDR to forward a zone).
DNS_EXTRA_ARGS=()
# The authoritative server of dns_auth_start (a second dnsmasq in node dns).
DNS_AUTH4=10.200.0.6
DNS_AUTH_PID=""

# dns_start: dnsmasq in node "dns" answering from $RUN_DIR/dns/hosts (A/AAAA, TTL 2 s) and
# $RUN_DIR/dns/srv.conf (srv-host lines); every *.test name it does not hold is NXDOMAIN. Each
# query is logged to $RUN_DIR/dns/queries.log.
dns_start() {
	command -v dnsmasq >/dev/null || skip "dnsmasq not installed (make deps)"
	ip netns list | grep -q "^${P}dns" || topo_node dns "$DNS4" "$DNS6" "$SEG_MTU"
	echo "nameserver $DNS4" >"$RUN_DIR/resolv.conf"
	nsenter --net="/run/netns/${P}dns" dnsmasq --keep-in-foreground --no-resolv --no-hosts \
		--addn-hosts="$RUN_DIR/dns/hosts" --conf-file="$RUN_DIR/dns/srv.conf" --local=/test/ \
		--local-ttl=2 --listen-address="$DNS4" --bind-interfaces --port=53 --user=root \
		--pid-file= --log-queries --log-facility="$RUN_DIR/dns/queries.log" "${DNS_EXTRA_ARGS[@]}" \
		>>"$RUN_DIR/dns/dnsmasq.out" 2>&1 &
	DNS_PID=$!
	E2E_BG_PIDS+=($DNS_PID)
	wait_for 5 "dnsmasq listening" nsx dns sh -c "ss -lun | grep -q '$DNS4:53 '"
}

# dns_stop: the DNS server goes away (queries time out).
dns_stop() {
	[ -n "$DNS_PID" ] || return 0
	kill -TERM "$DNS_PID" 2>/dev/null
	wait "$DNS_PID" 2>/dev/null
	DNS_PID=""
}

# dns_hosts LINE...: replaces the records ("ADDR NAME" lines) and makes dnsmasq re-read them.
dns_hosts() {
	printf '%s\n' "$@" >"$RUN_DIR/dns/hosts.tmp"
	mv "$RUN_DIR/dns/hosts.tmp" "$RUN_DIR/dns/hosts"
	[ -z "$DNS_PID" ] || kill -HUP "$DNS_PID"
}

# dns_queries NAME TYPE: queries of TYPE (A, AAAA, SRV) for NAME dnsmasq logged so far.
dns_queries() { grep -c "query\[$2\] $1 from" "$RUN_DIR/dns/queries.log" 2>/dev/null || true; }

# pool_rotation VIP_KEY: the backends in rotation, sorted, space-separated.
pool_rotation() {
	lbctl -o json backend list "$1" | python3 -c '
import json, sys
bs = json.load(sys.stdin)["vip"].get("backends", [])
print(" ".join(sorted(b["address"] for b in bs if b.get("in_rotation"))))'
}

# pool_is VIP_KEY "ADDR ADDR...": the rotation is exactly these (for wait_for).
pool_is() { [ "$(pool_rotation "$1")" = "$2" ]; }

# backend_absent VIP_KEY ADDR: the VIP lists no backend at ADDR (for wait_for).
backend_absent() {
	lbctl -o json backend list "$1" | python3 -c '
import json, sys
bs = json.load(sys.stdin)["vip"].get("backends", [])
sys.exit(1 if any(b["address"] == sys.argv[1] for b in bs) else 0)' "$2"
}

# metric NAME_AND_LABELS: a sample of the LB's /metrics ("" when absent).
metric() {
	nsx lb curl -s --max-time 2 http://127.0.0.1:9440/metrics | awk -v k="$1" '$1 == k {print $2}'
}

# metric_is NAME_AND_LABELS VALUE: for wait_for (which runs its command again each poll).
metric_is() { [ "$(metric "$1")" = "$2" ]; }

# dns_auth_start ZONE TTL: a second dnsmasq in node dns (after dns_start), authoritative for ZONE on
# DNS_AUTH4, answering from $RUN_DIR/dns/auth-hosts with TTL: its NXDOMAIN and NODATA answers carry
# the zone's SOA in the authority section, whose TTL and MINIMUM are both TTL (dnsmasq sets the
# SOA minimum to --auth-ttl), i.e. RFC 2308's negative TTL is TTL. dns_start's server reaches it
# with DNS_EXTRA_ARGS=(--server=/ZONE/$DNS_AUTH4 --cache-size=0): no cache, so every query the
# agent sends for ZONE is logged by dns_start's server (dns_queries) and answered by this one.
dns_auth_start() {
	local zone=$1 ttl=$2
	nsx dns ip addr add "$DNS_AUTH4/24" dev "$(ifname dns)" 2>/dev/null
	touch "$RUN_DIR/dns/auth-hosts"
	nsenter --net="/run/netns/${P}dns" dnsmasq --keep-in-foreground --no-resolv --no-hosts \
		--addn-hosts="$RUN_DIR/dns/auth-hosts" --auth-zone="$zone" --auth-server="ns.$zone,$DNS_AUTH4" \
		--auth-ttl="$ttl" --listen-address="$DNS_AUTH4" --bind-interfaces --port=53 --user=root \
		--pid-file= --log-queries --log-facility="$RUN_DIR/dns/auth-queries.log" \
		>>"$RUN_DIR/dns/dnsmasq-auth.out" 2>&1 &
	DNS_AUTH_PID=$!
	E2E_BG_PIDS+=($DNS_AUTH_PID)
	wait_for 5 "authoritative dnsmasq listening" nsx dns sh -c "ss -lun | grep -q '$DNS_AUTH4:53 '"
}

# dns_auth_hosts LINE...: replaces the authoritative server's records and makes it re-read them.
dns_auth_hosts() {
	printf '%s\n' "$@" >"$RUN_DIR/dns/auth-hosts.tmp"
	mv "$RUN_DIR/dns/auth-hosts.tmp" "$RUN_DIR/dns/auth-hosts"
	[ -z "$DNS_AUTH_PID" ] || kill -HUP "$DNS_AUTH_PID"
}

# dns_nat_client: the nat arm for a client behind a router (README "Forwarding modes": nat needs
# the backends' replies to come back through the LB): node rt (RTL4, default route to the LB's
# second interface ${P}lc at LBC4) and the client node nc (CLN4) behind it. The LB routes the
# client network via rt; start the agent with --interface "${P}lc" as well. Needs nat_lib.sh.
dns_nat_client() {
	ip netns add "${P}rt" || fail "ip netns add ${P}rt"
	nsx rt ip link set lo up
	nsx rt sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0
	nsx lb ip link add "${P}lc" mtu 1500 type veth peer name "${P}rl" netns "${P}rt" mtu 1500 ||
		fail "veth lb <-> rt"
	nsx lb ip link set "${P}lc" up
	nsx lb ip addr add "$LBC4/24" dev "${P}lc"
	nsx lb sysctl -qw "net.ipv4.conf.${P}lc.rp_filter=0" "net.ipv4.conf.${P}lc.accept_local=1"
	nsx rt ip link set "${P}rl" up
	nsx rt ip addr add "$RTL4/24" dev "${P}rl"
	# XDP_TX / redirect into lc is delivered only when its peer runs XDP (TESTBED.md).
	nsx rt ip link set dev "${P}rl" xdpdrv obj "$XDP_PASS_OBJ" sec xdp || fail "xdp_pass on rl"
	nsx rt ip route add default via "$LBC4"
	ip netns add "${P}nc" || fail "ip netns add ${P}nc"
	nsx nc ip link set lo up
	nsx rt ip link add "${P}rc" type veth peer name "$(ifname nc)" netns "${P}nc" || fail "veth nc <-> rt"
	nsx rt ip link set "${P}rc" up
	nsx rt ip addr add "$RTC4/24" dev "${P}rc"
	nsx nc ip link set "$(ifname nc)" up
	nsx nc ip addr add "$CLN4/24" dev "$(ifname nc)"
	nsx nc ip route add default via "$RTC4"
	# The client's TCP crosses an XDP forwarder: no partial checksums (TESTBED.md).
	nsx nc ethtool -K "$(ifname nc)" tx off >/dev/null 2>&1
	nsx lb ip route replace 10.201.0.0/24 via "$RTL4"
}

# hold_on_b1 ADDR PORT: a long-lived connection from the client to ADDR:PORT that landed on b1: from
# the first client port (of 64 from a random start below the ephemeral range) that `lbctl explain`
# says the data plane puts on b1, checked against the backend that greets it. Written through fd 3,
# its echoes in $RUN_DIR/long.out, its socat LONG_PID; "before" already echoed.
hold_on_b1() {
	local addr=$1 port=$2 base i sport="" chosen owner e=$RUN_DIR/hold-explain.json
	base=$((10000 + RANDOM % 20000))
	for i in $(seq 0 63); do
		lbctl -o json explain --src "$CL4:$((base + i))" --dst "$addr:$port" >"$e" ||
			fail "lbctl explain --src $CL4:$((base + i)) --dst $addr:$port failed"
		chosen=$(json_field "$e" backend.address)
		[ "${chosen%:*}" = "$(be4 1)" ] && { sport=$((base + i)); break; }
	done
	if [ -z "$sport" ]; then
		hold_diagnostics "$addr" "$port"
		fail "lbctl explain puts none of 64 client ports ($CL4:$base..$((base + 63))) on b1 ($addr:$port)"
	fi
	rm -f "$RUN_DIR/long.in"
	mkfifo "$RUN_DIR/long.in"
	nsx cl socat - "TCP4:$addr:$port,sourceport=$sport,reuseaddr" <"$RUN_DIR/long.in" \
		>"$RUN_DIR/long.out" 2>"$RUN_DIR/long.err" &
	LONG_PID=$!
	E2E_BG_PIDS+=($LONG_PID)
	exec 3>"$RUN_DIR/long.in"
	wait_for 5 "a greeting on the connection from $CL4:$sport" test -s "$RUN_DIR/long.out"
	owner=$(head -n 1 "$RUN_DIR/long.out")
	if [ "$owner" != b1 ]; then
		hold_diagnostics "$addr" "$port"
		fail "the connection from $CL4:$sport was greeted by '$owner', lbctl explain chose b1: $(tr -d '\n' <"$e")"
	fi
	log "held a connection on b1 from $CL4:$sport (explain tried $((i + 1)) client ports)"
	send_line before
}

# hold_diagnostics ADDR PORT: what State and the data plane hold for that TCP VIP (a failed hold).
hold_diagnostics() {
	local key=$1:$2/tcp
	echo "---- lbctl backend list $key ----"
	lbctl backend list "$key"
	echo "---- new flows per backend ----"
	local b
	for b in 1 2 3; do echo "b$b $(backend_counter "$key" "$(be4 "$b")" new_flows)"; done
	echo "---- lbctl flows --vip $key --limit 20 ----"
	lbctl flows --vip "$key" --limit 20
}

# send_line TEXT: a line on hold_on_b1's connection, echoed back.
send_line() {
	echo "$1" >&3
	wait_for 5 "echo of '$1' on the held connection" grep -qx "$1" "$RUN_DIR/long.out"
}

# pool_snapshot VIP_KEY: the VIP's backends as discovery and State hold them, one line each, sorted:
# address, weight, state, rotation and source (kind, name, record, when the record was resolved).
pool_snapshot() {
	lbctl -o json backend list "$1" | python3 -c '
import json, sys
for b in sorted(json.load(sys.stdin)["vip"].get("backends", []), key=lambda b: b["address"]):
    s = b.get("source", {})
    print(b["address"], b.get("weight", ""), b.get("state", ""), b.get("in_rotation", False),
          s.get("kind", ""), s.get("name", ""), s.get("record", ""), s.get("resolved_unix_ms", ""))'
}
