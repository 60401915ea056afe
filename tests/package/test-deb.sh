#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The xlb .deb: `build` makes it with cpack and checks its control data, file list and maintainer
# scripts; `install` really installs it, runs the installed agent as the unit would, and purges it.
#
#   test-deb.sh build   BUILD_DIR OUT_DIR VERSION SOURCE_DIR
#   test-deb.sh install BUILD_DIR OUT_DIR VERSION SOURCE_DIR
#
# The install step changes the host (dpkg -i: /usr/sbin, /etc, the xlb group, unit enablement), so
# it runs only when all of these hold, and is counted as skipped (exit 77) otherwise:
#   - root, and bpffs at /sys/fs/bpf (the installed agent loads its BPF program);
#   - systemd is not PID 1 (a CI VM or container, where postinst cannot start the real service),
#     or XLB_TEST_DEB_INSTALL=1 is set to allow it on a machine that runs systemd;
#   - XLB_TEST_DEB_INSTALL is not 0 (a developer's opt-out).
# It refuses (fails) when an xlb package is already known to dpkg: it would overwrite and then
# purge someone's installation. Whatever happens, its cleanup trap purges what it installed.
set -u
mode="$1"
build_dir="$2"
out_dir="$3"
version="$4"
src_dir="$5"

fail=0
ok() { echo "ok   $*"; }
bad() {
	echo "FAIL $*"
	fail=1
}
skip() {
	echo "SKIP: $*"
	exit 77
}

arch=$(dpkg --print-architecture 2>/dev/null) || skip "dpkg is not available (not a Debian host)"
deb="$out_dir/xlb_${version}_${arch}.deb"

# Every path the package must ship, and where its files may live at all.
expected_files=(
	./usr/sbin/xlb-agent
	./usr/sbin/xlb-decap
	./usr/bin/lbctl
	./usr/lib/systemd/system/xlb-agent.service
	./usr/lib/systemd/system/xlb-bgp.service
	./usr/lib/systemd/system/xlb-bgp-withdraw.service
	./usr/share/doc/xlb/examples/xlb.yaml
	./etc/xlb/xlb.yaml
	./etc/default/xlb-agent
)
allowed_prefixes='^\./(usr/sbin/|usr/bin/|usr/lib/systemd/system/|usr/share/doc/xlb/|etc/xlb/|etc/default/)'

