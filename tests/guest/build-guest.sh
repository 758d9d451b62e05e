#!/bin/bash
# usage: tests/guest/build-guest.sh [OUTDIR]
#
# Builds what a test guest needs, from Debian packages only, into OUTDIR (default
# $HY_GUEST_CACHE, else build/guest-cache in the repository):
#   OUTDIR/vmlinux         uncompressed kernel; QEMU boots it through its PVH entry (-kernel)
#   OUTDIR/initramfs.cpio  busybox-static, /init, virtio + ext4 modules, hyguest, mke2fs/e2fsck;
#                          padded to 512 bytes so that run-guest.sh can append a per-run part;
#                          also the NVMe/VFIO modules that run-nvme-guest.sh's guests load
#   OUTDIR/hyguest         the pattern tool, static; also used on the host (verify-file)
#   OUTDIR/kver            the guest kernel's release
# Idempotent and cached: the kernel package is fetched once per package name, the initramfs is
# rebuilt only when one of its inputs changed. Safe to run concurrently (flock).
#
# Environment: HY_GUEST_KPKG overrides the kernel package (default: what linux-image-amd64
# depends on, a linux-image-6.1.*-amd64).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-${HY_GUEST_CACHE:-$here/../../build/guest-cache}}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# Modules the guest loads at boot, in this order, and those it may load later (ext4 for the
# file-system test; crc32c_generic because ext4/jbd2 checksums ask the crypto API for "crc32c").
boot_modules="virtio_pci_modern_dev virtio_pci_legacy_dev virtio_ring virtio virtio_pci virtio_blk"
# NVMe and VFIO for run-nvme-guest.sh: guest/nvme-init.sh loads them in this order
# (/etc/hymodules-nvme); vfio_iommu_type1 is no dependency of vfio-pci, hence the whole list.
nvme_modules="crct10dif_common crc-t10dif crc64 crc64-rocksoft t10-pi nvme-core nvme
	vfio vfio_iommu_type1 vfio_virqfd irqbypass vfio-pci-core vfio-pci"
nvme_modules=$(echo $nvme_modules)
extra_modules="crc32c_generic ext4 $nvme_modules"

log() { echo "build-guest: $*" >&2; }
die() {
	echo "build-guest: error: $*" >&2
	exit 1
}

"$here/deps.sh"

exec 9>"$out/.lock"
flock 9

# ---- kernel package ----------------------------------------------------------------------
resolve_kpkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-6\.1[.0-9-]*-amd64\)$/\1/p' | head -n 1
}
kpkg=${HY_GUEST_KPKG:-}
if [[ -z $kpkg && -f $out/kpkg && $out/kpkg -nt /var/lib/apt/lists && -f $out/kernel/$(cat "$out/kpkg")/vmlinux ]]; then
	# apt-cache takes a second; its answer only changes when the package lists do.
	kpkg=$(cat "$out/kpkg")
	kpkg_cached=1
fi
if [[ -z $kpkg ]]; then
	kpkg=$(resolve_kpkg)
	if [[ -z $kpkg ]]; then
		# A fresh Debian image has no package lists yet.
		log "apt-get update (no package lists to resolve linux-image-amd64)"
		if [[ $(id -u) -eq 0 ]]; then apt-get update -qq || true; else sudo apt-get update -qq || true; fi
		kpkg=$(resolve_kpkg)
	fi
fi
if [[ -z $kpkg ]]; then
	# Offline with a warm cache: use what we have.
	[[ -f $out/kpkg ]] || die "cannot resolve linux-image-amd64's kernel package"
	kpkg=$(cat "$out/kpkg")
	log "warning: cannot resolve linux-image-amd64; using cached $kpkg"
fi
kdir=$out/kernel/$kpkg
mods_wanted="$boot_modules $extra_modules"
mods_key=$(echo "$mods_wanted" | sha256sum | cut -c1-12)

