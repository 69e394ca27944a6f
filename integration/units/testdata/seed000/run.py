#!/usr/bin/python3
# Seed 000's Flask app as its user runs it: an executable ./run.py that calls
# app.run() with a fixed host and port, started by supervisord through
# /bin/bash -E -c ./run.py in /opt/techcoil/flask-app. Unmodified for
# sdlaunch: Werkzeug serves the inherited socket (WERKZEUG_SERVER_FD).
import os

from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return "flask-app pid=%d\n" % os.getpid()


if __name__ == "__main__":
    app.run(host='0.0.0.0', port=8000, debug=False, threaded=True)
