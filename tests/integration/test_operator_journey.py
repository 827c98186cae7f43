"""An operator's first hour, all through the `clearinghouse` command as subprocesses (issue #8):
init → devnet --chain-only → serve → gateway add → a go-livepeer-shaped client session → health
→ plan set → invoice draft → ledger verify → stop, asserting every exit code and what each
command says.

The same run is the secret-leak check: every byte any of those processes wrote to stdout or
stderr is scanned for the sender's private key, the keystore passphrase, the gateway's API key,
the API-key pepper, the admin token and the password of the RPC URL's basic-auth credential. The
daemon runs at debug level and is driven through the paths where a careless daemon logs what
it was sent (an unknown API key, a malformed body, a replayed state, a gateway key on the admin
API); the daemon's HTTP answers are scanned too. The one intended display
of a secret, the API key in `gateway add`'s answer, is allowed exactly once there.

anvil ignores the Authorization header, so the daemon and the chain-reading commands are given
the devnet's RPC URL with a made-up ``user:password@`` in it (CLEARINGHOUSE_RPC_URL): it works,
and must be redacted wherever the URL is logged.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import secrets
import signal
import stat
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from clearinghouse import pm
from clearinghouse.chain.client import ChainClient
from clearinghouse.chain.devnet import DEVNET_DEPOSIT_WEI, DEVNET_RESERVE_WEI
from clearinghouse.domain.ev import ticket_ev
from clearinghouse.proto import lp_rpc_pb2
from tests.integration.conftest import daemon_environment, free_port

COMMAND_TIMEOUT_S = 60.0
"""One foreground command (imports, a keystore decryption, a few queries) never takes this long."""
DEVNET_READY_TIMEOUT_S = 90.0
"""anvil start, contract deployment and funding: seconds; more is a hang."""
SERVE_READY_TIMEOUT_S = 60.0
"""Imports, key decryption (scrypt), schema check, first chain read."""
STOP_TIMEOUT_S = 15.0
"""SIGTERM/SIGINT to exit: the daemon drains for at most 10 s, the devnet stops anvil."""
CALL_TIMEOUT_S = 10.0
"""One HTTP call on loopback."""
POLL_S = 0.1

# The offer an orchestrator would make: a 0.001 ETH face value winning 1 in 10,000 (EV ~1e11
# wei, well inside the default policy's 3e12 per ticket), and a lv2v price of 4,000 wei per
# pixel. go-livepeer's first lv2v payment covers 60 s of 1280×720×30 pixels: ~67 tickets (under
# the 100 per call limit and the 2e13 total EV). Each later call after at least PAYMENT_INTERVAL_S
# owes ≥ 1.1e11 wei, more than the balance left over (< one EV), so it signs at least one ticket.
FACE_VALUE_WEI = 10**15
WIN_PROB = (2**256 - 1) // 10_000
PRICE_PER_PIXEL_WEI = 4_000
TICKET_EV_WEI = ticket_ev(FACE_VALUE_WEI, WIN_PROB)
PAYMENT_INTERVAL_S = 1.0
"""go-livepeer pays every 5 s; 1 s keeps the test short and still owes more than one EV."""
FOLLOW_UP_PAYMENTS = 3
CAPABILITIES = lp_rpc_pb2.Capabilities()
"""go-livepeer sends the gateway's capabilities; the signer only copies them into SegData."""
CREDIT_LIMIT_WEI = 10**17


@dataclass(frozen=True)
class Output:
    """What one process wrote to one stream."""

    process: str
    stream: str
    data: bytes


@dataclass
class Journey:
    """The run's processes and everything they wrote; teardown kills every process group."""

    directory: Path
    outputs: list[Output] = field(default_factory=list)
    background: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def run(self, label: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """Run ``clearinghouse args`` to completion; record its stdout and stderr."""
        result = subprocess.run([sys.executable, "-m", "clearinghouse", *args], env=env, capture_output=True,
                                timeout=COMMAND_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL)
        self.outputs += [Output(label, "stdout", result.stdout), Output(label, "stderr", result.stderr)]
        return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(errors="replace"),
                                           result.stderr.decode(errors="replace"))

    def start(self, label: str, *args: str, env: dict[str, str]) -> BackgroundProcess:
        """Start ``clearinghouse args`` in its own process group, stdout and stderr to files."""
        stdout_path, stderr_path = self.directory / f"{label}.stdout", self.directory / f"{label}.stderr"
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            process = subprocess.Popen([sys.executable, "-m", "clearinghouse", *args], env=env, stdout=stdout,
                                       stderr=stderr, stdin=subprocess.DEVNULL, start_new_session=True)
        self.background.append(process)
        return BackgroundProcess(label, process, stdout_path, stderr_path)

    def collect(self, process: BackgroundProcess) -> None:
        self.outputs += [Output(process.label, "stdout", process.stdout_path.read_bytes()),
                         Output(process.label, "stderr", process.stderr_path.read_bytes())]

    def kill_all(self) -> None:
        for process in self.background:
            try:  # the whole group: the devnet's anvil is in it
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass


