#!/bin/sh
# Guest side of test_nvme_vfio.sh (NVMe guest, run-nvme-guest.sh): hydra-nvme-setup against a
# real kernel, a real nvme driver and real VFIO, behind QEMU's Intel IOMMU.
#
# The guest boots with only the NVMe modules ($HY_NVME_MODULES), so that "vfio-pci missing" can
# be tested first and bind must load VFIO itself. Then: status; usage errors; non-NVMe and
# missing devices; not root; namespaces in use (a mounted partition, swap, an open file
# descriptor); a data pattern written through the kernel's nvme driver; bind (with hugepages),
# /dev/vfio/N there and the block device gone; bind again; status "yes"; vfio-probe (container,
# group, device, BAR0 CAP and VS, MAP_DMA); unbind refused while vfio-probe holds the group;
# unbind; /dev/nvme0n1 back with the pattern intact; unbind again; bind by the kernel's name
# with --user nobody, and vfio-probe as nobody. With HY_NVME_HYDRA=1 also
# hydra and hydra-bench (copied in with --bin) serve and drive a RAM disk inside this guest.
#
# Environment (from nvme-init.sh and test_nvme_vfio.sh): HY_NVME_BDF, HY_NVME_GROUP,
# HY_NVME_DISK, HY_SEED, HY_BINS (programs in /hy/bin to start), HY_NVME_HYDRA,
# HY_EXPECT_CAP, HY_EXPECT_VS.
. /hy/lib.sh
. /hy/nvme-lib.sh

S=hydra-nvme-setup
bdf=$HY_NVME_BDF
g=$HY_NVME_GROUP
disk=$HY_NVME_DISK
dev=/sys/bus/pci/devices/$bdf
cap=${HY_EXPECT_CAP:-0x004018200f0107ff}
vs=${HY_EXPECT_VS:-0x00010400}
[ -n "$bdf" ] && [ -n "$g" ] && [ -b "$disk" ] ||
	hy_fail "no NVMe controller on the nvme driver with an IOMMU group (bdf '$bdf' group '$g' disk '$disk')"
name=${disk#/dev/}


driver() { hy_pci_driver "$bdf"; }

# still_on_nvme WHAT: a refused command must have left everything as it was.
still_on_nvme() {
	[ "$(driver)" = nvme ] || hy_fail "$1: $bdf is now on $(driver), not nvme"
	[ "$(cat "$dev/driver_override")" = "(null)" ] ||
		hy_fail "$1: driver_override is '$(cat "$dev/driver_override")'"
	[ -b "$disk" ] || hy_fail "$1: $disk is gone"
}

hy_log "NVMe $bdf, IOMMU group $g, $disk; kernel $(uname -r)"

# ---- programs copied in with --bin ---------------------------------------------------------
for b in ${HY_BINS:-}; do
	out=$("$b" --help 2>&1)
	rc=$?
	echo "$out" | head -n 3 | sed "s/^/    $b: /"
	case $out in *"error while loading shared libraries"* | *"not found"*)
		hy_fail "$b does not start in the guest: $(echo "$out" | head -n 1)" ;;
	esac
	[ $rc -ne 126 ] && [ $rc -ne 127 ] || hy_fail "$b --help exited with $rc"
done
[ -z "${HY_BINS:-}" ] || hy_log "programs start in the guest: $HY_BINS"

# ---- status, usage and the error cases -----------------------------------------------------
hy_expect 0 "^$bdf +1b36:0010 +nvme +$g +nvme[0-9]+: $name +after bind\$" $S status
hy_expect 0 "^$bdf .* after bind" $S status "$bdf"
hy_expect 1 "0000:00:00.0 is not an NVMe controller" $S status 0000:00:00.0
hy_expect 0 "^usage: hydra-nvme-setup bind" $S --help
hy_expect 2 "no command" $S
hy_expect 2 "unknown command 'frob'" $S frob "$bdf"
hy_expect 2 "unknown option --frob" $S bind --frob "$bdf"
hy_expect 2 "bind needs the PCI address" $S bind
hy_expect 2 "'bogus' is not a PCI address" $S bind bogus
hy_expect 2 "--hugepages needs a number" $S bind --hugepages many "$bdf"
hy_expect 2 "go with bind" $S unbind --hugepages 4 "$bdf"
hy_expect 1 "0000:00:00.0 is not an NVMe controller: PCI class 0x060000 \(host bridge\)" \
	$S bind 0000:00:00.0
hy_expect 1 "is not an NVMe controller: PCI class 0x0106.. \(SATA controller\)" $S bind 00:1f.2
hy_expect 1 "no PCI device 0000:00:1f.7" $S bind 0000:00:1f.7
hy_expect 1 "no PCI device 0000:07:00.0" $S bind 07:00.0
hy_expect 1 "no NVMe device nvme9" $S bind nvme9
hy_expect 1 "0000:00:00.0 is not an NVMe controller" $S unbind 0000:00:00.0
still_on_nvme "error cases"

