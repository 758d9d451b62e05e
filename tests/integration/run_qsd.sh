#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Run hy-blk-io against the reference backend, qemu-storage-daemon's vhost-user-blk export, to
# prove the frontend (tools/vu_client) right independently of Hydra.
#
# usage: run_qsd.sh [path/to/hy-blk-io]      (QSD=... overrides the qemu-storage-daemon binary)
#
# qemu-storage-daemon panics on chains that point outside guest memory (libvhost-user's
# vu_panic), so --hostile is not run here; it is meant for Hydra.
set -eu

BIN=${1:-hy-blk-io}
QSD=${QSD:-qemu-storage-daemon}
SIZE=67108864
DIR=$(mktemp -d "${TMPDIR:-/tmp}/hy-qsd.XXXXXX")
PIDS=""
FAILED=0

cleanup() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null || true
	done
	for p in $PIDS; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

# start_qsd NAME BLOCKDEV-EXTRA EXPORT-EXTRA: a daemon on $DIR/NAME.img behind $DIR/NAME.sock.
start_qsd() {
	name=$1
	truncate -s "$SIZE" "$DIR/$name.img"
	"$QSD" \
		--blockdev "driver=file,filename=$DIR/$name.img,node-name=f$2" \
		--export "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=$DIR/$name.sock$3" \
		>"$DIR/$name.log" 2>&1 &
	pid=$!
	PIDS="$PIDS $pid"
	i=0
	while [ ! -S "$DIR/$name.sock" ]; do
		if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 100 ]; then
			echo "run_qsd: qemu-storage-daemon ($name) did not come up:" >&2
			cat "$DIR/$name.log" >&2
			exit 2
		fi
		sleep 0.1
		i=$((i + 1))
	done
}

# run NAME SOCKET ARGS...: one hy-blk-io run that must exit 0.
run() {
	name=$1
	sock=$2
	shift 2
	echo "=== $name: hy-blk-io --socket $sock $*"
	if "$BIN" --socket "$sock" --timeout 300 "$@"; then
		echo "=== $name: ok"
	else
		echo "=== $name: FAILED (exit $?)"
		FAILED=$((FAILED + 1))
	fi
}

# discard=unmap: without it the file driver does not pass discards down (qsd still offers the
# feature and answers OK).
start_qsd rw ",discard=unmap" ",writable=on,num-queues=2"
start_qsd ro ",read-only=on" ",writable=off"

run "two queues, all features" "$DIR/rw.sock" --queues 2 --size-check "$SIZE" \
	--expect-discard --expect-write-zeroes --serial vhost_user_blk --strict-len
run "no EVENT_IDX, no INDIRECT_DESC, ADD_MEM_REG, 16-entry rings, 16-bit index wrap" \
	"$DIR/rw.sock" --queues 2 --no-event-idx --no-indirect --add-mem-reg --queue-size 16 \
	--stress 70000 --strict-len
run "one 32768-entry ring" "$DIR/rw.sock" --queues 1 --queue-size 32768 --mem 128
run "backend survives a looping chain; data survives the reconnect" "$DIR/rw.sock" \
	--hostile-ring --io-timeout 2000
run "read-only export" "$DIR/ro.sock" --ro --size-check "$SIZE" --strict-len

# Nobody listening: a clear error and exit 1, quickly, never a hang.
echo "=== unreachable socket"
if out=$("$BIN" --socket "$DIR/nobody.sock" --connect-timeout 300 2>&1); then
	echo "=== unreachable socket: FAILED (exit 0)"
	FAILED=$((FAILED + 1))
elif echo "$out" | grep -q "cannot connect to vhost-user socket"; then
	echo "=== unreachable socket: ok"
else
	echo "$out"
	echo "=== unreachable socket: FAILED (no clear error)"
	FAILED=$((FAILED + 1))
fi

for p in $PIDS; do
	if ! kill -0 "$p" 2>/dev/null; then
		echo "run_qsd: a qemu-storage-daemon died during the runs" >&2
		FAILED=$((FAILED + 1))
	fi
done
echo "run_qsd: $FAILED run(s) failed"
[ "$FAILED" -eq 0 ]