@dataclass
class BackgroundProcess:
    label: str
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    def text(self) -> str:
        return self.stdout_path.read_text(errors="replace") + self.stderr_path.read_text(errors="replace")

    def stop(self, sig: signal.Signals) -> int:
        """Send ``sig``; return the exit code (AssertionError if it does not exit in time)."""
        self.process.send_signal(sig)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.label} still running {STOP_TIMEOUT_S:g} s after {sig.name}") from None


@pytest.fixture
def journey(tmp_path: Path) -> Iterator[Journey]:
    run = Journey(tmp_path)
    try:
        yield run
    finally:
        run.kill_all()


@dataclass(frozen=True)
class Operator:
    """What `clearinghouse init` made, and the secrets the scan looks for."""

    config: Path
    sender: str
    # Kept out of repr: a failing assertion that shows the operator must not show its secrets.
    private_key: bytes = field(repr=False)
    passphrase: str = field(repr=False)
    pepper: str = field(repr=False)
    admin_token: str = field(repr=False)


@dataclass(frozen=True)
class Session:
    """What the go-livepeer-shaped client did: its offer, paid calls, tickets and states."""

    info: lp_rpc_pb2.OrchestratorInfo
    manifest_id: str
    calls: int
    tickets: int
    states: list[dict[str, Any]]


def test_an_operator_journey_through_the_cli_leaks_no_secret(journey: Journey, tmp_path: Path) -> None:
    operator = initialize(journey, tmp_path)
    chain, rpc_url = start_devnet(journey, operator)
    rpc_password = "rpc-secret-" + secrets.token_hex(12)
    env = daemon_environment(PYTHONUNBUFFERED="1", CLEARINGHOUSE_RPC_URL=rpc_url.replace(
        "http://", f"http://ops:{rpc_password}@", 1))
    port = free_port()
    daemon = journey.start("serve", "serve", "--config", str(operator.config), "--port", str(port), "--log-level",
                           "debug", env=env)
    wait_ready(daemon, port)
    gateway_id, api_key = add_gateway(journey, operator, env)
    client = SignerClient(port, api_key, "gateway", journey.outputs)
    session = pay_like_go_livepeer(client, operator.sender, ChainClient(rpc_url, load_controller(operator.config)))
    wrong_key = provoke_refusals(client, session, operator, journey.outputs)
    check_health(journey, operator, env)
    check_billing(journey, operator, env, gateway_id, session)
    stop(daemon, chain, rpc_url)
    journey.collect(daemon)
    journey.collect(chain)

    check_daemon_log(daemon.stderr_path.read_bytes())
    assert {output.process for output in journey.outputs} >= {
        "init", "devnet", "serve", "gateway add", "gateway set-limits", "health", "plan set", "invoice draft",
        "invoice show", "ledger verify", "the daemon's HTTP answers"}
    leaks = find_secrets(journey.outputs, {
        "the sender's private key": operator.private_key.hex(),  # found with or without 0x, any case
        "the keystore passphrase": operator.passphrase,
        "the gateway's API key": api_key,
        "an unknown API key a client sent": wrong_key,
        "the API-key pepper": operator.pepper,
        "the admin token": operator.admin_token,
        "the RPC URL's password": rpc_password,
    }, allowed={("gateway add", "stdout", "the gateway's API key")})
    assert not leaks, "secrets in process output:\n" + "\n".join(leaks)


