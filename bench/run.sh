#!/bin/bash
# SPDX-License-Identifier: MIT
#
# usage: bench/run.sh [--duration S] [--ramp S] [--idle S] [--repeat K] [--out DIR]
#                     [--no-deps] [--wait-quiet S]
#   --repeat K: run every point K times (default 5), each round Hydra then qsd; the report
#   shows each daemon's median round and the Hydra/qsd ratio of every round
#
# Hydra against qemu-storage-daemon, side by side, in one run, with hydra-bench driving both:
#
#   backends   Hydra null, read_zeroes: false  vs  qsd null-co, read-zeroes=off
#              Hydra null (zeroing reads)      vs  qsd null-co, read-zeroes=on (one point)
#              Hydra uring on tmpfs            vs  qsd file, aio=io_uring, cache.direct=off
#   matrix     4k randread QD1, QD32, QD128 on 1 and 2 queues; 4k randwrite QD32;
#              128k sequential read QD8; plus 4k randread QD1 busy-polling (null only) and
#              4k randread QD128 on 1 queue with zeroing reads (nullz)
#   rounds     every point --repeat times, each round Hydra then qsd, so the two alternate
#   idle       each daemon with a connected, idle frontend (2 queues) for --idle seconds (once)
#   floor      bench/pingpong: a cache line bounced between cpu 0 and cpu 1 (once)
#
# Writes bench/results/<date>.md (the table), <date>.json (every raw hydra-bench result, the
# floor, the machine) and <date>.png (gnuplot: IOPS per backend core and p99 latency).
# Needs a Debian 12 machine with 2 or more cpus; installs what it needs (tools/deps.sh --test).
# Takes about 9 minutes with the defaults (18 points x 5 rounds x 2 daemons, each run: 0.5 s
# ramp + 2 s measured; --repeat 1 takes about 2). Short runs and more rounds: on a shared virtual
# machine the host's load comes in bursts of seconds, and a median of five short samples holds up
# better than one of three long ones.
#
# Placement (2 cores): Hydra's workers run queue 0 on cpu 0 and queue 1 on cpu 1 (topology);
# qemu-storage-daemon (one event-loop thread, no iothread) is pinned to cpu 0, where Hydra's
# queue 0 is. hydra-bench's queue threads go on the other core: queue 0 on cpu 1, queue 1 on
# cpu 0. With 1 queue the backend and the frontend have a core each; with 2 queues each core
# carries one frontend thread and backend work, for both daemons alike.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
duration=2 ramp=0.5 idle=10 repeat=5 out=$root/bench/results deps=1 wait_quiet=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--duration) duration=$2; shift 2 ;;
	--ramp) ramp=$2; shift 2 ;;
	--idle) idle=$2; shift 2 ;;
	--repeat) repeat=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--no-deps) deps=0; shift ;;
	--wait-quiet) wait_quiet=$2; shift 2 ;;
	*) sed -n '4,7p' "$0" | sed 's/^# //' >&2; exit 2 ;;
	esac
done
if ! [[ $repeat =~ ^[1-9][0-9]*$ ]]; then
	echo "bench: --repeat needs a positive integer, not '$repeat'" >&2
	exit 2
fi

[[ $deps -eq 1 ]] && "$root/tools/deps.sh" --test
if [[ $(nproc) -lt 2 ]]; then
	echo "bench: needs at least 2 cpus (this machine has $(nproc))" >&2
	exit 2
fi

build=$root/build-release
echo "bench: building (Release) in $build" >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHY_TESTS=OFF >/dev/null
make -C "$build" -j"$(nproc)" hydra hydractl hydra-bench pingpong >/dev/null

