"""The daemon's events end to end: `clearinghouse serve` with an HTTP sink (a real loopback
receiver) signs calls and refuses one; the receiver gets one signing event per answered call and
the refusal's event, every one valid against its shipped schema; /metrics shows the sink's lag
and what it sent."""

from __future__ import annotations

import asyncio
import json
import random
import urllib.request
from pathlib import Path

import jsonschema_rs

from clearinghouse.events.cloudevents import EVENT_TYPES, REFUSAL_TYPE, SIGNING_TYPE, schema_text
from tests.cli.conftest import write_daemon_config
from tests.events.conftest import eventually
from tests.events.receiver import Receiver, receiver  # noqa: F401 (the fixture)
from tests.integration.conftest import Daemons, KeepAliveClient, free_port, offer, payment_body, provision_gateway

CALLS = 12


async def _sign(port: int, api_key: str) -> list[dict[str, str]]:
    """CALLS calls of one session, then one call with a wrong key; the answers' states."""
    client, states, state = KeepAliveClient(port, api_key), [], None
    info = offer(random.Random(17))
    try:
        for _ in range(CALLS):
            status, answer = await client.post("/generate-live-payment", payment_body(info, "events-e2e", state))
            assert status == 200, answer[:300]
            state = json.loads(answer)["state"]
            states.append(state)
    finally:
        client.close()
    intruder = KeepAliveClient(port, "chk_wrongwrongwrongwrongwrongwrong")
    try:
        status, _ = await intruder.post("/generate-live-payment", payment_body(info, "events-e2e", None))
        assert status == 401
    finally:
        intruder.close()
    return states


def test_the_daemon_publishes_every_signing_and_a_refusal_to_an_http_receiver(
    tmp_path: Path, daemons: Daemons, receiver: Receiver
) -> None:
    port = free_port()
    config = write_daemon_config(tmp_path, port)
    with config.open("a") as out:
        out.write(f'\n[events]\nhttp_url = "{receiver.url}"\nsource = "urn:clearinghouse:e2e"\npoll_s = 0.1\n')
    api_key = provision_gateway(f"sqlite:///{tmp_path / 'clearinghouse.sqlite3'}", 10**18)
    daemon = daemons.launch(config, port)

    asyncio.run(_sign(port, api_key))
    eventually(lambda: len({e["id"] for e in receiver.accepted_events()}) >= CALLS + 1,
               "every signing event and the refusal's delivered")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        metrics = answer.read().decode()
    assert daemon.stop() == 0, daemon.log_tail()

    events = {e["id"]: e for e in receiver.accepted_events()}
    validators = {t: jsonschema_rs.validator_for(json.loads(schema_text(t))) for t in EVENT_TYPES.values()}
    for event in events.values():
        validators[event["type"]].validate(event)
    signings = [e for e in events.values() if e["type"] == SIGNING_TYPE]
    refusals = [e for e in events.values() if e["type"] == REFUSAL_TYPE]
    assert [e["data"]["sequence_number"] for e in signings] == list(range(CALLS))
    assert {e["data"]["ev_wei"]["exact"] for e in signings} == {"35"}  # one ticket of EV 35 wei per call
    assert [(r["subject"], r["data"]["status"], r["data"]["transport"]) for r in refusals] == [
        ("unauthenticated", "401", "http")]
    assert 'clearinghouse_events_unsent{sink="http"}' in metrics
    assert 'clearinghouse_events_sent_total{sink="http"}' in metrics


async def _until_refused(port: int, api_key: str) -> tuple[int, bytes, int]:
    """Sign calls of one session until the daemon refuses one; (status, body, calls signed)."""
    client, state, signed = KeepAliveClient(port, api_key), None, 0
    info = offer(random.Random(18))
    try:
        for _ in range(200):  # the backlog is read once a second: a few calls past the maximum at most
            status, answer = await client.post("/generate-live-payment", payment_body(info, "fail-closed", state))
            if status != 200:
                return status, answer, signed
            state, signed = json.loads(answer)["state"], signed + 1
            await asyncio.sleep(0.05)
    finally:
        client.close()
    return 200, b"", signed


def test_signing_fails_closed_while_a_sink_cannot_drain_past_the_maximum(tmp_path: Path, daemons: Daemons) -> None:
    port = free_port()
    config = write_daemon_config(tmp_path, port)
    with config.open("a") as out:  # nothing listens there: the sink cannot publish
        out.write(f'\n[events]\nnats_url = "nats://127.0.0.1:{free_port()}"\nunsent_max = 3\n')
    api_key = provision_gateway(f"sqlite:///{tmp_path / 'clearinghouse.sqlite3'}", 10**18)
    daemons.launch(config, port)

    status, body, signed = asyncio.run(_until_refused(port, api_key))

    assert status == 503, body[:300]
    assert signed > 3
    assert b"signing paused: event sink 'nats' has" in body and b"events.unsent_max 3" in body


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``, and alive (a zombie is not)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = dict(line.split(":\t", 1) for line in (entry / "status").read_text().splitlines()
                              if ":\t" in line)
            except OSError:
                continue
            if status.get("PPid", "").strip() == str(pid) and not status.get("State", "").startswith("Z"):
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return not Path(f"/proc/{pid}/status").read_text().split("State:\t", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False


def test_the_relay_process_ends_with_a_sigkilled_daemon(tmp_path: Path, daemons: Daemons, receiver: Receiver) -> None:
    """The default relay runs as the daemon's child; killing the daemon leaves no relay behind
    (the crash test kills it 30 times)."""
    port = free_port()
    config = write_daemon_config(tmp_path, port)
    with config.open("a") as out:
        out.write(f'\n[events]\nhttp_url = "{receiver.url}"\n')
    provision_gateway(f"sqlite:///{tmp_path / 'clearinghouse.sqlite3'}", 10**18)
    daemon = daemons.launch(config, port)
    assert daemon.pid is not None
    eventually(lambda: len(_children(daemon.pid or 0)) == 1, "the relay child started")
    (relay,) = _children(daemon.pid)
    assert "events relay" in Path(f"/proc/{relay}/cmdline").read_bytes().replace(b"\0", b" ").decode()

    daemon.kill()

    eventually(lambda: not _alive(relay), "the relay child gone with its daemon")