def initialize(journey: Journey, tmp_path: Path) -> Operator:
    """`init` with a 0600 passphrase file: a new sender in an encrypted keystore, every secret
    file 0600 in a 0700 directory, the JSON naming the sender and the files."""
    directory = tmp_path / "ch"
    passphrase = "journey-" + secrets.token_urlsafe(24)
    passphrase_file = tmp_path / "passphrase.txt"
    passphrase_file.write_text(passphrase + "\n")
    passphrase_file.chmod(0o600)
    created = journey.run("init", "init", "--directory", str(directory), "--passphrase-file", str(passphrase_file),
                          "--json", env=daemon_environment(PYTHONUNBUFFERED="1"))
    assert created.returncode == 0, created.stderr
    report = json.loads(created.stdout)
    config = Path(report["config"])
    assert config == directory / "clearinghouse.toml", report
    assert report["passphrase"] == str(passphrase_file) and report["passphrase_generated"] is False, report
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in [config, *(Path(report[key]) for key in ("keystore", "api_key_pepper", "admin_token_file"))]:
        assert path.parent == directory and stat.S_IMODE(path.stat().st_mode) == 0o600, (path, path.stat())
    private_key = bytes(Account.decrypt(Path(report["keystore"]).read_text(), passphrase))
    assert Account.from_key(private_key).address == report["sender"]
    return Operator(config=config, sender=report["sender"], private_key=private_key, passphrase=passphrase,
                    pepper=Path(report["api_key_pepper"]).read_text().strip(),
                    admin_token=Path(report["admin_token_file"]).read_text().strip())


def start_devnet(journey: Journey, operator: Operator) -> tuple[BackgroundProcess, str]:
    """`devnet --config --chain-only` in the background: anvil, our contracts, the operator's
    sender funded, the config's [chain]/[rates]/[grpc] rewritten. Returns it and its RPC URL."""
    chain = journey.start("devnet", "devnet", "--config", str(operator.config), "--chain-only", "--grpc-port",
                          str(free_port()), env=daemon_environment(PYTHONUNBUFFERED="1"))
    shown = wait_for_devnet(chain)
    assert shown["sender"] == operator.sender and shown["config"] == str(operator.config), shown
    rpc_url = shown["devnet chain"]
    assert rpc_url.startswith("http://127.0.0.1:"), rpc_url
    written = tomllib.loads(operator.config.read_text())
    assert written["chain"]["rpc_url"] == rpc_url and "static" not in written["chain"], written["chain"]
    assert {"aggregator", "sequencer_uptime_feed"} <= written["rates"].keys() and "port" in written["grpc"]
    return chain, rpc_url


def add_gateway(journey: Journey, operator: Operator, env: dict[str, str]) -> tuple[int, str]:
    """`gateway add` (the API key shown once) and `gateway set-limits` to credit."""
    config = str(operator.config)
    added = journey.run("gateway add", "gateway", "add", "acme", "--json", "--config", config, env=env)
    assert added.returncode == 0, added.stderr
    gateway = json.loads(added.stdout)
    assert gateway["api_key"].startswith("chk_") and gateway["name"] == "acme", gateway.keys()
    limits = journey.run("gateway set-limits", "gateway", "set-limits", str(gateway["gateway_id"]), "--mode",
                         "credit", "--credit-limit-wei", str(CREDIT_LIMIT_WEI), "--reason", "journey test",
                         "--config", config, env=env)
    assert limits.returncode == 0, limits.stderr
    return int(gateway["gateway_id"]), str(gateway["api_key"])


def pay_like_go_livepeer(client: SignerClient, sender: str, chain: ChainClient) -> Session:
    """/sign-orchestrator-info once, then /generate-live-payment calls each threading the state
    the previous one returned; every payment carries tickets from our sender."""
    status, answer = client.post("/sign-orchestrator-info", b"{}")
    assert status == 200 and answer["address"] == sender, (status, answer)
    assert pm.verify_personal_signature(pm.keccak256(sender.encode()), bytes.fromhex(answer["signature"][2:]),
                                        bytes.fromhex(sender[2:]))
    info, manifest_id = orchestrator_info(chain), secrets.token_hex(8)
    states: list[dict[str, Any]] = []
    tickets = 0
    for call in range(1 + FOLLOW_UP_PAYMENTS):
        if call:
            time.sleep(PAYMENT_INTERVAL_S)
        status, answer = client.post("/generate-live-payment",
                                     payment_body(info, manifest_id, states[-1] if states else None))
        assert status == 200, f"payment {call}: {status} {answer}"
        assert set(answer) >= {"payment", "segCreds", "state"}, answer
        tickets += check_payment(answer["payment"], sender, info)
        states.append(answer["state"])
    assert tickets >= 60 + FOLLOW_UP_PAYMENTS, tickets
    return Session(info, manifest_id, 1 + FOLLOW_UP_PAYMENTS, tickets, states)


