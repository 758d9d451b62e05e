#!/bin/sh
# PID 1 of the NVMe test guest (busybox sh). run-nvme-guest.sh boots the base initramfs of
# build-guest.sh with rdinit=/hy/nvme-init.sh and puts this file, the test script
# (/hy/test.sh), /hy/lib.sh, /hy/env, /hy/data/ and the --bin programs (/hy/bin, their
# libraries in /lib) in its per-run cpio part. There is no vhost-user disk.
#
# Mounts the pseudo file systems, loads the NVMe and VFIO modules (/etc/hymodules-nvme, or
# $HY_NVME_MODULES), finds the NVMe controller (PCI class 0x010802), waits for the kernel's
# nvme driver to bring up its namespace, optionally binds it to vfio-pci ($HY_NVME_VFIO=1),
# then runs /hy/test.sh with in its environment:
#   HY_NVME_BDF    PCI address of the (first) NVMe controller, e.g. 0000:00:03.0
#   HY_NVME_BDFS   all of them, space-separated
#   HY_NVME_GROUP  its IOMMU group ("" without an IOMMU)
#   HY_NVME_CTRL   the kernel's name for it (nvme0) and HY_NVME_DISK its first namespace
#                  (/dev/nvme0n1); both "" when bound to vfio-pci or with no nvme driver
# and prints exactly one result line on ttyS0, as guest/init does:
#   HYGUEST RESULT: PASS      or      HYGUEST RESULT: FAIL <reason>
export PATH=/hy/bin:/bin:/sbin
mount -t devtmpfs dev /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmp /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mkdir -p /dev/hugepages /mnt
mount -t hugetlbfs hugetlbfs /dev/hugepages 2>/dev/null

result() {
	echo
	echo "HYGUEST RESULT: $*"
	sync
	poweroff -f
	sleep 10
	echo o >/proc/sysrq-trigger
}

uptime_s() { cut -d' ' -f1 /proc/uptime; }

[ -f /hy/env ] && . /hy/env
echo "hyguest: nvme-init started at $(uptime_s) s of uptime"

modules=${HY_NVME_MODULES:-$(cat /etc/hymodules-nvme 2>/dev/null)}
[ -n "$modules" ] || result "FAIL no /etc/hymodules-nvme: rebuild the initramfs (build-guest.sh)"
for m in $modules; do
	# Built-in modules need no loading; a module counts as loaded when /sys/module has it.
	modprobe "$m" 2>/dev/null || [ -d "/sys/module/$(echo "$m" | tr - _)" ] ||
		result "FAIL modprobe $m"
done

HY_NVME_BDFS=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/class" 2>/dev/null)" = 0x010802 ] && HY_NVME_BDFS="$HY_NVME_BDFS ${d##*/}"
done
HY_NVME_BDFS=${HY_NVME_BDFS# }
[ -n "$HY_NVME_BDFS" ] || result "FAIL no NVMe controller (PCI class 0x010802) in the guest"
HY_NVME_BDF=${HY_NVME_BDFS%% *}
dev=/sys/bus/pci/devices/$HY_NVME_BDF
HY_NVME_GROUP=$(basename "$(readlink "$dev/iommu_group" 2>/dev/null)" 2>/dev/null)
[ -d "$dev/iommu_group" ] || HY_NVME_GROUP=

HY_NVME_CTRL= HY_NVME_DISK=
if [ -d /sys/bus/pci/drivers/nvme ]; then
	# The nvme driver resets the controller and scans namespaces asynchronously; under TCG
	# this takes a second or two.
	i=0
	while [ $i -lt 300 ]; do
		HY_NVME_CTRL=$(ls "$dev/nvme" 2>/dev/null | head -n 1)
		if [ -n "$HY_NVME_CTRL" ]; then
			for b in /sys/block/nvme*n*; do
				[ -e "$b" ] || continue
				[ "$(cat "$b/hidden" 2>/dev/null)" = 1 ] && continue
				t=$(readlink -f "$b/device")
				case ${t##*/} in
				"$HY_NVME_CTRL") ;;
				nvme-subsys*) [ -e "$t/$HY_NVME_CTRL" ] || continue ;;
				*) continue ;;
				esac
				[ -b "/dev/${b##*/}" ] && HY_NVME_DISK=/dev/${b##*/} && break
			done
		fi
		[ -n "$HY_NVME_DISK" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	[ -n "$HY_NVME_DISK" ] ||
		result "FAIL the nvme driver did not bring up a namespace of $HY_NVME_BDF in 30 s"
fi
export HY_NVME_BDF HY_NVME_BDFS HY_NVME_GROUP HY_NVME_CTRL HY_NVME_DISK

if [ "${HY_NVME_VFIO:-0}" = 1 ]; then
	hydra-nvme-setup bind "$HY_NVME_BDF" || result "FAIL hydra-nvme-setup bind $HY_NVME_BDF"
	HY_NVME_GROUP=$(basename "$(readlink "$dev/iommu_group")")
	HY_NVME_CTRL= HY_NVME_DISK=
fi

[ -f /hy/test.sh ] || result "FAIL no /hy/test.sh in the initramfs"
echo "hyguest: running ${HY_TEST:-/hy/test.sh} at $(uptime_s) s of uptime: NVMe $HY_NVME_BDF" \
	"(driver $(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null), IOMMU group" \
	"${HY_NVME_GROUP:-none}${HY_NVME_DISK:+, $HY_NVME_DISK $(cat /sys/block/${HY_NVME_DISK#/dev/}/size) sectors})," \
	"$(nproc) cpus, $(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo) MiB," \
	"$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages 2>/dev/null || echo 0) hugepages"
rm -f /tmp/hyfail
sh /hy/test.sh
rc=$?
if [ $rc -eq 0 ] && [ ! -s /tmp/hyfail ]; then
	result PASS
elif [ -s /tmp/hyfail ]; then
	result "FAIL $(head -n 1 /tmp/hyfail)"
else
	result "FAIL test script exited with status $rc"
fi
