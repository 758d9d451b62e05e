#!/bin/bash
# usage: tools/deps.sh [--build|--test]
#
# Installs the Debian 12 packages Hydra needs, only those missing, running apt-get update first
# only when something has to be installed. --build (the default): what building and running
# hydra needs. --test: that plus what the whole test suite needs (Criterion, clang for the
# fuzzers, QEMU and the guest tools). Needs root (or passwordless sudo).
set -euo pipefail

mode=${1:---build}
pkgs=(gcc make cmake pkg-config liburing-dev libnuma-dev libhwloc-dev libyaml-dev)
if [[ $mode == --test ]]; then
	pkgs+=(libcriterion-dev clang libclang-rt-14-dev qemu-system-x86 qemu-system-common
	       qemu-utils busybox-static xz-utils libc6-dev e2fsprogs binutils util-linux
	       python3 gnuplot-nox)
elif [[ $mode != --build ]]; then
	sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=
if [[ $(id -u) -ne 0 ]]; then
	command -v sudo >/dev/null || { echo "deps: need root to install: ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { $sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
	cat "$log" >&2
	echo "deps: apt-get failed" >&2
	exit 1
fi
rm -f "$log"

