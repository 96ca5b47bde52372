"""HTTP load client for scripts/gunicorn-e2e and scripts/demo (standard library only).

Keeps concurrent GET requests going against a TCP or unix socket address until told to stop,
and checks every answer: status 200 and a body `release NAME` where NAME is a release the
driver allows at that moment. Half of the threads open a fresh connection per request
(`Connection: close`), the other half keep connections alive.

The driver steers it with lines on stdin, each acknowledged by writing its line number to
the --ack file:
    allow NAME...   requests from now on may be answered by any of these releases
    stop            finish the requests in flight, print the summary, exit
A request is judged against every release allowed at some point between its start and its
end, because a connection queued in the shared listen backlog may be accepted by either
generation while both are up.

Keep-alive: a server may close an idle persistent connection at any time (a draining
generation does exactly that), and HTTP clients then resend an idempotent request once on a
new connection (RFC 9112 section 9.3.1). We do the same, but only when the connection was
reused and it failed before a status line arrived; such resends are counted and printed.
A failure while reading the body, or on a fresh connection, is always a failure.

Exit status: 0 when every request got a right answer, 1 otherwise (0 with --report-only).
With --once it sends a single request and prints the answer or the error.
"""

import argparse
import http.client
import os
import random
import socket
import sys
import threading
import time

TIMEOUT = 10.0


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTPConnection over a unix stream socket."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class Allowed:
    """The releases the driver allows, as a history indexed by control line number."""

    def __init__(self):
        self.lock = threading.Lock()
        self.history = [None]  # None: any release (before the first `allow`)
        self.started = [0]  # requests started in each phase

    def begin(self):
        with self.lock:
            seq = len(self.history) - 1
            self.started[seq] += 1
            return seq

    def now(self):
        with self.lock:
            return len(self.history) - 1

    def started_now(self):
        """Requests started in the current phase."""
        with self.lock:
            return self.started[-1]

    def allow(self, names):
        with self.lock:
            self.history.append(frozenset(names))
            self.started.append(0)

    def union(self, first, last):
        """The releases allowed at some point in phases first..last, None for any."""
        names = set()
        with self.lock:
            for phase in self.history[first:last + 1]:
                if phase is None:
                    return None
                names |= phase
        return names


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.served = 0
        self.by_release = {}
        self.failures = []  # (seconds since start, thread, description)
        self.reused = 0
        self.stale_retries = 0
        self.slowest = 0.0

    def ok(self, release, seconds):
        with self.lock:
            self.served += 1
            self.by_release[release] = self.by_release.get(release, 0) + 1
            self.slowest = max(self.slowest, seconds)

    def fail(self, when, thread, what):
        with self.lock:
            self.failures.append((when, thread, what))


def connection(args):
    if args.unix:
        return UnixHTTPConnection(args.unix, TIMEOUT)
    host, port = args.tcp.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)


STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def send(conn, path, keep_alive):
    """Send one GET on conn and return the response, its status line and headers read."""
    headers = {} if keep_alive else {"Connection": "close"}
    conn.request("GET", path, headers=headers)
    return conn.getresponse()


def one_request(conn, path, keep_alive):
    """Send one GET on conn and return (status, body). Raises on any error."""
    response = send(conn, path, keep_alive)
    return response.status, response.read()


def worker(index, args, allowed, stats, stop, t0):
    keep_alive = index % 2 == 1
    rng = random.Random(index)
    conn = None
    used = 0  # requests already sent on conn
    while not stop.is_set():
        path = "/?sleep=%.3f" % rng.uniform(0.02, 0.2) if rng.random() < 0.1 else "/"
        first = allowed.begin()
        start = time.monotonic()
        try:
            if conn is None:
                conn, used = connection(args), 0
            try:
                response = send(conn, path, keep_alive)
            except STALE:
                if not (keep_alive and used > 0):
                    raise
                # The server closed the idle connection before answering this request.
                conn.close()
                conn, used = connection(args), 0
                with stats.lock:
                    stats.stale_retries += 1
                response = send(conn, path, keep_alive)
            status, body = response.status, response.read()
            if keep_alive and used > 0:
                with stats.lock:
                    stats.reused += 1
            used += 1
            if not keep_alive:
                conn.close()
                conn = None
        except Exception as exc:  # every kind of failure is counted and shown
            stats.fail(start - t0, index, "%s: %s" % (type(exc).__name__, exc))
            if conn is not None:
                conn.close()
                conn = None
            # Do not spin on a dead address in report-only runs.
            stop.wait(0.02)
            continue
        elapsed = time.monotonic() - start
        text = body.decode("utf-8", "replace")
        names = allowed.union(first, allowed.now())
        release = text[len("release "):].strip() if text.startswith("release ") else None
        if status != 200 or release is None:
            stats.fail(start - t0, index, "HTTP %d %r" % (status, text[:80]))
        elif names is not None and release not in names:
            stats.fail(start - t0, index, "answered by release %s, allowed: %s"
                       % (release, " ".join(sorted(names))))
        else:
            stats.ok(release, elapsed)
    if conn is not None:
        conn.close()


