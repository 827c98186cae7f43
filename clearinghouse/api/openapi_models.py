"""Typed models of the JSON bodies of the remote-signer routes (spec 02), the probes and the finance
routes, from which openapi.py generates their schemas (pydantic's JSON Schema; the /v1 routes'
come from the protobuf descriptors).

The routes decode with their own decoders (payloads.py: spec 02's Go-style rules; admin_http.py:
the exact messages the tests pin), so these models describe the bodies and never parse them. They
cannot drift unnoticed: tests/fuzz/test_openapi_schema.py sends what they describe to a real
server and checks its answers against them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

from clearinghouse.api.limits import TEXT_FIELD_LENGTH_MAX
from clearinghouse.billing.invoices import LineGrouping

MODEL_REF = "#/components/schemas/{model}"
"""Where a schema refers to a model: the document's components (ModelSchemas adds them)."""

Absent = SkipJsonSchema[None]
"""An optional field with no default worth documenting: ``X | Absent = None`` documents X alone
(openapi.py drops the null default, and pydantic's titles, from the schemas)."""

BASE64_SCHEMA: dict[str, Any] = {
    "type": "string", "format": "byte", "description": "standard base64 with padding",
    "pattern": r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
}
TEXT_SCHEMA: dict[str, Any] = {"type": "string", "maxLength": TEXT_FIELD_LENGTH_MAX,
                               "description": f"at most {TEXT_FIELD_LENGTH_MAX} characters, no control characters"}
ROW_ID_SCHEMA: dict[str, Any] = {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}
MONTH_SCHEMA: dict[str, Any] = {"type": "string", "pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])$", "examples": ["2026-11"]}
MOMENT_SCHEMA: dict[str, Any] = {"type": "string", "format": "date-time", "description": "ISO 8601 with an offset"}
AUDIT_TEXT_SCHEMA: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": r"\S",
                                     "description": "audit text (not blank)"}

Base64 = Annotated[str, WithJsonSchema(BASE64_SCHEMA)]
NullableBase64 = Annotated[str | None, WithJsonSchema({"anyOf": [BASE64_SCHEMA, {"type": "null"}]})]
Text = Annotated[str, WithJsonSchema(TEXT_SCHEMA)]
Int64 = Annotated[int, WithJsonSchema({"type": "integer", "format": "int64", "minimum": -(2**63),
                                       "maximum": 2**63 - 1})]
RowId = Annotated[int, WithJsonSchema(ROW_ID_SCHEMA)]
Month = Annotated[str, WithJsonSchema(MONTH_SCHEMA)]
Moment = Annotated[str, WithJsonSchema(MOMENT_SCHEMA)]
AuditText = Annotated[str, WithJsonSchema(AUDIT_TEXT_SCHEMA)]
OrchestratorInfoBytes = Annotated[str, WithJsonSchema(BASE64_SCHEMA | {"description": "protobuf OrchestratorInfo"})]
CapabilitiesBytes = Annotated[str, WithJsonSchema(BASE64_SCHEMA | {"description": "protobuf Capabilities"})]
LineGroup = Annotated[str, WithJsonSchema({"type": "string", "enum": [grouping.value for grouping in LineGrouping]})]


class ModelSchemas:
    """JSON Schemas of typed models; the models they refer to are added to ``components``."""

    def __init__(self, components: dict[str, Any]) -> None:
        self._components = components

    def schema(self, model: type[BaseModel]) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template=MODEL_REF)
        for name, definition in schema.pop("$defs", {}).items():
            self._components[name] = _documented(definition)
        documented: dict[str, Any] = _documented(schema)
        return documented


