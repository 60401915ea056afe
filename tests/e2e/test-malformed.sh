#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# e2e barrage: a seeded mix of valid and malformed frames (tests/e2e/barrage.py: bad IHL, options,
# fragments, lengths, truncated and short/overrunning TCP headers, wrong UDP lengths, unknown
# protocols, martian sources, L2 multicast, VLAN ids not accepted, ICMP errors with good and bad
# quotes, ...) sent from the client namespace at a bounded rate to dsr and ipip VIPs, IPv4 and IPv6,
# while every backend records what the balancer forwarded to it. Asserts: every valid frame arrived
# exactly once, no other frame did, and the balancer's drop and pass counters moved by exactly what
# the rules predict for each frame.
# Usage: test-malformed.sh BUILD_DIR   (root; exit 77 = skipped)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FRAMES=${XLB_BARRAGE_FRAMES:-20000}
RATE=${XLB_BARRAGE_RATE:-4000}
SEED=${XLB_BARRAGE_SEED:-$RANDOM}
DSR_PORT=7000
IPIP_PORT=7001
CLOSED_PORT=7999
VLAN_OK=100  # the agent accepts tagged VIP traffic on VLAN 100 only (--vlan-ids); other tags must drop

write_config() {
	local f addr proto
	{
		echo "vips:"
		for f in 4 6; do
			addr=$VIP4
			[ "$f" = 6 ] && addr=$VIP6
			for proto in tcp udp; do
				cat <<-EOF
					  - address: "$addr"
					    port: $DSR_PORT
					    protocol: $proto
					    forwarding: dsr
					    backends: [{address: "$(if [ "$f" = 6 ]; then be6 1; else be4 1; fi)"}, {address: "$(if [ "$f" = 6 ]; then be6 2; else be4 2; fi)"}, {address: "$(if [ "$f" = 6 ]; then be6 3; else be4 3; fi)"}]
				EOF
			done
			cat <<-EOF
				  - address: "$addr"
				    port: $IPIP_PORT
				    protocol: tcp
				    forwarding: ipip
				    backends: [{address: "$(if [ "$f" = 6 ]; then be6 1; else be4 1; fi)"}, {address: "$(if [ "$f" = 6 ]; then be6 2; else be4 2; fi)"}, {address: "$(if [ "$f" = 6 ]; then be6 3; else be4 3; fi)"}]
			EOF
		done
	} >"$RUN_DIR/xlb.yaml"
}

# link_mac NODE: the MAC address of the node's segment interface.
link_mac() {
	nsx "$1" ip -o link show dev "$(ifname "$1")" | awk '{for (i = 1; i < NF; i++) if ($i == "link/ether") print $(i + 1)}'
}

# segment_quiet: true when no node has a tentative IPv6 address (link-local DAD done, so no more
# NS/MLD of its own) and the LB resolved every backend, IPv4 and IPv6.
segment_quiet() {
	local node i
	for node in cl lb b1 b2 b3; do
		[ -z "$(nsx "$node" ip -6 addr show tentative)" ] || return 1
	done
	for i in 1 2 3; do
		nsx lb ip neigh show "$(be4 "$i")" | grep -qE 'REACHABLE|STALE|PERMANENT' || return 1
		nsx lb ip -6 neigh show "$(be6 "$i")" | grep -qE 'REACHABLE|STALE|PERMANENT' || return 1
	done
}

# settle_segment: the counted verdicts must be the barrage's alone. A valid frame to a backend the
# LB has not resolved yet is dropped (no_neigh), and a node whose link-local address is still
# tentative sends MLD reports (a hop-by-hop header: malformed_pass) when DAD ends. So: resolve the
# backends (one ping each way), wait for DAD everywhere, then for the LB's passes to stop moving.
settle_segment() {
	local i a b
	for i in 1 2 3; do
		nsx lb ping -c 1 -W 1 "$(be4 "$i")" >/dev/null 2>&1
		nsx lb ping -6 -c 1 -W 1 "$(be6 "$i")" >/dev/null 2>&1
	done
	wait_for 10 "DAD done and every backend resolved by the LB" segment_quiet
	for i in $(seq 1 10); do
		a=$(lbctl -o json stats | md5sum)
		sleep 1
		b=$(lbctl -o json stats | md5sum)
		[ "$a" = "$b" ] && return 0
	done
	fail "the LB kept counting traffic for 20 s before the barrage"
}

