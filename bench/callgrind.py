#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Instructions per request from callgrind profiles: the one reader of callgrind_annotate's
function table for bench/worker-instructions.sh and bench/nvme-instructions.sh.

usage: callgrind.py top NAME PROFILE REQUESTS
         one line: NAME, collected Ir / REQUESTS, then the functions with the most self Ir
         per request (bench/worker-instructions.sh)
       callgrind.py nvme PROFILE IOS
         "total worker model harness be_nvme qpair prp mem other" per I/O, the method in
         bench/nvme-instructions.sh's header
"""
import os
import re
import subprocess
import sys

# A cost line: "  1,234 (12.34%)  file:function [object]". No [object] for code inlined from
# another file: it is listed under the file it came from.
COST = re.compile(r"^ *([0-9,]+) +(?:\([ 0-9.]+%\) +)?(.*?)( \[[^]]*\])?$")


def table(path, inclusive):
    """Return (total Ir, [(file, function, Ir, has_object)]) of callgrind_annotate's table."""
    out = subprocess.run(
        ["callgrind_annotate", "--auto=no", "--inclusive=" + ("yes" if inclusive else "no"),
         "--threshold=100", path], check=True, capture_output=True, text=True).stdout
    total, rows, body, rule = None, [], False, False
    for line in out.splitlines():
        if "PROGRAM TOTALS" in line:
            total = int(line.split()[0].replace(",", ""))
            continue
        # The function table sits between the "file:function" header (and the rule under it)
        # and the next rule.
        if "file:function" in line:
            body = rule = True
            continue
        if body and line.startswith("-----"):
            if rule:
                rule = False
                continue
            body = False
        m = COST.match(line) if body else None
        if not m or ":" not in m.group(2):
            continue
        file, fn = m.group(2).split(":", 1)
        rows.append((file, fn, int(m.group(1).replace(",", "")), m.group(3) is not None))
    if total is None:
        sys.exit("callgrind.py: no PROGRAM TOTALS in %s" % path)
    return total, rows


def top(name, path, n):
    total, rows = table(path, False)
    funcs = {}
    for _, fn, cost, _ in rows:
        funcs[fn] = funcs.get(fn, 0) + cost
    best = sorted(funcs.items(), key=lambda kv: -kv[1])[:8]
    print("%-14s %5.0f instructions/request   %s" % (
        name, total / n, ", ".join("%s %.0f" % (f, v / n) for f, v in best if v >= n)))


def nvme(path, n):
    files = ("be_nvme.c", "qpair.c", "prp.c", "mem.c")
    total, rows = table(path, True)
    incl = {fn: cost for _, fn, cost, obj in rows if obj}
    _, rows = table(path, False)
    selfc, home = {}, {}
    for file, fn, cost, obj in rows:
        if obj and os.path.basename(file) in files:
            home[fn] = os.path.basename(file)
        selfc[fn] = selfc.get(fn, 0) + cost
    g = lambda fn: incl.get(fn, 0)
    if not g("nvme_submit") or not g("nvme_reap") or not total:
        sys.exit("cannot find the backend ops in the profile")
    model = g("hy_nvme_test_mmio_write32") + g("hy_nvme_test_mmio_read32")
    worker = g("nvme_submit") + g("nvme_flush") + g("nvme_reap") - model - g("on_done")
    byfile = dict.fromkeys(files, 0)
    for fn, f in home.items():
        byfile[f] += selfc[fn]
    other = worker - sum(byfile.values())
    # Cross-check of the subtraction: what is left must be what the path calls outside its four
    # files, i.e. hy_now_ns() and clock_gettime().
    known = sum(c for fn, c in selfc.items()
                if fn == "hy_now_ns" or fn.startswith(("clock_gettime", "__clock_gettime")))
    if abs(other - known) / n > 1:
        print("warning: %.1f Ir per I/O of the worker figure are not in its files, hy_now_ns() "
              "or clock_gettime()" % ((other - known) / n), file=sys.stderr)
    print(" ".join("%.0f" % (v / n) for v in (
        total, worker, model, total - worker - model, byfile["be_nvme.c"], byfile["qpair.c"],
        byfile["prp.c"], byfile["mem.c"], other)))


def main():
    a = sys.argv[1:]
    try:
        if len(a) == 4 and a[0] == "top" and int(a[3]) > 0:
            return top(a[1], a[2], int(a[3]))
        if len(a) == 3 and a[0] == "nvme" and int(a[2]) > 0:
            return nvme(a[1], int(a[2]))
    except ValueError:
        pass
    sys.exit(__doc__)


main()
