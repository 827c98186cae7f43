"""``clearinghouse serve`` and ``clearinghouse devnet``: run the daemon, alone or on a local chain."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from clearinghouse import ledger, pm
from clearinghouse.cli.options import config_option, database_url_option, settings, translated
from clearinghouse.config import CHAIN_ID_DEFAULT, ConfigError, GrpcSettings, Settings
from clearinghouse.signer.decision import ChainView

if TYPE_CHECKING:
    from clearinghouse.api import ApiKeyAuthenticator, WebhookAuthorizer
    from clearinghouse.api.gateway_service import GatewayService
    from clearinghouse.api.grpc_server import GrpcServer
    from clearinghouse.api.rate_limit import RateLimiter
    from clearinghouse.chain.health import DepositHealth
    from clearinghouse.signer.service import PaymentService
    from clearinghouse.signer.tickets import TicketService
    from clearinghouse.billing.ratebook import RateBook
    from clearinghouse.chain.client import ChainClient
    from clearinghouse.chain.monitor import DepositMonitor
    from clearinghouse.chain.watcher import ChainWatcher

LOG = logging.getLogger("clearinghouse.daemon")

DEVNET_GATEWAY_NAME = "devnet"
DEVNET_CREDIT_LIMIT_WEI = 10**17
"""The devnet gateway may owe 0.1 ETH of EV: thousands of demo tickets, not the whole deposit."""


@click.command()
@config_option
@database_url_option
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def serve(config_path: Path, database_url_value: str | None, log_level: str) -> None:
    """Run the remote-signer HTTP API (go-livepeer -remoteSignerUrl compatible) until stopped,
    and the clearinghouse.v1 gRPC API beside it when the config has a [grpc] section.

    An embedded SQLite ledger that does not exist yet is created on first start. Refuses to
    start on an existing database at another schema version (run `clearinghouse db upgrade`), an
    unreadable or group-readable keystore, or without the native ticket core (set
    CLEARINGHOUSE_NO_EXTENSIONS=1 to run the slow reference on purpose).

    \b
    Examples:
      clearinghouse serve --config clearinghouse.toml
      clearinghouse serve --database-url postgresql+psycopg://ch@db/ch
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = settings(config_path)
    if database_url_value:
        config = replace(config, database_url=database_url_value)
    _create_embedded_ledger(config.database_url)
    run_daemon(config, log_level)


def _create_embedded_ledger(url: str) -> None:
    """Zero setup for the embedded default: an empty SQLite ledger gets the schema on first start.

    Only an empty database: migrating an existing one stays an explicit `clearinghouse db
    upgrade`, and PostgreSQL is always created by the operator.
    """
    if not url.startswith("sqlite:"):
        return
    with translated():
        if ledger.current_revision(url) is None:
            revision = ledger.upgrade_to_head(url)
            LOG.info("created the embedded ledger %s at revision %s", ledger.mask_url(url), revision)


