#!/bin/sh
# Guest 2 of test_fs.sh (a new QEMU, so a new vhost-user connection to the same backend):
# e2fsck -fn must find the file system clean; mount it and check every file of
# /hy/data/SHA256SUMS; no other file may exist; unmount.
. /hy/lib.sh
disk=$1
hy_run modprobe ext4
if [ -x /bin/e2fsck ]; then
	hy_log "e2fsck -fn $disk"
	/bin/e2fsck -fn "$disk" || hy_fail "e2fsck -fn found errors (status $?)"
fi
hy_run mount -t ext4 -o ro "$disk" /mnt
cd /mnt || hy_fail "cd /mnt failed"
sha256sum -c /hy/data/SHA256SUMS >/tmp/sums 2>&1 || {
	grep -v ': OK$' /tmp/sums | head -n 10
	hy_fail "sha256sum -c failed in the second guest ($(grep -vc ': OK$' /tmp/sums) bad)"
}
want=$(wc -l </hy/data/SHA256SUMS)
have=$(find . -type f ! -path './lost+found/*' | wc -l)
[ "$have" -eq "$want" ] || hy_fail "$have files on the file system, $want expected"
[ ! -e scratch ] || hy_fail "the deleted scratch file is back"
cd /
hy_run umount /mnt
hy_log "$want files verified"
