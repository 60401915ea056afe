#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# e2e (issue 4, observability): `lbctl flows` and `lbctl explain` against live connections. For
# long-lived connections through a maglev VIP, both commands name the backend that really greeted
# the connection; for new connections from chosen source ports, explain's prediction is the backend
# that then answers, and after the client's close explain reports the closing flow-table entry.
# Usage: test-inspect.sh BUILD_DIR   (root; exit 77 = skipped)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NCONN=12

test_live_connections_are_named_with_their_backend() {
	nsx cl python3 "$E2E_SRC/tests/e2e/hold_clients.py" "$VIP4" 9100 "$NCONN" 200 3000 \
		"$RUN_DIR/clients.status" "$RUN_DIR/clients.stop" "$RUN_DIR/clients.out" \
		>"$RUN_DIR/clients.log" 2>&1 &
	local clients_pid=$!
	E2E_BG_PIDS+=($clients_pid)
	wait_for 15 "$NCONN long-lived connections greeted" grep -qx ready "$RUN_DIR/clients.status"
	log "$NCONN connections: $(grep -v ready "$RUN_DIR/clients.status" | awk '{print $2}' | sort | uniq -c | tr -s ' \n' ' ')"

	local port owner addr n=0
	while read -r port owner; do
		[ "$port" = ready ] && continue
		addr=$(be4 "${owner#b}")
		lbctl -o json explain --src "$CL4:$port" --dst "$VIP4:9100" --proto tcp >"$RUN_DIR/e.json" ||
			fail "lbctl explain for $CL4:$port failed"
		[ "$(json_field "$RUN_DIR/e.json" decision)" = DECISION_FLOW_HIT ] ||
			fail "explain $CL4:$port: $(json_field "$RUN_DIR/e.json" summary), want a flow-table hit"
		[ "$(json_field "$RUN_DIR/e.json" backend.address)" = "$addr" ] ||
			fail "explain $CL4:$port names $(json_field "$RUN_DIR/e.json" backend.address); the connection is served by $owner ($addr)"
		[ "$(json_field "$RUN_DIR/e.json" vip_name)" = hold ] || fail "explain $CL4:$port: VIP name"

		lbctl -o json flows --client "$CL4:$port" >"$RUN_DIR/f.json" || fail "lbctl flows --client $CL4:$port failed"
		[ "$(json_field "$RUN_DIR/f.json" matched)" = 1 ] ||
			fail "flows --client $CL4:$port matched $(json_field "$RUN_DIR/f.json" matched) flows, want 1"
		[ "$(json_field "$RUN_DIR/f.json" flows.0.backend_address)" = "$addr" ] ||
			fail "flows --client $CL4:$port names $(json_field "$RUN_DIR/f.json" flows.0.backend_address), want $addr ($owner)"
		[ "$(json_field "$RUN_DIR/f.json" flows.0.backend_current)" = true ] || fail "flow $CL4:$port not current"
		n=$((n + 1))
	done <"$RUN_DIR/clients.status"
	[ "$n" = "$NCONN" ] || fail "checked $n connections, want $NCONN"
	log "explain and flows --client name the serving backend of all $n connections"

	# The table: one row per connection of this client on the VIP, each backend's rows agree.
	lbctl flows --vip-name hold --client "$CL4" --limit 1000 >"$RUN_DIR/flows.txt" || fail "lbctl flows failed"
	head -n 3 "$RUN_DIR/flows.txt"
	grep -q "^$NCONN of $NCONN matching flows shown" "$RUN_DIR/flows.txt" ||
		fail "flows table footer: $(tail -n 1 "$RUN_DIR/flows.txt")"
	local i want got
	for i in 1 2 3; do
		want=$(grep -c " b$i\$" "$RUN_DIR/clients.status")
		got=$(grep -c "  $(be4 "$i")  " "$RUN_DIR/flows.txt")
		[ "$got" = "$want" ] || fail "flows table shows $got flows on $(be4 "$i"), b$i serves $want"
	done
	lbctl flows --backend "$(be4 1)" --vip "$VIP4:9100" -o json >"$RUN_DIR/fb.json" || fail "lbctl flows --backend failed"
	[ "$(json_field "$RUN_DIR/fb.json" matched)" = "$(grep -c ' b1$' "$RUN_DIR/clients.status")" ] ||
		fail "flows --backend $(be4 1) matched $(json_field "$RUN_DIR/fb.json" matched)"

	touch "$RUN_DIR/clients.stop"
	wait "$clients_pid" || fail "long-lived connections broke: $(grep -v ' OK$' "$RUN_DIR/clients.out" | head -n 3)"
}

