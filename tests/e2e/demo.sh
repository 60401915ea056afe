#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: builds a namespace topology (client, load balancer, 3 backends), starts xlb-agent with
# deploy/demo.yaml (web: IPv4 dsr, weights 1:1:2; web6: IPv6 ipip), sends 300 + 90 real HTTP requests
# from the client and shows who answered, next to what the data plane counted (lbctl stats).
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
cat <<EOT
  client   $CL4 / $CL6   routes $VIP4 and $VIP6 via the LB
  LB       $LB4 / $LB6   xlb-agent, XDP balancer on $(ifname lb)
  backends $(be4 1)-13 / $(be6 1)-13: VIPs on lo, python http.server, xlb-decap (for ipip)
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

banner "lbctl stats (what the data plane counted)"
lbctl stats || fail "lbctl stats"

banner "lbctl backend weight $VIP4:80/tcp $(be4 3) 0   (drain b3: no new flows)"
lbctl backend weight "$VIP4:80/tcp" "$(be4 3)" 0 || fail "lbctl backend weight"
http_burst 60 "$(vip_url 4 80 /id)" "$RUN_DIR/drain.txt"
echo "60 more requests:"
count_responses "$RUN_DIR/drain.txt"

failures=$(cat "$RUN_DIR/v4.txt" "$RUN_DIR/v6.txt" "$RUN_DIR/drain.txt" | grep -c '^FAIL$')
banner "done in $((SECONDS - t_start))s: $((REQUESTS4 + REQUESTS6 + 60)) requests, $failures failed; cleaning up"
[ "$failures" = 0 ] || fail "$failures requests failed"
grep -qx b3 "$RUN_DIR/drain.txt" && fail "drained backend b3 still got new connections"
exit 0
