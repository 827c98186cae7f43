"""The validated configuration: frozen settings values, one per section, and their defaults.

``validation.load_settings`` builds them; nothing here reads the file or the environment, except
the methods that read a secret when the daemon needs it (through ``secret_files``).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from clearinghouse.ledger.limits import SIGNING_BATCH_MAX, SIGNING_QUEUE_MAX
from clearinghouse.domain.limits import (
    CONNECTIONS_MAX,
    GRPC_CONCURRENT_RPCS_MAX,
    GRPC_MESSAGE_BYTES_MAX,
    GrpcLimits,
    HttpLimits,
    JSON_DEPTH_MAX,
    KEEP_ALIVE_S,
    PEPPER_BYTES_MIN,
    REQUEST_BODY_BYTES_MAX,
    REQUEST_BODY_TIMEOUT_S,
    REQUEST_HEADER_BYTES_MAX,
    REQUEST_HEADER_TIMEOUT_S,
)
from clearinghouse.billing.limits import (
    HEARTBEAT_S_DEFAULT,
    MANUAL_MAX_AGE_S_DEFAULT,
    RATE_REFRESH_S_DEFAULT,
    SEQUENCER_GRACE_S_DEFAULT,
)
from clearinghouse.billing.invoice_terms import InvoicingSettings
from clearinghouse.billing.limits import BILLING_TICK_S_DEFAULT, CLAIM_STALE_S_DEFAULT
from clearinghouse.chain.replenish_policy import ReplenishPolicy
from clearinghouse.chain.health import HealthThresholds
from clearinghouse.chain.limits import CONFIRMATIONS_DEFAULT, WATCH_POLL_S_DEFAULT
from clearinghouse.chain.limits import BURN_WINDOW_S_DEFAULT
from clearinghouse.config.errors import ConfigError
from clearinghouse.config.secret_files import bearer_token, read_secret, refuse_readable_by_others
from clearinghouse.signer.decision import PaymentPolicy
from clearinghouse.domain.chain_view import ChainView
from clearinghouse.signer.limits import TICKETS_PER_CALL_MAX
from clearinghouse.signer.limits import FIRST_CALL_RETRY_WINDOW_S, SESSION_IDLE_S, SESSIONS_PER_GATEWAY_MAX

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
class BillingSettings:
    """[billing]: the daemon's billing scheduler (billing/scheduler.py)."""

    enabled: bool = True
    tick_s: float = BILLING_TICK_S_DEFAULT
    claim_stale_s: float = CLAIM_STALE_S_DEFAULT
    export_base_url: str | None = None


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
        return bearer_token(read_secret("CLEARINGHOUSE_ADMIN_TOKEN", self.token_file, "admin.token_file"), "admin")


@dataclass(frozen=True, slots=True)
class OidcSettings:
    """[oidc]: the OAuth 2.0 / OpenID Connect provider and the Builder API (identity/), served
    only with this section. ``issuer`` is the URL clients reach this server at; tokens are signed
    with the keys of ``signing_keys_file`` (mode 0600; ``clearinghouse oidc init-keys``)."""

    issuer: str
    signing_keys_file: Path
    audience: str = "clearinghouse"
    user_token_lifetime_s: int = 300
    app_token_lifetime_s: int = 3600
    clock_skew_s: int = 30
    user_token_scope: str = "sign:job"


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """[limits]: what one caller may make the daemon do (defaults: the named constants of
    clearinghouse/limits.py, signer/limits.py, signer/service.py and ledger/limits.py, each with its
    reason there)."""

    request_body_bytes_max: int = REQUEST_BODY_BYTES_MAX
    request_header_bytes_max: int = REQUEST_HEADER_BYTES_MAX
    request_header_timeout_s: float = REQUEST_HEADER_TIMEOUT_S
    request_body_timeout_s: float = REQUEST_BODY_TIMEOUT_S
    json_depth_max: int = JSON_DEPTH_MAX
    connections_max: int = CONNECTIONS_MAX
    keep_alive_s: int = KEEP_ALIVE_S
    tickets_per_call_max: int = TICKETS_PER_CALL_MAX
    sessions_per_gateway_max: int = SESSIONS_PER_GATEWAY_MAX
    session_idle_s: float = SESSION_IDLE_S
    grpc_concurrent_rpcs_max: int = GRPC_CONCURRENT_RPCS_MAX
    grpc_message_bytes_max: int = GRPC_MESSAGE_BYTES_MAX
    signing_queue_max: int = SIGNING_QUEUE_MAX
    signing_batch_max: int = SIGNING_BATCH_MAX
    first_call_retry_window_s: float = FIRST_CALL_RETRY_WINDOW_S

    def http(self) -> HttpLimits:
        """The HTTP listener's share: the app, uvicorn and its protocol."""
        return HttpLimits(
            request_body_bytes_max=self.request_body_bytes_max,
            request_header_bytes_max=self.request_header_bytes_max,
            request_header_timeout_s=self.request_header_timeout_s,
            request_body_timeout_s=self.request_body_timeout_s,
            json_depth_max=self.json_depth_max,
            connections_max=self.connections_max,
            keep_alive_s=self.keep_alive_s,
        )

    def grpc(self) -> GrpcLimits:
        """The gRPC server's share."""
        return GrpcLimits(self.grpc_concurrent_rpcs_max, self.grpc_message_bytes_max)


LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True)
class LogSettings:
    """[log]: the daemon's log threshold and line format (JSON lines for collectors, or text)."""

    level: str = "info"
    format: str = "json"


@dataclass(frozen=True, slots=True)
class EventsSettings:
    """[events]: the event outbox and its sinks (clearinghouse/events). A sink is on when its URL
    is set; the URLs may carry credentials, so they are never shown. ``enabled`` defaults to
    whether a sink is set (validation.py)."""

    enabled: bool = False
    source: str = "clearinghouse"
    nats_url: str | None = field(default=None, repr=False)
    nats_subject_prefix: str = "clearinghouse.events"
    http_url: str | None = field(default=None, repr=False)
    batch_max: int = 500
    poll_s: float = 0.1
    retention_s: float = 7 * 86_400.0
    lag_alert_s: float = 300.0
    unsent_max: int = 0
    """0: never refuse signing however many events wait (they wait in the outbox)."""
    refusal_window_s: float = 60.0
    refusal_samples_max: int = 10
    relay: str = "process"
    """Who publishes: "process" (the daemon runs ``clearinghouse events relay`` as its child),
    "thread" (the daemon itself), "external" (the operator runs ``clearinghouse events relay``)."""


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
        token = read_secret("CLEARINGHOUSE_METRICS_TOKEN", self.token_file, "metrics.token_file")
        return bearer_token(token, "metrics")


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
    oidc: OidcSettings | None = None
    log: LogSettings = field(default_factory=LogSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    events: EventsSettings = field(default_factory=EventsSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    invoicing: InvoicingSettings = field(default_factory=InvoicingSettings)
    billing: BillingSettings = field(default_factory=BillingSettings)
    replenish: ReplenishPolicy = field(default_factory=ReplenishPolicy)
    active_orchestrators_only: bool = False
    """Refuse tickets for recipients the BondingManager does not list as active this round
    (signer.decision's ``recipient_check``, chain/orchestrators.py)."""

    def private_key(self) -> bytes:
        """Decrypt the sender keystore. Raises ConfigError naming the problem (never the secret)."""
        # Imported here, not at the top: eth_account takes ~0.5 s to import, which every CLI
        # command would pay at start-up; only the commands that decrypt the keystore need it.
        from eth_account import Account

        refuse_readable_by_others(self.keystore, "signer.keystore")
        passphrase = read_secret("CLEARINGHOUSE_KEY_PASSPHRASE", self.passphrase_file, "signer.passphrase_file")
        try:
            return bytes(Account.decrypt(self.keystore.read_text(), passphrase))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"signer.keystore {self.keystore}: cannot decrypt ({type(exc).__name__})") from exc

    def api_key_pepper(self) -> bytes:
        """The server pepper for API-key digests, at least PEPPER_BYTES_MIN bytes."""
        text = read_secret("CLEARINGHOUSE_API_KEY_PEPPER", self.pepper_file, "auth.pepper_file")
        try:
            pepper = bytes.fromhex(text)
        except ValueError as exc:
            raise ConfigError("auth pepper must be hex") from exc
        if len(pepper) < PEPPER_BYTES_MIN:
            raise ConfigError(f"auth pepper must be at least {PEPPER_BYTES_MIN} bytes, got {len(pepper)}")
        return pepper
