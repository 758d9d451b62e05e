#!/bin/bash
# usage: tests/integration/run_crash.sh HYDRA HYDRA-BENCH [SECONDS]
#
# hydra-bench --verify as the frontend survives worker kills: for the uring and ram backends,
# hydra-bench writes then runs a verifying random read/write mix with flushes on 2 queues for
# SECONDS (default 30) while a random worker is SIGKILLed every 0.5 s; every read is checked
# against the generation last written to its block (in-flight requests of a dead worker are
# resubmitted by its successor from the in-flight region). Then a full read-back verifies every
# block. Prints the kills, the respawns and the recovery time (kill to first completion) p50 and
# max from hydra's log. Ends with "N passed, M failed".
set -uo pipefail

hydra=$1 bench=$2 seconds=${3:-30}
work=$(mktemp -d /tmp/hydra-crash.XXXXXX)
pid=
passed=0 failed=0
trap '[[ -n $pid ]] && kill -KILL $pid 2>/dev/null; rm -rf "$work"' EXIT

check() { # name command...
	local name=$1
	shift
	if "$@" >"$work/out" 2>&1; then
		echo "ok: $name"
		passed=$((passed + 1))
	else
		echo "FAIL: $name"
		tail -n 30 "$work/out"
		failed=$((failed + 1))
	fi
}

killer() { # SIGKILL a random worker of our hydra every 0.5 s until $work/stop exists
	local n=0 v
	while [[ ! -e $work/stop ]]; do
		sleep 0.5
		# Only this test's hydra: other hydras on the machine are none of our business.
		mapfile -t ws < <(pgrep -P "$pid")
		[[ ${#ws[@]} -gt 0 ]] || continue
		v=${ws[RANDOM % ${#ws[@]}]}
		kill -9 $v 2>/dev/null && n=$((n + 1))
		echo $n >"$work/kills"
	done
}

for be in uring ram; do
	case $be in
	uring) backend="{ type: uring, path: $work/disk.img, size: 64MiB }" ;;
	ram) backend="{ type: ram, size: 64MiB }" ;;
	esac
	cat >"$work/t.yaml" <<EOT
hydra:
  socket_dir: $work
devices:
  - name: vda
    backend: $backend
    queues:
      - { cpu: 0 }
      - { cpu: $(( $(nproc) > 1 ? 1 : 0 )) }
EOT
	: >"$work/hydra.log"
	"$hydra" --topology "$work/t.yaml" >"$work/hydra.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do [[ -S $work/vda.sock ]] && break; sleep 0.1; done
	state=$work/verify.state
	rm -f "$state"
	common=(-s "$work/vda.sock" -q 2 -b 4k --size 64M --verify --verify-state "$state"
		--progress never --io-timeout 20000)
	check "$be: fill with stamped blocks" "$bench" "${common[@]}" -w write -d 16
	rm -f "$work/stop" "$work/kills"
	killer &
	kpid=$!
	check "$be: ${seconds}s verified randrw with flushes while workers are killed" \
		"$bench" "${common[@]}" -w randrw --rwmixread 50 -d 16 -t "$seconds" --flush-interval 64
	touch "$work/stop"
	wait $kpid
	kills=$(cat "$work/kills")
	check "$be: every block reads back its last generation" "$bench" "${common[@]}" -w read -d 16
	check "$be: at least $((seconds)) kills landed ($kills)" test "$kills" -ge "$seconds"
	grep -a -o 'first completion [0-9.]* ms' "$work/hydra.log" | awk '{print $3}' | sort -n >"$work/rec"
	if [[ -s $work/rec ]]; then
		echo "recovery on $be: $kills kills, $(wc -l <"$work/rec") recoveries, kill to first completion p50 $(awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}' "$work/rec") ms, max $(tail -n 1 "$work/rec") ms"
	fi
	kill -TERM "$pid"
	wait "$pid"
	check "$be: hydra stops cleanly (exit $?)" test $? -eq 0
	pid=
	check "$be: no death other than the kills" \
		bash -c "! grep -a -E 'core dumped|signal (6|7|11)|exited with code [12]|broke the protocol|did not answer' '$work/hydra.log'"
done
echo "integration (crash): $passed passed, $failed failed"
[[ $failed -eq 0 ]]
