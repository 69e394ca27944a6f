# The Flask app of seed 000, unmodified in style: it calls app.run() with a
# fixed host and port, exactly as it would on a laptop.
#
# Under sdlaunch it does not bind anything: sdlaunch sets WERKZEUG_RUN_MAIN=true
# and WERKZEUG_SERVER_FD=3 for every worker, so Werkzeug's development server
# takes over the socket sdlaunch (or systemd) passes as fd 3, and the port
# below is ignored.
#
#   sdlaunch run -w 4 --listen 127.0.0.1:8000 --stop-signal INT -- /usr/bin/python3 app.py
import os
import time

from flask import Flask, request

app = Flask(__name__)


@app.route('/')
def index():
    return 'hello from pid %d\n' % os.getpid()


@app.route('/slow')
def slow():
    ms = int(request.args.get('ms', '1000'))
    time.sleep(ms / 1000.0)
    return 'slept %d ms in pid %d\n' % (ms, os.getpid())


if __name__ == '__main__':
    app.run(host='0.0.0.0', port=8000, threaded=True)
