"""``clearinghouse serve`` and ``clearinghouse devnet``: run the daemon, alone or on a local chain."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from clearinghouse import ledger, pm
from clearinghouse.cli import transports
from clearinghouse.cli.autopilot import start_autopilot
from clearinghouse.cli.event_relay import start_event_relay
from clearinghouse.cli.limits import HOLD_POLL_S
from clearinghouse.cli.options import (
    config_option,
    daemon_flags,
    database_url_option,
    flags_of,
    settings,
    translated,
)
from clearinghouse.cli.transports import ChainSources
from clearinghouse.config import Settings
from clearinghouse.domain.credit import CreditMode
from clearinghouse.errors import LedgerError
from clearinghouse.logs import configure_logging
from clearinghouse.signer.decision import PaymentPolicy

if TYPE_CHECKING:
    from clearinghouse.api.discovery import DiscoveryBook
    from clearinghouse.billing.ratebook import RateBook
    from clearinghouse.chain.anvil import Anvil
    from clearinghouse.chain.client import ChainClient
    from clearinghouse.chain.monitor import DepositMonitor
    from clearinghouse.chain.orchestrators import ActiveOrchestrators
    from clearinghouse.chain.watcher import ChainWatcher
    from clearinghouse.identity.service import IdentityService

LOG = logging.getLogger("clearinghouse.daemon")

DEVNET_GATEWAY_NAME = "devnet"
DEVNET_CREDIT_LIMIT_WEI = 10**17
"""The devnet gateway may owe 0.1 ETH of EV: thousands of demo tickets, not the whole deposit."""


@click.command()
@config_option
@database_url_option
@daemon_flags
def serve(config_path: Path, database_url_value: str | None, host: str | None, port: int | None,
          log_level: str | None, log_format: str | None) -> None:
    """Run the remote-signer HTTP API (go-livepeer -remoteSignerUrl compatible) until stopped,
    and the clearinghouse.v1 gRPC API beside it when the config has a [grpc] section.

    Every setting comes from the file, overridden by its CLEARINGHOUSE_* environment variable,
    overridden by these flags (see `clearinghouse config show`). With http.cert_file and
    http.key_file the API is served over HTTPS.

    An embedded SQLite ledger that does not exist yet is created on first start. Refuses to
    start on an existing database at another schema version (run `clearinghouse db upgrade`), an
    unreadable or group-readable keystore or other secret file, or without the native ticket
    core (set CLEARINGHOUSE_NO_EXTENSIONS=1 to run the slow reference on purpose).

    \b
    Examples:
      clearinghouse serve --config clearinghouse.toml
      clearinghouse serve --port 9935 --log-level debug --log-format text
      clearinghouse serve --database-url postgresql+psycopg://ch@db/ch
    """
    flags = flags_of(host, port, log_level, log_format) | {"database_url": database_url_value}
    config = settings(config_path, flags)
    configure_logging(config.log.level, config.log.format)
    _create_embedded_ledger(config.database_url)
    run_daemon(config, config.log.level)


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
    together, gRPC draining its calls in progress for at most GRPC_SHUTDOWN_GRACE_S). [limits]
    reach the HTTP app and uvicorn (``HttpLimits``), the gRPC server (``GrpcLimits``) and the
    payment signer (tickets per call, open sessions per gateway)."""
    from clearinghouse.api import run_server
    from clearinghouse.api.discovery import DiscoveringPaymentService
    from clearinghouse.api.pools import Pools
    from clearinghouse.api.rejections import RecentRejections
    from clearinghouse.signer.tickets import TicketService

    with translated():
        pm.require_native()
        private_key = config.private_key()
        admin_token = None if config.admin is None else config.admin.token()
        metrics_token = config.metrics.token() if config.metrics.enabled else None
        tls = config.http.tls_files()
    with ExitStack() as stack:
        db = ledger.open_database(config.database_url)
        stack.callback(db.dispose)
        with translated():
            ledger.check_database_current(db)
        sender = pm.private_key_to_address(private_key)
        chain = stack.enter_context(_chain_view(config, db, sender))
        rates = _rate_book(config, db)
        stack.callback(rates.stop)
        active = _active_orchestrators(config, stack)  # one cache and lookup pool: signing, discovery
        limits, policy = config.limits, _payment_policy(config, active)
        overdue = start_autopilot(config, db, private_key, chain.health, stack)
        relay, refusals = start_event_relay(config, db, sender, stack)  # before the committer: stops after it
        # One committer for every signing transport: their calls share batches and fsyncs.
        committer = ledger.Committer(db, queue_max=limits.signing_queue_max, batch_max=limits.signing_batch_max,
                                     outbox=config.events.enabled, admission=relay.admit, committed=relay.wake)
        stack.callback(committer.close)
        relay.start()
        discovery = _discovery_book(chain, active)
        service = DiscoveringPaymentService(db, private_key, chain.view, policy, rate_snapshot=rates,
                                            tickets_per_call_max=limits.tickets_per_call_max,
                                            sessions_per_gateway_max=limits.sessions_per_gateway_max,
                                            session_idle_s=limits.session_idle_s,
                                            first_call_retry_window_s=limits.first_call_retry_window_s,
                                            committer=committer, discovery=discovery, overdue_guard=overdue.check)
        tickets = TicketService(db, private_key, chain.view, policy, rate_snapshot=rates,
                                tickets_per_call_max=limits.tickets_per_call_max, committer=committer,
                                overdue_guard=overdue.check)
        identity = _identity(config, db)
        who = transports.credentials(config, db, None if identity is None else identity.verified)
        if identity is not None and who.gateway_keys is not None:  # the SDK's API-key token exchange
            identity.api_key_gateway = who.gateway_keys.gateway_of_key
        # One pool per kind of blocking work for every app; closed after the servers stop.
        pools = Pools.sized()
        stack.callback(pools.close)
        parts = transports.HttpParts(
            gateway=transports.gateway_service(config, db, (service, tickets), chain), chain=chain,
            admin_token=admin_token, metrics_token=metrics_token,
            metrics=transports.metrics(config, chain, rates, committer, overdue, relay),
            rejections=RecentRejections(refusals=refusals), overdue=overdue, discovery=discovery,
            identity=identity, pools=pools)
        app = transports.http_app(config, db, service, who, parts)
        stack.callback(app.close)
        if config.grpc is not None:
            stack.callback(transports.start_grpc(config, who, parts).stop)
        LOG.info("serving sender 0x%s on %s://%s:%d, ledger %s", service.address.hex(), "https" if tls else "http",
                 config.http.host, config.http.port, db.masked_url)
        if on_ready is not None:
            on_ready()
        try:
            run_server(app, config.http.host, config.http.port, log_level=log_level, tls=tls, limits=limits.http())
        except OSError as exc:  # includes ssl.SSLError: a certificate or key uvicorn cannot load
            raise click.ClickException(f"cannot serve on {config.http.host}:{config.http.port}: {exc}") from exc


