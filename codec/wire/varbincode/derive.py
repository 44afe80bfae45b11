"""Deriving one codec version's schemas from another's: :func:`substitute`.

A codec version is described by naming what changed ("v42 is v44 with ``ClientId`` replaced by
``ClientId`` without ``ssh_auth_sock``"); :func:`substitute` rebuilds every schema that embeds a
replaced one, at any depth, and shares everything else with the base version (same objects, so
their compiled closures are shared too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from codec.wire.varbincode.base import Ref, Schema
from codec.wire.varbincode.containers import Array, Map, Option, Seq, Tuple
from codec.wire.varbincode.enums import Enum, Variant
from codec.wire.varbincode.structs import Newtype, Struct

Sub = Callable[[Schema], Schema]


def substitute(schema: Schema, replacements: Mapping[Schema, Schema], _memo: dict[int, Schema] | None = None) -> Schema:
    """``schema`` with every occurrence of a key of ``replacements`` replaced, at any depth.

    Every PDU that embeds a replaced type (directly or inside another, e.g. ``ClientId`` inside
    ``ClientInfo``) follows. Schemas that contain nothing replaced are returned as they are (same
    object).
    """
    memo: dict[int, Schema] = {} if _memo is None else _memo
    key = id(schema)
    if key in memo:
        return memo[key]
    if schema in replacements:
        memo[key] = replacements[schema]
        return memo[key]

    # Provisional entry: a recursive type (PaneNode -> Ref -> PaneNode) meets
    # itself again while being rebuilt and must stop there. (So a replacement
    # *inside* a recursive cycle is not supported; none of WezTerm's needs it.)
    memo[key] = schema

    def sub(s: Schema) -> Schema:
        return substitute(s, replacements, memo)

    rebuild = next((_REBUILD[cls] for cls in type(schema).__mro__ if cls in _REBUILD), None)
    out = rebuild(schema, sub) if rebuild is not None else schema
    memo[key] = out
    return out


def _changed(new: list[Schema | None], old: list[Schema | None]) -> bool:
    return any(a is not b for a, b in zip(new, old, strict=True))


def _struct(s: Struct, sub: Sub) -> Schema:
    fields = [(n, sub(f)) for n, f in s.fields]
    return Struct(s.name, fields) if _changed([f for _, f in fields], [f for _, f in s.fields]) else s


def _enum(s: Enum, sub: Sub) -> Schema:
    payloads = [sub(v.payload) if v.payload is not None else None for v in s.variants]
    if not _changed(payloads, [v.payload for v in s.variants]):
        return s
    return Enum(s.name, [Variant(v.name, p) for v, p in zip(s.variants, payloads, strict=True)])


def _tuple(s: Tuple, sub: Sub) -> Schema:
    items = [sub(i) for i in s.items]
    return Tuple(*items, name=s.name) if _changed(list(items), list(s.items)) else s


def _seq(s: Seq, sub: Sub) -> Schema:
    item = sub(s.item)
    return Seq(item, name=s.name) if item is not s.item else s


def _map(s: Map, sub: Sub) -> Schema:
    k, v = sub(s.key), sub(s.value)
    return Map(k, v, name=s.name) if k is not s.key or v is not s.value else s


def _option(s: Option, sub: Sub) -> Schema:
    inner = sub(s.inner)
    return Option(inner) if inner is not s.inner else s


def _array(s: Array, sub: Sub) -> Schema:
    item = sub(s.item)
    return Array(item, s.length) if item is not s.item else s


def _newtype(s: Newtype, sub: Sub) -> Schema:
    inner = sub(s.inner)
    return Newtype(s.name, inner) if inner is not s.inner else s


def _ref(s: Ref, sub: Sub) -> Schema:
    if s.target is None:
        return s
    target = sub(s.target)
    if target is s.target:
        return s
    ref = Ref(s.name)
    ref.resolve(target)
    return ref


#: How each composite is rebuilt around substituted parts (looked up along the class's MRO, so
#: a subclass such as mux's depth-limited Ref is rebuilt as its base is). Leaves (primitives,
#: Flags, Custom, UnitStruct) contain nothing to substitute.
_REBUILD: dict[type, Callable[[Schema, Sub], Schema]] = {
    Struct: _struct,  # type: ignore[dict-item]
    Enum: _enum,  # type: ignore[dict-item]
    Tuple: _tuple,  # type: ignore[dict-item]
    Seq: _seq,  # type: ignore[dict-item]
    Map: _map,  # type: ignore[dict-item]
    Option: _option,  # type: ignore[dict-item]
    Array: _array,  # type: ignore[dict-item]
    Newtype: _newtype,  # type: ignore[dict-item]
    Ref: _ref,  # type: ignore[dict-item]
}
