#!/usr/bin/env python3
"""Turn the raw samples of benches/compare.sh into BENCHMARKS.md.

Usage: report.py RAW_DIR > BENCHMARKS.md

Every raw file holds lines "LABEL KEY VALUE", in the order measured.
"""

import os
import sys
from collections import defaultdict

INITS = ["hupwatch", "hupwatch-tiny", "tini-static", "dumb-init"]
# Measured for the size only, when compare.sh could build it: tini built with
# musl from Debian's source by benches/tini-musl.sh.
SIZE_ONLY = ["tini-musl"]
HEADERS = {
    "hupwatch": "hupwatch",
    "hupwatch-tiny": "hupwatch (tiny)",
    "tini-static": "tini-static",
    "dumb-init": "dumb-init",
    "tini-musl": "tini-musl (size only)",
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
    w("hupwatch against tini and dumb-init, measured side by side in one run of")
    w("`benches/compare.sh` on the machine below. Regenerate this file with")
    w("`benches/compare.sh` (it builds both hupwatch binaries and installs missing peers")
    w("when run as root; the measurements took " + info.get("elapsed", "?") + " here).")
    w("Every number is a median over repeated runs in which the inits took turns;")
    w("lower is better everywhere.")
    if info.get("mode") == "quick":
        w("")
        w("**Quick run** (`--quick`): fewer repetitions, for development only.")
    w("")
    w("| measure | " + " | ".join(HEADERS[n] for n in cols) + " | hupwatch ÷ tini-static | hupwatch ÷ dumb-init |")
    w("| --- |" + " ---: |" * (len(cols) + 2))
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

        w(f"| {title} | " + " | ".join(cells) + f" | {rr('tini-static')} | {rr('dumb-init')} |")
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

    w("## Machine and versions")
    w("")
    w("| | |")
    w("| --- | --- |")
    for key in ("date", "cpu", "cores", "memory", "kernel", "os", "hupwatch", "commit", "rustc",
                "nightly", "tini-static", "dumb-init", "tini-musl", "load", "mode", "params"):
        if key in info:
            w(f"| {key} | {info[key]} |")
    w("")

    w("## How each number is taken")
    w("")
    w("Inits run as `hupwatch -- CMD`, `tini-static -s -- CMD` (`-s`: subreaper, as hupwatch is one")
    w("when it is not PID 1; it also silences tini's warning) and `dumb-init -- CMD`, all with their")
    w("default options. The helper `benches/hwbench.c` spawns them with posix_spawn and stamps")
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
    print("\n".join(out))


if __name__ == "__main__":
    main()
