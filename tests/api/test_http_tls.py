"""HTTPS on the HTTP listener: a real uvicorn server with an openssl self-signed certificate,
called by a client that trusts exactly that certificate."""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from clearinghouse.api import ApiKeyAuthenticator, RemoteSignerApp, serving
from clearinghouse.ledger import Database
from tests.api.conftest import PEPPER
from tests.api.fakes import FAKE_ADDRESS, FakePaymentService

TIMEOUT_S = 10


def self_signed(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) for localhost and 127.0.0.1, the key written 0600 as the daemon requires."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    key.chmod(0o600)
    return cert, key


def test_https_answers_a_client_that_trusts_the_certificate(db: Database, api_key: str, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    app = RemoteSignerApp(FakePaymentService(), api_keys=ApiKeyAuthenticator(db, PEPPER))
    trusting = ssl.create_default_context(cafile=str(cert))
    with serving(app, tls=(cert, key)) as url:
        assert url.startswith("https://127.0.0.1:")
        request = urllib.request.Request(f"{url}/sign-orchestrator-info", data=b"{}", method="POST",
                                         headers={"Authorization": f"Bearer {api_key}"})
        with urllib.request.urlopen(request, timeout=TIMEOUT_S, context=trusting) as answer:
            assert answer.status == 200
            assert json.loads(answer.read())["address"] == FAKE_ADDRESS
        # A client that trusts only the system's authorities refuses the self-signed certificate.
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(f"{url}/healthz", timeout=TIMEOUT_S, context=ssl.create_default_context())


def test_plain_http_to_the_tls_port_gets_no_answer(db: Database, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    app = RemoteSignerApp(FakePaymentService(), api_keys=ApiKeyAuthenticator(db, PEPPER))
    with serving(app, tls=(cert, key)) as url:
        port = int(url.rsplit(":", 1)[1])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
        try:
            with pytest.raises((http.client.HTTPException, ConnectionError)):
                connection.request("GET", "/healthz")
                connection.getresponse()
        finally:
            connection.close()
