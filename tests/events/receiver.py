"""A loopback HTTP receiver of CloudEvents batches (also an alert webhook): it records every
POST's content type and JSON body and answers 200, or 500 while told to fail."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from clearinghouse.api.server import serving


@dataclass
class Receiver:
    """What the loopback receiver got: every POST's content type and JSON body, and the
    statuses it answered; ``fail_next`` POSTs are answered 500."""

    url: str = ""
    posts: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted_events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [event for (_, body), status in zip(self.posts, self.statuses, strict=True)
                    if status == 200 for event in body]


def _receiver_app(receiver: Receiver) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        content_type = dict(scope["headers"]).get(b"content-type", b"").decode()
        with receiver.lock:
            status = 500 if receiver.fail_next > 0 else 200
            receiver.fail_next -= status == 500
            receiver.posts.append((content_type, json.loads(body) if body else []))
            receiver.statuses.append(status)
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok" if status == 200 else b"receiver failing"})

    return app


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A CloudEvents batch receiver on a loopback port (also usable as an alert webhook)."""
    made = Receiver()
    with serving(_receiver_app(made)) as url:
        made.url = url + "/api/v1/events"
        yield made
