#!/bin/bash
# usage: tests/guest/deps.sh
#
# Installs the Debian 12 packages the guest tests need, only those missing; runs apt-get update
# first only when something has to be installed. Needs root (or passwordless sudo).
set -euo pipefail

# command or file that proves the package is there -> package
declare -A need=(
	[qemu-system-x86_64]=qemu-system-x86
	[qemu-storage-daemon]=qemu-system-common
	[/bin/busybox]=busybox-static
	[xz]=xz-utils
	[gcc]=gcc
	[/usr/include/stdio.h]=libc6-dev
	[/usr/lib/x86_64-linux-gnu/libc.a]=libc6-dev
	[mke2fs]=e2fsprogs
	[e2fsck]=e2fsprogs
	[dpkg-deb]=dpkg
	[apt-get]=apt
	[readelf]=binutils
	[flock]=util-linux
)

missing=()
for what in "${!need[@]}"; do
	if [[ $what == /* ]]; then
		[[ -e $what ]] && continue
	else
		PATH=$PATH:/usr/sbin:/sbin command -v "$what" >/dev/null 2>&1 && continue
	fi
	missing+=("${need[$what]}")
done
# busybox (dynamic) and busybox-static share /bin/busybox: insist on the static one, the guest
# has no libraries.
if [[ -e /bin/busybox ]] && ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null |
	grep -q 'ok installed'; then
	missing+=(busybox-static)
fi
[[ ${#missing[@]} -eq 0 ]] && exit 0

mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
sudo=
[[ $(id -u) -eq 0 ]] || sudo=sudo
echo "deps.sh: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
