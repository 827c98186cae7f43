"""What the transport reads from an HTTP request besides its body: headers and their limits.

``RequestHeaders`` wraps the ASGI header list (lower-case byte names, latin-1 values). The
usage subject comes from ``Livepeer-Usage-Subject`` when the key or webhook gives none; it is
stored per call, so it must be short printable ASCII (USAGE_SUBJECT_LENGTH_MAX).
"""

from __future__ import annotations

from collections.abc import Iterable

from clearinghouse.api.errors import BadRequest, HeadersTooLarge
from clearinghouse.api.limits import USAGE_SUBJECT_LENGTH_MAX
from clearinghouse.domain.limits import REQUEST_HEADER_BYTES_MAX

USAGE_SUBJECT_HEADER = "livepeer-usage-subject"


class RequestHeaders:
    """The request's headers, looked up by lower-case name. Raises HeadersTooLarge when built
    from more than REQUEST_HEADER_BYTES_MAX bytes of names and values."""

    __slots__ = ("_pairs",)

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        pairs = [(name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in raw]
        size = sum(len(name) + len(value) for name, value in pairs)
        if size > REQUEST_HEADER_BYTES_MAX:
            raise HeadersTooLarge(
                f"request headers are {size} bytes, at most {REQUEST_HEADER_BYTES_MAX} allowed"
            )
        self._pairs = pairs

    def get(self, name: str) -> str | None:
        """The value of header ``name`` (lower case); BadRequest if it is given more than once."""
        values = self.get_all(name)
        if len(values) > 1:
            raise BadRequest(f"header {name} given {len(values)} times, expected once")
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self._pairs if key == name]

    def go_header_map(self) -> dict[str, list[str]]:
        """Go's ``http.Header`` of this request: canonical names to value lists, Host removed."""
        result: dict[str, list[str]] = {}
        for name, value in self._pairs:
            if name != "host":
                result.setdefault(_canonical_name(name), []).append(value)
        return result


def bearer_credential(headers: RequestHeaders) -> str | None:
    """The credential of ``Authorization: Bearer <credential>`` (scheme case-insensitive,
    surrounding space stripped); None when the header is missing, of another scheme or empty.
    The routes with a token of their own (admin, /metrics, access tokens) read it here."""
    scheme, _, credential = (headers.get("authorization") or "").partition(" ")
    credential = credential.strip()
    return credential if scheme.lower() == "bearer" and credential else None


def _canonical_name(name: str) -> str:
    """Go's textproto.CanonicalMIMEHeaderKey: ``livepeer-usage-subject`` becomes
    ``Livepeer-Usage-Subject``."""
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-"))


def valid_subject(text: str) -> bool:
    """True for 1..USAGE_SUBJECT_LENGTH_MAX printable ASCII characters (space included)."""
    return 0 < len(text) <= USAGE_SUBJECT_LENGTH_MAX and all(" " <= c <= "~" for c in text)


def usage_subject_header(headers: RequestHeaders) -> str | None:
    """The ``Livepeer-Usage-Subject`` header, stripped; None when absent or empty.

    Raises BadRequest when it is too long or not printable ASCII.
    """
    value = (headers.get(USAGE_SUBJECT_HEADER) or "").strip()
    if not value:
        return None
    if not valid_subject(value):
        raise BadRequest(
            f"Livepeer-Usage-Subject must be at most {USAGE_SUBJECT_LENGTH_MAX} printable "
            "ASCII characters"
        )
    return value
