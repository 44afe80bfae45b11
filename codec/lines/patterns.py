"""Regular expressions, derived from the schema, that skip a whole plain line of cells in one match.

The scan's fast path (:mod:`codec.lines.scan`): a cell as a real server sends it (hyperlinks and
images lifted out into ``SerializedLines``, text shorter than 128 bytes) is a regular language, so
a vector-storage line's ``n`` cells are ``(?:cell){n}``, and with the line's tail (no zones, the
seqno, the bits) one match covers the whole line.

The patterns are generated from the termwiz schemas (``CELL``, ``LINE``) by :func:`byte_pattern`,
so a change to the Cell or Line layout there reaches this path by itself. What stays written here
is the restriction to plain cells (:data:`PLAIN`): which parts must be empty for a cell to be
regular, and the one-byte text length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from codec.schema.termwiz import CELL, FAT_ATTRIBUTES, LINE
from codec.wire.varbincode import (
    F32,
    I8,
    STR,
    U8,
    U16,
    U32,
    U64,
    USIZE,
    Enum,
    Flags,
    Option,
    Schema,
    Struct,
    Tuple,
)

#: LEB128 integers: at most this many bytes (the contents are not range-checked, as the scan's contract says)
_LEB128_BYTES = {U16: 3, U32: 5, U64: 10, USIZE: 10}
#: types of a fixed size on the wire
_FIXED_BYTES = {U8: 1, I8: 1, F32: 4}
#: ``str`` with a one-byte length (1 to 127 bytes; an empty text falls back to the schema decoder)
_SHORT_TEXT = (
    b"(?:"
    + b"|".join(re.escape(bytes([n])) + (b"." * n if n < 4 else b".{%d}" % n) for n in range(1, 128))
    + b")"
)
_FAT = dict(FAT_ATTRIBUTES.fields)
_LINE = dict(LINE.fields)
#: What makes a cell (and a line's tail) plain: no hyperlink, no images, no zones, short texts.
PLAIN: Mapping[Schema, bytes] = {
    _FAT["hyperlink"]: b"\x00",  # Option<Hyperlink>: None (lifted out into SerializedLines.hyperlinks)
    _FAT["image"]: b"\x00",  # Vec<ImageCell>: empty (lifted out into SerializedLines.images)
    _LINE["zones"]: b"\x00",  # Vec<ZoneRange>: empty
    STR: _SHORT_TEXT,
}


def fixed_size(schema: Schema) -> int | None:
    """Bytes every value of ``schema`` takes, or None when that varies."""
    if schema in _FIXED_BYTES:
        return _FIXED_BYTES[schema]
    parts = schema.items if isinstance(schema, Tuple) else [f for _, f in schema.fields] if isinstance(
        schema, Struct) else None
    if parts is None:
        return None
    sizes = [fixed_size(p) for p in parts]
    return None if any(s is None for s in sizes) else sum(sizes)  # type: ignore[misc]


def byte_pattern(schema: Schema, plain: Mapping[Schema, bytes] = PLAIN) -> bytes:
    """A regex (bytes, for ``re.S``) matching the varbincode of ``schema``'s plain values.

    Raises TypeError for a type that has no such pattern here (a map, a sequence not pinned to
    empty by ``plain``...): the fast path then does not exist for it, by design.
    """
    if schema in plain:
        return plain[schema]
    size = fixed_size(schema)
    if size is not None:
        return b"." if size == 1 else b".{%d}" % size
    if schema in _LEB128_BYTES:
        return rb"[\x80-\xff]{0,%d}[\x00-\x7f]" % (_LEB128_BYTES[schema] - 1)
    if isinstance(schema, Flags):
        return byte_pattern(schema.inner, plain)
    if isinstance(schema, Struct):
        return b"".join(byte_pattern(f, plain) for _, f in schema.fields)
    if isinstance(schema, Option):
        return b"(?:\\x00|\\x01" + byte_pattern(schema.inner, plain) + b")"
    if isinstance(schema, Enum) and len(schema.variants) < 0x80:  # a one-byte variant index
        return b"(?:" + b"|".join(
            re.escape(bytes([i])) + (byte_pattern(v.payload, plain) if v.payload is not None else b"")
            for i, v in enumerate(schema.variants)
        ) + b")"
    raise TypeError(f"no byte pattern for {schema.name}")


_CELL_RE = b"(?:" + byte_pattern(CELL) + b")"
#: after n cells: no zones, then the seqno (group 2) and the bits (group 3)
_LINE_TAIL_RE = b"".join(b"(" + byte_pattern(_LINE[name]) + b")" for name in ("zones", "seqno", "bits"))
CELLS_MATCHERS: dict[int, Any] = {}
LINE_MATCHERS: dict[int, Any] = {}


def cells_matcher(n: int) -> Any:
    """``pattern.match`` for exactly ``n`` regular cells."""
    m = CELLS_MATCHERS.get(n)
    if m is None:
        m = re.compile(b"(?:%s){%d}" % (_CELL_RE, n), re.S).match
        if len(CELLS_MATCHERS) < 512:
            CELLS_MATCHERS[n] = m
    return m


def line_matcher(n: int) -> Any:
    """``pattern.match`` for ``n`` regular cells, empty zones, seqno (group 2), bits (group 3)."""
    m = LINE_MATCHERS.get(n)
    if m is None:
        m = re.compile(b"(?:%s){%d}%s" % (_CELL_RE, n, _LINE_TAIL_RE), re.S).match
        if len(LINE_MATCHERS) < 512:
            LINE_MATCHERS[n] = m
    return m
