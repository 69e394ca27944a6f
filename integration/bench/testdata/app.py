# The benchmark's app: the Flask app of seed 001 (../shared/seeds/ from the
# repository root), served by Debian's gunicorn in every scenario, so that
# only what supervises it differs.
from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return "SUCCESS"
