"""A tiny HTTP client for the tests: stdlib http.client, one connection per call, JSON bodies."""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message(self) -> str:
        message: str = self.json()["error"]["message"]
        return message


def request(
    base_url: str,
    method: str,
    path: str,
    body: bytes | Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """Send one request and read the whole answer."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=TIMEOUT_S)
    raw = json.dumps(body).encode() if isinstance(body, Mapping) else body
    try:
        connection.request(method, path, body=raw, headers=dict(headers or {}))
        response = connection.getresponse()
        return Reply(
            status=response.status,
            headers={name.lower(): value for name, value in response.getheaders()},
            body=response.read(),
        )
    finally:
        connection.close()


def post(
    base_url: str,
    path: str,
    body: bytes | Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    return request(base_url, "POST", path, body, headers)


def get(base_url: str, path: str) -> Reply:
    return request(base_url, "GET", path)
