"""Validation: the layered table (``registry.layered``) checked into ``settings.Settings``.

Every validator names the setting that is wrong and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

from clearinghouse.ledger.limits import SIGNING_BATCH_MAX_CEILING, SIGNING_QUEUE_MAX_CEILING
from clearinghouse.billing.invoice_terms import (
    DEFAULT_ISSUER_NAME,
    InvoicingSettings,
    Party,
    TermsError,
    address_lines,
)
from clearinghouse.billing.limits import PAYMENT_TERMS_DAYS_DEFAULT
from clearinghouse.domain.limits import PAYMENT_TERMS_DAYS_MAX
from clearinghouse.chain.health import HealthThresholds
from clearinghouse.chain.limits import CONFIRMATIONS_DEFAULT, CONFIRMATIONS_MAX, WATCH_POLL_S_DEFAULT
from clearinghouse.chain.limits import BURN_SPAN_MIN_S, BURN_WINDOW_S_DEFAULT
from clearinghouse.chain.replenish_policy import ReplenishMode, ReplenishPolicy
from clearinghouse.config.errors import ConfigError
from clearinghouse.config.registry import layered, read_config_file
from clearinghouse.config.settings import (
    CHAIN_ID_DEFAULT,
    HTTP_HOST_DEFAULT,
    HTTP_PORT_DEFAULT,
    LOG_LEVELS,
    AdminSettings,
    BillingSettings,
    OidcSettings,
    EventsSettings,
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
from clearinghouse.logs import LOG_FORMATS
from clearinghouse.signer.decision import PaymentPolicy
from clearinghouse.domain.chain_view import ChainView
from clearinghouse.signer.limits import FIRST_CALL_RETRY_WINDOW_S_MAX


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
        active_orchestrators_only=_active_orchestrators_only(_table(raw, "policy", required=False), live_chain),
        webhook=_webhook(_table(raw, "webhook", required=False)),
        rate_limit=_rate_limit(_table(raw, "rate_limit", required=False)),
        health=_health(_table(raw, "health", required=False)),
        grpc=_grpc(_table(raw, "grpc", required=False), base, http),
        rates=_rates(_table(raw, "rates", required=False), live_chain),
        admin=_admin(raw, base),
        oidc=_oidc(raw, base),
        log=_log(_table(raw, "log", required=False)),
        metrics=_metrics(_table(raw, "metrics", required=False), base),
        events=_events(_table(raw, "events", required=False)),
        limits=_limits(_table(raw, "limits", required=False)),
        invoicing=_invoicing(_table(raw, "invoice", required=False)),
        billing=_billing(_table(raw, "billing", required=False)),
        replenish=_replenish(_table(raw, "replenish", required=False), live_chain),
    )


def _billing(table: dict[str, Any]) -> BillingSettings:
    """[billing]: whether the daemon runs the billing scheduler, how often, and link base URL."""
    defaults = BillingSettings()
    enabled = table.get("enabled", defaults.enabled)
    if not isinstance(enabled, bool):
        raise ConfigError(f"billing.enabled must be true or false, got {enabled!r}")
    url = table.get("export_base_url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise ConfigError("billing.export_base_url must be an http(s) URL")
    return BillingSettings(enabled, _seconds(table, "tick_s", defaults.tick_s, "billing."),
                           _seconds(table, "claim_stale_s", defaults.claim_stale_s, "billing."), url)


_WEI_MAX = (1 << 256) - 1


def _replenish(table: dict[str, Any], live_chain: LiveChainSettings | None) -> ReplenishPolicy:
    """[replenish]: the deposit replenishment policy (chain/replenishment.py); auto needs [chain]."""
    defaults = ReplenishPolicy()
    mode = table.get("mode", defaults.mode.value)
    if mode not in [m.value for m in ReplenishMode]:
        raise ConfigError(f"replenish.mode must be one of {', '.join(m.value for m in ReplenishMode)}, got {mode!r}")
    if mode == ReplenishMode.AUTO and live_chain is None:
        raise ConfigError("replenish.mode = \"auto\" funds through the live chain: set chain.rpc_url")
    wei = {name: _int(table, name, "replenish.", 0, _WEI_MAX, getattr(defaults, name)) for name in (
        "deposit_floor_wei", "deposit_cap_wei", "reserve_target_wei", "per_tx_max_wei", "per_day_max_wei",
        "gas_reserve_wei")}
    try:
        return ReplenishPolicy(
            mode=ReplenishMode(mode),
            runway_target_s=_int(table, "runway_target_s", "replenish.", 3600, 365 * 86_400, defaults.runway_target_s),
            low_water_percent=_int(table, "low_water_percent", "replenish.", 1, 100, defaults.low_water_percent),
            check_s=_int(table, "check_s", "replenish.", 10, 86_400, defaults.check_s), **wei)
    except ValueError as exc:
        raise ConfigError(f"replenish: {exc}") from exc


def _invoicing(table: dict[str, Any]) -> InvoicingSettings:
    """[invoice]: the issuer frozen into every invoice issued, and the default payment terms."""
    optional = {name: table.get(name) for name in ("issuer_address", "issuer_tax_id", "issuer_email")}
    for name, value in optional.items():
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"invoice.{name} must be a string, got {value!r}")
    try:
        issuer = Party(_text(table, "issuer_name", "invoice.", DEFAULT_ISSUER_NAME),
                       address_lines(optional["issuer_address"]), optional["issuer_tax_id"], optional["issuer_email"])
    except TermsError as exc:
        raise ConfigError(f"invoice: {exc}") from exc
    return InvoicingSettings(issuer, _int(table, "payment_terms_days", "invoice.", 0, PAYMENT_TERMS_DAYS_MAX,
                                          PAYMENT_TERMS_DAYS_DEFAULT))


LIMIT_BOUNDS: dict[str, tuple[int | float, int | float]] = {
    "request_body_bytes_max": (16 * 1024, 16 * 1024 * 1024),
    "request_header_bytes_max": (1024, 16 * 1024),
    "request_header_timeout_s": (0.1, 300),
    "request_body_timeout_s": (0.1, 300),
    "json_depth_max": (2, 8),
    "connections_max": (16, 100_000),
    "keep_alive_s": (1, 3600),
    "tickets_per_call_max": (1, 100),
    "sessions_per_gateway_max": (1, 10_000_000),
    "session_idle_s": (60, 86_400),
    "grpc_concurrent_rpcs_max": (1, 100_000),
    "grpc_message_bytes_max": (16 * 1024, 16 * 1024 * 1024),
    "signing_queue_max": (1, SIGNING_QUEUE_MAX_CEILING),
    "signing_batch_max": (1, SIGNING_BATCH_MAX_CEILING),
    "first_call_retry_window_s": (0, FIRST_CALL_RETRY_WINDOW_S_MAX),
}
"""[limits]: the inclusive range of each setting. Lower bounds keep a real request possible (a
payment body with its state blob is ~12 KiB base64, our headers < 1 KiB, a stream pays every few
seconds); the ceilings of header bytes, JSON depth and tickets per call are the decoders' and the
protocol's own (they can be tightened, not raised); the other ceilings only stop typos."""


