# SPDX-License-Identifier: Apache-2.0
# e2e library for scale-out over BGP + ECMP (issue 13), on top of lib.sh: a router namespace running
# BIRD 2 or (BGP_ROUTER=frr) FRR's zebra + bgpd (ECMP, L4 multipath hashing), several balancer
# namespaces each with its own gobgpd and xlb-agent, backends and a client behind the router.
# Source lib.sh first, then this.
#
#   ns <P>cl   client    10.201.0.2   fd00:201::2    default route via rt
#   ns <P>rt   router    10.201.0.1 / 10.200.0.254, fd00:201::1 / fd00:200::fe, BIRD/FRR, AS 65000
#   ns <P>lbN  balancer  10.200.0.2N  fd00:200::2N   gobgpd (AS 65001) + xlb-agent, dsr or ipip
#   ns <P>bN   backend   10.200.0.1N  fd00:200::1N   VIPs on lo, hold/echo server :9100 (VIP4,
#                                                  VIP6) and :9200 (VIPG4)
#   ns <P>sw   switch    bridge br0: one port per node (rt, lbN, bN)
#
# The client's packet to a VIP: cl -> rt (ECMP over the lbN next hops that BGP installed, hashed on
# the 5-tuple) -> lbN (XDP: dsr MAC rewrite or ipip encapsulation, XDP_TX) -> bN (ipip: xlb-decap
# strips the outer header); bN answers the client through rt.

# A third VIP whose only job is the health-gate scenario (its checks fail on one host only): the
# long-lived connections run through VIP4/VIP6, whose backends every host keeps seeing healthy.
VIPG4=10.100.0.20
RT4=10.200.0.254
RT6=fd00:200::fe
BGP_HOLD=3
BGP_LBS=()  # the balancers started (numbers)
BGP_MODE=dsr  # the VIPs' forwarding: dsr, or ipip (backends decapsulate with xlb-decap)
BGP_ROUTER=bird  # the router's daemon: bird (BIRD 2), or frr (FRR's zebra + bgpd)
BGP_LISTEN_PORT=0  # the agents' --bgp-listen-port (0: gobgpd only connects out)
BIRD_DEBUG=""  # e.g. "states, routes": BIRD logs the balancers' sessions and route updates

lb4() { echo "10.200.0.2$1"; }
lb6() { echo "fd00:200::2$1"; }
lbsock() { echo "$RUN_DIR/lb$1/xlb.sock"; }
lbctl_n() {
	local n=$1
	shift
	"$LBCTL_BIN" --server "unix://$(lbsock "$n")" "$@"
}

bgp_init() {
	if [ "$BGP_ROUTER" = frr ]; then
		[ -x /usr/lib/frr/bgpd ] && [ -x /usr/lib/frr/zebra ] && command -v vtysh >/dev/null ||
			skip "frr not installed (apt-get install frr)"
		id frr >/dev/null 2>&1 || skip "frr's user 'frr' is missing (reinstall frr)"
	else
		command -v bird >/dev/null || skip "bird (bird2) not installed (make deps)"
	fi
	command -v gobgpd >/dev/null || skip "gobgpd not installed (make deps)"
	command -v nft >/dev/null || skip "nft not installed"
	trap bgp_cleanup EXIT
}

bgp_cleanup() {
	local rc=$?
	set +e
	local n
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -n "$RUN_DIR" ]; then
		for n in "${BGP_LBS[@]}"; do
			echo "---- lb$n agent log (last 15 lines) ----" >&2
			tail -n 15 "$RUN_DIR/lb$n/agent.log" >&2
			echo "---- lb$n lbctl bgp status ----" >&2
			lbctl_n "$n" --timeout 2s bgp status >&2 2>&1
		done
		echo "---- router: ip route ----" >&2
		nsx rt ip route show "$VIP4" >&2
		nsx rt ip -6 route show "$VIP6" >&2
		if [ "$BGP_ROUTER" = frr ]; then
			vtyrt -c "show bgp summary" >&2 2>&1
			echo "---- frr log (last 20 lines) ----" >&2
			tail -n 20 "$RUN_DIR/frr/frr.log" >&2
		else
			nsx rt birdc -s "$RUN_DIR/bird.ctl" show protocols >&2 2>&1
		fi
	fi
	for n in 1 2 3 4 5; do
		[ -f "$RUN_DIR/lb$n/agent.pid" ] && kill -KILL "$(cat "$RUN_DIR/lb$n/agent.pid")" 2>/dev/null
		[ -f "$RUN_DIR/lb$n/gobgpd.pid" ] && kill -KILL "$(cat "$RUN_DIR/lb$n/gobgpd.pid")" 2>/dev/null
		rm -rf "${PIN_DIR}-lb$n" 2>/dev/null
	done
	[ -f "$RUN_DIR/bird.pid" ] && kill -KILL "$(cat "$RUN_DIR/bird.pid")" 2>/dev/null
	for n in bgpd zebra; do
		[ -f "$RUN_DIR/frr/$n.pid" ] && kill -KILL "$(cat "$RUN_DIR/frr/$n.pid")" 2>/dev/null
	done
	(exit "$rc")
	e2e_cleanup
}

