"""Three ASGI stacks answering one remote-signer-sized JSON POST, to choose the HTTP framework."""

import json
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from fastapi import FastAPI, Request as FRequest

BODY = json.dumps({"payment": "A"*600, "segCreds": "B"*300, "state": {"State": "C"*500, "Sig": "D"*88}}).encode()

async def raw(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        m = await receive(); body += m.get("body", b"")
        if not m.get("more_body"): break
    json.loads(body)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": BODY})

async def handler(request: Request):
    json.loads(await request.body())
    return Response(BODY, media_type="application/json")
star = Starlette(routes=[Route("/generate-live-payment", handler, methods=["POST"])])

fast = FastAPI()
@fast.post("/generate-live-payment")
async def fh(request: FRequest):
    json.loads(await request.body())
    return Response(BODY, media_type="application/json")