def run_daemon(config: Settings, log_level: str = "info", on_ready: Callable[[], None] | None = None) -> None:
    """Open everything ``serve`` needs, check it, and serve until SIGINT/SIGTERM: the HTTP API
    (remote-signer routes, and the clearinghouse.v1 JSON routes under /v1/ whenever gateway API
    keys can be checked; the finance routes under /admin/v1/ with [admin]), and the gRPC API
    beside it when [grpc] is configured (both stop
    together, gRPC draining its calls in progress for at most GRPC_SHUTDOWN_GRACE_S)."""
    from clearinghouse.api import RemoteSignerApp, run_server
    from clearinghouse.api.admin_http import AdminRoutes
    from clearinghouse.api.v1_http import V1Routes
    from clearinghouse.signer.service import PaymentService
    from clearinghouse.signer.tickets import TicketService

    with translated():
        pm.require_native()
        private_key = config.private_key()
        admin_token = None if config.admin is None else config.admin.token()
    with ExitStack() as stack:
        db = ledger.open_database(config.database_url)
        stack.callback(db.dispose)
        with translated():
            ledger.check_database_current(db)
        sender = pm.private_key_to_address(private_key)
        chain = stack.enter_context(_chain_view(config, db, sender))
        rates = _rate_book(config, db)
        stack.callback(rates.stop)
        service = PaymentService(db, private_key, chain.view, config.policy, rate_snapshot=rates)
        tickets = TicketService(db, private_key, chain.view, config.policy, rate_snapshot=rates)
        api_keys, webhook = _authorization(config, db)
        rate_limiter = _rate_limiter(config)
        gateway_keys = api_keys or _webhook_mode_keys(config, db)
        gateway = _gateway_service(config, db, (service, tickets), chain)
        v1 = None if gateway_keys is None else V1Routes(gateway, gateway_keys, rate_limiter)
        admin = None if admin_token is None else AdminRoutes(db, admin_token)
        app = RemoteSignerApp(service, api_keys=api_keys, webhook=webhook, rate_limiter=rate_limiter,
                              deposit_health=chain.health_document, v1=v1, admin=admin)
        stack.callback(app.close)
        if config.grpc is not None:
            if gateway_keys is None:
                raise click.ClickException("[grpc] authenticates gateway API keys: set auth.pepper_file "
                                           "(or CLEARINGHOUSE_API_KEY_PEPPER) beside [webhook]")
            stack.callback(_start_grpc(config.grpc, gateway, gateway_keys, rate_limiter).stop)
        LOG.info("serving sender 0x%s on http://%s:%d, ledger %s", service.address.hex(),
                 config.http.host, config.http.port, db.masked_url)
        if on_ready is not None:
            on_ready()
        run_server(app, config.http.host, config.http.port, log_level=log_level)


HealthDocument = Callable[[], Mapping[str, object]]


def _rate_book(config: Settings, db: ledger.Database) -> RateBook:
    """The ETH/USD rate each record refers to: Chainlink per [rates] (read through [chain]),
    else the manual table; looked up once before serving, then in the background."""
    from clearinghouse.billing.ratebook import RateBook
    from clearinghouse.billing.rates import ChainlinkRateSource, RatePolicy
    from clearinghouse.chain.client import ChainClient

    settings, live = config.rates, config.live_chain
    chainlink = None
    if settings.aggregator is not None and live is not None:
        policy = RatePolicy(heartbeat_s=settings.heartbeat_s, sequencer_grace_s=settings.sequencer_grace_s)
        chainlink = ChainlinkRateSource(ChainClient(live.rpc_url, live.controller), settings.aggregator,
                                        settings.sequencer_uptime_feed, policy)
    book = RateBook(db, chainlink, refresh_s=settings.refresh_s, manual_max_age_s=settings.manual_max_age_s)
    book.refresh()
    book.start()
    return book


@dataclass(frozen=True, slots=True)
class ChainSources:
    """What the transports read of the chain: the signer's view, the deposit health (as the
    /v1/health document and as values), the static view when there is no live one, and the
    TicketBroker's address (None while not known; never blocks)."""

    view: Callable[[], ChainView]
    health_document: HealthDocument | None
    health: Callable[[], DepositHealth] | None
    static: ChainView | None
    ticket_broker: Callable[[], bytes | None]


def _webhook_mode_keys(config: Settings, db: ledger.Database) -> ApiKeyAuthenticator | None:
    """With [webhook], gateway API keys still authenticate the clearinghouse.v1 APIs when a
    pepper is configured; None when it is not (those APIs are then off)."""
    from clearinghouse.api import ApiKeyAuthenticator

    try:
        pepper = config.api_key_pepper()
    except ConfigError:
        LOG.info("no API-key pepper beside [webhook]: the /v1/ gateway routes are off")
        return None
    return ApiKeyAuthenticator(db, pepper)


def _gateway_service(
    config: Settings, db: ledger.Database, signers: tuple[PaymentService, TicketService], chain: ChainSources
) -> GatewayService:
    """The clearinghouse.v1 operations over the daemon's signers, ledger and chain view."""
    from clearinghouse.api.gateway_service import GatewayService

    chain_id = CHAIN_ID_DEFAULT if config.grpc is None else config.grpc.chain_id
    return GatewayService(*signers, db, chain_id=chain_id, ticket_broker=chain.ticket_broker,
                          deposit_health=chain.health, static_chain=None if chain.health else chain.static)


