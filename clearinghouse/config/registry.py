"""The registry of every setting (``SETTINGS``, ``SECTIONS``) and of the environment variables that
are not settings, and the layering of file, environment and flags that the registry drives.

``layered`` lays the environment, then the flags, over the file's table; ``validation`` then checks
the result as if it all came from the file.
"""

from __future__ import annotations

import copy
import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from clearinghouse.billing.limits import (
    HEARTBEAT_S_DEFAULT,
    MANUAL_MAX_AGE_S_DEFAULT,
    RATE_REFRESH_S_DEFAULT,
    SEQUENCER_GRACE_S_DEFAULT,
)
from clearinghouse.billing.invoice_terms import DEFAULT_ISSUER_NAME
from clearinghouse.billing.limits import PAYMENT_TERMS_DAYS_DEFAULT
from clearinghouse.chain.health import HealthThresholds
from clearinghouse.chain.replenish_policy import ReplenishMode, ReplenishPolicy
from clearinghouse.chain.limits import CONFIRMATIONS_DEFAULT, WATCH_POLL_S_DEFAULT
from clearinghouse.chain.limits import BURN_WINDOW_S_DEFAULT
from clearinghouse.config.errors import ConfigError
from clearinghouse.config.settings import (
    CHAIN_ID_DEFAULT,
    HTTP_HOST_DEFAULT,
    HTTP_PORT_DEFAULT,
    LOG_LEVELS,
    BillingSettings,
    LimitSettings,
    EventsSettings,
    LogSettings,
    MetricsSettings,
)
from clearinghouse.chain.limits import CHAIN_REFRESH_S_DEFAULT, CHAIN_STALE_AFTER_S_DEFAULT
from clearinghouse.logs import LOG_FORMATS
from clearinghouse.signer.decision import PaymentPolicy
from clearinghouse.config.limits import CONFIG_BYTES_MAX

