"""The CloudEvents-over-HTTP sink: one batch POST per batch, OpenMeter's ingest format."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import aiohttp

from clearinghouse.events.cloudevents import BATCH_CONTENT_TYPE
from clearinghouse.events.sinks import SinkError
from clearinghouse.events.limits import ERROR_TEXT_CHARS_MAX, HTTP_TIMEOUT_S


class HttpSink:
    """CloudEvents batch mode over HTTP: one POST of a JSON array per batch
    (``application/cloudevents-batch+json``), as OpenMeter's ``/api/v1/events`` ingests; any
    2xx answer accepts the batch, anything else (or no answer) is retried."""

    def __init__(self, url: str, *, name: str = "http", token: str | None = None) -> None:
        self._url = url
        self._name = name
        self._headers = {"Content-Type": BATCH_CONTENT_TYPE}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._session: aiohttp.ClientSession | None = None

    @property
    def name(self) -> str:
        return self._name

    async def publish(self, events: Sequence[dict[str, Any]]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S))
        body = json.dumps(list(events), separators=(",", ":")).encode()
        try:
            async with self._session.post(self._url, data=body, headers=self._headers) as answer:
                if 200 <= answer.status < 300:
                    return
                text = (await answer.text())[:ERROR_TEXT_CHARS_MAX]
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SinkError(f"POST to the receiver failed: {type(exc).__name__}: {exc}") from exc
        raise SinkError(f"receiver answered {answer.status}: {text!r}")

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
