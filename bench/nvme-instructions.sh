#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Instructions per I/O of the worker's nvme path, submit to completion, without the controller.
#
#   bench/nvme-instructions.sh [--ios N] [--build DIR] [--out DIR] [--no-build]
#
# Builds bench/nvme_path.c (Release, plus -g for callgrind's file names) in DIR (default
# build-nvme-instr/), runs it under `valgrind --tool=callgrind` for 4 KiB reads at QD1 and QD32
# (N reads each, default 100000; well under 2 minutes in all), prints a table and writes it to
# OUT/<date>-nvme-instructions.txt (default bench/results/).
#
# What is measured. nvme-path drives the worker's nvme backend (worker/be_nvme.c through
# hy_backend_ops: submit, flush once per batch, reap, as worker/worker.c does) against the unit
# tests' software NVMe controller (tests/unit/nvme/model.c). nvme/ is compiled into it with the
# MMIO test seam, so each doorbell write is a call into the model, which fetches the SQEs,
# executes them (PRP walk, 4 KiB memcpy) and posts the CQEs before the call returns; worker/ is
# the library Hydra's workers run.
#
# Method (all from one callgrind profile per queue depth):
#   - --toggle-collect='run_loop*' collects only inside the I/O loop: set-up (controller bring-up,
#     Identify, queue creation, filling the namespace) and exit are not counted.
#   - total  = every instruction collected, divided by N.
#   - model  = inclusive Ir of hy_nvme_test_mmio_write32 + hy_nvme_test_mmio_read32. The model
#              only ever runs inside these two MMIO hooks, so their inclusive cost is all of its
#              work, including the libc memcpy/memset it calls. (What is left of a doorbell in
#              Hydra proper is one store to BAR0; the call to the hook counts as model, so the
#              worker figure is short by about one instruction per doorbell.)
#   - worker = inclusive Ir of the backend's ops (nvme_submit + nvme_flush + nvme_reap) minus the
#              model minus the bench's completion callback (on_done: worker.c's io_done in
#              Hydra, which is not the nvme path). That is be_nvme.c, nvme/qpair.c, nvme/prp.c,
#              worker/mem.c and what they call (hy_now_ns() once per doorbell batch).
#   - harness = total - worker - model: run_loop's own bookkeeping and the callback.
#   - The per-file columns split the worker figure by self Ir of the functions each file defines
#     (code inlined into them from headers such as nvme/mmio.h counts with them); "other" is the
#     rest of the worker figure: shm/log.c hy_now_ns() and libc's clock_gettime(). Valgrind hides
#     the vDSO, so clock_gettime() is a system call there and its few dozen native instructions
#     per batch are missing from "other".
# Instructions are not time: this counts work per I/O, independent of the machine's load, and is
# the figure to compare before and after a change of the path.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
IOS=100000
BUILD=build-nvme-instr
OUT=bench/results
DO_BUILD=1
while [ $# -gt 0 ]; do
	case "$1" in
	--ios) IOS=$2; shift 2 ;;
	--build) BUILD=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--no-build) DO_BUILD=0; shift ;;
	*) echo "usage: $0 [--ios N] [--build DIR] [--out DIR] [--no-build]" >&2; exit 2 ;;
	esac
done
for tool in valgrind callgrind_annotate; do
	if ! command -v $tool >/dev/null; then
		echo "$0: $tool not found (apt-get install -y valgrind)" >&2
		exit 2
	fi
done

if [ $DO_BUILD = 1 ]; then
	cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-g -DHY_TESTS=OFF \
		-DHY_WERROR=ON >/dev/null
	make -C "$BUILD" -j"$(nproc)" nvme-path >/dev/null
fi
BIN=$BUILD/nvme-path
[ -x "$BIN" ] || { echo "$0: $BIN is missing (run without --no-build)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/nvme-instr.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# analyse PROFILE N: print "total worker model harness be_nvme qpair prp mem other" per I/O.
analyse() {
	python3 bench/callgrind.py nvme "$1" "$2"
}

cache() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt"; }
BTYPE=$(cache CMAKE_BUILD_TYPE)
BFLAGS="$(cache CMAKE_C_FLAGS) $(cache "CMAKE_C_FLAGS_${BTYPE^^}")"
DATE=$(date +%F)
mkdir -p "$OUT"
RESULT=$OUT/$DATE-nvme-instructions.txt
{
	echo "nvme path: instructions (callgrind Ir) per 4 KiB read, submit to completion, $IOS reads per queue depth"
	echo "$(date -Is), $(uname -m), $(valgrind --version), $(cc --version | head -1)"
	echo "build: $BUILD ($BTYPE: $BFLAGS); model controller: MDTS 512 KiB, 512-byte blocks; queue pair of 512 entries; bounce buffer unused (page-aligned buffers)"
	echo
	printf '%-5s %9s %10s %9s %11s | %9s %8s %6s %6s %6s\n' "" "total/IO" "worker/IO" \
		"model/IO" "harness/IO" "be_nvme.c" "qpair.c" "prp.c" "mem.c" "other"
} >"$WORK/table"
for qd in 1 32; do
	cmd=(valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.qd$qd" --toggle-collect='run_loop*'
		"$BIN" --qd "$qd" --ios "$IOS")
	"${cmd[@]}" >"$WORK/out.qd$qd" 2>"$WORK/err.qd$qd" || {
		cat "$WORK/out.qd$qd" "$WORK/err.qd$qd" >&2
		exit 1
	}
	read -r total worker model harness be qp prp mem other < <(analyse "$WORK/cg.qd$qd" "$IOS")
	printf '%-5s %9s %10s %9s %11s | %9s %8s %6s %6s %6s\n' "QD$qd" "$total" "$worker" "$model" \
		"$harness" "$be" "$qp" "$prp" "$mem" "$other" >>"$WORK/table"
	echo "QD$qd command: valgrind --tool=callgrind --toggle-collect='run_loop*' $BIN --qd $qd --ios $IOS" \
		>>"$WORK/cmds"
	# Its ns per I/O are valgrind's, not the machine's: keep only the counts.
	sed -e 's/^/  /' -e 's/, [0-9]* ns per I\/O (model included)//' "$WORK/out.qd$qd" >>"$WORK/cmds"
done
{
	echo
	echo "worker = be_nvme.c + qpair.c + prp.c + mem.c + other (hy_now_ns/clock_gettime); model = the controller model's"
	echo "work inside the MMIO hooks (subtracted); harness = the bench loop. Method: bench/nvme-instructions.sh header."
	echo
	cat "$WORK/cmds"
} >>"$WORK/table"
cat "$WORK/table"
cp "$WORK/table" "$RESULT"
echo
echo "saved to $RESULT"
