#!/bin/bash
# usage: tests/guest/run-nvme-guest.sh (--test NAME | --script FILE) [options]
#
# Boots one QEMU guest (Debian's 6.1 kernel, the busybox initramfs of build-guest.sh) with an
# emulated NVMe controller behind an emulated Intel IOMMU and no vhost-user disk, runs one
# guest-side script in it, and exits 0 only if the guest printed "HYGUEST RESULT: PASS" and
# QEMU exited. For Hydra's VFIO NVMe driver: Hydra and its frontend run inside this guest
# (--bin), against the controller bound to vfio-pci (hydra-nvme-setup, always in /hy/bin).
#
#   --test NAME         run tests/guest/guest/NAME.sh in the guest
#   --script FILE       run FILE in the guest instead
#   --env K=V           export K=V to the guest script (repeatable)
#   --file FILE         copy FILE into the guest as /hy/data/$(basename FILE) (repeatable)
#   --bin FILE          copy the program FILE into the guest as /hy/bin/$(basename FILE), with
#                       every shared library ldd lists for it (repeatable; /hy/bin is in PATH)
#   --nvme-img FILE     raw image behind the NVMe namespace (default: a sparse temporary
#                       file, removed afterwards); created sparse if missing
#   --nvme-size SIZE    size of a created image (default 1G; truncate(1) syntax)
#   --nvme-opts OPTS    more properties of QEMU's -device nvme (e.g. max_ioqpairs=4,mdts=5)
#   --nvme-count N      N controllers (default 1); the others get sparse temporary images of
#                       --nvme-size and serials deadbee1, deadbee2...
#   --nvme-bridge       put the controllers behind one conventional PCI bridge: they then
#                       share one IOMMU group, as behind a bridge without ACS
#   --vfio              bind the controller to vfio-pci (hydra-nvme-setup bind) before the
#                       script runs; without it the kernel's nvme driver has it
#   --no-iommu          no intel-iommu device and no intel_iommu=on (to test the error path)
#   --hugepages N       reserve N 2 MiB hugepages at boot (hugepages=N; default none)
#   --smp N             vCPUs (default 2)
#   --memory SIZE       guest RAM (default 1G)
#   --accel tcg|kvm     default $HY_GUEST_ACCEL or tcg (multi-threaded); kvm where KVM works
#   --timeout SEC       kill QEMU and fail after SEC seconds (default $HY_GUEST_TIMEOUT or 180)
#   --log FILE          serial console log (default $HY_GUEST_LOGDIR or CACHE/logs, a new file);
#                       QEMU's own output goes to FILE with .log replaced by .qemu.log
#   --cache DIR         build-guest.sh output (default $HY_GUEST_CACHE or build/guest-cache)
#   --append ARGS       more kernel command line
#   --qemu-arg ARG      one more QEMU argument (repeatable)
#   --verbose           stream the console while the guest runs (default: only on failure)
#
# The guest's /init is guest/nvme-init.sh: it loads the NVMe and VFIO modules, finds the
# controller (PCI class 0x010802) and runs the script with HY_NVME_BDF (its PCI address),
# HY_NVME_GROUP (IOMMU group), HY_NVME_CTRL and HY_NVME_DISK (nvme0, /dev/nvme0n1; empty with
# --vfio), HY_TEST, HY_SMP and the --env variables in its environment; it can source
# /hy/lib.sh and /hy/nvme-lib.sh. It fails by exiting non-zero or calling hy_fail "reason".
# Prints how long the guest took to reach the script ("booted in").
# Exit status: 0 PASS, 1 FAIL (reason on stderr), 2 usage or setup error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
cache=${HY_GUEST_CACHE:-$top/build/guest-cache}
test= script= smp=2 mem=1G log= append= nvme_img= nvme_size=1G nvme_opts= hugepages=
accel=${HY_GUEST_ACCEL:-tcg} timeout=${HY_GUEST_TIMEOUT:-180}
verbose= vfio= iommu=1 nvme_count=1 nvme_bridge=
envs=() files=() bins=() qemu_extra=()

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
}
die() {
	echo "run-nvme-guest: error: $*" >&2
	exit 2
}

