"""The configuration's named limits: how much of a file or a secret it reads (no imports: the
command line reads them before anything heavy loads)."""

from __future__ import annotations

CONFIG_BYTES_MAX = 1 << 20
"""A configuration file is a few KiB; anything near a MiB is not one."""

ADMIN_TOKEN_BYTES_MIN = 32
"""An admin token opens every gateway's invoices and usage: 256 random bits, as
``secrets.token_hex(32)`` (64 hex characters) or ``secrets.token_urlsafe(32)`` (43 characters)."""

ADMIN_TOKEN_CHARS_MAX = 512
"""A token is a header value; far longer text is a wrong file, not a token."""
