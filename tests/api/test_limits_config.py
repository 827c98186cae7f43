"""[limits]: each setting's default is today's constant, each bound is checked on both sides with
an error naming the setting, the environment overrides it, and the values reach the HTTP app,
uvicorn, the gRPC server and the signer."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import pytest

from clearinghouse.api import ApiKeyAuthenticator, RemoteSignerApp, serving
from clearinghouse.api import limits as api_limits
from clearinghouse.domain.limits import (
    CONNECTIONS_MAX,
    GRPC_CONCURRENT_RPCS_MAX,
    GRPC_MESSAGE_BYTES_MAX,
    GrpcLimits,
    HttpLimits,
    JSON_DEPTH_MAX,
    KEEP_ALIVE_S,
    REQUEST_BODY_BYTES_MAX,
    REQUEST_BODY_TIMEOUT_S,
    REQUEST_HEADER_BYTES_MAX,
)
from clearinghouse.signer.gateway_service import GatewayService
from clearinghouse.api.grpc_server import grpc_serving
from clearinghouse.api.grpc_service import GrpcGateway
from clearinghouse.api.server import _config
from clearinghouse.cli.init import config_template
from clearinghouse.config import SETTINGS, SETTINGS_BY_NAME, ConfigError, LimitSettings, load_settings
from clearinghouse.config.validation import LIMIT_BOUNDS
from clearinghouse.ledger import Database
from clearinghouse.proto import clearinghouse_pb2 as pb
from clearinghouse.proto import clearinghouse_pb2_grpc
from clearinghouse.signer import limits as signer_limits
from clearinghouse.signer.decision import PaymentPolicy
from clearinghouse.signer.service import PaymentService
from tests.api.client import post
from tests.api.conftest import ORCHESTRATOR_B64, PEPPER
from tests.api.fakes import FakePaymentService
from tests.api.grpc_client import HEALTHY_CHAIN, ticket_signer
from tests.signer.builders import KEY
from tests.test_config import CONFIG

LIMIT_SETTINGS = [s for s in SETTINGS if s.section == "limits"]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for setting in SETTINGS:
        if setting.env:
            monkeypatch.delenv(setting.env, raising=False)
    path = tmp_path / "clearinghouse.toml"
    path.write_text(CONFIG)
    return path


def with_limits(config: Path, **values: object) -> LimitSettings:
    lines = "\n".join(f"{name} = {value!r}" for name, value in values.items())
    config.write_text(CONFIG + "\n[limits]\n" + lines + "\n")
    return load_settings(config, environ={}).limits


def test_every_limit_is_registered_bounded_and_defaults_to_its_constant(config: Path) -> None:
    assert {s.key for s in LIMIT_SETTINGS} == set(LIMIT_BOUNDS) == set(LimitSettings.__dataclass_fields__)
    limits = load_settings(config, environ={}).limits
    assert limits == LimitSettings()
    assert limits.http() == HttpLimits() and limits.grpc() == GrpcLimits()
    assert (limits.request_body_bytes_max, limits.json_depth_max, limits.request_header_bytes_max) == (
        REQUEST_BODY_BYTES_MAX, JSON_DEPTH_MAX, REQUEST_HEADER_BYTES_MAX)
    assert (limits.request_body_timeout_s, limits.connections_max, limits.keep_alive_s) == (
        REQUEST_BODY_TIMEOUT_S, CONNECTIONS_MAX, KEEP_ALIVE_S)
    assert (limits.grpc_concurrent_rpcs_max, limits.grpc_message_bytes_max) == (
        GRPC_CONCURRENT_RPCS_MAX, GRPC_MESSAGE_BYTES_MAX)
    assert limits.tickets_per_call_max == signer_limits.TICKETS_PER_CALL_MAX
    assert (limits.sessions_per_gateway_max, limits.session_idle_s) == (
        signer_limits.SESSIONS_PER_GATEWAY_MAX, signer_limits.SESSION_IDLE_S)
    assert limits.first_call_retry_window_s == signer_limits.FIRST_CALL_RETRY_WINDOW_S
    for setting in LIMIT_SETTINGS:
        low, high = LIMIT_BOUNDS[setting.key]
        assert setting.default == getattr(LimitSettings(), setting.key)
        assert low <= getattr(LimitSettings(), setting.key) <= high, setting.name


def test_the_ceilings_that_other_code_enforces_are_the_constants() -> None:
    """Header bytes, JSON depth and tickets per call can be tightened, never raised past what the
    decoders and the protocol allow."""
    assert LIMIT_BOUNDS["request_header_bytes_max"][1] == REQUEST_HEADER_BYTES_MAX
    assert LIMIT_BOUNDS["json_depth_max"][1] == JSON_DEPTH_MAX
    assert LIMIT_BOUNDS["tickets_per_call_max"][1] == signer_limits.TICKETS_PER_CALL_MAX
    # A payment body with an 8 KiB state blob in base64 fits the smallest body and message allowed.
    assert signer_limits.STATE_JSON_BYTES_MAX * 4 // 3 < LIMIT_BOUNDS["request_body_bytes_max"][0]
    assert signer_limits.STATE_JSON_BYTES_MAX < LIMIT_BOUNDS["grpc_message_bytes_max"][0]


@pytest.mark.parametrize("name", sorted(LIMIT_BOUNDS))
def test_each_limit_is_accepted_at_its_bounds_and_refused_past_them(config: Path, name: str) -> None:
    low, high = LIMIT_BOUNDS[name]
    step = 1 if isinstance(getattr(LimitSettings(), name), int) else 0.001
    for inside in (low, high):
        assert getattr(with_limits(config, **{name: inside}), name) == inside
    for outside in (low - step, high + step):
        with pytest.raises(ConfigError, match=rf"^limits\.{name} must be"):
            with_limits(config, **{name: outside})
    with pytest.raises(ConfigError, match=rf"^limits\.{name} must be"):
        with_limits(config, **{name: "many"})


def test_the_environment_overrides_a_limit(config: Path) -> None:
    environ = {"CLEARINGHOUSE_LIMITS_SESSIONS_PER_GATEWAY_MAX": "50", "CLEARINGHOUSE_LIMITS_REQUEST_BODY_TIMEOUT_S": "2.5"}
    limits = load_settings(config, environ=environ).limits
    assert (limits.sessions_per_gateway_max, limits.request_body_timeout_s) == (50, 2.5)
    with pytest.raises(ConfigError, match="CLEARINGHOUSE_LIMITS_CONNECTIONS_MAX"):
        load_settings(config, environ={"CLEARINGHOUSE_LIMITS_CONNECTIONS_MAX": "lots"})
    with pytest.raises(ConfigError, match="is not a setting"):
        load_settings(config, environ={"CLEARINGHOUSE_LIMITS_BODY_BYTES": "1"})


def test_the_template_lists_every_limit_and_its_defaults_load_unchanged(config: Path) -> None:
    text = config_template({"database_url": "sqlite:///x.sqlite3"})
    assert "[limits]" in text
    for setting in LIMIT_SETTINGS:
        assert setting.key in text and SETTINGS_BY_NAME[setting.name].doc
    assert with_limits(config, **{s.key: s.default for s in LIMIT_SETTINGS}) == LimitSettings()


def test_uvicorn_gets_the_connection_keep_alive_and_header_limits() -> None:
    limits = HttpLimits(connections_max=32, keep_alive_s=7, request_header_bytes_max=4096,
                        request_header_timeout_s=1.5)
    options = _config(object(), "127.0.0.1", 0, None, limits)
    assert (options.limit_concurrency, options.timeout_keep_alive, options.h11_max_incomplete_event_size) == (
        32, 7, 4096)
    protocol = options.http
    assert isinstance(protocol, type)
    assert protocol.header_timeout_s == 1.5  # type: ignore[attr-defined]
    assert protocol.header_bytes_max == 4096 + api_limits.REQUEST_LINE_BYTES_MAX  # type: ignore[attr-defined]


@pytest.mark.parametrize("fields", [{"request_header_bytes_max": REQUEST_HEADER_BYTES_MAX + 1},
                                    {"json_depth_max": JSON_DEPTH_MAX + 1}, {"connections_max": 0},
                                    {"request_body_timeout_s": 0}])
def test_transport_limits_refuse_values_their_code_cannot_honour(fields: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        HttpLimits(**fields)


# The configured values at work, on both sides of each line (a fake signer: nothing to sign).

PAY = "/generate-live-payment"


def padded_body(size: int, depth: int = 1) -> bytes:
    """A payment body of exactly ``size`` bytes, nested ``depth`` deep ({"orchestrator": …, "x": [[…]]})."""
    nested = "[" * (depth - 1) + "]" * (depth - 1)
    head = f'{{"orchestrator":"{ORCHESTRATOR_B64}","x":{nested or "0"}'
    return (head + " " * (size - len(head) - 1) + "}").encode()


@pytest.fixture
def limited(db: Database, api_key: str) -> Iterator[tuple[str, dict[str, str], FakePaymentService]]:
    limits = HttpLimits(request_body_bytes_max=16_384, json_depth_max=3, request_body_timeout_s=0.3, keep_alive_s=1)
    service = FakePaymentService()
    app = RemoteSignerApp(service, api_keys=ApiKeyAuthenticator(db, PEPPER), limits=limits)
    with serving(app, limits=limits) as url:
        yield url, {"Authorization": f"Bearer {api_key}"}, service
    app.close()


def test_body_size_just_under_is_served_and_just_over_is_413(limited: tuple[str, dict[str, str], FakePaymentService]) -> None:
    url, auth, service = limited
    assert post(url, PAY, padded_body(16_384), auth).status == 200
    over = post(url, PAY, padded_body(16_385), auth)
    assert (over.status, over.message) == (413, "request body over 16384 bytes")
    assert len(service.calls) == 1


def test_json_depth_just_under_is_served_and_just_over_is_400(limited: tuple[str, dict[str, str], FakePaymentService]) -> None:
    url, auth, service = limited
    assert post(url, PAY, padded_body(2000, depth=3), auth).status == 200
    over = post(url, PAY, padded_body(2000, depth=4), auth)
    assert (over.status, over.message) == (400, "request body: JSON nested deeper than 3 levels")
    assert len(service.calls) == 1


def test_body_time_within_is_served_and_past_is_408(limited: tuple[str, dict[str, str], FakePaymentService]) -> None:
    url, auth, service = limited
    parts = urlsplit(url)
    body = padded_body(1000)
    head = (f"POST {PAY} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth['Authorization']}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    for pause_s, status in ((0.1, b"200"), (0.5, b"408")):
        with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
            sock.sendall(head + body[:10])
            time.sleep(pause_s)
            try:
                sock.sendall(body[10:])
            except OSError:
                pass
            assert sock.recv(4096).startswith(b"HTTP/1.1 " + status)
    assert len(service.calls) == 1


def test_an_idle_connection_is_closed_after_keep_alive(limited: tuple[str, dict[str, str], FakePaymentService]) -> None:
    parts = urlsplit(limited[0])
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert sock.recv(4096) == b""
    assert 0.9 < time.monotonic() - started < 3


def test_grpc_message_just_under_is_read_and_just_over_is_refused(db: Database) -> None:
    limits = GrpcLimits(message_bytes_max=16_384)
    payments = PaymentService(db, KEY, lambda: HEALTHY_CHAIN, PaymentPolicy())
    gateway = GatewayService(payments, ticket_signer(db), db, chain_id=42161, ticket_broker=lambda: None,
                             static_chain=HEALTHY_CHAIN)
    with grpc_serving(GrpcGateway(gateway, ApiKeyAuthenticator(db, PEPPER), None), limits=limits) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = clearinghouse_pb2_grpc.ClearinghouseStub(channel)  # type: ignore[no-untyped-call]
            for size, code in ((16_384, grpc.StatusCode.UNAUTHENTICATED), (16_385, grpc.StatusCode.RESOURCE_EXHAUSTED)):
                request = pb.GeneratePaymentRequest(manifest_id="m", app="")
                request.orchestrator.transcoder = "t" * (size - pb.GeneratePaymentRequest(
                    manifest_id="m", orchestrator={"transcoder": "t" * 16_000}).ByteSize() + 16_000)
                assert request.ByteSize() == size
                with pytest.raises(grpc.RpcError) as error:
                    stub.GeneratePayment(request, timeout=10)
                assert error.value.code() == code, size


def test_the_hostile_client_limits_keep_their_relations() -> None:
    """#18's bounds: a slice fits in the head bound it is checked against, inline decoding stays
    below the body a route reads, and the whole request never outlives either of its parts'
    timeouts nor is shorter than them."""
    assert api_limits.PARSE_SLICE_BYTES <= api_limits.REQUEST_LINE_BYTES_MAX
    assert api_limits.INLINE_DECODE_BYTES_MAX <= REQUEST_BODY_BYTES_MAX
    assert api_limits.PIPELINED_REQUESTS_MAX >= 1 and api_limits.DECODE_THREADS_MAX >= 1
    for limits in (HttpLimits(), HttpLimits(request_header_timeout_s=2.0, request_body_timeout_s=30.0)):
        assert limits.request_timeout_s == max(limits.request_header_timeout_s, limits.request_body_timeout_s)
    assert HttpLimits().request_timeout_s == 10.0  # the README's promise to a slow client
