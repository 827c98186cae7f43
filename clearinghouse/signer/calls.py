"""What a signing call is, independent of the transport that brought it: who calls
(``Caller``), what a remote-signer payment call asks (``PaymentCall``) and what it gets
(``PaymentResult``)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from clearinghouse.signer.billing import MaxPrice


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, as the transport authenticated it."""

    gateway_id: int
    api_key_id: int | None
    usage_subject: str | None = None
    auth_id: str = ""
    auth_expiry: int = 0
    max_price: Fraction | None = None
    end_user: bool = False
    """Authenticated by an app's end-user token: it signs for itself, and reads only its own usage
    (at /api/v1/user/usage), never its gateway's."""

    @property
    def subject(self) -> str | None:
        """The end user a call is attributed to: the key's or header's subject, else the webhook's."""
        return self.usage_subject or self.auth_id or None


@dataclass(frozen=True, slots=True)
class PaymentCall:
    """A /generate-live-payment request as the transport decoded it (bytes are base64-decoded)."""

    orchestrator_info: bytes
    state: bytes | None
    state_signature: bytes | None
    manifest_id: str
    billing_type: str
    in_pixels: int
    app: str
    max_price: MaxPrice | None
    capabilities: bytes | None


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """The answer: serialized Payment and SegData, the new state and our signature over it."""

    payment: bytes
    seg_creds: bytes
    state: bytes
    state_signature: bytes
    ticket_count: int
    replayed: bool
