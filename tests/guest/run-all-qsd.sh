#!/bin/bash
# usage: tests/guest/run-all-qsd.sh [run-guest.sh options]
#
# Runs the three guest tests (test_patterns, test_fs, test_reconnect) against QEMU's own
# vhost-user-blk backend, qemu-storage-daemon, exporting a sparse 256 MiB image with two
# queues: a known-good peer, to prove the harness itself. One qemu-storage-daemon serves all
# tests (six guests, one of them SIGKILLed) and must still be alive at the end.
# Extra arguments go to run-guest.sh (e.g. --accel kvm). Exit status: 0 all passed, 1 otherwise.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

"$here/deps.sh"
"$here/build-guest.sh" "${HY_GUEST_CACHE:-$here/../../build/guest-cache}" 2>&1 |
	grep -v '^build-guest: up to date' >&2 || true

tmp=$(mktemp -d /tmp/hyguest-qsd.XXXXXX)
img=$tmp/disk.img
sock=$tmp/vhost.sock
qsd_pid=
cleanup() {
	local rc=$?
	if [[ -n ${child:-} ]]; then
		kill -TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	if [[ -n $qsd_pid ]] && kill -0 "$qsd_pid" 2>/dev/null; then
		kill -TERM "$qsd_pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$qsd_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$qsd_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

truncate -s 256M "$img"
qemu-storage-daemon \
	--blockdev "driver=file,filename=$img,node-name=f" \
	--export "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=$sock,writable=on,num-queues=2" \
	>"$tmp/qsd.log" 2>&1 &
qsd_pid=$!
for _ in $(seq 100); do
	[[ -S $sock ]] && break
	kill -0 "$qsd_pid" 2>/dev/null || break
	sleep 0.1
done
if [[ ! -S $sock ]]; then
	cat "$tmp/qsd.log" >&2
	echo "run-all-qsd: qemu-storage-daemon did not create $sock" >&2
	exit 1
fi
echo "run-all-qsd: qemu-storage-daemon $(qemu-storage-daemon --version | sed -n '1s/.*version \([^ ]*\).*/\1/p') pid $qsd_pid on $sock, image $img (256 MiB, sparse)" >&2

t0=$(date +%s.%N)
results=()
failed=0
child=
for t in test_patterns test_fs test_reconnect; do
	# In the background so that a signal reaches our trap at once; the test's own EXIT trap
	# stops its guest.
	"$here/$t.sh" "$sock" "$img" "$@" >"$tmp/$t.out" &
	child=$!
	wait "$child" || failed=1
	child=
	line=$(tail -n 1 "$tmp/$t.out")
	results+=("${line:-guest $t: no summary line}")
	echo "$line"
	if ! kill -0 "$qsd_pid" 2>/dev/null; then
		results+=("qemu-storage-daemon died during $t")
		failed=1
		break
	fi
done
total=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

echo
echo "run-all-qsd: summary (qemu-storage-daemon, ${total} s total)"
printf '  %s\n' "${results[@]}"
if [[ -s $tmp/qsd.log ]]; then
	echo "run-all-qsd: qemu-storage-daemon said:" >&2
	sed 's/^/  /' "$tmp/qsd.log" | tail -n 20 >&2
fi
exit $failed