# bgp_topology NBACKENDS: switch, router (BIRD), client, backends. Balancers come with lb_add.
bgp_topology() {
	local nb=$1 i
	topo_switch
	topo_node rt "$RT4" "$RT6" "$SEG_MTU"
	nsx rt sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1
	topo_router_client "$CLIENT_MTU"
	for i in $(seq 1 "$nb"); do
		topo_backend_node "$i"
		nsx "b$i" ip route add default via "$RT4"
		nsx "b$i" ip -6 route add default via "$RT6"
		nsx "b$i" ip addr add "$VIPG4/32" dev lo
		local port
		for port in 9100 9200; do
			nsx "b$i" socat "TCP6-LISTEN:$port,fork,reuseaddr,ipv6only=0" SYSTEM:"echo b$i; cat" \
				>"$RUN_DIR/hold-b$i-$port.log" 2>&1 &
			E2E_BG_PIDS+=($!)
			disown $!
		done
	done
	for i in $(seq 1 "$nb"); do
		wait_for 5 "hold servers on b$i" nsx "b$i" sh -c "ss -ltn | grep -q ':9100 ' && ss -ltn | grep -q ':9200 '"
		[ "$BGP_MODE" = ipip ] && decap_attach "$i"
	done
	if [ "$BGP_ROUTER" = frr ]; then frr_start; else bird_start; fi
}

# BIRD 2 in the router: one eBGP session per balancer and family, routes merged into ECMP (merge
# paths), GRACEFUL_SHUTDOWN honoured (local preference 0: out of the ECMP set at once).
bird_start() {
	local conf=$RUN_DIR/bird.conf n debug=""
	[ -n "$BIRD_DEBUG" ] && debug="debug { $BIRD_DEBUG };"
	{
		cat <<EOF
router id $RT4;
log "$RUN_DIR/bird.log" all;
protocol device { scan time 10; }
protocol kernel k4 { ipv4 { import none; export all; }; merge paths on; }
protocol kernel k6 { ipv6 { import none; export all; }; merge paths on; }
filter from_lb {
  if (65535, 0) ~ bgp_community then bgp_local_pref = 0;
  accept;
}
template bgp lb {
  local as 65000;
  hold time $BGP_HOLD;
  keepalive time 1;
  connect delay time 1;
  connect retry time 1;
  error wait time 1, 2;
  $debug
}
EOF
		for n in 1 2 3 4; do
			cat <<EOF
protocol bgp lb${n}v4 from lb { neighbor $(lb4 "$n") as 65001; ipv4 { import filter from_lb; export none; }; }
protocol bgp lb${n}v6 from lb { neighbor $(lb6 "$n") as 65001; ipv6 { import filter from_lb; export none; }; }
EOF
		done
	} >"$conf"
	nsx rt bird -c "$conf" -s "$RUN_DIR/bird.ctl" -P "$RUN_DIR/bird.pid" >"$RUN_DIR/bird.out" 2>&1 ||
		fail "bird did not start: $(cat "$RUN_DIR/bird.out")"
	wait_for 5 "bird control socket" test -S "$RUN_DIR/bird.ctl"
}

# vtyrt ARGS...: FRR's vtysh on the router's daemons.
vtyrt() { vtysh --vty_socket "$RUN_DIR/frr" "$@"; }

