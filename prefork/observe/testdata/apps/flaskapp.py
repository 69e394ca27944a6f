# Seed 000's shape: Flask's own server, threaded, unmodified. Run with
# WERKZEUG_RUN_MAIN=true WERKZEUG_SERVER_FD=3 to serve on the inherited socket.
from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return "ok\n"


if __name__ == "__main__":
    print("waiting", flush=True)
    app.run(host="127.0.0.1", port=8000, debug=False, threaded=True)
