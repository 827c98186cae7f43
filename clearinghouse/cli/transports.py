"""The daemon's transports, wired: the gateway credentials, the HTTP app with the routes mounted
beside it (/v1, admin, dashboard, OIDC and Builder), and the gRPC server, all on one set of
thread pools (api/pools.py: one pool per kind of blocking work, shared by every app).

Heavy libraries are imported inside the functions, as in daemon.py: the CLI's other commands
import neither."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from clearinghouse import ledger
from clearinghouse.domain.gateways import GatewayStatus
from clearinghouse.cli.options import translated
from clearinghouse.config import CHAIN_ID_DEFAULT, ConfigError, Settings
from clearinghouse.domain.chain_view import ChainView

if TYPE_CHECKING:
    from clearinghouse.api import ApiKeyAuthenticator, RemoteSignerApp, WebhookAuthorizer
    from clearinghouse.api.discovery import DiscoveryBook
    from clearinghouse.signer.gateway_service import GatewayService
    from clearinghouse.api.grpc_server import GrpcServer
    from clearinghouse.api.metrics import Metrics
    from clearinghouse.api.pools import Pools
    from clearinghouse.api.rate_limit import RateLimiter
    from clearinghouse.api.rejections import RecentRejections
    from clearinghouse.billing.overdue import OverdueBook
    from clearinghouse.billing.ratebook import RateBook
    from clearinghouse.chain.health import DepositHealth
    from clearinghouse.chain.watcher import WatcherStatus
    from clearinghouse.events.relay import Relay
    from clearinghouse.identity.service import IdentityService
    from clearinghouse.identity.verified import VerifiedTokens
    from clearinghouse.signer.service import PaymentService
    from clearinghouse.signer.tickets import TicketService

LOG = logging.getLogger("clearinghouse.daemon")

HealthDocument = Callable[[], Mapping[str, object]]


@dataclass(frozen=True, slots=True)
class ChainSources:
    """What the transports read of the chain: the signer's view, the deposit health (as the
    /v1/health document and as values), the static view when there is no live one, and the
    TicketBroker's address (None while not known; never blocks), and the event watcher's status
    (None without a live chain)."""

    view: Callable[[], ChainView]
    health_document: HealthDocument | None
    health: Callable[[], DepositHealth] | None
    static: ChainView | None
    ticket_broker: Callable[[], bytes | None]
    watcher_status: Callable[[], WatcherStatus] | None = None


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who may call: ``api_keys`` or ``webhook`` (exactly one) authorize the remote-signer routes;
    ``gateway_keys`` the clearinghouse.v1 APIs (/v1 and gRPC; None with a webhook and no pepper:
    those APIs are off); one ``rate_limiter`` for every transport (api/caller.py)."""

    api_keys: ApiKeyAuthenticator | None
    webhook: WebhookAuthorizer | None
    gateway_keys: ApiKeyAuthenticator | None
    rate_limiter: RateLimiter


def credentials(config: Settings, db: ledger.Database, tokens: VerifiedTokens | None) -> Credentials:
    """API keys by default; the go-livepeer-compatible webhook when [webhook] is configured; the
    [rate_limit] settings. Raises ClickException for a bad pepper or a disabled webhook gateway."""
    api_keys, webhook = _authorization(config, db, tokens)
    gateway_keys = api_keys or _webhook_mode_keys(config, db, tokens)
    return Credentials(api_keys, webhook, gateway_keys, _rate_limiter(config))


def _rate_limiter(config: Settings) -> RateLimiter:
    from clearinghouse.api.rate_limit import CallRate, RateLimiter

    limits = config.rate_limit
    return RateLimiter(
        None if limits.default is None else CallRate(*limits.default),
        {gateway_id: CallRate(*rate) for gateway_id, rate in limits.per_gateway.items()},
    )


def _authorization(
    config: Settings, db: ledger.Database, tokens: VerifiedTokens | None
) -> tuple[ApiKeyAuthenticator | None, WebhookAuthorizer | None]:
    from clearinghouse.api import ApiKeyAuthenticator, WebhookAuthorizer, WebhookConfig

    if config.webhook is None:
        with translated():
            return ApiKeyAuthenticator(db, config.api_key_pepper(), tokens=tokens), None
    with translated():
        gateway = ledger.get_gateway(db, config.webhook.gateway_id)
    if gateway.status is not GatewayStatus.ACTIVE:
        raise click.ClickException(f"webhook.gateway_id {gateway.id} ({gateway.name!r}) is {gateway.status.value}")
    webhook = WebhookConfig(url=config.webhook.url, gateway_id=gateway.id, headers=config.webhook.headers)
    return None, WebhookAuthorizer(webhook)


def _webhook_mode_keys(config: Settings, db: ledger.Database, tokens: VerifiedTokens | None
                       ) -> ApiKeyAuthenticator | None:
    """With [webhook], gateway API keys still authenticate the clearinghouse.v1 APIs when a
    pepper is configured; None when it is not (those APIs are then off)."""
    from clearinghouse.api import ApiKeyAuthenticator

    try:
        pepper = config.api_key_pepper()
    except ConfigError:
        LOG.info("no API-key pepper beside [webhook]: the /v1/ gateway routes are off")
        return None
    return ApiKeyAuthenticator(db, pepper, tokens=tokens)


