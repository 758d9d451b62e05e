#!/bin/sh
# Guest side of test_null.sh: on a null-backend disk, writes (from both vCPUs, one queue each)
# must succeed, every read must return zeroes even where data was just written, flush (fsync),
# discard (blkdiscard) and GET_ID (the serial in sysfs) must work, and both queues must run.
. /hy/lib.sh
disk=$1
dev=${disk#/dev/}
bytes=$(( $(cat /sys/block/$dev/size) * 512 ))
[ "$bytes" -ge 67108864 ] || hy_fail "disk is $bytes bytes; the test needs 64 MiB"
serial=$(cat /sys/block/$dev/serial 2>/dev/null || true)
[ "$serial" = "${HY_SERIAL:-hydra-vda}" ] || hy_fail "serial is '$serial', expected '${HY_SERIAL:-hydra-vda}'"
for cpu in 0 1; do
	taskset -c $cpu dd if=/dev/urandom of="$disk" bs=64k count=256 seek=$((cpu * 256)) oflag=direct conv=fsync 2>/tmp/dd$cpu &
done
wait
grep -q "256+0 records out" /tmp/dd0 || hy_fail "write on cpu 0 failed: $(cat /tmp/dd0)"
grep -q "256+0 records out" /tmp/dd1 || hy_fail "write on cpu 1 failed: $(cat /tmp/dd1)"
# 32 MiB read back with O_DIRECT must be all zeroes.
dd if="$disk" bs=64k count=512 iflag=direct 2>/dev/null | cmp -n 33554432 - /dev/zero ||
	hy_fail "a read from the null backend returned something other than zeroes"
if [ "$(cat /sys/block/$dev/queue/discard_max_bytes)" != 0 ]; then
	hy_run blkdiscard -o 0 -l 1048576 "$disk"
fi
hy_queue_stats "$disk"
for q in $(hy_queues "$disk"); do
	irqs=$(hy_queue_irqs "$disk" "$q")
	[ -z "$irqs" ] || [ "$irqs" -gt 0 ] || hy_fail "queue $q took no interrupts"
done
hy_log "null backend: writes accepted, reads zero, discard ok"
