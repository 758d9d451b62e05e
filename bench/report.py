#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/report.py: turn bench/run.sh's raw hydra-bench results into the report.

usage: report.py --runs RUNS.jsonl --pingpong PP.json --machine JSON --duration S --ramp S
                 --idle S [--repeat K] --out PREFIX

Each run's label is DAEMON|BACKEND|WORKLOAD|ROUND (ROUND missing counts as round 1). For each
point and daemon the round with the median IOPS per backend core (the lower middle for an even
count) stands for it in the tables and the chart; the per-round Hydra/qsd ratios are listed too.

Writes PREFIX.md (tables: each figure for Hydra and qsd and the Hydra/qsd ratio; idle cost;
the machine's floor; the issue's targets, met or not), PREFIX.json (everything raw, every round)
and PREFIX.png (gnuplot: IOPS per backend core and p99 latency per workload).
"""
import argparse
import json
import os
import subprocess
import sys


def snapshot(path):
    """CPU ticks of every process (own and reaped children's), to name other work later."""
    d = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            st = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        f = st[st.rindex(")") + 2:].split()
        d[p] = [comm, int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])]
    with open(path, "w") as out:
        json.dump(d, out)


def others(snap0, snap1, own_names, seconds):
    """The processes other than ours that used the most CPU between two snapshots."""
    a, b = json.load(open(snap0)), json.load(open(snap1))
    hz = os.sysconf("SC_CLK_TCK")
    rows = []
    for pid, (comm, t) in b.items():
        if comm in own_names:
            continue
        t0 = a.get(pid, [comm, 0])[1]
        if t - t0 > 0:
            rows.append(((t - t0) / hz / seconds, pid, comm))
    rows.sort(reverse=True)
    return rows[:5]


def load_runs(path):
    """Every run in file order, and {(backend, workload, daemon): {round: run}}."""
    raw, runs = [], {}
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        f = r["label"].split("|")
        rnd = 1
        if len(f) > 3 and f[-1].isdigit():
            rnd = int(f.pop())
        daemon, backend, name = f[0], f[1], "|".join(f[2:])
        raw.append(r)
        runs.setdefault((backend, name, daemon), {})[rnd] = r
    return raw, runs


