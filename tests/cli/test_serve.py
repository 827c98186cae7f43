"""`clearinghouse serve` as a process: zero-setup SQLite, refusal of an old schema or an exposed
secret, a live API over HTTP or HTTPS, and flags over the environment over the file."""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy
from alembic import command

from clearinghouse.ledger.schema import alembic_config
from tests.cli.conftest import clearinghouse, write_daemon_config

READY_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(config: Path) -> Iterator[subprocess.Popen[str]]:
    daemon = subprocess.Popen([sys.executable, "-m", "clearinghouse", "serve", "--config", str(config)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield daemon
    finally:
        daemon.terminate()
        daemon.wait(30)


def post(url: str, key: str | None) -> tuple[int, dict[str, object]]:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    request = urllib.request.Request(url, data=b"{}", headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_ready(port: int, daemon: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        assert daemon.poll() is None, daemon.stdout.read() if daemon.stdout else "daemon exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("daemon not ready")


def test_a_fresh_sqlite_ledger_is_created_and_the_api_answers(tmp_path: Path) -> None:
    port = free_port()
    config = write_daemon_config(tmp_path, http_port=port)
    with serving(config) as daemon:
        wait_ready(port, daemon)
        added = clearinghouse("gateway", "add", "acme", "--json", "--config", str(config))
        assert added.returncode == 0, added.stderr
        key = json.loads(added.stdout)["api_key"]
        status, body = post(f"http://127.0.0.1:{port}/sign-orchestrator-info", key)
        assert status == 200 and body["address"] == "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"
        status, body = post(f"http://127.0.0.1:{port}/sign-orchestrator-info", None)
        assert status == 401


def test_an_old_schema_is_refused_with_the_command_to_run(tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path, http_port=free_port())
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'clearinghouse.sqlite3'}")
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
    engine.dispose()
    result = subprocess.run([sys.executable, "-m", "clearinghouse", "serve", "--config", str(config)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "clearinghouse db upgrade" in result.stderr


def clean_environment(**variables: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CLEARINGHOUSE_")} | variables


def wait_answering(url: str, daemon: subprocess.Popen[str], context: ssl.SSLContext | None = None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        assert daemon.poll() is None, daemon.stdout.read() if daemon.stdout else "daemon exited"
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1, context=context) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"daemon not ready at {url}")


@contextmanager
def daemon_process(*args: str, **variables: str) -> Iterator[subprocess.Popen[str]]:
    daemon = subprocess.Popen([sys.executable, "-m", "clearinghouse", "serve", *args],
                              env=clean_environment(**variables), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        yield daemon
    finally:
        daemon.terminate()
        daemon.wait(30)


def test_a_keystore_readable_by_others_is_refused_naming_it(tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path, http_port=free_port())
    (tmp_path / "sender.json").chmod(0o644)
    result = subprocess.run([sys.executable, "-m", "clearinghouse", "serve", "--config", str(config)],
                            env=clean_environment(), capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert f"signer.keystore {tmp_path / 'sender.json'} is accessible by group or others (mode 644)" in result.stderr


def test_the_port_flag_beats_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    file_port, env_port, flag_port = free_port(), free_port(), free_port()
    config = write_daemon_config(tmp_path, http_port=file_port)
    with daemon_process("--config", str(config), "--port", str(flag_port), "--log-format", "text",
                        CLEARINGHOUSE_HTTP_PORT=str(env_port)) as daemon:
        wait_answering(f"http://127.0.0.1:{flag_port}", daemon)
        for port in (file_port, env_port):
            with pytest.raises(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)


def test_https_with_a_certificate_from_the_config(tmp_path: Path) -> None:
    from tests.api.test_http_tls import self_signed

    port = free_port()
    config = write_daemon_config(tmp_path, http_port=port)
    cert, key = self_signed(tmp_path)
    config.write_text(config.read_text().replace(f"port = {port}", f'port = {port}\ncert_file = "{cert.name}"\n'
                                                                   f'key_file = "{key.name}"'))
    with daemon_process("--config", str(config)) as daemon:
        wait_answering(f"https://127.0.0.1:{port}", daemon, ssl.create_default_context(cafile=str(cert)))
        with pytest.raises((OSError, http.client.HTTPException)):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5)


def test_a_tls_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    from tests.api.test_http_tls import self_signed

    config = write_daemon_config(tmp_path, http_port=free_port())
    cert, key = self_signed(tmp_path)
    key.chmod(0o644)
    config.write_text(config.read_text().replace("[http]", f'[http]\ncert_file = "{cert}"\nkey_file = "{key}"'))
    result = subprocess.run([sys.executable, "-m", "clearinghouse", "serve", "--config", str(config)],
                            env=clean_environment(), capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1 and f"http.key_file {key} is accessible by group or others" in result.stderr