if [[ ! -f $kdir/vmlinux || ! -f $kdir/kver || ! -f $kdir/modules-$mods_key.done ]]; then
	mkdir -p "$kdir"
	deb=$(ls "$kdir"/"$kpkg"_*.deb 2>/dev/null | head -n 1 || true)
	if [[ -z $deb ]]; then
		log "downloading $kpkg"
		(cd "$kdir" && apt-get download -q "$kpkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
		deb=$(ls "$kdir"/"$kpkg"_*.deb 2>/dev/null | head -n 1 || true)
		[[ -n $deb ]] || die "apt-get download $kpkg failed"
	fi
	log "extracting $(basename "$deb")"
	rm -rf "$kdir/root"
	dpkg-deb -x "$deb" "$kdir/root"
	kver=$(ls "$kdir/root/lib/modules" | head -n 1)
	[[ -n $kver ]] || die "no /lib/modules in $deb"

	if [[ ! -f $kdir/vmlinux ]]; then
		# The bzImage's own xz decompressor takes ~9 s under TCG; the ELF inside it boots
		# through QEMU's PVH entry point at once.
		bz=$kdir/root/boot/vmlinuz-$kver
		offs=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$bz" | cut -d: -f1) || true
		[[ -n $offs ]] || die "no xz stream in $bz (kernel not xz-compressed?)"
		ok=
		for off in $offs; do
			# xz stops after the stream: tail dies of SIGPIPE, so judge by the output.
			(tail -c +$((off + 1)) "$bz" | xz -dc --single-stream >"$kdir/vmlinux.tmp" 2>/dev/null) || true
			if [[ $(head -c 4 "$kdir/vmlinux.tmp" | od -An -tx1 | tr -d ' ') == 7f454c46 ]]; then
				ok=1
				break
			fi
		done
		[[ -n $ok ]] || die "no ELF kernel found inside $bz"
		mv "$kdir/vmlinux.tmp" "$kdir/vmlinux"
		log "vmlinux: $(stat -c %s "$kdir/vmlinux") bytes"
	fi

	# Copy the wanted modules and everything they depend on, uncompressed.
	log "depmod $kver (full tree, once)"
	busybox depmod -b "$kdir/root" "$kver"
	mdir=$kdir/root/lib/modules/$kver
	rm -rf "$kdir/modules"
	mkdir -p "$kdir/modules/lib/modules/$kver"
	declare -A seen=()
	queue=()
	for m in $mods_wanted; do
		# modules.dep names files with - or _ as built; match both.
		re=${m//[-_]/[-_]}
		path=$(grep -E "(^|/)${re}\.ko(\.xz|\.zst|\.gz)?:" "$mdir/modules.dep" | head -n 1 | cut -d: -f1)
		[[ -n $path ]] || {
			grep -qE "/${re}\.ko" "$mdir/modules.builtin" && continue
			die "module $m not found in $kver"
		}
		queue+=("$path")
	done
	while [[ ${#queue[@]} -gt 0 ]]; do
		p=${queue[0]}
		queue=("${queue[@]:1}")
		[[ -n ${seen[$p]:-} ]] && continue
		seen[$p]=1
		mkdir -p "$kdir/modules/lib/modules/$kver/$(dirname "$p")"
		case $p in
		*.ko.xz) xz -dc "$mdir/$p" >"$kdir/modules/lib/modules/$kver/${p%.xz}" ;;
		*.ko.zst) zstd -qdc "$mdir/$p" >"$kdir/modules/lib/modules/$kver/${p%.zst}" ;;
		*.ko.gz) gzip -dc "$mdir/$p" >"$kdir/modules/lib/modules/$kver/${p%.gz}" ;;
		*) cp "$mdir/$p" "$kdir/modules/lib/modules/$kver/$p" ;;
		esac
		for d in $(grep -E "^${p//./\\.}:" "$mdir/modules.dep" | cut -d: -f2); do
			queue+=("$d")
		done
	done
	cp "$mdir/modules.builtin" "$mdir/modules.order" "$kdir/modules/lib/modules/$kver/"
	[[ -f $mdir/modules.builtin.modinfo ]] && cp "$mdir/modules.builtin.modinfo" "$kdir/modules/lib/modules/$kver/"
	busybox depmod -b "$kdir/modules" "$kver"
	log "modules: $(cd "$kdir/modules/lib/modules/$kver" && find kernel -name '*.ko' | xargs -n1 basename | tr '\n' ' ')"
	echo "$kver" >"$kdir/kver"
	rm -rf "$kdir/root"
	rm -f "$kdir"/modules-*.done
	touch "$kdir/modules-$mods_key.done"
fi
kver=$(cat "$kdir/kver")
[[ -n ${kpkg_cached:-} ]] || echo "$kpkg" >"$out/kpkg"
# Kernels that linux-image-amd64 no longer points at.
for d in "$out"/kernel/*; do
	[[ $d == "$kdir" ]] || rm -rf "$d"
done
ln -sfn "kernel/$kpkg/vmlinux" "$out/vmlinux"
echo "$kver" >"$out/kver"

# ---- hyguest -------------------------------------------------------------------------------
# The project's warning flags (CMakeLists.txt), as errors: this file is ours.
cflags=(-std=gnu11 -O2 -g0 -static -pthread -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes
	-Wmissing-prototypes -Wpointer-arith -Wvla -Wundef -Wwrite-strings -Wcast-qual
	-Wimplicit-fallthrough -Wno-unused-parameter -Werror)
if [[ ! -x $out/hyguest || $here/hyguest.c -nt $out/hyguest || $here/build-guest.sh -nt $out/hyguest ]]; then
	log "compiling hyguest"
	gcc "${cflags[@]}" -o "$out/hyguest.tmp" "$here/hyguest.c"
	mv "$out/hyguest.tmp" "$out/hyguest"
fi

# ---- initramfs -----------------------------------------------------------------------------
# Programs copied with their shared libraries (the guest has none of its own).
progs=()
for p in mke2fs e2fsck dumpe2fs; do
	f=$(PATH=$PATH:/usr/sbin:/sbin command -v $p || true)
	[[ -n $f ]] && progs+=("$(readlink -f "$f")")
done

key=$({
	echo "$kpkg $kver $mods_key $boot_modules"
	sha256sum "$here/build-guest.sh" "$here/guest/init" "$out/hyguest" /bin/busybox "${progs[@]}"
} | sha256sum | cut -c1-16)
if [[ -f $out/initramfs.cpio && $(cat "$out/initramfs.key" 2>/dev/null) == "$key" ]]; then
	log "up to date: $out (kernel $kver)"
	exit 0
fi

log "building initramfs"
stage=$out/initramfs.d
rm -rf "$stage"
mkdir -p "$stage"/{bin,dev,proc,sys,tmp,mnt,etc,hy,lib/x86_64-linux-gnu,lib64,usr,root}
ln -s bin "$stage/sbin"
ln -s ../bin "$stage/usr/bin"
ln -s ../bin "$stage/usr/sbin"

copy_prog() { # copy_prog FILE NAME: the program and the shared libraries it loads
	local f=$1 name=$2 lib
	cp "$f" "$stage/bin/$name"
	if readelf -l "$f" 2>/dev/null | grep -q 'Requesting program interpreter'; then
		for lib in $(ldd "$f" | grep -o '/[^ ]*'); do
			lib=$(readlink -f "$lib")
			case $lib in
			*/ld-linux-x86-64.so.2) cp -n "$lib" "$stage/lib64/ld-linux-x86-64.so.2" ;;
			*) cp -n "$lib" "$stage/lib/x86_64-linux-gnu/$(basename "$lib")" ;;
			esac
		done
		# The SONAMEs ldd printed, pointing at the real files.
		ldd "$f" | sed -n 's/^[[:space:]]*\([^ ]*\.so[^ ]*\) => \([^ ]*\).*/\1 \2/p' |
			while read -r so real; do
				real=$(basename "$(readlink -f "$real")")
				[[ $so == "$real" ]] || ln -sf "$real" "$stage/lib/x86_64-linux-gnu/$so"
			done
	fi
}

