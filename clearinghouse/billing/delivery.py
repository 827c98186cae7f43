"""Delivering an issued invoice to its gateway: a signed webhook POST, and its retry schedule.

The body is JSON: ``{"type": "invoice.issued", "invoice": <the JSON export>, "links": {"pdf": …,
"csv": …, "json": …}}``, the export being the same document `clearinghouse invoice export
--format json` writes (issuing.export_document), and the links the admin API's export route
(absolute under ``billing.export_base_url`` when set, else paths). Headers:

- ``X-Clearinghouse-Timestamp``: Unix seconds when the attempt was signed;
- ``X-Clearinghouse-Signature``: ``v1=`` and the hex HMAC-SHA256, keyed with the gateway's
  delivery secret, of ``<timestamp>.<body>`` (the timestamp's ASCII digits, a dot, the body's
  bytes). A receiver recomputes it, compares in constant time, and refuses a timestamp more
  than a few minutes old, so a captured delivery cannot be replayed later;
- ``X-Clearinghouse-Delivery``: ``<invoice id>-<attempt>``, the same for a retry's body: a
  receiver that saw it already answers 2xx and ignores it.

A 2xx answer is delivered. Anything else (another status, a refused connection, a timeout) is a
failed attempt; the next one is due ``retry_delay_s(attempt)`` later, doubling from
DELIVERY_RETRY_BASE_S up to DELIVERY_RETRY_MAX_S, and after DELIVERY_ATTEMPTS_MAX attempts the
delivery has failed and the operator is alerted. The secret is never logged; the URL only in
redacted form (it may carry a token).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from clearinghouse.chain.redact import redact_rpc_url
from clearinghouse.domain.limits import ANSWER_BYTES_READ_MAX
from clearinghouse.billing.limits import (
    DELIVERY_ATTEMPTS_MAX,
    DELIVERY_BODY_BYTES_MAX,
    DELIVERY_RETRY_BASE_S,
    DELIVERY_RETRY_MAX_S,
    DELIVERY_TIMEOUT_S,
)


SIGNATURE_HEADER: Final = "X-Clearinghouse-Signature"
TIMESTAMP_HEADER: Final = "X-Clearinghouse-Timestamp"
DELIVERY_HEADER: Final = "X-Clearinghouse-Delivery"
EVENT_TYPE: Final = "invoice.issued"


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """How one attempt ended: delivered (2xx), and the status or error for the record."""

    delivered: bool
    http_status: int | None
    detail: str | None


def retry_delay_s(attempts_made: int) -> int:
    """Seconds from attempt ``attempts_made`` (1-based) to the next one."""
    return min(DELIVERY_RETRY_BASE_S << min(attempts_made - 1, DELIVERY_ATTEMPTS_MAX), DELIVERY_RETRY_MAX_S)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Clearinghouse-Signature`` value of ``body`` sent at ``timestamp`` (module docstring)."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def delivery_body(export_json: bytes, invoice_id: int, base_url: str | None) -> bytes:
    """The webhook body around the invoice's JSON export (module docstring)."""
    base = (base_url or "").rstrip("/")
    links = {fmt: f"{base}/admin/v1/invoices/export?invoice_id={invoice_id}&format={fmt}" for fmt in ("pdf", "csv", "json")}
    document = {"type": EVENT_TYPE, "invoice": json.loads(export_json), "links": links}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def post_invoice(
    url: str, secret: str, body: bytes, *, delivery_id: str, now: datetime, timeout_s: float = DELIVERY_TIMEOUT_S
) -> AttemptResult:
    """POST one attempt; never raises for what the receiver or the network does."""
    if len(body) > DELIVERY_BODY_BYTES_MAX:
        return AttemptResult(False, None, f"body of {len(body)} bytes over {DELIVERY_BODY_BYTES_MAX}; not sent")
    timestamp = int(now.timestamp())
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body), DELIVERY_HEADER: delivery_id,
    })
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            answer.read(ANSWER_BYTES_READ_MAX)
            status: int = answer.status
    except urllib.error.HTTPError as exc:
        return AttemptResult(False, exc.code, f"{redact_rpc_url(url)} answered {exc.code}")
    except OSError as exc:  # URLError, refused connections, timeouts
        return AttemptResult(False, None, f"{redact_rpc_url(url)} unreachable: {type(exc).__name__}")
    if 200 <= status < 300:
        return AttemptResult(True, status, None)
    return AttemptResult(False, status, f"{redact_rpc_url(url)} answered {status}")