# frr_router_config: the FRR configuration README.md shows ("On the routers", the block after
# <!-- frr-router-config -->), with its documentation prefixes replaced by the test's segment.
# Fails if the README block changed shape (a replacement that did not apply).
frr_router_config() {
	local block
	block=$(awk '/<!-- frr-router-config -->/ {found = 1; next}
		found && /^```/ {if (inside) exit; inside = 1; next}
		inside {print}' "$E2E_SRC/README.md")
	[ -n "$block" ] || fail "README.md has no FRR block after <!-- frr-router-config -->"
	local from
	for from in "192.0.2.0/24" "2001:db8::/64" "192.0.2.1"; do
		grep -qF "$from" <<<"$block" || fail "README's FRR block no longer has $from: update frr_router_config"
	done
	# \b: the router id alone, not an address that starts with it.
	sed -e 's#192\.0\.2\.0/24#10.200.0.0/24#g' -e 's#2001:db8::/64#fd00:200::/64#g' \
		-e "s#192\\.0\\.2\\.1\\b#$RT4#g" <<<"$block"
}

# FRR 8.4 in the router: zebra (kernel routes, ECMP) and bgpd with README's configuration, run as
# FRR's own user (its vty group), sockets and pid files under $RUN_DIR/frr.
frr_start() {
	local d=$RUN_DIR/frr
	mkdir -p "$d"
	{
		echo "log file $d/frr.log debugging"
		frr_router_config
	} >"$d/bgpd.conf"
	: >"$d/zebra.conf"
	chown -R frr:frr "$d"
	# FRR's daemons run as user frr: let it through the (0700) run directory to its own.
	chmod o+x "$RUN_DIR"
	nsx rt /usr/lib/frr/zebra -f "$d/zebra.conf" -i "$d/zebra.pid" -z "$d/zserv.api" \
		--vty_socket "$d" -P 0 >"$d/zebra.out" 2>&1 &
	E2E_BG_PIDS+=($!)
	wait_for 10 "zebra's API socket ($(cat "$d/zebra.out"))" test -S "$d/zserv.api"
	nsx rt /usr/lib/frr/bgpd -f "$d/bgpd.conf" -i "$d/bgpd.pid" -z "$d/zserv.api" \
		--vty_socket "$d" -P 0 >"$d/bgpd.out" 2>&1 &
	E2E_BG_PIDS+=($!)
	wait_for 10 "bgpd's vty" sh -c "vtysh --vty_socket '$d' -c 'show bgp summary' 2>&1 | grep -qv 'failed to connect'"
	grep -q "^ *maximum-paths" "$d/bgpd.conf" || fail "the FRR config has no maximum-paths (no ECMP)"
}

# lb_config N: the balancers' shared config; only bgp.router_id differs per host. The held
# connections' VIPs have lenient checks: on a loaded machine 100 ms probes time out now and then,
# and a backend one host wrongly sees down has its connections re-steered there (not what this
# test is about; gate4's checks are the fast ones).
lb_config() {
	local n=$1
	cat <<EOF
bgp:
  local_asn: 65001
  router_id: $(lb4 "$n")
  drain_wait_ms: 1500
  peers:
    - {address: $RT4, asn: 65000, hold_time_s: $BGP_HOLD}
    - {address: "$RT6", asn: 65000, hold_time_s: $BGP_HOLD}
vips:
  - name: hold4
    address: $VIP4
    port: 9100
    protocol: tcp
    forwarding: $BGP_MODE
    health_check: {type: tcp, interval_ms: 500, timeout_ms: 400, fall: 3, rise: 2}
    backends: [{address: $(be4 1)}, {address: $(be4 2)}, {address: $(be4 3)}]
  - name: hold6
    address: "$VIP6"
    port: 9100
    protocol: tcp
    forwarding: $BGP_MODE
    health_check: {type: tcp, interval_ms: 500, timeout_ms: 400, fall: 3, rise: 2}
    backends: [{address: "$(be6 1)"}, {address: "$(be6 2)"}, {address: "$(be6 3)"}]
  - name: gate4
    address: $VIPG4
    port: 9200
    protocol: tcp
    forwarding: $BGP_MODE
    health_check: {type: tcp, interval_ms: 100, timeout_ms: 100, fall: 2, rise: 2}
    backends: [{address: $(be4 1)}, {address: $(be4 2)}, {address: $(be4 3)}]
EOF
}

# lb_add N: balancer N on the segment with its gobgpd and agent (XDP attached, dsr).
lb_add() {
	lb_node "$1"
	gobgpd_start "$1"
	agent_start_lb "$1"
	BGP_LBS+=("$1")
}

# lb_node N: balancer N's namespace on the segment and its config ($RUN_DIR/lbN/xlb.yaml), no
# daemons yet.
lb_node() {
	local n=$1 node="lb$1"
	mkdir -p "$RUN_DIR/$node"
	topo_node "$node" "$(lb4 "$n")" "$(lb6 "$n")" "$SEG_MTU"
	nsx "$node" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv4.conf.all.accept_local=1
	nsx "$node" sysctl -qw "net.ipv4.conf.$(ifname "$node").rp_filter=0"
	nsx sw ip link set dev "p-$node" xdpdrv obj "$XDP_PASS_OBJ" sec xdp || fail "xdp_pass on p-$node"
	lb_config "$n" >"$RUN_DIR/$node/xlb.yaml"
}

gobgpd_start() {
	local n=$1 dir=$RUN_DIR/lb$1
	rm -f "$dir/gobgpd.sock"
	nsenter --net="/run/netns/${P}lb$n" gobgpd --api-hosts "unix://$dir/gobgpd.sock" --pprof-disable \
		--log-plain --log-level info >>"$dir/gobgpd.log" 2>&1 &
	echo $! >"$dir/gobgpd.pid"
	wait_for 10 "gobgpd API socket of lb$n" test -S "$dir/gobgpd.sock"
}

agent_start_lb() {
	local n=$1 dir=$RUN_DIR/lb$1
	: >"$dir/agent.log"
	nsenter --net="/run/netns/${P}lb$n" "$AGENT_BIN" --config "$dir/xlb.yaml" \
		--interface "$(ifname "lb$n")" --listen "unix://$dir/xlb.sock" --pin-dir "${PIN_DIR}-lb$n" \
		--state-dir "$dir/state" --metrics-listen 127.0.0.1:9440 --bgp-api "unix://$dir/gobgpd.sock" \
		--bgp-listen-port "$BGP_LISTEN_PORT" --flow-table-size 65536 --nat-table-size 16384 \
		>>"$dir/agent.log" 2>&1 &
	echo $! >"$dir/agent.pid"
	local deadline=$((SECONDS + 60)) t0
	t0=$(now_ms)
	until grep -qs "xlb-agent ready" "$dir/agent.log"; do
		kill -0 "$(cat "$dir/agent.pid")" 2>/dev/null || fail "agent of lb$n exited: $(tail -n 20 "$dir/agent.log")"
		[ "$SECONDS" -lt "$deadline" ] ||
			fail "agent of lb$n not ready after 60s; its log:" "$(tail -n 20 "$dir/agent.log")" \
				"$(proc_dump "$(cat "$dir/agent.pid")")"
		sleep 0.1
	done
	log "agent of lb$n ready after $(($(now_ms) - t0)) ms"
}

# nexthops FAMILY [VIP]: the router's next hops for VIP (default: VIP4 or VIP6 by FAMILY 4 or 6),
# sorted, one line.
nexthops() {
	if [ "$1" = 6 ]; then
		nsx rt ip -6 route show "${2:-$VIP6}/128"
	else
		nsx rt ip route show "${2:-$VIP4}/32"
	fi | grep -oE 'via [0-9a-f:.]+' | awk '{print $2}' | sort | tr '\n' ' ' | sed 's/ $//'
}

# want_nexthops FAMILY "N N ..." [VIP]: the router's next hops are exactly those balancers.
want_nexthops() {
	local fam=$1 vip=${3:-} n want=()
	for n in $2; do
		if [ "$fam" = 6 ]; then want+=("$(lb6 "$n")"); else want+=("$(lb4 "$n")"); fi
	done
	[ "$(nexthops "$fam" $vip)" = "$(printf '%s\n' "${want[@]}" | sort | tr '\n' ' ' | sed 's/ $//')" ]
}

# time_until_nexthops FAMILY "N ..." TIMEOUT_S [VIP]: polls every 10 ms; prints the ms it took.
time_until_nexthops() {
	local fam=$1 set=$2 timeout=$3 vip=${4:-} t0
	t0=$(now_ms)
	local deadline=$((SECONDS + timeout))
	until want_nexthops "$fam" "$set" $vip; do
		[ "$SECONDS" -lt "$deadline" ] || fail "router next hops for ${vip:-IPv$fam VIP} are '$(nexthops "$fam" $vip)' after ${timeout}s, want lb $set"
		sleep 0.01
	done
	echo $(($(now_ms) - t0))
}

# time_until_nexthops_both "N ..." TIMEOUT_S: polls both families' VIP routes in one loop (every
# 10 ms) and prints "MS4 MS6", the ms until each had exactly those next hops, from one start.
time_until_nexthops_both() {
	local set=$1 timeout=$2 t0 ms4="" ms6=""
	t0=$(now_ms)
	local deadline=$((SECONDS + timeout))
	while [ -z "$ms4" ] || [ -z "$ms6" ]; do
		[ -z "$ms4" ] && want_nexthops 4 "$set" && ms4=$(($(now_ms) - t0))
		[ -z "$ms6" ] && want_nexthops 6 "$set" && ms6=$(($(now_ms) - t0))
		[ "$SECONDS" -lt "$deadline" ] || fail "router next hops after ${timeout}s: IPv4 '$(nexthops 4)', IPv6 '$(nexthops 6)', want lb $set"
		sleep 0.01
	done
	echo "$ms4 $ms6"
}

# lb_vip_packets N FAMILY: packets balancer N's data plane counted for the VIP of FAMILY.
lb_vip_packets() {
	local key
	if [ "$2" = 6 ]; then key="[$VIP6]:9100/tcp"; else key="$VIP4:9100/tcp"; fi
	SOCK=$(lbsock "$1") vip_counter "$key" packets
}

# start_flows FAMILY N: N long-lived connections to VIP4/VIP6:9100 from the client, each echoing a
# line every 200 ms and checking its backend never changes (hold_clients.py); $FLOWS<FAMILY>_PID.
start_flows() {
	local fam=$1 n=$2 host
	if [ "$fam" = 6 ]; then host=$VIP6; else host=$VIP4; fi
	nsx cl timeout 600 python3 "$E2E_SRC/tests/e2e/hold_clients.py" "$host" 9100 "$n" 200 10000 \
		"$RUN_DIR/flows$fam.status" "$RUN_DIR/flows.stop" "$RUN_DIR/flows$fam.out" \
		>"$RUN_DIR/flows$fam.log" 2>&1 &
	eval "FLOWS${fam}_PID=$!"
	E2E_BG_PIDS+=($!)
}

# flows_alive: both connection holders still run (a broken connection ends them).
flows_alive() {
	local fam
	for fam in 4 6; do
		kill -0 "$(eval echo "\$FLOWS${fam}_PID")" 2>/dev/null ||
			fail "the IPv$fam connection holder exited early: $(tail -n 3 "$RUN_DIR/flows$fam.log")"
	done
}

# lb_quiet_then_undrain N "SET": after its drain, balancer N's VIP counters stay still for 1.5 s
# (nothing reaches it any more), the connections all live; then lbctl bgp undrain and the router
# back to next hops SET.
lb_quiet_then_undrain() {
	local n=$1 set=$2 before after
	sleep 0.5
	before=$(($(lb_vip_packets "$n" 4) + $(lb_vip_packets "$n" 6)))
	sleep 1.5
	after=$(($(lb_vip_packets "$n" 4) + $(lb_vip_packets "$n" 6)))
	[ "$after" = "$before" ] || fail "lb$n still receives packets after its drain ($before -> $after)"
	log "lb$n receives no new packets (VIP counters stay at $after)"
	flows_alive
	lbctl_n "$n" bgp undrain >/dev/null || fail "lbctl bgp undrain"
	time_until_nexthops 4 "$set" 15 >/dev/null
	time_until_nexthops 6 "$set" 15 >/dev/null
	log "lb$n undrained: announced again"
}

# watch_router FILE: samples the router's next hops ("MS V4HOPS|V6HOPS" lines) every 20 ms into
# FILE until watch_stop FILE (at most about a minute); $WATCHER is the sampler.
watch_router() {
	local out=$1
	(
		for _ in $(seq 1 3000); do
			[ -f "$out.stop" ] && break
			echo "$(now_ms) $(nexthops 4)|$(nexthops 6)"
			sleep 0.02
		done
	) >"$out" &
	WATCHER=$!
	E2E_BG_PIDS+=($WATCHER)
}

watch_stop() {
	touch "$1.stop"
	wait "$WATCHER" 2>/dev/null
}

# flows_spread "N ...": $N4 IPv4 and $N6 IPv6 held connections (start_flows), all greeted; then
# every balancer N forwards packets of both families (the router's ECMP uses each).
flows_spread() {
	start_flows 4 "$N4"
	start_flows 6 "$N6"
	wait_for 60 "$N4 IPv4 connections" grep -qx ready "$RUN_DIR/flows4.status"
	wait_for 60 "$N6 IPv6 connections" grep -qx ready "$RUN_DIR/flows6.status"
	local per
	per=$(grep -v ready "$RUN_DIR/flows4.status" "$RUN_DIR/flows6.status" | awk '{print $2}' | sort | uniq -c | tr -s ' \n' ' ')
	log "connections per backend:$per"
	sleep 1
	local n fam p
	for n in $1; do
		for fam in 4 6; do
			p=$(lb_vip_packets "$n" "$fam")
			[ "${p:-0}" -gt 0 ] || fail "lb$n forwarded no IPv$fam packet: the router's ECMP does not use it"
			log "lb$n IPv$fam packets: $p"
		done
	done
}
