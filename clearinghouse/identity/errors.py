"""The identity provider's errors, each an OAuth 2.0 error code (RFC 6749 §5.2, RFC 6750 §3.1):

    clearinghouse.errors.ClearinghouseError
    └── IdentityError(code)
        ├── InvalidRequest     invalid_request       a missing or malformed parameter
        ├── InvalidClient      invalid_client        unknown client, wrong secret, disabled app
        ├── InvalidGrant       invalid_grant         a subject token or user that cannot be used
        ├── UnsupportedGrant   unsupported_grant_type
        ├── InvalidScope       invalid_scope         a scope not allowed for this kind of token
        ├── InvalidToken       invalid_token         bad signature, algorithm, issuer, audience,
        │                                            expiry, revoked, deactivated user
        ├── InsufficientScope  insufficient_scope    a valid token without the scope a route needs
        └── UnknownUser        not_found             no such user in the caller's app

Transports map the code to a status in one table (api/oidc_http.py). Messages go to clients, so
they never contain a token, a secret or a key.
"""

from __future__ import annotations

from clearinghouse.errors import ClearinghouseError


class IdentityError(ClearinghouseError):
    code = "invalid_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(IdentityError):
    code = "invalid_request"


class InvalidClient(IdentityError):
    code = "invalid_client"


class InvalidGrant(IdentityError):
    code = "invalid_grant"


class UnsupportedGrant(IdentityError):
    code = "unsupported_grant_type"


class InvalidScope(IdentityError):
    code = "invalid_scope"


class InvalidToken(IdentityError):
    code = "invalid_token"


class InsufficientScope(IdentityError):
    code = "insufficient_scope"


class UnknownUser(IdentityError):
    code = "not_found"
