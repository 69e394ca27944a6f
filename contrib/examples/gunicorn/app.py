# A plain WSGI app for gunicorn.
#
# gunicorn reads LISTEN_FDS/LISTEN_PID itself (gunicorn/systemd.py) and then
# ignores --bind, so under sdlaunch it needs no address at all:
#
#   sdlaunch run -w 4 --listen 127.0.0.1:8000 -- /usr/bin/gunicorn -w 1 app:app
#
# Each sdlaunch worker is then one gunicorn arbiter with one sync worker.
import os
import time
from urllib.parse import parse_qs


def app(environ, start_response):
    path = environ.get('PATH_INFO', '/')
    if path == '/slow':
        qs = parse_qs(environ.get('QUERY_STRING', ''))
        ms = int(qs.get('ms', ['1000'])[0])
        time.sleep(ms / 1000.0)
        body = 'slept %d ms in pid %d\n' % (ms, os.getpid())
    elif path == '/':
        body = 'hello from pid %d (sdlaunch worker %s)\n' % (
            os.getpid(), os.environ.get('SDLAUNCH_WORKER', '?'))
    else:
        start_response('404 Not Found', [('Content-Type', 'text/plain')])
        return [b'not found\n']
    data = body.encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(data)))])
    return [data]