QSD=${QSD:-qemu-storage-daemon}
work=$(mktemp -d /tmp/hydra-bench.XXXXXX)
himg=/dev/shm/hydra-bench.$$.hydra.img
qimg=/dev/shm/hydra-bench.$$.qsd.img
hydra_pid= qsd_pid=
cleanup() {
	[[ -n $hydra_pid ]] && kill -TERM "$hydra_pid" 2>/dev/null && wait "$hydra_pid" 2>/dev/null
	[[ -n $qsd_pid ]] && kill -TERM "$qsd_pid" 2>/dev/null && wait "$qsd_pid" 2>/dev/null
	rm -f "$himg" "$qimg"
	rm -rf "$work"
}
trap cleanup EXIT

wait_sock() { # socket pid what
	for _ in $(seq 100); do
		[[ -S $1 ]] && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench: $3 did not come up; its log:" >&2
	cat "$work/$3.log" >&2
	exit 1
}

# The same 256 MiB on tmpfs for both, allocated up front so neither pays for page allocation.
fallocate -l 256M "$himg"
fallocate -l 256M "$qimg"

cat >"$work/topology.yaml" <<EOT
hydra:
  socket_dir: $work
  log_level: warn
devices:
  - name: null
    backend: { type: null, size: 1GiB, read_zeroes: false }
    queues:
      - { cpu: 0 }
      - { cpu: 1 }
  - name: nullz
    backend: { type: null, size: 1GiB }
    queues:
      - { cpu: 0 }
      - { cpu: 1 }
  - name: file
    backend: { type: uring, path: $himg, size: 256MiB }
    queues:
      - { cpu: 0 }
      - { cpu: 1 }
EOT
"$build/hydra" --topology "$work/topology.yaml" >"$work/hydra.log" 2>&1 &
hydra_pid=$!
wait_sock "$work/status.sock" $hydra_pid hydra
wait_sock "$work/nullz.sock" $hydra_pid hydra
wait_sock "$work/file.sock" $hydra_pid hydra

# One daemon serving all three exports, as Hydra does; its single event loop pinned to cpu 0.
# null: read-zeroes=off (QEMU 7.2's null-co default, as SPDK's null bdev; Hydra read_zeroes:
# false); nullz: read-zeroes=on (Hydra's default).
taskset -c 0 "$QSD" \
	--blockdev driver=null-co,node-name=qnull,size=1073741824,read-zeroes=off \
	--blockdev driver=null-co,node-name=qnullz,size=1073741824,read-zeroes=on \
	--blockdev "driver=file,filename=$qimg,node-name=qfile,aio=io_uring,cache.direct=off" \
	--export "type=vhost-user-blk,id=enull,node-name=qnull,addr.type=unix,addr.path=$work/qsd-null.sock,writable=on,num-queues=2" \
	--export "type=vhost-user-blk,id=enullz,node-name=qnullz,addr.type=unix,addr.path=$work/qsd-nullz.sock,writable=on,num-queues=2" \
	--export "type=vhost-user-blk,id=efile,node-name=qfile,addr.type=unix,addr.path=$work/qsd-file.sock,writable=on,num-queues=2" \
	>"$work/qsd.log" 2>&1 &
qsd_pid=$!
wait_sock "$work/qsd-null.sock" $qsd_pid qsd
wait_sock "$work/qsd-nullz.sock" $qsd_pid qsd
wait_sock "$work/qsd-file.sock" $qsd_pid qsd

raw=$work/runs.jsonl
: >"$raw"
bench=$build/hydra-bench

