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
"""

from __future__ import annotations

import copy
import difflib
import ipaddress
import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any

from eth_account import Account

from clearinghouse.api.api_keys import PEPPER_BYTES_MIN
from clearinghouse.billing.limits import (
    HEARTBEAT_S_DEFAULT,
    MANUAL_MAX_AGE_S_DEFAULT,
    RATE_REFRESH_S_DEFAULT,
    SEQUENCER_GRACE_S_DEFAULT,
)
from clearinghouse.chain.health import HealthThresholds
from clearinghouse.chain.limits import CONFIRMATIONS_DEFAULT, CONFIRMATIONS_MAX, WATCH_POLL_S_DEFAULT
from clearinghouse.chain.monitor import BURN_SPAN_MIN_S, BURN_WINDOW_S_DEFAULT
from clearinghouse.errors import ClearinghouseError
from clearinghouse.logs import LOG_FORMATS
from clearinghouse.signer.decision import ChainView, PaymentPolicy

_HEALTH_DEFAULTS = HealthThresholds()
_POLICY_DEFAULTS = PaymentPolicy()

CONFIG_BYTES_MAX = 1 << 20
"""A configuration file is a few KiB; anything near a MiB is not one."""


ADMIN_TOKEN_BYTES_MIN = 32
"""An admin token opens every gateway's invoices and usage: 256 random bits, as
``secrets.token_hex(32)`` (64 hex characters) or ``secrets.token_urlsafe(32)`` (43 characters)."""

ADMIN_TOKEN_CHARS_MAX = 512
"""A token is a header value; far longer text is a wrong file, not a token."""

_URLSAFE_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class ConfigError(ClearinghouseError):
    """The configuration is missing, malformed or unsafe; the message names the setting."""


HTTP_HOST_DEFAULT = "127.0.0.1"
HTTP_PORT_DEFAULT = 8935
"""go-livepeer's default HTTP port, where gateways look for a remote signer by default."""


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Where the API listens. With ``cert_file`` and ``key_file`` the daemon serves HTTPS itself
    and may listen anywhere; plain HTTP is allowed only on loopback unless ``allow_plain_public``
    says a TLS proxy stands in front (API keys and payments must not cross a network in clear)."""

    host: str = HTTP_HOST_DEFAULT
    port: int = HTTP_PORT_DEFAULT
    allow_plain_public: bool = False
    cert_file: Path | None = None
    key_file: Path | None = None

    @property
    def is_loopback(self) -> bool:
        return _is_loopback(self.host)

    def tls_files(self) -> tuple[Path, Path] | None:
        """(certificate chain, private key) PEM paths, or None for plain HTTP. Raises ConfigError
        when the key file is missing or accessible by group or others."""
        if self.cert_file is None or self.key_file is None:
            return None
        refuse_readable_by_others(self.key_file, "http.key_file")
        if not self.cert_file.is_file():
            raise ConfigError(f"http.cert_file {self.cert_file}: no such file")
        return self.cert_file, self.key_file


CHAIN_ID_DEFAULT = 42161
"""Arbitrum One: where Livepeer's TicketBroker, and so our deposit, lives."""


@dataclass(frozen=True, slots=True)
class GrpcSettings:
    """Where the clearinghouse.v1 gRPC API listens, and with which TLS certificate.

    Like [http], plain gRPC is allowed only on loopback unless ``allow_plain_public`` says a TLS
    proxy stands in front; with ``cert_file`` and ``key_file`` the daemon terminates TLS itself
    and may listen anywhere. ``chain_id`` and ``ticket_broker`` are what GetSignerInfo reports
    (with a live [chain] the TicketBroker comes from the Controller instead).
    """

    host: str
    port: int
    allow_plain_public: bool = False
    cert_file: Path | None = None
    key_file: Path | None = None
    chain_id: int = CHAIN_ID_DEFAULT
    ticket_broker: bytes | None = None

    @property
    def is_loopback(self) -> bool:
        return _is_loopback(self.host)

    def tls(self) -> tuple[bytes, bytes] | None:
        """(PEM certificate chain, PEM private key), or None for plain gRPC. Raises ConfigError
        when a file cannot be read or the key file is accessible by group or others."""
        if self.cert_file is None or self.key_file is None:
            return None
        refuse_readable_by_others(self.key_file, "grpc.key_file")
        try:
            return self.cert_file.read_bytes(), self.key_file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"grpc TLS files: {exc.filename}: {exc.strerror}") from exc


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


CHAIN_REFRESH_S_DEFAULT = 1.0
"""Arbitrum makes a block every ~0.25 s; reading the deposit each second keeps the guard current."""

CHAIN_STALE_AFTER_S_DEFAULT = 30.0
"""Signing stops when the chain view is this old: a few failed refreshes, not one hiccup."""


@dataclass(frozen=True, slots=True)
class LiveChainSettings:
    """Where the live chain view reads our TicketBroker position, and how fresh it must be."""

    rpc_url: str = field(repr=False)  # may embed an API key; log redact_rpc_url(rpc_url)
    controller: str
    refresh_s: float
    stale_after_s: float
    start_block: int
    confirmations: int = CONFIRMATIONS_DEFAULT
    watch_poll_s: float = WATCH_POLL_S_DEFAULT