grep -q '^nobody:' /etc/passwd || echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >>/etc/passwd
hy_expect 1 "bind needs root.*sudo hydra-nvme-setup bind" su -s /bin/sh nobody -c "/hy/bin/$S bind $bdf"
hy_expect 1 "unbind needs root" su -s /bin/sh nobody -c "/hy/bin/$S unbind $bdf"
hy_expect 0 "^$bdf .* nvme " su -s /bin/sh nobody -c "/hy/bin/$S status"
still_on_nvme "not root"

# vfio-pci missing: the guest booted without the VFIO modules; hide the driver's file.
if [ ! -d /sys/bus/pci/drivers/vfio-pci ]; then
	ko=$(find /lib/modules -name 'vfio-pci.ko*' | head -n 1)
	[ -n "$ko" ] || hy_fail "no vfio-pci.ko in the guest"
	mv "$ko" "$ko.hidden"
	hy_expect 1 "the vfio-pci driver is missing: 'modprobe vfio-pci' said: .*CONFIG_VFIO_PCI" \
		$S bind "$bdf"
	mv "$ko.hidden" "$ko"
	still_on_nvme "vfio-pci missing"
else
	hy_log "vfio-pci already loaded at boot: 'vfio-pci missing' not tested"
fi

# ---- namespaces in use ---------------------------------------------------------------------
# Two 64 MiB partitions: an ext2 file system mounted from p1, swap on p2.
printf 'o\nn\np\n1\n\n+64M\nn\np\n2\n\n+64M\nw\n' | fdisk "$disk" >/dev/null 2>&1
i=0
while [ ! -b "${disk}p2" ] && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ -b "${disk}p2" ] || hy_fail "fdisk did not make ${disk}p1 and p2"
modprobe ext4 || hy_fail "modprobe ext4"
mke2fs -q -F "${disk}p1" >/dev/null 2>&1 || hy_fail "mke2fs ${disk}p1"
mount "${disk}p1" /mnt || hy_fail "mount ${disk}p1"
mkswap "${disk}p2" >/dev/null && swapon "${disk}p2" || hy_fail "swapon ${disk}p2"
hy_expect 1 "${disk}p1 is mounted on /mnt" $S bind "$bdf"
hy_expect 1 "${disk}p2 is in use as swap" $S bind "$bdf"
hy_expect 0 "^$bdf .* no: ${disk}p1 is mounted on /mnt" $S status
umount /mnt
hy_expect 1 "${disk}p2 is in use as swap" $S bind "$bdf"
swapoff "${disk}p2"
sleep 60 <"${disk}p1" &
holder=$!
sleep 0.2
hy_expect 1 "${disk}p1 is open in sleep\[$holder\]" $S bind "$bdf"
kill $holder
wait $holder 2>/dev/null
still_on_nvme "in use"
# Back to a bare disk.
dd if=/dev/zero of="$disk" bs=1M count=1 conv=fsync 2>/dev/null
blockdev --rereadpt "$disk" || hy_fail "blockdev --rereadpt $disk"
[ ! -e "${disk}p1" ] || hy_fail "${disk}p1 still there after wiping the partition table"
hy_log "in-use checks done: mounted partition, swap, open by a process"

# ---- a pattern that must survive the trip through vfio-pci ---------------------------------
seed=${HY_SEED:-0x1234}
end=$(($(cat "/sys/block/$name/size") * 512 - 8388608))
hy_run hyguest write "$disk" "$seed" --offset 0 --length 8M --threads 2
hy_run hyguest write "$disk" "$seed" --offset "$end" --length 8M --threads 2

# ---- bind ----------------------------------------------------------------------------------
t0=$(hy_ms)
hy_expect 0 "^$bdf: vfio-pci, IOMMU group $g, /dev/vfio/$g\$" $S bind --hugepages 8 "$bdf"
t_bind=$(($(hy_ms) - t0))
[ "$(driver)" = vfio-pci ] || hy_fail "$bdf is on $(driver) after bind"
[ "$(cat "$dev/driver_override")" = vfio-pci ] || hy_fail "driver_override is not vfio-pci"
[ -c "/dev/vfio/$g" ] || hy_fail "/dev/vfio/$g missing after bind"
[ -c /dev/vfio/vfio ] || hy_fail "/dev/vfio/vfio missing after bind"
[ ! -e "$disk" ] && [ ! -e "/sys/block/$name" ] || hy_fail "$disk still there after bind"
[ -d /sys/module/vfio_iommu_type1 ] || hy_fail "bind did not load vfio_iommu_type1"
[ "$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)" -ge 8 ] ||
	hy_fail "bind --hugepages 8 reserved $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)"
