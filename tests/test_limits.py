"""The named limits of every layer agree with each other and with the protocol."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from clearinghouse.domain import limits as core
from clearinghouse.api import limits as api
from clearinghouse.domain.limits import (
    REQUEST_BODY_BYTES_MAX,
    REQUEST_BODY_TIMEOUT_S,
    REQUEST_HEADER_BYTES_MAX,
    RESPONSE_BYTES_MAX,
    TEXT_ID_LENGTH_MAX,
    TICKETS_PER_RECORD_MAX,
)
from clearinghouse.ledger import limits as ledger
from clearinghouse.signer import limits as signer

# A Payment ticket is ~75 bytes, SegData and a state blob well under 2 KiB; base64 adds a third.
PAYMENT_TICKET_BYTES_MAX = 80
RESPONSE_OVERHEAD_BYTES_MAX = 16 * 1024


def test_ticket_counts_nest() -> None:
    assert signer.TICKETS_PER_CALL_MAX <= core.TICKETS_PER_BATCH_MAX
    assert signer.TICKETS_PER_CALL_MAX == TICKETS_PER_RECORD_MAX
    # Neither a batch nor a session may pass the orchestrator's 600-nonce cap.
    assert core.TICKETS_PER_BATCH_MAX == signer.NONCES_PER_RECIPIENT_RAND_HASH_MAX == 600


def test_whatever_a_call_may_carry_fits_the_next_layer() -> None:
    assert signer.STATE_JSON_BYTES_MAX <= core.PERSONAL_MESSAGE_BYTES_MAX
    assert signer.STATE_JSON_BYTES_MAX * 4 // 3 + RESPONSE_OVERHEAD_BYTES_MAX <= REQUEST_BODY_BYTES_MAX
    largest_response = signer.TICKETS_PER_CALL_MAX * PAYMENT_TICKET_BYTES_MAX * 4 // 3 + RESPONSE_OVERHEAD_BYTES_MAX
    assert largest_response <= RESPONSE_BYTES_MAX
    assert api.USAGE_SUBJECT_LENGTH_MAX <= TEXT_ID_LENGTH_MAX


def test_waits_are_bounded_and_ordered() -> None:
    # A call waiting for a signing thread gives up before the client's own patience would.
    assert 0 < api.THREAD_WAIT_S <= REQUEST_BODY_TIMEOUT_S
    assert 0 < ledger.SQLITE_BUSY_TIMEOUT_S <= 30
    assert 0 < api.WEBHOOK_TIMEOUT_S <= 10
    assert signer.AUTH_TOKEN_REFRESH_S == 180  # go-livepeer: the last 3 of an auth token's 30 min


def test_nonce_refresh_leaves_room_for_a_whole_call() -> None:
    # go-livepeer v0.9.2 (#4028): refresh at 500 so that a last call of 100 tickets, starting at
    # nonce 499 at the latest, still ends below the orchestrators' 600.
    assert signer.SENDER_NONCE_REFRESH_AT == 500
    assert signer.SENDER_NONCE_REFRESH_AT - 1 + signer.TICKETS_PER_CALL_MAX <= signer.NONCES_PER_RECIPIENT_RAND_HASH_MAX


def test_the_default_face_value_cap_and_the_retry_window_are_sane() -> None:
    from clearinghouse.chain import limits as chain
    from clearinghouse.chain.limits import DEPOSIT_FACE_VALUE_MULTIPLE_WARN_DEFAULT

    # One win at the cap leaves the deposit above the cap (never critical by itself), and the
    # cap sits at the warn line, so signing at it raises no warning before a win.
    assert signer.MAX_FACE_VALUE_DEPOSIT_DIVISOR >= 2
    assert signer.MAX_FACE_VALUE_DEPOSIT_DIVISOR == DEPOSIT_FACE_VALUE_MULTIPLE_WARN_DEFAULT
    assert 0 < signer.FIRST_CALL_RETRY_WINDOW_S <= signer.FIRST_CALL_RETRY_WINDOW_S_MAX <= 3600
    # Every open round's hash fits the cache several times; the ledger accepts every period the chain may.
    assert chain.ROUND_BLOCK_HASHES_CACHED_MAX >= 2 * chain.TICKET_VALIDITY_ROUNDS_MAX
    assert chain.TICKET_VALIDITY_ROUNDS_MAX <= ledger.TICKET_VALIDITY_ROUNDS_MAX


def test_identity_limits_nest() -> None:
    """Issue 16: a user's subject fits the records' column; tokens fit a form and a header; the
    cross-process revocation window is shorter than a user token lives; lifetimes are ordered."""
    from clearinghouse.api.limits import BUILDER_BODY_BYTES_MAX
    from clearinghouse.identity import limits as identity

    client_id_chars = len("app_") + (identity.CLIENT_ID_RANDOM_BYTES * 4 + 2) // 3
    assert client_id_chars <= ledger.CLIENT_ID_LENGTH_MAX
    assert client_id_chars + 1 + ledger.EXTERNAL_ID_LENGTH_MAX <= TEXT_ID_LENGTH_MAX  # <client>:<user>
    assert 2 * identity.TOKEN_CHARS_MAX + 1024 <= identity.FORM_BYTES_MAX  # subject token and actor room
    assert identity.TOKEN_CHARS_MAX + len("Bearer ") <= REQUEST_HEADER_BYTES_MAX
    assert 0 < identity.STANDING_RECHECK_S < identity.USER_TOKEN_LIFETIME_S_DEFAULT
    assert identity.KEY_FILE_CHECK_S <= identity.STANDING_RECHECK_S
    assert identity.USER_TOKEN_LIFETIME_S_DEFAULT <= identity.USER_TOKEN_LIFETIME_S_MAX <= identity.APP_TOKEN_LIFETIME_S_MAX
    assert identity.APP_TOKEN_LIFETIME_S_DEFAULT <= identity.APP_TOKEN_LIFETIME_S_MAX
    assert 0 < identity.CLOCK_SKEW_S_DEFAULT <= identity.CLOCK_SKEW_S_MAX < identity.USER_TOKEN_LIFETIME_S_DEFAULT
    assert ledger.EMAIL_LENGTH_MAX + ledger.EXTERNAL_ID_LENGTH_MAX < BUILDER_BODY_BYTES_MAX


# ---- every named limit lives in a limits module (issue #20) ----

LIMIT_NAME = re.compile(r"^[A-Z][A-Z0-9_]*_(MAX|MIN|S|MS)(_[A-Z0-9]+)*$")
"""A module-level name that carries a bound (``_MAX``, ``_MIN``) or a time (``_S``, ``_MS``),
wherever the qualifier sits (``RUNWAY_SHOWN_MAX_S``, ``SAMPLES_MAX_DEFAULT``)."""

INTEGER_WIDTH = re.compile(r"^U?INT(32|64|256)_(MAX|MIN)$")
"""The range of a wire or column integer type (``UINT256_MAX``): a protocol fact, kept beside the
encoder that checks it."""

PROTOCOL_FACTS = {
    # Spec 01's field widths, named as the native core names them (pm/reference.py mirrors it).
    ("clearinghouse/domain/tickets.py", "SENDER_NONCE_UINT32_MAX"),
    ("clearinghouse/pm/reference.py", "CREATION_ROUND_MAX"),
    # A unit conversion (nanoseconds in a second), not a bound.
    ("clearinghouse/signer/goformat.py", "NS_PER_S"),
    # Prometheus histogram bucket edges: where latencies are counted, not a bound on anything.
    ("clearinghouse/api/metrics.py", "LATENCY_BUCKETS_S"),
}
"""Names that match LIMIT_NAME but are not limits, and stay with the code they describe."""

PACKAGE = Path(__file__).resolve().parent.parent / "clearinghouse"


def _module_level_names(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign):
            names += [target.id for target in node.targets if isinstance(target, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            names.append(node.target.id)
    return names


def test_limits_are_defined_only_in_limits_modules() -> None:
    strays = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).as_posix()
        if path.name == "limits.py" or relative.startswith("clearinghouse/proto/"):  # proto: generated
            continue
        for name in _module_level_names(path):
            if LIMIT_NAME.match(name) and not INTEGER_WIDTH.match(name) and (relative, name) not in PROTOCOL_FACTS:
                strays.append(f"{relative}: {name}")
    assert strays == [], "limits belong in their package's limits.py (or clearinghouse/domain/limits.py)"


def test_the_allow_list_names_only_what_exists() -> None:
    # A protocol fact that was renamed or moved must leave the allow-list too.
    for relative, name in PROTOCOL_FACTS:
        assert name in _module_level_names(PACKAGE.parent / relative), (relative, name)


def test_a_limit_is_defined_once_per_package() -> None:
    # The shared module holds what two layers check; a layer's module may not define it again.
    from clearinghouse.domain import limits as shared

    shared_names = {name for name in _module_level_names(Path(shared.__file__)) if LIMIT_NAME.match(name)}
    for path in sorted(PACKAGE.glob("*/limits.py")):
        if path.parent.name != "domain":
            again = shared_names & set(_module_level_names(path))
            assert not again, f"{path.parent.name}/limits.py defines shared limits again: {sorted(again)}"


def test_retries_back_off_within_their_ceilings() -> None:
    from clearinghouse.billing import limits as billing
    from clearinghouse.chain import limits as chain
    from clearinghouse.events import limits as events

    assert 0 < billing.DELIVERY_RETRY_BASE_S < billing.DELIVERY_RETRY_MAX_S
    assert 0 < events.RETRY_BACKOFF_MIN_S < events.RETRY_BACKOFF_MAX_S
    # A sink's thread and the relay child each end within the sinks' own timeouts.
    assert max(events.HTTP_TIMEOUT_S, events.NATS_ACK_TIMEOUT_S) <= events.SINK_STOP_TIMEOUT_S
    assert events.SINK_STOP_TIMEOUT_S <= events.RELAY_PROCESS_STOP_TIMEOUT_S
    # A failed chain read is retried sooner than the next regular refresh, and data goes stale only
    # after several refreshes failed.
    assert 0 < chain.RETRY_BACKOFF_FIRST_S < chain.CHAIN_REFRESH_S_DEFAULT < chain.CHAIN_STALE_AFTER_S_DEFAULT
