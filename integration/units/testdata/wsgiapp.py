# A WSGI app for gunicorn, which takes the socket from LISTEN_FDS itself.
import os


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("gunicorn worker=%s\n" % os.environ.get("SDLAUNCH_WORKER")).encode()]
