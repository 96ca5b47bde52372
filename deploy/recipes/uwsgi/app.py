"""A minimal WSGI app for the uWSGI recipe: answers `pid N`, N being the uWSGI master's pid
(the process hupwatch started), whichever worker serves the request."""

import os


def application(environ, start_response):
    body = b"pid %d\n" % os.getppid()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