def _start_grpc(
    grpc: GrpcSettings, gateway: GatewayService, api_keys: ApiKeyAuthenticator, rate_limiter: RateLimiter
) -> GrpcServer:
    """Start the clearinghouse.v1 gRPC server of [grpc] (TLS when it names a certificate)."""
    from clearinghouse.api.grpc_server import GrpcServer, GrpcTls
    from clearinghouse.api.grpc_service import GrpcGateway

    with translated():
        tls = grpc.tls()
    server = GrpcServer(GrpcGateway(gateway, api_keys, rate_limiter), grpc.host, grpc.port,
                        tls=None if tls is None else GrpcTls(certificate_chain=tls[0], private_key=tls[1]))
    try:
        server.start()
    except OSError as exc:
        raise click.ClickException(str(exc)) from exc
    LOG.info("serving gRPC clearinghouse.v1 on %s://%s:%d", "grpcs" if tls else "grpc", grpc.host, grpc.port)
    return server


@contextmanager
def _chain_view(config: Settings, db: ledger.Database, sender: bytes) -> Iterator[ChainSources]:
    """The signer's chain view, the deposit health and the TicketBroker address.

    With [chain] rpc_url: the deposit monitor (live position, exposure, health guard, alerts)
    and the event watcher, both on background threads stopped on exit. Else the static view
    from [chain.static], unmonitored.
    """
    if config.live_chain is None:
        static = config.static_chain
        if static is None:
            raise click.ClickException("configure [chain] (live) or [chain.static]")
        LOG.info("chain view: static, from the configuration")
        broker = None if config.grpc is None else config.grpc.ticket_broker
        yield ChainSources(view=lambda: static, health_document=None, health=None, static=static,
                           ticket_broker=lambda: broker)
        return
    from clearinghouse.chain.monitor import health_document
    from clearinghouse.chain.redact import redact_rpc_url

    from clearinghouse.chain.client import ChainClient
    from clearinghouse.chain.errors import ChainError
    from clearinghouse.chain.watcher import ChainWatcher

    live = config.live_chain
    client = ChainClient(live.rpc_url, live.controller)
    watcher = ChainWatcher(client, db, sender, start_block=live.start_block, confirmations=live.confirmations,
                           poll_s=live.watch_poll_s)
    monitor = deposit_monitor(config, db, sender, client, watcher)
    LOG.info("chain view: live from %s, refreshed every %gs, stale after %gs; events from block %d, "
             "%d confirmations", redact_rpc_url(live.rpc_url), live.refresh_s, live.stale_after_s,
             live.start_block, live.confirmations)
    watcher.start()
    # Read once before serving, so a daemon started with the RPC up signs from its first call.
    if not monitor.refresh():
        LOG.warning("chain data not readable at start; signing is refused until it is")
    monitor.start()

    def ticket_broker() -> bytes | None:
        # The client resolves its contracts on the monitor's first successful read; before
        # that, asking would block on the RPC, so the address is not known yet.
        if monitor.health().position is None:
            return None
        try:
            return bytes.fromhex(client.contract_addresses().ticket_broker[2:])
        except ChainError:
            return None

    try:
        yield ChainSources(view=monitor, health_document=lambda: health_document(monitor.health()),
                           health=monitor.health, static=None, ticket_broker=ticket_broker)
    finally:
        monitor.stop()
        watcher.stop()


def deposit_monitor(
    config: Settings, db: ledger.Database, sender: bytes, client: ChainClient | None = None,
    watcher: ChainWatcher | None = None,
) -> DepositMonitor:
    """The deposit monitor of ``config`` (which must have [chain] rpc_url), not yet started;
    with ``watcher``, its lag and the unmatched redemptions count in the health."""
    from clearinghouse.chain.client import ChainClient
    from clearinghouse.chain.errors import ChainError
    from clearinghouse.chain.monitor import DepositMonitor, HealthAlerts, LedgerAndChainSources, watcher_lag

    live = config.live_chain
    if live is None:
        raise click.ClickException("configure [chain] rpc_url and controller to read the deposit")
    client = client or ChainClient(live.rpc_url, live.controller)
    health = config.health
    lag = None if watcher is None else (lambda: watcher_lag(watcher.status(), db))
    sources = LedgerAndChainSources(client, db, sender, burn_window_s=health.burn_window_s, watcher_lag=lag)
    return DepositMonitor(
        sources,
        health.thresholds,
        HealthAlerts(health.alert_webhook_url),
        refresh_s=live.refresh_s,
        stale_after_s=live.stale_after_s,
        burn_window_s=health.burn_window_s,
        retry_on=(ChainError, ledger.LedgerError),
    )


