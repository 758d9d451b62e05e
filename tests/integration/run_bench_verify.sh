#!/bin/bash
# SPDX-License-Identifier: MIT
#
# usage: tests/integration/run_bench_verify.sh HYDRA HYDRA-BENCH     (QSD=... for the daemon)
#
# hydra-bench's --verify against both backends it benchmarks, Hydra (uring on a file) and
# qemu-storage-daemon (file, aio=io_uring, discard=unmap): a sequential write of the whole
# region, a random read/write mix with flushes on 2 queues, random writes with discards
# (--discard-interval) on 2 queues, a full read-back (every block checked against the latest
# generation, carried between runs with --verify-state; discarded blocks skipped), then
# --check-image reads the backing file itself against the same state; then one byte of one
# written block is changed in the backing file behind the backend's back, and the next read-back
# and --check-image must both fail with exit 1 naming that block's LBA. Also the bad-input
# paths: an unreachable socket, too few queues, a feature the backend lacks (FLUSH's and
# DISCARD's), a read-only device, and a backend stalled mid-run (SIGSTOP): each a clear error, a
# non-zero exit, and no hang.
# Ends with "N passed, M failed". Without qemu-storage-daemon only Hydra is checked.
set -uo pipefail

hydra=$1 bench=$2
QSD=${QSD:-$(command -v qemu-storage-daemon || true)}
work=$(mktemp -d /tmp/hb-verify.XXXXXX)
pids=()
passed=0 failed=0
size=$((16 << 20)) region=8M
corrupt_block=100 # 4 KiB block: lba 800, byte 409600, or the first written one after it

