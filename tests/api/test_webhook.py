"""Authorization by a go-livepeer-compatible webhook: a real loopback HTTP server plays it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from clearinghouse.api import WebhookAuthorizer, WebhookConfig
from tests.api.client import post
from tests.api.conftest import ORCHESTRATOR_B64, b64
from tests.api.fakes import FakePaymentService

PAY = "/generate-live-payment"
GATEWAY_ID = 42
WEBHOOK_SECRET = "Bearer webhook-secret"
STATE_JSON = {"StateID": "fake-state", "SequenceNumber": 0, "AuthID": ""}
STATE = {"State": b64(json.dumps(STATE_JSON).encode()), "Sig": b64(b"\x1b" * 65)}


@dataclass
class Webhook:
    """What the fake webhook answers (HTTP status, raw body, delay) and what it received."""

    http_status: int = 200
    answer: bytes = b'{"status": 200}'
    delay_s: float = 0.0
    received: list[tuple[dict[str, str], Any]] = field(default_factory=list)

    def reply(self, **fields: Any) -> None:
        self.answer = json.dumps(fields).encode()


@pytest.fixture
def webhook() -> Iterator[tuple[Webhook, str]]:
    state = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            state.received.append((dict(self.headers), json.loads(self.rfile.read(length))))
            time.sleep(state.delay_s)
            self.send_response(state.http_status)
            self.send_header("Content-Length", str(len(state.answer)))
            self.end_headers()
            self.wfile.write(state.answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads, server.block_on_close = (
        True,
        False,
    )  # a slow handler must not delay teardown
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/authorize?tenant=t1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def webhook_server(
    webhook: tuple[Webhook, str],
    fake_service: FakePaymentService,
    serve: Callable[..., AbstractContextManager[str]],
) -> Iterator[str]:
    config = WebhookConfig(
        url=webhook[1],
        gateway_id=GATEWAY_ID,
        headers={"Authorization": WEBHOOK_SECRET},
        timeout_s=0.5,
    )
    with serve(fake_service, webhook=WebhookAuthorizer(config)) as url:
        yield url


CLIENT_HEADERS = {"Authorization": "Bearer end-user-token", "Livepeer-Usage-Subject": "u1"}


def test_allow_passes_the_decision_to_the_service(
    webhook: tuple[Webhook, str], webhook_server: str, fake_service: FakePaymentService
) -> None:
    hook, _ = webhook
    hook.reply(
        status=200,
        auth_id="user-9",
        expiry=0,
        maxPrice={"price": "0.5", "currency": "wei", "unit": "seconds"},
    )
    reply = post(
        webhook_server, PAY, {"orchestrator": ORCHESTRATOR_B64, "type": "live"}, CLIENT_HEADERS
    )
    assert reply.status == 200, reply.body
    ((caller, _),) = fake_service.calls
    assert (caller.gateway_id, caller.api_key_id) == (GATEWAY_ID, None)
    assert (caller.auth_id, caller.usage_subject, caller.max_price) == (
        "user-9",
        "user-9",
        Fraction(1, 2),
    )
    ((sent_headers, body),) = hook.received
    assert sent_headers["Authorization"] == WEBHOOK_SECRET
    assert sent_headers["Content-Type"] == "application/json"
    assert "state" not in body  # a new session, omitted as Go's omitempty does
    assert body["headers"]["Authorization"] == ["Bearer end-user-token"]
    assert body["headers"]["Livepeer-Usage-Subject"] == ["u1"]
    assert "Host" not in body["headers"]


def test_the_state_is_sent_decoded_and_a_decision_with_expiry_is_cached(
    webhook: tuple[Webhook, str], webhook_server: str, fake_service: FakePaymentService
) -> None:
    hook, _ = webhook
    hook.reply(status=200, auth_id="user-9", expiry=int(time.time()) + 600)
    first = {"orchestrator": ORCHESTRATOR_B64, "type": "lv2v", "state": STATE, "ManifestID": "m"}
    assert post(webhook_server, PAY, first, CLIENT_HEADERS).status == 200
    assert hook.received[0][1]["state"] == STATE_JSON
    assert post(webhook_server, PAY, first, CLIENT_HEADERS).status == 200
    assert len(hook.received) == 1
    assert [caller.auth_expiry for caller, _ in fake_service.calls] == [
        fake_service.calls[0][0].auth_expiry
    ] * 2


def test_a_new_session_is_cached_under_the_state_id_it_was_given(
    webhook: tuple[Webhook, str], webhook_server: str
) -> None:
    hook, _ = webhook
    hook.reply(status=200, expiry=int(time.time()) + 600)
    assert (
        post(webhook_server, PAY, {"orchestrator": ORCHESTRATOR_B64}, CLIENT_HEADERS).status == 200
    )
    follow_up = {"orchestrator": ORCHESTRATOR_B64, "state": STATE, "ManifestID": "m"}
    assert post(webhook_server, PAY, follow_up, CLIENT_HEADERS).status == 200
    assert len(hook.received) == 1


def test_without_expiry_every_call_asks(webhook: tuple[Webhook, str], webhook_server: str) -> None:
    body = {"orchestrator": ORCHESTRATOR_B64, "state": STATE, "ManifestID": "m"}
    for _ in range(2):
        assert post(webhook_server, PAY, body, CLIENT_HEADERS).status == 200
    assert len(webhook[0].received) == 2


def test_signer_auth_id_header_is_the_fallback_auth_id(
    webhook: tuple[Webhook, str], webhook_server: str, fake_service: FakePaymentService
) -> None:
    assert (
        post(
            webhook_server, PAY, {"orchestrator": ORCHESTRATOR_B64}, {"Signer-Auth-Id": "auth-456"}
        ).status
        == 200
    )
    assert fake_service.calls[0][0].auth_id == "auth-456"


@pytest.mark.parametrize(
    ("answer", "status", "message"),
    [
        ({"status": 403, "reason": "denied"}, 403, "denied"),
        ({"status": 483, "reason": "insufficient balance"}, 483, "insufficient balance"),
        ({"status": 401}, 401, "signer auth rejected request with status 401"),
    ],
)
def test_deny_passes_status_and_reason(
    answer: dict[str, Any],
    status: int,
    message: str,
    webhook: tuple[Webhook, str],
    webhook_server: str,
    fake_service: FakePaymentService,
) -> None:
    webhook[0].reply(**answer)
    reply = post(webhook_server, PAY, {"orchestrator": ORCHESTRATOR_B64}, CLIENT_HEADERS)
    assert (reply.status, reply.message) == (status, message)
    assert fake_service.calls == []


@pytest.mark.parametrize(
    ("http_status", "answer"),
    [
        (200, b"not json"),
        (200, b"[200]"),
        (200, b"{}"),
        (200, b'{"status": "200"}'),
        (200, b'{"status": 302}'),
        (200, b'{"status": 200, "auth_id": 5}'),
        (
            200,
            b'{"status": 200, "maxPrice": {"price": "-1", "currency": "wei", "unit": "seconds"}}',
        ),
        (200, b'{"status": 200, "auth_id": "' + b"a" * 200 + b'"}'),
        (500, b'{"status": 200}'),
        (403, b'{"status": 200}'),
    ],
)
def test_garbage_fails_closed_with_500(
    http_status: int,
    answer: bytes,
    webhook: tuple[Webhook, str],
    webhook_server: str,
    fake_service: FakePaymentService,
) -> None:
    webhook[0].http_status, webhook[0].answer = http_status, answer
    reply = post(
        webhook_server, PAY, {"orchestrator": ORCHESTRATOR_B64, "type": "live"}, CLIENT_HEADERS
    )
    assert (reply.status, reply.message) == (500, "Internal Server Error")
    assert fake_service.calls == []


def test_a_slow_webhook_fails_closed_with_503(
    webhook: tuple[Webhook, str], webhook_server: str, fake_service: FakePaymentService
) -> None:
    webhook[0].delay_s = 0.8
    reply = post(webhook_server, PAY, {"orchestrator": ORCHESTRATOR_B64}, CLIENT_HEADERS)
    assert reply.status == 503 and "webhook unavailable" in reply.message
    assert fake_service.calls == []


def test_a_down_webhook_fails_closed_with_503(
    fake_service: FakePaymentService, serve: Callable[..., AbstractContextManager[str]]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = WebhookConfig(url=f"http://127.0.0.1:{port}/authorize", gateway_id=GATEWAY_ID)
    with serve(fake_service, webhook=WebhookAuthorizer(config)) as url:
        reply = post(url, PAY, {"orchestrator": ORCHESTRATOR_B64}, CLIENT_HEADERS)
    assert reply.status == 503 and "webhook unavailable" in reply.message
    assert fake_service.calls == []


def test_sign_orchestrator_info_needs_no_webhook(
    webhook: tuple[Webhook, str], webhook_server: str
) -> None:
    assert post(webhook_server, "/sign-orchestrator-info", {}).status == 200
    assert webhook[0].received == []


def test_the_config_hides_its_headers_and_checks_its_url() -> None:
    config = WebhookConfig(
        url="https://user:pw@auth.example/hook?token=t",
        gateway_id=1,
        headers={"Authorization": "Bearer s3cret"},
    )
    assert "s3cret" not in repr(config)
    assert "pw" not in config.safe_url and "token" not in config.safe_url
    with pytest.raises(ValueError, match="absolute http"):
        WebhookConfig(url="ftp://x", gateway_id=1)
    with pytest.raises(ValueError, match="CR, LF"):
        WebhookConfig(url="http://x", gateway_id=1, headers={"X": "a\r\nb"})


def test_an_unreadable_state_is_400_before_the_webhook(
    webhook: tuple[Webhook, str], webhook_server: str
) -> None:
    for blob, message in (
        (b"[" * 30_000, "nested deeper"),
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
    ):
        body = {
            "orchestrator": ORCHESTRATOR_B64,
            "state": {"State": b64(blob), "Sig": b64(b"s")},
            "ManifestID": "m",
        }
        reply = post(webhook_server, PAY, body, CLIENT_HEADERS)
        assert reply.status == 400 and message in reply.message, reply.body
    assert webhook[0].received == []


def test_a_state_blob_built_to_make_the_depth_scan_quadratic_is_refused_at_once(
    webhook: tuple[Webhook, str], webhook_server: str, fake_service: FakePaymentService
) -> None:
    """With the webhook authorizing, the body and its state are decoded before any credential is
    checked: 16 KiB of unterminated escaped quotes in state.State took the old pre-scan ~3 s
    (64 KiB: 30-77 s) with the GIL held (#18)."""
    hook, _ = webhook
    blob = b'{"StateID":"s",' + b"[]" * 9 + b'"\\' * 8_000
    state = {"State": b64(blob), "Sig": b64(b"\x1b" * 65)}
    started = time.monotonic()
    reply = post(webhook_server, PAY, {"orchestrator": ORCHESTRATOR_B64, "state": state, "ManifestID": "m"},
                 CLIENT_HEADERS)
    assert time.monotonic() - started < 1.0
    assert reply.status == 400 and "invalid state: state.State is not JSON" in reply.message
    assert hook.received == [] and fake_service.calls == []
