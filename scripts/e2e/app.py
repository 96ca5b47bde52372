"""A tiny WSGI app for scripts/gunicorn-e2e.

Every response names the release it came from (the name of the directory this file was
imported from, resolved at import time), so the load client can tell which generation
answered. `?sleep=SECS` keeps a request in flight across a reload, so draining is exercised.
"""

import os
import time

HERE = os.path.dirname(os.path.realpath(__file__))
RELEASE = os.path.basename(HERE)
BODY = ("release %s\n" % RELEASE).encode()

# While a file named `hold` is beside this one, importing waits (at most 20 s): the driver
# uses it to make sure the signals it sends arrive while this generation is still starting.
_deadline = time.monotonic() + 20
while os.path.exists(os.path.join(HERE, "hold")) and time.monotonic() < _deadline:
    time.sleep(0.01)


def app(environ, start_response):
    query = environ.get("QUERY_STRING", "")
    if query.startswith("sleep="):
        time.sleep(min(float(query[len("sleep="):]), 1.0))
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(BODY)))])
    return [BODY]
