"""An ASGI app for uvicorn and hypercorn: every answer names the process
that served it and its sdlaunch generation; /slow?ms=N sleeps."""
import asyncio
import os
from urllib.parse import parse_qs


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        ms = int(parse_qs(scope["query_string"].decode()).get("ms", ["0"])[0])
        await asyncio.sleep(ms / 1000)
        body = "slept %d ms, pid %d\n" % (ms, os.getpid())
    else:
        body = "hello from pid %d generation %s\n" % (os.getpid(), os.environ.get("SDLAUNCH_GENERATION", "?"))
    data = body.encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
