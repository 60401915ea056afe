#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: builds a namespace topology (client, load balancer, 3 backends), starts xlb-agent with
# deploy/demo.yaml (web: IPv4 dsr, weights 1:1:2; web6: IPv6 ipip; users-fullnat and users-nat: VIP:80
# -> three unmodified HTTP servers on :8000), sends real HTTP requests from the client and shows who
# answered, next to what the data plane counted (lbctl stats).
# Usage: demo.sh BUILD_DIR   (root)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REQUESTS4=300
REQUESTS6=90

if [ -t 1 ]; then
	banner() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	banner() { printf '\n== %s\n' "$*"; }
fi

# count_responses FILE: "bN: count" per backend, plus failures.
count_responses() {
	sort "$1" | uniq -c | awk '{printf "  %-5s %4d responses\n", $2, $1}'
}

t_start=$SECONDS
e2e_init "${1:-build}"
banner "topology: client, LB and 3 backends on one bridged segment (namespaces ${P}*)"
topo_create 3
for i in 1 2 3; do decap_attach "$i"; done
# The NAT part: three ordinary HTTP servers on :8000 (b4-b6), nothing set up for the balancer on
# them except, for nat, the route back to the client through the LB. The LB owns the SNAT address.
for i in 4 5 6; do
	topo_node "b$i" "$(be4 "$i")" "$(be6 "$i")" "$SEG_MTU"
	# Their replies cross the XDP balancer (rewritten): no partial checksums on veth (TESTBED.md).
	nsx "b$i" ethtool -K "$(ifname "b$i")" tx off >/dev/null 2>&1
	nsx "b$i" ip route add "$CL4/32" via "$LB4"
	mkdir -p "$RUN_DIR/www-b$i"
	echo "b$i" >"$RUN_DIR/www-b$i/id"
	nsx "b$i" python3 -m http.server 8000 --bind 0.0.0.0 --directory "$RUN_DIR/www-b$i" \
		>"$RUN_DIR/http-b$i.log" 2>&1 &
	E2E_BG_PIDS+=($!)
	disown $!
	wait_for 10 "HTTP server on b$i:8000" nsx "b$i" curl -sf --max-time 1 "http://$(be4 "$i"):8000/id"
done
nsx lb ip addr add 10.200.0.100/24 dev "$(ifname lb)"
nsx cl ip route add 10.100.0.20/32 via "$LB4"
nsx cl ip route add 10.100.0.21/32 via "$LB4"
cat <<EOT
  client   $CL4 / $CL6   routes $VIP4 and $VIP6 via the LB
  LB       $LB4 / $LB6   xlb-agent, XDP balancer on $(ifname lb)
  backends $(be4 1)-13 / $(be6 1)-13: VIPs on lo, python http.server, xlb-decap (for ipip)
  backends $(be4 4)-16: unmodified python http.server on :8000 (NAT VIPs 10.100.0.20 and .21)
  SNAT     10.200.0.100 on the LB (fullnat source address)
EOT

banner "xlb-agent --config deploy/demo.yaml --interface $(ifname lb)"
agent_start "$E2E_SRC/deploy/demo.yaml"
lbctl vip list || fail "lbctl vip list"

banner "$REQUESTS4 HTTP requests to http://$VIP4/ (dsr) — who answered"
http_burst "$REQUESTS4" "$(vip_url 4 80 /id)" "$RUN_DIR/v4.txt"
count_responses "$RUN_DIR/v4.txt"

banner "$REQUESTS6 HTTP requests to http://[$VIP6]/ (ipip, decapsulated by xlb-decap) — who answered"
http_burst "$REQUESTS6" "$(vip_url 6 80 /id)" "$RUN_DIR/v6.txt"
count_responses "$RUN_DIR/v6.txt"

banner "100 HTTP requests to http://10.100.0.20/ (fullnat -> b4-b6:8000, unmodified) — who answered"
http_burst 100 "http://10.100.0.20:80/id" "$RUN_DIR/fullnat.txt"
count_responses "$RUN_DIR/fullnat.txt"
echo "what b4 saw as the client (fullnat: the SNAT address):"
grep -m1 'GET /id' "$RUN_DIR/http-b4.log" | awk '{print "  " $1}'

banner "100 HTTP requests to http://10.100.0.21/ (nat -> the same servers) — who answered"
http_burst 100 "http://10.100.0.21:80/id" "$RUN_DIR/nat.txt"
count_responses "$RUN_DIR/nat.txt"
echo "what b4 saw as the client (nat: the client's own address):"
grep 'GET /id' "$RUN_DIR/http-b4.log" | awk '{print "  " $1}' | grep -v 10.200.0.100 | head -n 1

banner "lbctl nat list --limit 5 (NAT connections: both tuples)"
lbctl nat list --limit 5 || fail "lbctl nat list"

banner "lbctl stats (what the data plane counted)"
lbctl stats || fail "lbctl stats"

banner "lbctl backend weight $VIP4:80/tcp $(be4 3) 0   (drain b3: no new flows)"
lbctl backend weight "$VIP4:80/tcp" "$(be4 3)" 0 || fail "lbctl backend weight"
http_burst 60 "$(vip_url 4 80 /id)" "$RUN_DIR/drain.txt"
echo "60 more requests:"
count_responses "$RUN_DIR/drain.txt"

failures=$(cat "$RUN_DIR/v4.txt" "$RUN_DIR/v6.txt" "$RUN_DIR/fullnat.txt" "$RUN_DIR/nat.txt" \
	"$RUN_DIR/drain.txt" | grep -c '^FAIL$')
banner "done in $((SECONDS - t_start))s: $((REQUESTS4 + REQUESTS6 + 260)) requests, $failures failed; cleaning up"
[ "$failures" = 0 ] || fail "$failures requests failed"
grep -qx b3 "$RUN_DIR/drain.txt" && fail "drained backend b3 still got new connections"
exit 0