@dataclass(frozen=True, slots=True)
class RateSettings:
    """Where ETH/USD rates come from (see billing.ratebook): Chainlink when ``aggregator`` is set,
    then the manual table when its newest entry is at most ``manual_max_age_s`` old."""

    aggregator: str | None = None
    sequencer_uptime_feed: str | None = None
    heartbeat_s: int = HEARTBEAT_S_DEFAULT
    sequencer_grace_s: int = SEQUENCER_GRACE_S_DEFAULT
    refresh_s: float = RATE_REFRESH_S_DEFAULT
    manual_max_age_s: float = MANUAL_MAX_AGE_S_DEFAULT


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """Deposit-health thresholds, the burn-rate window, and where alerts are POSTed."""

    thresholds: HealthThresholds = field(default_factory=HealthThresholds)
    burn_window_s: float = BURN_WINDOW_S_DEFAULT
    alert_webhook_url: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """go-livepeer-compatible auth webhook; its callers are billed to ``gateway_id``."""

    url: str
    gateway_id: int
    headers: dict[str, str] = field(repr=False)  # usually the webhook's own credentials


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """Calls/s and burst for every gateway, with per-gateway overrides (``None``: unlimited)."""

    default: tuple[float, int] | None
    per_gateway: dict[int, tuple[float, int]]


@dataclass(frozen=True, slots=True)
class AdminSettings:
    """[admin]: the finance API under /admin/v1/ (api/admin_http.py) is served only with this
    section; its bearer token comes from CLEARINGHOUSE_ADMIN_TOKEN, else ``token_file``."""

    token_file: Path | None = None

    def token(self) -> str:
        """The admin bearer token: hex of at least ADMIN_TOKEN_BYTES_MIN bytes, or URL-safe base64
        of as many (``secrets.token_urlsafe``). Raises ConfigError naming the problem (never the
        token) when it is missing, too short, not such text, or its file is accessible by group or
        others."""
        return _bearer_token(_secret("CLEARINGHOUSE_ADMIN_TOKEN", self.token_file, "admin.token_file"), "admin")


def _bearer_token(text: str, name: str) -> str:
    if not 0 < len(text) <= ADMIN_TOKEN_CHARS_MAX or not set(text) <= _URLSAFE_ALPHABET:
        raise ConfigError(f"{name} token must be 1..{ADMIN_TOKEN_CHARS_MAX} hex or URL-safe base64 characters")
    random_bytes = len(text) // 2 if set(text) <= _HEX_DIGITS else len(text) * 6 // 8
    if random_bytes < ADMIN_TOKEN_BYTES_MIN:
        raise ConfigError(
            f"{name} token must hold at least {ADMIN_TOKEN_BYTES_MIN} random bytes, got {random_bytes}; "
            f"make one with: python -c 'import secrets; print(secrets.token_hex({ADMIN_TOKEN_BYTES_MIN}))'"
        )
    return text


LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True)
class LogSettings:
    """[log]: the daemon's log threshold and line format (JSON lines for collectors, or text)."""

    level: str = "info"
    format: str = "json"


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """[metrics]: whether /metrics is served, and the bearer token that guards it, if any."""

    enabled: bool = True
    token_file: Path | None = None

    def token(self) -> str | None:
        """The /metrics bearer token from CLEARINGHOUSE_METRICS_TOKEN, else ``token_file``; None
        when neither is set (then /metrics is open, as Prometheus scrapers expect on a private
        network). Raises ConfigError like AdminSettings.token for a weak or exposed token."""
        if not os.environ.get("CLEARINGHOUSE_METRICS_TOKEN") and self.token_file is None:
            return None
        return _bearer_token(_secret("CLEARINGHOUSE_METRICS_TOKEN", self.token_file, "metrics.token_file"), "metrics")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``serve`` needs, validated."""

    path: Path
    database_url: str
    keystore: Path
    passphrase_file: Path | None
    pepper_file: Path | None
    http: HttpSettings
    static_chain: ChainView | None
    live_chain: LiveChainSettings | None
    policy: PaymentPolicy
    webhook: WebhookSettings | None
    rate_limit: RateLimitSettings
    health: HealthSettings = field(default_factory=HealthSettings)
    grpc: GrpcSettings | None = None
    rates: RateSettings = field(default_factory=lambda: RateSettings())
    admin: AdminSettings | None = None
    log: LogSettings = field(default_factory=LogSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)

    def private_key(self) -> bytes:
        """Decrypt the sender keystore. Raises ConfigError naming the problem (never the secret)."""
        refuse_readable_by_others(self.keystore, "signer.keystore")
        passphrase = _secret("CLEARINGHOUSE_KEY_PASSPHRASE", self.passphrase_file, "signer.passphrase_file")
        try:
            return bytes(Account.decrypt(self.keystore.read_text(), passphrase))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"signer.keystore {self.keystore}: cannot decrypt ({type(exc).__name__})") from exc

    def api_key_pepper(self) -> bytes:
        """The server pepper for API-key digests, at least PEPPER_BYTES_MIN bytes."""
        text = _secret("CLEARINGHOUSE_API_KEY_PEPPER", self.pepper_file, "auth.pepper_file")
        try:
            pepper = bytes.fromhex(text)
        except ValueError as exc:
            raise ConfigError("auth pepper must be hex") from exc
        if len(pepper) < PEPPER_BYTES_MIN:
            raise ConfigError(f"auth pepper must be at least {PEPPER_BYTES_MIN} bytes, got {len(pepper)}")
        return pepper


# ---- the registry of settings -------------------------------------------------------------

ENV_PREFIX = "CLEARINGHOUSE_"


class Kind(StrEnum):
    """A setting's type, as the file and its environment variable spell it."""

    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    WEI = "wei"
    PATH = "path"
    TABLE = "table"


