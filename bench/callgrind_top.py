#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Instructions per request from a callgrind profile, and the functions that spend them.

usage: callgrind_top.py NAME PROFILE REQUESTS

Prints one line: NAME, total collected Ir / REQUESTS, then the functions with the most self Ir
per request. bench/worker-instructions.sh uses it.
"""
import re
import subprocess
import sys


def profile(path):
    """Return (total Ir, {function: self Ir}) from callgrind_annotate's summary."""
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--auto=no", "--threshold=100", path],
        check=True, capture_output=True, text=True).stdout
    total, funcs = None, {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(\([^)]*\)\s+)?(.*)$", line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        what = m.group(3).strip()
        if what.startswith("PROGRAM TOTALS"):
            total = n
        elif total is not None and ":" in what:
            name = what.split(" [")[0].split(":", 1)[1]
            funcs[name] = funcs.get(name, 0) + n
    if total is None:
        sys.exit("callgrind_top: no PROGRAM TOTALS in %s" % path)
    return total, funcs


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    name, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if n <= 0:
        sys.exit("callgrind_top: REQUESTS must be positive")
    total, funcs = profile(path)
    top = sorted(funcs.items(), key=lambda kv: -kv[1])[:8]
    print("%-14s %5.0f instructions/request   %s" % (
        name, total / n, ", ".join("%s %.0f" % (f, v / n) for f, v in top if v >= n)))


main()