def _active_orchestrators(config: Settings, stack: ExitStack) -> ActiveOrchestrators | None:
    """Whether orchestrators are active on chain (with a live chain): answers cached per
    orchestrator and round, looked up on the chain-lookup threads (chain/orchestrators.py)."""
    live = config.live_chain
    if live is None:
        return None
    from clearinghouse.chain.client import ChainClient
    from clearinghouse.chain.limits import ACTIVE_CHECK_RPC_TIMEOUT_S
    from clearinghouse.chain.orchestrators import ActiveOrchestrators

    active = ActiveOrchestrators(ChainClient(live.rpc_url, live.controller, timeout_s=ACTIVE_CHECK_RPC_TIMEOUT_S))
    stack.callback(active.close)
    return active


def _payment_policy(config: Settings, active: ActiveOrchestrators | None) -> PaymentPolicy:
    """[policy], with the active-orchestrator check when ``active_orchestrators_only`` asks for
    it: a lookup bounded in time, fail closed."""
    if not config.active_orchestrators_only or active is None:
        return config.policy
    LOG.info("signing only for orchestrators active on chain in the current round")
    return replace(config.policy, recipient_check=active.verdict)


def _discovery_book(chain: ChainSources, active: ActiveOrchestrators | None) -> DiscoveryBook:
    """GET /discover-orchestrators: the orchestrators paid through this process, less those the
    BondingManager says are not active in the current round (with a live chain; answers cached
    per round, never waited for: api/discovery.py)."""
    from clearinghouse.api.discovery import DiscoveryBook

    health = chain.health
    if active is None or health is None:
        return DiscoveryBook()

    def current_round() -> int | None:
        position = health().position
        return None if position is None else position.current_round

    return DiscoveryBook(activity=active, current_round=current_round)


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


