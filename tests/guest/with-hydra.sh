#!/bin/bash
# usage: tests/guest/with-hydra.sh [BACKEND...]
#
# Runs the guest tests against a real hydra: for each BACKEND (default: uring ram) it writes a
# topology with one 2-queue device, starts build/hydra on it and runs against its socket:
# test_patterns, test_fs, test_reconnect, test_crash with workers SIGKILLed every 0.5 s for 60 s,
# and on uring test_crash with the master SIGKILLed and restarted (host-side image checks only
# for uring, which has a file). Then it stops hydra with SIGTERM and requires a clean exit
# (code 0) and no unexpected death in its log. The null backend gets test_null instead (it
# keeps no data). Prints one "guest <test> on <backend>: PASS|FAIL" line per test and
# a closing "N passed, M failed" line. Exit status: 0 all passed, 1 otherwise.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
hydra=${HYDRA:-$top/build/hydra}
backends=("$@")
[[ ${#backends[@]} -gt 0 ]] || backends=(uring ram)
work=$(mktemp -d /tmp/hydra-guest.XXXXXX)
pid=
passed=0 failed=0

cleanup() {
	[[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

result() { # name ok
	if [[ $2 == 0 ]]; then
		echo "guest $1: PASS"
		passed=$((passed + 1))
	else
		echo "guest $1: FAIL"
		failed=$((failed + 1))
	fi
}

for be in "${backends[@]}"; do
	dir=$work/$be
	mkdir -p "$dir"
	case $be in
	uring) backend="{ type: uring, path: $dir/disk.img, size: 256MiB }" image=$dir/disk.img ;;
	ram) backend="{ type: ram, size: 256MiB }" image=- ;;
	null) backend="{ type: null, size: 256MiB }" image=- ;;
	*) echo "with-hydra: unknown backend $be" >&2; exit 2 ;;
	esac
	cat >"$dir/topology.yaml" <<EOT
hydra:
  socket_dir: $dir
  log_level: info
devices:
  - name: vda
    backend: $backend
    idle_us: 200
    queues:
      - { cpu: 0 }
      - { cpu: $(( $(nproc) > 1 ? 1 : 0 )) }
EOT
	"$hydra" --topology "$dir/topology.yaml" >"$dir/hydra.log" 2>&1 &
	pid=$!
	export HYDRACTL=$top/build/hydractl HYDRA_STATUS_SOCKET=$dir/status.sock
	for _ in $(seq 100); do [[ -S $dir/vda.sock ]] && break; sleep 0.1; done
	if [[ ! -S $dir/vda.sock ]]; then
		cat "$dir/hydra.log" >&2
		result "startup on $be" 1
		continue
	fi
	tests=(test_patterns test_fs test_reconnect test_crash)
	[[ $be == uring ]] && tests+=(test_crash_master)
	# null keeps no data: what it can show is that I/O flows and reads return zeroes.
	[[ $be == null ]] && tests=(test_null)
	for t in "${tests[@]}"; do
		if [[ $t == test_crash_master ]]; then
			# The restarted master's pid goes to a file so it can be stopped at the end.
			HY_KILL=master HY_MASTER_PID=$pid HY_DURATION=${HY_CRASH_SECONDS:-45} \
				HY_RESTART="'$hydra' --topology '$dir/topology.yaml' >>'$dir/hydra.log' 2>&1 & echo \$! >'$dir/hydra.pid'" \
				"$here/test_crash.sh" "$dir/vda.sock" "$image"
			result "$t on $be" $?
			pid=$(cat "$dir/hydra.pid" 2>/dev/null || echo "$pid")
			continue
		fi
		HY_DURATION=${HY_CRASH_SECONDS:-60} "$here/$t.sh" "$dir/vda.sock" "$image"
		result "$t on $be" $?
	done
	grep -a "recovered: first completion" "$dir/hydra.log" |
		grep -o '[0-9.]* ms after' | awk '{print $1}' | sort -n >"$dir/recovery.txt"
	if [[ -s $dir/recovery.txt ]]; then
		echo "recovery on $be: $(wc -l <"$dir/recovery.txt") respawns, kill to first completion p50 $(awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}' "$dir/recovery.txt") ms, max $(tail -n 1 "$dir/recovery.txt") ms"
	fi
	kill -TERM "$pid"
	# The restarted master is not our child: wait for it by polling.
	for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	wait "$pid" 2>/dev/null
	rc=$?
	[[ $rc -eq 127 ]] && rc=0 # not our child: gone is all we can see
	pid=
	# Deliberate SIGKILLs are expected; anything else that died or broke is not.
	bad=$(grep -a -E "core dumped|signal (6|7|11)|exited with code [12]|broke the protocol|did not answer|fatal" "$dir/hydra.log")
	if [[ $rc -ne 0 || -n $bad ]]; then
		echo "hydra on $be: exit code $rc; log:" >&2
		tail -n 40 "$dir/hydra.log" >&2
		result "hydra clean run on $be" 1
	else
		result "hydra clean run on $be" 0
	fi
done
echo "guest tests: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
