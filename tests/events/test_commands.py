"""``clearinghouse events status | tail | replay`` against a SQLite ledger with signed calls, a real
JetStream stream and a real HTTP receiver."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from clearinghouse import ledger
from clearinghouse.domain.credit import CreditMode
from clearinghouse.cli import main
from clearinghouse.ledger.outbox import sink_cursor
from tests.cli.conftest import SENDER_KEY, write_daemon_config
from tests.events.conftest import Receiver, eventually
from tests.events.jetstream import Stream
from tests.ledger.conftest import CheckAndRecord, SessionDriver, keys_of

CALLS = 5
TAIL_WAIT_S = 30.0
"""The tail's start-up (imports, schema check) and one poll, with room for a loaded machine."""


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, ["events", *args])


def _config(tmp_path: Path, events: str) -> Path:
    """A daemon configuration with [events], and its ledger holding CALLS signed calls."""
    config = write_daemon_config(tmp_path)
    with config.open("a") as out:
        out.write(f"\n[events]\nsource = \"urn:clearinghouse:test\"\n{events}")
    url = f"sqlite:///{tmp_path / 'clearinghouse.sqlite3'}"
    ledger.upgrade_to_head(url)
    db = ledger.open_database(url)
    try:
        gateway = ledger.create_gateway(db, "gateway-a")
        ledger.set_credit_policy(db, gateway.id, mode=CreditMode.CREDIT, credit_limit_wei=10**18,
                                 actor="t", reason="t")
        driver = SessionDriver(gateway.id)
        for _ in range(CALLS):
            call = driver.next_call(100)
            ledger.commit_calls(db, [CheckAndRecord(call, keys_of(call))])[0].result()
            driver.advance(call)
    finally:
        db.dispose()
    return config


def test_tail_prints_every_stored_event_as_one_json_line(tmp_path: Path) -> None:
    config = _config(tmp_path, "")
    result = _run("tail", "--config", str(config), "--from", "2", "--no-follow")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    assert [event["id"] for event in events] == [f"ch-{n}" for n in range(2, CALLS + 1)]
    assert {event["source"] for event in events} == {"urn:clearinghouse:test"}
    sender = events[0]["data"]["sender"]
    from clearinghouse import pm

    assert sender == "0x" + pm.private_key_to_address(SENDER_KEY).hex()  # read from the keystore, no passphrase


def test_replay_publishes_a_range_to_the_sinks_without_moving_their_cursors(
    tmp_path: Path, stream: Stream, receiver: Receiver
) -> None:
    config = _config(tmp_path, f'nats_url = "{stream.url}"\nnats_subject_prefix = "{stream.prefix}"\n'
                               f'http_url = "{receiver.url}"\n')
    result = _run("replay", "--config", str(config), "--from", "2", "--to", "4", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"published": 3, "sinks": ["nats", "http"]}
    assert [event["id"] for event in receiver.accepted_events()] == ["ch-2", "ch-3", "ch-4"]
    assert [event["id"] for _, event, _ in stream.messages()] == ["ch-2", "ch-3", "ch-4"]

    again = _run("replay", "--config", str(config), "--from", "1", "--sink", "nats")
    assert again.exit_code == 0, again.output
    assert [event["id"] for _, event, _ in stream.messages()] == ["ch-2", "ch-3", "ch-4", "ch-1", "ch-5"]
    db = ledger.open_database(f"sqlite:///{tmp_path / 'clearinghouse.sqlite3'}")
    try:
        assert sink_cursor(db, "nats").sent_total == 0
    finally:
        db.dispose()


def test_status_shows_each_sinks_backlog_and_replay_refuses_an_unknown_sink(tmp_path: Path, receiver: Receiver) -> None:
    config = _config(tmp_path, f'http_url = "{receiver.url}"\n')
    result = _run("status", "--config", str(config), "--json")
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert (status["outbox_rows"], status["lowest_id"], status["highest_id"]) == (CALLS, 1, CALLS)
    (sink,) = status["sinks"]
    assert (sink["sink"], sink["unsent"], sink["last_sent_id"]) == ("http", CALLS, 0)
    assert sink["oldest_unsent_age_s"] >= 0

    refused = _run("replay", "--config", str(config), "--from", "1", "--sink", "nats")
    assert refused.exit_code == 2 and "nats: not a configured sink (configured: http)" in refused.output
    assert receiver.posts == []


def test_tail_follows_events_written_after_it_started(tmp_path: Path) -> None:
    config = _config(tmp_path, "")
    tail = subprocess.Popen([sys.executable, "-m", "clearinghouse", "events", "tail", "--config", str(config),
                             "--from", str(CALLS + 1)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        db = ledger.open_database(f"sqlite:///{tmp_path / 'clearinghouse.sqlite3'}")
        try:
            driver = SessionDriver(ledger.list_gateways(db)[0].id)
            call = driver.next_call(100)
            ledger.commit_calls(db, [CheckAndRecord(call, keys_of(call))])[0].result()
        finally:
            db.dispose()
        assert tail.stdout is not None
        readable, _, _ = select.select([tail.stdout], [], [], TAIL_WAIT_S)
        assert readable, f"no event within {TAIL_WAIT_S} s; stderr: {tail.stderr.read() if tail.poll() else ''}"
        event = json.loads(tail.stdout.readline())
    finally:
        tail.terminate()
        tail.wait(10)
    assert (event["id"], event["data"]["session_id"]) == (f"ch-{CALLS + 1}", call.session.state_id)


def test_relay_publishes_from_a_process_of_its_own_until_stopped(tmp_path: Path, stream: Stream) -> None:
    config = _config(tmp_path, f'nats_url = "{stream.url}"\nnats_subject_prefix = "{stream.prefix}"\n'
                               "relay = \"external\"\npoll_s = 0.05\n")
    relay = subprocess.Popen([sys.executable, "-m", "clearinghouse", "events", "relay", "--config", str(config)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: stream.count() == CALLS or relay.poll() is not None, "the stored events published")
        assert relay.poll() is None, relay.stderr.read() if relay.stderr else ""
    finally:
        relay.send_signal(signal.SIGTERM)
        code = relay.wait(30)
    assert code == 0
    assert [event["id"] for _, event, _ in stream.messages()] == [f"ch-{n}" for n in range(1, CALLS + 1)]
    db = ledger.open_database(f"sqlite:///{tmp_path / 'clearinghouse.sqlite3'}")
    try:
        assert sink_cursor(db, "nats").sent_total == CALLS  # the cursor was stored at the stop at the latest
    finally:
        db.dispose()