# connect_from PORT: one connection from the client's source PORT to the hold VIP; prints the
# greeting (the backend's name) and closes.
connect_from() {
	nsx cl timeout 10 python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[2])))
s.settimeout(5)
s.connect((sys.argv[1], 9100))
print(s.makefile().readline().strip())
s.close()
' "$VIP4" "$1"
}

test_explain_predicts_new_connections() {
	local port predicted decision greeting addr seen=""
	for port in $(seq 41000 41015); do
		lbctl -o json explain --src "$CL4:$port" --dst "$VIP4:9100" >"$RUN_DIR/p.json" || fail "lbctl explain failed"
		decision=$(json_field "$RUN_DIR/p.json" decision)
		[ "$decision" = DECISION_NEW_FLOW ] || fail "explain $CL4:$port before connecting: $decision"
		[ "$(json_field "$RUN_DIR/p.json" hash_input)" = 5-tuple ] || fail "explain: hash input"
		predicted=$(json_field "$RUN_DIR/p.json" backend.address)
		greeting=$(connect_from "$port") || fail "connection from port $port failed"
		addr=$(be4 "${greeting#b}")
		[ "$addr" = "$predicted" ] ||
			fail "explain predicted $predicted for $CL4:$port, the connection was served by $greeting ($addr)"
		seen+=" $greeting"
		# The client closed: the entry is closing and still names the backend.
		wait_for 5 "the closing entry of $CL4:$port" sh -c \
			"'$LBCTL_BIN' --server 'unix://$SOCK' -o json explain --src '$CL4:$port' --dst '$VIP4:9100' | grep -q '\"flow_closing\": true'"
		lbctl -o json explain --src "$CL4:$port" --dst "$VIP4:9100" >"$RUN_DIR/c.json"
		[ "$(json_field "$RUN_DIR/c.json" decision)" = DECISION_FLOW_HIT ] || fail "explain after close: not a hit"
		[ "$(json_field "$RUN_DIR/c.json" flow_backend.address)" = "$addr" ] || fail "explain after close: recorded backend"
	done
	log "explain predicted all 16 new connections (served by: $(echo "$seen" | tr ' ' '\n' | grep . | sort | uniq -c | tr -s ' \n' ' '))"
	lbctl explain --src "$CL4:41000" --dst "$VIP4:9100" | head -n 1
	lbctl explain --src "$CL4:41000" --dst "$VIP4:9101" | grep -q "XDP_PASS to the kernel: no VIP $VIP4:9101/tcp" ||
		fail "explain of a non-VIP port does not say XDP_PASS"
}

e2e_init "${1:-}"
topo_create 3
cat >"$RUN_DIR/xlb.yaml" <<EOF
vips:
  - name: hold
    address: "$VIP4"
    port: 9100
    protocol: tcp
    backends:
      - {address: "$(be4 1)"}
      - {address: "$(be4 2)"}
      - {address: "$(be4 3)"}
EOF
agent_start "$RUN_DIR/xlb.yaml"
run test_live_connections_are_named_with_their_backend
run test_explain_predicts_new_connections
E2E_CURRENT_TEST=""
log "PASS: e2e inspect"
