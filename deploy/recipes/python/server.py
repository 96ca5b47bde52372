#!/usr/bin/env python3
"""A plain standard-library HTTP server for `hupwatch --listen ... --notify`.

It takes its listening socket from fd 3 (systemd socket activation), says READY=1 on
NOTIFY_SOCKET once it serves, and on SIGTERM stops accepting, finishes every connection it
has accepted, and exits 0. Connections still queued on the shared socket are left to the
next generation.
"""

import os
import signal
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LISTEN_FDS_START = 3


def passed_socket():
    """The first socket hupwatch (or systemd) passed, after checking it is meant for us."""
    ours = os.environ.get("LISTEN_PID") == str(os.getpid())
    if not ours or int(os.environ.get("LISTEN_FDS", "0")) < 1:
        raise SystemExit("server.py: no socket passed; run it under hupwatch --listen")
    return socket.socket(fileno=LISTEN_FDS_START)


def notify(message):
    """Send one sd_notify message; a no-op without NOTIFY_SOCKET."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    if path.startswith("@"):  # abstract namespace
        path = "\0" + path[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(message, path)


class Hello(BaseHTTPRequestHandler):
    timeout = 10  # a silent client cannot hold a draining generation forever

    def do_GET(self):
        body = b"pid %d\n" % os.getpid()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() waits for the requests in flight


def main():
    server = Server(None, Hello, bind_and_activate=False)
    server.socket.close()  # the unbound socket the constructor made
    server.socket = passed_socket()
    server.server_address = server.socket.getsockname()
    # shutdown() waits for serve_forever() to return, so it cannot run in the handler itself.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    notify(b"READY=1")
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
