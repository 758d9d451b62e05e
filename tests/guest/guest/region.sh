#!/bin/sh
# Guest side of test_reconnect.sh. Env (each "SEED:OFFSET:LENGTH"):
#   HY_CHECK   regions written by earlier guests: verified first, and again at the end
#   HY_WRITE   this guest's region: written from both vCPUs (one virtqueue each), verified
#              crosswise
#   HY_SCRATCH "OFFSET:LENGTH": at the end, keep writing there from both vCPUs and print
#              "HYGUEST KILL ME" so that the host SIGKILLs QEMU with requests in flight
. /hy/lib.sh
disk=$1
cpus=0
[ "$(nproc)" -ge 2 ] && cpus="0 1"
n=$(echo $cpus | wc -w)

# both OP SEED OFFSET LENGTH: OP on the range from every cpu at once, cpu i taking stripe i
# (write) or stripe i+1 (verify: read back through the other queue).
both() {
	local op=$1 seed=$2 off=$3 len=$4 i=0 s pids= p
	for c in $cpus; do
		s=$i
		[ "$op" = verify ] && s=$(((i + 1) % n))
		hyguest "$op" "$disk" "$seed" --cpu $c --stripe $s/$n --offset "$off" --length "$len" &
		pids="$pids $!"
		i=$((i + 1))
	done
	for p in $pids; do
		wait $p || hy_fail "hyguest $op seed $seed at $off+$len failed (status $?)"
	done
}

check_earlier() {
	for r in $HY_CHECK; do
		IFS=: read -r seed off len <<-E
		$r
		E
		hy_log "verify earlier seed $seed at $off+$len ($1)"
		both verify "$seed" "$off" "$len"
	done
}

check_earlier "before writing"
if [ -n "${HY_WRITE:-}" ]; then
	IFS=: read -r seed off len <<-E
	$HY_WRITE
	E
	hy_log "write seed $seed at $off+$len"
	both write "$seed" "$off" "$len"
	both verify "$seed" "$off" "$len"
fi
check_earlier "after writing"
hy_queue_stats "$disk"

if [ -n "${HY_SCRATCH:-}" ]; then
	off=${HY_SCRATCH%:*}
	len=${HY_SCRATCH#*:}
	for c in $cpus; do
		(while :; do
			hyguest write "$disk" 0x5c5c --cpu $c --offset "$off" --length "$len" >/dev/null
		done) &
	done
	sleep 1
	hy_queue_stats "$disk"
	echo "HYGUEST KILL ME"
	sleep 600
	hy_fail "still alive 600 s after asking to be killed"
fi
