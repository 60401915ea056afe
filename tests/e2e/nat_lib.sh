# SPDX-License-Identifier: Apache-2.0
# e2e library for the NAT modes (issue 11): unmodified backends (no VIP on lo, no ARP sysctls, no
# decapsulation) with their services on their own ports, and the client-side helpers the NAT tests
# share. Source it after lib.sh.
#
# Backend services (all dual-stack, ports the VIPs translate to):
#   :8000 tcp  HTTP (python http.server), GET /id -> "bN"
#   :8001 tcp  whoami: one line "bN <peer address> <peer port>", then closes
#   :8053 udp  whoami: answers every datagram with "bN <peer address> <peer port>"
#   :8100 tcp  hold/echo: greets "bN", then echoes every line (long-lived connections); listen
#              backlog 1024 (socat's default is 5: under a SYN flood the backend answers with
#              syncookies, and a burst of real clients would overflow a 5-deep accept queue, whose
#              ACKs the backend then drops while the clients think they are connected)
#   :8200 tcp  bulk: sends NAT_BULK_BYTES bytes (path MTU tests)
#   :8300 tcp  stream: "bN <seq>" every 100 ms for a minute, whatever the client sends (a backend
#              that keeps sending: reply misses after a flush)
#   :8054 udp  nothing listens (port unreachable)

NAT_BULK_BYTES=1048576

# nat_backend_services N: starts the services above in backend bN and waits for them.
nat_backend_services() {
	local node="b$1"
	# Replies cross the XDP balancer, which rewrites them: no partial checksums (TESTBED.md).
	nsx "$node" ethtool -K "$(ifname "$node")" tx off >/dev/null 2>&1
	mkdir -p "$RUN_DIR/www-$node"
	echo "$node" >"$RUN_DIR/www-$node/id"
	nsx "$node" python3 -m http.server 8000 --bind :: --directory "$RUN_DIR/www-$node" \
		>"$RUN_DIR/http-$node.log" 2>&1 &
	E2E_BG_PIDS+=($!)
	disown $!
	nsx "$node" socat "TCP6-LISTEN:8001,fork,reuseaddr,ipv6only=0" \
		SYSTEM:"echo $node \$SOCAT_PEERADDR \$SOCAT_PEERPORT" >"$RUN_DIR/whoami-$node.log" 2>&1 &
	E2E_BG_PIDS+=($!)
	disown $!
	nsx "$node" socat "UDP6-RECVFROM:8053,fork,reuseaddr,ipv6only=0" \
		SYSTEM:"read x; echo $node \$SOCAT_PEERADDR \$SOCAT_PEERPORT" >"$RUN_DIR/udp-$node.log" 2>&1 &
	E2E_BG_PIDS+=($!)
	disown $!
	nsx "$node" socat "TCP6-LISTEN:8100,fork,reuseaddr,ipv6only=0,backlog=1024" SYSTEM:"echo $node; cat" \
		>"$RUN_DIR/hold-$node.log" 2>&1 &
	E2E_BG_PIDS+=($!)
	disown $!
	nsx "$node" socat "TCP6-LISTEN:8200,fork,reuseaddr,ipv6only=0" \
		SYSTEM:"head -c $NAT_BULK_BYTES /dev/zero" >"$RUN_DIR/bulk-$node.log" 2>&1 &
	E2E_BG_PIDS+=($!)
	disown $!
	nsx "$node" socat "TCP6-LISTEN:8300,fork,reuseaddr,ipv6only=0" \
		SYSTEM:"for i in \$(seq 1 600); do echo $node \$i; sleep 0.1; done" \
		>"$RUN_DIR/stream-$node.log" 2>&1 &
	E2E_BG_PIDS+=($!)
	disown $!
	local port
	for port in 8000 8001 8100 8200 8300; do
		wait_for 10 "tcp :$port on $node" nsx "$node" sh -c "ss -ltn | grep -q ':$port '"
	done
	wait_for 5 "udp :8053 on $node" nsx "$node" sh -c "ss -lun | grep -q ':8053 '"
}

