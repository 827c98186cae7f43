"""Daemon configuration: one validated, frozen settings object from a TOML file, the environment
and command-line flags.

``SETTINGS`` is the registry of every setting: its dotted name, type, default, whether it is
secret, and a one-line description. It drives validation (an unknown key in the file is an
error naming it), the environment overlay, ``clearinghouse config show`` and the commented
template ``clearinghouse init`` writes.

Precedence: flag > environment variable > file > default. Every setting's variable is
``CLEARINGHOUSE_`` + its dotted name upper-cased with dots as underscores (``http.port`` ->
``CLEARINGHOUSE_HTTP_PORT``, ``chain.static.deposit_wei`` -> ``CLEARINGHOUSE_CHAIN_STATIC_DEPOSIT_WEI``),
except two kept from before the rule: ``CLEARINGHOUSE_RPC_URL`` (``chain.rpc_url``) and
``CLEARINGHOUSE_ALERT_WEBHOOK_URL`` (``health.alert_webhook_url``). The overlay is applied to the
parsed TOML before validation, so a variable is checked exactly as the file's value would be; a
variable of an optional section ([grpc], [admin], [webhook], ...) turns that section on. A
``CLEARINGHOUSE_<SECTION>_…`` variable that is no setting is an error naming it (typo protection).
Tables (``webhook.headers``, ``[rate_limit.gateways.<id>]``) have no variable.

Secrets never come from the command line and never go into a log. Secret *values* come from the
environment or from files the configuration names (``SECRET_VARIABLES``):

    CLEARINGHOUSE_KEY_PASSPHRASE        the sender keystore's passphrase (else ``signer.passphrase_file``)
    CLEARINGHOUSE_API_KEY_PEPPER        hex pepper for API-key digests (else ``auth.pepper_file``)
    CLEARINGHOUSE_ADMIN_TOKEN           the admin API's bearer token (else ``admin.token_file``)
    CLEARINGHOUSE_METRICS_TOKEN         the /metrics bearer token (else ``metrics.token_file``)

Every error names the setting that is wrong and what was expected. Relative paths in the file are
relative to the file's directory. Wei amounts may be TOML integers or decimal strings (TOML
integers stop at 2**63 - 1, about 9.2 ETH).

The package, bottom layer first (each module imports only those above it):

    errors.py         ConfigError
    secret_files.py   secrets from the environment or owner-only files; bearer-token checks
    settings.py       the frozen settings values (Settings, HttpSettings, ...) and their defaults
    registry.py       SETTINGS, SECTIONS, the other variables; reading the file and layering
                      the environment and flags over it
    validation.py     load_settings / settings_from: the layered table checked into Settings

Import from ``clearinghouse.config``: it re-exports every public name (``__all__``).
"""

from __future__ import annotations

from clearinghouse.config.errors import ConfigError
from clearinghouse.config.registry import (
    ENV_PREFIX,
    OTHER_VARIABLES,
    SECRET_VARIABLES,
    SECTIONS,
    SETTINGS,
    SETTINGS_BY_NAME,
    Kind,
    Layered,
    Secrecy,
    SecretVariable,
    Section,
    Setting,
    layered,
    read_config_file,
)
from clearinghouse.config.limits import ADMIN_TOKEN_BYTES_MIN, ADMIN_TOKEN_CHARS_MAX, CONFIG_BYTES_MAX
from clearinghouse.config.secret_files import refuse_readable_by_others
from clearinghouse.config.settings import (
    CHAIN_ID_DEFAULT,
    HTTP_HOST_DEFAULT,
    HTTP_PORT_DEFAULT,
    LOG_LEVELS,
    AdminSettings,
    GrpcSettings,
    HealthSettings,
    HttpSettings,
    LimitSettings,
    LiveChainSettings,
    LogSettings,
    MetricsSettings,
    RateLimitSettings,
    RateSettings,
    Settings,
    WebhookSettings,
)
from clearinghouse.chain.limits import CHAIN_REFRESH_S_DEFAULT, CHAIN_STALE_AFTER_S_DEFAULT
from clearinghouse.config.validation import load_settings, settings_from

__all__ = [
    "ADMIN_TOKEN_BYTES_MIN",
    "ADMIN_TOKEN_CHARS_MAX",
    "CHAIN_ID_DEFAULT",
    "CHAIN_REFRESH_S_DEFAULT",
    "CHAIN_STALE_AFTER_S_DEFAULT",
    "CONFIG_BYTES_MAX",
    "ENV_PREFIX",
    "HTTP_HOST_DEFAULT",
    "HTTP_PORT_DEFAULT",
    "LOG_LEVELS",
    "OTHER_VARIABLES",
    "SECRET_VARIABLES",
    "SECTIONS",
    "SETTINGS",
    "SETTINGS_BY_NAME",
    "AdminSettings",
    "ConfigError",
    "GrpcSettings",
    "HealthSettings",
    "HttpSettings",
    "Kind",
    "LimitSettings",
    "Layered",
    "LiveChainSettings",
    "LogSettings",
    "MetricsSettings",
    "RateLimitSettings",
    "RateSettings",
    "Secrecy",
    "SecretVariable",
    "Section",
    "Setting",
    "Settings",
    "WebhookSettings",
    "layered",
    "load_settings",
    "read_config_file",
    "refuse_readable_by_others",
    "settings_from",
]