build_and_inspect() {
	for tool in cpack dpkg-deb dpkg-shlibdeps; do
		command -v "$tool" >/dev/null || skip "$tool is not installed (make deps installs dpkg-dev)"
	done
	rm -rf "$out_dir"
	mkdir -p "$out_dir"
	if ! cpack -G DEB --config "$build_dir/CPackConfig.cmake" -B "$out_dir" >"$out_dir/cpack.log" 2>&1; then
		echo "FAIL cpack:"
		cat "$out_dir/cpack.log"
		exit 1
	fi
	[[ -f "$deb" ]] || {
		echo "FAIL cpack made no $deb:"
		ls -l "$out_dir"
		exit 1
	}
	ok "cpack built $(basename "$deb")"

	# --- control fields ---------------------------------------------------------------------------
	field() { dpkg-deb -f "$deb" "$1"; }
	[[ "$(field Package)" == xlb ]] && ok "Package: xlb" || bad "Package: '$(field Package)'"
	[[ "$(field Version)" == "$version" ]] && ok "Version: $version" ||
		bad "Version: '$(field Version)', want '$version'"
	[[ "$(field Architecture)" == "$arch" ]] && ok "Architecture: $arch" ||
		bad "Architecture: '$(field Architecture)', want '$arch'"
	[[ "$(field Section)" == net ]] && ok "Section: net" || bad "Section: '$(field Section)'"
	[[ "$(field Maintainer)" =~ ^.+\ \<.+@.+\>$ ]] && ok "Maintainer: $(field Maintainer)" ||
		bad "Maintainer: '$(field Maintainer)' is not 'name <email>'"
	[[ -n "$(field Description)" ]] && ok "Description present" || bad "Description empty"
	local depends
	depends=$(field Depends)
	echo "     Depends: $depends"
	# From dpkg-shlibdeps (the binaries' libraries) and from the maintainer scripts.
	for dep in 'libgrpc\+\+[0-9.]*' 'libprotobuf[0-9]+' 'libbpf[0-9]+' 'libyaml-cpp[0-9.]*' \
		'libc6' 'adduser' 'init-system-helpers'; do
		grep -Eq "(^|, )${dep}( |,|$)" <<<"$depends" && ok "Depends has ${dep//\\/}" ||
			bad "Depends lacks ${dep//\\/}: $depends"
	done

	# --- maintainer scripts and conffiles ----------------------------------------------------------
	local ctl="$out_dir/control"
	dpkg-deb -e "$deb" "$ctl" || bad "dpkg-deb -e"
	for script in postinst prerm postrm; do
		if [[ -x "$ctl/$script" ]] && sh -n "$ctl/$script"; then
			ok "$script: executable, sh -n clean"
		else
			bad "$script missing, not executable or not valid sh"
		fi
		head -n 1 "$ctl/$script" | grep -qx '#!/bin/sh' || bad "$script: shebang is not #!/bin/sh"
		grep -qx 'set -e' "$ctl/$script" || bad "$script: no 'set -e'"
	done
	[[ "$(cat "$ctl/conffiles" 2>/dev/null)" == $'/etc/xlb/xlb.yaml\n/etc/default/xlb-agent' ]] &&
		ok "conffiles: /etc/xlb/xlb.yaml /etc/default/xlb-agent" ||
		bad "conffiles: '$(cat "$ctl/conffiles" 2>/dev/null)'"
	dpkg-deb -I "$deb" | grep -Eq '^ +[0-9]+ bytes, +[0-9]+ lines +conffiles' ||
		bad "dpkg-deb -I does not list conffiles"

	# --- file list ---------------------------------------------------------------------------------
	local listing
	listing=$(dpkg-deb -c "$deb")
	for path in "${expected_files[@]}"; do
		grep -Eq " ${path//./\\.}$" <<<"$listing" && ok "ships $path" || bad "does not ship $path"
	done
	local stray
	stray=$(awk '$1 !~ /^d/ {print $6}' <<<"$listing" | grep -Ev "$allowed_prefixes")
	[[ -z "$stray" ]] && ok "no file outside the expected directories" || bad "stray files: $stray"
	grep -q ' \./usr/etc' <<<"$listing" && bad "ships ./usr/etc (an /etc file installed relative)"
	awk '$1 !~ /^d/ && $2 != "root/root" {print}' <<<"$listing" | grep -q . &&
		bad "files not owned by root/root: $(awk '$2 != "root/root"' <<<"$listing")"
	for bin in ./usr/sbin/xlb-agent ./usr/sbin/xlb-decap ./usr/bin/lbctl; do
		grep -Eq "^-rwxr-xr-x .* ${bin//./\\.}$" <<<"$listing" || bad "$bin is not 0755"
	done
	for conf in ./etc/xlb/xlb.yaml ./etc/default/xlb-agent; do
		grep -Eq "^-rw-r--r-- .* ${conf//./\\.}$" <<<"$listing" || bad "$conf is not 0644"
	done

	# --- contents: the shipped files are the repository's ------------------------------------------
	local root="$out_dir/root"
	dpkg-deb -x "$deb" "$root"
	cmp -s "$root/usr/lib/systemd/system/xlb-agent.service" "$src_dir/deploy/xlb-agent.service" &&
		ok "unit is deploy/xlb-agent.service" || bad "unit differs from deploy/xlb-agent.service"
	cmp -s "$root/etc/xlb/xlb.yaml" "$src_dir/deploy/debian/xlb.yaml" &&
		ok "/etc/xlb/xlb.yaml is deploy/debian/xlb.yaml" || bad "/etc/xlb/xlb.yaml differs"
	grep -qx 'XLB_ATTACH="--no-attach"' "$root/etc/default/xlb-agent" &&
		ok "/etc/default/xlb-agent attaches nowhere by default" ||
		bad "/etc/default/xlb-agent does not default to --no-attach"
	exit $fail
}

