# SPDX-License-Identifier: Apache-2.0
# e2e library: a namespace topology (client, load balancer, backends on one bridged L2 segment),
# xlb-agent/lbctl/xlb-decap wrappers, bounded wait helpers and a cleanup trap. Source it, then call
# e2e_init BUILD_DIR.
#
# Topology (every name carries the per-run prefix xlbt<pid>-, so parallel runs never collide):
#
#   ns <P>cl  client   10.200.0.2   fd00:200::2    routes the VIPs via the LB
#   ns <P>lb  LB       10.200.0.1   fd00:200::1    xlb-agent, XDP balancer on its segment veth
#   ns <P>bN  backend  10.200.0.1N  fd00:200::1N   VIPs on lo, HTTP :80, a stream server :9000 and
#                                                  a hold/echo server :9100
#   ns <P>sw  switch   bridge br0 with one veth port per node (p-<node>)
#
# The client's packet for a VIP goes client -> br0 -> LB (XDP: dsr MAC rewrite or ipip encap, XDP_TX
# back out the same veth) -> br0 -> backend, and the backend answers the client directly over br0.
# veth + XDP rules from TESTBED.md that this relies on:
#  - XDP_TX on a veth is only delivered when the peer runs XDP: xdp_pass.bpf.o sits on p-lb;
#  - the client sends TCP through an XDP forwarder: its tx checksum offload is off;
#  - ipip adds 20/40 bytes: segment MTU 1600, the client keeps 1500 so its MSS leaves room;
#  - nsenter --net keeps /sys/fs/bpf visible (ip netns exec would remount /sys).

set -u -o pipefail

E2E_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
P="xlbt$$-"
RUN_DIR=""
PIN_DIR="/sys/fs/bpf/xlbt$$"
DECAP_PIN_ROOT="/sys/fs/bpf/xlbt$$-decap"
SOCK=""
AGENT_PID=""
E2E_BG_PIDS=()
E2E_CURRENT_TEST=""

VIP4=10.100.0.10
VIP6=fd00:100::10
LB4=10.200.0.1
LB6=fd00:200::1
CL4=10.200.0.2
CL6=fd00:200::2
SEG_MTU=1600
CLIENT_MTU=1500
# The client network behind a router (topo_router_client).
RTC4=10.201.0.1
RTC6=fd00:201::1
CLN4=10.201.0.2
CLN6=fd00:201::2

log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*"; }

skip() {
	echo "SKIP: $*"
	exit 77
}

# Stops the test: the EXIT trap prints diagnostics and cleans up.
fail() {
	echo "FAIL${E2E_CURRENT_TEST:+ [$E2E_CURRENT_TEST]}: $*" >&2
	exit 1
}

# be4 N / be6 N: backend N's segment address.
be4() { echo "10.200.0.1$1"; }
be6() { echo "fd00:200::1$1"; }

# nsx NODE CMD...: run CMD in the node's network namespace (mount namespace kept: bpffs visible).
nsx() {
	local node=$1
	shift
	nsenter --net="/run/netns/${P}${node}" "$@"
}

# The node's interface on the segment (unique per run, so pin paths keyed by ifname never collide).
ifname() { echo "${P}$1"; }

