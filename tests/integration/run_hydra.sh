#!/bin/bash
# usage: tests/integration/run_hydra.sh HYDRA HYDRACTL HY-BLK-IO
#
# Drives a real hydra with the project's own vhost-user frontend (hy-blk-io), 2 queues at once:
#  - on the uring and ram backends: every request type with data verified on each queue,
#    buffers across memory regions, hostile chains (outside guest memory, wrapping, a loop),
#    then a reconnect that must find the data; again without EVENT_IDX and indirect
#    descriptors, with ADD_MEM_REG and 16-entry rings wrapped many times;
#  - a read-only device (writes fail with IOERR);
#  - a second frontend on a connected device is refused and the first keeps working;
#  - hydractl: status shows the requests, pin moves a worker, bad commands are refused;
#  - hydra's log has no worker death and hydra exits 0 on SIGTERM.
# Ends with "N passed, M failed".
set -uo pipefail

hydra=$1 hydractl=$2 blkio=$3
work=$(mktemp -d /tmp/hydra-int.XXXXXX)
pid=
passed=0 failed=0

cleanup() {
	[[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null
	# Keep hydra's log for a look after a failure.
	cp "$work/hydra.log" "${TMPDIR:-/tmp}/hydra-integration-last.log" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

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

start() { # topology
	"$hydra" --topology "$1" >>"$work/hydra.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		[[ -S $work/vda.sock && -S $work/status.sock ]] && return 0
		sleep 0.1
	done
	cat "$work/hydra.log"
	return 1
}

stop() {
	kill -TERM "$pid"
	wait "$pid"
	local rc=$?
	pid=
	return $rc
}

topology() { # backend-yaml [extra device keys]
	cat >"$work/t.yaml" <<EOT
hydra:
  socket_dir: $work
devices:
  - name: vda
    backend: $1
    queue_size: 1024
    ${2:-}
    queues:
      - { cpu: 0 }
      - { cpu: $(( $(nproc) > 1 ? 1 : 0 )) }
EOT
}

size=$((64 << 20))
common=(--socket "$work/vda.sock" --queues 2 --size-check $size --serial hydra-vda --strict-len)
for be in uring ram; do
	case $be in
	uring) topology "{ type: uring, path: $work/disk.img, size: 64MiB }" ;;
	ram) topology "{ type: ram, size: 64MiB }" ;;
	esac
	check "$be: hydra starts" start "$work/t.yaml" || continue
	check "$be: all request types, hostile chains, reconnect" \
		"$blkio" "${common[@]}" --expect-discard --expect-write-zeroes --hostile --hostile-ring
	check "$be: no EVENT_IDX, no indirect, ADD_MEM_REG, 16-entry rings wrapped" \
		"$blkio" "${common[@]}" --no-event-idx --no-indirect --add-mem-reg --queue-size 16 \
		--stress 70000 --no-reconnect
	check "$be: 1024-entry rings" "$blkio" "${common[@]}" --queue-size 1024 --no-reconnect
	check "$be: a ring larger than queue_size is refused" \
		bash -c "! '$blkio' ${common[*]} --queue-size 2048 --no-reconnect --timeout 20"
	if [[ $be == uring ]]; then
		# A frontend holds the device; a second one must be turned away, the first unharmed.
		python3 - "$work/vda.sock" >"$work/holder.log" 2>&1 <<'PY' &
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(struct.pack("<III", 1, 1, 0))      # GET_FEATURES
hdr = s.recv(12); req, flags, size = struct.unpack("<III", hdr); s.recv(size)
print("features ok", flush=True); time.sleep(4)
s.sendall(struct.pack("<III", 17, 1, 0))     # GET_QUEUE_NUM: still served
hdr = s.recv(12); req, flags, size = struct.unpack("<III", hdr)
print("queues", struct.unpack("<Q", s.recv(size))[0], flush=True)
PY
		holder=$!
		sleep 1
		check "uring: a second frontend is refused" \
			bash -c "! '$blkio' ${common[*]} --connect-timeout 500 --timeout 10"
		wait "$holder"
		check "uring: the first frontend is still served" grep -q 'queues 2' "$work/holder.log"
		check "uring: the refusal is logged" grep -q "refusing frontend" "$work/hydra.log"
		check "hydractl status shows the requests" \
			bash -c "'$hydractl' -s '$work/status.sock' status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
q = s[\"devices\"][0][\"queues\"]
assert all(x[\"requests\"] > 1000 for x in q), q
assert all(x[\"bad_chains\"] > 0 or x[\"io_errors\"] > 0 for x in q), q
'"
		check "hydractl status table" bash -c "'$hydractl' -s '$work/status.sock' status | grep -E '^  1 .* (sleeping|polling|idle) '"
		check "hydractl pin moves queue 1 to cpu 0" bash -c "'$hydractl' -s '$work/status.sock' pin vda 1 0 &&
			'$hydractl' -s '$work/status.sock' status --json | python3 -c '
import json, sys
assert json.load(sys.stdin)[\"devices\"][0][\"queues\"][1][\"cpu\"] == 0'"
		check "the repinned worker serves I/O" "$blkio" "${common[@]}" --no-reconnect --stress 1000
		check "hydractl refuses a cpu that does not exist" \
			bash -c "! '$hydractl' -s '$work/status.sock' pin vda 0 4096"
		check "hydractl refuses a bad device" \
			bash -c "! '$hydractl' -s '$work/status.sock' pin nope 0 0"
	fi
	check "$be: hydra exits 0 on SIGTERM" stop
done

topology "{ type: uring, path: $work/ro.img, size: 64MiB }" "read_only: true"
check "read-only: hydra starts" start "$work/t.yaml" &&
	check "read-only: writes fail with IOERR" "$blkio" "${common[@]}" --ro --no-reconnect &&
	check "read-only: hydra exits 0" stop

check "no worker died, nothing broke the protocol by accident" \
	bash -c "! grep -E 'killed by signal|exited with code [12]|core dumped' '$work/hydra.log'"
echo "integration (hydra): $passed passed, $failed failed"
[[ $failed -eq 0 ]]