while [[ $# -gt 0 ]]; do
	opt=$1
	case $opt in
	--verbose | --vfio | --no-iommu | --nvme-bridge)
		case $opt in
		--verbose) verbose=1 ;;
		--vfio) vfio=1 ;;
		--no-iommu) iommu= ;;
		--nvme-bridge) nvme_bridge=1 ;;
		esac
		shift
		continue
		;;
	-h | --help) usage ;;
	--test | --script | --env | --file | --bin | --nvme-img | --nvme-size | --nvme-opts | \
		--nvme-count | --hugepages | --smp | --memory | --accel | --timeout | --log | --cache | \
		--append | --qemu-arg) ;;
	*) die "unknown option $opt (see --help)" ;;
	esac
	[[ $# -ge 2 ]] || die "$opt needs a value"
	val=$2
	shift 2
	case $opt in
	--test) test=$val ;;
	--script) script=$val ;;
	--env) envs+=("$val") ;;
	--file) files+=("$val") ;;
	--bin) bins+=("$val") ;;
	--nvme-img) nvme_img=$val ;;
	--nvme-size) nvme_size=$val ;;
	--nvme-opts) nvme_opts=$val ;;
	--nvme-count) nvme_count=$val ;;
	--hugepages) hugepages=$val ;;
	--smp) smp=$val ;;
	--memory) mem=$val ;;
	--accel) accel=$val ;;
	--timeout) timeout=$val ;;
	--log) log=$val ;;
	--cache) cache=$val ;;
	--append) append=$val ;;
	--qemu-arg) qemu_extra+=("$val") ;;
	*) die "unknown option $opt (see --help)" ;;
	esac
done

cache=$(realpath -m "$cache")
if [[ -n $test ]]; then
	script=$here/guest/$test.sh
	[[ -f $script ]] || die "no guest test $test ($script)"
fi
[[ -n $script && -f $script ]] || die "--test NAME or --script FILE is required"
name=${test:-$(basename "$script" .sh)}
[[ $accel == tcg || $accel == kvm ]] || die "--accel is tcg or kvm"
[[ $smp =~ ^[0-9]+$ && $timeout =~ ^[0-9]+$ ]] || die "bad number"
[[ $nvme_count =~ ^[1-9]$ ]] || die "--nvme-count is 1 to 9"
[[ -z $hugepages || $hugepages =~ ^[0-9]+$ ]] || die "--hugepages needs a number"
[[ -z $nvme_opts || $nvme_opts =~ ^[A-Za-z0-9_.=,-]+$ ]] || die "bad --nvme-opts $nvme_opts"
for f in "${files[@]}" "${bins[@]}"; do
	[[ -f $f ]] || die "no such file: $f"
done
for b in "${bins[@]}"; do
	[[ -x $b ]] || die "--bin $b is not executable"
done

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

tmp=$(mktemp -d /tmp/hyguest-nvme.XXXXXX)
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

if [[ -z $nvme_img ]]; then
	nvme_img=$tmp/nvme.img
fi
if [[ ! -e $nvme_img ]]; then
	truncate -s "$nvme_size" "$nvme_img" || die "cannot create $nvme_img ($nvme_size)"
fi
[[ -f $nvme_img || -b $nvme_img ]] || die "$nvme_img is neither a file nor a block device"
nvme_args=()
bus=
if [[ -n $nvme_bridge ]]; then
	nvme_args+=(-device pci-bridge,id=hybr,chassis_nr=1)
	bus=,bus=hybr,addr=0x1
fi
nvme_args+=(-drive "file=$nvme_img,if=none,id=nv,format=raw"
	-device "nvme,serial=deadbeef,drive=nv$bus${nvme_opts:+,$nvme_opts}")
for ((i = 1; i < nvme_count; i++)); do
	truncate -s "$nvme_size" "$tmp/nvme$i.img"
	[[ -n $nvme_bridge ]] && bus=,bus=hybr,addr=$((i + 1))
	nvme_args+=(-drive "file=$tmp/nvme$i.img,if=none,id=nv$i,format=raw"
		-device "nvme,serial=deadbee$i,drive=nv$i$bus${nvme_opts:+,$nvme_opts}")
done

