#!/bin/bash
# usage: tests/guest/test_patterns.sh SOCKET IMAGE|- [run-guest.sh options]
#
# A guest with a 2-queue vhost-user-blk disk on the backend at SOCKET writes deterministic
# patterns over the whole disk (or HY_PATTERN_BYTES, default 1G, spread over it in four
# regions including both ends) from both vCPUs at once, each vCPU pinned so that it submits on
# its own virtqueue, with 4 requests in flight per queue and I/O sizes from 4K to 128K. It
# reads everything back crosswise (what queue 0 wrote is read through queue 1), checks every
# 4 KiB block, and checks that both virtqueues were run and interrupted. After the guest has
# powered off, the host checks the backend's IMAGE (file or device) block by block.
# Extra arguments go to run-guest.sh (e.g. --accel kvm, --timeout 300, --verbose).
# Exit status: 0 pass, 1 fail, 2 usage.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
hy_test_init test_patterns "$@"

seed=$(hy_seed)
hy_guest guest --test patterns --env HY_SEED="$seed" \
	--env HY_PATTERN_BYTES="${HY_PATTERN_BYTES:-1073741824}"

mapfile -t ranges < <(grep -a -o 'HYGUEST RANGE [0-9]* [0-9]*' "$HY_LAST_LOG")
[[ ${#ranges[@]} -gt 0 ]] || hy_die "the guest reported no ranges"
if [[ $HY_IMG != - ]]; then
	for r in "${ranges[@]}"; do
		read -r _ _ off len <<<"$r"
		hy_verify_file "$seed" "$off" "$len"
	done
fi
