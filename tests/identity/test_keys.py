"""The token signing key file (issue 16): written 0600 and atomically, refused when others may read
it or it is not ours, rotated keeping exactly the previous key, picked up by a running process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clearinghouse.config import ConfigError
from clearinghouse.identity.keys import SigningKeys, create_key_file, key_ids, rotate_key_file
from clearinghouse.identity.limits import KEY_FILE_CHECK_S


def test_the_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    kid = create_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600 and key_ids(path) == (kid,)
    with pytest.raises(ConfigError, match="exists"):
        create_key_file(path)
    jwks = SigningKeys(path).jwks()
    assert [key["kid"] for key in jwks["keys"]] == [kid]
    assert all("d" not in key for key in jwks["keys"])  # never a private parameter


def test_a_file_others_may_read_or_not_ours_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    create_key_file(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="signing_keys_file"):
        SigningKeys(path)
    path.write_text(json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "x"}]}))
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="P-256"):
        SigningKeys(path)
    path.write_text("not json")
    with pytest.raises(ConfigError, match="not a JSON Web Key Set"):
        SigningKeys(path)


def test_rotation_keeps_the_previous_key_and_reaches_a_running_process(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = create_key_file(path)
    now = [0.0]
    running = SigningKeys(path, clock_s=lambda: now[0])
    second, dropped = rotate_key_file(path)
    assert dropped == () and key_ids(path) == (first, second)
    assert running.current().kid == first  # not looked at yet
    now[0] += KEY_FILE_CHECK_S
    assert running.current().kid == second
    assert [key["kid"] for key in running.jwks()["keys"]] == [first, second]
    third, dropped = rotate_key_file(path)
    assert dropped == (first,) and key_ids(path) == (second, third)
