#!/bin/sh
# Guest side of test_patterns.sh: both vCPUs write deterministic patterns concurrently, each
# pinned to its CPU so that each uses its own virtqueue; both read back (crosswise: what one
# queue wrote the other reads) and check every block; both virtqueues must have carried I/O.
# Env: HY_SEED (required), HY_PATTERN_BYTES (bytes to cover, default 1G: the whole disk when
# it is no larger, else four regions spread over it, first and last blocks included).
# Prints "HYGUEST RANGE OFFSET LENGTH" for each range so that the host checks the same ones.
. /hy/lib.sh
disk=$1
seed=${HY_SEED:?HY_SEED is required}
max=${HY_PATTERN_BYTES:-1073741824}
mib=1048576

hy_log "queues: $(hy_queues "$disk" | tr '\n' ' ')"
nq=$(hy_queues "$disk" | wc -l)
[ "$nq" -eq "${HY_NUM_QUEUES:-1}" ] ||
	hy_fail "$disk has $nq blk-mq queues, the device was given ${HY_NUM_QUEUES:-?}"
ncpu=$(nproc)
cpus=0
[ "$ncpu" -ge 2 ] && cpus="0 1"
for c in $cpus; do
	q=$(hy_queue_of_cpu "$disk" $c) || hy_fail "no blk-mq queue serves cpu $c"
	eval "q$c=$q"
done
if [ "$nq" -ge 2 ] && [ "$ncpu" -ge 2 ] && [ "$q0" = "$q1" ]; then
	hy_fail "cpus 0 and 1 share queue $q0: cannot exercise two virtqueues"
fi

size=$(blockdev --getsize64 "$disk")
[ "$size" -ge $((8 * mib)) ] || hy_fail "$disk is only $size bytes"
if [ "$size" -le "$max" ]; then
	ranges="0:$((size / 4096 * 4096))"
else
	part=$((max / 4 / mib * mib))
	last=$((size / 4096 * 4096 - part))
	ranges="0:$part $((size / 3 / mib * mib)):$part $((size / 3 * 2 / mib * mib)):$part $last:$part"
fi
for r in $ranges; do
	echo "HYGUEST RANGE ${r%:*} ${r#*:}"
done

before=$(hy_queue_stats "$disk")
echo "$before"
n=$(echo $cpus | wc -w)
for r in $ranges; do
	off=${r%:*}
	len=${r#*:}
	hy_log "write seed $seed at $off+$len on cpus $cpus"
	pids=
	i=0
	for c in $cpus; do
		hyguest write "$disk" "$seed" --cpu $c --stripe $i/$n --offset "$off" --length "$len" &
		pids="$pids $!"
		i=$((i + 1))
	done
	for p in $pids; do
		wait $p || hy_fail "hyguest write failed (status $?)"
	done
done
after=$(hy_queue_stats "$disk")
echo "$after"

# Each CPU's queue must have been run and must have interrupted.
for c in $cpus; do
	eval "q=\$q$c"
	b=$(echo "$before" | grep "^queue $q ")
	a=$(echo "$after" | grep "^queue $q ")
	br=$(echo "$b" | awk '{print $6}')
	ar=$(echo "$a" | awk '{print $6}')
	bi=$(echo "$b" | awk '{print $8}')
	ai=$(echo "$a" | awk '{print $8}')
	if [ -n "$ar" ] && [ "$ar" -le "$br" ]; then
		hy_fail "queue $q (cpu $c) was never run by blk-mq during the writes"
	fi
	if [ -n "$ai" ] && [ "$ai" -le "$bi" ]; then
		hy_fail "virtqueue $q (cpu $c) raised no interrupt during the writes"
	fi
	hy_log "cpu $c -> queue $q: runs $br -> $ar, irqs $bi -> $ai"
done

# Read back crosswise: stripe i written from cpu i is read from the other cpu.
for r in $ranges; do
	off=${r%:*}
	len=${r#*:}
	hy_log "verify seed $seed at $off+$len"
	pids=
	i=0
	for c in $cpus; do
		s=$(((i + 1) % n))
		hyguest verify "$disk" "$seed" --cpu $c --stripe $s/$n --offset "$off" --length "$len" &
		pids="$pids $!"
		i=$((i + 1))
	done
	for p in $pids; do
		wait $p || hy_fail "hyguest verify found bad blocks or failed (status $?)"
	done
done
hy_queue_stats "$disk"
hy_log "patterns ok"