def _limits(table: dict[str, Any]) -> LimitSettings:
    defaults = LimitSettings()
    values: dict[str, Any] = {}
    for name, (low, high) in LIMIT_BOUNDS.items():
        default = getattr(defaults, name)
        if isinstance(default, int):
            values[name] = _int(table, name, "limits.", int(low), int(high), default)
            continue
        value = table.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ConfigError(f"limits.{name} must be a number of seconds in [{low:g}, {high:g}], got {value!r}")
        values[name] = float(value)
    return LimitSettings(**values)


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


def _events(table: dict[str, Any]) -> EventsSettings:
    """[events]: sinks by URL, batch and sampling sizes, times (events/relay.py)."""
    defaults = EventsSettings()
    nats_url, http_url = table.get("nats_url"), table.get("http_url")
    # Unset: on when a sink is configured, so a daemon without sinks does not fill its database
    # with events nobody reads.
    enabled = table.get("enabled", nats_url is not None or http_url is not None)
    if not isinstance(enabled, bool):
        raise ConfigError(f"events.enabled must be true or false, got {enabled!r}")
    if nats_url is not None and (not isinstance(nats_url, str) or not nats_url.startswith(("nats://", "tls://"))):
        raise ConfigError("events.nats_url must be a nats:// or tls:// URL")
    if http_url is not None and (not isinstance(http_url, str) or not http_url.startswith(("http://", "https://"))):
        raise ConfigError("events.http_url must be an http(s) URL")
    prefix = _text(table, "nats_subject_prefix", "events.", defaults.nats_subject_prefix)
    if any(c in prefix for c in " *>") or prefix.startswith(".") or prefix.endswith("."):
        raise ConfigError(f"events.nats_subject_prefix must be NATS tokens joined by dots, got {prefix!r}")
    return EventsSettings(
        enabled=enabled, source=_text(table, "source", "events.", defaults.source), nats_url=nats_url,
        nats_subject_prefix=prefix, http_url=http_url,
        batch_max=_int(table, "batch_max", "events.", 1, 1000, defaults.batch_max),
        poll_s=_seconds(table, "poll_s", defaults.poll_s, "events."),
        retention_s=_span(table, "retention_s", defaults.retention_s, 365 * 86_400.0),
        lag_alert_s=_seconds(table, "lag_alert_s", defaults.lag_alert_s, "events."),
        unsent_max=_int(table, "unsent_max", "events.", 0, 10**9, defaults.unsent_max),
        refusal_window_s=_seconds(table, "refusal_window_s", defaults.refusal_window_s, "events."),
        refusal_samples_max=_int(table, "refusal_samples_max", "events.", 0, 10_000, defaults.refusal_samples_max),
        relay=_relay_mode(table, defaults.relay),
    )


