#!/usr/bin/env python3
"""Zero-downtime check for a server running under hupwatch (standard library only).

    reload-check.py [--reloads 3] [--threads 4] URL HUPWATCH_PID

URL is http://HOST:PORT/PATH or unix:SOCKET_PATH.

Keeps a few client threads sending GET URL, each on a fresh connection, while it sends
the reload signal (SIGHUP) to hupwatch RELOADS times. Every answer must be status 200 with
a body containing `pid N`, the pid of the answering process (for nginx and Hypercorn a
worker's). After each SIGHUP it waits until a pid it has not seen before answers and the
older pids have gone quiet, so a reload counts only when a new generation really took
over (a new generation on a shared socket answers before hupwatch promotes it).

Prints the number of requests, failures, reloads, the slowest answer, and the pids in the
order they first answered. Exit status 0 only when no request failed and every reload
brought exactly one new pid.
"""

import argparse
import http.client
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse

PID = re.compile(rb"pid (\d+)")


class Tally:
    """Counts shared by the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.failures = []
        self.pids = []  # in the order they first answered
        self.last = {}  # pid -> monotonic time of its latest answer
        self.slowest = 0.0  # seconds, over all answered requests
        self.stop = threading.Event()

    def answered(self, pid, took):
        with self.lock:
            self.requests += 1
            self.slowest = max(self.slowest, took)
            if pid not in self.pids:
                self.pids.append(pid)
            self.last[pid] = time.monotonic()

    def only_newest_answers(self, quiet):
        """True when no pid but the newest has answered for `quiet` seconds."""
        with self.lock:
            old = [self.last[p] for p in self.pids[:-1]]
        return all(time.monotonic() - t >= quiet for t in old)

    def failed(self, why):
        with self.lock:
            self.requests += 1
            self.failures.append(why)


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTPConnection over a unix stream socket."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def connection(url, timeout):
    if url.startswith("unix:"):
        return UnixHTTPConnection(url[len("unix:"):], timeout), "/"
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout), u.path or "/"


def request(url, timeout):
    """One GET on a fresh connection; returns the answering pid or raises."""
    conn, path = connection(url, timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        raise RuntimeError("status %d" % resp.status)
    m = PID.search(body)
    if not m:
        raise RuntimeError("no pid in body %r" % body[:80])
    return int(m.group(1))


def client(tally, url, pause):
    while not tally.stop.is_set():
        start = time.monotonic()
        try:
            pid = request(url, timeout=10)
            tally.answered(pid, time.monotonic() - start)
        except Exception as e:  # every kind of failure counts
            tally.failed("%s: %s" % (type(e).__name__, e))
        time.sleep(pause)


def wait_until(cond, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("hupwatch_pid", type=int)
    ap.add_argument("--reloads", type=int, default=3)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--pause", type=float, default=0.01, help="seconds between a thread's requests")
    ap.add_argument("--settle", type=float, default=0.5, help="seconds of load after each takeover")
    ap.add_argument("--timeout", type=float, default=30, help="seconds to wait for a takeover")
    args = ap.parse_args()

    def up():
        try:
            request(args.url, timeout=1)
            return True
        except Exception:
            return False

    if not wait_until(up, args.timeout):
        sys.exit("reload-check: %s does not answer" % args.url)

    tally = Tally()
    threads = [threading.Thread(target=client, args=(tally, args.url, args.pause))
               for _ in range(args.threads)]
    started = time.monotonic()
    for t in threads:
        t.start()
    reloads = 0
    try:
        wait_until(lambda: tally.pids, 5)
        time.sleep(args.settle)
        for _ in range(args.reloads):
            with tally.lock:
                seen = len(tally.pids)
            os.kill(args.hupwatch_pid, signal.SIGHUP)
            if not wait_until(lambda: len(tally.pids) > seen, args.timeout):
                print("reload-check: no new pid answered within %gs" % args.timeout)
                break
            if not wait_until(lambda: tally.only_newest_answers(0.3), args.timeout):
                print("reload-check: the old pid still answers after %gs" % args.timeout)
                break
            reloads += 1
            time.sleep(args.settle)
    finally:
        tally.stop.set()
        for t in threads:
            t.join()
    elapsed = time.monotonic() - started

    print("requests %d, failed %d, reloads %d/%d, %.1f s, slowest answer %d ms" % (
        tally.requests, len(tally.failures), reloads, args.reloads, elapsed,
        tally.slowest * 1000))
    print("pids in order of first answer: %s" % " ".join(map(str, tally.pids)))
    for why in tally.failures[:10]:
        print("  failed: %s" % why)
    ok = not tally.failures and reloads == args.reloads and len(tally.pids) == reloads + 1
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
