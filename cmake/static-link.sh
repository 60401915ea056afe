#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Link launcher (RULE_LAUNCH_LINK) for executables that should start fast: runs the link command
# it is given with each system shared library (/usr/lib/<multiarch>/libX.so) that has a static
# archive beside it replaced by that archive, the libraries in one group (archives need no order),
# and libstdc++/libgcc static too. glibc stays shared (its NSS and dlopen need it). The program then
# resolves no symbols across ~60 shared objects at start: lbctl starts in ~6M instructions
# instead of ~33M (BENCHMARKS.md, "Control plane at scale").
set -euo pipefail
args=()
grouped=0
for a in "$@"; do
	if [[ "$a" =~ ^(/usr/lib/[^[:space:]]+/lib[^/]+)\.so(\.[0-9.]+)?$ ]] && [[ -f "${BASH_REMATCH[1]}.a" ]]; then
		a="${BASH_REMATCH[1]}.a"
	fi
	# The first library or archive opens the group.
	if [[ $grouped -eq 0 && ( "$a" == *.a || "$a" == *.so || "$a" == -l* ) ]]; then
		args+=(-Wl,--start-group)
		grouped=1
	fi
	args+=("$a")
done
[[ $grouped -eq 1 ]] && args+=(-Wl,--end-group)
exec "${args[@]}" -no-pie -static-libstdc++ -static-libgcc -ldl -lpthread
