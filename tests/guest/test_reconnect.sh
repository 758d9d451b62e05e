#!/bin/bash
# usage: tests/guest/test_reconnect.sh SOCKET IMAGE|- [run-guest.sh options]
#
# Three guests in a row, each a new QEMU process and so a new vhost-user connection to the same
# running backend at SOCKET. Guest k verifies the regions of the guests before it, writes its own
# seed into region k (from both vCPUs, one virtqueue each), reads it back, and verifies the
# earlier regions again. Guest 2 does not power off: it is SIGKILLed while both its queues are
# busy writing a scratch region (a frontend crash with requests in flight; set
# HY_RECONNECT_CRASH=0 to power it off cleanly instead). Guest 3 must still find regions 1 and 2
# intact and get its own I/O done. The host then checks all three regions in IMAGE.
# Regions are HY_REGION_BYTES (default 32M) at 0, 1x, 2x, scratch at 3x: the disk needs 4x.
# Extra arguments go to run-guest.sh (e.g. --accel kvm, --timeout 300, --verbose).
# Exit status: 0 pass, 1 fail, 2 usage.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
hy_test_init test_reconnect "$@"

len=${HY_REGION_BYTES:-33554432}
s1=$(hy_seed) s2=$(hy_seed) s3=$(hy_seed)
r1=$s1:0:$len r2=$s2:$len:$len r3=$s3:$((2 * len)):$len

hy_guest guest1 --test region --env HY_WRITE="$r1"
if [[ ${HY_RECONNECT_CRASH:-1} != 0 ]]; then
	hy_guest guest2-killed --test region --env HY_CHECK="$r1" --env HY_WRITE="$r2" \
		--env HY_SCRATCH="$((3 * len)):$len" --kill-on "HYGUEST KILL ME"
else
	hy_guest guest2 --test region --env HY_CHECK="$r1" --env HY_WRITE="$r2"
fi
hy_guest guest3 --test region --env HY_CHECK="$r1 $r2" --env HY_WRITE="$r3"

if [[ $HY_IMG != - ]]; then
	for r in "$r1" "$r2" "$r3"; do
		IFS=: read -r seed off l <<<"$r"
		hy_verify_file "$seed" "$off" "$l"
	done
fi
