#!/bin/bash
# usage: tests/guest/test_nvme_vfio.sh [run-nvme-guest.sh options]
#
# The NVMe test guest (run-nvme-guest.sh: QEMU's NVMe controller behind its Intel IOMMU) and
# the operator's setup command, tools/hydra-nvme-setup, against a real kernel, nvme driver and
# VFIO. Three guests:
#   vfio     (guest/nvme-vfio.sh) booted without the VFIO modules: status; usage errors; a
#            host bridge, a SATA controller and missing addresses refused; not root refused;
#            vfio-pci missing refused; a mounted partition, swap and an open descriptor on the
#            namespace refused; then bind --hugepages 8 (bind loads VFIO itself), /dev/vfio/N
#            there and /dev/nvme0n1 gone, status "yes", vfio-probe (tests/guest/vfio-probe.c,
#            static: container, group, device, BAR0 CAP and VS, MAP_DMA), unbind refused while
#            vfio-probe holds the group, unbind, /dev/nvme0n1 back with a data pattern written
#            before bind intact; bind --user nobody and vfio-probe as nobody. The Hydra programs that exist in the build directory
#            ($HYDRA_BUILD, default build/) are copied in with --bin; with hydra and
#            hydra-bench, hydra serves a RAM disk inside the guest and hydra-bench verifies it.
#   group    (guest/nvme-group.sh) two controllers behind one PCI bridge, so in one IOMMU group:
#            bind of one refused naming the other; both, and --group, work; unbind of both.
#   noiommu  (guest/nvme-noiommu.sh) no IOMMU: bind refused with the fix (intel_iommu=on).
# Ends with one line, "guest test_nvme_vfio: PASS (40.1 s)" or "...: FAIL (...): reason", after
# one line per guest with its boot and total time. Exit status: 0 pass, 1 fail, 2 usage.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case ${1:-} in -h | --help)
	sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac

# common.sh's hy_on_exit uses these.
HY_NAME=test_nvme_vfio
HY_RG_ARGS=("$@")
# shellcheck disable=SC2034
HY_T0=$(hy_now)
HY_STAMP=$(date +%Y%m%d-%H%M%S)-$$
mkdir -p "$HY_LOGDIR"
trap hy_on_exit EXIT
trap 'hy_reason="interrupted"; exit 130' INT TERM HUP

top=$(cd "$HY_HERE/../.." && pwd)
build=${HYDRA_BUILD:-$top/build}
"$HY_HERE/deps.sh"
"$HY_HERE/build-guest.sh" "$HY_CACHE" 2>&1 | grep -v '^build-guest: up to date' >&2 || true

# vfio-probe: static, with the project's warning flags as errors (as hyguest).
probe=$HY_CACHE/vfio-probe
if [[ ! -x $probe || $HY_HERE/vfio-probe.c -nt $probe ]]; then
	echo "guest $HY_NAME: compiling vfio-probe" >&2
	gcc -std=gnu11 -O2 -g0 -static -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
		-Wmissing-prototypes -Wpointer-arith -Wvla -Wundef -Wwrite-strings -Wcast-qual \
		-Wimplicit-fallthrough -Wno-unused-parameter -Werror \
		-o "$probe.tmp" "$HY_HERE/vfio-probe.c" || hy_die "cannot compile vfio-probe.c"
	mv "$probe.tmp" "$probe"
fi

# Hydra's programs, dynamically linked: they prove that --bin brings their libraries along.
bins=(--bin "$probe")
names=()
for p in hydra hydractl hydra-bench; do
	if [[ -x $build/$p ]]; then
		bins+=(--bin "$build/$p")
		names+=("$p")
	fi
done
if [[ ${#names[@]} -eq 0 && -x $build/tests/integration/hy-blk-io ]]; then
	bins+=(--bin "$build/tests/integration/hy-blk-io")
	names+=(hy-blk-io)
fi
[[ ${#names[@]} -gt 0 ]] ||
	echo "guest $HY_NAME: no Hydra programs in $build (build first): --bin not tested" >&2
hydra_smoke=0
[[ -x $build/hydra && -x $build/hydra-bench && -x $build/hydractl ]] && hydra_smoke=1
echo "guest $HY_NAME: logs $HY_LOGDIR/$HY_NAME-*-$HY_STAMP.log; programs: ${names[*]:-none}" >&2

# nvme_guest LABEL [run-nvme-guest.sh options]: one guest; fails the test if it fails.
nvme_guest() {
	local label=$1 rc=0 t0 booted
	shift
	HY_LAST_LOG=$HY_LOGDIR/$HY_NAME-$label-$HY_STAMP.log
	t0=$(hy_now)
	"$HY_HERE/run-nvme-guest.sh" --log "$HY_LAST_LOG" --cache "$HY_CACHE" "$@" \
		"${HY_RG_ARGS[@]}" 2>"$HY_LAST_LOG.stderr" &
	hy_child=$!
	wait "$hy_child" || rc=$?
	hy_child=
	cat "$HY_LAST_LOG.stderr" >&2
	booted=$(sed -n 's/.* booted in \([<0-9.]*\) s (guest uptime \([0-9.]*\) s.*/\1 s (guest uptime \2 s)/p' \
		"$HY_LAST_LOG.stderr" 2>/dev/null | tail -n 1)
	rm -f "$HY_LAST_LOG.stderr"
	[[ $rc -eq 0 ]] || hy_die "$label: $(run_guest_reason "$HY_LAST_LOG")"
	echo "guest $HY_NAME: $label ok in $(awk -v a="$t0" -v b="$(hy_now)" 'BEGIN { printf "%.1f", b - a }') s, booted to its script in ${booted:-?}"
}

nvme_guest vfio --test nvme-vfio "${bins[@]}" --nvme-size 1G \
	--env HY_NVME_MODULES="crct10dif_common crc-t10dif crc64 crc64-rocksoft t10-pi nvme-core nvme" \
	--env HY_SEED="$(hy_seed)" --env HY_BINS="${names[*]}" --env HY_NVME_HYDRA=$hydra_smoke
grep -a 'hyguest\[.*took' "$HY_LAST_LOG" | sed "s/^/guest $HY_NAME:   /" | tr -d '\r'
nvme_guest group --test nvme-group --bin "$probe" --nvme-count 2 --nvme-bridge --nvme-size 64M
nvme_guest noiommu --test nvme-noiommu --bin "$probe" --no-iommu --nvme-size 64M
