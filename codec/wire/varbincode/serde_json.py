"""Decoded values rendered as serde_json renders the Rust value, so they compare with WezTerm's own output."""

from __future__ import annotations

from typing import Any

from codec.wire.varbincode.enums import FlagsValue


def to_json(value: Any) -> Any:
    """Render a decoded value the way serde_json renders the Rust value.

    Tuples become lists, ``bytes`` lists of ints, map keys strings, bitflags 2
    sets their flag names. The result is plain JSON data.
    """
    if isinstance(value, dict):
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


