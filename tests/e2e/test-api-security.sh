#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# API security (issue 4, test 7): an xlb-agent (--no-attach) serving a unix socket and a mutual-TLS
# TCP listener in a network namespace of its own. lbctl without a client certificate, with one from
# another CA, or in plaintext is refused; with the right certificate it works. Plaintext TCP needs
# --insecure-plaintext-tcp (exit 2 without, a warning with). The unix socket is 0660 with the
# configured group, and a uid outside that group is refused while the same uid in it gets through.
# Request limits answer RESOURCE_EXHAUSTED. Needs root, bpffs and the openssl command.
set -u
BUILD=${1:?usage: $0 BUILD_DIR}
AGENT=$BUILD/agent/xlb-agent
LBCTL=$BUILD/cli/lbctl

log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*"; }
skip() {
	echo "SKIP: $*"
	exit 77
}
CURRENT=""
fail() {
	echo "FAIL${CURRENT:+ [$CURRENT]}: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || skip "needs root (xlb-agent loads the BPF program even with --no-attach)"
for tool in openssl setpriv nsenter ip stat; do
	command -v "$tool" >/dev/null || skip "tool '$tool' not installed"
done
[ -x "$AGENT" ] && [ -x "$LBCTL" ] || fail "$AGENT or $LBCTL not built (run make build)"
if ! mountpoint -q /sys/fs/bpf; then
	mount -t bpf bpf /sys/fs/bpf || skip "cannot mount bpffs at /sys/fs/bpf"
fi

P="xlbt$$-"
NS="${P}api"
PINS="/sys/fs/bpf/xlbt$$"
RUN_DIR=$(mktemp -d "/tmp/xlbt$$.XXXXXX")
# The unprivileged uid of the permission checks must be able to walk down to the socket directory
# (which the agent creates 0750 root:<group>); the run dir stays unlistable.
chmod 0711 "$RUN_DIR"
SOCK_DIR=$RUN_DIR/run
SOCK=$SOCK_DIR/xlb.sock
GROUP=64123 # numeric: no /etc/group entry needed
UNPRIV=65534
AGENT_PID=""
PORT=""

cleanup() {
	local rc=$?
	set +e
	trap - EXIT
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		for f in "$RUN_DIR"/*.log; do
			[ -f "$f" ] || continue
			echo "---- $f (last 30 lines) ----" >&2
			tail -n 30 "$f" >&2
		done
	fi
	[ -n "$AGENT_PID" ] && kill -KILL "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	ip netns pids "$NS" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$PINS" "$RUN_DIR"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# TCP stays inside a namespace this run created (only its loopback is up).
ip netns add "$NS" || skip "cannot create network namespaces"
ip -n "$NS" link set lo up
nsx() { nsenter --net="/run/netns/$NS" "$@"; }

# make_certs: a CA, a server certificate for 127.0.0.1/localhost, a client certificate from the CA
# and a rogue client certificate from another CA, all in $RUN_DIR/pki.
make_certs() {
	local d=$RUN_DIR/pki
	mkdir -p "$d"
	ca() {
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
			-subj "/CN=$1" -keyout "$d/$1.key" -out "$d/$1.crt"
	}
	leaf() { # leaf NAME CA EXTENSIONS
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$1" \
			-keyout "$d/$1.key" -out "$d/$1.csr"
		printf '%b\n' "$3" >"$d/$1.ext"
		openssl x509 -req -in "$d/$1.csr" -CA "$d/$2.crt" -CAkey "$d/$2.key" -CAcreateserial \
			-days 2 -extfile "$d/$1.ext" -out "$d/$1.crt"
	}
	{
		ca ca && ca rogueca &&
			leaf server ca 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth' &&
			leaf client ca 'extendedKeyUsage=clientAuth' &&
			leaf rogue rogueca 'extendedKeyUsage=clientAuth'
	} >"$RUN_DIR/openssl.log" 2>&1 || fail "openssl failed: $(tail -n 5 "$RUN_DIR/openssl.log")"
	PKI=$d
}

# agent_run LOG ARGS...: the agent in the foreground (start-up refusals); prints its exit code.
agent_run() {
	local log=$1
	shift
	nsx timeout 20 "$AGENT" --no-attach --pin-dir "$PINS" --state-dir "" --metrics-listen "" "$@" \
		>"$log" 2>&1
	echo $?
}

# agent_start LOG ARGS...: the agent in the background until "xlb-agent ready"; sets AGENT_PID and
# PORT (the first TCP listener's port, when there is one).
agent_start() {
	local log=$1
	shift
	nsx "$AGENT" --no-attach --pin-dir "$PINS" --state-dir "" --metrics-listen "" \
		--log-level info "$@" >"$log" 2>&1 &
	AGENT_PID=$!
	local i
	for i in $(seq 1 200); do
		grep -qs "xlb-agent ready" "$log" && break
		kill -0 "$AGENT_PID" 2>/dev/null || fail "agent exited at start: $(tail -n 5 "$log")"
		sleep 0.1
	done
	grep -qs "xlb-agent ready" "$log" || fail "agent not ready after 20 s"
	PORT=$(sed -n 's/.*api: listening on .* (port \([0-9]*\),.*/\1/p' "$log" | head -n 1)
}

agent_stop() {
	[ -n "$AGENT_PID" ] || return 0
	kill -TERM "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=""
}

# lbctl_expect NAME WANT_RC PATTERN -- lbctl args...: runs lbctl in the namespace and checks its exit
# code and that its output contains PATTERN.
lbctl_expect() {
	local name=$1 want=$2 pattern=$3
	shift 4
	local out rc
	out=$(nsx timeout 20 "$LBCTL" --timeout 5s "$@" 2>&1)
	rc=$?
	[ "$rc" = "$want" ] || fail "$name: lbctl $* exited $rc (want $want): $out"
	grep -qF -- "$pattern" <<<"$out" || fail "$name: lbctl $* output lacks \"$pattern\": $out"
	log "ok   $name"
}

test_plaintext_tcp_is_refused_without_the_insecure_flag() {
	CURRENT=${FUNCNAME[0]}
	local rc
	rc=$(agent_run "$RUN_DIR/refuse.log" --listen "unix://$RUN_DIR/r.sock" --listen 127.0.0.1:0)
	[ "$rc" = 2 ] || fail "exit $rc, want 2"
	grep -qF -- "--listen 127.0.0.1:0: a TCP listener serves TLS only: give --tls-cert FILE --tls-key FILE" \
		"$RUN_DIR/refuse.log" || fail "message: $(cat "$RUN_DIR/refuse.log")"
	grep -qF -- "--insecure-plaintext-tcp" "$RUN_DIR/refuse.log" || fail "no hint of the flag"
	[ -e "$PINS" ] && fail "a refused start loaded the program ($PINS exists)"
	log "ok   $CURRENT"
}

test_bad_tls_files_are_named() {
	CURRENT=${FUNCNAME[0]}
	local rc
	rc=$(agent_run "$RUN_DIR/badkey.log" --listen 127.0.0.1:0 --tls-cert "$PKI/server.crt" \
		--tls-key "$PKI/client.key")
	[ "$rc" = 2 ] || fail "mismatched key: exit $rc, want 2"
	grep -qF -- "--tls-key $PKI/client.key does not match the certificate in --tls-cert $PKI/server.crt" \
		"$RUN_DIR/badkey.log" || fail "mismatched key message: $(cat "$RUN_DIR/badkey.log")"
	rc=$(agent_run "$RUN_DIR/noca.log" --listen 127.0.0.1:0 --tls-cert "$PKI/server.crt" \
		--tls-key "$PKI/server.key" --client-ca "$PKI/missing.crt")
	[ "$rc" = 2 ] || fail "missing --client-ca: exit $rc, want 2"
	grep -qF -- "--client-ca $PKI/missing.crt: cannot read: No such file or directory" \
		"$RUN_DIR/noca.log" || fail "missing CA message: $(cat "$RUN_DIR/noca.log")"
	rc=$(agent_run "$RUN_DIR/tlsunix.log" --tls-cert "$PKI/server.crt" --tls-key "$PKI/server.key")
	[ "$rc" = 2 ] || fail "TLS flags without a TCP listener: exit $rc, want 2"
	grep -qF "every --listen is a unix socket" "$RUN_DIR/tlsunix.log" ||
		fail "TLS without TCP message: $(cat "$RUN_DIR/tlsunix.log")"
	log "ok   $CURRENT"
}

test_insecure_plaintext_tcp_starts_with_a_warning() {
	CURRENT=${FUNCNAME[0]}
	agent_start "$RUN_DIR/insecure.log" --listen "unix://$RUN_DIR/i.sock" --listen 127.0.0.1:0 \
		--insecure-plaintext-tcp
	grep -qF "SECURITY: 127.0.0.1:0 serves the API in PLAINTEXT without authentication" \
		"$RUN_DIR/insecure.log" || fail "no warning in the log"
	lbctl_expect insecure_plaintext_works 0 "VIP" -- -s "127.0.0.1:$PORT" --insecure-plaintext vip list
	lbctl_expect tls_to_plaintext_agent 1 "TLS handshake failed" -- -s "127.0.0.1:$PORT" \
		--tls-ca "$PKI/ca.crt" vip list
	agent_stop
	log "ok   $CURRENT"
}

test_mutual_tls() {
	CURRENT=${FUNCNAME[0]}
	local s="127.0.0.1:$PORT"
	lbctl_expect no_client_cert 1 \
		"cannot connect to $s: TLS handshake failed (the agent requires a client certificate? use --tls-cert/--tls-key)" \
		-- -s "$s" --tls-ca "$PKI/ca.crt" vip list
	lbctl_expect rogue_client_cert 1 "TLS handshake failed (the agent refused this client certificate" \
		-- -s "$s" --tls-ca "$PKI/ca.crt" --tls-cert "$PKI/rogue.crt" --tls-key "$PKI/rogue.key" vip list
	lbctl_expect plaintext_to_tls 1 "it serves TLS there? drop --insecure-plaintext" \
		-- -s "$s" --insecure-plaintext vip list
	lbctl_expect untrusted_server 1 "the agent's certificate is not trusted: give its CA with --tls-ca" \
		-- -s "$s" --tls-ca "$PKI/rogueca.crt" --tls-cert "$PKI/client.crt" --tls-key "$PKI/client.key" vip list
	lbctl_expect good_client_cert 0 "VIP" \
		-- -s "$s" --tls-ca "$PKI/ca.crt" --tls-cert "$PKI/client.crt" --tls-key "$PKI/client.key" vip list
	lbctl_expect good_cert_mutation 0 "10.0.0.10:80/tcp" \
		-- -s "localhost:$PORT" --tls-ca "$PKI/ca.crt" --tls-cert "$PKI/client.crt" \
		--tls-key "$PKI/client.key" vip add 10.0.0.10:80/tcp
	grep -qF "api: AddVip 10.0.0.10:80 from ipv4:127.0.0.1" "$RUN_DIR/agent.log" &&
		grep -qF "(CN=client)" "$RUN_DIR/agent.log" || fail "audit line lacks the client's CN"
	# The same agent through its unix socket (root): no TLS there.
	lbctl_expect unix_socket_as_root 0 "10.0.0.10:80/tcp" -- -s "unix://$SOCK" vip list
	log "ok   $CURRENT"
}

test_socket_mode_and_group_are_enforced() {
	CURRENT=${FUNCNAME[0]}
	local got
	got=$(stat -c '%a %u %g' "$SOCK")
	[ "$got" = "660 0 $GROUP" ] || fail "socket: $got, want 660 0 $GROUP"
	got=$(stat -c '%a %u %g' "$SOCK_DIR")
	[ "$got" = "750 0 $GROUP" ] || fail "socket directory: $got, want 750 0 $GROUP"
	local out rc
	out=$(setpriv --reuid "$UNPRIV" --regid "$UNPRIV" --clear-groups \
		"$LBCTL" --timeout 5s -s "unix://$SOCK" vip list 2>&1)
	rc=$?
	[ "$rc" = 1 ] || fail "uid $UNPRIV outside group $GROUP: lbctl exited $rc (want 1): $out"
	grep -qF "permission denied (the socket is mode 0660 for root and the agent's --socket-group" <<<"$out" ||
		fail "uid $UNPRIV outside the group: $out"
	log "ok   uid $UNPRIV without group $GROUP: permission denied"
	out=$(setpriv --reuid "$UNPRIV" --regid "$UNPRIV" --groups "$GROUP" \
		"$LBCTL" --timeout 5s -s "unix://$SOCK" vip list 2>&1)
	rc=$?
	[ "$rc" = 0 ] || fail "uid $UNPRIV in group $GROUP: lbctl exited $rc: $out"
	grep -qF "10.0.0.10:80/tcp" <<<"$out" || fail "uid $UNPRIV in group $GROUP: $out"
	log "ok   $CURRENT"
}

test_request_limits() {
	CURRENT=${FUNCNAME[0]}
	cat >"$RUN_DIR/three.yaml" <<-'YAML'
		vips:
		  - {address: 10.0.0.10, port: 80, protocol: tcp}
		  - {address: 10.0.0.11, port: 80, protocol: tcp}
		  - {address: 10.0.0.12, port: 80, protocol: tcp}
	YAML
	lbctl_expect too_many_vips 1 \
		"RESOURCE_EXHAUSTED: config.vips: 3 VIPs in one request exceed the limit of 2 (--max-vips-per-request=2" \
		-- -s "unix://$SOCK" apply -f "$RUN_DIR/three.yaml"
	lbctl_expect state_untouched 0 "10.0.0.10:80/tcp" -- -s "unix://$SOCK" vip list
	local out
	out=$(nsx "$LBCTL" -s "unix://$SOCK" -o json vip list)
	grep -q "10.0.0.11" <<<"$out" && fail "a refused request changed the state: $out"
	log "ok   $CURRENT"
}

test_missing_default_group_is_a_warning() {
	CURRENT=${FUNCNAME[0]}
	if getent group xlb >/dev/null; then
		log "skip $CURRENT: group xlb exists on this machine"
		return 0
	fi
	agent_start "$RUN_DIR/nogroup.log" --listen "unix://$RUN_DIR/ng/xlb.sock"
	grep -qF "socket group \"xlb\" does not exist" "$RUN_DIR/nogroup.log" ||
		fail "no warning: $(cat "$RUN_DIR/nogroup.log")"
	grep -qF "groupadd --system xlb" "$RUN_DIR/nogroup.log" || fail "warning lacks the fix"
	local got
	got=$(stat -c '%a %u %g' "$RUN_DIR/ng/xlb.sock")
	[ "$got" = "660 0 0" ] || fail "socket: $got, want 660 0 0"
	agent_stop
	log "ok   $CURRENT"
}

make_certs
log "run $P: $RUN_DIR, namespace $NS"
test_plaintext_tcp_is_refused_without_the_insecure_flag
test_bad_tls_files_are_named
test_insecure_plaintext_tcp_starts_with_a_warning
test_missing_default_group_is_a_warning
agent_start "$RUN_DIR/agent.log" --listen "unix://$SOCK" --listen 127.0.0.1:0 \
	--tls-cert "$PKI/server.crt" --tls-key "$PKI/server.key" --client-ca "$PKI/ca.crt" \
	--socket-group "$GROUP" --max-vips-per-request 2
[ -n "$PORT" ] || fail "no TCP port in the agent log"
test_mutual_tls
test_socket_mode_and_group_are_enforced
test_request_limits
agent_stop
log "PASS"
