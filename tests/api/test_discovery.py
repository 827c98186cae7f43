"""GET /discover-orchestrators (spec 02, issue #15): the orchestrators this signer has paid, with
last_seen and their price, filtered by the on-chain active set; never empty or price-stripped
while there is data (go-livepeer #4087), 503 with the reason when there is none; authenticated
like /sign-orchestrator-info."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearinghouse.api import ApiKeyAuthenticator, RemoteSignerApp, issue_api_key, serving
from clearinghouse.api.discovery import DiscoveringPaymentService, DiscoveryBook, parse_caps
from clearinghouse.api.limits import ENTRIES_MAX
from clearinghouse.api.errors import BadRequest, ServiceUnavailable
from clearinghouse.ledger import Database, create_gateway, top_up
from clearinghouse.proto import lp_rpc_pb2
from clearinghouse.signer.decision import PaymentPolicy
from tests.api.client import Reply, post, request
from tests.api.conftest import PEPPER, b64
from tests.api.grpc_client import HEALTHY_CHAIN
from tests.api.test_sessions import Clock as SignerClock
from tests.signer.builders import KEY, ORCH_ADDRESS, orchestrator_info

PATH = "/discover-orchestrators"


def discover(url: str, headers: dict[str, str] | None = None, query: str = "") -> Reply:
    return request(url, "GET", PATH + query, None, headers or {})
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Activity:
    """A cached activity source: True, False or None (not known yet) per address."""

    def __init__(self, answers: dict[bytes, bool | None]) -> None:
        self.answers = answers
        self.asked: list[tuple[bytes, int]] = []

    def known(self, address: bytes, round_: int) -> bool | None:
        self.asked.append((address, round_))
        return self.answers.get(address)


def info_bytes(url: str = "https://orch.example:8935/", address: bytes = ORCH_ADDRESS, price: int = 3,
               models: dict[int, list[str]] | None = None) -> bytes:
    info = orchestrator_info(transcoder=url, address=address, recipient=address, price_per_unit=price)
    for capability, names in (models or {}).items():
        for name in names:
            info.capabilities.constraints.PerCapability[capability].models[name].warm = True
    return info.SerializeToString()


def capabilities(capability: int, model: str) -> bytes:
    caps = lp_rpc_pb2.Capabilities()
    caps.constraints.PerCapability[capability].models[model].warm = True
    return caps.SerializeToString()


def test_an_orchestrator_paid_is_listed_with_its_price_and_last_seen() -> None:
    clock = Clock()
    book = DiscoveryBook(clock=clock)
    book.saw(info_bytes(models={35: ["streamdiffusion"]}), capabilities(27, "sdxl"))
    (entry,) = book.listing()
    assert entry.document() == {
        "address": "https://orch.example:8935",  # one URI, with or without the trailing slash
        "score": 1.0,
        "capabilities": ["live-video-to-video/streamdiffusion", "text-to-image/sdxl"],
        "last_seen": "2026-11-01T12:00:00Z",
        "eth_address": "0x" + ORCH_ADDRESS.hex(),
        "price_info": {"pricePerUnit": 3, "pixelsPerUnit": 1},
    }
    clock.now = T0 + timedelta(minutes=5)
    book.saw(info_bytes(url="https://orch.example:8935", price=4))
    (entry,) = book.listing()
    assert (entry.last_seen, entry.price_per_unit) == (clock.now, 4)


def test_most_recently_seen_first_and_caps_select_any_of_them() -> None:
    clock = Clock()
    book = DiscoveryBook(clock=clock)
    book.saw(info_bytes("https://a.example", models={35: ["streamdiffusion"]}))
    clock.now += timedelta(seconds=1)
    book.saw(info_bytes("https://b.example", models={27: ["sdxl"]}))
    assert [entry.url for entry in book.listing()] == ["https://b.example", "https://a.example"]
    assert [e.url for e in book.listing(("live-video-to-video/streamdiffusion",))] == ["https://a.example"]
    assert len(book.listing(("text-to-image/sdxl", "live-video-to-video/streamdiffusion"))) == 2
    assert book.listing(("llm/none",)) == []
    assert parse_caps(b"caps=a&caps=&caps=b&other=c") == ("a", "b")
    with pytest.raises(BadRequest, match="at most 32 parameters"):
        parse_caps(b"&".join([b"caps=x"] * 33))


def test_nothing_known_is_a_503_with_the_reason() -> None:
    with pytest.raises(ServiceUnavailable, match="no orchestrators known yet"):
        DiscoveryBook().listing()


def test_unusable_offers_are_not_listed() -> None:
    book = DiscoveryBook()
    for bad in (info_bytes(url="ftp://x.example"), info_bytes(url="not a url"), info_bytes(url=""),
                info_bytes(url="https://" + "x" * 3000), b"\xff\xff garbage"):
        book.saw(bad)
    with pytest.raises(ServiceUnavailable):
        book.listing()


def test_the_chain_leaves_out_inactive_orchestrators_and_never_empties_on_unknown() -> None:
    active, inactive, unknown = b"\x01" * 20, b"\x02" * 20, b"\x03" * 20
    activity = Activity({active: True, inactive: False, unknown: None})
    book = DiscoveryBook(activity=activity, current_round=lambda: 3500)
    for address in (active, inactive, unknown):
        book.saw(info_bytes(f"https://{address.hex()[:4]}.example", address=address))
    listed = {entry.address for entry in book.listing()}
    assert listed == {active, unknown}  # not known yet (RPC slow or down): kept, never stripped
    assert {round_ for _, round_ in activity.asked} == {3500}
    only_inactive = DiscoveryBook(activity=activity, current_round=lambda: 3500)
    only_inactive.saw(info_bytes(address=inactive))
    with pytest.raises(ServiceUnavailable, match="none of the 1 orchestrators this signer has paid is active in round 3500"):
        only_inactive.listing()
    no_round = DiscoveryBook(activity=activity, current_round=lambda: None)  # chain not read yet
    no_round.saw(info_bytes(address=inactive))
    assert len(no_round.listing()) == 1


def test_the_book_is_bounded() -> None:
    clock = Clock()
    book = DiscoveryBook(clock=clock, entries_max=3)
    for n in range(5):
        clock.now += timedelta(seconds=1)
        book.saw(info_bytes(f"https://o{n}.example"))
    assert [entry.url for entry in book.listing()] == ["https://o4.example", "https://o3.example", "https://o2.example"]
    assert ENTRIES_MAX >= 100  # Livepeer's active set


def test_over_http_it_needs_a_gateway_key_and_lists_what_was_signed(db: Database) -> None:
    gateway_id = create_gateway(db, "acme").id
    top_up(db, gateway_id, 10**18, actor="test", reason="prepaid funds")
    key, _ = issue_api_key(db, gateway_id, PEPPER)
    book = DiscoveryBook()
    service = DiscoveringPaymentService(db, KEY, lambda: HEALTHY_CHAIN, PaymentPolicy(), clock_ns=SignerClock(),
                                        discovery=book)
    app = RemoteSignerApp(service, api_keys=ApiKeyAuthenticator(db, PEPPER), discovery=book)
    auth = {"Authorization": f"Bearer {key}"}
    try:
        with serving(app) as url:
            assert discover(url).status == 401
            empty = discover(url, auth)
            assert empty.status == 503 and "no orchestrators known yet" in empty.message
            refused = post(url, "/generate-live-payment", {"orchestrator": b64(info_bytes(price=0)), "type": "live"},
                           auth)
            assert refused.status == 400 and discover(url, auth).status == 503  # nothing signed: nothing listed
            paid = post(url, "/generate-live-payment", {"orchestrator": b64(info_bytes()), "type": "live"}, auth)
            assert paid.status == 200, paid.body
            listed = discover(url, auth, "?caps=")
            assert listed.status == 200
            (entry,) = listed.json()
            assert (entry["address"], entry["price_info"]) == ("https://orch.example:8935",
                                                               {"pricePerUnit": 3, "pixelsPerUnit": 1})
            assert datetime.fromisoformat(entry["last_seen"]) <= datetime.now(UTC)
    finally:
        app.close()


def test_without_a_book_the_route_says_so(db: Database) -> None:
    gateway_id = create_gateway(db, "acme").id
    key, _ = issue_api_key(db, gateway_id, PEPPER)
    service = DiscoveringPaymentService(db, KEY, lambda: HEALTHY_CHAIN, PaymentPolicy(), discovery=DiscoveryBook())
    app = RemoteSignerApp(service, api_keys=ApiKeyAuthenticator(db, PEPPER))
    try:
        with serving(app) as url:
            answer = discover(url, {"Authorization": f"Bearer {key}"})
            assert answer.status == 503 and "not configured" in answer.message
    finally:
        app.close()


class Source:
    """An ActiveTranscoderSource: the addresses given are active; counts the reads."""

    def __init__(self, *active: bytes) -> None:
        self.active, self.reads = set(active), 0

    def is_active_transcoder(self, address: bytes) -> bool:
        self.reads += 1
        return address in self.active


def test_activity_answers_are_never_waited_for_and_then_cached() -> None:
    """ActiveOrchestrators.known: None at first (a lookup starts), the answer once it is in."""
    from clearinghouse.chain.orchestrators import ActiveOrchestrators

    active, other = b"\x01" * 20, b"\x02" * 20
    source = Source(active)
    check = ActiveOrchestrators(source)
    try:
        assert check.known(active, 7) is None
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while check.known(active, 7) is None and datetime.now(UTC) < deadline:
            check.verdict(active, 7)  # waits (bounded) for the lookup already running
        assert check.known(active, 7) is True
        assert check.verdict(other, 7).status.value == "inactive" and check.known(other, 7) is False
        assert source.reads == 2
    finally:
        check.close()


@settings(max_examples=200, deadline=None)
@given(query=st.binary(max_size=512), info=st.binary(max_size=512), caps=st.none() | st.binary(max_size=128))
def test_outsider_input_is_answered_or_refused_never_crashes(query: bytes, info: bytes, caps: bytes | None) -> None:
    """The query string and the OrchestratorInfo bytes reach here from outside."""
    try:
        assert all(isinstance(value, str) and value for value in parse_caps(query))
    except BadRequest:
        pass
    book = DiscoveryBook()
    book.saw(info, caps)  # never raises: unusable input is simply not listed
    try:
        assert all(entry.price_per_unit > 0 for entry in book.listing())
    except ServiceUnavailable:
        pass
