"""GET /discover-orchestrators (spec 02, optional there): the orchestrators this signer has paid,
for gateways that use the signer as their discovery source (go-livepeer's ``-remoteDiscovery``,
the SDK's discovery call).

go-livepeer's signer answers from an orchestrator pool it polls itself; a clearinghouse has none
of its own, but every payment it signs names an orchestrator. So the list is **what the daemon has
seen**, checked against **the on-chain active set**:

- ``DiscoveryBook.saw`` records an OrchestratorInfo once a payment on it was signed — its params
  passed every check against our chain view (signer/offer_checks.py), so an orchestrator cannot
  get itself listed by sending made-up params through a gateway. Per service URI it keeps the
  orchestrator's address, its price (price_info), the capabilities it advertised and was paid
  for (as go-livepeer's "pipeline/model" names) and ``last_seen``, so a client can judge how
  fresh an entry is (go-livepeer PR #4090 added the same field);
- with a live chain, an orchestrator the BondingManager says is not active in the current round
  is left out. The answers come from chain/orchestrators.py's per-round cache and a listing never
  waits for the chain: a lookup not answered yet leaves the entry in, so an RPC outage cannot
  empty the list;
- the list is never empty or stripped of prices while there is data (go-livepeer #4087): every
  entry keeps the last price seen with it, nothing is refreshed away. With nothing to list the
  answer is 503 with the reason (nothing seen yet; or none of those seen is active this round).

Per process: a replica lists what it signed; a restarted daemon lists orchestrators again as
payments pass. Bounded: ENTRIES_MAX entries, the least recently seen dropped first.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from google.protobuf.message import DecodeError

from clearinghouse.api.errors import BadRequest, ServiceUnavailable
from clearinghouse.proto import lp_rpc_pb2
from clearinghouse.signer.pipelines import PIPELINE_OF_CAPABILITY
from clearinghouse.signer.calls import PaymentCall, PaymentResult
from clearinghouse.signer.payment_work import PaymentWork
from clearinghouse.signer.service import PaymentService
from clearinghouse.api.limits import (
    CAPABILITIES_MAX,
    CAPS_QUERY_MAX,
    ENTRIES_MAX,
    MODEL_ID_CHARS_MAX,
    URL_CHARS_MAX,
)


SCORE = 1.0
"""go-livepeer's score for an orchestrator from a trusted list (its webhook format's field)."""


class ActivitySource(Protocol):
    """Cached activity answers that never wait (chain/orchestrators.py's ActiveOrchestrators)."""

    def known(self, address: bytes, round_: int) -> bool | None: ...


@dataclass(frozen=True, slots=True)
class SeenOrchestrator:
    """One orchestrator as the last signed payment on its params showed it."""

    url: str
    address: bytes
    recipient: bytes
    price_per_unit: int
    pixels_per_unit: int
    capabilities: tuple[str, ...]
    last_seen: datetime

    def document(self) -> dict[str, object]:
        """The entry of the /discover-orchestrators answer (spec 02's keys, then ours)."""
        return {
            "address": self.url,
            "score": SCORE,
            "capabilities": list(self.capabilities),
            "last_seen": self.last_seen.isoformat().replace("+00:00", "Z"),
            "eth_address": "0x" + self.address.hex(),
            "price_info": {"pricePerUnit": self.price_per_unit, "pixelsPerUnit": self.pixels_per_unit},
        }


class DiscoveryBook:
    """What the daemon has seen, filtered by the chain; safe to share between threads."""

    def __init__(
        self,
        *,
        activity: ActivitySource | None = None,
        current_round: Callable[[], int | None] = lambda: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        entries_max: int = ENTRIES_MAX,
    ) -> None:
        """``activity`` and ``current_round`` are the chain's (None: a static chain view, nothing
        to ask: every orchestrator seen is listed). Raises ValueError for ``entries_max`` < 1."""
        if entries_max < 1:
            raise ValueError(f"entries_max must be >= 1, got {entries_max}")
        self._activity = activity
        self._current_round = current_round
        self._clock = clock
        self._entries_max = entries_max
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, SeenOrchestrator] = OrderedDict()
        # The URL each (OrchestratorInfo, Capabilities) seen resolved to, so a repeat is not parsed.
        self._url_of: OrderedDict[tuple[bytes, bytes | None], str] = OrderedDict()

    def saw(self, orchestrator_info: bytes, request_capabilities: bytes | None = None) -> None:
        """Record the orchestrator of a signed payment: its OrchestratorInfo and the Capabilities
        the gateway paid it for. Anything that does not parse or has no usable URI is ignored:
        the payment was signed, this is only the listing. A session pays on the same
        OrchestratorInfo call after call: bytes seen before only move their entry's last_seen."""
        now = self._clock()
        key = (orchestrator_info, request_capabilities)
        with self._lock:
            url = self._url_of.get(key)
            if url is not None and url in self._seen:
                self._seen[url] = replace(self._seen.pop(url), last_seen=now)
                self._url_of.move_to_end(key)
                return
        seen = _seen(orchestrator_info, request_capabilities, now)
        if seen is None:
            return
        with self._lock:
            self._seen.pop(seen.url, None)
            self._seen[seen.url] = seen
            while len(self._seen) > self._entries_max:
                self._seen.popitem(last=False)
            self._url_of[key] = seen.url
            while len(self._url_of) > self._entries_max:
                self._url_of.popitem(last=False)

    def listing(self, caps: tuple[str, ...] = ()) -> list[SeenOrchestrator]:
        """The orchestrators to list, most recently seen first, those with any of ``caps`` when
        given. Raises ServiceUnavailable (503) with the reason when there is nothing to list."""
        with self._lock:
            seen = list(reversed(self._seen.values()))
        if not seen:
            raise ServiceUnavailable(
                "no orchestrators known yet: this signer lists the orchestrators it has signed payments for"
            )
        round_ = self._current_round() if self._activity is not None else None
        listed = [entry for entry in seen if self._may_be_active(entry, round_)]
        if not listed:
            raise ServiceUnavailable(
                f"none of the {len(seen)} orchestrators this signer has paid is active in round {round_}"
            )
        if caps:
            listed = [entry for entry in listed if set(caps) & set(entry.capabilities)]
        return listed

    def answer(self, query_string: bytes) -> bytes:
        """The JSON body for ``GET /discover-orchestrators?<query_string>``."""
        entries = self.listing(parse_caps(query_string))
        return json.dumps([entry.document() for entry in entries], separators=(",", ":")).encode()

    def _may_be_active(self, entry: SeenOrchestrator, round_: int | None) -> bool:
        if self._activity is None or round_ is None:
            return True
        return self._activity.known(entry.recipient, round_) is not False


