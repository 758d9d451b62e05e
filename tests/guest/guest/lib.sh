# Helpers for the guest-side test scripts (busybox sh). Source with: . /hy/lib.sh
# run-guest.sh puts this file at /hy/lib.sh; the scripts get the disk as $1.

hy_log() {
	echo "hyguest[$(cut -d' ' -f1 /proc/uptime)]: $*"
}

# hy_fail REASON: the reason becomes the "HYGUEST RESULT: FAIL REASON" line.
hy_fail() {
	echo "$*" >>/tmp/hyfail
	echo "hyguest: FAIL: $*"
	exit 1
}

# hy_queues DISK: the blk-mq hardware queues of DISK (/sys/block/DISK/mq/N), one a line.
hy_queues() {
	ls /sys/block/"${1#/dev/}"/mq 2>/dev/null | grep -E '^[0-9]+$' | sort -n
}

# hy_queue_of_cpu DISK CPU: the hardware queue blk-mq submits on for CPU.
hy_queue_of_cpu() {
	local q
	for q in $(hy_queues "$1"); do
		if tr ',' '\n' <"/sys/block/${1#/dev/}/mq/$q/cpu_list" | tr -d ' ' | grep -qx "$2"; then
			echo "$q"
			return 0
		fi
	done
	return 1
}

# hy_queue_irqs DISK Q: interrupts taken so far for virtqueue Q (its MSI-X vector "virtioN-req.Q",
# summed over CPUs), empty when the device has no per-queue vector.
hy_queue_irqs() {
	local vdev
	vdev=$(basename "$(readlink -f "/sys/block/${1#/dev/}/device")")
	grep -E " $vdev-req\.$2\$" /proc/interrupts |
		awk '{ s = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; else break; print s }'
}

# hy_queue_runs DISK Q: how often blk-mq ran hardware queue Q (debugfs), empty if unavailable.
hy_queue_runs() {
	cat "/sys/kernel/debug/block/${1#/dev/}/hctx$2/run" 2>/dev/null || true
}

# hy_queue_stats DISK: one line per queue, for the log and for comparisons.
hy_queue_stats() {
	local q
	for q in $(hy_queues "$1"); do
		echo "queue $q cpus $(tr -d ' ' <"/sys/block/${1#/dev/}/mq/$q/cpu_list") runs $(hy_queue_runs "$1" "$q") irqs $(hy_queue_irqs "$1" "$q")"
	done
}

# hy_run CMD...: run CMD, fail the test with its command line if it fails.
hy_run() {
	"$@" || hy_fail "'$*' exited with status $?"
}