e2e_init() {
	[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, XDP, bpffs)"
	[ $# -ge 1 ] || fail "usage: $0 BUILD_DIR"
	BUILD=$(cd "$1" 2>/dev/null && pwd) || fail "build dir $1 does not exist (run make build)"
	LBCTL_BIN=$BUILD/cli/lbctl
	AGENT_BIN=$BUILD/agent/xlb-agent
	DECAP_BIN=$BUILD/agent/decap/xlb-decap
	XDP_PASS_OBJ=$BUILD/tests/e2e/xdp_pass.bpf.o
	local tool
	for tool in ip nsenter curl socat python3 ethtool timeout; do
		command -v "$tool" >/dev/null || skip "tool '$tool' not installed (make deps)"
	done
	local bin
	for bin in "$LBCTL_BIN" "$AGENT_BIN" "$DECAP_BIN" "$XDP_PASS_OBJ"; do
		[ -e "$bin" ] || fail "$bin not built (run make build)"
	done
	ip netns add "${P}probe" 2>/dev/null || skip "cannot create network namespaces"
	ip netns del "${P}probe"
	if ! mountpoint -q /sys/fs/bpf; then
		mount -t bpf bpf /sys/fs/bpf || skip "cannot mount bpffs at /sys/fs/bpf"
	fi
	RUN_DIR=$(mktemp -d "/tmp/xlbt$$.XXXXXX")
	SOCK=$RUN_DIR/xlb.sock
	trap e2e_cleanup EXIT
	trap 'exit 130' INT TERM
	log "run $P: build $BUILD, run dir $RUN_DIR"
}

e2e_cleanup() {
	local rc=$?
	set +e
	trap - EXIT
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -n "$RUN_DIR" ]; then
		echo "---- diagnostics (exit $rc) ----" >&2
		if [ -f "$RUN_DIR/agent.log" ]; then
			echo "---- xlb-agent log (last 40 lines) ----" >&2
			tail -n 40 "$RUN_DIR/agent.log" >&2
		fi
		if [ -S "$SOCK" ]; then
			echo "---- lbctl stats ----" >&2
			"$LBCTL_BIN" --server "unix://$SOCK" --timeout 2s stats >&2 2>&1
		fi
	fi
	agent_stop
	local pid
	for pid in "${E2E_BG_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
	# A process left in a namespace keeps its veths alive: kill them all before deleting.
	local ns
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${P}"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
	done
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${P}"); do
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$PIN_DIR" "$DECAP_PIN_ROOT" 2>/dev/null
	[ -n "$RUN_DIR" ] && rm -rf "$RUN_DIR"
	exit "$rc"
}

# wait_for TIMEOUT_S WHAT CMD...: polls CMD every 100 ms; fails the test after TIMEOUT_S seconds.
wait_for() {
	local timeout=$1 what=$2
	shift 2
	local deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${timeout}s waiting for $what"
		sleep 0.1
	done
}

# ---- topology ------------------------------------------------------------------------------------

topo_switch() {
	ip netns add "${P}sw" || fail "ip netns add ${P}sw"
	nsx sw ip link set lo up
	nsx sw ip link add br0 type bridge || fail "create bridge"
	# No multicast snooping: without an MLD querier it can hold back IPv6 neighbour solicitations.
	nsx sw ip link set br0 type bridge mcast_snooping 0
	# A switch forwards frames as they are: the kernel's bridge netfilter would validate (and drop)
	# malformed IP headers before they ever reach the balancer (test-malformed.sh sends those).
	nsx sw sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 \
		net.bridge.bridge-nf-call-arptables=0 2>/dev/null
	nsx sw ip link set br0 up
}

# topo_node NODE ADDR4 ADDR6 MTU: a namespace with one veth into the bridge.
topo_node() {
	local node=$1 a4=$2 a6=$3 mtu=$4 dev
	dev=$(ifname "$node")
	ip netns add "${P}${node}" || fail "ip netns add ${P}${node}"
	nsx "$node" ip link set lo up
	nsx sw ip link add "p-$node" mtu "$SEG_MTU" type veth peer name "$dev" netns "${P}${node}" \
		mtu "$mtu" || fail "veth for $node"
	nsx sw ip link set "p-$node" master br0 up
	nsx "$node" ip link set "$dev" up
	nsx "$node" ip addr add "$a4/24" dev "$dev"
	nsx "$node" ip -6 addr add "$a6/64" dev "$dev" nodad
}

# topo_create NBACKENDS: switch, client, LB and backends 1..NBACKENDS (all running their servers).
topo_create() {
	local n=$1 i
	topo_switch
	topo_node cl "$CL4" "$CL6" "$CLIENT_MTU"
	# The client's TCP crosses an XDP forwarder: a partial checksum would be lost (TESTBED.md).
	nsx cl ethtool -K "$(ifname cl)" tx off >/dev/null 2>&1
	nsx cl ip route add "$VIP4/32" via "$LB4"
	nsx cl ip -6 route add "$VIP6/128" via "$LB6"

	topo_lb

	for i in $(seq 1 "$n"); do
		topo_backend "$i"
	done
}

