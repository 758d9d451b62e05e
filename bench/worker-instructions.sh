#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Instructions per request of the worker's request path on the null backend, pop to used ring.
#
#   bench/worker-instructions.sh [--ios N] [--build DIR] [--out DIR] [--no-build] [--label TEXT]
#
# Builds bench/vring_path.c (Release, plus -g for callgrind's file names) in DIR (default
# build-worker-instr/), runs it under `valgrind --tool=callgrind` for 4 KiB reads at QD1, QD32
# and QD128 and 4 KiB writes at QD32 (N requests each, default 200000; about a minute in all),
# prints a table and writes it to OUT/<date>-worker-instructions.txt (default bench/results/);
# --label says in the file what the run is of.
#
# What is measured. vring-path sets up guest memory, a split ring of 256 with EVENT_IDX and
# INDIRECT_DESC and in-flight tracking as Hydra's worker has them, and plays Linux's virtio-blk
# driver (one indirect table of header, data, status a request). Its device_pass() is the
# worker's poll_once() for a backend that completes at once: hy_vring_pop() (the descriptor
# walk), hy_blk_start() (virtio-blk parsing), the null backend (read_zeroes: false),
# hy_vring_push() and one hy_vring_flush() a pass, with its call eventfd write when the driver
# asks for one (QD1: every pass). --toggle-collect=device_pass counts that and nothing else: not
# the driver's side, not set-up. The figure is collected Ir / N.
# Instructions are not time (here a cache miss on a line the guest wrote costs more than dozens of
# instructions), but they do not depend on the machine's load: the figure to compare before and
# after a change of the request path, on a machine where timings move by a third from run to run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
ios=200000
build=$root/build-worker-instr
out=$root/bench/results
do_build=1
label=
while [[ $# -gt 0 ]]; do
	case $1 in
	--ios) ios=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--no-build) do_build=0; shift ;;
	--label) label=$2; shift 2 ;;
	-h | --help) sed -n '3,26p' "$0"; exit 0 ;;
	*) echo "worker-instructions: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
if ! [[ $ios =~ ^[1-9][0-9]*$ ]]; then
	echo "worker-instructions: --ios wants a positive count, not '$ios'" >&2
	exit 2
fi
command -v valgrind >/dev/null || { echo "worker-instructions: needs valgrind (tools/deps.sh --test)" >&2; exit 2; }
if [[ $do_build -eq 1 ]]; then
	cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-g -DHY_TESTS=OFF >/dev/null
	make -C "$build" -j"$(nproc)" vring-path >/dev/null
fi

work=$(mktemp -d /tmp/hydra-winstr.XXXXXX)
trap 'rm -rf "$work"' EXIT

rows=()
point() {
	local name=$1
	shift
	echo "worker-instructions: $name" >&2
	valgrind --tool=callgrind --toggle-collect=device_pass --callgrind-out-file="$work/cg" \
		"$build/vring-path" --ios "$ios" "$@" >"$work/out" 2>"$work/err" ||
		{ cat "$work/out" "$work/err" >&2; exit 1; }
	rows+=("$(python3 "$root/bench/callgrind.py" top "$name" "$work/cg" "$ios")")
}

point "4k read QD1" --qd 1
point "4k read QD32" --qd 32
point "4k read QD128" --qd 128
point "4k write QD32" --qd 32 --write

mkdir -p "$out"
file=$out/$(date +%F)-worker-instructions.txt
{
	echo "Instructions per request of the worker's request path (bench/vring_path.c: pop, virtio-blk,"
	echo "null backend with read_zeroes: false, used ring, flush), bench/worker-instructions.sh,"
	echo "$(date -u '+%F %H:%M') UTC, commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo ' with local changes')${label:+, $label}."
	echo "N = $ios requests a row; then the functions with the most self instructions a request."
	echo
	printf '%s\n' "${rows[@]}"
} | tee "$file"
echo "worker-instructions: written to $file" >&2
