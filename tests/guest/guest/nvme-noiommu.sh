#!/bin/sh
# Guest side of test_nvme_vfio.sh, third guest: no IOMMU (run-nvme-guest.sh --no-iommu). bind
# must refuse with the kernel command line that fixes it and change nothing; status must say so.
. /hy/lib.sh

S=hydra-nvme-setup
bdf=$HY_NVME_BDF
[ -z "$(ls /sys/kernel/iommu_groups 2>/dev/null)" ] || hy_fail "this guest has IOMMU groups"
out=$($S status 2>&1)
echo "$out"
echo "$out" | grep -q "^IOMMU: off" || hy_fail "status does not say the IOMMU is off"
echo "$out" | grep -qE "^$bdf .* no: no IOMMU" || hy_fail "status does not say $bdf is unusable"
out=$($S bind "$bdf" 2>&1)
rc=$?
echo "$out"
[ $rc -eq 1 ] || hy_fail "bind without an IOMMU exited with $rc"
echo "$out" | grep -q "without an IOMMU.*intel_iommu=on iommu=pt" ||
	hy_fail "bind without an IOMMU does not say how to turn it on"
[ "$(basename "$(readlink /sys/bus/pci/devices/$bdf/driver)")" = nvme ] ||
	hy_fail "bind without an IOMMU moved $bdf off nvme"
[ -b "$HY_NVME_DISK" ] || hy_fail "$HY_NVME_DISK is gone"
if command -v vfio-probe >/dev/null; then
	vfio-probe "$bdf" && hy_fail "vfio-probe succeeded without an IOMMU"
fi
hy_log "no-IOMMU checks passed"