test_barrage() {
	local i node lb_mac cl_mac
	lb_mac=$(link_mac lb)
	cl_mac=$(link_mac cl)
	[ -n "$lb_mac" ] && [ -n "$cl_mac" ] || fail "cannot read the MAC addresses"
	# The bridge must know the LB's port, or the first frames to its MAC flood every port: a
	# connection attempt to the LB makes it answer ARP (the port is closed: RST, which is fine).
	nsx cl timeout 5 bash -c "echo >/dev/tcp/$LB4/1" 2>/dev/null
	wait_for 5 "the client's neighbour entry for the LB" \
		sh -c "nsenter --net=/run/netns/${P}cl ip neigh show $LB4 | grep -q lladdr"
	settle_segment
	for i in 1 2 3; do
		node="b$i"
		rm -f "$RUN_DIR/sniff-$node.ready"
		nsx "$node" python3 "$E2E_SRC/tests/e2e/barrage.py" sniff --iface "$(ifname "$node")" \
			--lb-mac "$lb_mac" --vip4 "$VIP4" --vip6 "$VIP6" --ready "$RUN_DIR/sniff-$node.ready" \
			--stop "$RUN_DIR/sniff.stop" --max-seconds 120 --out "$RUN_DIR/sniff-$node.json" \
			>"$RUN_DIR/sniff-$node.log" 2>&1 &
		E2E_BG_PIDS+=($!)
		SNIFFERS+=($!)
		wait_for 10 "sniffer on $node" test -e "$RUN_DIR/sniff-$node.ready"
	done
	lbctl -o json stats >"$RUN_DIR/stats-before.json" || fail "lbctl stats"
	log "sending $FRAMES frames at $RATE/s (seed $SEED; XLB_BARRAGE_SEED=$SEED reproduces them)"
	nsx cl timeout 120 python3 "$E2E_SRC/tests/e2e/barrage.py" send --iface "$(ifname cl)" \
		--src-mac "$cl_mac" --lb-mac "$lb_mac" --vip4 "$VIP4" --vip6 "$VIP6" \
		--dsr-port "$DSR_PORT" --ipip-port "$IPIP_PORT" --closed-port "$CLOSED_PORT" \
		--vlan-ok "$VLAN_OK" --count "$FRAMES" --rate "$RATE" --max-seconds 60 --seed "$SEED" \
		--out "$RUN_DIR/sent.json" || fail "barrage sender failed"
	sleep 1
	touch "$RUN_DIR/sniff.stop"
	for i in "${SNIFFERS[@]}"; do wait "$i" 2>/dev/null; done
	lbctl -o json stats >"$RUN_DIR/stats-after.json" || fail "lbctl stats"
	python3 - "$RUN_DIR" <<-'EOF' || fail "barrage verdicts differ from the rules (details above)"
		import collections, json, sys
		d = sys.argv[1]
		sent = json.load(open(d + "/sent.json"))
		arrived = collections.Counter()
		for n in (1, 2, 3):
		    for k in json.load(open("%s/sniff-b%d.json" % (d, n)))["arrivals"]:
		        arrived[tuple(k)] += 1
		want = collections.Counter(tuple(k) for k in sent["forwarded"])
		ok = True
		missing, extra = want - arrived, arrived - want
		print("frames sent: %d, categories: %d" % (sent["sent"], len(sent["categories"])))
		print("valid frames: %d sent, %d arrived at backends" % (sum(want.values()), sum(arrived.values())))
		if missing:
		    ok = False
		    print("FAIL: %d valid frames never reached a backend, e.g. %s" % (sum(missing.values()), list(missing)[:5]))
		if extra:
		    ok = False
		    print("FAIL: %d frames reached a backend that must not have, e.g. %s" % (sum(extra.values()), list(extra)[:5]))
		def counters(f):
		    s = json.load(open(f))
		    c = {"drop:" + x["name"]: int(x.get("value", 0)) for x in s.get("drops", [])}
		    c.update({"pass:" + x["name"]: int(x.get("value", 0)) for x in s.get("global", [])})
		    return c
		before, after = counters(d + "/stats-before.json"), counters(d + "/stats-after.json")
		delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
		tally = sent["tally"]
		print("%-32s %9s %9s" % ("verdict", "expected", "counted"))
		for k in sorted(set(tally) | {k for k in delta if k.startswith("drop:") and delta[k]}):
		    if k == "fwd":
		        continue
		    exp, got = tally.get(k, 0), delta.get(k, 0)
		    # The LB's own IPv6 neighbour/router traffic is non_vip too: at least what we sent.
		    good = got >= exp if k == "pass:non_vip" else got == exp
		    print("%-32s %9d %9d%s" % (k, exp, got, "" if good else "   <-- MISMATCH"))
		    ok = ok and good
		fwd = delta.get("pass:tx", 0) + delta.get("pass:redirect", 0)
		print("%-32s %9d %9d" % ("forwarded (tx+redirect)", tally.get("fwd", 0), fwd))
		ok = ok and fwd == tally.get("fwd", 0)
		print("per category:", json.dumps(sent["categories"], sort_keys=True))
		sys.exit(0 if ok else 1)
	EOF
}

SNIFFERS=()
e2e_init "${1:-}"
topo_create 3
# The bridge took the client's tags into skb metadata on receive; with tx VLAN offload off the LB's
# switch port puts them back into the frame, as a wire delivers them to a NIC.
nsx sw ethtool -K p-lb txvlan off tx-vlan-stag-hw-insert off >/dev/null || fail "ethtool -K p-lb txvlan off"
for i in 1 2 3; do decap_attach "$i"; done
write_config
agent_start "$RUN_DIR/xlb.yaml" --vlan-ids "$VLAN_OK"
run test_barrage
E2E_CURRENT_TEST=""
log "PASS: e2e barrage (malformed frames never forwarded)"
