"""The names clearinghouse.api exports are the ones meant to be public, and all import."""

from __future__ import annotations

import clearinghouse.api as api


def test_exports() -> None:
    assert set(api.__all__) == {
        "REFUSAL_STATUS",
        "ApiError",
        "ApiKeyAuthenticator",
        "GatewayDisabled",
        "GatewayService",
        "GrpcGateway",
        "GrpcServer",
        "GrpcTls",
        "Reason",
        "RemoteSignerApp",
        "SigningService",
        "Unauthenticated",
        "WebhookAuthorizer",
        "WebhookConfig",
        "api_key_digest",
        "authenticate",
        "grpc_serving",
        "issue_api_key",
        "run_server",
        "serving",
    }
    for name in api.__all__:
        assert getattr(api, name) is not None
