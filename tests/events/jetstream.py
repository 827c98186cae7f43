"""JetStream streams of a test's own, on the machine's NATS server or on one the test started:
created with a duplicate window longer than any test, read back message by message, deleted."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import nats

SHARED_NATS_URL = "nats://127.0.0.1:4222"
DUPLICATE_WINDOW_S = 600.0
"""JetStream drops a message whose Nats-Msg-Id it stored within this window: longer than any test."""


@dataclass
class Stream:
    """A JetStream stream of this test: its name, server and subject prefix."""

    url: str
    name: str
    prefix: str

    def messages(self) -> list[tuple[str, dict[str, Any], str]]:
        """Every stored message in stream order: (Nats-Msg-Id, CloudEvent, subject)."""
        return asyncio.run(self._messages())

    async def _messages(self) -> list[tuple[str, dict[str, Any], str]]:
        client = await nats.connect(self.url, connect_timeout=5)
        try:
            jetstream = client.jetstream()
            info = await jetstream.stream_info(self.name)
            found = []
            for sequence in range(info.state.first_seq, info.state.last_seq + 1):
                message = await jetstream.get_msg(self.name, sequence)
                headers = message.headers or {}
                found.append((headers.get("Nats-Msg-Id", ""), json.loads(message.data or b"{}"), message.subject))
            return found
        finally:
            await client.close()

    def count(self) -> int:
        async def count() -> int:
            client = await nats.connect(self.url, connect_timeout=5)
            try:
                return int((await client.jetstream().stream_info(self.name)).state.messages)
            finally:
                await client.close()
        return asyncio.run(count())


async def create_stream(url: str, name: str, prefix: str) -> None:
    client = await nats.connect(url, connect_timeout=5)
    try:
        await client.jetstream().add_stream(name=name, subjects=[f"{prefix}.>"], duplicate_window=DUPLICATE_WINDOW_S)
    finally:
        await client.close()


async def _delete_stream(url: str, name: str) -> None:
    client = await nats.connect(url, connect_timeout=5)
    try:
        await client.jetstream().delete_stream(name)
    finally:
        await client.close()


@contextmanager
def temporary_stream(url: str = SHARED_NATS_URL) -> Iterator[Stream]:
    """A uniquely named stream (subjects ``chtest.<token>.>``), deleted on exit."""
    token = secrets.token_hex(6)
    made = Stream(url, f"CHTEST_{token}", f"chtest.{token}")
    asyncio.run(create_stream(made.url, made.name, made.prefix))
    try:
        yield made
    finally:
        asyncio.run(_delete_stream(made.url, made.name))