# ---- two-arm topology (nat needs the backends' replies to cross the LB) ---------------------------
#
#   cl 10.201.0.2 fd00:201::2   MTU 1500, default route via rt
#    |  veth: rt's side has MTU PATH_MTU (a hop the backends do not know about)
#   rt 10.201.0.1 fd00:201::1 | 10.202.0.2 fd00:202::2      default route via lb's client arm
#    |  veth <P>lc (lb) <-> <P>rl (rt): the LB's client arm, XDP
#   lb 10.202.0.1 fd00:202::1 | 10.200.0.1 fd00:200::1 (+ SNAT 10.200.0.100 fd00:200::100)
#    |  backend arm on the switch, XDP (the same program, both interfaces)
#   sw (bridge) --- b1 10.200.0.11, b2 10.200.0.12, ...: default route via the LB, no VIP, no
#                   sysctls, services on 8000..8300 (nat_backend_services)
#
# nat: client -> VIP:80 arrives on lc, is rewritten to bN:8000 and redirected out of the backend
# arm; bN answers the client through its default route (the LB), the reply arrives on the backend
# arm and is rewritten back to VIP:80 and redirected out of lc. fullnat: the backend sees
# 10.200.0.100:<allocated port> and answers it on-link.
RTL4=10.202.0.2
RTL6=fd00:202::2
LBC4=10.202.0.1
LBC6=fd00:202::1
SNAT4=10.200.0.100
SNAT6=fd00:200::100

# topo_nat_two_arm NBACKENDS PATH_MTU: the topology above with backends b1..bNBACKENDS.
topo_nat_two_arm() {
	local n=$1 path_mtu=$2
	topo_switch
	topo_lb
	nsx lb ip addr add "$SNAT4/24" dev "$(ifname lb)"
	nsx lb ip -6 addr add "$SNAT6/64" dev "$(ifname lb)" nodad
	# Router between the client and the LB's client arm.
	ip netns add "${P}rt" || fail "ip netns add ${P}rt"
	nsx rt ip link set lo up
	nsx rt sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	nsx lb ip link add "${P}lc" mtu 1500 type veth peer name "${P}rl" netns "${P}rt" mtu 1500 ||
		fail "veth lb <-> rt"
	nsx lb ip link set "${P}lc" up
	nsx lb ip addr add "$LBC4/24" dev "${P}lc"
	nsx lb ip -6 addr add "$LBC6/64" dev "${P}lc" nodad
	nsx lb sysctl -qw "net.ipv4.conf.${P}lc.rp_filter=0" "net.ipv4.conf.${P}lc.accept_local=1"
	nsx rt ip link set "${P}rl" up
	nsx rt ip addr add "$RTL4/24" dev "${P}rl"
	nsx rt ip -6 addr add "$RTL6/64" dev "${P}rl" nodad
	# XDP_TX / redirect into lc is delivered only when its peer runs XDP (TESTBED.md).
	nsx rt ip link set dev "${P}rl" xdpdrv obj "$XDP_PASS_OBJ" sec xdp || fail "xdp_pass on rl"
	nsx rt ip route add default via "$LBC4"
	nsx rt ip -6 route add default via "$LBC6"
	topo_router_client "$path_mtu"
	# The LB reaches the client network through the router.
	nsx lb ip route replace 10.201.0.0/24 via "$RTL4"
	nsx lb ip -6 route add fd00:201::/64 via "$RTL6"
	local i
	for i in $(seq 1 "$n"); do
		topo_node "b$i" "$(be4 "$i")" "$(be6 "$i")" "$SEG_MTU"
		nsx "b$i" ip route add default via "$LB4"
		nsx "b$i" ip -6 route add default via "$LB6"
		nat_backend_services "$i"
	done
}

# nat_agent_start CONFIG_FILE [flags]: xlb-agent on both arms of topo_nat_two_arm (the same program
# on the backend arm and the client arm).
nat_agent_start() {
	local cfg=$1
	shift
	agent_start "$cfg" --interface "${P}lc" "$@"
}

# vip_of FAMILY: the VIP address of that family.
vip_of() { if [ "$1" = 6 ]; then echo "$VIP6"; else echo "$VIP4"; fi; }

# nat_vips_yaml ALGORITHM "MODE PROTO PORT BACKEND_PORT"...: the YAML list items of one VIP per spec
# and family (VIP4, VIP6), named MODE-PROTO-PORT-vF, with backends b1 and b2 on BACKEND_PORT;
# ALGORITHM "" keeps the default.
nat_vips_yaml() {
	local alg=$1 f addr b1 b2 spec
	shift
	local specs=("$@")
	for f in 4 6; do
		addr=$(vip_of "$f")
		if [ "$f" = 6 ]; then b1=$(be6 1) b2=$(be6 2); else b1=$(be4 1) b2=$(be4 2); fi
		for spec in "${specs[@]}"; do
			set -- $spec
			echo "  - name: $1-$2-$3-v$f"
			echo "    address: \"$addr\""
			echo "    port: $3"
			echo "    protocol: $2"
			echo "    forwarding: $1"
			[ -z "$alg" ] || echo "    algorithm: $alg"
			echo "    backends:"
			echo "      - {address: \"$b1\", port: $4}"
			echo "      - {address: \"$b2\", port: $4}"
		done
	done
}