def gateway_service(
    config: Settings, db: ledger.Database, signers: tuple[PaymentService, TicketService], chain: ChainSources
) -> GatewayService:
    """The clearinghouse.v1 operations over the daemon's signers, ledger and chain view."""
    from clearinghouse.signer.gateway_service import GatewayService

    chain_id = CHAIN_ID_DEFAULT if config.grpc is None else config.grpc.chain_id
    return GatewayService(*signers, db, chain_id=chain_id, ticket_broker=chain.ticket_broker,
                          deposit_health=chain.health, static_chain=None if chain.health else chain.static)


def metrics(
    config: Settings, chain: ChainSources, rates: RateBook, committer: ledger.Committer, overdue: OverdueBook,
    relay: Relay,
) -> Metrics | None:
    """The Prometheus metrics of [metrics] (on by default): counters the transports record
    into, and gauges read at scrape time from memory (health, watcher, rate book, committer,
    receivables, event relay)."""
    from clearinghouse.api.metrics import Metrics

    if not config.metrics.enabled:
        return None
    return Metrics(deposit_health=chain.health, watcher_status=chain.watcher_status,
                   rate_snapshot=rates, rate_age_s=rates.answer_age_s, committer_stats=committer.stats,
                   overdue=overdue, events=relay)


@dataclass(frozen=True, slots=True)
class HttpParts:
    """What the HTTP app serves besides the signer: the gateway operations, the chain, the
    operator's secrets (admin token: admin routes and dashboard; metrics token), the books the
    routes read, and the pools every app shares."""

    gateway: GatewayService
    chain: ChainSources
    admin_token: str | None
    metrics_token: str | None
    metrics: Metrics | None
    rejections: RecentRejections
    overdue: OverdueBook
    discovery: DiscoveryBook
    identity: IdentityService | None
    pools: Pools


def http_app(config: Settings, db: ledger.Database, service: PaymentService, who: Credentials,
             parts: HttpParts) -> RemoteSignerApp:
    """The remote-signer app with /v1 (when gateway keys can be checked), the admin routes and
    the dashboard (with [admin]) and the OIDC provider and Builder API (with [oidc]) mounted."""
    from clearinghouse.api import RemoteSignerApp
    from clearinghouse.api.admin_http import AdminRoutes
    from clearinghouse.api.dashboard import DashboardRoutes
    from clearinghouse.api.v1_http import V1Routes

    admin_token = parts.admin_token
    v1 = None if who.gateway_keys is None else V1Routes(parts.gateway, who.gateway_keys, who.rate_limiter,
                                                        metrics=parts.metrics)
    admin = None if admin_token is None else AdminRoutes(db, admin_token, invoicing=config.invoicing,
                                                         overdue=parts.overdue)
    # The operator logs in to the dashboard with the admin token: one operator credential,
    # never a gateway key.
    dashboard = None if admin_token is None else DashboardRoutes(
        db, admin_token, deposit_health=parts.chain.health, rejections=parts.rejections, overdue=parts.overdue)
    return RemoteSignerApp(service, api_keys=who.api_keys, webhook=who.webhook, rate_limiter=who.rate_limiter,
                           deposit_health=parts.chain.health_document, v1=v1, admin=admin, dashboard=dashboard,
                           metrics=parts.metrics, metrics_token=parts.metrics_token, rejections=parts.rejections,
                           limits=config.limits.http(), discovery=parts.discovery, pools=parts.pools,
                           **_identity_routes(config, db, parts.identity))


def _identity_routes(config: Settings, db: ledger.Database, identity: IdentityService | None) -> dict[str, Any]:
    """The OIDC provider's and the Builder API's routes, when [oidc] is configured."""
    if identity is None or config.oidc is None:
        return {}
    from clearinghouse.api.builder_http import BuilderRoutes
    from clearinghouse.api.oidc_http import OidcRoutes

    return {"oidc": OidcRoutes(identity),
            "builder": BuilderRoutes(db, identity)}


def start_grpc(config: Settings, who: Credentials, parts: HttpParts) -> GrpcServer:
    """Start the clearinghouse.v1 gRPC server of [grpc] (TLS when it names a certificate),
    within [limits]' gRPC share, on the gateway-call threads it shares with /v1."""
    from clearinghouse.api.grpc_server import GrpcServer, GrpcTls
    from clearinghouse.api.grpc_service import GrpcGateway

    grpc = config.grpc
    if grpc is None:
        raise click.ClickException("no [grpc] section")
    if who.gateway_keys is None:
        raise click.ClickException("[grpc] authenticates gateway API keys: set auth.pepper_file "
                                   "(or CLEARINGHOUSE_API_KEY_PEPPER) beside [webhook]")
    with translated():
        tls = grpc.tls()
    servicer = GrpcGateway(parts.gateway, who.gateway_keys, who.rate_limiter, metrics=parts.metrics,
                           rejections=parts.rejections)
    server = GrpcServer(servicer, grpc.host, grpc.port,
                        tls=None if tls is None else GrpcTls(certificate_chain=tls[0], private_key=tls[1]),
                        pool=parts.pools.gateway_calls, limits=config.limits.grpc())
    try:
        server.start()
    except OSError as exc:
        raise click.ClickException(str(exc)) from exc
    LOG.info("serving gRPC clearinghouse.v1 on %s://%s:%d", "grpcs" if tls else "grpc", grpc.host, grpc.port)
    return server