# The installed unit's ExecStart (continuation lines joined), as one string.
unit_exec_start() {
	sed -n '/^ExecStart=/,/[^\\]$/p' "$1" | sed -e 's/^ExecStart=//' -e 's/\\$//' | tr '\n' ' '
}

install_and_run() {
	[[ $(id -u) -eq 0 ]] || skip "needs root (dpkg -i)"
	[[ "${XLB_TEST_DEB_INSTALL:-}" == 0 ]] && skip "XLB_TEST_DEB_INSTALL=0"
	local pid1
	pid1=$(ps -p 1 -o comm=)
	if [[ "$pid1" == systemd && "${XLB_TEST_DEB_INSTALL:-}" != 1 ]]; then
		skip "systemd is PID 1: installing would start xlb-agent.service on this host" \
			"(set XLB_TEST_DEB_INSTALL=1 to allow it)"
	fi
	mountpoint -q /sys/fs/bpf || skip "bpffs is not mounted at /sys/fs/bpf"
	command -v python3 >/dev/null || skip "python3 is needed for the NOTIFY_SOCKET stub"
	[[ -f "$deb" ]] || {
		echo "FAIL $deb is missing (the package_deb test builds it)"
		exit 1
	}
	local status
	status=$(dpkg-query -W -f='${db:Status-Status}' xlb 2>/dev/null)
	if [[ -n "$status" && "$status" != not-installed ]]; then
		echo "FAIL an xlb package is already known to dpkg (status: $status), not installed by this" \
			"test; refusing to overwrite and purge it. Remove it (dpkg --purge xlb) or set" \
			"XLB_TEST_DEB_INSTALL=0."
		exit 1
	fi

	tmp=$(mktemp -d)
	pins="/sys/fs/bpf/xlbdeb$$"
	installed=0
	agent_pid=""
	stub_pid=""
	cleanup() {
		[[ -n "$agent_pid" ]] && kill -KILL "$agent_pid" 2>/dev/null
		[[ -n "$stub_pid" ]] && kill -TERM "$stub_pid" 2>/dev/null
		wait 2>/dev/null
		if [[ $installed -eq 1 ]]; then
			dpkg --purge xlb >"$tmp/purge-trap.log" 2>&1 || cat "$tmp/purge-trap.log"
		fi
		rm -rf "$pins" "$tmp"
	}
	trap cleanup EXIT

	local group_before=0
	getent group xlb >/dev/null && group_before=1

	# --- install -------------------------------------------------------------------------------
	installed=1
	if dpkg -i "$deb" >"$tmp/install.log" 2>&1; then
		ok "dpkg -i $(basename "$deb")"
	else
		bad "dpkg -i failed:"$'\n'"$(cat "$tmp/install.log")"
		exit 1
	fi
	[[ "$(dpkg-query -W -f='${Status}' xlb)" == "install ok installed" ]] && ok "status: installed" ||
		bad "status: $(dpkg-query -W -f='${Status}' xlb)"
	if getent group xlb >/dev/null; then
		ok "group xlb exists ($(getent group xlb))"
	else
		bad "group xlb was not created"
	fi
	if [[ $group_before -eq 0 ]]; then
		[[ -e /var/lib/xlb/.package-created-group ]] && ok "postinst recorded that it created the group" ||
			bad "no /var/lib/xlb/.package-created-group after creating the group"
	fi
	/usr/sbin/xlb-agent --help >/dev/null 2>&1 && ok "xlb-agent --help" || bad "xlb-agent --help"
	/usr/bin/lbctl --help >/dev/null 2>&1 && ok "lbctl --help" || bad "lbctl --help"
	/usr/sbin/xlb-decap --help >/dev/null 2>&1 && ok "xlb-decap --help" || bad "xlb-decap --help"
	local unit=/usr/lib/systemd/system/xlb-agent.service
	local out rc
	out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$unit" 2>&1)
	rc=$?
	# Complaints about the host (no systemd running) are not the unit's; any naming it are.
	if [[ $rc -eq 0 ]] && ! grep -q "xlb-agent.service" <<<"$out"; then
		ok "systemd-analyze verify $unit"
	else
		bad "systemd-analyze verify (rc=$rc): $out"
	fi
	[[ -L /etc/systemd/system/multi-user.target.wants/xlb-agent.service ]] &&
		ok "unit enabled (multi-user.target.wants)" || bad "postinst did not enable the unit"

	# --- the installed agent, started as ExecStart would ---------------------------------------
	# ExecStart's variables come from /etc/default/xlb-agent; its host paths (socket, state, pins,
	# metrics port) are moved into this run's directories so the host's are never touched.
	local exec_line
	exec_line=$(unit_exec_start "$unit")
	# shellcheck disable=SC1091
	local attach agent_args
	attach=$(. /etc/default/xlb-agent && echo "$XLB_ATTACH")
	agent_args=$(. /etc/default/xlb-agent && echo "$XLB_AGENT_ARGS")
	exec_line=${exec_line//'$XLB_ATTACH'/$attach}
	exec_line=${exec_line//'$XLB_AGENT_ARGS'/$agent_args}
	exec_line=${exec_line//unix:\/\/\/run\/xlb\/xlb.sock/unix://$tmp/run/xlb.sock}
	exec_line=${exec_line//\/var\/lib\/xlb/$tmp/state}
	grep -q -- '--no-attach' <<<"$exec_line" && ok "default ExecStart attaches nowhere" ||
		bad "default ExecStart attaches: $exec_line"
	grep -q -- '--config /etc/xlb/xlb.yaml' <<<"$exec_line" || bad "ExecStart lost --config: $exec_line"
	echo "     ExecStart (test paths): $exec_line --pin-dir $pins --metrics-listen ''"
	local -a argv
	read -r -a argv <<<"$exec_line"
	[[ "${argv[0]}" == /usr/sbin/xlb-agent ]] || bad "ExecStart runs ${argv[0]}"
	mkdir -p "$tmp/run"

	python3 - "$tmp/notify" "$tmp/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "w", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode().replace("\n", " | ") + "\n")
PY
	stub_pid=$!
	for _ in $(seq 1 50); do [[ -S "$tmp/notify" ]] && break; sleep 0.1; done
	NOTIFY_SOCKET="$tmp/notify" "${argv[@]}" --pin-dir "$pins" --metrics-listen "" \
		>"$tmp/agent.log" 2>&1 &
	agent_pid=$!
	local ready=0
	for _ in $(seq 1 200); do
		grep -qs '^READY=1' "$tmp/notify.log" && {
			ready=1
			break
		}
		kill -0 "$agent_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [[ $ready -eq 1 ]]; then
		ok "installed agent sent READY=1 ($(grep -m1 '^READY=1' "$tmp/notify.log"))"
		local vips
		vips=$(/usr/bin/lbctl -s "unix://$tmp/run/xlb.sock" -o json vip list 2>&1)
		if [[ $? -eq 0 ]] && ! grep -q '"address"' <<<"$vips"; then
			ok "installed lbctl reaches the agent; /etc/xlb/xlb.yaml has no VIPs"
		else
			bad "lbctl vip list: $vips"
		fi
		compgen -G "$pins/link_*" >/dev/null && bad "an XDP link was pinned: $(ls "$pins")" ||
			ok "no XDP link pinned (nothing attached)"
		kill -TERM "$agent_pid"
		wait "$agent_pid"
		rc=$?
		agent_pid=""
		[[ $rc -eq 0 ]] && ok "SIGTERM: agent exited 0" || bad "SIGTERM: agent exited $rc"
		grep -q '^STOPPING=1' "$tmp/notify.log" && ok "STOPPING=1 sent" || bad "no STOPPING=1"
	else
		bad "no READY=1 from the installed agent:"$'\n'"$(tail -n 20 "$tmp/agent.log")"
	fi

	# --- reinstall (the upgrade path, $2 set): conffile edits survive, postinst is idempotent ---
	echo "# local edit by test-deb.sh" >>/etc/xlb/xlb.yaml
	if dpkg -i "$deb" >"$tmp/reinstall.log" 2>&1; then
		ok "dpkg -i again (upgrade path)"
	else
		bad "reinstall failed:"$'\n'"$(cat "$tmp/reinstall.log")"
	fi
	grep -q '^# local edit by test-deb.sh' /etc/xlb/xlb.yaml && ok "edited conffile kept on upgrade" ||
		bad "upgrade overwrote /etc/xlb/xlb.yaml"

	# --- remove: binaries go, conffiles and the group stay ---------------------------------------
	if dpkg -r xlb >"$tmp/remove.log" 2>&1; then
		ok "dpkg -r xlb"
	else
		bad "dpkg -r failed:"$'\n'"$(cat "$tmp/remove.log")"
	fi
	[[ ! -e /usr/sbin/xlb-agent && ! -e /usr/bin/lbctl && ! -e $unit ]] &&
		ok "remove: binaries and unit gone" || bad "remove left binaries or the unit"
	[[ -f /etc/xlb/xlb.yaml && -f /etc/default/xlb-agent ]] && ok "remove: conffiles kept" ||
		bad "remove deleted the conffiles"
	getent group xlb >/dev/null && ok "remove: group kept" || bad "remove deleted the group"

	# --- purge: everything gone --------------------------------------------------------------------
	if dpkg --purge xlb >"$tmp/purge.log" 2>&1; then
		ok "dpkg --purge xlb"
		installed=0
	else
		bad "dpkg --purge failed:"$'\n'"$(cat "$tmp/purge.log")"
	fi
	local left=""
	for path in /usr/sbin/xlb-agent /usr/sbin/xlb-decap /usr/bin/lbctl "$unit" \
		/usr/share/doc/xlb /etc/xlb /etc/default/xlb-agent /var/lib/xlb \
		/etc/systemd/system/multi-user.target.wants/xlb-agent.service \
		/etc/systemd/system/xlb-agent.service; do
		[[ -e "$path" || -L "$path" ]] && left+=" $path"
	done
	compgen -G "/var/lib/systemd/deb-systemd-helper-*/*xlb-agent.service*" >/dev/null &&
		left+=" $(compgen -G "/var/lib/systemd/deb-systemd-helper-*/*xlb-agent.service*" | tr '\n' ' ')"
	compgen -G "/var/lib/systemd/deb-systemd-helper-*/*/xlb-agent.service" >/dev/null &&
		left+=" $(compgen -G "/var/lib/systemd/deb-systemd-helper-*/*/xlb-agent.service" | tr '\n' ' ')"
	[[ -z "$left" ]] && ok "purge: nothing left" || bad "purge left:$left"
	if [[ $group_before -eq 0 ]]; then
		getent group xlb >/dev/null && bad "purge kept the group it created" ||
			ok "purge: group xlb removed"
	else
		getent group xlb >/dev/null && ok "purge: pre-existing group xlb kept" ||
			bad "purge deleted a group xlb that existed before the install"
	fi
	[[ -z "$(dpkg-query -W -f='${db:Status-Status}' xlb 2>/dev/null | grep -v not-installed)" ]] &&
		ok "dpkg no longer knows xlb" || bad "dpkg still has xlb: $(dpkg-query -W xlb 2>&1)"
	exit $fail
}

case "$mode" in
build) build_and_inspect ;;
install) install_and_run ;;
*)
	echo "usage: $0 build|install BUILD_DIR OUT_DIR VERSION SOURCE_DIR" >&2
	exit 2
	;;
esac
