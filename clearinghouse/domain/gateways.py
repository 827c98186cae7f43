"""Gateways (the clearinghouse's tenants) and their API keys, as every layer sees them.

Values only: the ledger stores them (ledger/gateways.py), transports authenticate with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class GatewayStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class Gateway:
    id: int
    name: str
    status: GatewayStatus
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    gateway_id: int
    prefix: str
    usage_subject: str | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuthenticatedKey:
    """A live API key and the gateway it belongs to."""

    key: ApiKey
    gateway: Gateway