# The per-run cpio part: init, test script, library, environment, data files, programs.
part=$tmp/part
mkdir -p "$part/hy/data" "$part/hy/bin" "$part/lib/x86_64-linux-gnu" "$part/lib64"
install -m 0755 "$here/guest/nvme-init.sh" "$part/hy/nvme-init.sh"
install -m 0755 "$script" "$part/hy/test.sh"
install -m 0644 "$here/guest/lib.sh" "$part/hy/lib.sh"
install -m 0644 "$here/guest/nvme-lib.sh" "$part/hy/nvme-lib.sh"
install -m 0755 "$top/tools/hydra-nvme-setup" "$part/hy/bin/hydra-nvme-setup"
{
	printf 'export HY_TEST=%q HY_SMP=%q HY_NVME_VFIO=%q\n' "$name" "$smp" "${vfio:-0}"
	for kv in "${envs[@]}"; do
		[[ $kv == *=* && ${kv%%=*} =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "bad --env $kv"
		printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
	done
} >"$part/hy/env"
for f in "${files[@]}"; do
	cp "$f" "$part/hy/data/"
done
# A program and the libraries the dynamic loader will look for, under their DT_NEEDED names
# (the SONAMEs ldd prints) in the guest's default search path, whatever RUNPATH says.
for b in "${bins[@]}"; do
	install -m 0755 "$b" "$part/hy/bin/$(basename "$b")"
	readelf -l "$b" 2>/dev/null | grep -q 'Requesting program interpreter' || continue
	ldd "$b" >"$tmp/ldd" 2>&1 || die "ldd $b failed: $(cat "$tmp/ldd")"
	if grep -q 'not found' "$tmp/ldd"; then
		die "--bin $b: libraries not found on the host: $(grep 'not found' "$tmp/ldd" | tr -s ' \t\n' ' ')"
	fi
	while read -r so arrow path _; do
		if [[ $arrow == "=>" && $path == /* ]]; then
			cp -L "$path" "$part/lib/x86_64-linux-gnu/$so"
		elif [[ $so == /*ld-linux* ]]; then
			cp -L "$so" "$part/lib64/$(basename "$so")"
		fi
	done <"$tmp/ldd"
done
(cd "$part" && find . | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null) >"$tmp/part.cpio"
cat "$cache/initramfs.cpio" "$tmp/part.cpio" >"$tmp/initrd"

if [[ $accel == kvm ]]; then
	# Interrupt remapping under KVM needs the split irqchip.
	machine=q35,kernel-irqchip=split
	accel_args=(-accel kvm -cpu host)
else
	machine=q35
	accel_args=(-accel tcg,thread=multi -cpu max)
fi
# panic=-1 with -no-reboot: a guest panic ends QEMU at once instead of waiting for the timeout.
cmdline="console=ttyS0 loglevel=4 panic=-1 oops=panic rdinit=/hy/nvme-init.sh"
iommu_args=()
if [[ -n $iommu ]]; then
	cmdline+=" intel_iommu=on iommu=pt"
	# The IOMMU must come before the devices it translates for.
	iommu_args=(-device intel-iommu,intremap=on,caching-mode=on)
fi
[[ -n $hugepages ]] && cmdline+=" hugepagesz=2M hugepages=$hugepages"
cmdline+=" $append"
qemu=(qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot
	-machine "$machine" "${accel_args[@]}" -smp "$smp" -m "$mem"
	-kernel "$cache/vmlinux" -initrd "$tmp/initrd" -append "$cmdline"
	-chardev "file,id=ser,path=$log" -serial chardev:ser
	"${iommu_args[@]}"
	"${nvme_args[@]}"
	"${qemu_extra[@]}")

echo "${qemu[*]}" >"$qlog"
start=$(date +%s.%N)
"${qemu[@]}" </dev/null >>"$qlog" 2>&1 &
qpid=$!
if [[ -n $verbose ]]; then
	tail -n +1 -f --pid="$qpid" "$log" &
	tailpid=$!
fi

timed_out= booted=
deadline=$(($(date +%s) + timeout))
while kill -0 "$qpid" 2>/dev/null; do
	if [[ -z $booted ]] && grep -aq '^hyguest: running ' "$log"; then
		booted=$(echo "$start $(date +%s.%N)" | awk '{printf "%.1f", $2 - $1}')
	fi
	if [[ $(date +%s) -ge $deadline ]]; then
		timed_out=1
		kill -TERM "$qpid" 2>/dev/null || true
		sleep 2
		kill -KILL "$qpid" 2>/dev/null || true
		break
	fi
	sleep 0.1
done
qrc=0
wait "$qpid" 2>/dev/null || qrc=$?
qpid=
if [[ -n $tailpid ]]; then
	wait "$tailpid" 2>/dev/null || true
	tailpid=
fi
elapsed=$(echo "$start $(date +%s.%N)" | awk '{printf "%.1f", $2 - $1}')
uptime=$(grep -a -o '^hyguest: running .* at [0-9.]* s of uptime' "$log" | tail -n 1 |
	sed 's/.* at \([0-9.]*\) s of uptime/\1/' || true)
if [[ -n $uptime ]]; then
	# A script that ends within one poll leaves $booted empty: then only the total is known.
	echo "run-nvme-guest: $name booted in ${booted:-<$elapsed} s (guest uptime $uptime s at the script)" >&2
fi

result=$(grep -a -o 'HYGUEST RESULT: .*' "$log" | tr -d '\r' | tail -n 1 || true)
reason=
if [[ -n $timed_out ]]; then
	reason="timeout after ${timeout} s${result:+ (guest said: ${result#HYGUEST RESULT: })}"
elif [[ -z $result ]]; then
	reason="no result line (QEMU exited with status $qrc)"
elif [[ $result != "HYGUEST RESULT: PASS" ]]; then
	reason=${result#HYGUEST RESULT: }
	reason=${reason#FAIL }
elif [[ $qrc -ne 0 ]]; then
	reason="guest passed but QEMU exited with status $qrc"
fi

if [[ -z $reason ]]; then
	echo "run-nvme-guest: $name PASS in $elapsed s (log $log)" >&2
	exit 0
fi
if [[ -z $verbose ]]; then
	echo "---- last console lines ($log) ----" >&2
	tail -n 40 "$log" | tr -d '\r' >&2
fi
echo "---- QEMU ($qlog) ----" >&2
tail -n +2 "$qlog" | tail -n 20 >&2
echo "run-nvme-guest: $name FAIL in $elapsed s: $reason" >&2
exit 1
