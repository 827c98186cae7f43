"""Serving the clearinghouse.v1 gRPC service: one server with health, reflection and TLS.

``GrpcServer`` hosts, on one port:

- ``clearinghouse.v1.Clearinghouse`` (grpc_service.py), on the gateway-call threads (pools.py:
  the daemon's, shared with /v1, else GATEWAY_CALL_THREADS_MAX of its own)
  with at most ``GrpcLimits.concurrent_rpcs_max`` calls admitted (more are refused
  RESOURCE_EXHAUSTED at once) and request messages bounded by ``GrpcLimits.message_bytes_max``
  (the [limits] settings; defaults GRPC_CONCURRENT_RPCS_MAX and GRPC_MESSAGE_BYTES_MAX);
- the standard ``grpc.health.v1.Health`` service: SERVING for "" and the service name while the
  server runs, NOT_SERVING from the moment shutdown begins, so load balancers drain it first;
- server reflection (``grpc.reflection.v1alpha``), so grpcurl and friends need no .proto file.

``stop`` is graceful: no new calls are accepted, calls in progress get GRPC_SHUTDOWN_GRACE_S to
finish, then the rest are cancelled. TLS is optional (``GrpcTls``: PEM certificate chain and
key); plain gRPC belongs on loopback, which the configuration enforces (config.py).
``grpc_serving`` runs a server for the length of a ``with`` block (the daemon, tests, benchmarks).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from clearinghouse.api.grpc_service import SERVICE_NAME, GrpcGateway
from clearinghouse.api.limits import (
    GATEWAY_CALL_THREADS_MAX,
    GRPC_KEEPALIVE_TIME_S,
    GRPC_RESPONSE_BYTES_MAX,
    GRPC_SHUTDOWN_GRACE_S,
)
from clearinghouse.api.pools import BlockingPool
from clearinghouse.domain.limits import GrpcLimits

LOG = logging.getLogger(__name__)

HEALTH_SERVICE_NAME: str = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
"""``grpc.health.v1.Health``."""


@dataclass(frozen=True, slots=True)
class GrpcTls:
    """PEM server certificate chain and private key (the key never appears in a repr)."""

    certificate_chain: bytes = field(repr=False)
    private_key: bytes = field(repr=False)


class GrpcServer:
    """The gRPC server of one GrpcGateway on ``host:port`` (port 0: any free port).

    Not started by the constructor: ``start()`` binds and serves, ``stop()`` drains.
    """

    def __init__(
        self,
        gateway: GrpcGateway,
        host: str,
        port: int,
        *,
        tls: GrpcTls | None = None,
        pool: BlockingPool | None = None,
        threads: int = GATEWAY_CALL_THREADS_MAX,
        grace_s: float = GRPC_SHUTDOWN_GRACE_S,
        limits: GrpcLimits | None = None,
    ) -> None:
        limits = limits or GrpcLimits()
        self._address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._tls = tls
        self._grace_s = grace_s
        # The daemon's gateway-call pool is closed by the daemon; one of its own, on stop.
        self._owns_pool = pool is None
        self._pool = BlockingPool("gateway-calls", threads) if pool is None else pool
        self._health = health.HealthServicer()
        self._server = grpc.server(
            self._pool.executor,
            handlers=[gateway.handler()],
            maximum_concurrent_rpcs=limits.concurrent_rpcs_max,
            options=[
                ("grpc.max_receive_message_length", limits.message_bytes_max),
                ("grpc.max_send_message_length", GRPC_RESPONSE_BYTES_MAX),
                ("grpc.keepalive_time_ms", GRPC_KEEPALIVE_TIME_S * 1000),
                # Refuse a port another process already serves instead of sharing it.
                ("grpc.so_reuseport", 0),
            ],
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, HEALTH_SERVICE_NAME, reflection.SERVICE_NAME), self._server
        )
        self.port: int | None = None
        """The bound port once started."""

    def start(self) -> int:
        """Bind and start serving; returns the bound port. Raises OSError when the address
        cannot be bound (in use, not ours)."""
        try:
            if self._tls is None:
                port = self._server.add_insecure_port(self._address)
            else:
                credentials = grpc.ssl_server_credentials(
                    [(self._tls.private_key, self._tls.certificate_chain)]
                )
                port = self._server.add_secure_port(self._address, credentials)
        except RuntimeError as exc:  # grpc reports a failed bind this way
            raise OSError(f"cannot bind gRPC to {self._address}: {exc}") from exc
        if port == 0:
            raise OSError(f"cannot bind gRPC to {self._address}")
        self._server.start()
        for service in ("", SERVICE_NAME):
            self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        self.port = port
        return port

    def stop(self) -> bool:
        """Drain: NOT_SERVING, no new calls, calls in progress get ``grace_s``; True when every
        call finished within it (False: the rest were cancelled)."""
        self._health.enter_graceful_shutdown()
        finished = self._server.stop(self._grace_s).wait(self._grace_s + 1.0)
        if self._owns_pool:
            self._pool.executor.shutdown(wait=False, cancel_futures=True)
        if not finished:
            LOG.warning("gRPC calls still running %g s after shutdown began; cancelled", self._grace_s)
        return finished


@contextmanager
def grpc_serving(
    gateway: GrpcGateway,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    tls: GrpcTls | None = None,
    grace_s: float = GRPC_SHUTDOWN_GRACE_S,
    limits: GrpcLimits | None = None,
) -> Iterator[GrpcServer]:
    """Serve ``gateway`` for the length of the block (started on entry, drained on exit)."""
    server = GrpcServer(gateway, host, port, tls=tls, grace_s=grace_s, limits=limits)
    server.start()
    try:
        yield server
    finally:
        server.stop()