def _documented(schema: Any, *, properties: bool = False) -> Any:
    """``schema`` without pydantic's titles and null defaults (an optional field with no default
    worth documenting); the keys of a ``properties`` object are field names, kept whatever they are."""
    if isinstance(schema, list):
        return [_documented(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {key: _documented(value, properties=key == "properties" and not properties)
            for key, value in schema.items()
            if properties or not (key == "title" or (key == "default" and value is None))}


class _Open(BaseModel):
    """A body whose unknown keys are ignored (spec 02's decoders, as Go's encoding/json)."""


class _Closed(BaseModel):
    """A body that refuses unknown keys, as the finance routes do."""

    model_config = ConfigDict(extra="forbid")


# spec 02's remote-signer routes


class PaymentStateIn(_Open):
    """The session state the previous call answered (absent on a session's first call)."""

    State: NullableBase64 = None
    Sig: NullableBase64 = None


class MaxPrice(_Open):
    """The gateway's price ceiling for this call."""

    price: Annotated[str, Field(max_length=128, pattern=r"^(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]{1,4})?$",
                                description="wei per unit, a positive decimal")]
    currency: Literal["wei"]
    unit: Literal["seconds", "720p-pixel-seconds", "fixed"]


class PaymentRequest(_Open):
    """Keys match case-insensitively, as Go's encoding/json does."""

    orchestrator: OrchestratorInfoBytes
    state: PaymentStateIn | Absent = None
    ManifestID: Text | Absent = None
    type: Literal["", "lv2v", "live", "fixed"] | Absent = None
    inPixels: Int64 | Absent = None
    app: Text | Absent = None
    maxPrice: MaxPrice | Absent = None
    capabilities: CapabilitiesBytes | Absent = None


class PaymentStateOut(_Open):
    """The state to send with the session's next call."""

    State: Base64
    Sig: Base64


class PaymentAnswer(_Open):
    """The payment, its segment credentials and the session's next state."""

    payment: Base64
    segCreds: Base64
    state: PaymentStateOut


class SignedOrchestratorInfo(_Open):
    """The sender address and its signature over it."""

    address: Annotated[str, Field(pattern="^0x[0-9a-fA-F]{40}$")]
    signature: Annotated[str, Field(pattern="^0x[0-9a-f]{130}$")]


class DiscoveredPrice(_Open):
    pricePerUnit: Annotated[int, WithJsonSchema({"type": "integer", "format": "int64"})] | Absent = None
    pixelsPerUnit: Annotated[int, WithJsonSchema({"type": "integer", "format": "int64"})] | Absent = None


class DiscoveredOrchestrator(_Open):
    """An orchestrator this signer has paid, as go-livepeer's discovery lists it."""

    address: Annotated[str, Field(description="the orchestrator's service URI")] | Absent = None
    score: float | Absent = None
    capabilities: list[str] | Absent = None
    last_seen: Annotated[datetime, Field(description="when a payment on its params was last signed")] | Absent = None
    eth_address: str | Absent = None
    price_info: DiscoveredPrice | Absent = None


class DiscoveredOrchestrators(RootModel[list[DiscoveredOrchestrator]]):
    """The orchestrators, most recently seen first."""


class LoginForm(_Open):
    """The dashboard's login form: the operator token."""

    token: Annotated[str, Field(max_length=512)]


class Status(_Open):
    """A probe's answer."""

    status: str


class HealthDocument(BaseModel):
    """The deposit health: state, reasons, deposit, reserve, exposure, runway."""

    model_config = ConfigDict(extra="allow")
    state: str


class RemoteSignerErrorDetail(_Open):
    message: str


class RemoteSignerError(_Open):
    """The error body {"error": {"message": …}} of spec 02, the finance and the Builder routes."""

    error: RemoteSignerErrorDetail


# The finance routes under /admin/v1/


class Invoice(_Open):
    """An invoice or credit note; amounts are strings."""

    id: int
    gateway_id: int
    status: str
    total_minor: str
    number: str | None = None
    period_start: str | Absent = None
    period_end: str | Absent = None
    currency: str | Absent = None
    content_hash: str | Absent = None
    credit_note_of: int | None = None
    issued_at: str | None = None
    paid_at: str | None = None
    voided_at: str | None = None


class InvoiceList(_Open):
    invoices: list[Invoice] | Absent = None


class VoidedInvoice(_Open):
    voided: Invoice
    credit_note: Invoice


class DraftInvoiceBody(_Closed):
    """Store the period's draft: a month, or start and end."""

    gateway_id: RowId
    group_by: LineGroup = LineGrouping.PIPELINE_MODEL.value
    month: Month | Absent = None
    start: Moment | Absent = None
    end: Moment | Absent = None


class IssueInvoiceBody(_Closed):
    invoice_id: RowId
    reason: AuditText = "issued"
    allow_open_period: bool = False


class PaidInvoiceBody(_Closed):
    invoice_id: RowId
    paid_at: Moment | Absent = None
    reason: AuditText = "payment received"


class VoidInvoiceBody(_Closed):
    invoice_id: RowId
    reason: AuditText


class UsageGroups(BaseModel):
    """Usage groups of one period."""

    model_config = ConfigDict(extra="allow")
    groups: list[dict[str, Any]]
