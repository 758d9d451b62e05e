#!/bin/bash
# Kept as the record of how bench/results/2026-11-23-pop-batch-before-after.txt was measured:
# build the old tree in /tmp/build-before and the new in /tmp/build-after (Release), then run.
# Before/after of the worker change, and qsd, in one run: null backend, hydra-bench as in bench/run.sh.
set -u
w=$(mktemp -d /tmp/ab.XXXX)
cat > $w/t.yaml <<EOT
hydra:
  socket_dir: $w
devices:
  - name: null
    backend: { type: null, size: 1GiB }
    queues:
      - { cpu: 0 }
      - { cpu: 1 }
EOT
taskset -c 0 qemu-storage-daemon --blockdev driver=null-co,node-name=n,size=1073741824,read-zeroes=on --export type=vhost-user-blk,id=e,node-name=n,addr.type=unix,addr.path=$w/qsd.sock,writable=on,num-queues=2 &
QP=$!
sleep 1
run() { # label sock pidarg... -- args
	local label=$1 sock=$2; shift 2
	local cpus=1; [[ " $* " == *" -q 2 "* ]] && cpus=1,0
	/tmp/build-after/hydra-bench -s $sock --cpus $cpus --ramp 1 -t 4 --json --progress never "$@" 2>/dev/null |
	python3 -c "
import json,sys
d=json.load(sys.stdin)
def g(*k):
    for x in k:
        if x in d: return d[x]
print('$label', ' '.join('%s=%s'%(k,d[k]) for k in ['iops','backend_cores','iops_per_backend_core'] if k in d), 'p50=%.1fus p99=%.1fus'%(d['latency']['p50_us'],d['latency']['p99_us']))
"
}
for round in 1 2 3; do
for v in before after; do
	/tmp/build-$v/hydra -t $w/t.yaml > $w/h-$v.log 2>&1 &
	HP=$!; sleep 0.7
	for wl in "-d 128 -q 1" "-d 1 -q 1" "-d 32 -q 2"; do
		run "$v $wl" $w/null.sock --hydra-status $w/status.sock -w randread -b 4k $wl
	done
	kill $HP; wait $HP
done
for wl in "-d 128 -q 1" "-d 1 -q 1" "-d 32 -q 2"; do
	run "qsd $wl" $w/qsd.sock --backend-pid $QP -w randread -b 4k $wl
done
done
kill $QP; rm -rf $w
