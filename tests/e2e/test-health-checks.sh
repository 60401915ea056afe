#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# e2e (issue 3, scenario 5): HTTP and gRPC health checks detect a backend that still accepts TCP but
# answers unhealthy — /healthz turning 503, grpc.health.v1 turning NOT_SERVING — take it out of
# rotation (new connections avoid it) with the reason visible in lbctl, and put it back once healthy.
# Usage: test-health-checks.sh BUILD_DIR   (root; exit 77 = skipped)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HTTP_VIP="$VIP4:8080/tcp"
GRPC_VIP="$VIP4:50051/tcp"
GRPC_SERVICE=xlb.e2e.Echo

write_config() {
	cat >"$RUN_DIR/xlb.yaml" <<-EOF
		vips:
		  - name: http-checked
		    address: "$VIP4"
		    port: 8080
		    protocol: tcp
		    health_check:
		      type: http
		      interval_ms: 100
		      timeout_ms: 80
		      rise: 2
		      fall: 2
		      http: {path: /healthz, expected_statuses: [{low: 200, high: 299}]}
		    backends:
		      - {address: "$(be4 1)"}
		      - {address: "$(be4 2)"}
		      - {address: "$(be4 3)"}
		  - name: grpc-checked
		    address: "$VIP4"
		    port: 50051
		    protocol: tcp
		    health_check:
		      type: grpc
		      interval_ms: 100
		      timeout_ms: 80
		      rise: 2
		      fall: 2
		      grpc: {service: $GRPC_SERVICE}
		    backends:
		      - {address: "$(be4 1)"}
		      - {address: "$(be4 2)"}
		      - {address: "$(be4 3)"}
	EOF
}

start_check_servers() {
	local i node
	for i in 1 2 3; do
		node=b$i
		nsx "$node" python3 "$E2E_SRC/tests/e2e/http_health_server.py" 8080 "$node" \
			"$RUN_DIR/http-unhealthy-$node" >"$RUN_DIR/hhttp-$node.log" 2>&1 &
		E2E_BG_PIDS+=($!)
		disown $!
		nsx "$node" "$GRPC_HEALTH_BIN" --listen "[::]:50051" --service "$GRPC_SERVICE" \
			--control "$RUN_DIR/grpc-status-$node" >"$RUN_DIR/hgrpc-$node.log" 2>&1 &
		E2E_BG_PIDS+=($!)
		disown $!
	done
	for i in 1 2 3; do
		wait_for 10 "health HTTP server on b$i" nsx "b$i" curl -sf --max-time 1 "http://$(be4 "$i"):8080/healthz"
		wait_for 10 "gRPC health server on b$i" nsx "b$i" sh -c "ss -ltn | grep -q ':50051 '"
	done
}

# wait_health VIP ADDR HEALTH IN_ROTATION WHAT: bounded (the checks run every 100 ms; 5 s covers a
# busy machine). The printed time includes lbctl polling (each poll is an lbctl + python run): an
# upper bound, not the detection time (test-failover.sh measures that from the event stream).
wait_health() {
	local vip=$1 addr=$2 health=$3 rot=$4 what=$5 t0
	t0=$(now_ms)
	wait_for 5 "$what" backend_is "$vip" "$addr" health "$health"
	wait_for 5 "$what (rotation)" backend_is "$vip" "$addr" in_rotation "$rot"
	log "$what after $(($(now_ms) - t0)) ms"
}

# new_flows VIP_PORT ADDR: the data plane's new-flow counter of that backend (lbctl stats).
new_flows() { backend_counter "$VIP4:$1/tcp" "$2" new_flows; }

