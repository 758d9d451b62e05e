#!/bin/bash
# usage: tests/guest/test_null.sh SOCKET IMAGE|- [run-guest.sh options]
#
# A guest on a null-backend disk (hydra's `null` type): writes from both vCPUs succeed, reads
# return zeroes, flush, discard and GET_ID work, both queues take interrupts. IMAGE is ignored
# (a null disk has none); it is there so every guest test takes the same arguments.
# Exit status: 0 pass, 1 fail, 2 usage.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
hy_test_init test_null "$@"
hy_guest guest --test null
