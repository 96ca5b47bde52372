#!/usr/bin/env python3
"""Turn the raw samples of benches/compare.sh into BENCHMARKS.md.

Usage: report.py RAW_DIR > BENCHMARKS.md

Every raw file holds lines "LABEL KEY VALUE", in the order measured.
"""

import os
import sys
from collections import defaultdict

INITS = ["hupwatch", "hupwatch-tiny", "tini-static", "dumb-init", "catatonit"]
BUILDS = ["hupwatch", "hupwatch-tiny"]
FLOORS = ["floor-fork", "floor-vfork"]
# Measured for the size only, when compare.sh could build it: tini built with
# musl from Debian's source by benches/tini-musl.sh.
SIZE_ONLY = ["tini-musl"]
HEADERS = {
    "hupwatch": "hupwatch",
    "hupwatch-tiny": "hupwatch (tiny)",
    "tini-static": "tini-static",
    "dumb-init": "dumb-init",
    "catatonit": "catatonit",
    "tini-musl": "tini-musl (size only)",
}
# Where the forwarding chain ran (hwbench forward): the init on the sender's
# CPU or another one, then the child on the init's CPU or another one.
PLACES = {
    "at_ss_ns": "init on the sender's CPU, child on the init's",
    "at_so_ns": "init on the sender's CPU, child on the other",
    "at_os_ns": "init on the other CPU, child on the init's",
    "at_oo_ns": "init on the other CPU, child on the other",
}


def load(raw, name):
    """{label: {key: [values...]}} of one raw file (empty if missing)."""
    data = defaultdict(lambda: defaultdict(list))
    path = os.path.join(raw, name)
    if not os.path.exists(path):
        return data
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                data[parts[0]][parts[1]].append(float(parts[2]))
    return data


def quantile(values, q):
    """Linear-interpolated quantile of a non-empty list."""
    v = sorted(values)
    pos = (len(v) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def median(values):
    return quantile(values, 0.5)


def fmt(x, digits=1):
    if x is None:
        return "n/a"
    if abs(x) >= 100 or digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}×"


def machine(raw):
    info = {}
    path = os.path.join(raw, "machine.txt")
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition(" ")
            info[key] = value
    return info


