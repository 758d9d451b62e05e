#!/bin/sh
# Guest side of test_nvme_driver.sh: Hydra's NVMe driver (nvme/) on QEMU's controller. First
# with the controller still on the kernel's nvme driver (opening must fail: EBUSY, -16), then
# with no driver (ENODEV, -19), then bound to vfio-pci, where nvme-driver-check runs the whole
# driver end to end and must print "SMOKE PASS".
. /hy/lib.sh
bdf=$HY_NVME_BDF
[ -n "$bdf" ] || hy_fail "no NVMe controller found"
hy_log "controller $bdf on driver $(basename "$(readlink /sys/bus/pci/devices/$bdf/driver)")"
nvme-driver-check "$bdf" -16 || hy_fail "opening a controller bound to nvme did not fail with EBUSY"
echo "$bdf" >"/sys/bus/pci/devices/$bdf/driver/unbind"
nvme-driver-check "$bdf" -19 || hy_fail "opening an unbound controller did not fail with ENODEV"
hy_run hydra-nvme-setup bind "$bdf"
nvme-driver-check "$bdf" >/tmp/check.log 2>&1
rc=$?
cat /tmp/check.log
[ $rc -eq 0 ] && grep -q "SMOKE PASS" /tmp/check.log || hy_fail "nvme-driver-check failed (status $rc)"
hy_run hydra-nvme-setup unbind "$bdf"
