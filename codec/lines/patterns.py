"""Regular expressions that skip a whole plain line of cells in one match (the scan's fast path).

A cell as a real server sends it (hyperlinks and images lifted out, text shorter than 128
bytes) is a regular language, so a vector-storage line's ``n`` cells are ``(?:cell){n}``.
"""

from __future__ import annotations

import re
from typing import Any


def _cells_pattern() -> bytes:
    # str: a one-byte LEB128 length n (< 128) then n bytes, one branch per length
    text = (
        b"(?:"
        + b"|".join(re.escape(bytes([n])) + (b"." * n if n < 4 else b".{%d}" % n) for n in range(1, 128))
        + b")"
    )
    attrs = rb"[\x80-\xff]{0,4}[\x00-\x7f]"  # u32 LEB128
    small = rb"(?:\x00|\x01.)"  # SmallColor
    color = rb"(?:\x03|\x02.|\x01.{16}|\x00.{17})"  # ColorAttribute
    fat = rb"(?:\x00|\x01\x00\x00" + color * 3 + rb")"  # no hyperlink, no images
    return b"(?:" + text + attrs + small + small + fat + b")"


_CELL_RE = _cells_pattern()
# n cells, no zones, then the seqno and the bits: one match covers a whole plain line
_LINE_TAIL_RE = rb"(\x00)([\x80-\xff]{0,9}[\x00-\x7f])([\x80-\xff]{0,2}[\x00-\x7f])"
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
