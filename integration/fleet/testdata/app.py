# The fleet's test app: a Flask app under gunicorn that says which release
# it is (the RELEASE file beside it) and which worker answered.
import os

import flask

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "RELEASE")) as f:
    RELEASE = f.read().strip()

app = flask.Flask(__name__)


@app.get("/")
def index():
    return "release %s worker %s generation %s pid %d\n" % (
        RELEASE,
        os.environ.get("SDLAUNCH_WORKER", "?"),
        os.environ.get("SDLAUNCH_GENERATION", "?"),
        os.getpid(),
    )
