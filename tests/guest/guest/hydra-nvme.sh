#!/bin/sh
# Guest side of test_hydra_nvme.sh: Hydra's nvme backend on QEMU's controller (bound to vfio-pci
# by run-nvme-guest.sh --vfio), served inside this guest to hydra-bench, also inside it.
#
# HY_MODE=io     start-up errors (no such device, controller on the kernel's driver, no such
#                namespace), then 2 workers: a sequential write of the region, a random mix
#                with flushes and discards on both queues, a full read-back, all verified;
#                the status socket's nvme section.
# HY_MODE=crash  the random mix, verified, for HY_SECONDS while a random worker is SIGKILLed
#                every 0.5 s; then a full read-back. Prints "HYNVME kills N" and the recovery
#                times the workers logged.
# Both end by stopping hydra, giving the controller back to the kernel's nvme driver and
# writing hydra-bench's verify state to the namespace's last MiB ("HYSTATE1", 16-digit length,
# the state), so the host can check the image holds exactly what was written.
. /hy/lib.sh
. /hy/nvme-lib.sh
bdf=$HY_NVME_BDF
mode=${HY_MODE:-io}
region=${HY_REGION:-64M}
seconds=${HY_SECONDS:-60}
dir=/run/hy
mkdir -p $dir

topology() { # PCI NAMESPACE
	cat >$dir/t.yaml <<EOT
hydra:
  socket_dir: $dir
  log_level: info
devices:
  - name: vda
    backend: { type: nvme, pci: "$1", namespace: $2 }
    idle_us: 100
    queues:
      - { cpu: 0 }
      - { cpu: 1 }
EOT
}

hydra_pid=
start_hydra() {
	rm -f $dir/vda.sock
	hydra -t $dir/t.yaml >>/tmp/hydra.log 2>&1 &
	hydra_pid=$!
	for _ in $(seq 150); do
		[ -S $dir/vda.sock ] && return 0
		kill -0 $hydra_pid 2>/dev/null || break
		sleep 0.1
	done
	cat /tmp/hydra.log
	hy_fail "hydra did not start"
}

stop_hydra() {
	kill -TERM $hydra_pid
	wait $hydra_pid
	rc=$?
	[ $rc -eq 0 ] || hy_fail "hydra exited with $rc on SIGTERM"
}

bench() { # hydra-bench arguments...
	hy_log "hydra-bench $*"
	hydra-bench -s $dir/vda.sock --size "$region" --seed 7 --verify --verify-state /tmp/vs \
		--progress never "$@" >/tmp/bench.out 2>&1
	rc=$?
	cat /tmp/bench.out
	return $rc
}

# ---- start-up errors: each a clear message and exit 2, never a hang --------------------------
if [ "$mode" = io ]; then
	topology 0000:00:1f.6 1
	hy_expect 2 "device vda: no PCI device 0000:00:1f.6" timeout 30 hydra -t $dir/t.yaml
	topology "$bdf" 9
	hy_expect 2 "namespace 9 does not exist on $bdf \(active namespaces: 1\)" \
		timeout 60 hydra -t $dir/t.yaml
	hy_run hydra-nvme-setup unbind "$bdf"
	topology "$bdf" 1
	hy_expect 2 "bound to .*nvme" timeout 30 hydra -t $dir/t.yaml
	hy_run hydra-nvme-setup bind "$bdf"
fi

topology "$bdf" 1
start_hydra

if [ "$mode" = io ]; then
	bench -w write -q 2 -d 8 --ios 16384 || hy_fail "sequential write failed"
	bench -w randrw -q 2 -d 16 --ios 20000 --flush-interval 32 --discard-interval 50 ||
		hy_fail "random mix with flushes and discards failed"
	grep -qE "discards +[1-9]" /tmp/bench.out || hy_fail "no discard was issued"
	grep -qE "flushes +[1-9]" /tmp/bench.out || hy_fail "no flush was issued"
	bench -w read -q 2 -d 16 --ios 16384 || hy_fail "read-back failed"
	hydractl -s $dir/status.sock status --json >/tmp/status.json 2>&1 ||
		hydractl -s $dir/status.sock status >/tmp/status.json 2>&1
	cat /tmp/status.json
	grep -q '"nvme": {"pci": "'"$bdf"'"' /tmp/status.json || hy_fail "no nvme section in the status"
	grep -q '"healthy": true' /tmp/status.json || hy_fail "controller not healthy in the status"
else
	bench -w write -q 2 -d 8 --ios 16384 || hy_fail "sequential write failed"
	bench -w randrw -q 2 -d 16 --duration "${seconds}s" --flush-interval 32 \
		--io-timeout 30000 >/dev/null 2>&1 &
	bench_pid=$!
	kills=0
	t_end=$(($(hy_ms) + seconds * 1000))
	while kill -0 $bench_pid 2>/dev/null && [ "$(hy_ms)" -lt $t_end ]; do
		sleep 0.5
		q=$(($(hy_ms) % 2))
		p=$(pidof "hy-vda.$q")
		[ -n "$p" ] && kill -KILL $p && kills=$((kills + 1))
	done
	wait $bench_pid
	rc=$?
	cat /tmp/bench.out
	echo "HYNVME kills $kills"
	[ $rc -eq 0 ] || hy_fail "hydra-bench --verify failed under worker kills (exit $rc)"
	sleep 1
	bench -w read -q 2 -d 16 --ios 16384 || hy_fail "read-back after the kills failed"
	grep -a "recovered: first completion" /tmp/hydra.log | grep -o '[0-9.]* ms after' |
		awk '{print "HYNVME recovery", $1}'
fi
stop_hydra
cat /tmp/hydra.log
if grep -qE "core dumped|signal (6|7|11)|exited with code|stopped answering|resetting|did not" /tmp/hydra.log; then
	hy_fail "hydra logged a failure"
fi

# ---- hand the verify state to the host through the namespace's last MiB ----------------------
hy_run hydra-nvme-setup unbind "$bdf"
for _ in $(seq 100); do
	disk=$(ls /sys/class/nvme/*/ 2>/dev/null | grep -E '^nvme[0-9]+n1$' | head -n 1)
	[ -n "$disk" ] && [ -b /dev/$disk ] && break
	sleep 0.1
done
[ -b "/dev/$disk" ] || hy_fail "the kernel's nvme driver did not take the controller back"
bytes=$(blockdev --getsize64 /dev/$disk)
len=$(wc -c </tmp/vs)
{
	printf 'HYSTATE1%016d' "$len"
	cat /tmp/vs
} >/tmp/state.blob
dd if=/tmp/state.blob of=/dev/$disk bs=4096 seek=$(((bytes - 1048576) / 4096)) conv=notrunc 2>/dev/null ||
	hy_fail "cannot write the verify state to /dev/$disk"
sync
echo "HYNVME state $len bytes at $((bytes - 1048576))"
