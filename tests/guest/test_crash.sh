#!/bin/bash
# usage: tests/guest/test_crash.sh SOCKET IMAGE|- [run-guest.sh options]
#
# Hydra only. A guest runs a data-verifying workload (guest/churn.sh: write a new seed over a
# region from both vCPUs, verify it crosswise, again and again) for HY_DURATION seconds (default
# 60) on a 2-queue disk while this script kills hydra's processes:
#   HY_KILL=workers (default): a random worker SIGKILLed every HY_KILL_INTERVAL seconds (0.5);
#     at least HY_MIN_KILLS (50) kills must land;
#   HY_KILL=master: the master SIGKILLed once mid-workload (its workers die with it), then
#     restarted with HY_RESTART (a shell command that starts hydra again in the background);
#     QEMU reconnects (chardev reconnect=1) and the guest carries on.
# Pass: the guest saw no I/O error and no verify failure, and the last region it wrote is intact
# in IMAGE on the host. Needs HYDRACTL and HYDRA_STATUS_SOCKET in the environment.
# Exit status: 0 pass, 1 fail, 2 usage.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
hy_test_init test_crash "$@"
: "${HYDRACTL:?HYDRACTL must name the hydractl binary}" "${HYDRA_STATUS_SOCKET:?}"
mode=${HY_KILL:-workers}
duration=${HY_DURATION:-60}
interval=${HY_KILL_INTERVAL:-0.5}
region_len=$((32 << 20))
seed=$(printf '%d' "$(hy_seed)")
seed=$((seed & 0xffffffffffff))
log=$HY_LOGDIR/$HY_NAME-guest-$HY_STAMP.log
killer_log=$HY_LOGDIR/$HY_NAME-kills-$HY_STAMP.log

worker_pids() {
	"$HYDRACTL" -s "$HYDRA_STATUS_SOCKET" status --json 2>/dev/null |
		grep -o '"pid": [0-9]*, "worker": "up"' | grep -o '[0-9][0-9]*' || true
}

"$HY_HERE/run-guest.sh" --socket "$HY_SOCK" --log "$log" --cache "$HY_CACHE" --test churn \
	--env HY_DURATION="$duration" --env HY_SEED="$seed" --env HY_REGION="0:$region_len" \
	--reconnect 1 --timeout $((duration + 240)) "${HY_RG_ARGS[@]}" &
hy_child=$!
for _ in $(seq 600); do
	grep -aq "HYGUEST CHURN START" "$log" 2>/dev/null && break
	kill -0 "$hy_child" 2>/dev/null || break
	sleep 0.2
done
kills=0
: >"$killer_log"
if [[ $mode == master ]]; then
	sleep $((duration / 3))
	# Named by the caller: guessing by process name could hit another hydra on the machine.
	master=${HY_MASTER_PID:?HY_KILL=master needs HY_MASTER_PID, the pid of the hydra to kill}
	echo "$(date +%s.%N) kill -9 master $master" >>"$killer_log"
	kill -9 "$master"
	kills=1
	sleep 0.5
	: "${HY_RESTART:?HY_RESTART must restart hydra}"
	eval "$HY_RESTART"
	echo "$(date +%s.%N) restarted" >>"$killer_log"
else
	while kill -0 "$hy_child" 2>/dev/null; do
		sleep "$interval"
		mapfile -t pids < <(worker_pids)
		[[ ${#pids[@]} -gt 0 ]] || continue
		victim=${pids[RANDOM % ${#pids[@]}]}
		if kill -9 "$victim" 2>/dev/null; then
			kills=$((kills + 1))
			echo "$(date +%s.%N) kill -9 $victim" >>"$killer_log"
		fi
	done
fi
rc=0
wait "$hy_child" || rc=$?
hy_child=
HY_LAST_LOG=$log
[[ $rc -eq 0 ]] || hy_die "guest: $(run_guest_reason "$log") after $kills kills"
echo "guest $HY_NAME: $kills kills ($mode), $(grep -ac 'HYGUEST FINAL SEED' "$log") verified rounds" >&2
if [[ $mode == workers && $kills -lt ${HY_MIN_KILLS:-50} ]]; then
	hy_die "only $kills kills landed; at least ${HY_MIN_KILLS:-50} wanted"
fi
if [[ $HY_IMG != - ]]; then
	read -r _ _ _ s off len < <(grep -a -o 'HYGUEST FINAL SEED [0-9]* [0-9]* [0-9]*' "$log" | tail -n 1)
	hy_verify_file "$(printf '0x%x' "$s")" "$off" "$len"
fi
