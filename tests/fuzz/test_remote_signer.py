"""Fuzzing spec 02's routes on the real stack: /generate-live-payment bodies (Go-style JSON with
wrong types, repeated case-folded keys, odd numbers and base64), the protobufs inside them
(OrchestratorInfo, Capabilities), the signed state blob (mutated and re-signed with our own key,
or with a broken signature), raw bytes, and /sign-orchestrator-info bodies.

Rules for every example (conftest.check_http): no 5xx, a 4xx names its error, a rejection signs
nothing. ``TARGETS`` lists each property for benchmarks/fuzz_long.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clearinghouse import pm
from clearinghouse.proto import lp_rpc_pb2
from tests.api.conftest import b64
from tests.fuzz.conftest import (
    FUZZ_SETTINGS,
    FuzzStack,
    Obj,
    Raw,
    base64_variants,
    case_variants,
    check_http,
    deep_nesting,
    dump,
    json_values,
    mostly,
    mutated,
    rarely,
)
from tests.signer.builders import KEY, ORCH_ADDRESS, RAND_HASH_A, orchestrator_info

PAY = "/generate-live-payment"
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
VALID_INFO = orchestrator_info().SerializeToString()
VALID_CAPABILITIES = lp_rpc_pb2.Capabilities(
    bitstring=[1, 2, 3], mandatories=[1], capacities={1: 2},
    constraints=lp_rpc_pb2.Capabilities.Constraints(minVersion="0.9.1"),
).SerializeToString()


@st.composite
def structured_info(draw: st.DrawFn) -> bytes:
    """An OrchestratorInfo built field by field with values from the edges of each type, some
    fields cleared."""
    info = orchestrator_info(
        price_per_unit=draw(st.one_of(st.just(3), INT64)),
        pixels_per_unit=draw(st.one_of(st.just(1), INT64)),
        address=draw(st.one_of(st.just(ORCH_ADDRESS), st.binary(max_size=40))),
        recipient=draw(st.one_of(st.just(ORCH_ADDRESS), st.binary(max_size=40))),
        recipient_rand_hash=draw(st.one_of(st.just(RAND_HASH_A), st.binary(max_size=64))),
        face_value=draw(st.one_of(st.just(105), st.integers(min_value=0, max_value=2**300))),
        win_prob=draw(st.one_of(st.just((2**256 - 1) // 3), st.integers(min_value=0, max_value=2**300))),
        expiration_block=draw(st.one_of(st.just(20_000_040), st.integers(min_value=0, max_value=2**300))),
        creation_round=draw(st.one_of(st.just(3500), INT64)),
        auth_expiration=draw(st.one_of(st.just(1_700_001_800), INT64)),
        transcoder=draw(st.one_of(st.just("https://orch.example:8935"), st.text(max_size=40))),
    )
    for name in draw(st.lists(st.sampled_from(["price_info", "ticket_params", "auth_token", "address"]),
                              max_size=2)):
        info.ClearField(name)
    if draw(st.booleans()):
        info.ticket_params.expiration_params.ClearField("creation_round_block_hash")
    data: bytes = info.SerializeToString()
    return data


orchestrator_bytes = st.one_of(
    st.just(VALID_INFO), mutated(VALID_INFO), structured_info(), st.binary(max_size=300),
)
capabilities_bytes = st.one_of(st.just(VALID_CAPABILITIES), mutated(VALID_CAPABILITIES), st.binary(max_size=100))


def b64_of(data: st.SearchStrategy[bytes]) -> st.SearchStrategy[str]:
    return data.flatmap(base64_variants)


@st.composite
def state_objects(draw: st.DrawFn, state: dict[str, str]) -> Any:
    """A ``state`` value: the valid one, a mutation of its blob (re-signed or not), a broken
    signature, or any JSON value."""
    blob = json.loads(base64.b64decode(state["State"]))
    signature = base64.b64decode(state["Sig"])
    kind = draw(st.sampled_from(["valid", "resigned", "resigned", "resigned", "resigned", "flipped_sig", "random_sig",
                                 "json"]))
    if kind == "json":
        return draw(json_values)
    text = state["State"]
    if kind in ("resigned", "random_sig"):
        text_bytes = draw(mutated_state_blob(blob))
        text = b64(text_bytes)
        signature = pm.personal_sign(KEY, text_bytes) if kind == "resigned" else draw(st.binary(max_size=80))
    elif kind == "flipped_sig":
        flipped = bytearray(signature)
        flipped[draw(st.integers(min_value=0, max_value=64))] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        signature = bytes(flipped)
    pairs = [(draw(case_variants("State")), draw(base64_variants(base64.b64decode(text)))),
             (draw(case_variants("Sig")), draw(base64_variants(signature)))]
    if draw(rarely(10)):
        pairs.append((draw(case_variants("Sig")), draw(json_values)))
    return Obj(tuple(draw(st.permutations(pairs))))


@st.composite
def mutated_state_blob(draw: st.DrawFn, blob: dict[str, Any]) -> bytes:
    """The state JSON with one or two fields changed, dropped, renamed, repeated or added; or its
    bytes mutated."""
    if draw(rarely(5)):
        return draw(mutated(json.dumps(blob, separators=(",", ":")).encode()))
    pairs = list(blob.items())
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        index = draw(st.integers(min_value=0, max_value=len(pairs) - 1))
        key, value = pairs[index]
        kind = draw(st.sampled_from(["value", "edge", "drop", "rename", "repeat", "add"]))
        if kind == "value":
            pairs[index] = (key, draw(json_values))
        elif kind == "edge":
            pairs[index] = (key, draw(st.sampled_from(
                [0, -1, 2**32, 2**63, 2**64, -(2**63) - 1, "", "0x", "1/0", "-1/2", "0x" + "f" * 64,
                 "0x" + "g" * 40, "2026-13-40T99:99:99Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
                 "2023-11-14T22:13:20.000000001+23:59", Raw('"\\ud800"'), Raw("1e3"), Raw("1.0")])))
        elif kind == "drop":
            del pairs[index]
            if not pairs:
                break
        elif kind == "rename":
            pairs[index] = (draw(case_variants(key)), value)
        elif kind == "repeat":
            pairs.append((draw(case_variants(key)), value))
        else:
            pairs.append((draw(st.text(max_size=12)), draw(json_values)))
    return dump(Obj(tuple(pairs))).encode("utf-8", "surrogatepass")


@st.composite
def max_prices(draw: st.DrawFn) -> Any:
    pairs = [
        (draw(case_variants("price")), draw(st.one_of(st.integers(), st.text(max_size=20), json_values))),
        (draw(case_variants("currency")), draw(st.one_of(st.just("wei"), json_values))),
        (draw(case_variants("unit")), draw(st.one_of(st.sampled_from(["seconds", "720p-pixel-seconds", "fixed"]),
                                                      json_values))),
    ]
    return Obj(tuple(draw(st.lists(st.sampled_from(pairs), max_size=4))))


def payment_bodies(state: dict[str, str]) -> st.SearchStrategy[bytes]:
    """Spec 02 bodies: the right keys (any case, rarely twice) with mostly right values, some
    wrong ones, sometimes framed by a BOM or trailing text."""
    fields: dict[str, st.SearchStrategy[Any]] = {
        "orchestrator": mostly(st.just(b64(VALID_INFO)), b64_of(orchestrator_bytes) | json_values, 3),
        "state": mostly(st.one_of(state_objects(state), st.none()), json_values, 8),
        "ManifestID": mostly(st.sampled_from(["fuzz-manifest", "m", ""]) | st.text(max_size=80), json_values, 8),
        "type": mostly(st.sampled_from(["", "", "lv2v", "live", "fixed", "LV2V", "other"]), json_values, 8),
        "inPixels": mostly(st.integers(min_value=-5, max_value=400), st.integers() | json_values, 8),
        "app": mostly(st.text(max_size=20), json_values, 8),
        "maxPrice": mostly(max_prices(), json_values, 8),
        "capabilities": mostly(b64_of(capabilities_bytes), json_values, 8),
    }

    @st.composite
    def body(draw: st.DrawFn) -> bytes:
        names = draw(st.lists(st.sampled_from(sorted(fields)), max_size=6, unique=True))
        if "orchestrator" not in names and not draw(rarely(10)):
            names.insert(0, "orchestrator")
        if names and draw(rarely(10)):
            names.append(draw(st.sampled_from(names)))  # the same key again, maybe in another case
        pairs = [(draw(case_variants(name)), draw(fields[name])) for name in names]
        if draw(rarely(8)):
            pairs.append((draw(st.text(max_size=10)), draw(json_values)))
        text = dump(Obj(tuple(draw(st.permutations(pairs)))))
        framing = draw(mostly(st.just(("", "")), st.tuples(st.sampled_from(["\ufeff", " ", "\n", "x"]),
                                                            st.sampled_from(["", " ", "x", "}", ",{}"]))))
        return (framing[0] + text + framing[1]).encode("utf-8", "surrogatepass")

    return body()


raw_bodies = st.one_of(
    st.binary(max_size=400),
    deep_nesting(),
    json_values.map(lambda value: dump(value).encode("utf-8", "surrogatepass")),
    st.text(max_size=200).map(lambda t: t.encode("utf-16")),
)


def check_payment(stack: FuzzStack, body: bytes) -> None:
    answer = check_http(stack, "POST", PAY, body, stack.auth)
    if answer.status == 200:
        assert set(json.loads(answer.body)) == {"payment", "segCreds", "state"}


def check_payment_without_key(stack: FuzzStack, body: bytes) -> None:
    answer = check_http(stack, "POST", PAY, body, {"Authorization": "Bearer chk_not_a_key"})
    assert answer.status == 401


def check_sign_orchestrator_info(stack: FuzzStack, body: bytes) -> None:
    check_http(stack, "POST", "/sign-orchestrator-info", body, stack.auth)


def orchestrator_only(stack: FuzzStack) -> st.SearchStrategy[bytes]:
    return b64_of(orchestrator_bytes).map(
        lambda info: json.dumps({"orchestrator": info, "inPixels": 35, "ManifestID": "fuzz-orchestrator"}).encode()
    )


def capabilities_only(stack: FuzzStack) -> st.SearchStrategy[bytes]:
    return b64_of(capabilities_bytes).map(
        lambda caps: json.dumps({"orchestrator": stack.orchestrator_b64, "inPixels": 35, "capabilities": caps}).encode()
    )


def state_only(stack: FuzzStack) -> st.SearchStrategy[bytes]:
    return state_objects(stack.state).map(lambda state: dump(Obj((
        ("orchestrator", stack.orchestrator_b64), ("ManifestID", stack.manifest_id), ("inPixels", 35),
        ("state", state),
    ))).encode("utf-8", "surrogatepass"))


TARGETS: dict[str, tuple[Callable[[FuzzStack], st.SearchStrategy[Any]], Callable[[FuzzStack, Any], None]]] = {
    "payment_json": (lambda stack: payment_bodies(stack.state), check_payment),
    "payment_raw": (lambda stack: raw_bodies, check_payment),
    "orchestrator_protobuf": (orchestrator_only, check_payment),
    "capabilities_protobuf": (capabilities_only, check_payment),
    "state_blob": (state_only, check_payment),
    "payment_without_key": (lambda stack: raw_bodies, check_payment_without_key),
    "sign_orchestrator_info": (lambda stack: raw_bodies, check_sign_orchestrator_info),
}
"""Each property: (its strategy given the stack, its check of one example)."""


@settings(FUZZ_SETTINGS, max_examples=250)
@given(data=st.data())
def test_payment_bodies(stack: FuzzStack, data: st.DataObject) -> None:
    check_payment(stack, data.draw(payment_bodies(stack.state)))


@settings(FUZZ_SETTINGS, max_examples=120)
@given(body=raw_bodies)
def test_raw_payment_bodies(stack: FuzzStack, body: bytes) -> None:
    check_payment(stack, body)


@settings(FUZZ_SETTINGS, max_examples=250)
@given(data=st.data())
def test_orchestrator_protobufs(stack: FuzzStack, data: st.DataObject) -> None:
    check_payment(stack, data.draw(orchestrator_only(stack)))


@settings(FUZZ_SETTINGS, max_examples=60)
@given(data=st.data())
def test_capabilities_protobufs(stack: FuzzStack, data: st.DataObject) -> None:
    check_payment(stack, data.draw(capabilities_only(stack)))


@settings(FUZZ_SETTINGS, max_examples=250)
@given(data=st.data())
def test_state_blobs(stack: FuzzStack, data: st.DataObject) -> None:
    check_payment(stack, data.draw(state_only(stack)))


@settings(FUZZ_SETTINGS, max_examples=40)
@given(body=raw_bodies)
def test_bodies_without_a_key_are_401(stack: FuzzStack, body: bytes) -> None:
    check_payment_without_key(stack, body)


@settings(FUZZ_SETTINGS, max_examples=40)
@given(body=raw_bodies)
def test_sign_orchestrator_info_bodies(stack: FuzzStack, body: bytes) -> None:
    check_sign_orchestrator_info(stack, body)