class Secrecy(StrEnum):
    """How much of a setting may be shown: all, a masked form (URLs with credentials, header
    values), or only a secret file's path, presence and mode."""

    NONE = "none"
    VALUE = "value"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class Setting:
    """One registered setting. ``default`` None means unset: optional, or required (``doc`` says)."""

    name: str
    kind: Kind
    default: str | int | float | bool | None
    doc: str
    secrecy: Secrecy = Secrecy.NONE
    legacy_env: str | None = None

    @property
    def section(self) -> str:
        return self.name.rpartition(".")[0]

    @property
    def key(self) -> str:
        return self.name.rpartition(".")[2]

    @property
    def env(self) -> str | None:
        """The overriding environment variable; tables have none."""
        if self.kind is Kind.TABLE:
            return None
        return self.legacy_env or ENV_PREFIX + self.name.replace(".", "_").upper()


@dataclass(frozen=True, slots=True)
class Section:
    """A table of the file; ``optional`` sections switch a feature on by being present."""

    name: str
    doc: str
    optional: bool = False


SECTIONS = (
    Section("", "Where the ledger lives."),
    Section("signer", "The sender key: an encrypted eth-account keystore and its passphrase."),
    Section("auth", "Gateway API keys are stored as HMAC digests under this pepper."),
    Section("http", "The remote-signer HTTP API (spec 02), /v1/ and /admin/v1/ routes, health and metrics."),
    Section("chain", "The live chain view (deposit, reserve, round) through the Controller, and the event watcher."),
    Section("chain.static", "A fixed chain view set by the operator, used only without [chain] rpc_url.", True),
    Section("policy", "Sender-side checks of spec 01 (defaults: go-livepeer's)."),
    Section("webhook", "Authorize with a go-livepeer auth webhook instead of API keys.", True),
    Section("rate_limit", "Token-bucket rate limit per gateway and daemon process (none by default).", True),
    Section("health", "Deposit-health warn thresholds, burn-rate window and the alert webhook."),
    Section("grpc", "The clearinghouse.v1 gRPC API (absent: no gRPC server).", True),
    Section("rates", "ETH/USD rates: Chainlink on Arbitrum, else the manual table."),
    Section("admin", "The finance admin API under /admin/v1/ (absent: off).", True),
    Section("log", "Daemon log lines."),
    Section("metrics", "Prometheus /metrics on the HTTP listener."),
)

_ADDRESS = "a 0x-prefixed 20-byte address"