cleanup() {
	for p in "${pids[@]}"; do
		kill -CONT "$p" 2>/dev/null
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT

ok() {
	echo "ok: $1"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL: $1"
	[[ -f $work/out ]] && tail -n 20 "$work/out"
	failed=$((failed + 1))
}

# expect NAME RC [GREP] -- COMMAND...: COMMAND must exit RC (and print GREP) within 60 s.
expect() {
	local name=$1 want=$2 pat=$3
	shift 4
	timeout 60 "$@" >"$work/out" 2>&1
	local rc=$?
	if [[ $rc -ne $want ]]; then
		fail "$name (exit $rc, expected $want)"
	elif [[ -n $pat ]] && ! grep -qE -- "$pat" "$work/out"; then
		fail "$name (no '$pat' in the output)"
	else
		ok "$name"
	fi
}

wait_sock() { # socket pid
	for _ in $(seq 100); do
		[[ -S $1 ]] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

start_hydra() {
	truncate -s $size "$work/hydra.img"
	cat >"$work/t.yaml" <<EOT
hydra:
  socket_dir: $work
devices:
  - name: vda
    backend: { type: uring, path: $work/hydra.img, size: 16MiB }
    queues:
      - { cpu: 0 }
      - { cpu: $(($(nproc) > 1 ? 1 : 0)) }
  - name: ro
    read_only: true
    backend: { type: null, size: 16MiB }
    queues:
      - { cpu: 0 }
  - name: nodiscard
    discard: false
    backend: { type: null, size: 16MiB }
    queues:
      - { cpu: 0 }
EOT
	"$hydra" --topology "$work/t.yaml" >"$work/hydra.log" 2>&1 &
	pids+=($!)
	hydra_pid=$!
	wait_sock "$work/vda.sock" $! && wait_sock "$work/status.sock" $!
}

start_qsd() {
	truncate -s $size "$work/qsd.img"
	"$QSD" --blockdev "driver=file,filename=$work/qsd.img,node-name=f,aio=io_uring,cache.direct=off,discard=unmap" \
		--export "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=$work/qsd.sock,writable=on,num-queues=2" \
		>"$work/qsd.log" 2>&1 &
	pids+=($!)
	qsd_pid=$!
	wait_sock "$work/qsd.sock" $!
}

# written_block STATE FROM: the first block from FROM on that the --verify-state file (version 2:
# a 40-byte header, then one host-order 32-bit word per block) says was written and not
# discarded since: generation 1 .. 2^30 - 1 and bit 30 (discarded) clear.
written_block() {
	od -An -v -tu4 -w4 -j 40 "$1" |
		awk -v from="$2" 'NR - 1 >= from && $1 > 0 && $1 < 1073741824 { print NR - 1; exit }'
}

# verify_suite NAME SOCKET IMAGE: the write / mix / discard / read-back / check-image /
# corruption sequence.
verify_suite() {
	local name=$1 sock=$2 img=$3 st=$work/$1.state blk
	local common=(-s "$sock" --size $region --verify --verify-state "$st" --io-timeout 5000
		--progress never)
	rm -f "$st"
	expect "$name: sequential write of the region, 2 queues" 0 "" -- \
		"$bench" "${common[@]}" -w write -q 2 -d 8 -n 2048
	expect "$name: randrw with flushes, 2 queues, QD16, reads verified" 0 \
		'"verified": [1-9]' -- "$bench" "${common[@]}" -w randrw -q 2 -d 16 -t 2 \
		--flush-interval 64 --json
	expect "$name: randwrite with discards, 2 queues, QD16" 0 '"discards": [1-9]' -- \
		"$bench" "${common[@]}" -w randwrite -q 2 -d 16 -n 3000 --discard-interval 8 --json
	expect "$name: randrw busy-polling, 1 queue, 128k blocks" 0 "" -- \
		"$bench" -s "$sock" --size $region --verify -w randrw --bs 128k -d 4 -t 1 --poll \
		--offset 8M --progress never
	# Discarded blocks read back as whatever the backend left (zeroes for a punched hole):
	# skipped, and counted apart from never-written ones (there are none).
	expect "$name: full read-back, every written block checked, discarded ones skipped" 0 \
		'"unverified": 0, "unverified_discarded": [1-9]' -- \
		"$bench" "${common[@]}" -w read -q 2 -d 8 -n 2048 --json
	expect "$name: --check-image of the backing file passes" 0 \
		'2048 blocks of 4096 bytes from byte 0: [1-9][0-9]* checked, 0 bad; [1-9][0-9]* skipped \(0 never written, [1-9][0-9]* discarded\)' -- \
		"$bench" --check-image "$img" --verify-state "$st" --size $region
	# One byte of a written block changes behind the backend's back.
	blk=$(written_block "$st" $corrupt_block)
	if [[ -z $blk ]]; then
		fail "$name: a written block to corrupt"
		return
	fi
	printf '\xa5' | dd of="$img" bs=1 seek=$((blk * 4096 + 1000)) conv=notrunc,fsync \
		status=none
	expect "$name: the corrupted block is found, with its lba" 1 \
		"verify failed at lba $((blk * 8)) .*bad crc" -- \
		"$bench" "${common[@]}" -w read -q 2 -d 8 -n 2048
	expect "$name: --check-image finds the corrupted block, with its lba" 1 \
		"verify failed at lba $((blk * 8)) .*bad crc" -- \
		"$bench" --check-image "$img" --verify-state "$st"
}

if start_hydra; then
	ok "hydra starts"
	verify_suite hydra "$work/vda.sock" "$work/hydra.img"
	expect "hydra: backend CPU from the status socket" 0 '"backend_pids_from": "hydra-status"' -- \
		"$bench" -s "$work/vda.sock" -w randread -d 8 -t 1 --hydra-status "$work/status.sock" \
		--json
	expect "hydra: too few queues is a set-up error" 2 "offers 2" -- \
		"$bench" -s "$work/vda.sock" -q 3 -t 1
	expect "hydra: writing a read-only device is a set-up error" 2 "read-only" -- \
		"$bench" -s "$work/ro.sock" -w randwrite -t 1
	expect "hydra: a feature the backend lacks is a set-up error" 2 "lacks feature geometry" -- \
		"$bench" -s "$work/vda.sock" --require flush,geometry -t 1
	expect "hydra: --discard-interval without DISCARD is a set-up error" 2 \
		"--discard-interval: the backend does not offer DISCARD" -- \
		"$bench" -s "$work/nodiscard.sock" -w randwrite --discard-interval 8 -t 1
	expect "hydra still serves after all that" 0 "" -- \
		"$bench" -s "$work/vda.sock" -w randrw -q 2 -d 4 -n 1000
	if grep -qE 'killed by signal|exited with code [12]|core dumped' "$work/hydra.log"; then
		fail "no hydra worker died"
	else
		ok "no hydra worker died"
	fi
else
	fail "hydra starts"
	cat "$work/hydra.log"
fi

if [[ -z $QSD ]]; then
	echo "qemu-storage-daemon not found: its half is skipped"
elif start_qsd; then
	ok "qemu-storage-daemon starts"
	verify_suite qsd "$work/qsd.sock" "$work/qsd.img"
	expect "qsd: --require of a feature it lacks" 2 "lacks feature geometry" -- \
		"$bench" -s "$work/qsd.sock" --require geometry -t 1
	# A backend that stops answering mid-run: exit 1 after --io-timeout, not a hang.
	(sleep 1 && kill -STOP "$qsd_pid" && sleep 4 && kill -CONT "$qsd_pid") &
	stopper=$!
	start=$(date +%s)
	expect "qsd stalled mid-run: a clear error and exit 1" 1 "the backend stalled" -- \
		"$bench" -s "$work/qsd.sock" -d 8 -t 10 --io-timeout 1000 --timeout 1000
	elapsed=$(($(date +%s) - start))
	if [[ $elapsed -le 6 ]]; then ok "the stall is reported in ${elapsed} s"; else fail "the stall took ${elapsed} s to report"; fi
	wait "$stopper"
else
	fail "qemu-storage-daemon starts"
	cat "$work/qsd.log"
fi

expect "an unreachable socket: exit 2 at once" 2 "cannot connect to vhost-user socket" -- \
	"$bench" -s "$work/nobody.sock" --connect-timeout 300 -t 1

echo "integration (hydra-bench verify): $passed passed, $failed failed"
[[ $failed -eq 0 ]]
