# An ASGI app for uvicorn: python3 -m uvicorn --fd 3 asgiapp:app
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok\n"})
