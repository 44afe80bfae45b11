"""What one PDU may cost the analysis: limits on what decoding it would make us allocate.

The codec already refuses a sequence whose declared count cannot fit in the bytes that are
there, and inflates zstd only up to a ceiling. What it cannot know is what the *analysis*
builds from a well-formed PDU: a 12-byte GetLines asking for rows 0..10^12 is valid on the
wire, and the line model would make a list of every row. So before a PDU reaches the
pane directory, the RPC tracker or an addon, :func:`over_budget` checks what it asks for
against these limits; one over them is counted as a decode error (reason ``limit``), logged
once per connection, and skipped. The relay, in its own process, never sees any of this.
"""

from __future__ import annotations

from typing import Any

from codec.pdu import Pdu

#: rows one GetLines may ask for (WezTerm asks for the rows in view and a little more;
#: a whole 100k-row scrollback still fits)
MAX_ROWS_PER_GETLINES = 200_000
#: ranges in one GetLines, or dirty ranges in one render-changes push
MAX_RANGES = 10_000
#: rows from the visible top a render-changes push may mark dirty
MAX_DIRTY_ROWS = 200_000


def _span(ranges: Any, floor: int = 0) -> int:
    total = 0
    for r in ranges:
        start, end = (r["start"], r["end"]) if isinstance(r, dict) else (r[0], r[1])
        total += max(0, end - max(start, floor))
    return total


def over_budget(pdu: Pdu) -> str | None:
    """Why ``pdu`` is over its budget, or None."""
    body = pdu.body
    if not isinstance(body, dict):
        return None
    if pdu.name == "GetLines":
        ranges = body.get("lines") or []
        if len(ranges) > MAX_RANGES:
            return f"GetLines with {len(ranges)} ranges (limit {MAX_RANGES})"
        rows = _span(ranges)
        if rows > MAX_ROWS_PER_GETLINES:
            return f"GetLines asking for {rows} rows (limit {MAX_ROWS_PER_GETLINES})"
    elif pdu.name == "GetPaneRenderChangesResponse":
        ranges = body.get("dirty_lines") or []
        if len(ranges) > MAX_RANGES:
            return f"render changes with {len(ranges)} dirty ranges (limit {MAX_RANGES})"
        dims = body.get("dimensions")
        top = dims.get("physical_top", 0) if isinstance(dims, dict) else 0
        rows = _span(ranges, top)
        if rows > MAX_DIRTY_ROWS:
            return f"render changes marking {rows} rows dirty (limit {MAX_DIRTY_ROWS})"
    return None
