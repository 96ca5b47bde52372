"""A tiny HTTP server for scripts/demo, standard library only.

It speaks the two systemd protocols that hupwatch --listen/--notify use, as gunicorn does:
it serves on the listening socket passed as descriptor 3 (LISTEN_FDS=1, LISTEN_PID = its
own pid) instead of binding one, and sends READY=1 to $NOTIFY_SOCKET once it can serve.

    demo_server.py RELEASE_FILE

The release name is read from RELEASE_FILE at start and every answer is `release NAME`.
A file saying `broken` makes it exit with 1 before it is ready, like a bad deploy.
On SIGTERM it stops accepting, finishes the requests in flight and exits with 0.
"""

import http.server
import os
import signal
import socket
import sys
import threading
import time

SD_LISTEN_FDS_START = 3


def listening_socket():
    """The socket passed by the systemd protocol, or exit with a clear message."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
        sys.exit("demo_server: expected one socket from LISTEN_FDS/LISTEN_PID "
                 "(run me under hupwatch --listen)")
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    return socket.socket(fileno=SD_LISTEN_FDS_START)


def notify(state):
    """Send one sd_notify message, if we were given a NOTIFY_SOCKET."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(state.encode(), address)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    timeout = 1  # an idle keep-alive connection is closed after 1 s, so draining ends
    disable_nagle_algorithm = True  # headers and body are two writes: avoid a 40 ms stall
    body = b""

    def do_GET(self):
        if "sleep=" in self.path:
            time.sleep(min(float(self.path.split("sleep=", 1)[1]), 1.0))
        self.send_response(200)
        if self.server.stopping:  # let a busy keep-alive client go, or we never finish
            self.send_header("Connection", "close")
            self.close_connection = True
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for the requests in flight
    stopping = False

    def handle_error(self, request, client_address):
        pass  # a client that goes away is not our problem


def main():
    with open(sys.argv[1]) as f:
        release = f.read().strip()
    sock = listening_socket()
    if release == "broken":
        time.sleep(0.1)  # crash a moment after start, as a real broken release would
        sys.exit("demo_server: release is broken, exiting")
    Handler.body = ("release %s\n" % release).encode()
    server = Server(sock.getsockname(), Handler, bind_and_activate=False)
    server.socket.close()  # the unbound socket socketserver made for us
    server.socket = sock

    def stop(signum, frame):
        server.stopping = True
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    notify("READY=1\nSTATUS=serving release %s" % release)
    server.serve_forever(poll_interval=0.05)
    server.server_close()


if __name__ == "__main__":
    main()
