"""Decoded values rendered as serde_json renders the Rust value, so they compare with WezTerm's own output."""

from __future__ import annotations

from typing import Any

from codec.wire.varbincode.enums import FlagsValue


def to_json(value: Any) -> Any:
    """Render a decoded value the way serde_json renders the Rust value.

    Tuples become lists, ``bytes`` lists of ints, map keys strings, bitflags 2
    sets their flag names, and values that know their serde rendering (an
    ``OsString``: ``{"Unix": [bytes]}``) give it through ``serde_json()``. The
    result is plain JSON data, valid UTF-8 whatever the wire held.

    One deviation, where serde_json has no answer: a map whose keys serde_json
    refuses ("key must be a string": ``CommandBuilder.envs``, keyed by
    ``OsString``) is rendered as a list of ``[key, value]`` pairs in wire order,
    the shape the golden vectors' ``facts`` use, rather than failing.
    """
    render = getattr(type(value), "serde_json", None)
    if render is not None:
        return render(value)
    if isinstance(value, dict):
        if any(getattr(type(k), "serde_json", None) is not None for k in value):
            return [[to_json(k), to_json(v)] for k, v in value.items()]
        return {_json_key(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, FlagsValue):
        return value.render()
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    return value


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    raise TypeError(f"serde_json cannot use {type(key).__name__} as a map key")


