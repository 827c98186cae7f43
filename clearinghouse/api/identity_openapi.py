"""The OpenAPI description of the identity provider's routes (oidc_http.py) and the Builder API
(builder_http.py), merged into GET /openapi.json by openapi.py. Only served with [oidc]. The bodies'
schemas are generated from the typed models below (openapi_models.py says how)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from clearinghouse.api.openapi_models import Absent, ModelSchemas

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
_OAUTH_ERROR = {"description": "an OAuth error (RFC 6749 §5.2: 400 or 401, error a code); a body over its size or "
                               "a wrong method is the server's usual error (error an object with its message)",
                "content": {"application/json": {"schema": {
                    "type": "object", "required": ["error"],
                    "properties": {"error": {"anyOf": [_STRING, {"$ref": "#/components/schemas/RemoteSignerErrorDetail"}]},
                                   "error_description": _STRING}}}}}
_ERROR = {"description": "an error: 400 malformed, 401 no or a bad token, 403 another app's or a missing scope, "
                         "404 unknown user, 409 user exists, 413 too large",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AdminError"}}}}
_EXTERNAL_ID: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": EXTERNAL_ID_LENGTH_MAX}
Wei = Annotated[str, WithJsonSchema(_WEI)]
ExternalId = Annotated[str, Field(min_length=1, max_length=EXTERNAL_ID_LENGTH_MAX)]
Email = Annotated[str, Field(min_length=1, max_length=EMAIL_LENGTH_MAX)]
TokenText = Annotated[str, Field(max_length=TOKEN_CHARS_MAX)]


class IssuedToken(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str | Absent = None
    issued_token_type: str | Absent = None


class EndUserDocument(BaseModel):
    external_id: str
    email: str | None = None
    active: bool
    usage_subject: str | Absent = None
    created_at: datetime | Absent = None


class UserPage(BaseModel):
    users: list[EndUserDocument]
    next_after: int | None = None


class Allowance(BaseModel):
    """The user's credit: grant, spent and remaining wei (exact, and rounded down)."""

    external_id: str | Absent = None
    grant_wei: Annotated[str, Field(pattern="^[0-9]+$")] | None
    spent_wei: Wei
    spent_wei_floor: str | Absent = None
    remaining_wei: Wei | None
    remaining_wei_floor: str | None = None


class UsageRow(BaseModel):
    group: list[str] | Absent = None
    calls: int | Absent = None
    tickets: int | Absent = None
    units: int | Absent = None
    ev_signed_wei: Wei | Absent = None
    fee_wei: Wei | Absent = None


class UsageAnswer(BaseModel):
    groupBy: str
    start: str | Absent = None
    end: str | Absent = None
    external_id: str | Absent = None
    groups: list[UsageRow]


class Jwks(BaseModel):
    model_config = ConfigDict(extra="allow")
    keys: list[dict[str, Any]]


class Introspection(BaseModel):
    """RFC 7662's answer: ``active``, and the token's claims when it is."""

    model_config = ConfigDict(extra="allow")
    active: bool


class TokenForm(BaseModel):
    grant_type: Literal["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"] | Absent = None
    scope: str | Absent = None
    client_id: str | Absent = None
    client_secret: str | Absent = None
    subject_token: TokenText | Absent = None
    subject_token_type: str | Absent = None
    external_user_id: ExternalId | Absent = None
    expires_in: Annotated[str, Field(pattern="^[0-9]{1,6}$")] | Absent = None


class TokenOnlyForm(BaseModel):
    token: TokenText | Absent = None


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProvisionUserBody(_Closed):
    external_id: ExternalId
    email: Email | Absent = None


class UpdateUserBody(_Closed):
    email: Email | Absent = None
    active: bool | Absent = None


class MintUserTokenBody(_Closed):
    scope: Annotated[str, Field(description="space-separated: " + ", ".join(s.value for s in Scope))] | Absent = None
    expires_in: Annotated[int, Field(ge=1)] | Absent = None


class GrantAllowanceBody(_Closed):
    amount_wei: Annotated[str, Field(pattern="^[1-9][0-9]{0,77}$")]


