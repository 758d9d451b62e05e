#!/bin/sh
# Guest side of test_nvme_vfio.sh, second guest: two NVMe controllers behind one conventional
# PCI bridge (run-nvme-guest.sh --nvme-count 2 --nvme-bridge), hence in one IOMMU group with the
# bridge. VFIO hands out whole groups: bind of one must refuse and name the other, changing
# nothing; bind of both (on the command line, or one with --group) must work, the group must be
# usable (vfio-probe), and unbind of both must give both disks back.
. /hy/lib.sh
. /hy/nvme-lib.sh

S=hydra-nvme-setup
set -- $HY_NVME_BDFS
[ $# -eq 2 ] || hy_fail "expected two NVMe controllers, found '$HY_NVME_BDFS'"
a=$1 b=$2
g=$(basename "$(readlink /sys/bus/pci/devices/$a/iommu_group)")
[ "$(basename "$(readlink /sys/bus/pci/devices/$b/iommu_group)")" = "$g" ] ||
	hy_fail "$a and $b are not in one IOMMU group (the bridge did not alias them)"
hy_log "$a and $b share IOMMU group $g: $(ls /sys/kernel/iommu_groups/$g/devices | tr '\n' ' ')"

driver() { hy_pci_driver "$1"; }
both_on() {
	[ "$(driver "$a")" = "$1" ] && [ "$(driver "$b")" = "$1" ] ||
		hy_fail "$2: expected both on $1, $a is on $(driver "$a"), $b on $(driver "$b")"
}

hy_expect 0 "^$a .* after bind --group \(IOMMU group $g also has $b\(nvme\)\)" $S status
hy_expect 1 "IOMMU group $g of $a also holds devices on other drivers" $S bind "$a"
hy_expect 1 "^  $b: class 0x010802 \(NVMe controller\), driver nvme\$" $S bind "$a"
hy_expect 1 "rerun with --group \(or name the NVMe ones too: hydra-nvme-setup bind $a $b\)" $S bind "$a"
both_on nvme "refused bind"
[ "$(cat /sys/bus/pci/devices/$a/driver_override)" = "(null)" ] || hy_fail "refused bind set driver_override"

hy_expect 0 "^$b: vfio-pci, IOMMU group $g" $S bind "$a" "$b"
both_on vfio-pci "bind of both"
hy_expect 0 "^$a .* vfio-pci +$g +/dev/vfio/$g +yes\$" $S status
hy_expect 0 "group $g vendor 0x1b36 device 0x0010 .* DMA ok" vfio-probe "$a"
hy_expect 0 "group $g vendor 0x1b36 device 0x0010 .* DMA ok" vfio-probe "$b"
hy_expect 0 "^$a: nvme, nvme[0-9]+: /dev/nvme[0-9]+n1\$" $S unbind "$a" "$b"
both_on nvme "unbind of both"

hy_expect 0 "^$b: vfio-pci, IOMMU group $g" $S bind --group "$a"
both_on vfio-pci "bind --group"
# Half a group back to the kernel leaves the other half unusable: status says so.
hy_expect 0 "^$b: nvme" $S unbind "$b"
hy_expect 0 "^$a .* no: IOMMU group $g is not viable, it also has $b\(nvme\)" $S status
hy_expect 0 "^$a: nvme" $S unbind "$a"
both_on nvme "unbind"
for d in /dev/nvme0n1 /dev/nvme1n1; do
	dd if=$d of=/dev/null bs=4096 count=1 2>/dev/null || hy_fail "cannot read $d at the end"
done
hy_log "shared IOMMU group checks passed"
