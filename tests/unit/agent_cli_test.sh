#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# xlb-agent start-up checks that need no root: usage errors and invalid configs exit 2 with every
# error listed, and nothing is taken over. (The program loads while the config is parsed; a refused
# start removes the pins and directories that load made. As root, the last case checks that on a
# real bpffs.)
set -u
agent="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

expect() {  # expect NAME RC PATTERN -- command...
	local name=$1 want_rc=$2 pattern=$3
	shift 4
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	if [[ $rc -ne $want_rc ]] || ! grep -qF -- "$pattern" <<<"$out"; then
		echo "FAIL $name: rc=$rc (want $want_rc), output:"
		echo "$out"
		fail=1
	else
		echo "ok   $name"
	fi
}

expect usage_missing_interface 2 "--interface (or --no-attach) is required" -- "$agent"
expect usage_bad_log_level 2 "--log-level" -- "$agent" --no-attach --log-level loud
expect usage_both 2 "excludes" -- "$agent" --no-attach --interface lo
expect usage_nat_table_size 2 "--nat-table-size" -- "$agent" --no-attach --nat-table-size 1
expect usage_nat_gc_interval 2 "--nat-gc-interval-ms" -- "$agent" --no-attach --nat-gc-interval-ms 5

printf 'vips:\n  - address: 10.0.0.300\n    port: 70000\n    protocol: tcp\n' >"$tmp/bad.yaml"
expect invalid_config_all_errors 2 'vips[0].port: 70000 is not in [0, 65535]' -- \
	"$agent" --no-attach --config "$tmp/bad.yaml" --pin-dir "$tmp/pins" --state-dir ""
expect invalid_config_address 2 'vips[0].address: "10.0.0.300" is not an IPv4 or IPv6 address' -- \
	"$agent" --no-attach --config "$tmp/bad.yaml" --pin-dir "$tmp/pins" --state-dir ""

printf 'vips:\n  - adress: 10.0.0.1\n' >"$tmp/typo.yaml"
expect unknown_field 2 'vips[0].adress: unknown field' -- \
	"$agent" --no-attach --config "$tmp/typo.yaml" --pin-dir "$tmp/pins" --state-dir ""
expect missing_file 2 'cannot open' -- "$agent" --no-attach --config "$tmp/nope.yaml" --state-dir ""

# Nothing was loaded or pinned for any of these.
if [[ -e "$tmp/pins" ]]; then
	echo "FAIL: an invalid start-up created $tmp/pins"
	fail=1
fi

# On a bpffs (root only) the load succeeds while the config is refused: its pins go again.
bpffs_dir="/sys/fs/bpf/xlb-cli-test-$$"
if [[ $(id -u) -eq 0 ]] && [[ $(stat -f -c %T /sys/fs/bpf 2>/dev/null) == bpf_fs ]]; then
	expect invalid_config_bpffs 2 'vips[0].port: 70000 is not in [0, 65535]' -- \
		"$agent" --no-attach --config "$tmp/bad.yaml" --pin-dir "$bpffs_dir/pins" --state-dir "" \
		--max-vips 16 --max-backends 64 --flow-table-size 1024 --nat-table-size 1024
	if [[ -e "$bpffs_dir" ]]; then
		echo "FAIL: a refused start-up left $(find "$bpffs_dir" | head -n 20)"
		rm -rf "$bpffs_dir"
		fail=1
	else
		echo "ok   invalid_config_bpffs_nothing_pinned"
	fi
else
	echo "skip invalid_config_bpffs (needs root and a bpffs at /sys/fs/bpf)"
fi
exit $fail
