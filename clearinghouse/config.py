"""Daemon configuration: one validated, frozen settings object from a TOML file and the environment.

The file holds everything but secrets. Secrets come from files named in it or from environment
variables, never from the command line and never into a log:

    CLEARINGHOUSE_DATABASE_URL          overrides ``database_url`` (may hold a password)
    CLEARINGHOUSE_KEY_PASSPHRASE        the sender keystore's passphrase (else ``passphrase_file``)
    CLEARINGHOUSE_API_KEY_PEPPER        hex pepper for API-key digests (else ``pepper_file``)
    CLEARINGHOUSE_RPC_URL               overrides ``chain.rpc_url`` (hosted RPC URLs embed API keys)
    CLEARINGHOUSE_ALERT_WEBHOOK_URL     overrides ``health.alert_webhook_url`` (may embed a token)
    CLEARINGHOUSE_ADMIN_TOKEN           the admin API's bearer token (else ``admin.token_file``)

Every error names the setting that is wrong and what was expected. Relative paths in the file are
relative to the file's directory. Wei amounts may be TOML integers or decimal strings (TOML
integers stop at 2**63 - 1, about 9.2 ETH).
"""

from __future__ import annotations

import ipaddress
import os
import stat
import tomllib
from dataclasses import dataclass, field
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
from clearinghouse.signer.decision import ChainView, PaymentPolicy

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


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Where the API listens. Plain HTTP is allowed only on loopback unless ``allow_plain_public``
    says a TLS proxy stands in front (API keys and payments must not cross a network in clear)."""

    host: str
    port: int
    allow_plain_public: bool = False

    @property
    def is_loopback(self) -> bool:
        return _is_loopback(self.host)


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
        _refuse_readable_by_others(self.key_file, "grpc.key_file")
        try:
            return self.cert_file.read_bytes(), self.key_file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"grpc TLS files: {exc.filename}: {exc.strerror}") from exc


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


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
        text = _secret("CLEARINGHOUSE_ADMIN_TOKEN", self.token_file, "admin.token_file")
        if not 0 < len(text) <= ADMIN_TOKEN_CHARS_MAX or not set(text) <= _URLSAFE_ALPHABET:
            raise ConfigError(f"admin token must be 1..{ADMIN_TOKEN_CHARS_MAX} hex or URL-safe base64 characters")
        random_bytes = len(text) // 2 if set(text) <= _HEX_DIGITS else len(text) * 6 // 8
        if random_bytes < ADMIN_TOKEN_BYTES_MIN:
            raise ConfigError(
                f"admin token must hold at least {ADMIN_TOKEN_BYTES_MIN} random bytes, got {random_bytes}; "
                f"make one with: python -c 'import secrets; print(secrets.token_hex({ADMIN_TOKEN_BYTES_MIN}))'"
            )
        return text


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

    def private_key(self) -> bytes:
        """Decrypt the sender keystore. Raises ConfigError naming the problem (never the secret)."""
        _refuse_readable_by_others(self.keystore, "signer.keystore")
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


def load_settings(path: Path) -> Settings:
    """Read and validate the TOML file at ``path``; environment variables override secrets."""
    try:
        if path.stat().st_size > CONFIG_BYTES_MAX:
            raise ConfigError(f"{path}: larger than {CONFIG_BYTES_MAX} bytes")
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    base = path.resolve().parent
    signer, auth = _table(raw, "signer"), _table(raw, "auth")
    http = _http(_table(raw, "http"))
    chain = _table(raw, "chain")
    live_chain = _live_chain(chain)
    static = _table(chain, "static", "chain.", required=live_chain is None)
    return Settings(
        path=path,
        database_url=os.environ.get("CLEARINGHOUSE_DATABASE_URL") or _text(raw, "database_url", ""),
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
    )


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


def _http(table: dict[str, Any]) -> HttpSettings:
    port = _int(table, "port", "http.", 1, 65535)
    allow = table.get("allow_plain_public", False)
    if not isinstance(allow, bool):
        raise ConfigError(f"http.allow_plain_public must be true or false, got {allow!r}")
    settings = HttpSettings(host=_text(table, "host", "http."), port=port, allow_plain_public=allow)
    if not settings.is_loopback and not allow:
        raise ConfigError(
            f"http.host {settings.host!r} is not a loopback address: plain HTTP there would carry API "
            "keys in clear. Bind to 127.0.0.1, or put a TLS proxy in front and set "
            "http.allow_plain_public = true"
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
    rpc_url = os.environ.get("CLEARINGHOUSE_RPC_URL") or table.get("rpc_url")
    if rpc_url is None:
        return None
    if not isinstance(rpc_url, str) or not rpc_url.startswith(("http://", "https://")):
        raise ConfigError("chain.rpc_url must be an http(s) URL")
    controller = _text(table, "controller", "chain.")
    if len(controller) != 42 or not controller.startswith("0x"):
        raise ConfigError(f"chain.controller must be a 0x-prefixed 20-byte address, got {controller!r}")
    refresh_s = _seconds(table, "refresh_s", 1.0)
    stale_after_s = _seconds(table, "stale_after_s", 30.0)
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
    url = os.environ.get("CLEARINGHOUSE_ALERT_WEBHOOK_URL") or table.get("alert_webhook_url")
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
    _refuse_readable_by_others(path, setting)
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{setting} {path}: {exc.strerror}") from exc


def _refuse_readable_by_others(path: Path, setting: str) -> None:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"{setting} {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{setting} {path} is accessible by group or others (mode {mode & 0o777:o}); chmod 600 it")
