"""The states this signer issued lately, so the one a session sends back is not decoded again.

A go-livepeer session sends back, call after call, the state blob and signature our last answer
carried. Checking them the full way costs a public-key recovery and a strict JSON decode (about a
tenth of the interpreter time of a whole call, py-spy 2026-12-07). ``IssuedStates`` keeps, per
session, the last blob we signed with its signature and its decoded value: a blob sent back byte
for byte with the very signature we made for it is that state, with nothing to check (our
signatures are deterministic and low-s, so no other signature of it is valid). Anything else —
an older state, another signature, a restarted daemon — takes the full way, so the cache only
ever saves work and never decides anything.

Bounded: one entry per session, at most ISSUED_STATES_MAX, least recently used first out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from clearinghouse.signer.state import RemotePaymentState
from clearinghouse.signer.limits import ISSUED_STATES_MAX


class IssuedStates:
    """The last state issued per session (module docstring); safe to share between threads."""

    def __init__(self, entries_max: int = ISSUED_STATES_MAX) -> None:
        if entries_max < 1:
            raise ValueError(f"entries_max must be >= 1, got {entries_max}")
        self._entries_max = entries_max
        self._lock = threading.Lock()
        # session → (blob, signature, state), least recently used first
        self._by_session: OrderedDict[str, tuple[bytes, bytes, RemotePaymentState]] = OrderedDict()
        self._session_of: dict[bytes, str] = {}

    def remember(self, blob: bytes, signature: bytes, state: RemotePaymentState) -> None:
        """Note that we signed ``blob`` (the encoding of ``state``) with ``signature``."""
        with self._lock:
            old = self._by_session.pop(state.state_id, None)
            if old is not None:
                self._session_of.pop(old[0], None)
            self._by_session[state.state_id] = (blob, signature, state)
            self._session_of[blob] = state.state_id
            while len(self._by_session) > self._entries_max:
                _, (evicted, _, _) = self._by_session.popitem(last=False)
                self._session_of.pop(evicted, None)

    def recall(self, blob: bytes, signature: bytes) -> RemotePaymentState | None:
        """The state we issued as ``blob`` with exactly ``signature``, or None (check it fully)."""
        with self._lock:
            session = self._session_of.get(blob)
            if session is None:
                return None
            known_blob, known_signature, state = self._by_session[session]
            if known_blob != blob or known_signature != signature:
                return None
            self._by_session.move_to_end(session)
            return state
