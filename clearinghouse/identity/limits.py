"""The identity provider's named limits and defaults, each with its reason."""

from __future__ import annotations

from typing import Final

USER_TOKEN_LIFETIME_S_DEFAULT: Final = 300
"""A user token is short-lived: an app mints a new one per job or every few minutes."""
USER_TOKEN_LIFETIME_S_MAX: Final = 3600
"""The longest a user token may be configured or asked to live: a stolen one is useful an hour."""
APP_TOKEN_LIFETIME_S_DEFAULT: Final = 3600
"""An app's client-credentials token: an app server refreshes it hourly."""
APP_TOKEN_LIFETIME_S_MAX: Final = 86_400
"""A day: beyond that a leaked app token outlives any reasonable incident response."""
CLOCK_SKEW_S_DEFAULT: Final = 30
"""Leeway on exp/nbf/iat for clocks that drift between the issuer and another replica."""
CLOCK_SKEW_S_MAX: Final = 120
"""Two minutes: well below a user token's lifetime, so the leeway never doubles it; clocks kept
by NTP drift by far less."""
TOKEN_CHARS_MAX: Final = 4096
"""Our tokens are ~600 characters; anything near 4 KiB is not one, refused before parsing."""
VERIFIED_TOKENS_CACHED_MAX: Final = 100_000
"""Verified tokens one process remembers (~1 KiB each): more than the live tokens of a busy
deployment; the oldest entry goes first."""
STANDING_RECHECK_S: Final = 5.0
"""How long a verified token is trusted before its app, user and revocation are read again: the
longest another daemon process may accept a token revoked or a user deactivated elsewhere (this
process drops them at once). A user's deactivation is also checked by every signing batch."""
KEY_FILE_CHECK_S: Final = 5.0
"""How often a process looks at the signing key file for a rotation."""
FORM_FIELDS_MAX: Final = 16
"""A token request has at most ~8 fields; more is a wrong client."""
FORM_BYTES_MAX: Final = 16 * 1024
"""A token request carries at most two tokens of TOKEN_CHARS_MAX and a few short fields."""
SECRET_RANDOM_BYTES: Final = 32
"""256 bits: a client secret cannot be guessed."""
CLIENT_ID_RANDOM_BYTES: Final = 16
"""128 bits: client ids are public, but unguessable ones leak nothing about the apps there are."""

# ---- the signing keys (keys.py) ----

KEYS_KEPT_MAX = 2
"""The current key and the previous one: a rotation's overlap."""

KEY_FILE_BYTES_MAX = 64 * 1024
"""Two EC keys are ~600 bytes; a larger file is not ours."""
