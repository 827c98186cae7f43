"""The HTTP transport over a real loopback server: routes, status mapping, limits, masking.

The payment service here is ``FakePaymentService``: these tests check only what the transport
does with a request and with the service's answer or refusal.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from clearinghouse.api import ApiKeyAuthenticator
from clearinghouse.api.errors import REFUSAL_STATUS
from clearinghouse.domain.limits import REQUEST_BODY_BYTES_MAX, REQUEST_HEADER_BYTES_MAX
from clearinghouse.domain.refusals import (
    Refusal,
    SigningRefused,
    SpendLimit,
    over_limit,
)
from clearinghouse.ledger import (
    Database,
    DatabaseFault,
    DatabaseUnavailable,
)
from clearinghouse.signer.calls import Caller, PaymentCall
from tests.api.client import get, post, request
from tests.api.conftest import ORCHESTRATOR_B64, PEPPER, b64
from tests.api.fakes import (
    FAKE_ADDRESS,
    FAKE_INFO_SIGNATURE,
    FAKE_PAYMENT,
    FAKE_STATE,
    FakePaymentService,
)

PAY = "/generate-live-payment"
STATE = {"State": b64(b'{"StateID":"s1"}'), "Sig": b64(b"\x1c" * 65)}


def test_a_payment_answer_encodes_the_result(
    fake_server: str, auth: dict[str, str], fake_service: FakePaymentService
) -> None:
    reply = post(fake_server, PAY, {"orchestrator": ORCHESTRATOR_B64, "type": "lv2v"}, auth)
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {
        "payment": b64(FAKE_PAYMENT),
        "segCreds": b64(b"seg-creds-bytes"),
        "state": {"State": b64(FAKE_STATE), "Sig": b64(b"\x1b" * 65)},
    }
    ((caller, call),) = fake_service.calls
    assert call.billing_type == "lv2v" and call.state is None
    assert caller.api_key_id is not None and caller.auth_id == ""


def test_sign_orchestrator_info_accepts_empty_and_empty_object(
    fake_server: str, auth: dict[str, str]
) -> None:
    bodies: tuple[bytes | dict[str, str] | None, ...] = (None, b"", {})
    for body in bodies:
        reply = post(fake_server, "/sign-orchestrator-info", body, auth)
        assert reply.status == 200
        assert reply.json() == {
            "address": FAKE_ADDRESS,
            "signature": "0x" + FAKE_INFO_SIGNATURE.hex(),
        }


@pytest.mark.parametrize("reason", list(Refusal))
def test_each_refusal_has_its_status_and_message(
    reason: Refusal, fake_server: str, auth: dict[str, str], fake_service: FakePaymentService
) -> None:
    fake_service.outcome = SigningRefused(reason, f"refused because {reason.value}")
    reply = post(
        fake_server,
        PAY,
        {"orchestrator": ORCHESTRATOR_B64, "state": STATE, "ManifestID": "m"},
        auth,
    )
    assert reply.status == REFUSAL_STATUS[reason]
    assert reply.message == f"refused because {reason.value}"


def test_the_refusal_table_is_spec_02() -> None:
    assert set(REFUSAL_STATUS) == set(Refusal)
    assert REFUSAL_STATUS[Refusal.STALE_STATE] == 409
    assert REFUSAL_STATUS[Refusal.SIGNER_UNSAFE] == 503
    assert (
        REFUSAL_STATUS[Refusal.REFRESH_SESSION] == REFUSAL_STATUS[Refusal.NONCES_EXHAUSTED] == 480
    )
    assert REFUSAL_STATUS[Refusal.PRICE_EXCEEDED] == 481
    assert REFUSAL_STATUS[Refusal.NO_TICKETS_NEEDED] == 482
    # reserved for credit limits (one refusal type now, so the credit refusals are in the table)
    assert {refusal for refusal, status in REFUSAL_STATUS.items() if status == 483} == {
        Refusal.INVOICE_OVERDUE, Refusal.INSUFFICIENT_BALANCE}


@pytest.mark.parametrize("reason", [Refusal.REFRESH_SESSION, Refusal.NONCES_EXHAUSTED])
def test_480_names_the_orchestrator_url(
    reason: Refusal, fake_server: str, auth: dict[str, str], fake_service: FakePaymentService
) -> None:
    fake_service.outcome = SigningRefused(
        reason, "refresh session", orchestrator_url="https://orch.example:8935"
    )
    reply = post(fake_server, PAY, {"orchestrator": ORCHESTRATOR_B64}, auth)
    assert reply.status == 480
    assert reply.headers["livepeer-orchestrator-url"] == "https://orch.example:8935"


def test_a_header_breaking_orchestrator_url_is_left_out(
    fake_server: str, auth: dict[str, str], fake_service: FakePaymentService
) -> None:
    fake_service.outcome = SigningRefused(
        Refusal.REFRESH_SESSION, "refresh", orchestrator_url="https://o\r\nX-Evil: 1"
    )
    reply = post(fake_server, PAY, {"orchestrator": ORCHESTRATOR_B64}, auth)
    assert (
        reply.status == 480
        and "livepeer-orchestrator-url" not in reply.headers
        and "x-evil" not in reply.headers
    )


def test_482_carries_the_state_unchanged(
    fake_server: str, auth: dict[str, str], fake_service: FakePaymentService
) -> None:
    fake_service.outcome = SigningRefused(Refusal.NO_TICKETS_NEEDED, "no tickets")
    reply = post(
        fake_server,
        PAY,
        {
            "orchestrator": ORCHESTRATOR_B64,
            "STATE": {"state": STATE["State"], "sig": STATE["Sig"]},
            "ManifestID": "m",
        },
        auth,
    )
    assert reply.status == 482
    assert reply.json() == {"error": {"message": "no tickets"}, "state": STATE}


def test_an_unexpected_exception_is_masked_and_logged_with_the_request_id(
    fake_server: str,
    auth: dict[str, str],
    fake_service: FakePaymentService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_service.outcome = RuntimeError("secret detail")
    with caplog.at_level(logging.ERROR, logger="clearinghouse.api.http"):
        reply = post(
            fake_server, PAY, {"orchestrator": ORCHESTRATOR_B64, "app": "body-marker"}, auth
        )
    assert reply.status == 500
    assert reply.json() == {"error": {"message": "Internal Server Error"}}
    request_id = reply.headers["x-request-id"]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert request_id in logged
    assert "body-marker" not in caplog.text and auth["Authorization"] not in caplog.text


def test_a_credit_refusal_is_483(
    fake_server: str, auth: dict[str, str], fake_service: FakePaymentService
) -> None:
    fake_service.outcome = over_limit(SpendLimit.BALANCE, "balance exhausted: 0 wei left")
    reply = post(fake_server, PAY, {"orchestrator": ORCHESTRATOR_B64}, auth)
    assert (reply.status, reply.message) == (483, "balance exhausted: 0 wei left")


def test_database_down_is_503(
    fake_server: str, auth: dict[str, str], fake_service: FakePaymentService
) -> None:
    fake_service.outcome = DatabaseUnavailable("database is locked at host db-7", DatabaseFault.BUSY)
    reply = post(fake_server, PAY, {"orchestrator": ORCHESTRATOR_B64}, auth)
    assert reply.status == 503 and reply.message == "database unavailable (busy); retry later"


def test_bad_json_and_bad_base64_are_400_and_reach_no_service(
    fake_server: str, auth: dict[str, str], fake_service: FakePaymentService
) -> None:
    assert post(fake_server, PAY, b"{not json", auth).status == 400
    reply = post(fake_server, PAY, {"orchestrator": ORCHESTRATOR_B64.rstrip("=")}, auth)
    assert reply.status == 400 and '"orchestrator"' in reply.message
    reply = post(fake_server, PAY, {"ManifestID": "m"}, auth)
    assert reply.status == 400 and reply.message == "missing orchestrator"
    assert fake_service.calls == []


def test_a_body_over_the_limit_is_413(
    fake_server: str, auth: dict[str, str], fake_service: FakePaymentService
) -> None:
    padding = "x" * REQUEST_BODY_BYTES_MAX
    reply = post(fake_server, PAY, {"orchestrator": ORCHESTRATOR_B64, "pad": padding}, auth)
    assert reply.status == 413 and "over 65536 bytes" in reply.message
    assert fake_service.calls == []


def raw_head(auth: dict[str, str], framing: str) -> str:
    """The head of a hand-written POST to the payment route, for bodies http.client won't send."""
    lines = [f"POST {PAY} HTTP/1.1", "Host: x", f"Authorization: {auth['Authorization']}", framing]
    return "\r\n".join(lines) + "\r\n\r\n"