grep -q ' hugetlbfs ' /proc/mounts || hy_fail "no hugetlbfs mounted"
hy_log "bind took $t_bind ms"
hy_expect 0 "already bound to vfio-pci" $S bind "$bdf"
hy_expect 0 "^$bdf +1b36:0010 +vfio-pci +$g +/dev/vfio/$g +yes\$" $S status
hy_expect 0 "vfio-pci +$g .* yes" $S status "$bdf"

# ---- VFIO end to end -----------------------------------------------------------------------
t0=$(hy_ms)
hy_expect 0 "group $g vendor 0x1b36 device 0x0010 .* CAP $cap VS $vs .* DMA ok" vfio-probe "$bdf"
hy_log "vfio-probe took $(($(hy_ms) - t0)) ms"
vfio-probe "$bdf" --hold 60 >/tmp/probe.out 2>&1 &
probe=$!
i=0
while ! grep -q holding /tmp/probe.out && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
grep -q holding /tmp/probe.out || hy_fail "vfio-probe --hold: $(cat /tmp/probe.out)"
hy_expect 0 "^$bdf .* yes, in use by vfio-probe\[$probe\]" $S status
hy_expect 1 "$bdf is in use: /dev/vfio/$g is open in vfio-probe\[$probe\]" $S unbind "$bdf"
[ "$(driver)" = vfio-pci ] || hy_fail "a refused unbind moved $bdf to $(driver)"
kill $probe
wait $probe 2>/dev/null

# ---- unbind --------------------------------------------------------------------------------
t0=$(hy_ms)
hy_expect 0 "^$bdf: nvme, nvme[0-9]+: $disk\$" $S unbind "$bdf"
t_unbind=$(($(hy_ms) - t0))
[ "$(driver)" = nvme ] || hy_fail "$bdf is on $(driver) after unbind"
[ "$(cat "$dev/driver_override")" = "(null)" ] || hy_fail "driver_override not cleared"
[ -b "$disk" ] || hy_fail "$disk did not come back"
[ ! -e "/dev/vfio/$g" ] || hy_fail "/dev/vfio/$g still there after unbind"
dd if="$disk" of=/dev/null bs=4096 count=1 2>/dev/null || hy_fail "cannot read $disk after unbind"
hy_run hyguest verify "$disk" "$seed" --offset 0 --length 8M --threads 2
hy_run hyguest verify "$disk" "$seed" --offset "$end" --length 8M --threads 2
hy_log "unbind took $t_unbind ms; $disk readable, the pattern survived"
hy_expect 0 "already bound to nvme" $S unbind "$bdf"
hy_expect 0 "^$bdf +1b36:0010 +nvme +$g +nvme[0-9]+: $name +after bind\$" $S status
# By its kernel name, too; and for a hydra that does not run as root (--user).
hy_expect 0 "^$bdf: vfio-pci, IOMMU group $g" $S bind --user nobody "$disk"
[ "$(stat -c %U "/dev/vfio/$g")" = nobody ] || hy_fail "bind --user nobody left /dev/vfio/$g to $(stat -c %U "/dev/vfio/$g")"
hy_expect 0 "CAP $cap VS $vs .* DMA ok" su -s /bin/sh nobody -c "/hy/bin/vfio-probe $bdf"
hy_expect 0 "^$bdf: nvme" $S unbind "$bdf"

# ---- hydra and its frontend inside this guest ----------------------------------------------
if [ "${HY_NVME_HYDRA:-0}" = 1 ]; then
	mkdir -p /tmp/hy
	cat >/tmp/hy/topology.yaml <<EOF
hydra:
  socket_dir: /tmp/hy
  log_level: info
devices:
  - name: vda
    backend: { type: ram, size: 64MiB }
    queues:
      - { cpu: 0 }
      - { cpu: 1 }
EOF
	hydra --topology /tmp/hy/topology.yaml >/tmp/hy/hydra.log 2>&1 &
	hpid=$!
	i=0
	while [ ! -S /tmp/hy/vda.sock ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -S /tmp/hy/vda.sock ] || {
		cat /tmp/hy/hydra.log
		hy_fail "hydra did not create /tmp/hy/vda.sock in the guest"
	}
	hy_expect 0 "" hydra-bench --socket /tmp/hy/vda.sock --workload randrw --verify --queues 2 \
		--iodepth 4 --duration 2s --progress never
	hy_expect 0 "vda" hydractl -s /tmp/hy/status.sock status
	kill -TERM $hpid
	wait $hpid
	rc=$?
	[ $rc -eq 0 ] || {
		tail -n 20 /tmp/hy/hydra.log
		hy_fail "hydra exited with $rc after SIGTERM in the guest"
	}
	hy_log "hydra, hydra-bench and hydractl ran inside the NVMe guest"
fi
hy_log "all checks passed"
