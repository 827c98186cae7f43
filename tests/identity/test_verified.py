"""The verified-token cache across two daemon processes sharing one database (issue 16), on SQLite
and PostgreSQL: each process is a VerifiedTokens of its own over the same ledger, with a clock the
test moves. A revocation or deactivation is honoured at once by the process that takes it; the
other honours it once its entry's STANDING_RECHECK_S has run out, never later."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from clearinghouse.identity.errors import InvalidToken
from clearinghouse.identity.keys import SigningKeys, create_key_file
from clearinghouse.identity.limits import STANDING_RECHECK_S
from clearinghouse.identity.service import IdentityService, IdentitySettings, register_app
from clearinghouse.identity.tokens import Scope, TokenCodec
from clearinghouse.identity.verified import VerifiedTokens
from clearinghouse.ledger import Database, create_gateway
from clearinghouse.ledger.identity import get_app, provision_user

PEPPER = b"p" * 32
ISSUER = "https://signer.example"


@dataclass
class Clock:
    now_s: float = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now_s


@dataclass
class Process:
    identity: IdentityService
    tokens: VerifiedTokens


def process(db: Database, keys_file: Path, clock: Clock) -> Process:
    codec = TokenCodec(SigningKeys(keys_file), issuer=ISSUER, audience="clearinghouse", clock_skew_s=30,
                       clock_s=clock)
    tokens = VerifiedTokens(db, codec, clock_s=clock)
    settings = IdentitySettings(ISSUER, "clearinghouse", 300, 3600, 30, frozenset({Scope.SIGN}))
    return Process(IdentityService(db, PEPPER, codec, settings, verified=tokens), tokens)


@pytest.fixture
def two(ledger_db: Database, tmp_path: Path) -> tuple[Process, Process, Clock, str]:
    """Two processes and a user token of alice."""
    create_key_file(tmp_path / "keys.json")
    clock = Clock()
    first, second = process(ledger_db, tmp_path / "keys.json", clock), process(ledger_db, tmp_path / "keys.json", clock)
    app, _ = register_app(ledger_db, PEPPER, create_gateway(ledger_db, "acme").id, "app")
    provision_user(ledger_db, app, "alice", None)
    token = first.identity.mint_user_token(app, "alice", None, None).access_token
    for each in (first, second):
        each.tokens.verify(token)
    return first, second, clock, token


def test_a_verified_token_is_answered_from_memory_until_its_recheck(two: tuple[Process, Process, Clock, str]) -> None:
    first, _, clock, token = two
    assert first.tokens.cached(token) is not None
    clock.now_s += STANDING_RECHECK_S
    assert first.tokens.cached(token) is None  # its standing is read again now
    first.tokens.verify(token)
    assert first.tokens.cached(token) is not None


def test_a_revocation_is_at_once_here_and_within_the_recheck_there(two: tuple[Process, Process, Clock, str]) -> None:
    first, second, clock, token = two
    first.identity.revoke(token)
    assert first.tokens.cached(token) is None
    with pytest.raises(InvalidToken, match="revoked"):
        first.tokens.verify(token)
    assert second.tokens.cached(token) is not None  # the documented window of the other process
    clock.now_s += STANDING_RECHECK_S
    assert second.tokens.cached(token) is None
    with pytest.raises(InvalidToken, match="revoked"):
        second.tokens.verify(token)


def test_a_deactivation_is_at_once_here_and_within_the_recheck_there(
    two: tuple[Process, Process, Clock, str], ledger_db: Database
) -> None:
    first, second, clock, token = two
    verified = first.tokens.cached(token)
    assert verified is not None
    first.identity.update_user(get_app(ledger_db, verified.claims.client_id), "alice", email=None, active=False)
    assert first.tokens.cached(token) is None
    with pytest.raises(InvalidToken, match="deactivated"):
        first.tokens.verify(token)
    clock.now_s += STANDING_RECHECK_S
    with pytest.raises(InvalidToken, match="deactivated"):
        second.tokens.cached(token) or second.tokens.verify(token)


def test_an_expired_token_leaves_the_cache(two: tuple[Process, Process, Clock, str]) -> None:
    first, _, clock, token = two
    clock.now_s += 300  # its lifetime
    assert first.tokens.cached(token) is None
    clock.now_s += 31  # and the skew
    with pytest.raises(InvalidToken, match="expired"):
        first.tokens.verify(token)
