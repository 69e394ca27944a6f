# A release that cannot boot: its import fails, as when a deploy ships code
# that needs a module or setting the host does not have.
import os

import flask

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "RELEASE")) as f:
    RELEASE = f.read().strip()

raise RuntimeError("release %s cannot boot (broken on purpose by the fleet test)" % RELEASE)

app = flask.Flask(__name__)
