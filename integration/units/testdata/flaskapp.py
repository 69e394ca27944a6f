# A Flask app served by app.run(): sdlaunch sets WERKZEUG_SERVER_FD so the
# development server accepts on the inherited socket (fd 3).
import os
from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return "flask worker=%s\n" % os.environ.get("SDLAUNCH_WORKER")


if __name__ == "__main__":
    app.run()
