"""A database URL's password masked in plain text, without SQLAlchemy, for commands that only
show a URL (``config show``) and should not pay for importing the engine."""

from __future__ import annotations

import re

_PASSWORD_IN_URL = re.compile(r"(?P<head>://[^:/@]*:)[^@]*(?P<tail>@)")


def mask_url_text(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``; safe to log."""
    return _PASSWORD_IN_URL.sub(r"\g<head>***\g<tail>", url)
