"""What a gRPC client author reads equals what the server does (issue 19): the status code of
every reason in the proto's header and in the README, which of them are normal flow, and the
request_id rule as stated."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clearinghouse.api.errors import NORMAL_FLOW, REASON_STATUS, BadRequest, Reason
from clearinghouse.api.v1_messages import check_request_id

ROOT = Path(__file__).resolve().parents[2]
PROTO = (ROOT / "protos" / "clearinghouse.proto").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")

Table = dict[str, tuple[str, int]]


def proto_tables() -> tuple[Table, Table]:
    """(normal flow, errors) from the proto's header: `//   REASON  GRPC_STATUS  HTTP  text`."""
    normal_part, error_part = PROTO.split("// Normal flow:", 1)[1].split("// Errors:", 1)
    error_part = error_part.split("// Deadlines", 1)[0]
    row = re.compile(r"^//\s+([A-Z_]+)\s+([A-Z_]+)\s+(\d{3})\s", re.MULTILINE)
    return ({m[1]: (m[2], int(m[3])) for m in row.finditer(normal_part) if m[1] != "reason"},
            {m[1]: (m[2], int(m[3])) for m in row.finditer(error_part) if m[1] != "reason"})


def readme_tables() -> tuple[Table, Table]:
    """(normal flow, errors) from the README's two tables under "Normal flow" and "Errors"."""
    section = README.split("Normal flow — ", 1)[1]
    normal_part, error_part = section.split("Errors — ", 1)
    error_part = error_part.split("**Deadlines and retries.**", 1)[0]
    row = re.compile(r"^\| `([A-Z_]+)` \| ([A-Z_]+) \| (\d{3}) \|", re.MULTILINE)
    return ({m[1]: (m[2], int(m[3])) for m in row.finditer(normal_part)},
            {m[1]: (m[2], int(m[3])) for m in row.finditer(error_part)})


def served() -> Table:
    return {reason.value: (code.name, http) for reason, (code, http) in REASON_STATUS.items()}


@pytest.mark.parametrize("tables", [proto_tables, readme_tables], ids=["proto", "README"])
def test_every_reason_is_documented_with_the_status_the_server_answers(tables: object) -> None:
    assert callable(tables)
    normal, errors = tables()
    assert set(normal).isdisjoint(errors)
    assert normal | errors == served()
    assert set(normal) == {reason.value for reason in NORMAL_FLOW}
    assert set(REASON_STATUS) == set(Reason)


def test_the_deadline_note_is_in_both() -> None:
    for text in (PROTO, README):
        assert "may have been signed" in " ".join(text.replace("//", " ").split())
        assert "replayed" in text


@pytest.mark.parametrize("request_id", ["a", "!", "~", "x" * 128, "order-42/retry:1"])
def test_request_ids_the_proto_allows_are_accepted(request_id: str) -> None:
    assert check_request_id(request_id) == request_id


@pytest.mark.parametrize("request_id", ["", "x" * 129, "two words", "tab\there", "é", "\x7f"])
def test_request_ids_the_proto_refuses_are_refused_naming_the_rule(request_id: str) -> None:
    with pytest.raises(BadRequest, match=r"1 to 128 characters, each printable ASCII other than space"):
        check_request_id(request_id)


def test_the_proto_states_the_rule_the_server_enforces() -> None:
    assert "1 to 128 characters, each printable ASCII other than space ('!' 0x21 to '~' 0x7E)" in PROTO