def _rate_limiter(config: Settings) -> RateLimiter:
    from clearinghouse.api.rate_limit import CallRate, RateLimiter

    limits = config.rate_limit
    return RateLimiter(
        None if limits.default is None else CallRate(*limits.default),
        {gateway_id: CallRate(*rate) for gateway_id, rate in limits.per_gateway.items()},
    )


def _authorization(
    config: Settings, db: ledger.Database
) -> tuple[ApiKeyAuthenticator | None, WebhookAuthorizer | None]:
    """API keys by default; the go-livepeer-compatible webhook when [webhook] is configured."""
    from clearinghouse.api import ApiKeyAuthenticator, WebhookAuthorizer, WebhookConfig

    if config.webhook is None:
        with translated():
            return ApiKeyAuthenticator(db, config.api_key_pepper()), None
    with translated():
        gateway = ledger.get_gateway(db, config.webhook.gateway_id)
    if gateway.status is not ledger.GatewayStatus.ACTIVE:
        raise click.ClickException(f"webhook.gateway_id {gateway.id} ({gateway.name!r}) is {gateway.status.value}")
    webhook = WebhookConfig(url=config.webhook.url, gateway_id=gateway.id, headers=config.webhook.headers)
    return None, WebhookAuthorizer(webhook)


@click.command()
@click.option("--directory", type=click.Path(path_type=Path), default=None,
              help="Where to write the devnet's keystore, config and ledger (default: a new "
                   "./.devnet/<UTC time>/; an existing directory must not hold devnet files).")
@click.option("--http-port", type=click.IntRange(1, 65535), default=8935, show_default=True)
@click.option("--grpc-port", type=click.IntRange(1, 65535), default=8936, show_default=True)
def devnet(directory: Path | None, http_port: int, grpc_port: int) -> None:
    """Start a local Arbitrum-like chain and serve the daemon against it, until stopped.

    Starts the pinned anvil (chain id 42161, loopback), deploys our TicketBroker and its
    companions, creates and funds a new sender key (deposit and reserve), writes a config,
    creates the ledger, adds a gateway with an API key (printed once), and serves. Stopping
    (Ctrl-C) stops anvil too; the directory stays for inspection.

    \b
    Examples:
      clearinghouse devnet
      clearinghouse devnet --directory /tmp/ch-devnet --http-port 9935 --grpc-port 9936
    """
    from clearinghouse.api.api_keys import issue_api_key
    from clearinghouse.chain.anvil import start_anvil
    from clearinghouse.chain.devnet import provision_devnet

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s %(message)s")
    target = directory or Path(".devnet") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with translated(), start_anvil() as anvil:
        provisioned = provision_devnet(target, anvil, http_port=http_port, grpc_port=grpc_port)
        ledger.upgrade_to_head(provisioned.database_url)
        config = settings(provisioned.config_path)
        db = ledger.open_database(config.database_url)
        gateway = ledger.create_gateway(db, DEVNET_GATEWAY_NAME)
        ledger.set_credit_policy(db, gateway.id, mode=ledger.CreditMode.CREDIT,
                                 credit_limit_wei=DEVNET_CREDIT_LIMIT_WEI, actor="devnet", reason="devnet gateway")
        key_text, _ = issue_api_key(db, gateway.id, config.api_key_pepper())
        db.dispose()

        def announce() -> None:
            click.echo(f"devnet chain     {anvil.rpc_url} (chain id 42161)")
            click.echo(f"sender           {provisioned.sender} (deposit and reserve funded)")
            click.echo(f"config           {provisioned.config_path}")
            click.echo(f"remote signer    http://127.0.0.1:{http_port}")
            click.echo(f"gRPC API         127.0.0.1:{grpc_port} (clearinghouse.v1; reflection on)")
            click.echo(f"gateway API key  {key_text}")
            click.echo(f"go-livepeer:     -remoteSignerUrl http://127.0.0.1:{http_port} "
                       f"-remoteSignerHeaders 'Authorization:Bearer {key_text}'")

        run_daemon(config, on_ready=announce)