def test_a_chunked_body_over_the_limit_is_413(fake_server: str, auth: dict[str, str]) -> None:
    parts = urlsplit(fake_server)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        head = raw_head(auth, "Transfer-Encoding: chunked")
        sock.sendall(head.encode())
        chunk = b"a" * 8192
        for _ in range(REQUEST_BODY_BYTES_MAX // len(chunk) + 1):
            sock.sendall(b"2000\r\n" + chunk + b"\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")


def test_headers_over_the_limit_are_431(
    fake_server: str, auth: dict[str, str], fake_service: FakePaymentService
) -> None:
    headers = {**auth, "X-Big": "b" * REQUEST_HEADER_BYTES_MAX}
    reply = post(fake_server, PAY, {"orchestrator": ORCHESTRATOR_B64}, headers)
    assert reply.status == 431
    assert fake_service.calls == []


def test_a_stalled_body_times_out_with_408(
    fake_server: str, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("clearinghouse.api.bodies.REQUEST_BODY_TIMEOUT_S", 0.2)
    parts = urlsplit(fake_server)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        head = raw_head(auth, "Content-Length: 100") + "{"
        sock.sendall(head.encode())
        started = time.monotonic()
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 5
    assert b"not received within 0.2 s" in answer


def test_unknown_route_and_wrong_method(fake_server: str) -> None:
    assert get(fake_server, "/nope").status == 404
    reply = get(fake_server, PAY)
    assert reply.status == 405 and reply.headers["allow"] == "POST"
    assert json.loads(reply.body)["error"]["message"]


def test_healthz_and_readyz(fake_server: str, fake_service: FakePaymentService) -> None:
    assert get(fake_server, "/healthz").json() == {"status": "ok"}
    assert get(fake_server, "/readyz").json() == {"status": "ready"}
    fake_service.is_ready = False
    reply = get(fake_server, "/readyz")
    assert reply.status == 503 and "not ready" in reply.message
    assert get(fake_server, "/healthz").status == 200


def test_head_and_case_of_the_error_envelope(fake_server: str) -> None:
    reply = request(fake_server, "POST", "/healthz")
    assert reply.status == 405 and set(reply.json()) == {"error"}


@dataclass
class SlowService(FakePaymentService):
    """A fake whose payment call blocks its signing thread, as planning waiting on the chain does
    (the recipient check): such work never runs on the event loop."""

    delay_s: float = 0.5
    work_may_wait: bool = True

    def payment_work(self, caller: Caller, call: PaymentCall) -> tuple[Caller, PaymentCall]:
        time.sleep(self.delay_s)
        return super().payment_work(caller, call)


def test_blocking_calls_leave_the_event_loop_free(
    db: Database, serve: Callable[..., AbstractContextManager[str]], auth: dict[str, str]
) -> None:
    with serve(SlowService(), api_keys=ApiKeyAuthenticator(db, PEPPER)) as url:
        slow = threading.Thread(
            target=post, args=(url, PAY, {"orchestrator": ORCHESTRATOR_B64}, auth)
        )
        slow.start()
        time.sleep(0.1)
        started = time.monotonic()
        assert get(url, "/healthz").status == 200
        assert time.monotonic() - started < 0.3
        slow.join()


def test_a_full_pool_answers_503_before_starting_work(
    db: Database,
    serve: Callable[..., AbstractContextManager[str]],
    auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("clearinghouse.api.pools.THREAD_WAIT_S", 0.1)
    service = SlowService()
    with serve(service, api_keys=ApiKeyAuthenticator(db, PEPPER), signing_threads=1) as url:
        slow = threading.Thread(
            target=post, args=(url, PAY, {"orchestrator": ORCHESTRATOR_B64}, auth)
        )
        slow.start()
        time.sleep(0.15)
        reply = post(url, PAY, {"orchestrator": ORCHESTRATOR_B64}, auth)
        slow.join()
    assert reply.status == 503 and "server busy" in reply.message
    assert len(service.calls) == 1


def test_deposit_health_needs_a_key_and_answers_from_memory(
    db: Database, fake_service: FakePaymentService, serve: Callable[..., AbstractContextManager[str]],
    auth: dict[str, str],
) -> None:
    document = {"state": "warn", "findings": [{"reason": "gas_balance_low"}]}
    with serve(fake_service, api_keys=ApiKeyAuthenticator(db, PEPPER), deposit_health=lambda: document) as url:
        assert get(url, "/v1/health").status == 401
        assert request(url, "GET", "/v1/health", headers=auth).json() == document
        fake_service.is_ready = False  # the database is gone: the health document still answers
        assert request(url, "GET", "/v1/health", headers=auth).json() == document


def test_deposit_health_of_a_static_chain_view_says_it_is_unmonitored(fake_server: str, auth: dict[str, str]) -> None:
    assert request(fake_server, "GET", "/v1/health", headers=auth).json()["state"] == "unmonitored"
