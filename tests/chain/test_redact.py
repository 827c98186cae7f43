"""RPC credentials never appear in a redacted URL, a scrubbed message or a library log line."""

from __future__ import annotations

import logging

import pytest

from clearinghouse.chain.limits import ERROR_DETAIL_CHARS_MAX
from clearinghouse.chain.redact import LIBRARY_LOGGERS, RpcSecrets, hide_in_library_logs, redact_rpc_url

INFURA_KEY = "0123456789abcdef0123456789abcdef"
ALCHEMY_KEY = "Ab3dE_fGh-1jKlMnOpQrStUvWxYz0123"


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        (f"https://arbitrum-mainnet.infura.io/v3/{INFURA_KEY}", "https://arbitrum-mainnet.infura.io/v3/***"),
        (f"https://arb-mainnet.g.alchemy.com/v2/{ALCHEMY_KEY}", "https://arb-mainnet.g.alchemy.com/v2/***"),
        ("https://alice:hunter2@rpc.example.com:8443/arbitrum", "https://rpc.example.com:8443/arbitrum"),
        (
            "https://rpc.example.com/arbitrum-mainnet/rpc?apikey=s3cr3t&x",
            "https://rpc.example.com/arbitrum-mainnet/rpc?apikey=***&x",
        ),
        (f"https://n.quiknode.pro/{'ab12' * 10}/#frag", "https://n.quiknode.pro/***/"),
        ("http://[::1]:8545/", "http://[::1]:8545/"),
        ("http://host:notaport/v3/x", "<unparseable RPC URL>"),
    ],
)
def test_redact_rpc_url(url: str, redacted: str) -> None:
    assert redact_rpc_url(url) == redacted


def test_scrub_masks_every_credential_in_foreign_text() -> None:
    url = f"https://alice:hunter%32@arb.example/v3/{INFURA_KEY}?apikey=qwertyuiop"
    text = (
        f"HTTPSConnectionPool(host='arb.example', port=443): Max retries exceeded with url: /v3/{INFURA_KEY}"
        f"?apikey=qwertyuiop (alice / hunter2) for url: {url}"
    )
    scrubbed = RpcSecrets(url).scrub(text)
    for secret in (INFURA_KEY, "qwertyuiop", "alice", "hunter2", "hunter%32"):
        assert secret not in scrubbed
    assert "https://arb.example/v3/***?apikey=***" in scrubbed


def test_library_debug_lines_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    url = f"https://bob:pa55word@arb.example/v3/{INFURA_KEY}"
    hide_in_library_logs(url)
    hide_in_library_logs(url)  # idempotent: one filter per logger
    for name in LIBRARY_LOGGERS:
        assert sum(type(f).__name__ == "_ScrubbingFilter" for f in logging.getLogger(name).filters) == 1
    with caplog.at_level(logging.DEBUG):
        web3_logger = logging.getLogger("web3.providers.HTTPProvider")
        web3_logger.debug("Making request HTTP. URI: %s, Method: %s", url, "eth_call")
        logging.getLogger("urllib3.connectionpool").debug('"POST /v3/%s HTTP/1.1" 200 42', INFURA_KEY)
    assert INFURA_KEY not in caplog.text and "pa55word" not in caplog.text
    assert "URI: https://arb.example/v3/***, Method: eth_call" in caplog.text


def test_an_error_detail_is_scrubbed_then_shortened() -> None:
    url = f"https://arbitrum-mainnet.infura.io/v3/{INFURA_KEY}"
    secrets = RpcSecrets(url)
    short = secrets.error_detail(ConnectionError(f"Max retries exceeded with url: /v3/{INFURA_KEY}"))
    assert short == "ConnectionError: Max retries exceeded with url: /v3/***"
    # A key past the cut is masked before cutting, so no prefix of it survives either.
    long = secrets.error_detail(ValueError("x" * (ERROR_DETAIL_CHARS_MAX - 20) + INFURA_KEY + "y" * 50))
    assert INFURA_KEY[:8] not in long
    assert len(long) == ERROR_DETAIL_CHARS_MAX + 1 and long.endswith("…")