# Other work on the machine skews every figure: measure how much CPU others take, before the run
# (2 s sample) and during it (all cpu time minus hydra's, qsd's and hydra-bench's).
# busy, total, steal and irq+softirq ticks of all cpus (steal: the host ran something else;
# interrupt time is charged to no process, and much of it is the run's own wake-ups)
stat_busy() {
	awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9, $9, $7+$8}' /proc/stat
}
# OWN = ticks of hydra (master, workers), qsd and this shell's finished children (hydra-bench,
# pingpong). Not in a subshell: bash's `times` reports the calling shell's children.
own_ticks() {
	local t=0 p
	for p in $("$build/hydractl" -s "$work/status.sock" status --json |
		grep -o '"pid": [0-9]*' | grep -o '[0-9]*$') $qsd_pid; do
		[[ -r /proc/$p/stat ]] && t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
	done
	# A builtin with a redirection runs in this shell; in a pipeline or $(...) it would run in a
	# forked subshell, whose children are none (that is how hydra-bench's own time once went
	# uncounted and showed up as "other work").
	times >"$work/times"
	OWN=$(tail -1 "$work/times" | awk -v t=$t -v hz="$(getconf CLK_TCK)" '{
		s = 0
		for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); s += a[1] * 60 + a[2] }
		printf "%d", t + s * hz }')
}
busy_now() { # cores busy over 2 s (only others: nothing of ours runs yet)
	local b0 t0 b1 t1
	read -r b0 t0 _ _ < <(stat_busy)
	sleep 2
	read -r b1 t1 _ _ < <(stat_busy)
	awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) -v n="$(nproc)" 'BEGIN{printf "%.2f", t ? b / t * n : 0}'
}
others_before=$(busy_now)
waited=0
while awk -v x="$others_before" 'BEGIN{exit !(x > 0.15)}' && [[ $waited -lt $wait_quiet ]]; do
	echo "bench: $others_before cores busy with other work; waiting for a quiet machine" >&2
	sleep 8
	waited=$((waited + 10))
	others_before=$(busy_now)
done
echo "bench: other work before the run: $others_before cores busy" >&2
read -r rb0 rt0 rs0 ri0 < <(stat_busy)
own_ticks
own0=$OWN
python3 "$root/bench/report.py" --snapshot "$work/snap0.json"
run_start=$(date +%s)

# point NAME BACKEND(null|nullz|file) ARGS...: $repeat rounds, each the same run against Hydra,
# then qsd, so that the two alternate in time. Labels: DAEMON|BACKEND|NAME|ROUND.
point() {
	local name=$1 be=$2
	shift 2
	local cpus=1
	[[ " $* " == *" -q 2 "* ]] && cpus=1,0
	echo "bench: $name ($be), $repeat round(s)" >&2
	local round daemon
	for round in $(seq "$repeat"); do
		for daemon in hydra qsd; do
			local sock pidarg
			if [[ $daemon == hydra ]]; then
				sock=$work/$be.sock pidarg=(--hydra-status "$work/status.sock")
			else
				sock=$work/qsd-$be.sock pidarg=(--backend-pid "$qsd_pid")
			fi
			if ! "$bench" -s "$sock" "${pidarg[@]}" --cpus $cpus --ramp "$ramp" \
				-t "$duration" --json --progress never --io-timeout 10000 \
				--label "$daemon|$be|$name|$round" "$@" >>"$raw" 2>"$work/err"; then
				echo "bench: $name on $daemon (round $round) failed:" >&2
				cat "$work/err" >&2
				exit 1
			fi
		done
	done
}

# The floor first, while nothing else runs.
echo "bench: cache-line ping-pong between cpu 0 and cpu 1" >&2
"$build/pingpong" --cpus 0,1 --duration 0.3 --trials 10 --json >"$work/pingpong.json"

for be in null file; do
	point "4k randread QD1, 1 queue" $be -w randread -b 4k -d 1 -q 1
	point "4k randread QD32, 1 queue" $be -w randread -b 4k -d 32 -q 1
	point "4k randread QD128, 1 queue" $be -w randread -b 4k -d 128 -q 1
	point "4k randread QD1, 2 queues" $be -w randread -b 4k -d 1 -q 2
	point "4k randread QD32, 2 queues" $be -w randread -b 4k -d 32 -q 2
	point "4k randread QD128, 2 queues" $be -w randread -b 4k -d 128 -q 2
	point "4k randwrite QD32, 1 queue" $be -w randwrite -b 4k -d 32 -q 1
	point "128k read QD8, 1 queue" $be -w read -b 128k -d 8 -q 1
