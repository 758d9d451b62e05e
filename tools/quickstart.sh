#!/bin/bash
# usage: tools/quickstart.sh [TOPOLOGY]
#
# The README's first command: installs the build dependencies (Debian 12), builds Hydra, prints
# the QEMU options that attach a VM to it, and runs hydra in the foreground on TOPOLOGY (default:
# the shipped topology.yaml: an io_uring disk on var/vda.img, a 1 GiB sparse file hydra creates,
# served at run/vda.sock with 2 queues on cpus 0 and 1). Ctrl-C stops it.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
topology=$(realpath "${1:-$top/topology.yaml}")
cd "$top"
tools/deps.sh --build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DHY_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" --target hydra hydractl >/dev/null
# Fails with the file:line:column of any mistake before anything starts.
plan=$(build/hydra --check "$topology")

echo "Hydra is built. The plan for $topology:"
echo "$plan" | sed 's/^/    /'
sock=$(echo "$plan" | awk '$1 == "socket:" {print $2; exit}')
nq=$(echo "$plan" | awk '$1 == "queues:" {print $2; exit}')
status=$(echo "$plan" | awk '$1 == "status_socket:" {print $2; exit}')
cat <<EOT

Attach a VM with these QEMU options (guest memory must be a shared memfd; num-queues must not
exceed the device's queue count, $nq; reconnect=1 lets the VM survive a hydra restart):

    qemu-system-x86_64 -machine q35,accel=kvm -cpu host -smp $nq -m 1G \\
        -object memory-backend-memfd,id=mem,size=1G,share=on -numa node,memdev=mem \\
        -chardev socket,id=vda,path=$sock,reconnect=1 \\
        -device vhost-user-blk-pci,chardev=vda,num-queues=$nq \\
        ...your boot disk and kernel...

The guest sees /dev/vda. Watch the workers with: build/hydractl -s $status status
Starting hydra (Ctrl-C to stop):
EOT
exec build/hydra --topology "$topology"