def provoke_refusals(client: SignerClient, session: Session, operator: Operator, answers: list[Output]) -> str:
    """The paths where a careless daemon logs what it was sent: an unknown API key, a malformed
    body, a replayed state, a gateway key on the admin API; and the routes that must work: the
    gateway's /v1/health, the admin API with its token. Returns the unknown key."""
    wrong_key = "chk_" + secrets.token_urlsafe(32)
    assert SignerClient(client.port, wrong_key, "stranger", answers).post("/generate-live-payment", b"{}")[0] == 401
    assert client.post("/generate-live-payment", b'{"orchestrator": "not base64!!"')[0] == 400
    replayed = client.post("/generate-live-payment", payment_body(session.info, session.manifest_id, session.states[0]))
    assert replayed[0] == 409, replayed
    status, answer = client.call("GET", "/v1/health")
    assert status == 200 and answer["state"] in ("ok", "warn"), answer
    assert client.call("GET", "/admin/v1/invoices")[0] == 401  # a gateway key is no admin token
    status, answer = SignerClient(client.port, operator.admin_token, "admin", answers).call("GET", "/admin/v1/invoices")
    assert status == 200, answer
    return wrong_key


def check_health(journey: Journey, operator: Operator, env: dict[str, str]) -> None:
    """`health --json`: ok or warn, and the deposit and reserve the devnet funded."""
    health = journey.run("health", "health", "--json", "--config", str(operator.config), env=env)
    assert health.returncode == 0, health.stdout + health.stderr
    document = json.loads(health.stdout)
    assert document["state"] in ("ok", "warn"), document
    assert document["chain"]["deposit_wei"] == str(DEVNET_DEPOSIT_WEI), document["chain"]
    assert document["chain"]["reserve_wei"] == str(DEVNET_RESERVE_WEI), document["chain"]