# topo_router_client PATH_MTU: the client namespace cl behind the router namespace rt (which must
# exist) on its own link of PATH_MTU toward the client (a smaller MTU makes rt send frag-needed /
# packet-too-big), client addresses CLN4/CLN6, router side RTC4/RTC6, the client's default route
# through rt.
topo_router_client() {
	local path_mtu=$1
	ip netns add "${P}cl" || fail "ip netns add ${P}cl"
	nsx cl ip link set lo up
	nsx rt ip link add "${P}rc" mtu "$path_mtu" type veth peer name "$(ifname cl)" netns "${P}cl" \
		mtu "$CLIENT_MTU" || fail "veth client <-> router"
	nsx rt ip link set "${P}rc" up
	nsx rt ip addr add "$RTC4/24" dev "${P}rc"
	nsx rt ip -6 addr add "$RTC6/64" dev "${P}rc" nodad
	nsx cl ip link set "$(ifname cl)" up
	nsx cl ip addr add "$CLN4/24" dev "$(ifname cl)"
	nsx cl ip -6 addr add "$CLN6/64" dev "$(ifname cl)" nodad
	nsx cl ip route add default via "$RTC4"
	nsx cl ip -6 route add default via "$RTC6"
	# The client's TCP crosses an XDP forwarder: no partial checksums (TESTBED.md).
	nsx cl ethtool -K "$(ifname cl)" tx off >/dev/null 2>&1
}

# topo_lb: the LB node on the segment, forwarding, no reverse-path filter, local sources accepted
# (its own VIP-sourced ICMP); its switch port carries an XDP program so that XDP_TX out of the
# LB's veth works.
topo_lb() {
	topo_node lb "$LB4" "$LB6" "$SEG_MTU"
	nsx lb sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv4.conf.all.accept_local=1
	nsx lb sysctl -qw "net.ipv4.conf.$(ifname lb).rp_filter=0" "net.ipv4.conf.$(ifname lb).accept_local=1"
	nsx sw ip link set dev p-lb xdpdrv obj "$XDP_PASS_OBJ" sec xdp || fail "attach xdp_pass to p-lb"
}

# topo_backend_node N: backend bN on the segment with the VIPs on lo, ARP for them hidden (DSR),
# no reverse-path filter; no services.
topo_backend_node() {
	local node="b$1" dev
	dev=$(ifname "$node")
	topo_node "$node" "$(be4 "$1")" "$(be6 "$1")" "$SEG_MTU"
	nsx "$node" ip addr add "$VIP4/32" dev lo
	nsx "$node" ip -6 addr add "$VIP6/128" dev lo nodad
	nsx "$node" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	nsx "$node" sysctl -qw "net.ipv4.conf.$dev.arp_ignore=1" "net.ipv4.conf.$dev.arp_announce=2" \
		"net.ipv4.conf.$dev.rp_filter=0"
}

# topo_backend N: backend bN with the VIPs on lo, ARP hidden, HTTP on :80 (GET /id -> "bN"), a
# stream server on :9000 (50 lines "bN <seq>", one per 100 ms) and a hold/echo server on :9100
# (sends "bN", then echoes every line back until the client closes: long-lived connections).
topo_backend() {
	local i=$1 node="b$1"
	topo_backend_node "$i"
	mkdir -p "$RUN_DIR/www-$node"
	echo "$node" >"$RUN_DIR/www-$node/id"
	# python's http.server binds dual-stack for --bind ::, so one server covers both VIPs.
	nsx "$node" python3 -m http.server 80 --bind :: --directory "$RUN_DIR/www-$node" \
		>"$RUN_DIR/http-$node.log" 2>&1 &
	E2E_BG_PIDS+=($!)
	disown $!
	nsx "$node" socat "TCP6-LISTEN:9000,fork,reuseaddr,ipv6only=0" \
		SYSTEM:"for i in \$(seq 1 50); do echo $node \$i; sleep 0.1; done" \
		>"$RUN_DIR/stream-$node.log" 2>&1 &
	E2E_BG_PIDS+=($!)
	disown $!
	nsx "$node" socat "TCP6-LISTEN:9100,fork,reuseaddr,ipv6only=0" SYSTEM:"echo $node; cat" \
		>"$RUN_DIR/hold-$node.log" 2>&1 &
	E2E_BG_PIDS+=($!)
	disown $!
	wait_for 10 "HTTP server on $node" nsx "$node" curl -sf --max-time 1 "http://$(be4 "$i")/id"
	wait_for 5 "stream server on $node" nsx "$node" sh -c "ss -ltn | grep -q ':9000 '"
	wait_for 5 "hold server on $node" nsx "$node" sh -c "ss -ltn | grep -q ':9100 '"
}

# decap_attach N: xlb-decap on backend N's segment veth (ipip mode); pins under a per-run root.
decap_attach() {
	local node="b$1"
	nsx "$node" "$DECAP_BIN" attach --interface "$(ifname "$node")" --pin-root "$DECAP_PIN_ROOT" \
		>"$RUN_DIR/decap-$node.log" 2>&1 ||
		fail "xlb-decap attach on $node: $(cat "$RUN_DIR/decap-$node.log")"
}