copy_prog /bin/busybox busybox
for a in $(/bin/busybox --list); do
	[[ -e $stage/bin/$a ]] || ln -s busybox "$stage/bin/$a"
done
rm -f "$stage/bin/init" "$stage/bin/linuxrc"
cp "$out/hyguest" "$stage/bin/hyguest"
for f in "${progs[@]}"; do
	rm -f "$stage/bin/$(basename "$f")"
	copy_prog "$f" "$(basename "$f")"
done
if [[ -e $stage/bin/mke2fs ]]; then
	# e2fsprogs' mke2fs replaces busybox's (which only makes ext2).
	ln -sf mke2fs "$stage/bin/mkfs.ext4"
	[[ -f /etc/mke2fs.conf ]] && cp /etc/mke2fs.conf "$stage/etc/"
fi
[[ -e $stage/bin/e2fsck ]] && ln -sf e2fsck "$stage/bin/fsck.ext4"
cp -a "$kdir/modules/lib/modules" "$stage/lib/"
echo "$boot_modules" >"$stage/etc/hymodules"
echo "$nvme_modules" >"$stage/etc/hymodules-nvme"
echo "root:x:0:0:root:/root:/bin/sh" >"$stage/etc/passwd"
: >"$stage/etc/fstab"
ln -s /proc/mounts "$stage/etc/mtab"
install -m 0755 "$here/guest/init" "$stage/init"

(cd "$stage" && find . | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null) >"$out/initramfs.tmp"
# Pad to 512 bytes: a part appended later is silently dropped by the kernel when misaligned.
size=$(stat -c %s "$out/initramfs.tmp")
pad=$(((512 - size % 512) % 512))
[[ $pad -eq 0 ]] || head -c $pad /dev/zero >>"$out/initramfs.tmp"
mv "$out/initramfs.tmp" "$out/initramfs.cpio"
echo "$key" >"$out/initramfs.key"
rm -rf "$stage"
log "initramfs: $(stat -c %s "$out/initramfs.cpio") bytes, kernel $kver, in $out"
