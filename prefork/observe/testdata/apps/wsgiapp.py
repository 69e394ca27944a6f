# A WSGI app for gunicorn: gunicorn -w N wsgiapp:app
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]