# ---- agent and lbctl -----------------------------------------------------------------------------

# agent_start CONFIG_FILE [extra flags]: xlb-agent in the LB namespace, waits for "xlb-agent ready".
# The flow table has 65,536 entries unless E2E_FLOW_TABLE_SIZE says otherwise (the flag is single).
agent_start() {
	local cfg=$1
	shift
	# The previous run's log says "ready" too: the background child truncates it only once it runs,
	# so without this the wait below could see the old line and return before the socket exists.
	rm -f "$RUN_DIR/agent.log"
	# nsenter itself, not the nsx function: a backgrounded function runs in a forked subshell, so $!
	# would be that shell and agent_stop's SIGTERM would never reach the agent (nsenter execs it).
	nsenter --net="/run/netns/${P}lb" "$AGENT_BIN" --config "$cfg" --interface "$(ifname lb)" \
		--listen "unix://$SOCK" --pin-dir "$PIN_DIR" --state-dir "$RUN_DIR/state" \
		--flow-table-size "${E2E_FLOW_TABLE_SIZE:-65536}" --detach-on-exit "$@" \
		>"$RUN_DIR/agent.log" 2>&1 &
	AGENT_PID=$!
	local deadline=$((SECONDS + 20))
	until grep -qs "xlb-agent ready" "$RUN_DIR/agent.log"; do
		kill -0 "$AGENT_PID" 2>/dev/null || {
			AGENT_PID=""
			fail "xlb-agent exited during startup: $(tail -n 20 "$RUN_DIR/agent.log")"
		}
		[ "$SECONDS" -lt "$deadline" ] || fail "xlb-agent not ready after 20s"
		sleep 0.1
	done
	log "xlb-agent ready (pid $AGENT_PID)"
}

# agent_stop: SIGTERM, then SIGKILL after 5 s.
agent_stop() {
	[ -n "$AGENT_PID" ] || return 0
	kill -TERM "$AGENT_PID" 2>/dev/null
	local i
	for i in $(seq 1 50); do
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$AGENT_PID" 2>/dev/null; then
		echo "xlb-agent did not stop within 5s of SIGTERM: killing it" >&2
		kill -KILL "$AGENT_PID" 2>/dev/null
	fi
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=""
}

# run FUNCTION ARGS...: one named scenario, logged; `fail` inside it names it (E2E_CURRENT_TEST).
# Scripts may set E2E_TEST_PREFIX (e.g. the forwarding mode) to qualify the name.
run() {
	E2E_CURRENT_TEST="${E2E_TEST_PREFIX:-}$*"
	log "=== $E2E_CURRENT_TEST"
	"$@"
	log "--- ok: $E2E_CURRENT_TEST"
}

lbctl() { "$LBCTL_BIN" --server "unix://$SOCK" "$@"; }

# ---- traffic -------------------------------------------------------------------------------------

# vip_url FAMILY PORT PATH
vip_url() {
	if [ "$1" = 6 ]; then echo "http://[$VIP6]:$2$3"; else echo "http://$VIP4:$2$3"; fi
}

# http_burst N URL OUT: N new connections from the client (E2E_CLIENT_CPU=C pins the curls to one
# CPU, E2E_CURL_OPTS adds curl options such as --interface ADDR) (4 curl processes, 10 requests each per
# invocation, 5 s per request and 60 s for the burst at most); writes one line per request to OUT: the backend's name, or
# FAIL. python's http.server speaks HTTP/1.0 and closes every connection, so each request is a new
# TCP connection (a new flow for the balancer; test_distribution checks that against the counters).
http_burst() { http_burst_from cl "$@"; }

