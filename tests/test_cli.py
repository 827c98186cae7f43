"""The command line, run as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys


def clearinghouse(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "CLEARINGHOUSE_NO_EXTENSIONS"}
    return subprocess.run(
        [sys.executable, "-m", "clearinghouse", *args],
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_demo_signs_and_verifies_on_the_native_core() -> None:
    result = clearinghouse("demo", "--tickets", "250", "--batch", "100")
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert lines["ticket core"].strip() == "native"
    assert lines["tickets signed"].strip() == "250 in batches of 100, every one verified"
    assert lines["rate"].strip().endswith("tickets/s on one thread")
    # 250 tickets x EV(10**15, (2**256-1)//100) is just under 2.5e15 wei.
    assert lines["EV signed"].strip().startswith("2499999999999999 wei")


def test_demo_runs_on_the_reference_when_asked() -> None:
    result = clearinghouse("demo", "--tickets", "20", CLEARINGHOUSE_NO_EXTENSIONS="1")
    assert result.returncode == 0, result.stderr
    assert "ticket core:    reference" in result.stdout


def test_bad_options_exit_2_with_the_reason() -> None:
    result = clearinghouse("demo", "--tickets", "0")
    assert result.returncode == 2
    assert "0 is not in the range 1<=x<=1000000" in result.stderr
    result = clearinghouse("demo", "--batch", "601")
    assert result.returncode == 2
    assert "601 is not in the range 1<=x<=600" in result.stderr


def test_help_lists_the_commands() -> None:
    result = clearinghouse("--help")
    assert result.returncode == 0
    assert "demo" in result.stdout
