"""A WSGI app for waitress, uwsgi and twisted: every answer names the
process that served it and its sdlaunch generation; /slow?ms=N sleeps."""
import os
import time
from urllib.parse import parse_qs


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/slow":
        ms = int(parse_qs(environ.get("QUERY_STRING", "")).get("ms", ["0"])[0])
        time.sleep(ms / 1000)
        body = "slept %d ms, pid %d\n" % (ms, os.getpid())
    else:
        body = "hello from pid %d generation %s\n" % (os.getpid(), os.environ.get("SDLAUNCH_GENERATION", "?"))
    data = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]


application = app
