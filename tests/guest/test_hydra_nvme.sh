#!/bin/bash
# usage: tests/guest/test_hydra_nvme.sh [io|crash]... [run-nvme-guest.sh options]
#
# Hydra's nvme backend end to end: the NVMe test guest (run-nvme-guest.sh: QEMU's NVMe
# controller behind its emulated Intel IOMMU, bound to vfio-pci) runs hydra with
# `backend: { type: nvme }` and 2 workers, and hydra-bench --verify against it, both inside the
# guest (guest/hydra-nvme.sh). After the guest powers off, the host reads hydra-bench's verify
# state from the image's last MiB (the guest put it there through the kernel's nvme driver) and
# checks with `hydra-bench --check-image` that every block of the image holds exactly the
# generation last written (or was discarded).
#   io     start-up errors (no such device, bound to the kernel's nvme driver, no such
#          namespace); sequential write, random mix with flushes and discards on 2 queues,
#          read-back; the status socket's nvme section.
#   crash  the random mix, verified, for $HY_CRASH_SECONDS (default 60) s while a random worker
#          is SIGKILLed every 0.5 s (at least 50 kills required): the master deletes and
#          re-creates the dead worker's queue pair and the new worker resubmits what was in
#          flight; prints the kill-to-first-completion recovery times (p50, max).
# Default: both. Binaries from $HYDRA_BUILD (default build/). Ends with one line,
# "guest test_hydra_nvme: PASS (...)" or "...: FAIL (...): reason". Exit: 0 pass, 1 fail, 2 usage.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

modes=()
while [[ $# -gt 0 && ($1 == io || $1 == crash) ]]; do
	modes+=("$1")
	shift
done
[[ ${#modes[@]} -gt 0 ]] || modes=(io crash)
case ${1:-} in -h | --help)
	sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac

hy_test_init test_hydra_nvme none - "$@" # no vhost-user socket, no image

build=${HYDRA_BUILD:-$HY_HERE/../../build}
bins=()
for b in hydra hydra-bench hydractl; do
	[[ -x $build/$b ]] || hy_die "$build/$b is not built"
	bins+=(--bin "$build/$b")
done
work=$(mktemp -d /tmp/hy-nvme.XXXXXX)
HY_TMPDIRS+=("$work")
seconds=${HY_CRASH_SECONDS:-60}
region=64M

# check_image IMG: take the verify state from the image's last MiB and check every block.
check_image() {
	local img=$1 size off hdr len
	size=$(stat -c %s "$img")
	off=$((size - 1048576))
	hdr=$(dd if="$img" bs=1 skip=$off count=24 2>/dev/null)
	[[ $hdr == HYSTATE1* ]] || hy_die "no verify state at the end of the image (found '${hdr:0:8}')"
	len=$((10#${hdr:8:16}))
	dd if="$img" of="$work/state" bs=64K iflag=skip_bytes,count_bytes skip=$((off + 24)) \
		count="$len" 2>/dev/null
	"$build/hydra-bench" --check-image "$img" --verify-state "$work/state" --size $region \
		--seed 7 >"$work/check.out" 2>&1 || {
		cat "$work/check.out" >&2
		hy_die "the image does not hold what hydra-bench wrote"
	}
	sed "s/^/guest $HY_NAME:   host check: /" "$work/check.out" >&2
}

for mode in "${modes[@]}"; do
	img=$work/nvme-$mode.img
	log=$HY_LOGDIR/$HY_NAME-$mode-$HY_STAMP.log
	HY_LAST_LOG=$log
	rc=0
	"$HY_HERE/run-nvme-guest.sh" --log "$log" --cache "$HY_CACHE" --test hydra-nvme --vfio \
		"${bins[@]}" --nvme-img "$img" --nvme-size 256M --memory 1G \
		--env HY_MODE="$mode" --env HY_SECONDS="$seconds" --env HY_REGION=$region \
		--timeout $((seconds + 240)) "${HY_RG_ARGS[@]}" || rc=$?
	[[ $rc -eq 0 ]] || hy_die "guest ($mode): $(run_guest_reason "$log")"
	check_image "$img"
	if [[ $mode == crash ]]; then
		kills=$(grep -a "HYNVME kills" "$log" | tr -d '\r' | awk '{print $3}')
		[[ ${kills:-0} -ge 50 ]] || hy_die "only ${kills:-0} worker kills in $seconds s (need 50)"
		grep -a "HYNVME recovery" "$log" | tr -d '\r' | awk '{print $3}' | sort -n >"$work/rec"
		[[ -s $work/rec ]] || hy_die "no worker logged a recovery"
		echo "guest $HY_NAME:   crash: $kills kills, $(wc -l <"$work/rec") timed recoveries, kill to first completion p50 $(awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}' "$work/rec") ms, max $(tail -n 1 "$work/rec") ms" >&2
	fi
	grep -a -E "^ +(iops|verify|flushes|discards) " "$log" | tr -d '\r' |
		sed "s/^/guest $HY_NAME:   $mode: /" >&2 || true
done