# http_id FAMILY PORT: GET /id through VIP:PORT from the client ("bN").
http_id() {
	local host
	host=$(vip_of "$1")
	[ "$1" = 6 ] && host="[$host]"
	nsx cl curl -sf --max-time 3 "http://$host:$2/id"
}

# whoami_norm: socat names peers of its dual-stack sockets as "[0000:...:ffff:0a00:0001]"; print
# the address the way the tests write it ("10.0.0.1", "fd00::1") and keep the rest of the line.
whoami_norm() {
	python3 -c '
import ipaddress, sys
for line in sys.stdin:
    f = line.split()
    if len(f) >= 2:
        try:
            a = ipaddress.ip_address(f[1].strip("[]"))
            if a.version == 6 and a.ipv4_mapped:
                a = a.ipv4_mapped
            f[1] = str(a)
        except ValueError:
            pass
    print(" ".join(f))
'
}

# tcp_whoami FAMILY PORT: "bN <source address the backend saw> <source port>" through VIP:PORT.
tcp_whoami() {
	local target
	if [ "$1" = 6 ]; then target="TCP6:[$VIP6]:$2"; else target="TCP4:$VIP4:$2"; fi
	nsx cl timeout 5 socat -T 3 -u "$target,connect-timeout=3" - 2>/dev/null | whoami_norm
}

# udp_whoami FAMILY PORT: the same over UDP. The client's socket is connected to VIP:PORT, so a
# reply from any other source (an untranslated one) is never delivered.
udp_whoami() {
	nsx cl timeout 5 python3 - "$(vip_of "$1")" "$2" "$1" <<'EOF'
import ipaddress, socket, sys
host, port, fam = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET6 if fam == "6" else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect((host, port))
for attempt in range(3):
    s.send(b"who\n")
    try:
        f = s.recv(200).decode().split()
        if len(f) >= 2:
            a = ipaddress.ip_address(f[1].strip("[]"))
            f[1] = str(a.ipv4_mapped or a) if a.version == 6 else str(a)
        print(" ".join(f))
        sys.exit(0)
    except socket.timeout:
        continue
sys.exit(1)
EOF
}

# udp_refused FAMILY PORT: "refused" when the client's connected UDP socket gets ECONNREFUSED (the
# backend's ICMP port unreachable, translated back to the client), "timeout" otherwise.
udp_refused() {
	nsx cl timeout 8 python3 - "$(vip_of "$1")" "$2" "$1" <<'EOF'
import ipaddress, socket, sys
host, port, fam = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET6 if fam == "6" else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect((host, port))
for attempt in range(3):
    try:
        s.send(b"anyone?\n")
        s.recv(200)
        print("answered")
        sys.exit(0)
    except ConnectionRefusedError:
        print("refused")
        sys.exit(0)
    except socket.timeout:
        continue
print("timeout")
EOF
}

# bulk_bytes FAMILY PORT TIMEOUT: bytes received from VIP:PORT within TIMEOUT seconds.
bulk_bytes() {
	local target
	if [ "$1" = 6 ]; then target="TCP6:[$VIP6]:$2"; else target="TCP4:$VIP4:$2"; fi
	nsx cl timeout "$3" socat -u "$target,connect-timeout=5" - 2>/dev/null | wc -c
}

# xlb_counter NAME: a global counter or drop reason by name (lbctl -o json stats).
xlb_counter() {
	lbctl -o json stats | python3 -c '
import json, sys
name = sys.argv[1]
d = json.load(sys.stdin)
for group in ("global", "drops"):
    for c in d.get(group, []):
        if c.get("name") == name:
            print(int(c.get("value", 0)))
            sys.exit(0)
print(0)
' "$1"
}

# nat_count [lbctl nat list filters...]: NAT connections the agent lists (matched).
nat_count() {
	lbctl -o json nat list --limit 10000 "$@" | python3 -c '
import json, sys
print(int(json.load(sys.stdin).get("matched", 0)))'
}

# expect_eq WHAT GOT WANT
expect_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }

# expect_match WHAT GOT REGEX
expect_match() { [[ "$2" =~ $3 ]] || fail "$1: got '$2', want a match of '$3'"; }
