"""A WSGI app for waitress, uwsgi and twisted: every answer names the
process that served it and its sdlaunch generation."""
import os


def app(environ, start_response):
    body = "hello from pid %d generation %s\n" % (os.getpid(), os.environ.get("SDLAUNCH_GENERATION", "?"))
    data = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
