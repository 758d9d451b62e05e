# Sourced by the host-side guest tests (test_*.sh); not run on its own.
#
# hy_test_init NAME "$@" parses "SOCKET IMAGE [run-guest.sh options]" into $HY_SOCK, $HY_IMG
# and the array HY_RG_ARGS, and arranges for the one-line summary
#   guest NAME: PASS (12.3 s)     or     guest NAME: FAIL (12.3 s): reason
# on exit. IMAGE is the backend's backing file or device, read for host-side checks while the
# backend keeps running; "-" skips those checks (e.g. a RAM backend).

HY_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HY_CACHE=$(realpath -m "${HY_GUEST_CACHE:-$HY_HERE/../../build/guest-cache}")
HY_LOGDIR=$(realpath -m "${HY_GUEST_LOGDIR:-$HY_CACHE/logs}")
HY_HYGUEST=$HY_CACHE/hyguest
hy_child=
hy_reason=
HY_TMPDIRS=()

hy_now() { date +%s.%N; }

hy_test_init() {
	HY_NAME=$1
	shift
	if [[ $# -lt 2 || $1 == -* ]]; then
		sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
		exit 2
	fi
	HY_SOCK=$1
	HY_IMG=$2
	shift 2
	HY_RG_ARGS=("$@")
	HY_T0=$(hy_now)
	HY_STAMP=$(date +%Y%m%d-%H%M%S)-$$
	mkdir -p "$HY_LOGDIR"
	trap hy_on_exit EXIT
	trap 'hy_reason="interrupted"; exit 130' INT TERM HUP
	"$HY_HERE/build-guest.sh" "$HY_CACHE" 2>&1 | grep -v '^build-guest: up to date' >&2 || true
	[[ -x $HY_HYGUEST ]] || hy_die "build-guest.sh did not produce $HY_HYGUEST"
	[[ $HY_IMG == - || -e $HY_IMG ]] || hy_die "image $HY_IMG does not exist"
	echo "guest $HY_NAME: backend socket $HY_SOCK, image $HY_IMG, logs $HY_LOGDIR/$HY_NAME-*-$HY_STAMP.log" >&2
}

hy_elapsed() {
	awk -v a="$HY_T0" -v b="$(hy_now)" 'BEGIN { printf "%.1f", b - a }'
}

hy_on_exit() {
	local rc=$?
	rm -rf "${HY_TMPDIRS[@]}"
	if [[ -n $hy_child ]] && kill -0 "$hy_child" 2>/dev/null; then
		# run-guest.sh kills its QEMU in its own EXIT trap.
		kill -TERM "$hy_child" 2>/dev/null || true
		wait "$hy_child" 2>/dev/null || true
	fi
	if [[ $rc -eq 0 ]]; then
		echo "guest $HY_NAME: PASS ($(hy_elapsed) s)"
	else
		echo "guest $HY_NAME: FAIL ($(hy_elapsed) s)${hy_reason:+: $hy_reason}"
	fi
	exit $rc
}

hy_die() {
	hy_reason=$*
	echo "guest $HY_NAME: error: $*" >&2
	exit 1
}

# hy_guest LABEL [run-guest.sh options]: one guest on $HY_SOCK, its console in
# $HY_LOGDIR/NAME-LABEL-STAMP.log (path left in $HY_LAST_LOG). Fails the test if the guest fails.
hy_guest() {
	local label=$1 rc=0 t0
	shift
	HY_LAST_LOG=$HY_LOGDIR/$HY_NAME-$label-$HY_STAMP.log
	t0=$(hy_now)
	"$HY_HERE/run-guest.sh" --socket "$HY_SOCK" --log "$HY_LAST_LOG" --cache "$HY_CACHE" \
		"$@" "${HY_RG_ARGS[@]}" &
	hy_child=$!
	wait "$hy_child" || rc=$?
	hy_child=
	[[ $rc -eq 0 ]] || hy_die "$label: $(run_guest_reason "$HY_LAST_LOG")"
	echo "guest $HY_NAME: $label ok ($(awk -v a="$t0" -v b="$(hy_now)" 'BEGIN { printf "%.1f", b - a }') s)" >&2
}

run_guest_reason() {
	local r
	r=$(grep -a -o 'HYGUEST RESULT: .*' "$1" 2>/dev/null | tr -d '\r' | tail -n 1 || true)
	echo "${r:-no result line, see $1}"
}

# hy_tmpdir: make a temporary directory, removed on exit, and leave its path in $HY_TMP.
hy_tmpdir() {
	HY_TMP=$(mktemp -d "/tmp/hyguest-$HY_NAME.XXXXXX")
	HY_TMPDIRS+=("$HY_TMP")
}

# hy_seed: a fresh seed per run, so that data left by an earlier run can never pass.
hy_seed() {
	printf '0x%x\n' $((($(date +%s%N) ^ (RANDOM << 48) ^ ($$ << 32)) & 0x7fffffffffffffff))
}

# hy_verify_file SEED OFFSET LENGTH: check the backend's image on the host.
hy_verify_file() {
	"$HY_HYGUEST" verify-file "$HY_IMG" "$1" --offset "$2" --length "$3" --threads 2 >&2 ||
		hy_die "host-side verify of $HY_IMG at $2+$3 (seed $1) failed"
}
