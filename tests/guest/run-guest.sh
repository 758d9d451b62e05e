#!/bin/bash
# usage: tests/guest/run-guest.sh --socket SOCK (--test NAME | --script FILE) [options]
#
# Boots one QEMU guest (Debian's 6.1 kernel, busybox initramfs from build-guest.sh) whose only
# disk is a vhost-user-blk device on the backend listening at SOCK, runs one guest-side test
# script in it, and exits 0 only if the guest printed "HYGUEST RESULT: PASS" and QEMU exited.
#
#   --socket PATH       vhost-user socket of the backend (required; the backend must listen)
#   --test NAME         run tests/guest/guest/NAME.sh in the guest
#   --script FILE       run FILE in the guest instead
#   --env K=V           export K=V to the guest script (repeatable)
#   --file FILE         copy FILE into the guest as /hy/data/$(basename FILE) (repeatable)
#   --num-queues N      virtqueues of the vhost-user-blk device (default 2)
#   --smp N             vCPUs (default 2)
#   --memory SIZE       guest RAM, a shared memfd as vhost-user requires (default 512M)
#   --accel tcg|kvm     default $HY_GUEST_ACCEL or tcg (multi-threaded); kvm where KVM works
#   --timeout SEC       kill QEMU and fail after SEC seconds (default $HY_GUEST_TIMEOUT or 180)
#   --reconnect SEC     let QEMU reconnect to a restarted backend (chardev reconnect=SEC)
#   --log FILE          serial console log (default $HY_GUEST_LOGDIR or CACHE/logs, a new file);
#                       QEMU's own output goes to FILE with .log replaced by .qemu.log
#   --cache DIR         build-guest.sh output (default $HY_GUEST_CACHE or build/guest-cache)
#   --append ARGS       more kernel command line
#   --qemu-arg ARG      one more QEMU argument (repeatable)
#   --kill-on TEXT      SIGKILL QEMU as soon as TEXT appears on the console (a frontend crash
#                       with requests in flight); then "PASS" means TEXT appeared and no FAIL
#   --verbose           stream the console while the guest runs (default: only on failure)
#
# The guest script gets the disk (/dev/vda) as $1 and HY_TEST, HY_NUM_QUEUES, HY_SMP and the
# --env variables in its environment; it can source /hy/lib.sh. It fails by exiting non-zero
# or calling hy_fail "reason"; the reason lands on the result line.
# Exit status: 0 PASS, 1 FAIL (reason on stderr), 2 usage or setup error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${HY_GUEST_CACHE:-$here/../../build/guest-cache}
sock= test= script= nq=2 smp=2 mem=512M reconnect= log= append=
accel=${HY_GUEST_ACCEL:-tcg} timeout=${HY_GUEST_TIMEOUT:-180}
verbose= kill_on=
envs=() files=() qemu_extra=()

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
}
die() {
	echo "run-guest: error: $*" >&2
	exit 2
}

while [[ $# -gt 0 ]]; do
	opt=$1
	case $opt in
	--verbose)
		verbose=1
		shift
		continue
		;;
	-h | --help) usage ;;
	esac
	[[ $# -ge 2 ]] || die "$opt needs a value"
	val=$2
	shift 2
	case $opt in
	--socket) sock=$val ;;
	--test) test=$val ;;
	--script) script=$val ;;
	--env) envs+=("$val") ;;
	--file) files+=("$val") ;;
	--num-queues) nq=$val ;;
	--smp) smp=$val ;;
	--memory) mem=$val ;;
	--accel) accel=$val ;;
	--timeout) timeout=$val ;;
	--reconnect) reconnect=$val ;;
	--log) log=$val ;;
	--cache) cache=$val ;;
	--append) append=$val ;;
	--qemu-arg) qemu_extra+=("$val") ;;
	--kill-on) kill_on=$val ;;
	*) die "unknown option $opt (see --help)" ;;
	esac
done

cache=$(realpath -m "$cache")
[[ -n $sock ]] || die "--socket is required"
[[ -S $sock ]] || die "$sock is not a listening socket (is the backend running?)"
if [[ -n $test ]]; then
	script=$here/guest/$test.sh
	[[ -f $script ]] || die "no guest test $test ($script)"
fi
[[ -n $script && -f $script ]] || die "--test NAME or --script FILE is required"
name=${test:-$(basename "$script" .sh)}
[[ $accel == tcg || $accel == kvm ]] || die "--accel is tcg or kvm"
[[ $nq =~ ^[0-9]+$ && $smp =~ ^[0-9]+$ && $timeout =~ ^[0-9]+$ ]] || die "bad number"

"$here/build-guest.sh" "$cache" 2>&1 | grep -v '^build-guest: up to date' >&2 || true
[[ -f $cache/initramfs.cpio && -f $cache/vmlinux ]] || die "build-guest.sh failed"

logdir=${HY_GUEST_LOGDIR:-$cache/logs}
if [[ -z $log ]]; then
	mkdir -p "$logdir"
	log=$logdir/$name-$(date +%Y%m%d-%H%M%S)-$$.log
fi
mkdir -p "$(dirname "$log")"
qlog=${log%.log}.qemu.log
: >"$log"

