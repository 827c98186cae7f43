"""The daemon's log lines: one handler on the root logger, the request's ids on every line, and
secrets masked on the way out.

``configure_logging(level, fmt)`` installs that handler (stderr; ``fmt`` "json" or "text") and
routes uvicorn's loggers through it. A JSON line is one object::

    {"ts": "2026-01-02T03:04:05.678Z", "level": "INFO", "logger": "clearinghouse.api.http",
     "message": "...", "request_id": "...", "gateway_id": 7, "exc_info": "Traceback ..."}

``request_id`` and ``gateway_id`` appear when known, ``exc_info`` with an exception.

The request context lives in context variables: the HTTP app and the gRPC servicer call
``start_request`` when a call arrives and ``bind_gateway`` once the caller is authenticated.
Context variables do not follow work into a ThreadPoolExecutor by themselves, so the transports
submit blocking work through ``contextvars.copy_context().run``; a line logged by a signing thread
then carries the ids of the request it works for.

``SecretMaskingFilter`` is the last line of defence, not the policy: messages are written without
secrets in the first place (chain/redact.py for RPC URLs, ledger for database URLs). It masks
gateway API keys (``chk_`` + more than their 8 display characters), 64-hex-digit words (the shape
of a private key; a transaction hash in a log line is masked too, the price of not telling them
apart) and URL userinfo (``scheme://user:pass@`` → ``scheme://***@``).
"""

from __future__ import annotations

import json
import logging
import random
import re
import secrets
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

from clearinghouse.chain.redact import MASK

LOG_FORMATS = ("json", "text")

REQUEST_ID_BYTES = 8
"""16 hex characters: unique enough to find one request's lines among a day's."""

_request_ids = random.Random(secrets.randbits(128))
"""Request ids need to be distinct, not secret: a seeded generator makes one without the system
call of ``secrets`` (a sixteenth of the event loop's time per signing call, py-spy 2026-12-07)."""

REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
"""A client's X-Request-Id we accept as ours: short, and nothing that could forge a log line or
smuggle markup into the dashboard."""

LIBRARY_LOGGERS_FLOOR = {"web3": logging.INFO, "urllib3": logging.INFO, "asyncio": logging.INFO,
                         "hpack": logging.INFO, "multipart": logging.INFO, "alembic": logging.WARNING}
"""Libraries whose debug lines drown ours (web3 logs every RPC request and response, ~2,000
lines in 25 s of a devnet): at ``debug`` the handler writes theirs from info up only. Alembic's
info lines (a plugin list and one line per migration, a screenful on a new ledger) are not the
operator's business: its warnings and errors still show, and `db upgrade` prints the revision."""

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
"""uvicorn's loggers; their records propagate to our root handler instead of uvicorn's own, at
the root's level."""

API_KEY_DISPLAY_CHARS = 12
"""``chk_`` + 8 characters stay visible, as in api_keys.API_KEY_DISPLAY_CHARS: enough to tell
which key leaked, never enough to use it."""

_API_KEY = re.compile(r"(chk_[A-Za-z0-9_-]{8})[A-Za-z0-9_-]+")
_HEX_64 = re.compile(r"(?<![0-9A-Za-z])(?:0x)?[0-9A-Fa-f]{64}(?![0-9A-Za-z])")
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")

_request_id: ContextVar[str | None] = ContextVar("clearinghouse_request_id", default=None)
_gateway_id: ContextVar[int | None] = ContextVar("clearinghouse_gateway_id", default=None)
_usage_subject: ContextVar[str | None] = ContextVar("clearinghouse_usage_subject", default=None)


def start_request(client_request_id: str | None = None) -> str:
    """Bind a request id to the current context and return it: the client's when it matches
    REQUEST_ID_PATTERN, else a fresh one. Forgets any gateway bound before."""
    if client_request_id is not None and REQUEST_ID_PATTERN.fullmatch(client_request_id):
        request_id = client_request_id
    else:
        request_id = f"{_request_ids.getrandbits(REQUEST_ID_BYTES * 8):0{REQUEST_ID_BYTES * 2}x}"
    _request_id.set(request_id)
    _gateway_id.set(None)
    _usage_subject.set(None)
    return request_id


def bind_gateway(gateway_id: int, usage_subject: str | None = None) -> None:
    """Name the authenticated caller's gateway on the current request's lines, and remember the
    end user it calls for (a refusal's event names it; never logged: it may identify a person)."""
    _gateway_id.set(gateway_id)
    _usage_subject.set(usage_subject)


def current_request_id() -> str | None:
    """The current request's id; None outside a request."""
    return _request_id.get()


def current_gateway_id() -> int | None:
    """The current request's gateway; None before authentication or outside a request."""
    return _gateway_id.get()


def current_usage_subject() -> str | None:
    """The current request's usage subject, once authenticated; else None."""
    return _usage_subject.get()


def mask_secrets(text: str) -> str:
    """``text`` with API keys, 64-hex-digit words and URL userinfo masked."""
    text = _API_KEY.sub(rf"\g<1>{MASK}", text)
    text = _HEX_64.sub(MASK, text)
    return _USERINFO.sub(rf"\g<1>{MASK}@", text)


class RequestContextFilter(logging.Filter):
    """Puts the current request's ids on each record (``request_id``, ``gateway_id``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        record.gateway_id = _gateway_id.get()
        return True


class SecretMaskingFilter(logging.Filter):
    """Rewrites each record's message, traceback and stack with ``mask_secrets``.

    The traceback is rendered here (and kept in ``exc_text``, which formatters reuse) because a
    secret in an exception's message would otherwise reach the output unmasked.
    """

    _render = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = mask_secrets(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._render.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "gateway_id"):
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``<time> <level> <logger> [request … gateway …] <message>`` for a person at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = [
            f"{label} {value}"
            for label, value in (("request", getattr(record, "request_id", None)),
                                 ("gateway", getattr(record, "gateway_id", None)))
            if value is not None
        ]
        record.context = f" [{' '.join(ids)}]" if ids else ""
        return super().format(record)


class LibraryNoiseFilter(logging.Filter):
    """Drops the lines of LIBRARY_LOGGERS_FLOOR's libraries under their floor at the handler, so
    `debug` shows the daemon's own; the loggers' levels stay as they are (tests and callers may
    lower them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        for library, floor in LIBRARY_LOGGERS_FLOOR.items():
            if name == library or name.startswith(library + "."):
                return record.levelno >= floor
        return True


def configure_logging(level: str, fmt: str = "json", *, stream: TextIO | None = None) -> logging.Handler:
    """Replace the root logger's handlers with one writing ``fmt`` lines to ``stream`` (stderr)
    at ``level`` and above; uvicorn's loggers lose their own handlers and levels and propagate to
    it. uvicorn must then be started with ``log_config=None``, or its dictConfig reinstalls them.

    Returns the handler. Raises ValueError for an unknown ``fmt`` or ``level``.
    """
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        raise ValueError(f"unknown log level {level!r}")
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.addFilter(LibraryNoiseFilter())
    handler.addFilter(RequestContextFilter())
    handler.addFilter(SecretMaskingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric_level)
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    return handler
