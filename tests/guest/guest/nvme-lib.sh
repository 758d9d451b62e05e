# Helpers for the NVMe guest scripts (busybox sh), on top of /hy/lib.sh. run-nvme-guest.sh puts
# this file at /hy/nvme-lib.sh. Source with: . /hy/lib.sh; . /hy/nvme-lib.sh

# hy_expect RC REGEX CMD...: run CMD, which must exit with status RC and print (on stdout or
# stderr) a line matching the extended REGEX ("" matches anything); the output and the time it
# took go to the log.
hy_expect() {
	_want=$1 _re=$2
	shift 2
	_t0=$(hy_ms)
	_out=$("$@" 2>&1)
	_rc=$?
	echo "\$ $*  -> $_rc ($(($(hy_ms) - _t0)) ms)"
	echo "$_out" | sed 's/^/    /'
	[ "$_rc" -eq "$_want" ] || hy_fail "'$*' exited with $_rc, expected $_want"
	[ -z "$_re" ] || echo "$_out" | grep -qE -- "$_re" || hy_fail "'$*' did not say /$_re/"
}

# hy_pci_driver BDF: the driver BDF is bound to, or "none".
hy_pci_driver() {
	basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null || echo none
}

# hy_ms: milliseconds of uptime, for timings.
hy_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
