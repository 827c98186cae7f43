"""clearinghouse.logs: the JSON and text lines, the request context, and the masking of secrets."""

from __future__ import annotations

import contextvars
import io
import json
import logging
from collections.abc import Iterator

import pytest

from clearinghouse.logs import (
    REQUEST_ID_PATTERN,
    UVICORN_LOGGERS,
    bind_gateway,
    configure_logging,
    current_gateway_id,
    current_request_id,
    mask_secrets,
    start_request,
)

API_KEY = "chk_NbijFWAwierKLH2bsE9SndLhxRF0ZoxGlZcmy9hn9no"
PRIVATE_KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers (pytest's own among them); put them back."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    uvicorn = {name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate,
                      logging.getLogger(name).level) for name in UVICORN_LOGGERS}
    try:
        yield
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, (handlers, propagate, level) in uvicorn.items():
            logging.getLogger(name).handlers[:] = handlers
            logging.getLogger(name).propagate = propagate
            logging.getLogger(name).setLevel(level)


@pytest.fixture
def json_lines(restore_logging: None) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    yield stream


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_has_its_fields_and_the_request_context(json_lines: io.StringIO) -> None:
    # A fresh context: an earlier test in this thread may have started a request.
    contextvars.Context().run(logging.getLogger("clearinghouse.test").info, "outside %s", "a request")
    request_id = start_request()
    bind_gateway(7)
    logging.getLogger("clearinghouse.test").warning("signed %d tickets", 3)
    outside, inside = lines(json_lines)
    assert outside == {"ts": outside["ts"], "level": "INFO", "logger": "clearinghouse.test",
                       "message": "outside a request"}
    assert str(outside["ts"]).endswith("Z") and "T" in str(outside["ts"])
    assert (inside["level"], inside["message"]) == ("WARNING", "signed 3 tickets")
    assert (inside["request_id"], inside["gateway_id"]) == (request_id, 7)


def test_an_exception_is_one_line_with_its_traceback_as_a_string(json_lines: io.StringIO) -> None:
    try:
        raise RuntimeError(f"boom with {API_KEY}")
    except RuntimeError:
        logging.getLogger("clearinghouse.test").exception("call failed")
    assert len(json_lines.getvalue().splitlines()) == 1
    (line,) = lines(json_lines)
    assert isinstance(line["exc_info"], str) and "RuntimeError: boom with chk_NbijFWAw***" in line["exc_info"]
    assert API_KEY not in json_lines.getvalue()


def test_the_handler_masks_every_secret_kind(json_lines: io.StringIO) -> None:
    logger = logging.getLogger("clearinghouse.test")
    logger.info("key %s", API_KEY)
    logger.info("private key 0x%s and bare %s", PRIVATE_KEY, PRIVATE_KEY.upper())
    logger.info("rpc https://user:s3cret@arb.example/rpc and db postgresql://ch:pa55@db:5432/ledger")
    text = json_lines.getvalue()
    for secret in (API_KEY, PRIVATE_KEY, PRIVATE_KEY.upper(), "s3cret", "pa55", "user:"):
        assert secret not in text
    key_line, private_line, url_line = (str(line["message"]) for line in lines(json_lines))
    assert key_line == "key chk_NbijFWAw***"
    assert private_line == "private key *** and bare ***"
    assert url_line == "rpc https://***@arb.example/rpc and db postgresql://***@db:5432/ledger"


def test_masking_keeps_what_is_not_a_secret() -> None:
    text = "gateway 3 key chk_NbijFWAw (display prefix), nonce 0x2a, hash 63 hex " + "a" * 63
    assert mask_secrets(text) == text
    assert mask_secrets("see https://arb.example/v3 and " + "b" * 65) == "see https://arb.example/v3 and " + "b" * 65


def test_text_format_names_the_request(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("info", "text", stream=stream)
    logging.getLogger("clearinghouse.test").debug("hidden below info")
    request_id = start_request("client-id.1")
    bind_gateway(9)
    logging.getLogger("clearinghouse.test").info("with %s", API_KEY)
    (line,) = stream.getvalue().splitlines()
    assert line.endswith(f" INFO clearinghouse.test [request {request_id} gateway 9] with chk_NbijFWAw***")


def test_uvicorn_records_go_through_the_one_handler(restore_logging: None) -> None:
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.addHandler(logging.StreamHandler(io.StringIO()))
    uvicorn_error.propagate = False
    uvicorn_error.setLevel(logging.WARNING)  # as a uvicorn started with log_level="warning" leaves it
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    assert len(logging.getLogger().handlers) == 1
    uvicorn_error.info("Started server process")
    (line,) = lines(stream)
    assert (line["logger"], line["message"]) == ("uvicorn.error", "Started server process")
    assert uvicorn_error.handlers == []


def test_a_bad_format_or_level_is_refused(restore_logging: None) -> None:
    with pytest.raises(ValueError, match="log format"):
        configure_logging("info", "xml")
    with pytest.raises(ValueError, match="log level"):
        configure_logging("loud")


@pytest.mark.parametrize(
    ("client", "kept"),
    [("abc-123_X.y", True), ("a" * 64, True), ("a" * 65, False), ("bad id", False), ("x\ny", False),
     ("<script>", False), ("", False), (None, False)],
)
def test_a_client_request_id_is_used_only_when_safe(client: str | None, kept: bool) -> None:
    request_id = start_request(client)
    assert (request_id == client) is kept
    assert REQUEST_ID_PATTERN.fullmatch(request_id) and current_request_id() == request_id


def test_a_new_request_forgets_the_gateway() -> None:
    start_request()
    bind_gateway(4)
    start_request()
    assert current_gateway_id() is None


def test_debug_shows_our_lines_but_not_web3s_request_dumps(json_lines: io.StringIO) -> None:
    logging.getLogger("web3.providers.HTTPProvider").debug("Making request HTTP. Method: eth_call")
    logging.getLogger("urllib3.connectionpool").debug('"POST / HTTP/1.1" 200 42')
    logging.getLogger("web3.manager").warning("a web3 warning stays")
    logging.getLogger("clearinghouse.chain.monitor").debug("our own debug line")
    assert [line["message"] for line in lines(json_lines)] == ["a web3 warning stays", "our own debug line"]
