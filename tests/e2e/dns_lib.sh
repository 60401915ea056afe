# SPDX-License-Identifier: Apache-2.0
# e2e helpers for backends by name (issue 14): a real dnsmasq in its own namespace on the segment
# serving the test's records from files it re-reads on SIGHUP, the agent's resolver pointed at it
# with --resolv-conf, and probes of a VIP's discovered pool. Source after lib.sh.

DNS4=10.200.0.5
DNS6=fd00:200::5
DNS_PID=""

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
		--pid-file= --log-queries --log-facility="$RUN_DIR/dns/queries.log" \
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
