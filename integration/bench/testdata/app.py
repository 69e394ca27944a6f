# The benchmark's app: the Flask app of seed 001 (../shared/seeds/ from the
# repository root), served by Debian's gunicorn in every scenario, so that
# only what supervises it differs. Every answer names the process that
# served it (X-Worker-Pid), which the bench uses to see when a new worker
# first accepted and how evenly the workers share the requests; /cpu is a
# CPU-bound handler for the accept-balance measurement.
import os

from flask import Flask

app = Flask(__name__)


@app.after_request
def served_by(resp):
    resp.headers["X-Worker-Pid"] = str(os.getpid())
    return resp


@app.route("/")
def index():
    return "SUCCESS"


@app.route("/cpu")
def cpu():
    n = 0
    for i in range(20000):
        n += i * i
    return str(n)


if __name__ == "__main__":
    # Werkzeug's dev server, which logs one line per request: under
    # sdlaunch (and in the bench's baseline) WERKZEUG_SERVER_FD makes it
    # serve on the inherited socket instead of binding this port.
    app.run(host="127.0.0.1", port=8000)