SETTINGS = (
    Setting("database_url", Kind.TEXT, None, "Required. sqlite:///file.sqlite3 (embedded) or "
            "postgresql+psycopg://user@host/db; a password here is masked when shown", Secrecy.VALUE),
    Setting("signer.keystore", Kind.PATH, None, "Required. The sender's eth-account keystore (mode 0600)",
            Secrecy.FILE),
    Setting("signer.passphrase_file", Kind.PATH, None, "The keystore passphrase (mode 0600); "
            "else CLEARINGHOUSE_KEY_PASSPHRASE", Secrecy.FILE),
    Setting("auth.pepper_file", Kind.PATH, None, "Hex, at least 32 bytes (mode 0600); "
            "else CLEARINGHOUSE_API_KEY_PEPPER", Secrecy.FILE),
    Setting("http.host", Kind.TEXT, HTTP_HOST_DEFAULT, "Listen address; not loopback needs TLS or allow_plain_public"),
    Setting("http.port", Kind.INTEGER, HTTP_PORT_DEFAULT, "Listen port"),
    Setting("http.allow_plain_public", Kind.BOOLEAN, False, "Plain HTTP off loopback: a TLS proxy stands in front"),
    Setting("http.cert_file", Kind.PATH, None, "PEM certificate chain: serve HTTPS (with key_file)"),
    Setting("http.key_file", Kind.PATH, None, "PEM private key of cert_file (mode 0600)", Secrecy.FILE),
    Setting("chain.rpc_url", Kind.TEXT, None, "Arbitrum One JSON-RPC URL; hosted URLs embed keys, so prefer "
            "the environment; without it [chain.static] is used", Secrecy.VALUE, "CLEARINGHOUSE_RPC_URL"),
    Setting("chain.controller", Kind.TEXT, None, f"Livepeer Controller, {_ADDRESS} (required with rpc_url)"),
    Setting("chain.refresh_s", Kind.NUMBER, CHAIN_REFRESH_S_DEFAULT, "Seconds between deposit reads"),
    Setting("chain.stale_after_s", Kind.NUMBER, CHAIN_STALE_AFTER_S_DEFAULT,
            "Signing stops when the chain view is older than this"),
    Setting("chain.start_block", Kind.INTEGER, None, "Required with rpc_url. First block the event watcher "
            "scans: at or before the sender's first funding"),
    Setting("chain.confirmations", Kind.INTEGER, CONFIRMATIONS_DEFAULT, "Blocks on top before a block is read"),
    Setting("chain.watch_poll_s", Kind.NUMBER, WATCH_POLL_S_DEFAULT, "Seconds between event watcher polls"),
    *(Setting(f"chain.static.{name}", kind, None, f"Required in [chain.static]: {doc}") for name, kind, doc in (
        ("deposit_wei", Kind.WEI, "the sender's deposit"), ("reserve_wei", Kind.WEI, "the sender's reserve"),
        ("withdraw_round", Kind.INTEGER, "the round the unlock ends (0: none)"),
        ("current_round", Kind.INTEGER, "the current round"),
        ("last_l1_block", Kind.INTEGER, "the last L1 block number"))),
    Setting("policy.max_ticket_ev_wei", Kind.WEI, _POLICY_DEFAULTS.max_ticket_ev_wei, "Largest EV of one ticket"),
    Setting("policy.max_total_ev_wei", Kind.WEI, _POLICY_DEFAULTS.max_total_ev_wei, "Largest EV of one payment"),
    Setting("policy.deposit_multiplier", Kind.INTEGER, _POLICY_DEFAULTS.deposit_multiplier,
            "Face value at most deposit / multiplier"),
    Setting("policy.max_price_wei_per_unit", Kind.TEXT, None, 'Price ceiling, a string like "3" or "1/1000"'),
    Setting("webhook.url", Kind.TEXT, None, "Required in [webhook]: the auth webhook's URL", Secrecy.VALUE),
    Setting("webhook.gateway_id", Kind.INTEGER, None, "Required in [webhook]: the gateway its callers are billed to"),
    Setting("webhook.headers", Kind.TABLE, None, "Headers sent to the webhook (its credentials)", Secrecy.VALUE),
    Setting("rate_limit.calls_per_s", Kind.NUMBER, None, "Calls per second per gateway (with burst)"),
    Setting("rate_limit.burst", Kind.INTEGER, None, "Bucket size (with calls_per_s)"),
    Setting("rate_limit.gateways", Kind.TABLE, None, "[rate_limit.gateways.<id>] calls_per_s, burst per gateway"),
    Setting("health.deposit_face_value_multiple_warn", Kind.INTEGER,
            _HEALTH_DEFAULTS.deposit_face_value_multiple_warn, "Warn below this many face values of deposit"),
    Setting("health.gas_balance_warn_wei", Kind.WEI, _HEALTH_DEFAULTS.gas_balance_warn_wei,
            "Warn below this much ETH for gas"),
    Setting("health.runway_warn_s", Kind.INTEGER, int(_HEALTH_DEFAULTS.runway_warn_s),
            "Warn below this many seconds of runway"),
    Setting("health.watcher_lag_warn_s", Kind.NUMBER, _HEALTH_DEFAULTS.watcher_lag_warn_s,
            "Warn when the event watcher is this far behind"),
    Setting("health.burn_window_s", Kind.NUMBER, BURN_WINDOW_S_DEFAULT, "Window of the burn rate"),
    Setting("health.alert_webhook_url", Kind.TEXT, None, "Where health alerts are POSTed (may embed a token)",
            Secrecy.VALUE, "CLEARINGHOUSE_ALERT_WEBHOOK_URL"),
    Setting("grpc.host", Kind.TEXT, None, "Required in [grpc]: listen address"),
    Setting("grpc.port", Kind.INTEGER, None, "Required in [grpc]: listen port (not http.port)"),
    Setting("grpc.allow_plain_public", Kind.BOOLEAN, False, "Plain gRPC off loopback: a TLS proxy stands in front"),
    Setting("grpc.cert_file", Kind.PATH, None, "PEM certificate chain: serve TLS (with key_file)"),
    Setting("grpc.key_file", Kind.PATH, None, "PEM private key of cert_file (mode 0600)", Secrecy.FILE),
    Setting("grpc.chain_id", Kind.INTEGER, CHAIN_ID_DEFAULT, "Chain id GetSignerInfo reports"),
    Setting("grpc.ticket_broker", Kind.TEXT, None, f"TicketBroker GetSignerInfo reports without [chain], {_ADDRESS}"),
    Setting("rates.aggregator", Kind.TEXT, None, f"Chainlink ETH/USD aggregator, {_ADDRESS} (needs [chain])"),
    Setting("rates.sequencer_uptime_feed", Kind.TEXT, None, f"Chainlink L2 sequencer uptime feed, {_ADDRESS}"),
    Setting("rates.heartbeat_s", Kind.INTEGER, HEARTBEAT_S_DEFAULT, "A Chainlink answer older than this is stale"),
    Setting("rates.sequencer_grace_s", Kind.INTEGER, SEQUENCER_GRACE_S_DEFAULT,
            "Seconds after the sequencer is back before rates are trusted"),
    Setting("rates.refresh_s", Kind.NUMBER, RATE_REFRESH_S_DEFAULT, "Seconds between rate reads"),
    Setting("rates.manual_max_age_s", Kind.INTEGER, int(MANUAL_MAX_AGE_S_DEFAULT),
            "The manual table prices while its newest entry is at most this old"),
    Setting("admin.token_file", Kind.PATH, None, "Admin bearer token, at least 32 random bytes (mode 0600); "
            "else CLEARINGHOUSE_ADMIN_TOKEN", Secrecy.FILE),
    Setting("log.level", Kind.TEXT, LogSettings().level, "One of " + ", ".join(LOG_LEVELS)),
    Setting("log.format", Kind.TEXT, LogSettings().format, "One of " + ", ".join(LOG_FORMATS)),
    Setting("metrics.enabled", Kind.BOOLEAN, MetricsSettings().enabled, "Serve Prometheus metrics at /metrics"),
    Setting("metrics.token_file", Kind.PATH, None, "Bearer token /metrics requires, at least 32 random bytes "
            "(mode 0600); else CLEARINGHOUSE_METRICS_TOKEN; neither: /metrics is open", Secrecy.FILE),
)
"""Every setting, in the order of the file; ``clearinghouse init`` writes them in this order."""


@dataclass(frozen=True, slots=True)
class SecretVariable:
    """An environment variable holding a secret itself, read when the secret is needed."""

    env: str
    file_setting: str
    doc: str


