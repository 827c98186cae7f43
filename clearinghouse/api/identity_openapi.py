"""The OpenAPI description of the identity provider's routes (oidc_http.py) and the Builder API
(builder_http.py), merged into GET /openapi.json by openapi.py. Only served with [oidc]."""

from __future__ import annotations

from typing import Any

from clearinghouse.api.identity_routes import (
    ALLOWANCES,
    APP_USAGE,
    DISCOVERY_PATH,
    INTROSPECT_PATH,
    JWKS_PATH,
    OWN_USAGE,
    REVOKE_PATH,
    TOKEN_PATH,
    USER,
    USER_TOKEN,
    USERS,
)
from clearinghouse.identity.limits import TOKEN_CHARS_MAX
from clearinghouse.identity.tokens import Scope
from clearinghouse.identity.usage import UsageGroup
from clearinghouse.ledger.limits import EMAIL_LENGTH_MAX, END_USERS_LISTED_MAX, EXTERNAL_ID_LENGTH_MAX

_ONLY = "Only with the [oidc] config section."
_FORM = "application/x-www-form-urlencoded"
_STRING: dict[str, Any] = {"type": "string"}
_WEI: dict[str, Any] = {"type": "string", "pattern": "^[0-9]+(/[1-9][0-9]*)?$", "description": "exact wei, a or a/b"}
_NULLABLE_WEI: dict[str, Any] = {"anyOf": [_WEI, {"type": "null"}]}
_OAUTH_ERROR = {"description": "an OAuth error (RFC 6749 §5.2: 400 or 401, error a code); a body over its size or "
                               "a wrong method is the server's usual error (error an object with its message)",
                "content": {"application/json": {"schema": {
                    "type": "object", "required": ["error"],
                    "properties": {"error": {"anyOf": [_STRING, {"$ref": "#/components/schemas/AdminError/properties/error"}]},
                                   "error_description": _STRING}}}}}
