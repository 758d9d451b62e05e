#!/bin/bash
# SPDX-License-Identifier: MIT
# Kept as the record of how bench/results/2026-11-24-uring-yield-before-after.txt was measured:
# Hydra on uring (tmpfs), a tree without the worker's sched_yield (built in /tmp/build-before,
# Release) against one with it (build-release/), one hydra at a time, alternating, ROUNDS rounds.
# usage: bench/ab-uring.sh ROUNDS
rounds=$1
w=/tmp/abf; rm -rf $w; mkdir -p $w; fallocate -l 256M /dev/shm/abf.img
cat > $w/t.yaml <<EOT
hydra:
  socket_dir: $w
  log_level: warn
devices:
  - name: file
    backend: { type: uring, path: /dev/shm/abf.img, size: 256MiB }
    queues:
      - { cpu: 0 }
      - { cpu: 1 }
EOT
BB=$(cd "$(dirname "$0")/.." && pwd)/build-release
while read -r name args; do
for r in $(seq $rounds); do for v in before after; do
  H=/tmp/build-before/hydra; [ $v = after ] && H=$BB/hydra
  $H -t $w/t.yaml > $w/log 2>&1 & hp=$!; sleep 0.7
  cpus=1; [[ " $args " == *" -q 2 "* ]] && cpus=1,0
  $BB/hydra-bench -s $w/file.sock --hydra-status $w/status.sock --cpus $cpus --ramp 0.5 -t 2 --json --progress never $args 2>/dev/null | python3 -c "import json,sys; d=json.load(sys.stdin); print('$name|$v', d['iops_per_backend_core'], d['iops'], d['latency']['p50_us'], d['latency']['p99_us'])" >> $w/res
  kill $hp; wait $hp
done; done
done <<W
rr-qd1-1q -w randread -b 4k -d 1 -q 1
rr-qd32-1q -w randread -b 4k -d 32 -q 1
rr-qd128-1q -w randread -b 4k -d 128 -q 1
rr-qd1-2q -w randread -b 4k -d 1 -q 2
rr-qd128-2q -w randread -b 4k -d 128 -q 2
rw-qd32-1q -w randwrite -b 4k -d 32 -q 1
seq128k-qd8 -w read -b 128k -d 8 -q 1
W
rm -f /dev/shm/abf.img
python3 - $w/res <<'P'
import sys,statistics
r={}
for l in open(sys.argv[1]):
    k,*x=l.split(); r.setdefault(k,[]).append([float(y) for y in x])
for k in r:
    m=lambda i: statistics.median(x[i] for x in r[k])
    print('%-22s iops/core %8.0f iops %8.0f p50 %7.1f p99 %7.1f'%(k,m(0),m(1),m(2),m(3)))
P