def acknowledge(path, seq):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % seq)
    os.replace(tmp, path)


def probe(args):
    conn = connection(args)
    try:
        status, body = one_request(conn, "/", False)
    except Exception as exc:
        print("%s: %s" % (type(exc).__name__, exc))
        return 1
    finally:
        conn.close()
    print("HTTP %d %s" % (status, body.decode("utf-8", "replace").strip()))
    return 0 if status == 200 else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--tcp", metavar="HOST:PORT")
    target.add_argument("--unix", metavar="PATH")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--ack", metavar="FILE", help="write the number of each control line done")
    parser.add_argument("--max-seconds", type=float, default=300,
                        help="stop by itself after this long (a safety net)")
    parser.add_argument("--report-only", action="store_true",
                        help="print failures but exit 0")
    parser.add_argument("--show", type=int, default=25, metavar="N",
                        help="print the first N failures one by one")
    parser.add_argument("--once", action="store_true",
                        help="send one request, print the answer or the error, exit 0 if it was 200")
    args = parser.parse_args()
    if args.once:
        return probe(args)

    allowed, stats, stop = Allowed(), Stats(), threading.Event()
    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i, args, allowed, stats, stop, t0),
                                daemon=True) for i in range(args.threads)]
    for t in threads:
        t.start()

    # stdin is read in its own thread so that --max-seconds holds even if the driver hangs.
    def control():
        seq = 0
        for line in sys.stdin:
            words = line.split()
            seq += 1
            if words and words[0] == "allow":
                allowed.allow(words[1:])
            elif words and words[0] == "settle":
                # Acknowledged once a request has started in the current phase, so that the
                # driver never leaves a phase before it was put to the test, however slowly
                # the machine runs the client (a bounded wait: a real stall is still reported).
                deadline = time.monotonic() + 8
                while allowed.started_now() == 0 and time.monotonic() < deadline and not stop.is_set():
                    time.sleep(0.005)
            elif words and words[0] == "stop":
                break
            if args.ack:
                acknowledge(args.ack, seq)
        stop.set()

    threading.Thread(target=control, daemon=True).start()
    if not stop.wait(args.max_seconds):
        stats.fail(time.monotonic() - t0, -1, "no `stop` after %g s" % args.max_seconds)
        stop.set()
    for t in threads:
        t.join(TIMEOUT + 5)

    # A phase that names a single release claims that release serves: it must not be vacuous.
    empty = [" ".join(p) for p, n in zip(allowed.history, allowed.started)
             if p is not None and len(p) == 1 and n == 0]
    failed = len(stats.failures)
    print("requests: %d served, %d failed" % (stats.served, failed))
    print("  by release: " + ", ".join("%s %d" % kv for kv in sorted(stats.by_release.items())))
    print("  keep-alive: %d requests on reused connections, %d resent after the server "
          "closed an idle connection" % (stats.reused, stats.stale_retries))
    print("  slowest answer: %.3f s" % stats.slowest)
    kinds = {}
    for _, _, what in stats.failures:
        kind = what.split(":")[0] if not what.startswith("answered") else "wrong release"
        kinds[kind] = kinds.get(kind, 0) + 1
    if kinds:
        print("  failures: " + ", ".join("%s %d" % kv for kv in sorted(kinds.items())))
    for when, thread, what in stats.failures[:args.show]:
        print("  FAILED at %7.3f s (thread %d): %s" % (when, thread, what))
    if failed > args.show:
        print("  ... and %d more failures" % (failed - args.show))
    for names in empty:
        print("  NO REQUEST started while only %s was allowed (load stalled?)" % names)
    sys.stdout.flush()
    if args.report_only:
        return 0
    return 1 if failed or empty or stats.served == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