def _identity(config: Settings, db: ledger.Database) -> IdentityService | None:
    """[oidc]: the identity provider (its key file is read now, so a bad one stops the start)."""
    if config.oidc is None:
        return None
    from clearinghouse.identity.service import IdentitySettings, identity_service
    from clearinghouse.identity.tokens import USER_SCOPES, parse_scopes

    oidc = config.oidc
    settings = IdentitySettings(oidc.issuer, oidc.audience, oidc.user_token_lifetime_s, oidc.app_token_lifetime_s,
                                oidc.clock_skew_s, parse_scopes(oidc.user_token_scope, USER_SCOPES, frozenset()))
    with translated():
        return identity_service(db, config.api_key_pepper(), oidc.signing_keys_file, settings)


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
    from clearinghouse.chain.client import ChainClient
    from clearinghouse.chain.errors import ChainError
    from clearinghouse.chain.monitor import health_document
    from clearinghouse.chain.redact import redact_rpc_url
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
                           health=monitor.health, static=None, ticket_broker=ticket_broker,
                           watcher_status=watcher.status)
    finally:
        monitor.stop()
        watcher.stop()


def deposit_monitor(
    config: Settings, db: ledger.Database, sender: bytes, client: ChainClient | None = None,
    watcher: ChainWatcher | None = None,
) -> DepositMonitor:
    """The deposit monitor of ``config`` (which must have [chain] rpc_url), not yet started;
    with ``watcher`` (the daemon's), its lag and the unmatched redemptions count in the health
    and it records the deposit samples the dashboard charts (a one-off read records none)."""
    from clearinghouse.chain.client import ChainClient
    from clearinghouse.chain.errors import ChainError
    from clearinghouse.chain.monitor import (
        DepositMonitor,
        HealthAlerts,
        LedgerAndChainSources,
        watcher_lag,
    )

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
        retry_on=(ChainError, LedgerError),
        sample_db=None if watcher is None else db,
    )




@click.command()
@click.option("--directory", type=click.Path(path_type=Path), default=None,
              help="Where to write the devnet's keystore, config and ledger (default: a new "
                   "./.devnet/<UTC time>/; an existing directory must not hold devnet files).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="Use this configuration's keystore, secrets and ledger (see `clearinghouse "
                                 "init`) instead of a new directory; its [chain], [rates] and [grpc] are rewritten "
                                 "for the devnet, comments kept.")
@click.option("--chain-only", is_flag=True, help="Do not serve: print the chain's RPC URL and the config path, "
                                                 "and keep the chain up until stopped.")
@click.option("--http-port", type=click.IntRange(1, 65535), default=8935, show_default=True,
              help="The new directory's http.port (with --config, its [http] applies).")
@click.option("--grpc-port", type=click.IntRange(1, 65535), default=8936, show_default=True)
def devnet(directory: Path | None, config_path: Path | None, chain_only: bool, http_port: int,
           grpc_port: int) -> None:
    """Start a local Arbitrum-like chain and serve the daemon against it, until stopped.

    Starts the pinned anvil (chain id 42161, loopback), deploys our TicketBroker and its
    companions, and funds a sender's deposit and reserve: a new key in a new directory, or with
    --config the operator's own key. Then it writes (or rewrites) the config, creates or
    upgrades the ledger, adds a gateway with an API key (printed once), and serves. Stopping
    (Ctrl-C) stops anvil too; the files stay.

    \b
    Examples:
      clearinghouse devnet
      clearinghouse devnet --directory /tmp/ch-devnet --http-port 9935 --grpc-port 9936
      clearinghouse init --directory ch && clearinghouse devnet --config ch/clearinghouse.toml
      clearinghouse devnet --config ch/clearinghouse.toml --chain-only
    """
    from clearinghouse.chain.anvil import start_anvil

    if directory is not None and config_path is not None:
        raise click.UsageError("give --directory (a new devnet) or --config (an existing configuration), not both")
    configure_logging("info", "text")  # an interactive command: lines for a person to read
    with translated(), start_anvil() as anvil:
        if config_path is None:
            config_path = _provision_directory(directory, anvil, http_port, grpc_port)
            overrides: dict[str, object] = {}
        else:
            overrides = _provision_config(config_path, anvil, grpc_port)
        if chain_only:
            _hold_chain(anvil.rpc_url, config_path)
            return
        _serve_devnet(settings(config_path, overrides), anvil.rpc_url, grpc_port)


