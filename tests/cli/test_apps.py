"""`clearinghouse app|user|oidc …` and `serve` with [oidc] (issue 16): subprocesses, real files,
a real SQLite ledger, the daemon as a process."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from clearinghouse import ledger
from clearinghouse.config import load_settings
from clearinghouse.identity.service import secret_digest
from clearinghouse.ledger.identity import authenticate_app
from tests.cli.conftest import PEPPER_HEX, clearinghouse, write_daemon_config
from tests.cli.test_serve import free_port, serving, wait_ready


def with_oidc(config: Path, port: int) -> Path:
    with config.open("a") as file:
        file.write(f'\n[oidc]\nissuer = "http://127.0.0.1:{port}"\nsigning_keys_file = "oidc-keys.json"\n')
    return config


def ok(*args: str) -> str:
    result = clearinghouse(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_apps_users_and_keys_from_the_command_line(tmp_path: Path) -> None:
    config = str(with_oidc(write_daemon_config(tmp_path), 8935))
    ok("db", "upgrade", "--config", config)
    gateway_id = str(json.loads(ok("gateway", "add", "acme", "--json", "--config", config))["gateway_id"])

    first_kid = ok("oidc", "init-keys", "--config", config).split()[2]
    assert (tmp_path / "oidc-keys.json").stat().st_mode & 0o777 == 0o600
    assert clearinghouse("oidc", "init-keys", "--config", config).returncode == 1  # never overwrites
    assert "current" in ok("oidc", "rotate-key", "--config", config)
    kids = json.loads(ok("oidc", "keys", "--json", "--config", config))
    assert len(kids) == 2 and kids[0] == first_kid

    added = json.loads(ok("app", "add", gateway_id, "my-saas", "--json", "--config", config))
    client_id, secret = added["client_id"], added["client_secret"]
    assert client_id.startswith("app_") and secret.startswith("chs_")
    listing = ok("app", "list", "--config", config)
    assert client_id in listing and secret not in listing
    assert secret.encode() not in (tmp_path / "clearinghouse.sqlite3").read_bytes()
    rotated = json.loads(ok("app", "rotate-secret", client_id, "--json", "--config", config))["client_secret"]
    db = ledger.open_database(load_settings(Path(config)).database_url)
    try:
        pepper = bytes.fromhex(PEPPER_HEX)
        assert authenticate_app(db, client_id, secret_digest(pepper, secret)) is None  # the old secret is gone
        assert authenticate_app(db, client_id, secret_digest(pepper, rotated)) is not None
    finally:
        db.dispose()

    ok("user", "add", client_id, "alice", "--email", "alice@example.com", "--config", config)
    assert "remaining 5000 wei" in ok("user", "grant", client_id, "alice", "5000", "--config", config)
    users = json.loads(ok("user", "list", client_id, "--json", "--config", config))
    assert [(u["external_id"], u["grant_wei"], u["remaining_wei"]) for u in users] == [("alice", "5000", "5000")]
    ok("user", "deactivate", client_id, "alice", "--config", config)
    assert json.loads(ok("user", "list", client_id, "--json", "--config", config))[0]["active"] is False
    assert "disabled" in ok("app", "disable", client_id, "--config", config)
    assert json.loads(ok("app", "list", "--json", "--config", config))[0]["active"] is False
    unknown = clearinghouse("user", "list", "app_nope", "--config", config)
    assert unknown.returncode == 1 and "no app with client id" in unknown.stderr


def test_serve_with_oidc_publishes_discovery_and_takes_user_tokens(tmp_path: Path) -> None:
    port = free_port()
    config = str(with_oidc(write_daemon_config(tmp_path, http_port=port), port))
    ok("db", "upgrade", "--config", config)
    ok("oidc", "init-keys", "--config", config)
    gateway_id = str(json.loads(ok("gateway", "add", "acme", "--json", "--config", config))["gateway_id"])
    app = json.loads(ok("app", "add", gateway_id, "my-saas", "--json", "--config", config))
    ok("user", "add", app["client_id"], "alice", "--config", config)
    with serving(Path(config)) as daemon:
        wait_ready(port, daemon)
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/.well-known/openid-configuration", timeout=10) as answer:
            assert json.loads(answer.read())["issuer"] == base
        form = (f"grant_type=client_credentials&client_id={app['client_id']}&client_secret={app['client_secret']}"
                ).encode()
        with urllib.request.urlopen(urllib.request.Request(f"{base}/api/v1/oidc/token", data=form), timeout=10) as answer:
            app_token = json.loads(answer.read())["access_token"]
        minted = urllib.request.Request(f"{base}/api/v1/apps/{app['client_id']}/users/alice/token", data=b"{}",
                                        headers={"Authorization": f"Bearer {app_token}"}, method="POST")
        with urllib.request.urlopen(minted, timeout=10) as answer:
            user_token = json.loads(answer.read())["access_token"]
        signer_info = urllib.request.Request(f"{base}/sign-orchestrator-info", data=b"{}", method="POST",
                                             headers={"Authorization": f"Bearer {user_token}"})
        with urllib.request.urlopen(signer_info, timeout=10) as answer:
            assert answer.status == 200  # the user token authenticates on the remote-signer routes
        forged = urllib.request.Request(f"{base}/sign-orchestrator-info", data=b"{}", method="POST",
                                        headers={"Authorization": f"Bearer {user_token[:-4]}AAAA"})
        try:
            urllib.request.urlopen(forged, timeout=10)
            raise AssertionError("a forged token was accepted")
        except urllib.error.HTTPError as error:
            assert error.code == 401
