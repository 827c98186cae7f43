"""The configuration's one exception, below every module of the package that raises it."""

from __future__ import annotations

from clearinghouse.errors import ClearinghouseError


class ConfigError(ClearinghouseError):
    """The configuration is missing, malformed or unsafe; the message names the setting."""
