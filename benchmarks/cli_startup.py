"""How long the ``clearinghouse`` command takes to start and answer, as a user runs it (issue 19).

Each command is run as a whole process, repeatedly, against a throwaway configuration with a
static chain view and a SQLite ledger holding one gateway: the wall time from exec to exit, and
the CPU time the process used. One untimed run first writes the bytecode caches, as any
installed package has them (PYTHONDONTWRITEBYTECODE is removed from the children's
environment). ``--importtime`` adds, per command, the imports that cost most (``python -X
importtime``). Nothing is installed at run time.

    .venv/bin/python benchmarks/cli_startup.py --runs 15
    .venv/bin/python benchmarks/cli_startup.py --runs 15 --importtime --json /tmp/cli_startup.json
    # another tree of the package (e.g. an older commit, exported with `git archive`):
    PYTHONPATH=/tmp/before .venv/bin/python benchmarks/cli_startup.py --runs 15

Exit code 1 when ``--check`` is given and a command's median is above its target.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

TARGET_S = 0.3
"""Issue 19: ``--help``, ``config show`` and ``gateway list`` answer within this."""

RUN_TIMEOUT_S = 60.0
"""A single command that takes longer than this is broken, not slow."""

COMMANDS: dict[str, tuple[str, ...]] = {
    "--help": ("--help",),
    "config show": ("config", "show", "--config", "{config}"),
    "gateway list": ("gateway", "list", "--config", "{config}"),
    "invoice list": ("invoice", "list", "--config", "{config}"),
    "usage": ("usage", "--month", "2026-11", "--config", "{config}"),
}
"""What is timed: the three the issue names, and two finance and operator commands for scale."""

TARGETED = ("--help", "config show", "gateway list")


@dataclass(frozen=True, slots=True)
class Timing:
    """Whole-process timings of one command over ``runs`` runs, in seconds."""

    command: str
    runs: int
    wall_min_s: float
    wall_median_s: float
    wall_max_s: float
    cpu_median_s: float
    target_s: float | None


def _environment() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("CLEARINGHOUSE_")}
    keep.pop("PYTHONDONTWRITEBYTECODE", None)
    return keep


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run; raises on a non-zero exit.

    Runs in the system's temporary directory, as a user runs it away from the source tree, so
    that ``-m`` imports the installed package (or the one on PYTHONPATH), not ./clearinghouse."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False,
                            cwd=tempfile.gettempdir())
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()[:500]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _prepare(directory: Path, env: dict[str, str]) -> Path:
    """A configuration whose ledger is at the current schema and holds one gateway."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "cli"))
    from conftest import write_daemon_config  # the test suite's complete static-chain configuration

    config = write_daemon_config(directory)
    for args in (("db", "upgrade"), ("gateway", "add", "bench-gateway")):
        _run([sys.executable, "-m", "clearinghouse", *args, "--config", str(config)], env)
    return config


def time_command(name: str, config: Path, runs: int, env: dict[str, str]) -> Timing:
    argv = [sys.executable, "-m", "clearinghouse", *(a.format(config=config) for a in COMMANDS[name])]
    _run(argv, env)  # bytecode caches written, files in the page cache
    walls, cpus = zip(*(_run(argv, env) for _ in range(runs)), strict=True)
    return Timing(name, runs, min(walls), statistics.median(walls), max(walls), statistics.median(cpus),
                  TARGET_S if name in TARGETED else None)


def top_imports(name: str, config: Path, env: dict[str, str], count: int = 8) -> list[tuple[str, int]]:
    """The ``count`` top-level imports with the largest cumulative time (µs), from -X importtime."""
    argv = [sys.executable, "-X", "importtime", "-m", "clearinghouse",
            *(a.format(config=config) for a in COMMANDS[name])]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False,
                            cwd=tempfile.gettempdir())
    rows: list[tuple[str, int]] = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, module = line.split("|")
        if cumulative.strip().isdigit() and module.startswith(" ") and not module.startswith("  "):
            rows.append((module.strip(), int(cumulative)))
    return sorted(rows, key=lambda row: -row[1])[:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command (after one warm-up)")
    parser.add_argument("--importtime", action="store_true", help="show the costliest imports per command")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--check", action="store_true", help=f"exit 1 when a median is above {TARGET_S} s")
    args = parser.parse_args()
    env = _environment()
    with tempfile.TemporaryDirectory(prefix="cli-startup-") as directory:
        config = _prepare(Path(directory), env)
        timings = [time_command(name, config, args.runs, env) for name in COMMANDS]
        imports = {name: top_imports(name, config, env) for name in COMMANDS} if args.importtime else {}
    print(f"{'command':<14} {'min s':>7} {'median s':>9} {'max s':>7} {'cpu s':>7}  target")
    for t in timings:
        verdict = "" if t.target_s is None else ("meets" if t.wall_median_s <= t.target_s else "ABOVE")
        print(f"{t.command:<14} {t.wall_min_s:7.3f} {t.wall_median_s:9.3f} {t.wall_max_s:7.3f} "
              f"{t.cpu_median_s:7.3f}  {'' if t.target_s is None else t.target_s} {verdict}")
    for name, rows in imports.items():
        print(f"\n{name}: costliest top-level imports (cumulative ms)")
        for module, micros in rows:
            print(f"  {module:<48} {micros / 1000:8.1f}")
    if args.json is not None:
        args.json.write_text(json.dumps({"timings": [asdict(t) for t in timings], "imports": imports}, indent=2))
    above = [t for t in timings if t.target_s is not None and t.wall_median_s > t.target_s]
    return 1 if args.check and above else 0


if __name__ == "__main__":
    sys.exit(main())