def median_round(rounds):
    """The round whose IOPS per backend core is the median (lower middle for an even count)."""
    order = sorted(rounds, key=lambda k: (rounds[k]["iops_per_backend_core"], k))
    return order[(len(order) - 1) // 2] if order else None


def ratio(a, b):
    return a / b if b else float("nan")


def round_ratios(hr, qr):
    """Hydra/qsd IOPS per backend core, round by round ("n/a" where one of the two is missing)."""
    out = []
    for k in sorted(set(hr) | set(qr)):
        h, q = hr.get(k), qr.get(k)
        v = ratio(h["iops_per_backend_core"], q["iops_per_backend_core"]) if h and q else float("nan")
        out.append("n/a" if v != v else f"{v:.2f}")
    return " ".join(out)


def fmt_int(v):
    return f"{v:,.0f}".replace(",", " ")


def fmt_ratio(v):
    return "n/a" if v != v else f"{v:.2f}x"


def us(v):
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", required=True)
    ap.add_argument("--pingpong", required=True)
    ap.add_argument("--machine", required=True)
    ap.add_argument("--duration", required=True)
    ap.add_argument("--ramp", required=True)
    ap.add_argument("--idle", required=True)
    ap.add_argument("--repeat", type=int, help="rounds per point (default: the most found)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--snap0")
    ap.add_argument("--snap1")
    ap.add_argument("--run-seconds", type=float, default=0)
    if len(sys.argv) == 3 and sys.argv[1] == "--snapshot":
        snapshot(sys.argv[2])
        return 0
    a = ap.parse_args()

    raw, all_rounds = load_runs(a.runs)
    pp = json.load(open(a.pingpong))
    machine = json.loads(a.machine)
    points = []
    for (backend, name, daemon) in all_rounds:
        if daemon == "hydra" and name != "idle" and (backend, name) not in points:
            points.append((backend, name))
    # The representative of each (backend, workload, daemon): its median round.
    runs, rep_round = {}, {}
    for key, rounds in all_rounds.items():
        rep_round[key] = median_round(rounds)
        runs[key] = rounds[rep_round[key]]
    repeat = a.repeat or max((len(v) for k, v in all_rounds.items() if k[1] != "idle"), default=1)

    md = []
    md.append(f"# Hydra vs qemu-storage-daemon, {machine['date'][:10]}\n")
    if repeat > 1:
        md.append("Produced by `bench/run.sh` (hydra-bench driving both daemons in one run). "
                  f"Each point: {a.ramp} s ramp, then {a.duration} s measured, {repeat} rounds, "
                  "each round Hydra then qsd, so that the two alternate in time. Every figure "
                  "below is the median round's: for each point and daemon, the round with the "
                  "median IOPS per backend core "
                  f"{'(the lower middle, for an even count) ' if repeat % 2 == 0 else ''}gives "
                  "its IOPS, latency and cores; the IOPS/core ratio is the ratio of the two "
                  "medians, and the last column lists the ratio of every round. The idle "
                  "measurement and the machine's floor are taken once.\n")
    else:
        md.append("Produced by `bench/run.sh` (hydra-bench driving both daemons in one run). "
                  f"Each point: {a.ramp} s ramp, then {a.duration} s measured, one round (Hydra "
                  "then qsd): single samples, no medians.\n")
    md.append("## Machine\n")
    md.append(f"- cpus: {machine['nproc']}, model: {machine['cpu_model']}, kernel "
              f"{machine['kernel']}")
    ob, od = machine.get("others_busy_cores_before", 0), machine.get("others_busy_cores_during", 0)
    md.append(f"- other work on the machine: {ob:.2f} cores busy just before the run, {od:.2f} "
              "on average during it (all CPU time minus Hydra's, qsd's and hydra-bench's); load "
              f"average at the end {' '.join(machine['loadavg_at_end'])}")
    if "steal_cores_during" in machine:
        md.append(f"- of that, steal: {machine['steal_cores_during']:.2f} cores on average, time "
                  "the host gave our vcpus' turn to something else (other guests): no process "
                  "here shows it, and it falls on whichever daemon was running")
    if "irq_cores_during" in machine:
        md.append(f"- of that, interrupts (irq + softirq): {machine['irq_cores_during']:.2f} "
                  "cores on average, charged to no process; much of it is the run's own "
                  "wake-ups (eventfd signals, IPIs between the two cores)")
    if a.snap0 and a.snap1 and a.run_seconds > 0:
        own = {"hydra", "hydra-bench", "pingpong", "hydractl", "run.sh",
               "python3", "sleep", "awk", "sed", "grep", "date", "cat", "taskset",
               "qemu-storage-da"}
        own |= {n for n in ("hy-null.0", "hy-null.1", "hy-nullz.0", "hy-nullz.1",
                            "hy-file.0", "hy-file.1")}
        top = others(a.snap0, a.snap1, own, a.run_seconds)
        if top:
            md.append("- busiest other processes during the run (cores, counting their finished "
                      "children): " + ", ".join(f"{c} [{p}] {x:.2f}" for x, p, c in top))
    if max(ob, od) > 0.1:
        md.append(f"- **warning: other processes used the cores during the run; every figure "
                  "below is skewed by them (run again on an otherwise idle machine)**")
    md.append(f"- {machine['qsd_version']}; hydra at commit {machine['hydra_commit']}\n")

    md.append("## Throughput and latency\n")
    md.append("IOPS per backend core = IOPS / (backend CPU seconds / wall seconds), the backend "
              "being every Hydra process (master and all workers, pids from the status socket) "
              "or the qemu-storage-daemon process (all its threads), from /proc/PID/stat "
              "utime+stime over the measured window. Each daemon's figures are from its median "
              "round (see above).\n")
    md.append("| backend | workload | Hydra IOPS | qsd IOPS | ratio | Hydra p50 / p99 us | "
              "qsd p50 / p99 us | Hydra cores | qsd cores | Hydra IOPS/core | qsd IOPS/core "
              "| ratio | IOPS/core ratio, each round |")
    md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    chart = []
    be_names = {"null": "null", "nullz": "null, zeroing reads", "file": "file (tmpfs)"}
    for backend, name in points:
        h = runs.get((backend, name, "hydra"))
        q = runs.get((backend, name, "qsd"))
        if not h or not q:
            continue
        hl, ql = h["latency"], q["latency"]
        be = be_names.get(backend, backend)
        each = round_ratios(all_rounds[(backend, name, "hydra")],
                            all_rounds[(backend, name, "qsd")])
        md.append(
            f"| {be} | {name} | {fmt_int(h['iops'])} | {fmt_int(q['iops'])} | "
            f"{fmt_ratio(ratio(h['iops'], q['iops']))} | {us(hl['p50_us'])} / {us(hl['p99_us'])} | "
            f"{us(ql['p50_us'])} / {us(ql['p99_us'])} | {h['backend_cores']:.2f} | "
            f"{q['backend_cores']:.2f} | {fmt_int(h['iops_per_backend_core'])} | "
            f"{fmt_int(q['iops_per_backend_core'])} | "
            f"{fmt_ratio(ratio(h['iops_per_backend_core'], q['iops_per_backend_core']))} | "
            f"{each} |")
        short = (name.replace("randread", "rr").replace("randwrite", "rw")
                 .replace(", 1 queue", " 1q").replace(", 2 queues", " 2q")
                 .replace(", busy-poll", " poll").replace("128k read", "128k seq"))
        chart.append((f"{'null zeroing' if backend == 'nullz' else backend}: {short}", h["iops_per_backend_core"],
                      q["iops_per_backend_core"], h["latency"]["p99_us"],
                      q["latency"]["p99_us"]))
    md.append("")
    md.append("Waiting: every figure is interrupt-driven (hydra-bench sleeps in poll() on the "
              "call eventfd, with EVENT_IDX) for both daemons, except the row marked busy-poll, "
              "where hydra-bench spins on the used ring for both. Indirect descriptors, as "
              "Linux's virtio-blk driver uses them. 128k read is sequential. \"null\" leaves "
              "the read buffer untouched for both daemons; \"null, zeroing reads\" zeroes it "
              "for both (see below).\n")

    md.append("## Idle cost\n")
    md.append(f"Both queues connected and used once, then no I/O for {a.idle} s (after a 2 s "
              "settle).\n")
    md.append("| daemon | CPU % of one core (all processes) | busiest process |")
    md.append("|---|---:|---:|")
    idle = {}
    for daemon in ("hydra", "qsd"):
        r = runs.get(("null", "idle", daemon))  # taken once: its only round
        if not r:
            continue
        by = r.get("backend_cpu_s_by_pid", {})
        w = r["window_s"] or 1
        busiest = max(by.values()) / w * 100 if by else 0.0
        idle[daemon] = (r["backend_cpu_pct"], busiest, {p: v / w * 100 for p, v in by.items()})
        md.append(f"| {'Hydra' if daemon == 'hydra' else 'qemu-storage-daemon'} | "
                  f"{r['backend_cpu_pct']:.2f} | {busiest:.2f} |")
    md.append("")

    md.append("## The machine's floor\n")
    rt = pp["round_trip_ns_best"]
    med = pp["round_trip_ns_median"]
    md.append(f"A cache line bounced between two threads on cpu {pp['cpus'][0]} and cpu "
              f"{pp['cpus'][1]} (bench/pingpong.c, best of {pp['trials']} trials): "
              f"**{rt:.0f} ns per round trip** ({rt / 2:.0f} ns one way; the median trial took "
              f"{med:.0f} ns: on a virtual machine the two vcpus move between host cores). A "
              "request that goes to a worker on another core and whose completion comes back "
              "costs at least one such round trip, so no cross-core queue does more than "
              f"**{fmt_int(1e9 / rt)} QD1 requests/s** per queue ({fmt_int(1e9 / med)} at the "
              "median); deeper queues amortise the round trip over a batch.\n")
    for name in ("4k randread QD1, 1 queue, busy-poll", "4k randread QD1, 1 queue"):
        h = runs.get(("null", name, "hydra"))
        q = runs.get(("null", name, "qsd"))
        if h and q:
            md.append(f"- {name} (null): Hydra {fmt_int(h['iops'])} IOPS = "
                      f"{h['iops'] * rt / 1e9 * 100:.0f} % of the floor's rate "
                      f"({1e9 / h['iops']:.0f} ns a request, {1e9 / h['iops'] / rt:.1f} round "
                      f"trips); qsd {fmt_int(q['iops'])} IOPS = "
                      f"{q['iops'] * rt / 1e9 * 100:.0f} %.")
    h = runs.get(("null", "4k randread QD128, 1 queue", "hydra"))
    if h and h["iops"]:
        ns = h["backend_cores"] * 1e9 / h["iops"]
        md.append(f"- 4k randread QD128, 1 queue (null): Hydra spends {ns:.0f} ns of backend CPU "
                  f"a request, busy-polling included ({ns / rt:.2f} round trips' worth).")
    md.append("")

    md.append("## The issue's targets\n")
    tgt = []
    for backend, what, q_name in (("null", "null", "4k randread QD128, 1 queue"),
                                  ("null", "null", "4k randread QD128, 2 queues"),
                                  ("nullz", "null with zeroing reads (both)",
                                   "4k randread QD128, 1 queue")):
        h = runs.get((backend, q_name, "hydra"))
        q = runs.get((backend, q_name, "qsd"))
        if h and q:
            rr = ratio(h["iops_per_backend_core"], q["iops_per_backend_core"])
            each = round_ratios(all_rounds[(backend, q_name, "hydra")],
                                all_rounds[(backend, q_name, "qsd")])
            tgt.append((f"{what}, {q_name}: IOPS per backend core at least 3x qsd's",
                        f"{fmt_ratio(rr)} (median vs median); each round: {each}", rr >= 3))
    h = runs.get(("null", "4k randread QD1, 1 queue", "hydra"))
    q = runs.get(("null", "4k randread QD1, 1 queue", "qsd"))
    if h and q:
        rr = ratio(h["latency"]["p50_us"], q["latency"]["p50_us"])
        tgt.append(("null, 4k randread QD1, 1 queue: p50 at most half qsd's",
                    f"{us(h['latency']['p50_us'])} vs {us(q['latency']['p50_us'])} us "
                    f"({rr:.2f})", rr <= 0.5))
    if "hydra" in idle:
        tgt.append(("an idle worker under 1 % CPU",
                    f"busiest Hydra process {idle['hydra'][1]:.2f} %, all of Hydra "
                    f"{idle['hydra'][0]:.2f} %", idle["hydra"][1] < 1.0))
    md.append("Measured on the median rounds, as the table above.\n")
    md.append("| target | measured | met |")
    md.append("|---|---|---|")
    for t, m, ok in tgt:
        md.append(f"| {t} | {m} | {'yes' if ok else '**no**'} |")
    md.append("")

    md.append("## How the two are made comparable\n")
    md.append("- Backends: Hydra `null` with `read_zeroes: false` vs qsd "
              "`null-co,read-zeroes=off`: both leave the read buffer untouched and drop writes. "
              "That is QEMU 7.2's null-co default and what SPDK's null bdev does, so a request "
              "costs what each daemon itself costs rather than a 4 KiB memset. One point, "
              "\"null, zeroing reads\" (4k randread QD128, 1 queue), uses Hydra `null` with "
              "its default `read_zeroes: true` vs qsd `null-co,read-zeroes=on`: both zero every "
              "read buffer. Hydra `uring` on a 256 MiB file on tmpfs (/dev/shm) vs qsd "
              "`file,aio=io_uring,cache.direct=off` on another 256 MiB tmpfs file: tmpfs has no "
              "O_DIRECT, so Hydra falls back to buffered io_uring and qsd is told to be "
              "buffered: both go through the page cache with io_uring. Both files are "
              "fallocated up front.")
    md.append("- One daemon each serves all three devices (null, null with zeroing reads, "
              "file); each export/device has 2 queues. Hydra: "
              "one worker process per queue, queue 0 on cpu 0 and queue 1 on cpu 1, idle_us "
              "1000 (default). qsd: its default single event-loop thread (no iothread: in QEMU "
              "7.2 an export runs in one AioContext whatever the queue count, so an iothread "
              "would only move the same single thread), pinned to cpu 0 with taskset.")
    md.append("- hydra-bench: one thread per queue, queue 0 on cpu 1 and queue 1 on cpu 0, the "
              "same for both daemons. With 1 queue the backend has cpu 0 and the frontend cpu "
              "1. With 2 queues, on this 2-core machine, every core runs a frontend thread and "
              "backend work: Hydra's busy-polling workers and qsd's event loop compete with "
              "hydra-bench for the cores, so 2-queue figures measure contention as much as "
              "either daemon.")
    md.append("- Backend CPU is measured, not assumed: a busy-polling Hydra worker shows up "
              "as up to one core even when it has little to do, so while I/O flows Hydra's "
              "IOPS per backend core is about its IOPS per worker; qsd sleeps between events "
              "and is charged only for what it does.")
    md.append("- qsd with an iothread was tried and measures the same: QEMU 7.2's vhost-user "
              "export registers its kick fds without a poll handler, so an iothread's adaptive "
              "polling never polls the rings; it only moves the one event loop to another "
              "thread.")
    md.append(f"- Rounds: each point runs {repeat} time{'s' if repeat != 1 else ''}, Hydra "
              "then qsd in every round, so slow changes in the machine's load fall on both "
              "alike: on a shared virtual machine one sample can differ from the next by 30 %. "
              "Medians, not means, so that one disturbed round does not move the figure.\n")

    md.append("Raw results: the .json next to this file (one hydra-bench --json object per run, "
              "every round, its round the label's last field; plus the ping-pong and the "
              "machine; \"representatives\" names the median round of each point). Chart (the "
              "median rounds): the .png next to it.\n")

    with open(a.out + ".md", "w") as f:
        f.write("\n".join(md))
    with open(a.out + ".json", "w") as f:
        json.dump({"machine": machine, "pingpong": pp, "duration_s": float(a.duration),
                   "ramp_s": float(a.ramp), "idle_s": float(a.idle), "repeat": repeat,
                   "representatives": [{"backend": k[0], "workload": k[1], "daemon": k[2],
                                        "round": rep_round[k]} for k in all_rounds],
                   "runs": raw}, f, indent=1)

    dat = a.out + ".dat"
    with open(dat, "w") as f:
        for label, hi, qi, hp, qp in chart:
            f.write(f"\"{label}\" {hi:.1f} {qi:.1f} {hp:.3f} {qp:.3f}\n")
    gp = f"""
set terminal pngcairo size 1400,900 font ",10"
set output "{a.out}.png"
set multiplot layout 2,1 title "Hydra vs qemu-storage-daemon ({machine['date'][:10]}, {machine['nproc']} cpus)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -30 scale 0 font ",9"
set rmargin 14
set grid ytics
set key top right
set ylabel "IOPS per backend core"
set format y "%.1s%c"
plot "{dat}" using 2:xtic(1) title "Hydra" lc rgb "#1f77b4", "" using 3 title "qemu-storage-daemon" lc rgb "#ff7f0e"
set ylabel "p99 latency (us)"
set logscale y
set format y "%g"
plot "{dat}" using 4:xtic(1) title "Hydra" lc rgb "#1f77b4", "" using 5 title "qemu-storage-daemon" lc rgb "#ff7f0e"
unset multiplot
"""
    try:
        subprocess.run(["gnuplot"], input=gp, text=True, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as e:
        err = getattr(e, "stderr", "") or str(e)
        print(f"report: gnuplot failed: {err}", file=sys.stderr)
        return 1
    finally:
        os.unlink(dat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