SECRET_VARIABLES = (
    SecretVariable("CLEARINGHOUSE_KEY_PASSPHRASE", "signer.passphrase_file", "the sender keystore's passphrase"),
    SecretVariable("CLEARINGHOUSE_API_KEY_PEPPER", "auth.pepper_file", "hex pepper for API-key digests"),
    SecretVariable("CLEARINGHOUSE_ADMIN_TOKEN", "admin.token_file", "the admin API's bearer token"),
    SecretVariable("CLEARINGHOUSE_METRICS_TOKEN", "metrics.token_file", "the /metrics bearer token"),
)

OTHER_VARIABLES = {
    "CLEARINGHOUSE_NO_EXTENSIONS": "1 runs the pure-Python ticket reference instead of the native core",
    "CLEARINGHOUSE_ANVIL_BIN": "an anvil binary to use instead of the npm-installed one (devnet)",
}
"""Documented variables that are not settings (besides SECRET_VARIABLES); the typo check skips them."""

SETTINGS_BY_NAME = {setting.name: setting for setting in SETTINGS}
_SECTION_NAMES = frozenset(section.name for section in SECTIONS if section.name)
_SETTING_VARIABLES = {setting.env: setting for setting in SETTINGS if setting.env is not None}
_KNOWN_VARIABLES = frozenset(_SETTING_VARIABLES) | {v.env for v in SECRET_VARIABLES} | set(OTHER_VARIABLES)
_SECTION_PREFIXES = tuple(ENV_PREFIX + name.replace(".", "_").upper() + "_" for name in _SECTION_NAMES)


@dataclass(frozen=True, slots=True)
class Layered:
    """The file's table with the environment and flags laid over it, and where each set value
    came from: ``file``, ``env <VARIABLE>`` or ``flag``; a setting absent here has its default."""

    raw: dict[str, Any]
    sources: dict[str, str]


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse the TOML file at ``path``. Raises ConfigError when it cannot be read, is larger than
    CONFIG_BYTES_MAX or is not TOML."""
    try:
        if path.stat().st_size > CONFIG_BYTES_MAX:
            raise ConfigError(f"{path}: larger than {CONFIG_BYTES_MAX} bytes")
        return tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def layered(
    raw: dict[str, Any], environ: Mapping[str, str] | None = None, flags: Mapping[str, object] | None = None
) -> Layered:
    """Lay ``environ`` (default os.environ), then ``flags`` (setting name -> value; None: not
    given) over the file's ``raw`` table. Raises ConfigError naming an unknown key in the file,
    an unknown CLEARINGHOUSE_<SECTION>_… variable, or a variable that is not of its setting's type."""
    environ = os.environ if environ is None else environ
    _refuse_unknown_keys(raw, "")
    _refuse_unknown_variables(environ)
    merged, sources = copy.deepcopy(raw), {}
    for setting in SETTINGS:
        table = _section_of(merged, setting.section, create=False)
        if table is not None and setting.key in table:
            sources[setting.name] = "file"
        text = environ.get(setting.env) if setting.env else None
        if text:  # an empty variable is unset, as a shell's VAR= means
            _set(merged, setting, _parse_variable(setting, text))
            sources[setting.name] = f"env {setting.env}"
        flag = (flags or {}).get(setting.name)
        if flag is not None:
            _set(merged, setting, flag)
            sources[setting.name] = "flag"
    return Layered(merged, sources)


def _section_of(raw: dict[str, Any], section: str, *, create: bool) -> dict[str, Any] | None:
    """The table of ``section`` ("" is the top level); None when absent and not ``create``d."""
    table = raw
    for part in section.split(".") if section else ():
        if create and part not in table:
            table[part] = {}
        inner = table.get(part)
        if not isinstance(inner, dict):
            return None
        table = inner
    return table


def _set(raw: dict[str, Any], setting: Setting, value: object) -> None:
    table = _section_of(raw, setting.section, create=True)
    if table is None:  # _refuse_unknown_keys has already refused a section that is not a table
        raise ConfigError(f"[{setting.section}] must be a table")
    table[setting.key] = value


def _refuse_unknown_keys(table: dict[str, Any], section: str) -> None:
    for key, value in table.items():
        name = f"{section}.{key}" if section else key
        if name in SETTINGS_BY_NAME:
            continue
        if name in _SECTION_NAMES:
            if not isinstance(value, dict):
                raise ConfigError(f"[{name}] must be a table, got {value!r}")
            _refuse_unknown_keys(value, name)
            continue
        known = [s.name for s in SETTINGS if s.section == section]
        known += [n for n in _SECTION_NAMES if n.rpartition(".")[0] == section]
        raise ConfigError(f"unknown setting {name!r}{_did_you_mean(name, known)}")


def _refuse_unknown_variables(environ: Mapping[str, str]) -> None:
    for variable in environ:
        if variable.startswith(_SECTION_PREFIXES) and variable not in _KNOWN_VARIABLES:
            raise ConfigError(
                f"environment variable {variable} is not a setting{_did_you_mean(variable, _KNOWN_VARIABLES)} "
                "(CLEARINGHOUSE_ + the setting's dotted name in capitals, dots as underscores)"
            )


