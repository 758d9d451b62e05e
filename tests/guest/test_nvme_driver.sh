#!/bin/bash
# usage: tests/guest/test_nvme_driver.sh [run-nvme-guest.sh options]
#
# Hydra's own NVMe driver (nvme/) against a real controller: the NVMe test guest
# (run-nvme-guest.sh: QEMU's emulated NVMe behind its emulated Intel IOMMU) runs
# nvme-driver-check (tests/guest/nvme_driver_check.c, built static as build/tests/
# nvme-driver-check): the open errors for a controller still on the kernel's driver and for one
# on no driver, then, bound to vfio-pci with tools/hydra-nvme-setup, bring-up, Identify, an I/O
# queue pair, a 1 MiB write split at MDTS and read back by DMA, the controller's SGLS and, when
# it has SGLs, odd layouts written and read back by SGL, doorbell batching, 5000 reads
# through a 64-entry queue, write zeroes, deallocate, flush, an out-of-range status, logs,
# abort, reset and queue re-creation, and an MSI-X vector. Exit status: 0 pass, 1 fail, 2 usage.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
hy_test_init test_nvme_driver none - "$@" # no vhost-user socket, no image
check=${HYDRA_BUILD:-$HY_HERE/../../build}/tests/nvme-driver-check
[[ -x $check ]] || hy_die "$check is not built"
HY_LAST_LOG=$HY_LOGDIR/$HY_NAME-guest-$HY_STAMP.log
rc=0
"$HY_HERE/run-nvme-guest.sh" --log "$HY_LAST_LOG" --cache "$HY_CACHE" --test nvme-driver \
	--bin "$check" --nvme-size 256M "${HY_RG_ARGS[@]}" || rc=$?
[[ $rc -eq 0 ]] || hy_die "guest: $(run_guest_reason "$HY_LAST_LOG")"
grep -a "SMOKE" "$HY_LAST_LOG" | tr -d '\r' | sed "s/^/guest $HY_NAME:   /" >&2
