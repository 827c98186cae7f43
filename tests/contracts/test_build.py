"""The committed artifacts in contracts/build are what the pinned solc makes of contracts/src."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from clearinghouse.chain.artifacts import CONTRACTS_DIR

BUILD_CHECK_TIMEOUT_S = 120.0
"""solc-js (WebAssembly) compiles our sources in ~5 s; 120 s covers a loaded CI machine."""

EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


def test_npm_tools_are_pinned_to_exact_versions() -> None:
    manifest = json.loads((CONTRACTS_DIR / "package.json").read_text())
    pinned = manifest["dependencies"]
    assert set(pinned) == {"solc", "@foundry-rs/anvil"}
    for name, version in pinned.items():
        assert EXACT_VERSION.match(version), f"{name} is pinned to {version!r}, expected an exact x.y.z"


def test_lock_lists_every_anvil_platform_package() -> None:
    # The registry here serves only the linux-amd64 binary package, so `npm install` drops the
    # other platforms from the lock and `npm ci` then refuses the lock; they are listed by hand.
    packages = json.loads((CONTRACTS_DIR / "package-lock.json").read_text())["packages"]
    anvil = packages["node_modules/@foundry-rs/anvil"]
    assert (
        anvil["version"]
        == json.loads((CONTRACTS_DIR / "package.json").read_text())["dependencies"]["@foundry-rs/anvil"]
    )
    for name, version in anvil["optionalDependencies"].items():
        entry = packages.get(f"node_modules/{name}")
        assert entry is not None, f"{name} is missing from contracts/package-lock.json; `npm ci` would fail"
        assert entry["version"] == version and entry["optional"] is True and entry["os"] and entry["cpu"]


def test_committed_artifacts_match_a_fresh_build() -> None:
    if not (CONTRACTS_DIR / "node_modules" / "solc").is_dir():
        pytest.skip("contracts/node_modules is absent: run `npm ci --prefix contracts` to check the build")
    node = shutil.which("node")
    assert node is not None, "node is not on PATH but contracts/node_modules exists"
    result = subprocess.run(
        [node, str(CONTRACTS_DIR / "build.mjs"), "--check"],
        capture_output=True,
        text=True,
        timeout=BUILD_CHECK_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