class DiscoveringPaymentService(PaymentService):
    """PaymentService that shows each signed payment's orchestrator to a DiscoveryBook."""

    def __init__(self, *args: Any, discovery: DiscoveryBook, **kwargs: Any) -> None:
        """PaymentService's arguments, and the book to record in."""
        super().__init__(*args, **kwargs)
        self.discovery = discovery

    def commit(self, work: PaymentWork) -> Future[PaymentResult]:
        """PaymentService.commit (every transport's payment goes through it); the call's
        orchestrator is recorded once its batch committed a signed answer."""
        answer = super().commit(work)
        call = work.context.call
        answer.add_done_callback(lambda done: self._saw(done, call))
        return answer

    def _saw(self, answer: Future[PaymentResult], call: PaymentCall) -> None:
        # Runs on the committer's thread as it answers the batch: DiscoveryBook.saw is a dict
        # lookup for an OrchestratorInfo it has seen before, which is nearly every call.
        if not answer.cancelled() and answer.exception() is None:
            self.discovery.saw(call.orchestrator_info, call.capabilities)


def parse_caps(query_string: bytes) -> tuple[str, ...]:
    """The non-empty ``caps`` values of a query string. Raises BadRequest (400) for more than
    CAPS_QUERY_MAX parameters."""
    try:
        fields = parse_qs(query_string.decode("latin-1"), max_num_fields=CAPS_QUERY_MAX)
    except ValueError:  # parse_qs's "Max number of fields exceeded"
        raise BadRequest(f"query string: at most {CAPS_QUERY_MAX} parameters") from None
    return tuple(value for value in fields.get("caps", []) if value)


def _seen(orchestrator_info: bytes, request_capabilities: bytes | None, now: datetime) -> SeenOrchestrator | None:
    try:
        info = lp_rpc_pb2.OrchestratorInfo.FromString(orchestrator_info)
        requested = lp_rpc_pb2.Capabilities.FromString(request_capabilities or b"")
    except DecodeError:
        return None
    url = _service_uri(info.transcoder)
    price = info.price_info
    if url is None or price.pricePerUnit <= 0 or price.pixelsPerUnit <= 0:
        return None
    names = sorted(set(_capability_names(info.capabilities)) | set(_capability_names(requested)))
    return SeenOrchestrator(
        url=url,
        address=bytes(info.address),
        recipient=bytes(info.ticket_params.recipient),
        price_per_unit=price.pricePerUnit,
        pixels_per_unit=price.pixelsPerUnit,
        capabilities=tuple(names[:CAPABILITIES_MAX]),
        last_seen=now,
    )


def _service_uri(text: str) -> str | None:
    """An http(s) URI with a host, without a trailing slash (go-livepeer treats both as one)."""
    if len(text) > URL_CHARS_MAX:
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return text.rstrip("/")


def _capability_names(capabilities: lp_rpc_pb2.Capabilities) -> list[str]:
    """go-livepeer's discovery names: "<pipeline>/<model>" per capability and model."""
    names = []
    for capability_id, constraints in capabilities.constraints.PerCapability.items():
        pipeline = PIPELINE_OF_CAPABILITY.get(capability_id)
        if pipeline is None:
            continue
        names += [f"{pipeline}/{model}" for model in constraints.models if 0 < len(model) <= MODEL_ID_CHARS_MAX]
    return names