test_http_check() {
	local i
	for i in 1 2 3; do
		wait_for 5 "b$i up (http check)" backend_is "$HTTP_VIP" "$(be4 "$i")" health HEALTH_UP
	done
	local addr
	addr=$(be4 2)
	touch "$RUN_DIR/http-unhealthy-b2"
	wait_health "$HTTP_VIP" "$addr" HEALTH_DOWN false "b2 down and out of rotation (/healthz 503)"
	local reason
	reason=$(backend_field "$HTTP_VIP" "$addr" last_transition.reason)
	log "reason: $reason"
	echo "$reason" | grep -q 503 || fail "down reason does not mention the 503: $reason"
	# b2 still accepts TCP and serves: only the HTTP check can tell.
	local code
	code=$(nsx cl curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$addr:8080/healthz")
	[ "$code" = 503 ] || fail "b2's /healthz answered $code directly, want 503 (is it still up?)"
	nsx cl curl -sf --max-time 2 "http://$addr:8080/id" >/dev/null || fail "b2 stopped serving /id"
	lbctl backend list "$HTTP_VIP"
	http_burst 60 "$(vip_url 4 8080 /id)" "$RUN_DIR/http-down.txt"
	log "new connections while b2 is unhealthy: $(sort "$RUN_DIR/http-down.txt" | uniq -c | tr -s ' \n' ' ')"
	grep -q '^FAIL$' "$RUN_DIR/http-down.txt" && fail "connections failed while b2 was out"
	grep -qx b2 "$RUN_DIR/http-down.txt" && fail "a new connection reached unhealthy b2"

	rm -f "$RUN_DIR/http-unhealthy-b2"
	wait_health "$HTTP_VIP" "$addr" HEALTH_UP true "b2 up and back in rotation (/healthz 200)"
	http_burst 60 "$(vip_url 4 8080 /id)" "$RUN_DIR/http-up.txt"
	# Maglev, 3 equal backends: P(none of 60 on b2) = (2/3)^60, about 3e-11.
	grep -qx b2 "$RUN_DIR/http-up.txt" || fail "no new connection reached b2 after it recovered"
}

test_grpc_check() {
	local i
	for i in 1 2 3; do
		wait_for 5 "b$i up (grpc check)" backend_is "$GRPC_VIP" "$(be4 "$i")" health HEALTH_UP
	done
	local addr
	addr=$(be4 3)
	echo NOT_SERVING >"$RUN_DIR/grpc-status-b3"
	wait_health "$GRPC_VIP" "$addr" HEALTH_DOWN false "b3 down and out of rotation (NOT_SERVING)"
	log "reason: $(backend_field "$GRPC_VIP" "$addr" last_transition.reason)"
	# Still accepts TCP.
	nsx cl timeout 2 bash -c "exec 3<>/dev/tcp/$addr/50051" || fail "b3 no longer accepts TCP on :50051"
	lbctl backend list "$GRPC_VIP"
	# New connections avoid it: its data-plane new-flow counter does not move over 60 connections.
	local before after others_before others_after
	before=$(new_flows 50051 "$addr")
	others_before=$(($(new_flows 50051 "$(be4 1)") + $(new_flows 50051 "$(be4 2)")))
	seq 1 60 | nsx cl timeout 60 xargs -P 4 -I{} timeout 5 bash -c \
		"exec 3<>/dev/tcp/$VIP4/50051 && exec 3>&-" 2>/dev/null ||
		fail "TCP connections to the gRPC VIP failed"
	after=$(new_flows 50051 "$addr")
	others_after=$(($(new_flows 50051 "$(be4 1)") + $(new_flows 50051 "$(be4 2)")))
	[ "$before" = "$after" ] || fail "b3 got $((after - before)) new flows while NOT_SERVING"
	[ "$((others_after - others_before))" -ge 60 ] ||
		fail "b1+b2 counted only $((others_after - others_before)) new flows for 60 connections"
	log "60 connections to the gRPC VIP, none to b3 (new flows $before -> $after)"

	rm -f "$RUN_DIR/grpc-status-b3"
	wait_health "$GRPC_VIP" "$addr" HEALTH_UP true "b3 up and back in rotation (SERVING)"
}

e2e_init "${1:-}"
GRPC_HEALTH_BIN=$BUILD/tests/e2e/xlb-e2e-grpc-health
[ -x "$GRPC_HEALTH_BIN" ] || fail "$GRPC_HEALTH_BIN not built (run make build)"
topo_create 3
start_check_servers
write_config
agent_start "$RUN_DIR/xlb.yaml"
run test_http_check
run test_grpc_check
E2E_CURRENT_TEST=""
log "PASS: e2e health checks"