def _did_you_mean(name: str, candidates: Any) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _parse_variable(setting: Setting, text: str) -> object:
    """The variable's text as its setting's TOML value; validation then checks it as the file's."""
    shown = "(hidden)" if setting.secrecy is not Secrecy.NONE else repr(text)
    try:
        match setting.kind:
            case Kind.INTEGER:
                return int(text)
            case Kind.NUMBER:
                return float(text)
            case Kind.WEI if text.isdigit():
                return text
            case Kind.BOOLEAN if text.lower() in ("true", "false", "1", "0"):
                return text.lower() in ("true", "1")
            case Kind.TEXT | Kind.PATH:
                return text
    except ValueError:
        pass
    raise ConfigError(f"{setting.env} (setting {setting.name}) must be {_EXPECTED[setting.kind]}, got {shown}")


_EXPECTED = {Kind.INTEGER: "an integer", Kind.NUMBER: "a number", Kind.WEI: "a decimal integer",
             Kind.BOOLEAN: "true or false", Kind.TEXT: "text", Kind.PATH: "a path", Kind.TABLE: "a table"}


def load_settings(
    path: Path, flags: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the TOML file at ``path``, lay the environment (default os.environ) and ``flags``
    (setting name -> value, e.g. ``{"http.port": 9000}``) over it, and validate the result.
    Raises ConfigError naming the first bad setting."""
    return settings_from(path, layered(read_config_file(path), environ, flags).raw)


def settings_from(path: Path, raw: dict[str, Any]) -> Settings:
    """Validate ``raw`` (the layered table of the file at ``path``, whose directory relative
    paths are resolved against) into Settings."""
    base = path.resolve().parent
    signer, auth = _table(raw, "signer"), _table(raw, "auth", required=False)
    http = _http(_table(raw, "http", required=False), base)
    chain = _table(raw, "chain", required=False)
    live_chain = _live_chain(chain)
    static = _table(chain, "static", "chain.", required=False)
    if live_chain is None and not static:
        raise ConfigError("no chain view: set chain.rpc_url (or CLEARINGHOUSE_RPC_URL) with chain.controller and "
                          "chain.start_block, or a fixed view in [chain.static]")
    return Settings(
        path=path,
        database_url=_text(raw, "database_url"),
        keystore=base / _text(signer, "keystore", "signer."),
        passphrase_file=_optional_path(base, signer, "passphrase_file"),
        pepper_file=_optional_path(base, auth, "pepper_file"),
        http=http,
        static_chain=_static_chain(static) if static else None,
        live_chain=live_chain,
        policy=_policy(_table(raw, "policy", required=False)),
        webhook=_webhook(_table(raw, "webhook", required=False)),
        rate_limit=_rate_limit(_table(raw, "rate_limit", required=False)),
        health=_health(_table(raw, "health", required=False)),
        grpc=_grpc(_table(raw, "grpc", required=False), base, http),
        rates=_rates(_table(raw, "rates", required=False), live_chain),
        admin=_admin(raw, base),
        log=_log(_table(raw, "log", required=False)),
        metrics=_metrics(_table(raw, "metrics", required=False), base),
    )


def _log(table: dict[str, Any]) -> LogSettings:
    defaults = LogSettings()
    level, fmt = table.get("level", defaults.level), table.get("format", defaults.format)
    if level not in LOG_LEVELS:
        raise ConfigError(f"log.level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    if fmt not in LOG_FORMATS:
        raise ConfigError(f"log.format must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
    return LogSettings(level, fmt)


def _metrics(table: dict[str, Any], base: Path) -> MetricsSettings:
    enabled = table.get("enabled", MetricsSettings().enabled)
    if not isinstance(enabled, bool):
        raise ConfigError(f"metrics.enabled must be true or false, got {enabled!r}")
    return MetricsSettings(enabled, _optional_path(base, table, "token_file"))


def _admin(raw: dict[str, Any], base: Path) -> AdminSettings | None:
    """[admin]: absent means no admin API (its routes answer 404). The section turns it on;
    the token itself is read and checked by ``AdminSettings.token`` when the daemon starts."""
    if "admin" not in raw:
        return None
    table = _table(raw, "admin")
    token_file = table.get("token_file")
    if token_file is not None and (not isinstance(token_file, str) or not token_file):
        raise ConfigError(f"admin.token_file must be a non-empty string, got {token_file!r}")
    return AdminSettings(_optional_path(base, table, "token_file"))


def _http(table: dict[str, Any], base: Path) -> HttpSettings:
    allow = table.get("allow_plain_public", False)
    if not isinstance(allow, bool):
        raise ConfigError(f"http.allow_plain_public must be true or false, got {allow!r}")
    cert_file, key_file = _optional_path(base, table, "cert_file"), _optional_path(base, table, "key_file")
    if (cert_file is None) != (key_file is None):
        raise ConfigError("http.cert_file and http.key_file go together: set both for HTTPS, or neither")
    settings = HttpSettings(
        host=_text(table, "host", "http.", HTTP_HOST_DEFAULT),
        port=_int(table, "port", "http.", 1, 65535, HTTP_PORT_DEFAULT),
        allow_plain_public=allow,
        cert_file=cert_file,
        key_file=key_file,
    )
    if not settings.is_loopback and cert_file is None and not allow:
        raise ConfigError(
            f"http.host {settings.host!r} is not a loopback address: plain HTTP there would carry API "
            "keys in clear. Bind to 127.0.0.1, set http.cert_file and http.key_file for HTTPS, or put a "
            "TLS proxy in front and set http.allow_plain_public = true"
        )
    return settings


def _rates(table: dict[str, Any], live_chain: LiveChainSettings | None) -> RateSettings:
    """[rates]: the Chainlink ETH/USD feed (read through [chain] rpc_url) and the manual table's
    maximum age; without an aggregator only the manual table prices signing records."""
    defaults = RateSettings()
    aggregator = table.get("aggregator")
    sequencer = table.get("sequencer_uptime_feed")
    for name, value in (("aggregator", aggregator), ("sequencer_uptime_feed", sequencer)):
        if value is not None and (not isinstance(value, str) or len(value) != 42 or not value.startswith("0x")):
            raise ConfigError(f"rates.{name} must be a 0x-prefixed 20-byte address, got {value!r}")
    if aggregator is not None and live_chain is None:
        raise ConfigError("rates.aggregator is read through [chain] rpc_url: configure [chain] too")
    settings = RateSettings(
        aggregator=aggregator,
        sequencer_uptime_feed=sequencer,
        heartbeat_s=_int(table, "heartbeat_s", "rates.", 1, 7 * 86_400, defaults.heartbeat_s),
        sequencer_grace_s=_int(table, "sequencer_grace_s", "rates.", 0, 86_400, defaults.sequencer_grace_s),
        refresh_s=_seconds(table, "refresh_s", defaults.refresh_s, "rates."),
        manual_max_age_s=float(_int(table, "manual_max_age_s", "rates.", 1, 31 * 86_400,
                                    int(defaults.manual_max_age_s))),
    )
    return settings


def _grpc(table: dict[str, Any], base: Path, http: HttpSettings) -> GrpcSettings | None:
    """[grpc]: absent means no gRPC server (the HTTP API alone, as before)."""
    if not table:
        return None
    allow = table.get("allow_plain_public", False)
    if not isinstance(allow, bool):
        raise ConfigError(f"grpc.allow_plain_public must be true or false, got {allow!r}")
    cert_file, key_file = _optional_path(base, table, "cert_file"), _optional_path(base, table, "key_file")
    if (cert_file is None) != (key_file is None):
        raise ConfigError("grpc.cert_file and grpc.key_file go together: set both for TLS, or neither")
    broker = table.get("ticket_broker")
    if broker is not None and (not isinstance(broker, str) or len(broker) != 42 or not broker.startswith("0x")):
        raise ConfigError(f"grpc.ticket_broker must be a 0x-prefixed 20-byte address, got {broker!r}")
    settings = GrpcSettings(
        host=_text(table, "host", "grpc."),
        port=_int(table, "port", "grpc.", 1, 65535),
        allow_plain_public=allow,
        cert_file=cert_file,
        key_file=key_file,
        chain_id=_int(table, "chain_id", "grpc.", 1, (1 << 63) - 1, CHAIN_ID_DEFAULT),
        ticket_broker=None if broker is None else _address_bytes(broker, "grpc.ticket_broker"),
    )
    if not settings.is_loopback and cert_file is None and not allow:
        raise ConfigError(
            f"grpc.host {settings.host!r} is not a loopback address: plain gRPC there would carry API "
            "keys in clear. Bind to 127.0.0.1, set grpc.cert_file and grpc.key_file for TLS, or put a "
            "TLS proxy in front and set grpc.allow_plain_public = true"
        )
    if settings.port == http.port:
        raise ConfigError(f"grpc.port {settings.port} is also http.port; give each server its own port")
    return settings


def _address_bytes(text: str, setting: str) -> bytes:
    try:
        return bytes.fromhex(text[2:])
    except ValueError as exc:
        raise ConfigError(f"{setting} must be hex, got {text!r}") from exc


def _static_chain(table: dict[str, Any]) -> ChainView:
    """A fixed chain view, set by the operator, for running without an RPC endpoint."""
    names = ("deposit_wei", "reserve_wei", "withdraw_round", "current_round", "last_l1_block")
    values = {name: _int(table, name, "chain.static.", 0, (1 << 256) - 1) for name in names}
    return ChainView(**values)


def _live_chain(table: dict[str, Any]) -> LiveChainSettings | None:
    rpc_url = table.get("rpc_url")
    if rpc_url is None:
        return None
    if not isinstance(rpc_url, str) or not rpc_url.startswith(("http://", "https://")):
        raise ConfigError("chain.rpc_url must be an http(s) URL")
    controller = _text(table, "controller", "chain.")
    if len(controller) != 42 or not controller.startswith("0x"):
        raise ConfigError(f"chain.controller must be a 0x-prefixed 20-byte address, got {controller!r}")
    refresh_s = _seconds(table, "refresh_s", CHAIN_REFRESH_S_DEFAULT)
    stale_after_s = _seconds(table, "stale_after_s", CHAIN_STALE_AFTER_S_DEFAULT)
    if stale_after_s <= refresh_s:
        raise ConfigError(f"chain.stale_after_s ({stale_after_s}) must exceed chain.refresh_s ({refresh_s})")
    if "start_block" not in table:
        raise ConfigError(
            "chain.start_block is missing: the first block the event watcher scans, at or before the "
            "sender's first funding (e.g. the block of its first fundDeposit); 0 would scan the whole chain"
        )
    return LiveChainSettings(
        rpc_url,
        controller,
        refresh_s,
        stale_after_s,
        start_block=_int(table, "start_block", "chain.", 0, (1 << 63) - 1),
        confirmations=_int(table, "confirmations", "chain.", 0, CONFIRMATIONS_MAX, CONFIRMATIONS_DEFAULT),
        watch_poll_s=_seconds(table, "watch_poll_s", WATCH_POLL_S_DEFAULT),
    )


def _seconds(table: dict[str, Any], name: str, default: float, prefix: str = "chain.") -> float:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86_400:
        raise ConfigError(f"{prefix}{name} must be a number of seconds in (0, 86400], got {value!r}")
    return float(value)


def _health(table: dict[str, Any]) -> HealthSettings:
    """[health]: warn thresholds (the critical lines are the protocol's), burn window, alerts."""
    defaults = HealthThresholds()
    url = table.get("alert_webhook_url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise ConfigError("health.alert_webhook_url must be an http(s) URL")
    thresholds = HealthThresholds(
        deposit_face_value_multiple_warn=_int(table, "deposit_face_value_multiple_warn", "health.", 1, 1_000_000,
                                              defaults.deposit_face_value_multiple_warn),
        gas_balance_warn_wei=_int(table, "gas_balance_warn_wei", "health.", 0, (1 << 256) - 1,
                                  defaults.gas_balance_warn_wei),
        runway_warn_s=float(_int(table, "runway_warn_s", "health.", 0, 365 * 86_400, int(defaults.runway_warn_s))),
        watcher_lag_warn_s=_seconds(table, "watcher_lag_warn_s", defaults.watcher_lag_warn_s, "health."),
    )
    burn_window_s = _seconds(table, "burn_window_s", BURN_WINDOW_S_DEFAULT, "health.")
    if burn_window_s < BURN_SPAN_MIN_S:
        raise ConfigError(f"health.burn_window_s must be at least {BURN_SPAN_MIN_S:g} s, got {burn_window_s:g}")
    return HealthSettings(thresholds, burn_window_s, url)


def _policy(table: dict[str, Any]) -> PaymentPolicy:
    defaults = PaymentPolicy()
    max_price = table.get("max_price_wei_per_unit")
    if max_price is not None and (not isinstance(max_price, str) or not _is_fraction(max_price)):
        raise ConfigError('policy.max_price_wei_per_unit must be a string like "3" or "1/1000"')
    try:
        return PaymentPolicy(
            max_ticket_ev_wei=_int(table, "max_ticket_ev_wei", "policy.", 1, (1 << 256) - 1, defaults.max_ticket_ev_wei),
            max_total_ev_wei=_int(table, "max_total_ev_wei", "policy.", 1, (1 << 256) - 1, defaults.max_total_ev_wei),
            deposit_multiplier=_int(table, "deposit_multiplier", "policy.", 1, 1 << 32, defaults.deposit_multiplier),
            max_price=None if max_price is None else Fraction(max_price),
        )
    except ValueError as exc:
        raise ConfigError(f"policy: {exc}") from exc


def _webhook(table: dict[str, Any]) -> WebhookSettings | None:
    if not table:
        return None
    headers = table.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError("webhook.headers must be a table of strings")
    return WebhookSettings(
        url=_text(table, "url", "webhook."),
        gateway_id=_int(table, "gateway_id", "webhook.", 1, (1 << 63) - 1),
        headers=dict(headers),
    )


def _rate_limit(table: dict[str, Any]) -> RateLimitSettings:
    """[rate_limit] calls_per_s, burst; [rate_limit.gateways.<id>] calls_per_s, burst."""
    gateways = table.get("gateways", {})
    if not isinstance(gateways, dict):
        raise ConfigError("rate_limit.gateways must be a table of [rate_limit.gateways.<gateway id>] tables")
    per_gateway = {}
    for key, value in gateways.items():
        if not key.isdigit() or not isinstance(value, dict):
            raise ConfigError(f"rate_limit.gateways.{key} must be a table named by a gateway id")
        per_gateway[int(key)] = _rate(value, f"rate_limit.gateways.{key}.")
    default = _rate(table, "rate_limit.") if "calls_per_s" in table or "burst" in table else None
    return RateLimitSettings(default, per_gateway)


def _rate(table: dict[str, Any], prefix: str) -> tuple[float, int]:
    rate = table.get("calls_per_s")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1e6:
        raise ConfigError(f"{prefix}calls_per_s must be a number in (0, 1000000], got {rate!r}")
    return float(rate), _int(table, "burst", prefix, 1, 1_000_000)


def _is_fraction(text: str) -> bool:
    try:
        return Fraction(text) > 0
    except (ValueError, ZeroDivisionError):
        return False


def _table(raw: dict[str, Any], name: str, prefix: str = "", *, required: bool = True) -> dict[str, Any]:
    value = raw.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"[{prefix}{name}] table is missing")
    return value


def _text(table: dict[str, Any], name: str, prefix: str = "", default: str | None = None) -> str:
    value = table.get(name, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{prefix}{name} must be a non-empty string, got {value!r}")
    return value


def _int(table: dict[str, Any], name: str, prefix: str, low: int, high: int, default: int | None = None) -> int:
    value = table.get(name, default)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{prefix}{name} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _optional_path(base: Path, table: dict[str, Any], name: str) -> Path | None:
    value = table.get(name)
    return None if value is None else base / str(value)


def _secret(variable: str, path: Path | None, setting: str) -> str:
    if os.environ.get(variable):
        return os.environ[variable].strip()
    if path is None:
        raise ConfigError(f"set {variable} or {setting}")
    refuse_readable_by_others(path, setting)
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{setting} {path}: {exc.strerror}") from exc


def refuse_readable_by_others(path: Path, setting: str) -> None:
    """Raise ConfigError naming ``setting`` when the secret file ``path`` is missing or
    accessible by group or others: a secret another local user can read is not one."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"{setting} {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{setting} {path} is accessible by group or others (mode {mode & 0o777:o}); chmod 600 it")