_USAGE_QUERY = [{"name": "groupBy", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": [group.value for group in UsageGroup]}},
                {"name": "month", "in": "query", "required": False,
                 "schema": {"type": "string", "pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])$"}}]


def identity_paths(typed: ModelSchemas) -> dict[str, Any]:
    return _provider_paths(typed) | _builder_paths(typed)


def _operation(operation_id: str, summary: str, answer: dict[str, Any], error: dict[str, Any] = _ERROR,
               security: str = "appToken", **extra: Any) -> dict[str, Any]:
    return {"operationId": operation_id, "summary": summary, "description": _ONLY,
            "responses": {"200": {"description": "the answer", "content": {"application/json": {"schema": answer}}},
                          "default": error},
            "security": [{security: []}] if security else [], **extra}


def _form(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {_FORM: {"schema": schema}}}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON body, required when the schema requires any field."""
    return {"required": bool(schema.get("required")), "content": {"application/json": {"schema": schema}}}


def _provider_paths(typed: ModelSchemas) -> dict[str, Any]:
    token_form = _form(typed.schema(TokenOnlyForm))
    return {
        DISCOVERY_PATH: {"get": _operation("OidcDiscovery", "OpenID Provider metadata: issuer, endpoints, grants, "
                                           "scopes, algorithms.", {"type": "object"}, security="")},
        JWKS_PATH: {"get": _operation("OidcJwks", "The public ES256 keys tokens are signed with: the current one and "
                                      "the previous one during a rotation's overlap.",
                                      typed.schema(Jwks), security="")},
        TOKEN_PATH: {"post": _operation(
            "OidcToken", "client_credentials (client_secret_basic or _post) for an app token; RFC 8693 token "
            "exchange of an app token or gateway API key and an external_user_id for a user token.",
            typed.schema(IssuedToken), _OAUTH_ERROR, "appClient", requestBody=_form(typed.schema(TokenForm)))},
        INTROSPECT_PATH: {"post": _operation(
            "OidcIntrospect", "RFC 7662: whether a token of the calling app is active, and its claims.",
            typed.schema(Introspection), _OAUTH_ERROR, "appClient", requestBody=token_form)},
        REVOKE_PATH: {"post": {
            "operationId": "OidcRevoke", "summary": "RFC 7009: revoke a token of the calling app (200 always).",
            "description": _ONLY, "security": [{"appClient": []}], "requestBody": token_form,
            "responses": {"200": {"description": "revoked, or nothing to revoke"}, "default": _OAUTH_ERROR}}},
    }


def _builder_paths(typed: ModelSchemas) -> dict[str, Any]:
    client = {"name": "clientId", "in": "path", "required": True, "schema": _STRING}
    user = {"name": "externalUserId", "in": "path", "required": True, "schema": _EXTERNAL_ID}
    user_answer, token, allowance, usage = (typed.schema(model) for model in (EndUserDocument, IssuedToken,
                                                                             Allowance, UsageAnswer))
    return {
        USERS: {
            "get": _operation("BuilderListUsers", "A page of the app's users (users:read).",
                              typed.schema(UserPage),
                              parameters=[client,
                                          {"name": "limit", "in": "query", "schema": {
                                              "type": "integer", "minimum": 1, "maximum": END_USERS_LISTED_MAX}},
                                          {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}}]),
            "post": _operation("BuilderProvisionUser", "Provision a user by external_id (users:write); 201.",
                               user_answer, parameters=[client],
                               requestBody=_json_body(typed.schema(ProvisionUserBody))),
        },
        USER: {
            "get": _operation("BuilderGetUser", "One user (users:read).", user_answer, parameters=[client, user]),
            "put": _operation("BuilderUpdateUser", "Change e-mail or active (users:write).", user_answer,
                              parameters=[client, user], requestBody=_json_body(typed.schema(UpdateUserBody))),
            "delete": _operation("BuilderDeactivateUser", "Deactivate the user: its tokens stop at once (users:write).",
                                 user_answer, parameters=[client, user]),
        },
        USER_TOKEN: {"post": _operation("BuilderMintUserToken", "A short-lived user token (users:token).", token,
                                        parameters=[client, user],
                                        requestBody=_json_body(typed.schema(MintUserTokenBody)))},
        ALLOWANCES: {
            "get": _operation("BuilderGetAllowance", "The user's credit: grant, spent, remaining (users:read).",
                              allowance, parameters=[client, user]),
            "post": _operation("BuilderGrantAllowance", "Add amount_wei to the user's grant (users:write).", allowance,
                               parameters=[client, user], requestBody=_json_body(typed.schema(GrantAllowanceBody))),
        },
        APP_USAGE: {"get": _operation("BuilderAppUsage", "The app's users' usage in a month (usage:read).", usage,
                                      parameters=[client, *_USAGE_QUERY])},
        OWN_USAGE: {"get": _operation("UserOwnUsage", "The calling user's own usage (a user token with usage:read).",
                                      usage, security="userToken", parameters=_USAGE_QUERY)},
    }


SECURITY_SCHEMES = {
    "appClient": {"type": "http", "scheme": "basic", "description": "an app's client id and secret"},
    "appToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                 "description": "an app's access token (client credentials) with the operation's scope"},
    "userToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                  "description": "an end user's access token; with sign:job it also signs on every signing route"},
}