def check_billing(journey: Journey, operator: Operator, env: dict[str, str], gateway_id: int,
                  session: Session) -> None:
    """`plan set`, `invoice draft` for this month, `invoice show`, `ledger verify`."""
    config, month = str(operator.config), datetime.now(UTC).strftime("%Y-%m")
    plan = journey.run("plan set", "plan", "set", str(gateway_id), "--kind", "usage_based", "--markup-bps", "1500",
                       "--effective-at", f"{month}-01T00:00:00Z", "--reason", "journey test", "--config", config,
                       env=env)
    assert plan.returncode == 0, plan.stderr
    draft = journey.run("invoice draft", "invoice", "draft", str(gateway_id), "--month", month, "--json",
                        "--config", config, env=env)
    assert draft.returncode == 0, draft.stderr
    drafted = json.loads(draft.stdout)
    assert drafted["status"] == "draft" and int(drafted["total_minor"]) > 0, drafted
    shown = journey.run("invoice show", "invoice", "show", str(drafted["id"]), "--json", "--config", config, env=env)
    assert shown.returncode == 0, shown.stderr
    check_invoice(json.loads(shown.stdout), calls=session.calls, tickets=session.tickets)
    verified = journey.run("ledger verify", "ledger", "verify", "--config", config, env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def stop(daemon: BackgroundProcess, chain: BackgroundProcess, rpc_url: str) -> None:
    """SIGTERM to serve, SIGINT to devnet: both exit cleanly, and anvil goes with the devnet."""
    assert daemon.stop(signal.SIGTERM) == 0, daemon.text()[-5000:]  # a requested, completed stop
    assert "Application shutdown complete." in daemon.stderr_path.read_text(), daemon.text()[-5000:]
    assert chain.stop(signal.SIGINT) == 0, chain.text()
    assert "stopping the devnet chain" in chain.stdout_path.read_text()
    with pytest.raises(OSError):
        urllib.request.urlopen(rpc_url, data=b"{}", timeout=2)  # anvil is gone with the devnet
    with pytest.raises(ProcessLookupError):
        os.killpg(chain.process.pid, 0)  # and nothing of its process group is left


def wait_for_devnet(chain: BackgroundProcess) -> dict[str, str]:
    """Wait for devnet's "serve it with:" line; return its "label   value" lines as a dict."""
    deadline = time.monotonic() + DEVNET_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        lines = chain.stdout_path.read_text(errors="replace").splitlines()
        if any(line.startswith("serve it with:") for line in lines):
            return {line[:17].strip(): line[17:].split()[0] for line in lines if len(line) > 17 and line[17:].strip()}
        if chain.process.poll() is not None:
            raise AssertionError(f"devnet exited {chain.process.returncode}:\n{chain.text()}")
        time.sleep(POLL_S)
    raise AssertionError(f"devnet not ready in {DEVNET_READY_TIMEOUT_S:g} s:\n{chain.text()}")


def wait_ready(daemon: BackgroundProcess, port: int) -> None:
    deadline = time.monotonic() + SERVE_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            raise AssertionError(f"serve exited {daemon.process.returncode}:\n{daemon.text()[-5000:]}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(POLL_S)
    raise AssertionError(f"serve not ready in {SERVE_READY_TIMEOUT_S:g} s:\n{daemon.text()[-5000:]}")


class SignerClient:
    """What go-livepeer's remote-signer client sends: JSON POSTs with the configured header.
    Each call carries its own X-Request-Id, which the daemon must send back. Every answer is
    kept in ``answers`` for the secret scan."""

    def __init__(self, port: int, token: str, label: str, answers: list[Output]) -> None:
        self.port, self.token, self.label, self.answers = port, token, label, answers
        self.calls = 0

    def post(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        return self.call("POST", path, body)

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, Any]]:
        self.calls += 1
        request_id = f"journey-{self.label}-{self.calls}"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=CALL_TIMEOUT_S)
        try:
            connection.request(method, path, body=body, headers={
                "Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                "X-Request-Id": request_id})
            answer = connection.getresponse()
            data = answer.read()
        finally:
            connection.close()
        headers = "".join(f"{name}: {value}\n" for name, value in answer.getheaders())
        self.answers.append(Output("the daemon's HTTP answers", f"{method} {path} {answer.status}",
                                   headers.encode() + data))
        assert answer.getheader("X-Request-Id") == request_id, answer.getheaders()
        return answer.status, json.loads(data or b"{}")


def load_controller(config: Path) -> str:
    return str(tomllib.loads(config.read_text())["chain"]["controller"])


def orchestrator_info(chain: ChainClient) -> lp_rpc_pb2.OrchestratorInfo:
    """What the devnet's orchestrator (anvil's second account) would answer GetOrchestrator with:
    ticket params for the current round, valid for a million L1 blocks, a lv2v price."""
    recipient = bytes.fromhex("70997970C51812dc3A010C7d01b50e0d17dc79C8")
    creation_round = chain.current_round()
    info = lp_rpc_pb2.OrchestratorInfo(transcoder="https://orchestrator.invalid:8935", address=recipient)
    info.price_info.pricePerUnit = PRICE_PER_PIXEL_WEI
    info.price_info.pixelsPerUnit = 1
    params = info.ticket_params
    params.recipient = recipient
    params.face_value = minimal_big_endian(FACE_VALUE_WEI)
    params.win_prob = minimal_big_endian(WIN_PROB)
    params.recipient_rand_hash = pm.keccak256(secrets.token_bytes(32))
    params.seed = secrets.token_bytes(32)
    params.expiration_block = minimal_big_endian(chain.l1_block_number() + 10**6)
    params.expiration_params.creation_round = creation_round
    params.expiration_params.creation_round_block_hash = chain.block_hash_for_round(creation_round)
    info.auth_token.token = secrets.token_bytes(16)
    info.auth_token.session_id = secrets.token_hex(8)
    info.auth_token.expiration = int(time.time()) + 3600
    return info


def minimal_big_endian(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def payment_body(info: lp_rpc_pb2.OrchestratorInfo, manifest_id: str, state: dict[str, Any] | None) -> bytes:
    """go-livepeer's /generate-live-payment request: lv2v, its ManifestID, capabilities, the
    state it got last time (absent on the first call)."""
    body: dict[str, Any] = {
        "orchestrator": base64.b64encode(info.SerializeToString()).decode(), "type": "lv2v",
        "ManifestID": manifest_id, "capabilities": base64.b64encode(CAPABILITIES.SerializeToString()).decode(),
    }
    if state is not None:
        body["state"] = state
    return json.dumps(body).encode()


def check_payment(payment_b64: str, sender: str, info: lp_rpc_pb2.OrchestratorInfo) -> int:
    """Decode a Payment: sent by our sender for the offered params, every ticket signed by it.
    Returns its ticket count."""
    payment = lp_rpc_pb2.Payment.FromString(base64.b64decode(payment_b64, validate=True))
    sender_bytes = bytes.fromhex(sender[2:])
    assert payment.sender == sender_bytes, payment.sender.hex()
    assert payment.ticket_params == info.ticket_params and payment.expected_price == info.price_info
    assert payment.ticket_sender_params, "a payment without tickets"
    params, expiration = payment.ticket_params, payment.expiration_params
    for ticket in payment.ticket_sender_params:
        ticket_hash = pm.ticket_hash(params.recipient, sender_bytes, FACE_VALUE_WEI, WIN_PROB, ticket.sender_nonce,
                                     params.recipient_rand_hash, expiration.creation_round,
                                     expiration.creation_round_block_hash)
        assert pm.verify_personal_signature(ticket_hash, ticket.sig, sender_bytes), ticket.sender_nonce
    return len(payment.ticket_sender_params)


def check_invoice(invoice: dict[str, Any], calls: int, tickets: int) -> None:
    """The draft bills exactly the calls, tickets and EV the client received, priced at the
    devnet's Chainlink stand-in, for a non-zero total."""
    document = invoice["document"]
    usage = [line for line in document["lines"] if line["kind"] == "usage"]
    assert usage, f"no usage line in the draft: {json.dumps(document)[:2000]}"
    assert sum(int(line["calls"]) for line in usage) == calls, usage
    assert sum(int(line["tickets"]) for line in usage) == tickets, usage
    ev_wei = sum((Fraction(line["ev_wei"]) for line in usage), Fraction(0))
    assert ev_wei == tickets * TICKET_EV_WEI, usage
    (rate,) = document["rates"]
    assert rate["source"] == "chainlink", rate
    usd = sum((Fraction(line["amount"]) for line in usage), Fraction(0))
    assert usd == ev_wei * Fraction(rate["usd_per_eth"]) / 10**18, (usd, rate)
    assert int(document["total_minor"]) > 0 and invoice["total_minor"] == document["total_minor"], document


def check_daemon_log(stderr: bytes) -> None:
    """Every line is one JSON object; every line logged for a request carries its request_id."""
    lines = [line for line in stderr.decode().splitlines() if line.strip()]
    assert lines, "the daemon logged nothing at debug level"
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"daemon stderr line {number} is not JSON: {line[:300]!r}") from None
    assert all({"ts", "level", "logger", "message"} <= record.keys() for record in records)
    # The daemon logs no line per request (no access log; rejections go to metrics), so the
    # request-scoped lines are those of its request handler, and whatever a request happens to log.
    request_lines = [r for r in records if r["logger"].startswith("clearinghouse.api")
                     or r["message"].startswith("request ")]
    missing = [r["message"][:120] for r in request_lines if not r.get("request_id")]
    assert not missing, f"request lines without request_id: {missing[:5]}"
    malformed = [r["request_id"] for r in records if "request_id" in r
                 and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", str(r["request_id"]))]
    assert not malformed, f"request ids of an unexpected shape: {malformed[:5]}"


def find_secrets(outputs: list[Output], secrets_by_name: dict[str, str],
                 allowed: set[tuple[str, str, str]]) -> list[str]:
    """Name each (secret, process, stream) where a secret appears, without quoting it. An allowed
    (process, stream, secret) may show it exactly once."""
    for name, value in secrets_by_name.items():
        assert len(value) >= 16, f"{name} is too short to scan for"
    leaks = []
    for output in outputs:
        text = output.data.decode(errors="replace")
        lowered = text.lower()
        for name, value in secrets_by_name.items():
            haystack, needle = (lowered, value.lower()) if _is_hex(value) else (text, value)
            count = haystack.count(needle)
            if (output.process, output.stream, name) in allowed:
                count -= 1
            if count > 0:
                leaks.append(f"{name} appears {count}× in {output.process}'s {output.stream}")
    return leaks


def _is_hex(value: str) -> bool:
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return True
