"""``clearinghouse events``: the event outbox and its sinks, seen and driven from the command line."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from clearinghouse.cli.options import config_option, emit, json_option, opened_ledger, settings, translated
from clearinghouse.config import Settings
from clearinghouse.cli.limits import REPLAY_EVENTS_MAX, TAIL_POLL_S

if TYPE_CHECKING:
    from clearinghouse.events.sinks import Sink
    from clearinghouse.ledger import Database


@click.group("events")
def events() -> None:
    """Every signing and sampled refusal as a CloudEvent: status, tail, replay, relay.

    \b
    Examples:
      clearinghouse events status --config clearinghouse.toml
      clearinghouse events tail --config clearinghouse.toml
      clearinghouse events replay --config clearinghouse.toml --from 1200 --to 1300 --sink nats
    """


@events.command("status")
@config_option
@json_option
def status(config_path: Path, as_json: bool) -> None:
    """Each configured sink's cursor, unsent events and the age of its oldest one, and the outbox's size.

    \b
    Examples:
      clearinghouse events status --config clearinghouse.toml --json
    """
    from clearinghouse.ledger.outbox import backlogs, outbox_extent, sink_cursor

    config = settings(config_path)
    names = _sink_names(config)
    with opened_ledger(config.database_url) as db, translated():
        rows, lowest, highest = outbox_extent(db)
        found = {b.sink: b for b in backlogs(db, names)}
        cursors = {name: sink_cursor(db, name) for name in names}
    now = datetime.now(UTC)
    sinks = []
    for name in names:
        oldest = found[name].oldest_unsent_at
        sinks.append({
            "sink": name, "last_sent_id": cursors[name].position.id, "sent_total": cursors[name].sent_total,
            "cursor_moved_at": cursors[name].updated_at, "unsent": found[name].unsent,
            "oldest_unsent_age_s": None if oldest is None else round((now - oldest).total_seconds(), 3),
        })
    data = {"enabled": config.events.enabled, "outbox_rows": rows, "lowest_id": lowest, "highest_id": highest,
            "sinks": sinks}
    lines = [f"outbox: {rows} events (ids {lowest}..{highest}), events {'on' if config.events.enabled else 'off'}"]
    lines += [f"sink {s['sink']}: sent through id {s['last_sent_id']} ({s['sent_total']} sent), {s['unsent']} unsent"
              + ("" if s["oldest_unsent_age_s"] is None else f", oldest {s['oldest_unsent_age_s']} s old")
              for s in sinks] or ["no sink configured (set events.nats_url or events.http_url)"]
    emit(as_json, data, lines)


@events.command("tail")
@config_option
@click.option("--from", "first_id", type=click.IntRange(min=1), default=None,
              help="Start at this event id (default: after the newest, showing only new events).")
@click.option("--follow/--no-follow", default=True, show_default=True, help="Keep printing new events until stopped.")
def tail(config_path: Path, first_id: int | None, follow: bool) -> None:
    """Print events as CloudEvents JSON, one per line, following new ones as they are written.

    \b
    Examples:
      clearinghouse events tail --config clearinghouse.toml
      clearinghouse events tail --config clearinghouse.toml --from 1 --no-follow
    """
    from clearinghouse.events.cloudevents import to_cloudevent
    from clearinghouse.ledger.outbox import newest_position, read_range

    config = settings(config_path)
    sender = _sender(config)
    with opened_ledger(config.database_url) as db, translated():
        next_id = newest_position(db).id + 1 if first_id is None else first_id
        while True:
            entries = read_range(db, next_id, None)
            for entry in entries:
                click.echo(json.dumps(to_cloudevent(entry, source=config.events.source, sender=sender),
                                      separators=(",", ":")))
            if entries:
                next_id = entries[-1].id + 1
                continue
            if not follow:
                return
            time.sleep(TAIL_POLL_S)


@events.command("replay")
@config_option
@click.option("--from", "first_id", type=click.IntRange(min=1), required=True, help="First event id to publish.")
@click.option("--to", "last_id", type=click.IntRange(min=1), default=None, help="Last event id (default: the newest).")
@click.option("--sink", "sink_names", multiple=True, help="A configured sink (nats, http); default: every one.")
@json_option
def replay(config_path: Path, first_id: int, last_id: int | None, sink_names: tuple[str, ...], as_json: bool) -> None:
    """Publish a range of stored events again, with their ids, to the configured sinks.

    The sinks' cursors do not move: this is for a consumer that lost events. JetStream drops
    copies of events still in its stream's duplicate window; other consumers deduplicate by
    id. Events pruned after events.retention_s cannot be replayed.

    \b
    Examples:
      clearinghouse events replay --config clearinghouse.toml --from 1200
      clearinghouse events replay --config clearinghouse.toml --from 1200 --to 1300 --sink http
    """
    config = settings(config_path)
    if last_id is not None and last_id < first_id:
        raise click.BadParameter(f"--to {last_id} is before --from {first_id}", param_hint="--to")
    sinks = _sinks(config, sink_names)
    with opened_ledger(config.database_url) as db, translated():
        published = asyncio.run(_replay(db, config, sinks, first_id, last_id))
    emit(as_json, {"published": published, "sinks": [sink.name for sink in sinks]},
         [f"published {published} events to {', '.join(sink.name for sink in sinks)}"])


async def _replay(db: Database, config: Settings, sinks: list[Sink], first_id: int, last_id: int | None) -> int:
    from clearinghouse.events.cloudevents import to_cloudevent
    from clearinghouse.events.sinks import SinkError
    from clearinghouse.ledger.outbox import read_range

    sender, published, next_id = _sender(config), 0, first_id
    try:
        while published < REPLAY_EVENTS_MAX:
            entries = await asyncio.to_thread(read_range, db, next_id, last_id, config.events.batch_max)
            if not entries:
                break
            batch = [to_cloudevent(e, source=config.events.source, sender=sender) for e in entries]
            for sink in sinks:
                try:
                    await sink.publish(batch)
                except SinkError as exc:
                    raise click.ClickException(f"sink {sink.name}: {exc} (published {published} before)") from exc
            published += len(batch)
            next_id = entries[-1].id + 1
    finally:
        for sink in sinks:
            await sink.close()
    return published


@events.command("relay")
@config_option
@click.option("--exit-with-parent", "parent_pid", type=int, default=None, hidden=True,
              help="The daemon that started this relay: exit when it is gone (Linux).")
def relay(config_path: Path, parent_pid: int | None) -> None:
    """Publish the outbox to the configured sinks until stopped, in this process.

    The daemon starts this itself by default (`[events] relay = "process"`); with
    `relay = "external"` you run it, here or on another machine that reaches the database.
    Signing then never shares its process (its interpreter lock) with building and publishing
    events. The daemon still writes the outbox, samples refusals, reads the lag, alerts, prunes
    and fails closed; this only publishes, each sink from its cursor, finding new events every
    `[events] poll_s`. On PostgreSQL several may run: one at a time publishes each sink.

    \b
    Examples:
      clearinghouse events relay --config clearinghouse.toml
    """
    import signal

    from clearinghouse.events.relay import Relay, RelaySettings
    from clearinghouse.logs import configure_logging

    if parent_pid is not None:
        _exit_with_parent(parent_pid)
    config = settings(config_path)
    configure_logging(config.log.level, config.log.format)
    sinks = _sinks(config, ())
    events_settings = config.events
    relay_settings = RelaySettings(source=events_settings.source, batch_max=events_settings.batch_max,
                                   poll_s=events_settings.poll_s)
    with opened_ledger(config.database_url) as db:
        publisher = Relay(db, sinks, relay_settings, sender=_sender(config), housekeeping=False)
        # The handler only raises: stopping the relay inside it could deadlock on a lock the
        # interrupted main thread holds (Event.wait's own, for one).
        previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            publisher.start()
            click.echo(f"publishing events to {', '.join(sink.name for sink in sinks)}", err=True)
            publisher.wait()
        except _StopRequested:
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            publisher.stop()


class _StopRequested(Exception):
    """SIGINT or SIGTERM reached ``events relay``."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _StopRequested