# source_hash_affinity PREFIX ADDRS CONNS URL WHAT: adds client addresses PREFIX.50 .. PREFIX.(49+ADDRS)
# (/24) to cl; from each, CONNS HTTP connections to URL (http_burst) must all reach one backend, and
# the addresses must not all reach the same one (fails naming WHAT). Logs which address went where.
source_hash_affinity() {
	local prefix=$1 naddrs=$2 conns=$3 url=$4 what=$5 i addr out distinct backends=""
	for i in $(seq 1 "$naddrs"); do
		nsx cl ip addr add "$prefix.$((49 + i))/24" dev "$(ifname cl)" 2>/dev/null
	done
	for i in $(seq 1 "$naddrs"); do
		addr=$prefix.$((49 + i))
		out=$RUN_DIR/affinity-$addr-${url//[^a-z0-9]/_}.txt
		E2E_CURL_OPTS="--interface $addr" http_burst "$conns" "$url" "$out"
		grep -q '^FAIL$' "$out" && fail "$what: client $addr: $(grep -c '^FAIL$' "$out") connections failed"
		distinct=$(sort -u "$out")
		[ "$(echo "$distinct" | wc -l)" = 1 ] ||
			fail "$what: client $addr reached several backends under source_hash: $(echo $distinct)"
		backends+=" ${addr##*.}->$distinct"
	done
	log "source_hash affinity $what ($conns connections per client address):$backends"
	[ "$(echo "$backends" | tr ' ' '\n' | sed 's/.*->//' | sort -u | grep -c .)" -ge 2 ] ||
		fail "$what: all $naddrs client addresses landed on one backend:$backends"
}

# http_burst_from NODE N URL OUT: http_burst from client node NODE.
http_burst_from() {
	local node=$1 n=$2 url=$3 out=$4 batch=10
	local urls
	urls=$(printf "'%s' " $(yes "$url" | head -n "$batch"))
	# The whole burst is bounded too (a half-broken path must not hold the suite for minutes).
	seq 1 $(((n + batch - 1) / batch)) |
		nsx "$node" ${E2E_CLIENT_CPU:+taskset -c "$E2E_CLIENT_CPU"} timeout 60 \
			xargs -P 4 -I{} sh -c "curl -s -g --max-time 5 ${E2E_CURL_OPTS:-} $urls; true" |
		grep -E '^b[0-9]+$' | head -n "$n" >"$out"
	local got
	got=$(grep -c . "$out")
	while [ "$got" -lt "$n" ]; do
		echo FAIL >>"$out"
		got=$((got + 1))
	done
}

# check_shares COUNTS_FILE TOTAL "b1=1 b2=1 b3=2" [TOLERANCE]: every backend's count near its
# weight share of TOTAL; nothing else (no FAIL, no unexpected backend). TOLERANCE is a percentage
# of the expected count (default 30), or zK: K standard deviations of Binomial(TOTAL, share), the
# count of a backend picked independently per connection with probability share (hash of random
# ports, random); z4.5 fails a correct distribution about once in 150,000 checks.
check_shares() {
	local file=$1 total=$2 weights=$3 tol=${4:-30}
	local got
	got=$(grep -c . "$file")
	[ "$got" = "$total" ] || fail "expected $total responses, got $got"
	local failed
	failed=$(grep -c '^FAIL$' "$file")
	[ "$failed" = 0 ] || fail "$failed of $total requests failed"
	local wsum=0 kv
	for kv in $weights; do wsum=$((wsum + ${kv#*=})); done
	local summary="" bad=""
	for kv in $weights; do
		local name=${kv%%=*} w=${kv#*=} count expected lo hi
		count=$(grep -cx "$name" "$file")
		expected=$((total * w / wsum))
		if [[ "$tol" == z* ]]; then
			read -r lo hi < <(awk -v n="$total" -v w="$w" -v s="$wsum" -v z="${tol#z}" 'BEGIN {
				p = w / s; d = z * sqrt(n * p * (1 - p)); m = n * p
				lo = m - d; hi = m + d; printf "%d %d\n", (lo > 0 ? int(lo + 0.999999) : 0), int(hi) }')
		else
			lo=$((expected * (100 - tol) / 100))
			hi=$((expected * (100 + tol) / 100))
		fi
		summary+=" $name=$count(expect $expected, $lo..$hi)"
		if [ "$count" -lt "$lo" ] || [ "$count" -gt "$hi" ]; then bad+=" $name"; fi
	done
	local unknown
	unknown=$(grep -v '^FAIL$' "$file" | sort -u | grep -vxE "$(echo "$weights" | sed -E 's/=[0-9]+//g; s/ +/|/g; s/^\||\|$//g')")
	[ -z "$unknown" ] || fail "responses from unexpected backends: $unknown"
	log "shares:$summary"
	[ -z "$bad" ] || fail "backend share outside its tolerance ($tol):$bad (${summary# })"
}

# now_ms: wall-clock milliseconds (the agent's event times use the same clock).
now_ms() { date +%s%3N; }

# proc_dump PID: what a process that does not progress is doing, for a failure message: its state,
# threads, kernel stack and (gdb present) every thread's user stack, and the machine's busiest
# processes.
proc_dump() {
	local pid=$1
	echo "---- process $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-200) ----"
	grep -E '^(State|Threads|VmRSS|voluntary|nonvoluntary)' "/proc/$pid/status" 2>/dev/null
	echo "wchan: $(cat "/proc/$pid/wchan" 2>/dev/null)"
	local t
	for t in /proc/"$pid"/task/*; do
		echo "-- task ${t##*/} kernel stack:"
		cat "$t/stack" 2>/dev/null | head -n 20
	done
	if command -v gdb >/dev/null; then
		timeout 30 gdb -p "$pid" -batch -nx -ex "thread apply all bt 25" 2>/dev/null | grep -E '^(#|Thread)' | head -n 80
	fi
	echo "-- load: $(cat /proc/loadavg); CPU (st = stolen by the hypervisor), memory, busiest processes:"
	top -b -n 2 -d 0.5 -w 200 2>/dev/null | awk '/^top -/ {n++} n == 2' | sed -n '2,20p'
}

# json_field FILE PATH: one field of a JSON document (dotted path, list index as a number), "" when
# absent; booleans print as true/false.
json_field() {
	python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
for part in sys.argv[2].split("."):
    if isinstance(v, list):
        v = v[int(part)] if int(part) < len(v) else ""
    elif isinstance(v, dict):
        v = v.get(part, "")
    else:
        v = ""
print(str(v).lower() if isinstance(v, bool) else v)
' "$1" "$2"
}

# E2E_PY_BACKEND: python defining same_backend(label, want): does the backend label lbctl prints
# ("ADDR", or "ADDR:PORT" / "[V6]:PORT" for a nat/fullnat backend on a port of its own) name the
# backend `want` ("ADDR" matches any port, "ADDR:PORT" / "[V6]:PORT" only that one)?
E2E_PY_BACKEND='
import ipaddress
def split_backend(s):
    if s.startswith("["):
        a, _, p = s[1:].partition("]:")
        return ipaddress.ip_address(a), int(p) if p else None
    if s.count(":") == 1:
        a, _, p = s.partition(":")
        return ipaddress.ip_address(a), int(p)
    return ipaddress.ip_address(s), None
def same_backend(label, want):
    la, lp = split_backend(label)
    wa, wp = split_backend(want)
    return la == wa and (wp is None or lp is None or lp == wp)
'

# backend_field VIP_KEY BACKEND FIELD: one field of a backend's ListBackends status (lbctl -o json),
# e.g. health, in_rotation, open_flows, state, last_transition.reason. BACKEND: "ADDR" or
# "ADDR:PORT" (see E2E_PY_BACKEND).
backend_field() {
	lbctl -o json backend list "$1" | python3 -c "$E2E_PY_BACKEND"'
import json, sys
want, field = sys.argv[1], sys.argv[2]
for b in json.load(sys.stdin)["vip"].get("backends", []):
    if same_backend(b["address"], want):
        v = b
        for part in field.split("."):
            v = v.get(part, "") if isinstance(v, dict) else ""
        print(str(v).lower() if isinstance(v, bool) else v)
' "$2" "$3"
}

# backend_counter VIP_KEY BACKEND FIELD: one counter of a backend in lbctl -o json stats (packets,
# bytes, new_flows), 0 when absent. VIP_KEY "ADDR:PORT/PROTO".
backend_counter() {
	lbctl -o json stats | python3 -c "$E2E_PY_BACKEND"'
import ipaddress, json, sys
key, want, field = sys.argv[1], sys.argv[2], sys.argv[3]
addr, _, rest = key.rpartition(":")
port, _, proto = rest.partition("/")
for v in json.load(sys.stdin).get("vips", []):
    k = v["vip"]
    if ipaddress.ip_address(k["address"]) == ipaddress.ip_address(addr.strip("[]")) and \
            int(k.get("port", 0)) == int(port):
        for b in v.get("backends", []):
            if same_backend(b["address"], want):
                print(int(b.get("counters", {}).get(field, 0)))
                sys.exit(0)
print(0)
' "$1" "$2" "$3"
}

# vip_counter VIP_KEY FIELD: one counter of a VIP in lbctl -o json stats, 0 when absent.
vip_counter() {
	lbctl -o json stats | python3 -c '
import ipaddress, json, sys
key, field = sys.argv[1], sys.argv[2]
addr, _, rest = key.rpartition(":")
port = int(rest.partition("/")[0])
for v in json.load(sys.stdin).get("vips", []):
    k = v["vip"]
    if ipaddress.ip_address(k["address"]) == ipaddress.ip_address(addr.strip("[]")) and \
            int(k.get("port", 0)) == port:
        print(int(v.get("counters", {}).get(field, 0)))
        sys.exit(0)
print(0)
' "$1" "$2"
}

# backend_is VIP_KEY ADDR FIELD VALUE: true when backend_field prints VALUE (for wait_for).
backend_is() { [ "$(backend_field "$1" "$2" "$3")" = "$4" ]; }

# kill_listener NODE PORT: SIGKILL the process(es) listening on TCP PORT in NODE (a backend's
# server dies: new connections are refused). Prints the pids.
kill_listener() {
	local pids
	pids=$(nsx "$1" ss -Hltnp "sport = :$2" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
	[ -n "$pids" ] || fail "nothing listens on :$2 in $1"
	kill -KILL $pids
	echo $pids
}

# lb_mac: the LB's segment MAC address (spoofed-flow generators address their frames to it).
lb_mac() {
	local mac
	# nsenter --net keeps the host's /sys mounted: ask the LB namespace's netlink, not /sys/class/net.
	mac=$(nsx lb ip -br link show dev "$(ifname lb)" | awk '{print $3}')
	[[ $mac =~ ^([0-9a-f]{2}:){5}[0-9a-f]{2}$ ]] || fail "LB MAC address not found (got '$mac')"
	echo "$mac"
}

# greet_probes HOST PORT N OUT [PARALLEL] [EACH_S]: N new connections from the client to HOST:PORT
# (PARALLEL at a time, default 4; EACH_S seconds each at most, default 5) to a service that greets
# with its name; writes "<greeting> <ms from connect to the greeting>" per answered connection to
# OUT (unanswered ones write nothing).
greet_probes() {
	local host=$1 port=$2 n=$3 out=$4 par=${5:-4} each=${6:-5}
	seq 1 "$n" | nsx cl timeout $((each * (n + par - 1) / par + 10)) xargs -P "$par" -I{} \
		timeout "$each" bash -c \
		"t=\$EPOCHREALTIME; exec 3<>/dev/tcp/$host/$port && read -r b <&3 &&
		echo \"\$b \$(( (\${EPOCHREALTIME/./} - \${t/./}) / 1000 ))\"; true" 2>/dev/null |
		grep -E '^b[0-9]+ [0-9]+$' >"$out"
}

# greet_summary FILE: "answered (backends), greeting after median M max X ms" of greet_probes' OUT.
greet_summary() {
	local f=$1
	echo "$(grep -c . "$f") answered ($(awk '{print $1}' "$f" | sort | uniq -c | tr -s ' \n' ' ' | sed 's/ $//'))," \
		"greeting after median $(awk '{print $2}' "$f" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" \
		"max $(awk '{print $2}' "$f" | sort -n | tail -n 1) ms"
}

# greet_max_ms FILE: the slowest greeting of greet_probes' OUT (0 when none).
greet_max_ms() { awk 'BEGIN {m = 0} $2 > m {m = $2} END {print m}' "$1"; }

# tcp_greetings N HOST PORT OUT: N short connections from the client to HOST:PORT (greet_probes: 4
# at a time, 5 s each at most; each closes once the greeting is read, the client's FIN at once);
# OUT gets one backend name per answered connection. Fails unless all N answered.
tcp_greetings() {
	local n=$1 host=$2 port=$3 out=$4
	greet_probes "$host" "$port" "$n" "$out.ms"
	awk '{print $1}' "$out.ms" >"$out"
	[ "$(grep -c . "$out")" = "$n" ] || fail "only $(grep -c . "$out") of $n connections to $host:$port answered"
}

# vip_idle VIP_KEY BACKENDS...: true when none of BACKENDS (bN names) has an open flow on VIP_KEY.
vip_idle() {
	local key=$1 b open
	shift
	for b in "$@"; do
		open=$(backend_field "$key" "$(be4 "${b#b}")" open_flows)
		[ "${open:-0}" = 0 ] || return 1
	done
}

# least_conn_balance VIP_KEY HOST PORT N "b1=1 b2=2 b3=1": least_conn's promise, open flows per unit
# of weight stay level (not the share of a burst of short connections: with fewer open flows than
# backends a backend at 0 wins whatever its weight). N connections opened one after another and
# held (hold_clients.py through HOST:PORT, a hold/echo service): each backend's held count within
# +-20% of its weight share, and equal to the open-flow count lbctl shows. Power of two choices keeps
# them level: a simulation of the program's rule (two weight-proportional draws, fewer open per
# weight wins, ties to the first) never left that band in 200,000 runs of 120 connections (99.5%
# within 2 connections). Then the clients close (FIN) and every open count returns to 0.
least_conn_balance() {
	local key=$1 host=$2 port=$3 n=$4 weights=$5 tag
	tag=lc-$port
	local status=$RUN_DIR/$tag.status stop=$RUN_DIR/$tag.stop out=$RUN_DIR/$tag.out
	nsx cl timeout 120 python3 "$E2E_SRC/tests/e2e/hold_clients.py" "$host" "$port" "$n" 60000 5000 \
		"$status" "$stop" "$out" >"$RUN_DIR/$tag.log" 2>&1 &
	local pid=$!
	E2E_BG_PIDS+=($pid)
	wait_for 60 "$n held connections through $host:$port" grep -qx ready "$status"
	local wsum=0 kv names=()
	for kv in $weights; do
		wsum=$((wsum + ${kv#*=}))
		names+=("${kv%%=*}")
	done
	local b w want got open lo hi summary="" bad=""
	for kv in $weights; do
		b=${kv%%=*} w=${kv#*=}
		want=$((n * w / wsum))
		got=$(grep -c " $b\$" "$status")
		open=$(backend_field "$key" "$(be4 "${b#b}")" open_flows)
		summary+="$b=$got(open $open, expect $want) "
		lo=$((want * 80 / 100)) hi=$((want * 120 / 100))
		{ [ "$got" -ge "$lo" ] && [ "$got" -le "$hi" ]; } ||
			bad+=" $b holds $got of $n connections, want $lo..$hi;"
		[ "$open" = "$got" ] || bad+=" lbctl: $b open flows $open, but $got connections are held;"
	done
	log "least_conn $key, $n held connections, weights $weights: $summary"
	[ -z "$bad" ] || fail "least_conn $key:$bad ($summary)"
	touch "$stop"
	wait "$pid" || fail "hold_clients through $host:$port: $(grep -v ' OK$' "$out" 2>/dev/null | head -n 3)"
	# The closes (client FIN) bring the counts back to 0.
	wait_for 10 "open flows on $key back to 0" vip_idle "$key" "${names[@]}"
}

# events_start FILE: the agent's event stream (lbctl -o json events) into FILE, errors into
# FILE.err, in the background. The binary itself, not the lbctl function: $! must be the process, or
# events_stop's signal only reaches a subshell and the stream outlives the test (an open stream also
# holds the agent's shutdown for its 5 s grace).
events_start() {
	"$LBCTL_BIN" --server "unix://$SOCK" -o json events >"$1" 2>"$1.err" &
	EVENTS_PID=$!
	E2E_BG_PIDS+=($EVENTS_PID)
}

# events_stop: ends the stream events_start began.
events_stop() {
	[ -n "${EVENTS_PID:-}" ] || return 0
	kill -TERM "$EVENTS_PID" 2>/dev/null
	wait "$EVENTS_PID" 2>/dev/null
	EVENTS_PID=""
}

# health_event_ms EVENTS_FILE BACKEND HEALTH [VIP_PORT]: the time (unix ms) of the first
# backend-health event in EVENTS_FILE (lbctl -o json events) taking BACKEND ("ADDR" or
# "ADDR:PORT") to HEALTH (HEALTH_DOWN, HEALTH_UP), on the VIP with that port when given; "" if none.
health_event_ms() {
	python3 -c "$E2E_PY_BACKEND"'
import json, sys
path, want, to = sys.argv[1], sys.argv[2], sys.argv[3]
port = int(sys.argv[4]) if len(sys.argv) > 4 else None
for line in open(path):
    e = json.loads(line)
    t = e.get("health_transition", {})
    if e.get("kind") != "KIND_BACKEND_HEALTH" or t.get("to") != to or not e.get("backend"):
        continue
    if port is not None and int(e.get("vip", {}).get("port", 0)) != port:
        continue
    if same_backend(e["backend"], want):
        print(e["time_unix_ms"])
        break
' "$@"
}
