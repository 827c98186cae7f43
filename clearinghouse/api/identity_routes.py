"""The paths of the identity provider (oidc_http.py) and the Builder API (builder_http.py): one
place, read by those routes and by the OpenAPI document (identity_openapi.py), which the HTTP app
renders when it is imported and so cannot import the routes themselves."""

from __future__ import annotations

from typing import Final

DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
JWKS_PATH: Final = "/api/v1/oidc/jwks"
TOKEN_PATH: Final = "/api/v1/oidc/token"
INTROSPECT_PATH: Final = "/api/v1/oidc/introspect"
REVOKE_PATH: Final = "/api/v1/oidc/revoke"

USERS: Final = "/api/v1/apps/{clientId}/users"
USER: Final = USERS + "/{externalUserId}"
USER_TOKEN: Final = USER + "/token"
ALLOWANCES: Final = USER + "/allowances"
APP_USAGE: Final = "/api/v1/builder/apps/{clientId}/usage"
OWN_USAGE: Final = "/api/v1/user/usage"