done
point "4k randread QD1, 1 queue, busy-poll" null -w randread -b 4k -d 1 -q 1 --poll
point "4k randread QD128, 1 queue" nullz -w randread -b 4k -d 128 -q 1

# Idle cost: connected, both queues up, one read each, then nothing for $idle seconds. Once
# (round 1 only): an idle daemon does not vary the way a loaded one does.
for daemon in hydra qsd; do
	echo "bench: idle $daemon for ${idle}s" >&2
	if [[ $daemon == hydra ]]; then
		args=(-s "$work/null.sock" --hydra-status "$work/status.sock")
	else
		args=(-s "$work/qsd-null.sock" --backend-pid "$qsd_pid")
	fi
	"$bench" "${args[@]}" -w idle -q 2 --ramp 2 -t "$idle" --json --progress never \
		--label "$daemon|null|idle|1" >>"$raw"
done

read -r rb1 rt1 rs1 ri1 < <(stat_busy)
own_ticks
own1=$OWN
python3 "$root/bench/report.py" --snapshot "$work/snap1.json"
run_seconds=$(($(date +%s) - run_start))
others_during=$(awk -v b=$((rb1 - rb0)) -v o=$((own1 - own0)) -v t=$((rt1 - rt0)) -v n="$(nproc)" \
	'BEGIN{x = t ? (b - o) / t * n : 0; printf "%.2f", x < 0 ? 0 : x}')
steal_during=$(awk -v s=$((rs1 - rs0)) -v t=$((rt1 - rt0)) -v n="$(nproc)" \
	'BEGIN{printf "%.2f", t ? s / t * n : 0}')
irq_during=$(awk -v s=$((ri1 - ri0)) -v t=$((rt1 - rt0)) -v n="$(nproc)" \
	'BEGIN{printf "%.2f", t ? s / t * n : 0}')
echo "bench: other work during the run: $others_during cores busy on average ($steal_during of it steal, $irq_during interrupts)" >&2

if grep -qE 'killed by signal|exited with code|core dumped' "$work/hydra.log"; then
	echo "bench: a hydra worker died during the run:" >&2
	cat "$work/hydra.log" >&2
	exit 1
fi

date=$(date +%F)
mkdir -p "$out"
machine=$(python3 - "$build" "$QSD" "$others_before" "$others_during" "$steal_during" "$irq_during" <<'PY'
import json, os, platform, subprocess, sys
def sh(*a):
    try:
        return subprocess.run(a, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""
model = ""
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        model = line.split(":", 1)[1].strip(); break
print(json.dumps({
    "nproc": os.cpu_count(), "kernel": platform.release(), "cpu_model": model,
    "loadavg_at_end": open("/proc/loadavg").read().split()[:3],
    "qsd_version": sh(sys.argv[2], "--version").splitlines()[0] if sh(sys.argv[2], "--version") else "",
    "hydra_commit": sh("git", "-C", os.path.dirname(sys.argv[1]), "rev-parse", "--short", "HEAD"),
    "date": sh("date", "-Is"),
    "others_busy_cores_before": float(sys.argv[3]), "others_busy_cores_during": float(sys.argv[4]),
    "steal_cores_during": float(sys.argv[5]), "irq_cores_during": float(sys.argv[6]),
}))
PY
)
python3 "$root/bench/report.py" --runs "$raw" --pingpong "$work/pingpong.json" \
	--machine "$machine" --duration "$duration" --ramp "$ramp" --idle "$idle" --repeat "$repeat" \
	--snap0 "$work/snap0.json" --snap1 "$work/snap1.json" --run-seconds "$run_seconds" \
	--out "$out/$date"
echo "bench: wrote $out/$date.md, $out/$date.json, $out/$date.png" >&2
