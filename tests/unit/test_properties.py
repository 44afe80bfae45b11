"""Property tests: every PDU schema of every codec version round-trips generated values.

Strategies are derived from the schemas themselves (one walker, like the
interpreter), so a new or changed type is covered without a hand-written
generator. Round trips prove encoder and decoder agree with each other; the
golden vectors (test_golden.py) prove they agree with WezTerm.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec import encode_payload
from codec.schema.versions import VERSIONS
from codec.wire.varbincode import (
    BOOL,
    BYTES,
    CHAR,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    ISIZE,
    PATH,
    STR,
    U8,
    U16,
    U32,
    U64,
    UNIT,
    USIZE,
    Array,
    Custom,
    Enum,
    Flags,
    Map,
    Newtype,
    Option,
    Ref,
    Schema,
    Seq,
    Struct,
    Tuple,
    UnitStruct,
)

_PRIMS: dict[int, st.SearchStrategy[Any]] = {
    id(U8): st.integers(0, 255), id(I8): st.integers(-128, 127),
    id(U16): st.integers(0, 2**16 - 1), id(U32): st.integers(0, 2**32 - 1),
    id(U64): st.integers(0, 2**64 - 1), id(USIZE): st.integers(0, 2**64 - 1),
    id(I16): st.integers(-(2**15), 2**15 - 1), id(I32): st.integers(-(2**31), 2**31 - 1),
    id(I64): st.integers(-(2**63), 2**63 - 1), id(ISIZE): st.integers(-(2**63), 2**63 - 1),
    id(BOOL): st.booleans(), id(F32): st.floats(width=32, allow_nan=False),
    id(F64): st.floats(allow_nan=False), id(CHAR): st.characters(blacklist_categories=("Cs",)),
    id(STR): st.text(max_size=12), id(PATH): st.text(max_size=12), id(BYTES): st.binary(max_size=12),
    id(UNIT): st.none(),
}  # fmt: skip

_CUSTOM: dict[str, Any] = {
    # 256 colours: a few generated ones, repeated (a full list of 1,024 floats overflows hypothesis' buffer)
    "Palette256": lambda: st.lists(st.tuples(*[st.floats(width=32, allow_nan=False)] * 4), min_size=1,
                                   max_size=4).map(lambda xs: (xs * 256)[:256]),
    "OsString": lambda: st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
}


def strategy(schema: Schema, depth: int = 0) -> st.SearchStrategy[Any]:
    prim = _PRIMS.get(id(schema))
    if prim is not None:
        return prim
    if isinstance(schema, Option):
        return st.none() | strategy(schema.inner, depth)
    if isinstance(schema, Seq):
        return st.lists(strategy(schema.item, depth), max_size=3)
    if isinstance(schema, Map):
        return st.dictionaries(strategy(schema.key, depth), strategy(schema.value, depth), max_size=3)
    if isinstance(schema, Tuple):
        return st.tuples(*(strategy(i, depth) for i in schema.items))
    if isinstance(schema, Array):
        if schema.item is U8:
            return st.binary(min_size=schema.length, max_size=schema.length)
        return st.lists(strategy(schema.item, depth), min_size=schema.length, max_size=schema.length)
    if isinstance(schema, Struct):
        return st.fixed_dictionaries({n: strategy(f, depth) for n, f in schema.fields})
    if isinstance(schema, Newtype):
        return strategy(schema.inner, depth)
    if isinstance(schema, UnitStruct):
        return st.none()
    if isinstance(schema, Flags):
        return st.integers(0, 2**16 - 1)
    if isinstance(schema, Enum):
        options = []
        for v in schema.variants:
            if v.payload is None:
                options.append(st.just(v.name))
            else:
                options.append(strategy(v.payload, depth).map(lambda p, n=v.name: {n: p}))
        return st.one_of(options)
    if isinstance(schema, Ref):
        assert schema.target is not None
        if depth > 3:  # bound recursive types (PaneNode)
            leaf = [v for v in schema.target.variants if v.payload is None]  # type: ignore[attr-defined]
            return st.just(leaf[0].name)
        return st.deferred(lambda: strategy(schema.target, depth + 1))  # type: ignore[arg-type]
    if isinstance(schema, Custom) and schema.name in _CUSTOM:
        return _CUSTOM[schema.name]()
    raise NotImplementedError(f"no strategy for {schema!r}")


def _normal(value: Any) -> Any:
    """Decoded values use tuples for tuples and lists for sequences, like the strategies; ints stay ints."""
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_normal(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return value


def _cases() -> list[tuple[int, int, Schema]]:
    """Each distinct schema once (codec 42 and 45 share most PDU schemas with 44)."""
    seen: set[int] = set()
    out = []
    for v in sorted(VERSIONS.values(), key=lambda v: v.number != 44):  # codec 44 first
        for ident, schema in sorted(v.table.items()):
            if id(schema) not in seen:
                seen.add(id(schema))
                out.append((v.number, ident, schema))
    return out


CASES = _cases()


@pytest.mark.parametrize(("version", "ident", "schema"), CASES, ids=[f"v{v}-{s.name}" for v, _, s in CASES])
def test_roundtrip(version, ident, schema):
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy(schema))
    def check(value):
        payload = encode_payload(schema.name, value, version)
        decoded = schema.loads(payload)
        assert _normal(decoded) == _normal(value)
        assert encode_payload(schema.name, decoded, version) == payload

    check()