tmp=$(mktemp -d /tmp/hyguest-run.XXXXXX)
qpid=
tailpid=
cleanup() {
	local rc=$?
	if [[ -n $qpid ]] && kill -0 "$qpid" 2>/dev/null; then
		kill -TERM "$qpid" 2>/dev/null || true
		sleep 1
		kill -KILL "$qpid" 2>/dev/null || true
	fi
	[[ -n $tailpid ]] && kill "$tailpid" 2>/dev/null || true
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# The per-run cpio part: test script, library, environment, data files.
mkdir -p "$tmp/part/hy/data"
install -m 0755 "$script" "$tmp/part/hy/test.sh"
install -m 0644 "$here/guest/lib.sh" "$tmp/part/hy/lib.sh"
{
	printf 'export HY_TEST=%q HY_NUM_QUEUES=%q HY_SMP=%q\n' "$name" "$nq" "$smp"
	for kv in "${envs[@]}"; do
		[[ $kv == *=* && ${kv%%=*} =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "bad --env $kv"
		printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
	done
} >"$tmp/part/hy/env"
for f in "${files[@]}"; do
	cp "$f" "$tmp/part/hy/data/"
done
(cd "$tmp/part" && find . | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null) >"$tmp/part.cpio"
cat "$cache/initramfs.cpio" "$tmp/part.cpio" >"$tmp/initrd"

if [[ $accel == kvm ]]; then
	accel_args=(-accel kvm -cpu host)
else
	accel_args=(-accel tcg,thread=multi -cpu max)
fi
chardev="socket,id=vub,path=$sock"
[[ -n $reconnect ]] && chardev+=",reconnect=$reconnect"
# panic=-1 with -no-reboot: a guest panic ends QEMU at once instead of waiting for the timeout.
cmdline="console=ttyS0 loglevel=4 panic=-1 oops=panic rdinit=/init $append"
qemu=(qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot
	-machine q35 "${accel_args[@]}" -smp "$smp" -m "$mem"
	-object "memory-backend-memfd,id=mem,size=$mem,share=on" -numa node,memdev=mem
	-kernel "$cache/vmlinux" -initrd "$tmp/initrd" -append "$cmdline"
	-chardev "file,id=ser,path=$log" -serial chardev:ser
	-chardev "$chardev"
	-device "vhost-user-blk-pci,chardev=vub,num-queues=$nq"
	"${qemu_extra[@]}")

echo "${qemu[*]}" >"$qlog"
start=$(date +%s.%N)
"${qemu[@]}" </dev/null >>"$qlog" 2>&1 &
qpid=$!
if [[ -n $verbose ]]; then
	tail -n +1 -f --pid="$qpid" "$log" &
	tailpid=$!
fi

timed_out= killed=
deadline=$(($(date +%s) + timeout))
while kill -0 "$qpid" 2>/dev/null; do
	if [[ -n $kill_on ]] && grep -aqF -- "$kill_on" "$log"; then
		kill -KILL "$qpid" 2>/dev/null || true
		killed=1
		break
	fi
	if [[ $(date +%s) -ge $deadline ]]; then
		timed_out=1
		kill -TERM "$qpid" 2>/dev/null || true
		sleep 2
		kill -KILL "$qpid" 2>/dev/null || true
		break
	fi
	sleep 0.2
done
qrc=0
wait "$qpid" 2>/dev/null || qrc=$?
qpid=
if [[ -n $tailpid ]]; then
	wait "$tailpid" 2>/dev/null || true
	tailpid=
fi
elapsed=$(echo "$start $(date +%s.%N)" | awk '{printf "%.1f", $2 - $1}')

result=$(grep -a -o 'HYGUEST RESULT: .*' "$log" | tr -d '\r' | tail -n 1 || true)
reason=
if [[ -n $killed ]]; then
	[[ -z $result || $result == "HYGUEST RESULT: PASS" ]] || reason=${result#HYGUEST RESULT: }
	[[ -n $reason ]] || echo "run-guest: QEMU killed (SIGKILL) after the guest printed '$kill_on'" >&2
elif [[ -n $timed_out ]]; then
	reason="timeout after ${timeout} s${result:+ (guest said: ${result#HYGUEST RESULT: })}"
	# QEMU negotiates with the backend (GET_FEATURES, GET_CONFIG...) before the guest boots.
	[[ -s $log ]] || reason+=" with no console output: QEMU never started the guest, most likely waiting for a vhost-user reply from the backend"
elif [[ -z $result ]]; then
	reason="no result line (QEMU exited with status $qrc)"
elif [[ $result != "HYGUEST RESULT: PASS" ]]; then
	reason=${result#HYGUEST RESULT: }
	reason=${reason#FAIL }
elif [[ $qrc -ne 0 ]]; then
	reason="guest passed but QEMU exited with status $qrc"
fi

if [[ -z $reason ]]; then
	echo "run-guest: $name PASS in $elapsed s (log $log)" >&2
	exit 0
fi
if [[ -z $verbose ]]; then
	echo "---- last console lines ($log) ----" >&2
	tail -n 40 "$log" | tr -d '\r' >&2
fi
echo "---- QEMU ($qlog) ----" >&2
tail -n +2 "$qlog" | tail -n 20 >&2
echo "run-guest: $name FAIL in $elapsed s: $reason" >&2
exit 1
