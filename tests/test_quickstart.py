"""The README's quickstart, run as written, step by step (issue 19).

The ```bash blocks of the "Quickstart" section are the steps: the first (the devnet) runs in the
background as in its own terminal, the rest run in order in one shell, as in the second terminal,
from a fresh directory holding only the checkout's venv and benchmarks (as the checkout does).
Nothing here copies a command: change the README and this runs what it says.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent

DEVNET_READY_S = 120.0
"""anvil, five contracts, funding and the daemon's start take a few seconds; two minutes is broken."""

STEPS_TIMEOUT_S = 180.0
"""Every step after the devnet, the five seconds of load included."""

DEVNET_PORTS = (8935, 8936)
"""The devnet daemon's HTTP and gRPC ports, which the README's steps call as written."""

PORTS_FREE_S = 180.0
"""Another checkout's suite on the same machine may be running its quickstart on these ports."""


def quickstart_blocks() -> list[str]:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [re.sub(r"^ {3}", "", block, flags=re.MULTILINE).strip()
            for block in re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)]


def test_the_quickstart_names_programs_by_path_and_no_placeholder() -> None:
    commands = [line for block in quickstart_blocks() for line in block.splitlines() if line.strip()]
    assert commands and all(line.startswith((".venv/bin/", "export ", "curl ")) for line in commands), commands
    assert not any("…" in line or "<" in line for line in commands), "a step the reader would have to edit"


def test_the_quickstart_runs_as_written(tmp_path: Path) -> None:
    devnet, *steps = quickstart_blocks()
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARINGHOUSE_")}
    output = tmp_path / "devnet.out"
    _wait_for_free_ports(DEVNET_PORTS)
    with output.open("w") as out:
        chain = subprocess.Popen(["bash", "-c", f"exec {devnet}"], cwd=tmp_path, env=env, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_line(chain, output, "metrics ")
        first_screen = output.read_text()
        assert "alembic" not in first_screen and "npm warn" not in first_screen
        script = "set -euo pipefail -x\n" + "\n".join(steps)
        result = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=STEPS_TIMEOUT_S, check=False)
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
        assert '"errors": {}' in result.stdout, result.stdout  # the load was signed, not refused
        assert "(partial: the period has not ended)" in result.stdout
        assert "ledger ok" in result.stdout
    finally:
        with contextlib.suppress(ProcessLookupError):  # a devnet that failed has already exited
            os.killpg(chain.pid, signal.SIGINT)  # Ctrl-C, as the quickstart says; the devnet stops anvil
        try:
            chain.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(chain.pid, signal.SIGKILL)
            chain.wait()


def _wait_for_free_ports(ports: tuple[int, ...]) -> None:
    deadline = time.monotonic() + PORTS_FREE_S
    while True:
        busy = [port for port in ports if not _bindable(port)]
        if not busy:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"ports {busy} stayed in use for {PORTS_FREE_S:g} s: the quickstart needs them")
        time.sleep(0.5)  # polling for the condition (the other devnet's exit), not waiting a fixed time


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_for_line(process: subprocess.Popen[bytes], output: Path, prefix: str) -> None:
    deadline = time.monotonic() + DEVNET_READY_S
    while time.monotonic() < deadline:
        if any(line.startswith(prefix) for line in output.read_text().splitlines()):
            return
        if process.poll() is not None:
            raise AssertionError(f"the devnet exited {process.returncode}:\n{output.read_text()}")
        time.sleep(0.1)  # polling the output file for the condition, not waiting a fixed time
    raise AssertionError(f"the devnet printed no {prefix!r} line in {DEVNET_READY_S:g} s:\n{output.read_text()}")
