#!/bin/sh
# Guest 1 of test_fs.sh: make an ext4 file system on the disk, fill it with the files listed in
# /hy/data/manifest ("SIZE SEED PATH", contents from hyguest gen), sync, drop the page cache
# and check them against /hy/data/SHA256SUMS as read back from the disk, unmount.
. /hy/lib.sh
disk=$1
hy_run modprobe ext4
# busybox sh runs its own applets before $PATH: name e2fsprogs' mke2fs by its path.
if /bin/mke2fs -V 2>&1 | grep -q "EXT2FS Library"; then
	hy_log "mke2fs (e2fsprogs) -t ext4 $disk"
	hy_run /bin/mke2fs -F -q -t ext4 -L hytest "$disk"
	/bin/dumpe2fs -h "$disk" 2>/dev/null | grep -E '^(Filesystem features|Block size)' || true
else
	# busybox mke2fs makes ext2, which the ext4 driver mounts too.
	hy_log "busybox mke2fs $disk"
	hy_run mke2fs -F -L hytest "$disk"
fi
hy_run mount -t ext4 "$disk" /mnt
grep " /mnt " /proc/mounts

# A scratch file written and deleted first: its blocks are freed (and discarded when the
# device supports discard) before and between the real files.
hy_run dd if=/dev/zero of=/mnt/scratch bs=1M count=8 conv=fsync 2>/dev/null
hy_log "writing $(wc -l </hy/data/manifest) files"
while read -r size seed path; do
	mkdir -p "/mnt/${path%/*}"
	hyguest gen "$seed" "$size" >"/mnt/$path" || hy_fail "writing /mnt/$path failed"
done </hy/data/manifest
rm /mnt/scratch
hy_run sync
if [ "$(cat /sys/block/${disk#/dev/}/queue/discard_max_bytes)" != 0 ]; then
	hy_log "device supports discard: fstrim"
	fstrim -v /mnt || hy_fail "fstrim failed on a device that offers discard"
fi
df -k /mnt | tail -n 1
echo 3 >/proc/sys/vm/drop_caches
hy_log "checking the files as read back from the disk"
cd /mnt || hy_fail "cd /mnt failed"
sha256sum -c /hy/data/SHA256SUMS >/tmp/sums 2>&1 || {
	grep -v ': OK$' /tmp/sums | head -n 10
	hy_fail "sha256sum -c failed after write+sync+drop_caches ($(grep -vc ': OK$' /tmp/sums) bad)"
}
cd /
hy_run umount /mnt
hy_log "file system written and unmounted cleanly"