PR_SET_PDEATHSIG = 1
"""prctl(2): the signal the kernel sends this process when its parent dies."""


def _exit_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGTERM this process when the daemon that started it dies (Linux), and
    exit now if it already has (this process was re-parented before the request took effect)."""
    import ctypes
    import os
    import signal
    import sys

    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent_pid:
        raise click.ClickException(f"the daemon (pid {parent_pid}) that started this relay is gone")


def _sink_names(config: Settings) -> list[str]:
    return [name for name, url in (("nats", config.events.nats_url), ("http", config.events.http_url)) if url]


def _sinks(config: Settings, wanted: tuple[str, ...]) -> list[Sink]:
    configured = _sink_names(config)
    unknown = sorted(set(wanted) - set(configured))
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)}: not a configured sink (configured: "
                                 f"{', '.join(configured) or 'none'})", param_hint="--sink")
    names = list(wanted) or configured
    if not names:
        raise click.ClickException("no sink configured: set events.nats_url or events.http_url")
    sinks: list[Sink] = []
    if "nats" in names and config.events.nats_url:
        from clearinghouse.events.nats_sink import NatsSink

        sinks.append(NatsSink(config.events.nats_url, config.events.nats_subject_prefix))
    if "http" in names and config.events.http_url:
        from clearinghouse.events.http_sink import HttpSink

        sinks.append(HttpSink(config.events.http_url))
    return sinks


def _sender(config: Settings) -> bytes | None:
    """The sender's address from the keystore's plain ``address`` field (no passphrase needed:
    the address is public); None when the file does not name it."""
    try:
        address = json.loads(config.keystore.read_text()).get("address")
        return bytes.fromhex(str(address).removeprefix("0x")) if address else None
    except (OSError, ValueError):
        return None