def _provision_directory(directory: Path | None, anvil: Anvil, http_port: int, grpc_port: int) -> Path:
    """A new devnet directory: new sender key, secrets, config and ledger; returns the config."""
    from clearinghouse.chain.devnet import provision_devnet

    target = directory or Path(".devnet") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    provisioned = provision_devnet(target, anvil, http_port=http_port, grpc_port=grpc_port)
    ledger.upgrade_to_head(provisioned.database_url)
    click.echo(f"sender           {provisioned.sender} (deposit and reserve funded)")
    return provisioned.config_path


def _provision_config(config_path: Path, anvil: Anvil, grpc_port: int) -> dict[str, object]:
    """Deploy, point the operator's config at the devnet, fund its sender, create or upgrade its
    ledger. Returns the flags every later read of the config needs here: the devnet's RPC URL
    wins over a CLEARINGHOUSE_RPC_URL left in the environment."""
    from eth_account import Account

    from clearinghouse.chain.devnet import (
        deploy_devnet,
        fund_sender,
        point_config_at_devnet,
    )

    chain = deploy_devnet(anvil.rpc_url)
    point_config_at_devnet(config_path, chain, grpc_port=grpc_port)
    overrides: dict[str, object] = {"chain.rpc_url": anvil.rpc_url}
    config = settings(config_path, overrides)
    sender = Account.from_key(config.private_key())
    fund_sender(anvil, chain, sender)
    revision = ledger.upgrade_to_head(config.database_url)
    click.echo(f"sender           {sender.address} (deposit and reserve funded)")
    click.echo(f"ledger           {ledger.mask_url(config.database_url)} (revision {revision})")
    if os.environ.get("CLEARINGHOUSE_RPC_URL"):
        click.echo("note             CLEARINGHOUSE_RPC_URL is set: it overrides the devnet's chain.rpc_url for "
                   "every other command; unset it to use the devnet")
    return overrides


def _hold_chain(rpc_url: str, config_path: Path) -> None:
    """Keep the devnet up until SIGINT or SIGTERM; the caller's context then stops anvil."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        click.echo(f"devnet chain     {rpc_url} (chain id 42161)")
        click.echo(f"config           {config_path}")
        click.echo(f"serve it with:   clearinghouse serve --config {config_path}   (Ctrl-C here stops the chain)")
        while not stop.wait(HOLD_POLL_S):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("stopping the devnet chain")


DEVNET_API_KEY_FILE = "gateway-api-key.txt"
"""The devnet gateway's key of this run, beside the devnet's admin token (mode 0600)."""


def _serve_devnet(config: Settings, rpc_url: str, grpc_port: int) -> None:
    """Add (or reuse) the devnet gateway, issue it an API key, print how to connect, serve."""
    from clearinghouse.api.api_keys import issue_api_key

    db = ledger.open_database(config.database_url)
    gateway = next((g for g in ledger.list_gateways(db) if g.name == DEVNET_GATEWAY_NAME), None)
    if gateway is None:
        gateway = ledger.create_gateway(db, DEVNET_GATEWAY_NAME)
        ledger.set_credit_policy(db, gateway.id, mode=CreditMode.CREDIT,
                                 credit_limit_wei=DEVNET_CREDIT_LIMIT_WEI, actor="devnet", reason="devnet gateway")
    key_text, _ = issue_api_key(db, gateway.id, config.api_key_pepper())
    db.dispose()
    key_file = config.path.parent / DEVNET_API_KEY_FILE  # so the quickstart's commands need no copying
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(key_text + "\n")
    http = config.http
    url = f"{'https' if http.cert_file else 'http'}://{http.host}:{http.port}"

    def announce() -> None:
        click.echo(f"devnet chain     {rpc_url} (chain id 42161)")
        click.echo(f"config           {config.path}")
        click.echo(f"remote signer    {url}")
        click.echo(f"gRPC API         127.0.0.1:{grpc_port} (clearinghouse.v1; reflection on)")
        click.echo(f"gateway API key  {key_text} (also in {key_file})")
        click.echo(f"go-livepeer:     -remoteSignerUrl {url} -remoteSignerHeaders 'Authorization:Bearer {key_text}'")
        if config.admin is not None and config.admin.token_file is not None:
            click.echo(f"dashboard        {url}/dashboard (log in with the token in {config.admin.token_file})")
        if config.metrics.enabled:
            click.echo(f"metrics          {url}/metrics")

    run_daemon(config, on_ready=announce)