def main():
    raw = sys.argv[1]
    info = machine(raw)
    size = load(raw, "size.txt")
    startup = load(raw, "startup.txt")
    rest = load(raw, "rest.txt")
    reap = load(raw, "reap.txt")
    reap1 = load(raw, "reap1.txt")
    forward = load(raw, "forward.txt")
    forward1 = load(raw, "forward1.txt")
    reload = load(raw, "reload.txt")
    floor1 = load(raw, "floor1.txt")
    floor = load(raw, "floor.txt")
    watch = load(raw, "watch.txt")
    busy = load(raw, "busy.txt")
    drain = load(raw, "drain.txt")
    reload_envdir = load(raw, "reload-envdir.txt")

    # Each measure: {init: (headline value, detail text)}, lower is better.
    rows = []

    def sz(name):
        return size[name]["bytes"][0] / 1024 if size[name]["bytes"] else None

    cols = INITS + [n for n in SIZE_ONLY if size[n]["bytes"]]
    size_row = {n: sz(n) for n in cols}
    size_note = {
        n: " (dynamic, + libc.so)" if size[n]["dynamic"] and size[n]["dynamic"][0] else ""
        for n in cols
    }
    rows.append(("1. binary size (KiB)", size_row, size_note, 1))

    direct = startup["direct"]["ns"]
    overhead = {}
    absolute = {}
    for n in INITS:
        s = startup[n]["ns"]
        if s and direct:
            diffs = [a - b for a, b in zip(s, direct)]
            overhead[n] = median(diffs) / 1000
            absolute[n] = median(s) / 1000
    rows.append(("2. start-to-exit overhead over `true` (µs)", overhead, {}, 0))

    hwm = {n: median(rest[n]["hwm_kb"]) if rest[n]["hwm_kb"] else None for n in INITS}
    rows.append(("3. peak RSS supervising `sleep` (KiB)", hwm, {}, 0))

    wake = {n: median(rest[n]["voluntary"]) if rest[n]["voluntary"] else None for n in INITS}
    rows.append((f"4. wake-ups in {info.get('rest_secs', '5')} s idle", wake, {}, 0))

    reap1_ms = {n: median(reap1[n]["reap_ns"]) / 1e6 if reap1[n]["reap_ns"] else None for n in INITS}
    rows.append(("5. reaping 10,000 orphans as PID 1, one CPU (ms)", reap1_ms, {}, 0))
    reap_ms = {n: median(reap[n]["reap_ns"]) / 1e6 if reap[n]["reap_ns"] else None for n in INITS}
    rows.append(("5. reaping 10,000 orphans as PID 1, all CPUs (ms)", reap_ms, {}, 0))

    fwd1 = {n: median(forward1[n]["ns"]) / 1000 if forward1[n]["ns"] else None for n in INITS}
    rows.append(("6. signal forwarding latency, one CPU (µs)", fwd1, {}, 1))
    fwd = {n: median(forward[n]["ns"]) / 1000 if forward[n]["ns"] else None for n in INITS}
    rows.append(("6. signal forwarding latency, all CPUs (µs)", fwd, {}, 1))

    rel = {n: median(reload[n]["reload_ns"]) / 1e6 if reload[n]["reload_ns"] else None for n in INITS}
    rows.append(("7. reload: signal → old generation stopped (ms)", rel, {}, 2))
    rel_envdir = {
        n: median(reload_envdir[n]["reload_ns"]) / 1e6 if reload_envdir[n]["reload_ns"] else None for n in INITS
    }
    rows.append(("7. the same with `--envdir` of 1,000 files (ms)", rel_envdir, {}, 2))

    out = []
    w = out.append
    w("# Benchmarks")
    w("")
    w("hupwatch against tini, dumb-init and catatonit (and its reloads against a floor reloader),")
    w("measured side by side in one run of `benches/compare.sh` on the machine below. Regenerate")
    w("this file with")
    w("`benches/compare.sh` (it builds both hupwatch binaries and installs missing peers")
    w("when run as root; the measurements took " + info.get("elapsed", "?") + " here).")
    w("Every number is a median over repeated runs in which the inits took turns;")
    w("lower is better everywhere.")
    if info.get("mode") == "quick":
        w("")
        w("**Quick run** (`--quick`): fewer repetitions, for development only.")
    w("")
    w("| measure | " + " | ".join(HEADERS[n] for n in cols)
      + " | hupwatch ÷ tini-static | hupwatch ÷ dumb-init | hupwatch ÷ catatonit |")
    w("| --- |" + " ---: |" * (len(cols) + 3))
    for title, vals, notes, digits in rows:
        cells = []
        for n in cols:
            v = vals.get(n)
            cells.append(fmt(v, digits) + notes.get(n, "") if v is not None else "n/a")
        hw = vals.get("hupwatch")
        tiny = vals.get("hupwatch-tiny")

        def rr(peer):
            p = vals.get(peer)
            if p is None:
                return "n/a"
            if p == 0:
                return "equal" if hw == 0 and tiny == 0 else "n/a"
            return f"{ratio(hw, p)} (tiny {ratio(tiny, p)})"

        w(f"| {title} | " + " | ".join(cells) + f" | {rr('tini-static')} | {rr('dumb-init')} | {rr('catatonit')} |")
    w("")

    # Targets of issue 4, judged on this run.
    w("## Targets")
    w("")
    w("| target | result |")
    w("| --- | --- |")

    def verdict(ok):
        return "met" if ok else "**missed**"

    t = size_row.get("hupwatch-tiny")
    s = size_row.get("hupwatch")
    m = size_row.get("tini-musl")
    if t is not None and m is not None:
        w(
            f"| tiny build ≤ tini's musl build (tini-musl, built in this run) | {fmt(t)} KiB vs"
            f" tini-musl's {fmt(m)} KiB, {ratio(t, m)}: {verdict(t <= m)} |"
        )
    elif t is not None:
        w(
            f"| tiny build ≤ 60 KiB (tini's musl build as quoted; tini-musl was not built in this run)"
            f" | {fmt(t)} KiB: {verdict(t <= 60)} |"
        )
    if s is not None:
        w(f"| stable build < 420 KiB | {fmt(s)} KiB: {verdict(s < 420)} |")

    def vs_tini(title, vals, unit, digits, samples=None, scale=1):
        """One row per hupwatch build; with samples, p10–p90 show the spread."""
        p = vals.get("tini-static")

        def spread(n):
            if samples is None or not samples[n]:
                return ""
            v = [x / scale for x in samples[n]]
            return f" (p10–p90 {fmt(quantile(v, 0.1), digits)}–{fmt(quantile(v, 0.9), digits)})"

        for n in ("hupwatch", "hupwatch-tiny"):
            v = vals.get(n)
            if v is None or p is None:
                continue
            w(
                f"| {title} ({n}) | {fmt(v, digits)} {unit}{spread(n)} vs tini's {fmt(p, digits)} {unit}"
                f"{spread('tini-static')}: {verdict(v <= p)} |"
            )

    vs_tini("start-to-exit overhead ≤ tini's", overhead, "µs", 0)
    fwd1_ns = {n: forward1[n]["ns"] for n in INITS}
    fwd_ns = {n: forward[n]["ns"] for n in INITS}
    vs_tini("signal forwarding ≤ tini's, one CPU", fwd1, "µs", 1, fwd1_ns, 1000)
    vs_tini("signal forwarding ≤ tini's, all CPUs", fwd, "µs", 1, fwd_ns, 1000)
    vs_tini("peak RSS ≤ tini's", hwm, "KiB", 0)
    for n in ("hupwatch", "hupwatch-tiny"):
        if wake.get(n) is not None:
            w(f"| zero idle wake-ups ({n}) | {fmt(wake[n], 0)}: {verdict(wake[n] == 0)} |")
    vs_tini("reaping ≤ tini's, one CPU", reap1_ms, "ms", 0, {n: reap1[n]["reap_ns"] for n in INITS}, 1e6)
    vs_tini("reaping ≤ tini's, all CPUs", reap_ms, "ms", 0, {n: reap[n]["reap_ns"] for n in INITS}, 1e6)
    for n in ("hupwatch", "hupwatch-tiny"):
        r = reload[n]
        if not r["reload_ns"] or not r["child_start_ns"]:
            continue
        beyond = (median(r["reload_ns"]) - median(r["child_start_ns"])) / 1e6
        w(
            f"| reload < 5 ms beyond the child's own start ({n}) | {fmt(beyond, 2)} ms"
            f" (reload {fmt(median(r['reload_ns']) / 1e6, 2)} ms, child start"
            f" {fmt(median(r['child_start_ns']) / 1e6, 2)} ms): {verdict(beyond < 5)} |"
        )
        if r["start_rss_kb"] and r["end_rss_kb"]:
            grew = [
                k
                for k in ("rss_kb", "fds", "children")
                if r["end_" + k][0] > r["start_" + k][0]
            ]
            what = ", ".join(grew) if grew else "none"
            count = len(r["reload_ns"])
            w(f"| no growth over {count:,} reloads ({n}) | grew: {what}: {verdict(not grew)} |")

    # Issue 13.
    def med(data, n, key, scale=1.0):
        v = data[n][key]
        return median(v) / scale if v else None

    for cpus, data in (("one CPU", floor1), ("all CPUs", floor)):
        f = med(data, "floor-fork", "ns", 1000)
        for n in BUILDS:
            v = med(data, n, "ns", 1000)
            if v is None or f is None:
                continue
            w(
                f"| reload ≤ 1.10× the fork floor, {cpus} ({n}) | {fmt(v, 0)} µs vs {fmt(f, 0)} µs,"
                f" {ratio(v, f)}: {verdict(v <= 1.10 * f)} |"
            )
    for n in BUILDS:
        v, d = fwd.get(n), fwd.get("dumb-init")
        if v is not None and d is not None:
            w(f"| forwarding ≤ dumb-init's, all CPUs ({n}) | {fmt(v)} µs vs {fmt(d)} µs: {verdict(v <= d)} |")
        v, d = fwd1.get(n), fwd1.get("dumb-init")
        if v is not None and d is not None:
            w(f"| forwarding ≤ dumb-init's, one CPU ({n}) | {fmt(v)} µs vs {fmt(d)} µs: {verdict(v <= d)} |")
    sizes = sorted({int(k.rsplit("_", 1)[1]) for n in BUILDS for k in watch[n] if k.startswith("change_ns_")})
    for n in BUILDS:
        if 10000 in sizes and 1 in sizes:
            big, one = med(watch, n, "change_ns_10000", 1e6), med(watch, n, "change_ns_1", 1e6)
            w(
                f"| a change with 10,000 watched paths ≤ 5 ms ({n}) | {fmt(big, 2)} ms"
                f" (1 path: {fmt(one, 2)} ms): {verdict(big <= 5)} |"
            )
        b = busy[n]
        if b["busy_wakeups"]:
            rewrites = int(info.get("params", "").split("busy_rewrites=")[-1].split()[0]) if "busy_rewrites=" in info.get("params", "") else 0
            wakes = b["busy_wakeups"][0]
            limit = rewrites / 100
            w(
                f"| rewrites in a watched directory wake hupwatch for < 1% of them ({n}) |"
                f" {fmt(wakes, 0)} wake-ups, {fmt(b['busy_cpu_ns'][0] / 1e6, 1)} ms CPU for {rewrites:,}"
                f" rewrites: {verdict(wakes < limit)} |"
            )
        d = drain[n]
        if d["draining_generations"]:
            count = d["draining_generations"][0]
            cap = info.get("params", "").split("drain_max=")[-1].split()[0] if "drain_max=" in info.get("params", "") else "?"
            w(
                f"| no ceiling on draining generations at a soft limit of 1,024 descriptors ({n}) |"
                f" {fmt(count, 0)} of {cap} reloads succeeded: {verdict(bool(d['reached_max'][0]))} |"
            )
    w("")

    if any(floor1[n]["ns"] or floor[n]["ns"] for n in BUILDS + FLOORS):
        w("## Reload against the floor")
        w("")
        w("Reload signal → the old generation's SIGTERM handler, with `--notify -w 0`; the floor")
        w("reloaders (`benches/floor.c`) do only fork or vfork, exec, wait for READY=1 and SIGTERM the")
        w("old child. Medians (p10–p90) in µs.")
        w("")
        w("| CPUs | " + " | ".join(BUILDS + FLOORS) + " | hupwatch ÷ floor-fork | hupwatch ÷ floor-vfork | tiny ÷ floor-fork |")
        w("| --- |" + " ---: |" * (len(BUILDS + FLOORS) + 3))
        for cpus, data in (("one", floor1), ("all", floor)):
            cells = []
            for n in BUILDS + FLOORS:
                v = data[n]["ns"]
                if not v:
                    cells.append("n/a")
                    continue
                v = [x / 1000 for x in v]
                cells.append(f"{fmt(median(v), 0)} ({fmt(quantile(v, 0.1), 0)}–{fmt(quantile(v, 0.9), 0)})")
            h, t = med(data, "hupwatch", "ns"), med(data, "hupwatch-tiny", "ns")
            ff, fv = med(data, "floor-fork", "ns"), med(data, "floor-vfork", "ns")
            w(f"| {cpus} | " + " | ".join(cells) + f" | {ratio(h, ff)} | {ratio(h, fv)} | {ratio(t, ff)} |")
        w("")

    if sizes:
        w("## --watch with many paths")
        w("")
        w("Files in one directory, named relative to it; medians over the changes. A change replaces")
        w("one of the files by a rename, timed until hupwatch logs the reload (`--watch-delay 0`) and in")
        w("hupwatch's CPU time until the reload has settled (that includes starting the new generation).")
        w("")
        w("| paths | build | start-up until generation 1 is ready (ms) | change → reload logged (ms) | CPU per change (ms) |")
        w("| ---: | --- | ---: | ---: | ---: |")
        for k in sizes:
            for n in BUILDS:
                st = med(watch, n, f"startup_ns_{k}", 1e6)
                ch = med(watch, n, f"change_ns_{k}", 1e6)
                cpu = med(watch, n, f"change_cpu_ns_{k}", 1e6)
                if st is None:
                    continue
                w(f"| {k:,} | {n} | {fmt(st, 1)} | {fmt(ch, 2)} | {fmt(cpu, 2)} |")
        w("")

    if any(busy[n]["busy_wakeups"] for n in BUILDS) or any(drain[n]["draining_generations"] for n in BUILDS):
        w("## Busy watched directory, draining generations")
        w("")
        w("| build | rewrites in a watched dir: CPU (ms) | utime+stime (ticks) | wake-ups | reloads |"
          " draining generations at a soft limit of 1,024 | descriptors then |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for n in BUILDS:
            b, d = busy[n], drain[n]

            def one(data, key, scale=1.0, digits=0):
                return fmt(data[key][0] / scale, digits) if data[key] else "n/a"

            w(
                f"| {n} | {one(b, 'busy_cpu_ns', 1e6, 1)} | {one(b, 'busy_ticks')} | {one(b, 'busy_wakeups')}"
                f" | {one(b, 'busy_reloads')} | {one(d, 'draining_generations')} | {one(d, 'fds')} |"
            )
        w("")

    if any(forward[n][k] for n in INITS for k in PLACES):
        w("## Where forwarding ran, all CPUs")
        w("")
        w("Each forwarded signal of measure 6 (all CPUs), by the CPU the init and its child last ran on")
        w("(`/proc/PID/stat`) relative to the sender's: share of the signals, and their median latency.")
        w("")
        w("| init | " + " | ".join(PLACES.values()) + " |")
        w("| --- |" + " ---: |" * len(PLACES))
        for n in INITS:
            total = sum(len(forward[n][k]) for k in PLACES)
            if not total:
                continue
            cells = []
            for k in PLACES:
                v = forward[n][k]
                cells.append(f"{100 * len(v) / total:.0f}%, {fmt(median(v) / 1000)} µs" if v else "0%")
            w(f"| {n} | " + " | ".join(cells) + " |")
        w("")

    w("## Details")
    w("")
    w("| measure | init | median | p10 | p90 | samples |")
    w("| --- | --- | ---: | ---: | ---: | ---: |")

    def detail(title, data, key, scale, digits, inits=INITS):
        for n in inits:
            v = data[n][key]
            if not v:
                continue
            v = [x / scale for x in v]
            w(
                f"| {title} | {n} | {fmt(median(v), digits)} | {fmt(quantile(v, 0.1), digits)}"
                f" | {fmt(quantile(v, 0.9), digits)} | {len(v):,} |"
            )

    for n in cols:
        if size[n]["bytes"]:
            t, d, b = (int(size[n][k][0]) for k in ("text", "data", "bss"))
            w(f"| file size (bytes); `size`: text {t:,}, data {d:,}, bss {b:,} | {n} | {int(size[n]['bytes'][0]):,} | | | 1 |")
    detail("`true` alone, spawn to exit (µs)", startup, "ns", 1000, 0, ["direct"])
    detail("`INIT -- true`, spawn to exit (µs)", startup, "ns", 1000, 0)
    detail("peak RSS, VmHWM (KiB)", rest, "hwm_kb", 1, 0)
    detail("RSS at rest, VmRSS (KiB)", rest, "rss_kb", 1, 0)
    detail("voluntary context switches at rest", rest, "voluntary", 1, 0)
    detail("all context switches at rest", rest, "wakeups", 1, 0)
    detail("open descriptors at rest", rest, "fds", 1, 0)
    detail("reaping 10,000 orphans, one CPU (ms)", reap1, "reap_ns", 1e6, 0)
    detail("reaping 10,000 orphans, all CPUs (ms)", reap, "reap_ns", 1e6, 0)
    detail("peak RSS of the init after reaping (KiB)", reap, "init_hwm_kb", 1, 0)
    detail("RSS of the init after reaping (KiB)", reap, "init_rss_kb", 1, 0)
    detail("signal forwarding, one CPU (µs)", forward1, "ns", 1000, 1)
    detail("signal forwarding, all CPUs (µs)", forward, "ns", 1000, 1)
    detail("reload latency (ms)", reload, "reload_ns", 1e6, 2, ["hupwatch", "hupwatch-tiny"])
    detail("reload child's own start (ms)", reload, "child_start_ns", 1e6, 2, ["hupwatch", "hupwatch-tiny"])
    detail("reload latency, `--envdir` of 1,000 files (ms)", reload_envdir, "reload_ns", 1e6, 2, ["hupwatch", "hupwatch-tiny"])
    w("")

    w("### hupwatch across the reloads")
    w("")
    w("| build | when | VmRSS (KiB) | VmHWM (KiB) | open descriptors | children |")
    w("| --- | --- | ---: | ---: | ---: | ---: |")
    for n in ("hupwatch", "hupwatch-tiny"):
        r = reload[n]
        count = len(r["reload_ns"])
        for when, label in (("start", "start"), ("warm", "after 10 reloads"), ("end", f"after {count:,} reloads")):
            if not r[when + "_rss_kb"]:
                continue
            cells = [fmt(r[f"{when}_{k}"][0], 0) for k in ("rss_kb", "hwm_kb", "fds", "children")]
            w(f"| {n} | {label} | " + " | ".join(cells) + " |")
    w("")

    restart_section(raw, w)

    w("## Machine and versions")
    w("")
    w("| | |")
    w("| --- | --- |")
    for key in ("date", "cpu", "cores", "memory", "kernel", "os", "hupwatch", "commit", "rustc",
                "nightly", "tini-static", "dumb-init", "catatonit", "tini-musl", "inotify", "load", "mode", "params"):
        if key in info:
            w(f"| {key} | {info[key]} |")
    w("")

    w("## How each number is taken")
    w("")
    w("Inits run as `hupwatch -- CMD`, `tini-static -s -- CMD` (`-s`: subreaper, as hupwatch is one")
    w("when it is not PID 1; it also silences tini's warning), `dumb-init -- CMD` and `catatonit --")
    w("CMD`, all with their default options. The helper `benches/hwbench.c` spawns them with posix_spawn and stamps")
    w("events with CLOCK_MONOTONIC, which is one clock for all processes.")
    w("")
    w("1. Size: `stat` of the file; `size` in the details. The static hupwatch files grow in")
    w("   4 KiB steps (the linker puts the end of the read-only relocations on a page boundary),")
    w("   so `size`'s text shows smaller changes. The Debian dumb-init is dynamically linked, so")
    w("   its file leaves out libc; tini-static is a static glibc build. tini-musl, the peer of")
    w("   the tiny build's size target, is tini built in the same run by `benches/tini-musl.sh`")
    w("   from Debian's source package: musl-gcc with upstream's flags for tini-static but -Os,")
    w("   stripped (the command is under Machine and versions). It is measured for its size")
    w("   only" + ("." if "tini-musl" in cols else "; this run could not build it (no network, say)."))
    w("2. Start-to-exit: posix_spawn of `INIT -- /bin/true` until waitpid returns, against")
    w("   `/bin/true` alone in the same round; the overhead is the median of the per-round")
    w("   differences.")
    w("3. Peak RSS: VmHWM of the init from /proc/PID/status at the end of the idle window.")
    w("4. Wake-ups: the init's voluntary_ctxt_switches over the window, which starts "
      + info.get("rest_settle", "2") + " s after its `sleep` child is running.")
    w("5. Reaping: as PID 1 of `unshare --pid --mount-proc`, the child forks a process that")
    w("   forks 10,000 children which exit at once; it keeps them as zombies and then exits, so")
    w("   the kernel re-parents all 10,000 to the init in one go. The child polls kill(pid, 0)")
    w("   (a zombie still answers) every 0.2 ms until every one is gone, timing from its word")
    w("   to the middle process to exit until the last one is reaped. Nearly all of it is the")
    w("   kernel's release_task (one wait4 per child is all an init can do), so the inits")
    w("   differ little, and other load on the machine spreads the runs widely. The peak RSS")
    w("   after reaping is read from /proc/1/status inside the namespace.")
    w("6. Forwarding: the child's SIGUSR1 handler writes its CLOCK_MONOTONIC stamp to a pipe;")
    w("   latency is that stamp minus the moment the harness sent SIGUSR1 to the init. It starts")
    w("   " + info.get("forward_settle", "1.5") + " s after the child is ready (past hupwatch's 1 s warm-up of the first")
    w("   generation, while its wait carries a timeout) and runs with every process on one CPU")
    w("   (`taskset`: the init's own work on the path) and unpinned (where the scheduler's")
    w("   choice of CPU splits the samples into two modes); fresh processes each run.")
    w("7. Reload (hupwatch only): `hupwatch -w 0 -- hwbench reloadchild`, whose child is ready at")
    w("   once and stamps its SIGTERM handler; latency is from `kill -HUP` to that stamp in the")
    w("   old generation. The next reload waits until the new generation has reported and the")
    w("   old one is reaped. The child's own start is posix_spawn to its first record. The")
    w("   same again with `--envdir` of 1,000 one-line files, which hupwatch reads afresh and")
    w("   merges into the environment before every generation's fork.")
    w("8. Reload against the floor: hupwatch and the tiny build with `--notify -w 0 -- hwbench")
    w("   notifychild` (READY=1 at once, then it stamps its SIGTERM handler) and `benches/floor.c`")
    w("   with fork and with vfork running the same child take turns, each reload timed from the")
    w("   reload signal to the old child's SIGTERM handler; the next reload of the same reloader waits")
    w("   until the old child is reaped. On one CPU (`taskset`) and on all.")
    w("9. `--watch`: `hupwatch -w 0 --watch-delay 0 --watch w0 ... -- hwbench reloadchild` in a")
    w("   directory of N files; start-up is posix_spawn to generation 1's first record, a change is")
    w("   the middle file replaced by a rename (as editors save), timed until the line `reload: PATH")
    w("   changed` reaches the harness, and hupwatch's CPU time (`/proc/PID/schedstat`) from the")
    w("   rename until the reload has settled.")
    w("10. Busy directory: `hupwatch --watch DIR`, then " + info.get("params", "").split("busy_rewrites=")[-1].split()[0]
      + " rewrites of one file inside DIR; hupwatch's CPU time (schedstat, and")
    w("   utime + stime from `/proc/PID/stat`) and voluntary context switches from before the first")
    w("   rewrite until it has been idle for 0.2 s. Rewriting a file inside a watched directory")
    w("   never reloads (the README's rule); the reloads column checks it.")
    w("11. Draining generations: `hupwatch -k --notify -w 0 -- hwbench drainchild` under `prlimit")
    w("   --nofile=1024:` (the usual soft limit, the hard one unchanged); every generation ignores")
    w("   SIGTERM, so each reload leaves one more draining. Reloads go on until a new generation is")
    w("   not ready within 2 s (a failed reload) or the maximum is reached.")
    restart_method(w)
    print("\n".join(out))


def restart_section(raw, w):
    """Measure 12 (issue 12): restarts and the watchdog, hupwatch's two builds."""
    data = load(raw, "restart.txt")
    builds = [n for n in ("hupwatch", "hupwatch-tiny") if data[n]["crash_ns"]]
    if not builds:
        return
    w("## Restarts and the watchdog")
    w("")
    w("| measure | build | median | p10 | p90 | samples |")
    w("| --- | --- | ---: | ---: | ---: | ---: |")
    rows = [
        ("crash → restarted generation serving, with the first backoff of 100 ms (ms)", "crash_ns", 1e6, 1),
        ("watchdog missed → replacement ready (ms)", "hung_ready_ns", 1e6, 2),
        ("watchdog missed → hung generation sent SIGABRT (ms)", "hung_abort_ns", 1e6, 2),
    ]
    for title, key, scale, digits in rows:
        for n in builds:
            v = [x / scale for x in data[n][key]]
            if v:
                w(
                    f"| {title} | {n} | {fmt(median(v), digits)} | {fmt(quantile(v, 0.1), digits)}"
                    f" | {fmt(quantile(v, 0.9), digits)} | {len(v):,} |"
                )
    w("")
    w("| crash loop | build | seconds | generations started | hupwatch's CPU time | share of one CPU |")
    w("| --- | --- | ---: | ---: | ---: | ---: |")
    for n in builds:
        d = data[n]
        if not d["crashloop_cpu_ms"]:
            continue
        # schedstat's ns when the kernel has it, else stat's 10 ms ticks.
        cpu_ms = d["crashloop_cpu_us"][0] / 1000 if d["crashloop_cpu_us"] else d["crashloop_cpu_ms"][0]
        share = 100 * cpu_ms / d["crashloop_wall_ms"][0]
        w(
            f"| `--restart always -- hwbench crashnow` | {n} | {fmt(d['crashloop_secs'][0], 0)}"
            f" | {fmt(d['crashloop_starts'][0], 0)} | {cpu_ms:.1f} ms | {share:.3f}% |"
        )
    w("")


def restart_method(w):
    """How measure 12 is taken."""
    w("12. Restarts and the watchdog (hupwatch only). Crash: `hupwatch -w 0 --restart always --")
    w("   hwbench crashchild`; the harness sends SIGUSR1 straight to the serving child, which stamps")
    w("   it and exits 1; the sample ends at the restarted child's first record, so it holds the")
    w("   first backoff of 100 ms (a fresh hupwatch per sample, each crash a first restart). Hung:")
    w("   `hupwatch --notify -w 0 --watchdog 0.2 -- hwbench watchdogchild`, whose child sends")
    w("   READY=1 and WATCHDOG=1 every 10 ms until SIGUSR1, then stamps its last ping; the watchdog")
    w("   ran out at that stamp plus WATCHDOG_USEC, from where the replacement's READY=1 and the")
    w("   hung child's SIGABRT handler are timed. Crash loop: `hupwatch --restart always --")
    w("   hwbench crashnow` (a child that exits 1 at once) for the whole window; hupwatch's")
    w("   CPU time at its end from /proc/PID/schedstat (ns; /proc/PID/stat's 10 ms ticks without it).")


if __name__ == "__main__":
    main()