RELAY_MODES = ("process", "thread", "external")


def _relay_mode(table: dict[str, Any], default: str) -> str:
    value = table.get("relay", default)
    if value not in RELAY_MODES:
        raise ConfigError(f"events.relay must be one of {', '.join(RELAY_MODES)}, got {value!r}")
    return str(value)


def _span(table: dict[str, Any], name: str, default: float, high: float) -> float:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= high:
        raise ConfigError(f"events.{name} must be a number of seconds in (0, {high:g}], got {value!r}")
    return float(value)


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


def _oidc(raw: dict[str, Any], base: Path) -> OidcSettings | None:
    """[oidc]: absent means no identity provider and no Builder API (their routes answer 404)."""
    if "oidc" not in raw:
        return None
    from clearinghouse.identity import limits as caps
    from clearinghouse.identity.tokens import USER_SCOPES, parse_scopes
    from clearinghouse.identity.errors import InvalidScope

    table, defaults = _table(raw, "oidc"), OidcSettings("", Path())
    issuer = _text(table, "issuer", "oidc.")
    if not issuer.startswith(("https://", "http://")) or issuer.endswith("/"):
        raise ConfigError(f"oidc.issuer must be an http(s) URL without a trailing slash, got {issuer!r}")
    scope = _text(table, "user_token_scope", "oidc.", defaults.user_token_scope)
    try:
        parse_scopes(scope, USER_SCOPES, frozenset())
    except InvalidScope as exc:
        raise ConfigError(f"oidc.user_token_scope: {exc.message}") from None
    return OidcSettings(
        issuer=issuer,
        signing_keys_file=base / _text(table, "signing_keys_file", "oidc."),
        audience=_text(table, "audience", "oidc.", defaults.audience),
        user_token_lifetime_s=_int(table, "user_token_lifetime_s", "oidc.", 1, caps.USER_TOKEN_LIFETIME_S_MAX,
                                   defaults.user_token_lifetime_s),
        app_token_lifetime_s=_int(table, "app_token_lifetime_s", "oidc.", 1, caps.APP_TOKEN_LIFETIME_S_MAX,
                                  defaults.app_token_lifetime_s),
        clock_skew_s=_int(table, "clock_skew_s", "oidc.", 0, caps.CLOCK_SKEW_S_MAX, defaults.clock_skew_s),
        user_token_scope=scope,
    )


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
    """A fixed chain view, set by the operator, for running without an RPC endpoint. Its only open
    round is ``current_round``, with the block hash the operator read from the RoundsManager:
    the signer checks every offer's creation round against it (signer/offer_checks.py), as it
    does against a live chain's open rounds."""
    names = ("deposit_wei", "reserve_wei", "withdraw_round", "current_round", "last_l1_block")
    values = {name: _int(table, name, "chain.static.", 0, (1 << 256) - 1) for name in names}
    block_hash = _block_hash(table.get("current_round_block_hash"))
    return ChainView(**values, round_block_hashes=((values["current_round"], block_hash),),
                     ticket_validity_period_rounds=1)


def _block_hash(value: object) -> bytes:
    name = "chain.static.current_round_block_hash"
    if value is None:
        raise ConfigError(
            f"{name} is missing: the block hash the RoundsManager recorded for current_round "
            "(blockHashForRound); tickets are signed only for that round with that hash"
        )
    if not isinstance(value, str) or len(value) != 66 or not value.startswith("0x"):
        raise ConfigError(f"{name} must be 0x and 64 hex digits, got {value!r}")
    try:
        block_hash = bytes.fromhex(value[2:])
    except ValueError as exc:
        raise ConfigError(f"{name} must be hex, got {value!r}") from exc
    if not any(block_hash):
        raise ConfigError(f"{name} is all zeros: the round is not initialized, no ticket of it can be redeemed")
    return block_hash


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
            max_face_value_wei=None if "max_face_value_wei" not in table
            else _int(table, "max_face_value_wei", "policy.", 1, (1 << 256) - 1),
        )
    except ValueError as exc:
        raise ConfigError(f"policy: {exc}") from exc


def _active_orchestrators_only(table: dict[str, Any], live_chain: LiveChainSettings | None) -> bool:
    """[policy] active_orchestrators_only: asks the BondingManager, so it needs a live chain (a
    static view's round never moves and there is no chain to ask)."""
    value = table.get("active_orchestrators_only", False)
    if not isinstance(value, bool):
        raise ConfigError(f"policy.active_orchestrators_only must be true or false, got {value!r}")
    if value and live_chain is None:
        raise ConfigError("policy.active_orchestrators_only needs [chain] rpc_url and controller")
    return value


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