_ERROR = {"description": "an error: 400 malformed, 401 no or a bad token, 403 another app's or a missing scope, "
                         "404 unknown user, 409 user exists, 413 too large",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AdminError"}}}}
_TOKEN = {"type": "object", "required": ["access_token", "token_type", "expires_in"], "properties": {
    "access_token": _STRING, "token_type": {"type": "string", "enum": ["Bearer"]}, "expires_in": {"type": "integer"},
    "scope": _STRING, "issued_token_type": _STRING}}
_USER = {"type": "object", "required": ["external_id", "active"], "properties": {
    "external_id": _STRING, "email": {"anyOf": [_STRING, {"type": "null"}]}, "active": {"type": "boolean"},
    "usage_subject": _STRING, "created_at": {"type": "string", "format": "date-time"}}}
_ALLOWANCE = {"type": "object", "required": ["grant_wei", "spent_wei", "remaining_wei"], "properties": {
    "external_id": _STRING, "grant_wei": {"anyOf": [{"type": "string", "pattern": "^[0-9]+$"}, {"type": "null"}]},
    "spent_wei": _WEI, "spent_wei_floor": _STRING, "remaining_wei": _NULLABLE_WEI,
    "remaining_wei_floor": {"anyOf": [_STRING, {"type": "null"}]}}}
_USAGE = {"type": "object", "required": ["groupBy", "groups"], "properties": {
    "groupBy": _STRING, "start": _STRING, "end": _STRING, "external_id": _STRING,
    "groups": {"type": "array", "items": {"type": "object", "properties": {
        "group": {"type": "array", "items": _STRING}, "calls": {"type": "integer"}, "tickets": {"type": "integer"},
        "units": {"type": "integer"}, "ev_signed_wei": _WEI, "fee_wei": _WEI}}}}}
_EXTERNAL_ID: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": EXTERNAL_ID_LENGTH_MAX}
_USAGE_QUERY = [{"name": "groupBy", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": [group.value for group in UsageGroup]}},
                {"name": "month", "in": "query", "required": False,
                 "schema": {"type": "string", "pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])$"}}]


def identity_paths() -> dict[str, Any]:
    return _provider_paths() | _builder_paths()


def _operation(operation_id: str, summary: str, answer: dict[str, Any], error: dict[str, Any] = _ERROR,
               security: str = "appToken", **extra: Any) -> dict[str, Any]:
    return {"operationId": operation_id, "summary": summary, "description": _ONLY,
            "responses": {"200": {"description": "the answer", "content": {"application/json": {"schema": answer}}},
                          "default": error},
            "security": [{security: []}] if security else [], **extra}


def _form(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {_FORM: {"schema": {"type": "object", "properties": properties}}}}


def _json_body(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    return {"required": bool(required), "content": {"application/json": {"schema": {
        "type": "object", "required": required, "properties": properties, "additionalProperties": False}}}}


def _provider_paths() -> dict[str, Any]:
    token_text = {"type": "string", "maxLength": TOKEN_CHARS_MAX}
    return {
        DISCOVERY_PATH: {"get": _operation("OidcDiscovery", "OpenID Provider metadata: issuer, endpoints, grants, "
                                           "scopes, algorithms.", {"type": "object"}, security="")},
        JWKS_PATH: {"get": _operation("OidcJwks", "The public ES256 keys tokens are signed with: the current one and "
                                      "the previous one during a rotation's overlap.",
                                      {"type": "object", "required": ["keys"]}, security="")},
        TOKEN_PATH: {"post": _operation(
            "OidcToken", "client_credentials (client_secret_basic or _post) for an app token; RFC 8693 token "
            "exchange of an app token or gateway API key and an external_user_id for a user token.", _TOKEN,
            _OAUTH_ERROR, "appClient", requestBody=_form(
                grant_type={"type": "string", "enum": ["client_credentials",
                                                       "urn:ietf:params:oauth:grant-type:token-exchange"]},
                scope=_STRING, client_id=_STRING, client_secret=_STRING, subject_token=token_text,
                subject_token_type=_STRING, external_user_id=_EXTERNAL_ID,
                expires_in={"type": "string", "pattern": "^[0-9]{1,6}$"}))},
        INTROSPECT_PATH: {"post": _operation(
            "OidcIntrospect", "RFC 7662: whether a token of the calling app is active, and its claims.",
            {"type": "object", "required": ["active"]}, _OAUTH_ERROR, "appClient",
            requestBody=_form(token=token_text))},
        REVOKE_PATH: {"post": {
            "operationId": "OidcRevoke", "summary": "RFC 7009: revoke a token of the calling app (200 always).",
            "description": _ONLY, "security": [{"appClient": []}], "requestBody": _form(token=token_text),
            "responses": {"200": {"description": "revoked, or nothing to revoke"}, "default": _OAUTH_ERROR}}},
    }


def _builder_paths() -> dict[str, Any]:
    client = {"name": "clientId", "in": "path", "required": True, "schema": _STRING}
    user = {"name": "externalUserId", "in": "path", "required": True, "schema": _EXTERNAL_ID}
    scopes = {"type": "string", "description": "space-separated: " + ", ".join(s.value for s in Scope)}
    return {
        USERS: {
            "get": _operation("BuilderListUsers", "A page of the app's users (users:read).",
                              {"type": "object", "required": ["users"], "properties": {
                                  "users": {"type": "array", "items": _USER},
                                  "next_after": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}},
                              parameters=[client,
                                          {"name": "limit", "in": "query", "schema": {
                                              "type": "integer", "minimum": 1, "maximum": END_USERS_LISTED_MAX}},
                                          {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}}]),
            "post": _operation("BuilderProvisionUser", "Provision a user by external_id (users:write); 201.", _USER,
                               parameters=[client], requestBody=_json_body(
                                   ["external_id"], external_id=_EXTERNAL_ID,
                                   email={"type": "string", "minLength": 1, "maxLength": EMAIL_LENGTH_MAX})),
        },
        USER: {
            "get": _operation("BuilderGetUser", "One user (users:read).", _USER, parameters=[client, user]),
            "put": _operation("BuilderUpdateUser", "Change e-mail or active (users:write).", _USER,
                              parameters=[client, user], requestBody=_json_body(
                                  [], email={"type": "string", "minLength": 1, "maxLength": EMAIL_LENGTH_MAX},
                                  active={"type": "boolean"})),
            "delete": _operation("BuilderDeactivateUser", "Deactivate the user: its tokens stop at once (users:write).",
                                 _USER, parameters=[client, user]),
        },
        USER_TOKEN: {"post": _operation("BuilderMintUserToken", "A short-lived user token (users:token).", _TOKEN,
                                        parameters=[client, user], requestBody=_json_body(
                                            [], scope=scopes, expires_in={"type": "integer", "minimum": 1}))},
        ALLOWANCES: {
            "get": _operation("BuilderGetAllowance", "The user's credit: grant, spent, remaining (users:read).",
                              _ALLOWANCE, parameters=[client, user]),
            "post": _operation("BuilderGrantAllowance", "Add amount_wei to the user's grant (users:write).", _ALLOWANCE,
                               parameters=[client, user], requestBody=_json_body(
                                   ["amount_wei"], amount_wei={"type": "string", "pattern": "^[1-9][0-9]{0,77}$"})),
        },
        APP_USAGE: {"get": _operation("BuilderAppUsage", "The app's users' usage in a month (usage:read).", _USAGE,
                                      parameters=[client, *_USAGE_QUERY])},
        OWN_USAGE: {"get": _operation("UserOwnUsage", "The calling user's own usage (a user token with usage:read).",
                                      _USAGE, security="userToken", parameters=_USAGE_QUERY)},
    }


SECURITY_SCHEMES = {
    "appClient": {"type": "http", "scheme": "basic", "description": "an app's client id and secret"},
    "appToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                 "description": "an app's access token (client credentials) with the operation's scope"},
    "userToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                  "description": "an end user's access token; with sign:job it also signs on every signing route"},
}