_HEALTH_DEFAULTS = HealthThresholds()
_POLICY_DEFAULTS = PaymentPolicy()
_LIMITS = LimitSettings()
_BILLING = BillingSettings()
_REPLENISH = ReplenishPolicy()
_EVENTS = EventsSettings()


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
    Section("oidc", "The OAuth 2.0 / OpenID Connect provider and the Builder API for apps' end users (absent: off).",
            True),
    Section("invoice", "Who issues invoices and when they are due: frozen into each invoice as it is issued."),
    Section("billing", "The billing scheduler: issues, delivers and watches invoices of gateways with a billing cycle."),
    Section("replenish", "The deposit replenishment policy: observe only by default, automatic when enabled."),
    Section("log", "Daemon log lines."),
    Section("metrics", "Prometheus /metrics on the HTTP listener."),
    Section("events", "Every signing and sampled refusal as a CloudEvent: the outbox, its sinks (NATS "
            "JetStream, HTTP), retention, lag alert and the fail-closed maximum."),
    Section("limits", "What one caller may make the daemon do: sizes, times, connections, tickets, sessions."),
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
        ("last_l1_block", Kind.INTEGER, "the last L1 block number"),
        ("current_round_block_hash", Kind.TEXT, "RoundsManager.blockHashForRound(current_round), 0x and 64 hex "
         "digits; tickets are signed only for current_round with this hash"))),
    Setting("policy.max_ticket_ev_wei", Kind.WEI, _POLICY_DEFAULTS.max_ticket_ev_wei, "Largest EV of one ticket"),
    Setting("policy.max_total_ev_wei", Kind.WEI, _POLICY_DEFAULTS.max_total_ev_wei, "Largest EV of one payment"),
    Setting("policy.deposit_multiplier", Kind.INTEGER, _POLICY_DEFAULTS.deposit_multiplier,
            "Face value at most deposit / multiplier"),
    Setting("policy.max_price_wei_per_unit", Kind.TEXT, None, 'Price ceiling, a string like "3" or "1/1000"'),
    Setting("policy.max_face_value_wei", Kind.WEI, None,
            "Largest face value of one ticket, on top of deposit / deposit_multiplier (unset: deposit / 10, so one "
            "winning ticket leaves 90 % of the deposit)"),
    Setting("policy.active_orchestrators_only", Kind.BOOLEAN, False,
            "Sign only for ticket recipients active on chain this round; fails closed (needs [chain] rpc_url)"),
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
    Setting("invoice.issuer_name", Kind.TEXT, DEFAULT_ISSUER_NAME, "The issuer's legal name on every invoice"),
    Setting("invoice.issuer_address", Kind.TEXT, None, "The issuer's postal address, one line per line "
            "(a TOML multi-line string)"),
    Setting("invoice.issuer_tax_id", Kind.TEXT, None, "The issuer's VAT or tax id"),
    Setting("invoice.issuer_email", Kind.TEXT, None, "Where customers write about invoices"),
    Setting("invoice.payment_terms_days", Kind.INTEGER, PAYMENT_TERMS_DAYS_DEFAULT,
            "Days from issue to due date, unless the gateway's billing profile says otherwise"),
    Setting("billing.enabled", Kind.BOOLEAN, _BILLING.enabled,
            "Run the billing scheduler in the daemon (it acts only for gateways with a billing cycle)"),
    Setting("billing.tick_s", Kind.NUMBER, _BILLING.tick_s, "Seconds between scheduler passes: the longest "
            "an invoice waits past its grace, and how soon a payment recorded by another process lifts a stop"),
    Setting("billing.claim_stale_s", Kind.NUMBER, _BILLING.claim_stale_s,
            "A period claimed this long ago and not finished is taken over (its replica died)"),
    Setting("billing.export_base_url", Kind.TEXT, None, "Base of the PDF/CSV/JSON links in delivered invoices "
            "(the admin API's public URL); unset: the links are paths"),
    Setting("replenish.mode", Kind.TEXT, _REPLENISH.mode.value,
            "One of " + ", ".join(m.value for m in ReplenishMode) + "; auto sends transactions (needs [chain])"),
    Setting("replenish.runway_target_s", Kind.INTEGER, _REPLENISH.runway_target_s,
            "Deposit target = burn rate x this, within the floor and the cap"),
    Setting("replenish.low_water_percent", Kind.INTEGER, _REPLENISH.low_water_percent,
            "Fund when the deposit is below this share of its target, 1..100"),
    Setting("replenish.deposit_floor_wei", Kind.WEI, _REPLENISH.deposit_floor_wei,
            "The deposit target never goes below this (the target while nothing burns)"),
    Setting("replenish.deposit_cap_wei", Kind.WEI, _REPLENISH.deposit_cap_wei, "The deposit target never exceeds this"),
    Setting("replenish.reserve_target_wei", Kind.WEI, _REPLENISH.reserve_target_wei,
            "Fund the reserve up to this (0: the reserve is not managed)"),
    Setting("replenish.per_tx_max_wei", Kind.WEI, _REPLENISH.per_tx_max_wei, "Most one funding transaction sends"),
    Setting("replenish.per_day_max_wei", Kind.WEI, _REPLENISH.per_day_max_wei,
            "Most all automatic funding sends per UTC day (unconfirmed transactions count)"),
    Setting("replenish.gas_reserve_wei", Kind.WEI, _REPLENISH.gas_reserve_wei,
            "ETH the sender always keeps after a funding transaction's value and gas"),
    Setting("replenish.check_s", Kind.INTEGER, _REPLENISH.check_s,
            "Seconds between policy checks; each window funds at most once per action across replicas"),
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
    Setting("oidc.issuer", Kind.TEXT, None, "Required in [oidc]: the URL clients reach this server at (no trailing /)"),
    Setting("oidc.signing_keys_file", Kind.PATH, None, "Required in [oidc]: the ES256 token keys, a JWKS (mode 0600; "
            "`clearinghouse oidc init-keys`)", Secrecy.FILE),
    Setting("oidc.audience", Kind.TEXT, "clearinghouse", "The aud of every token, checked on every use"),
    Setting("oidc.user_token_lifetime_s", Kind.INTEGER, 300, "User token lifetime (at most 3600)"),
    Setting("oidc.app_token_lifetime_s", Kind.INTEGER, 3600, "App (client credentials) token lifetime (at most 86400)"),
    Setting("oidc.clock_skew_s", Kind.INTEGER, 30, "Leeway on exp/nbf/iat (at most 120)"),
    Setting("oidc.user_token_scope", Kind.TEXT, "sign:job", "Default scope of user tokens: sign:job, usage:read"),
    Setting("log.level", Kind.TEXT, LogSettings().level, "One of " + ", ".join(LOG_LEVELS)),
    Setting("log.format", Kind.TEXT, LogSettings().format, "One of " + ", ".join(LOG_FORMATS)),
    Setting("metrics.enabled", Kind.BOOLEAN, MetricsSettings().enabled, "Serve Prometheus metrics at /metrics"),
    Setting("metrics.token_file", Kind.PATH, None, "Bearer token /metrics requires, at least 32 random bytes "
            "(mode 0600); else CLEARINGHOUSE_METRICS_TOKEN; neither: /metrics is open", Secrecy.FILE),
    Setting("events.enabled", Kind.BOOLEAN, None, "Write an outbox row per signing call in its batch, and "
            "sampled refusals; unset: on when nats_url or http_url is set"),
    Setting("events.source", Kind.TEXT, _EVENTS.source, "The CloudEvents source of every event (a URI-reference "
            "naming this deployment)"),
    Setting("events.nats_url", Kind.TEXT, None, "NATS server of the JetStream sink, nats://host:4222 (unset: no "
            "NATS sink); a stream must cover <nats_subject_prefix>.>", Secrecy.VALUE),
    Setting("events.nats_subject_prefix", Kind.TEXT, _EVENTS.nats_subject_prefix,
            "Events go to <prefix>.<type>.<subject>"),
    Setting("events.http_url", Kind.TEXT, None, "Receiver of CloudEvents batch POSTs, e.g. OpenMeter's "
            ".../api/v1/events (unset: no HTTP sink)", Secrecy.VALUE),
    Setting("events.batch_max", Kind.INTEGER, _EVENTS.batch_max, "Events per published batch, 1..1000"),
    Setting("events.poll_s", Kind.NUMBER, _EVENTS.poll_s, "How often an idle sink looks for new events (a "
            "relay thread is also woken by each committed batch)"),
    Setting("events.retention_s", Kind.NUMBER, _EVENTS.retention_s, "Sent events older than this are pruned "
            "(with no sink: every event older than this)"),
    Setting("events.lag_alert_s", Kind.NUMBER, _EVENTS.lag_alert_s, "Alert (log line, health.alert_webhook_url) "
            "when a sink's oldest unsent event is older"),
    Setting("events.unsent_max", Kind.INTEGER, _EVENTS.unsent_max, "Refuse signing (503) while a sink has more "
            "unsent events; 0: never"),
    Setting("events.relay", Kind.TEXT, _EVENTS.relay, "Who publishes: process (the daemon's child process "
            "`clearinghouse events relay`), thread (the daemon itself), external (you run `clearinghouse events "
            "relay`); the daemon always writes, alerts, prunes"),
    Setting("events.refusal_window_s", Kind.NUMBER, _EVENTS.refusal_window_s, "Window of refusal sampling"),
    Setting("events.refusal_samples_max", Kind.INTEGER, _EVENTS.refusal_samples_max, "Refusal events per gateway "
            "and reason per window; the rest are counted in one event per window"),
    Setting("limits.request_body_bytes_max", Kind.INTEGER, _LIMITS.request_body_bytes_max,
            "Largest HTTP request body (413 above), 16384..16777216"),
    Setting("limits.request_header_bytes_max", Kind.INTEGER, _LIMITS.request_header_bytes_max,
            "Largest request header names and values (431 above), 1024..16384"),
    Setting("limits.request_header_timeout_s", Kind.NUMBER, _LIMITS.request_header_timeout_s,
            "A request's headers must arrive within this of its first byte (408, connection closed); "
            "the whole request within the larger of the two timeouts, 0.1..300"),
    Setting("limits.request_body_timeout_s", Kind.NUMBER, _LIMITS.request_body_timeout_s,
            "A request's body must arrive within this (408); the whole request within the larger of the "
            "two timeouts, 0.1..300"),
    Setting("limits.json_depth_max", Kind.INTEGER, _LIMITS.json_depth_max,
            "Deepest JSON request body (400 deeper), 2..8"),
    Setting("limits.connections_max", Kind.INTEGER, _LIMITS.connections_max,
            "Concurrent HTTP connections and requests; past it new requests get 503, 16..100000"),
    Setting("limits.keep_alive_s", Kind.INTEGER, _LIMITS.keep_alive_s,
            "An idle HTTP connection is closed after this, 1..3600"),
    Setting("limits.tickets_per_call_max", Kind.INTEGER, _LIMITS.tickets_per_call_max,
            "Most tickets one payment call or SignTickets batch may sign (TOO_MANY_TICKETS: 400, /v1 422), 1..100"),
    Setting("limits.sessions_per_gateway_max", Kind.INTEGER, _LIMITS.sessions_per_gateway_max,
            "Open payment sessions per gateway; a new one past it gets 429, 1..10000000"),
    Setting("limits.session_idle_s", Kind.NUMBER, _LIMITS.session_idle_s,
            "A session not paid for this long no longer counts as open, 60..86400"),
    Setting("limits.grpc_concurrent_rpcs_max", Kind.INTEGER, _LIMITS.grpc_concurrent_rpcs_max,
            "gRPC calls running or queued; more get RESOURCE_EXHAUSTED, 1..100000"),
    Setting("limits.grpc_message_bytes_max", Kind.INTEGER, _LIMITS.grpc_message_bytes_max,
            "Largest gRPC request message, 16384..16777216"),
    Setting("limits.signing_queue_max", Kind.INTEGER, _LIMITS.signing_queue_max,
            "Signing calls waiting for the ledger committer; more get 503 with Retry-After "
            "(gRPC RESOURCE_EXHAUSTED), 1..65536"),
    Setting("limits.signing_batch_max", Kind.INTEGER, _LIMITS.signing_batch_max,
            "Most signing calls committed in one transaction (group commit), 1..1024"),
    Setting("limits.first_call_retry_window_s", Kind.NUMBER, _LIMITS.first_call_retry_window_s,
            "A session's first call repeated byte for byte by the same gateway within this gets the stored "
            "answer, not a second session; 0 turns it off, 0..3600"),
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
