"""The selector: native by default, the reference on request, and no silent fallback for the daemon."""

from __future__ import annotations

import os
import subprocess
import sys

import clearinghouse.pm as pm
from clearinghouse.pm import _native as native
from clearinghouse.pm import reference

PUBLIC_FUNCTIONS = {
    "is_winning_ticket",
    "keccak256",
    "personal_sign",
    "private_key_to_address",
    "recover_personal_signer",
    "sign_ticket_batch",
    "ticket_hash",
    "verify_personal_signature",
}


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "CLEARINGHOUSE_NO_EXTENSIONS"}
    return subprocess.run(
        [sys.executable, "-c", code],
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_public_api_is_the_same_on_both_cores() -> None:
    assert set(pm.__all__) == PUBLIC_FUNCTIONS | {
        "IMPLEMENTATION",
        "NATIVE_IMPORT_ERROR",
        "require_native",
    }
    for name in PUBLIC_FUNCTIONS:
        assert callable(getattr(native, name)) and callable(getattr(reference, name)), name


def test_native_is_the_default() -> None:
    result = run("import clearinghouse.pm as p; p.require_native(); print(p.IMPLEMENTATION)")
    assert result.stdout.strip() == "native", result.stderr


def test_environment_variable_forces_the_reference() -> None:
    result = run(
        "import clearinghouse.pm as p; p.require_native(); print(p.IMPLEMENTATION)",
        CLEARINGHOUSE_NO_EXTENSIONS="1",
    )
    assert result.stdout.strip() == "reference", result.stderr


def test_a_broken_native_build_is_reported_and_refused_for_the_daemon() -> None:
    code = (
        "import sys; sys.modules['clearinghouse.pm._native'] = None\n"
        "import clearinghouse.pm as p\n"
        "print(p.IMPLEMENTATION, p.NATIVE_IMPORT_ERROR is not None)\n"
        "from clearinghouse.errors import NativeCoreUnavailable\n"
        "try:\n    p.require_native()\nexcept NativeCoreUnavailable as exc:\n    print('refused:', exc)\n"
    )
    lines = run(code).stdout.splitlines()
    assert lines[0] == "reference True"
    assert lines[1].startswith("refused: the native ticket core failed to import")
    assert "CLEARINGHOUSE_NO_EXTENSIONS=1" in lines[1]
