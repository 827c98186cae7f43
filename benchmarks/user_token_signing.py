"""Signing with an end user's token against signing with the gateway's API key (issue 16).

Starts `clearinghouse serve` once with [oidc] (SQLite ledger, static chain view, one gateway with
ample credit, one app, one user with an allowance of 10^24 wei), then alternates rounds of
/generate-live-payment load through benchmarks/load_generator.py (its own process, keep-alive
sessions, one ticket per call): an API-key round, a user-token round, and so on. The token round
pays what a user's call costs beyond a key's: the verified-token cache lookup instead of the key
cache's, and in the ledger batch the user's subject rows and allowance (read, checked, written).
A warm-up round of each kind comes first and is not counted (the daemon compiles its statements
for subjects and allowances on their first use). Reports calls/s and p50 per kind (summed over
its rounds), the ratio of per-call cost, token / key (= key calls/s / token calls/s), and the
median of the per-round ratios (the machine is shared: a round's neighbour noise moves both
kinds alike only within a round pair); the issue's bar is <= 1.10.

Then, in this process, the authentication step alone: ``ApiKeyAuthenticator.cached_caller`` for a
remembered key and for a remembered token, microseconds per call.

Usage: python benchmarks/user_token_signing.py [--rounds 3] [--seconds 8] [--connections 16]
Prints one JSON line per round and a summary line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from remote_signer import free_port, prepare_ledger, wait_ready, write_config  # noqa: E402

from clearinghouse import ledger  # noqa: E402
from clearinghouse.api import ApiKeyAuthenticator  # noqa: E402
from clearinghouse.api.requests import RequestHeaders  # noqa: E402
from clearinghouse.identity.keys import create_key_file  # noqa: E402
from clearinghouse.identity.service import IdentitySettings, identity_service, register_app  # noqa: E402
from clearinghouse.identity.tokens import Scope  # noqa: E402
from clearinghouse.ledger.identity import grant_allowance, provision_user  # noqa: E402

STOP_TIMEOUT_S = 30.0
AUTH_CALLS = 50_000
TOKEN_LIFETIME_S = 3600


def settings(issuer: str) -> IdentitySettings:
    return IdentitySettings(issuer=issuer, audience="clearinghouse", user_token_lifetime_s=TOKEN_LIFETIME_S,
                            app_token_lifetime_s=3600, clock_skew_s=30, user_scope=frozenset({Scope.SIGN}))


def add_oidc(config: Path, issuer: str) -> None:
    with config.open("a") as file:
        file.write(f'[oidc]\nissuer = "{issuer}"\nsigning_keys_file = "oidc-keys.json"\n'
                   f"user_token_lifetime_s = {TOKEN_LIFETIME_S}\n")


def user_token(database_url: str, directory: Path, issuer: str) -> str:
    """An app of the bench gateway, a user with an ample allowance, and its token."""
    pepper = bytes.fromhex((directory / "pepper.txt").read_text())
    db = ledger.open_database(database_url)
    try:
        app, _ = register_app(db, pepper, ledger.list_gateways(db)[0].id, "bench-app")
        provision_user(db, app, "bench-user", None)
        grant_allowance(db, app, "bench-user", 10**24)
        identity = identity_service(db, pepper, directory / "oidc-keys.json", settings(issuer))
        return identity.mint_user_token(app, "bench-user", None, None).access_token
    finally:
        db.dispose()


def load(port: int, credential: str, args: argparse.Namespace) -> dict[str, object]:
    answer = subprocess.run(
        [sys.executable, str(HERE / "load_generator.py"), "--url", f"http://127.0.0.1:{port}",
         "--api-key", credential, "--connections", str(args.connections), "--seconds", str(args.seconds)],
        check=True, capture_output=True, text=True)
    result: dict[str, object] = json.loads(answer.stdout.strip().splitlines()[-1])
    return result


def auth_step_us(database_url: str, directory: Path, issuer: str, key: str, token: str) -> dict[str, float]:
    """Microseconds per ``cached_caller`` for a remembered key and a remembered token."""
    pepper = bytes.fromhex((directory / "pepper.txt").read_text())
    db = ledger.open_database(database_url)
    try:
        identity = identity_service(db, pepper, directory / "oidc-keys.json", settings(issuer))
        authenticator = ApiKeyAuthenticator(db, pepper, tokens=identity.verified)
        timings = {}
        for name, credential in (("api_key", key), ("user_token", token)):
            headers = RequestHeaders([(b"authorization", f"Bearer {credential}".encode())])
            authenticator.caller(headers)  # remember it
            started = time.perf_counter()
            for _ in range(AUTH_CALLS):
                authenticator.cached_caller(headers)
            timings[name] = round((time.perf_counter() - started) / AUTH_CALLS * 1e6, 2)
        return timings
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clearinghouse-token-bench-") as name:
        directory = Path(name)
        database_url = f"sqlite:///{directory / 'ledger.sqlite3'}"
        port = free_port()
        issuer = f"http://127.0.0.1:{port}"
        config = write_config(directory, database_url, port)
        add_oidc(config, issuer)
        create_key_file(directory / "oidc-keys.json")
        key = prepare_ledger(database_url, (directory / "pepper.txt").read_text())
        token = user_token(database_url, directory, issuer)
        daemon = subprocess.Popen([sys.executable, "-m", "clearinghouse", "serve", "--config", str(config),
                                   "--log-level", "warning"], stdout=subprocess.DEVNULL)
        totals = {"api_key": [0, 0.0, []], "user_token": [0, 0.0, []]}
        try:
            wait_ready(port, daemon)
            warm_up = argparse.Namespace(**{**vars(args), "seconds": 2.0})
            for credential in (key, token):
                load(port, credential, warm_up)
            ratios = []
            for round_number in range(args.rounds):
                pair = {}
                for kind, credential in (("api_key", key), ("user_token", token)):
                    result = load(port, credential, args)
                    print(json.dumps({"round": round_number, "kind": kind, **result}), flush=True)
                    entry = totals[kind]
                    entry[0] += int(result["calls"])  # type: ignore[call-overload]
                    entry[1] += float(args.seconds)
                    entry[2].append(result["p50_ms"])  # type: ignore[union-attr]
                    pair[kind] = float(result["calls_per_s"])  # type: ignore[arg-type]
                ratios.append(pair["api_key"] / pair["user_token"])
        finally:
            daemon.terminate()
            daemon.wait(STOP_TIMEOUT_S)
        rates = {kind: entry[0] / entry[1] for kind, entry in totals.items()}  # type: ignore[operator]
        summary = {
            "calls_per_s": {kind: round(rate, 1) for kind, rate in rates.items()},
            "p50_ms": {kind: sorted(entry[2])[len(entry[2]) // 2] for kind, entry in totals.items()},  # type: ignore[arg-type]
            "per_call_cost_ratio_token_over_key": round(rates["api_key"] / rates["user_token"], 3),
            "median_round_ratio": round(sorted(ratios)[len(ratios) // 2], 3),
            "auth_step_us": auth_step_us(database_url, directory, issuer, key, token),
        }
        print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    main()
