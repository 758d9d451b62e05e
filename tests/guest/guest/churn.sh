#!/bin/sh
# Guest side of test_crash.sh: for HY_DURATION seconds, round after round, write a new seed over
# HY_REGION ("OFFSET:LENGTH") from both vCPUs (one virtqueue each, O_DIRECT, fsync) and verify it
# crosswise, while the host kills the backend's processes. Then the kernel log must hold no I/O
# error. Prints "HYGUEST CHURN START" when the workload begins and "HYGUEST FINAL SEED S O L" for
# the last complete round, which the host checks in the backing file.
. /hy/lib.sh
disk=$1
cpus=0
[ "$(nproc)" -ge 2 ] && cpus="0 1"
n=$(echo $cpus | wc -w)
IFS=: read -r off len <<-E
$HY_REGION
E

both() {
	local op=$1 seed=$2 i=0 s pids= p
	for c in $cpus; do
		s=$i
		[ "$op" = verify ] && s=$(((i + 1) % n))
		hyguest "$op" "$disk" "$seed" --cpu $c --stripe $s/$n --offset "$off" --length "$len" >/tmp/hy.$c 2>&1 &
		pids="$pids $!"
		i=$((i + 1))
	done
	for p in $pids; do
		wait $p || { cat /tmp/hy.*; hy_fail "hyguest $op seed $seed at $off+$len failed (status $?)"; }
	done
}

now() { cut -d. -f1 /proc/uptime; }
end=$(($(now) + HY_DURATION))
round=0
echo "HYGUEST CHURN START"
while [ "$(now)" -lt "$end" ]; do
	seed=$((HY_SEED + round))
	both write "$seed"
	both verify "$seed"
	echo "HYGUEST FINAL SEED $seed $off $len"
	round=$((round + 1))
done
hy_log "$round rounds of write and verify, $((round * len / 1048576)) MiB each way"
if dmesg | grep -E -i "I/O error|blk_update_request|critical (medium|target)|hung_task|timed out" >/tmp/errs; then
	cat /tmp/errs
	hy_fail "the guest kernel logged I/O errors"
fi
hy_queue_stats "$disk"
