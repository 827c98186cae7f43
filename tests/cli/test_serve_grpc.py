"""`clearinghouse serve` with a [grpc] section runs the HTTP and gRPC APIs together."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clearinghouse.proto import clearinghouse_pb2 as pb
from clearinghouse.proto import clearinghouse_pb2_grpc
from tests.cli.conftest import clearinghouse, write_daemon_config
from tests.cli.test_serve import free_port, post, serving, wait_ready

TIMEOUT_S = 10.0


def test_serve_runs_http_and_grpc_on_one_ledger(tmp_path: Path) -> None:
    http_port, grpc_port = free_port(), free_port()
    config = write_daemon_config(tmp_path, http_port=http_port)
    with config.open("a") as toml:
        toml.write(f'\n[grpc]\nhost = "127.0.0.1"\nport = {grpc_port}\nchain_id = 42161\n')
    with serving(config) as daemon:
        wait_ready(http_port, daemon)
        added = clearinghouse("gateway", "add", "acme", "--json", "--config", str(config))
        assert added.returncode == 0, added.stderr
        key = json.loads(added.stdout)["api_key"]
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="clearinghouse.v1.Clearinghouse"), timeout=TIMEOUT_S
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            info = clearinghouse_pb2_grpc.ClearinghouseStub(channel).GetSignerInfo(
                pb.GetSignerInfoRequest(), metadata=(("authorization", f"Bearer {key}"),), timeout=TIMEOUT_S
            )
        status, body = post(f"http://127.0.0.1:{http_port}/sign-orchestrator-info", key)
        assert status == 200 and body["address"] == info.address_checksummed
        assert info.chain_id == 42161 and info.ticket_broker == b""
    assert daemon.returncode is not None
