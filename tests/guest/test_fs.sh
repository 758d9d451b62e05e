#!/bin/bash
# usage: tests/guest/test_fs.sh SOCKET IMAGE|- [run-guest.sh options]
#
# Guest 1 (one QEMU) makes an ext4 file system on the vhost-user-blk disk of the backend at
# SOCKET with e2fsprogs' mke2fs, mounts it with the ext4 driver, writes ~190 files of known
# content (empty, 1 byte, around 4 KiB, several over 1 MiB, one 17 MiB, deep directories),
# syncs, drops the page cache, checks them read back from the disk and unmounts. Guest 2 (a
# new QEMU process connecting to the same still-running backend) runs e2fsck -fn, mounts the
# file system and checks every file's sha256. Then the host runs e2fsck -fn on IMAGE and reads
# the large files out of it with debugfs. IMAGE "-" skips the host-side checks.
# Extra arguments go to run-guest.sh (e.g. --accel kvm, --timeout 300, --verbose).
# Exit status: 0 pass, 1 fail, 2 usage.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
hy_test_init test_fs "$@"

hy_tmpdir
data=$HY_TMP
seed=$(hy_seed)
{
	i=0
	for f in edge/empty:0 edge/one:1 edge/4095:4095 edge/4096:4096 edge/4097:4097 \
		big/1m-plus-1:1048577 big/3m:3145745 big/8m-minus-1:8388607 big/17m:17825792 \
		deep/a/b/c/d/e/f/g/file:12345; do
		echo "${f#*:} $((seed ^ ++i)) ${f%:*}"
	done
	for i in $(seq 100 279); do
		echo "$(((i * 397) % 9000 + 1)) $((seed ^ i)) small/$((i % 7))/f$i"
	done
} >"$data/manifest"
while read -r size s path; do
	echo "$("$HY_HYGUEST" gen "$s" "$size" | sha256sum | cut -d' ' -f1)  $path"
done <"$data/manifest" >"$data/SHA256SUMS"

hy_guest guest1-write --test fs-write --file "$data/manifest" --file "$data/SHA256SUMS"
hy_guest guest2-check --test fs-check --file "$data/manifest" --file "$data/SHA256SUMS"

if [[ $HY_IMG != - ]]; then
	e2fsck -fn "$HY_IMG" >"$data/fsck.log" 2>&1 ||
		{ cat "$data/fsck.log" >&2; hy_die "host e2fsck -fn $HY_IMG found errors"; }
	while read -r sum path; do
		got=$(debugfs -R "cat /$path" "$HY_IMG" 2>/dev/null | sha256sum | cut -d' ' -f1)
		[[ $got == "$sum" ]] || hy_die "host: /$path in $HY_IMG has sha256 $got, want $sum"
	done < <(grep -E '  big/' "$data/SHA256SUMS")
	echo "guest test_fs: host e2fsck and debugfs checks ok" >&2
fi
