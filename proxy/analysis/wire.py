"""The PDUs the analysis reads, as typed facts: the first step of its pipeline.

The codec decodes a PDU into the shape ``serde_json`` gives the Rust value (dicts of dicts), which
is right for ``decode --json`` and wrong for code that reasons about panes and rows: a typo in
``body["size"]["rows"]`` would be a KeyError on the analysis's worker. So each PDU the analysis
acts on is read once, here, into a frozen dataclass, and everything downstream reads fields.
A PDU the analysis does not act on has no fact (``fact_of`` returns None).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from codec.pdu import Pdu


@dataclass(frozen=True, slots=True)
class PaneSize:
    rows: int
    cols: int


@dataclass(frozen=True, slots=True)
class GetLines:
    """The client asks for rows of a pane (``GetLines``)."""

    pane_id: int
    #: half-open (start, end) stable-row ranges, as sent
    ranges: tuple[tuple[int, int], ...]

    def rows(self) -> list[int]:
        return [row for start, end in self.ranges for row in range(start, end)]

    @property
    def row_count(self) -> int:
        return sum(max(0, end - start) for start, end in self.ranges)


@dataclass(frozen=True, slots=True)
class Resize:
    """The client resizes a pane (``Resize``)."""

    pane_id: int
    tab_id: int
    size: PaneSize


@dataclass(frozen=True, slots=True)
class PaneZoomed:
    """The client zooms or unzooms a pane (``SetPaneZoomed``)."""

    pane_id: int


@dataclass(frozen=True, slots=True)
class KeyDown:
    """A key press (``SendKeyDown``): cursor updates older than its input serial are ignored."""

    pane_id: int
    input_serial: int


@dataclass(frozen=True, slots=True)
class RenderChanges:
    """A push (``GetPaneRenderChangesResponse``)."""

    pane_id: int
    seqno: int
    physical_top: int
    cols: int
    cursor: Any
    input_serial: int | None
    #: half-open (start, end) ranges of rows that changed
    dirty: tuple[tuple[int, int], ...]
    #: the pushed lines (a :class:`~codec.lines.LinesSummary`), or None
    bonus_lines: Any


@dataclass(frozen=True, slots=True)
class PaletteChanged:
    """The server changed a pane's palette (``SetPalette``)."""

    pane_id: int


@dataclass(frozen=True, slots=True)
class TabResized:
    """The server says a tab's size changed (``TabResized``)."""

    tab_id: int


@dataclass(frozen=True, slots=True)
class PaneListed:
    """One pane as ``ListPanesResponse`` or ``SpawnResponse`` states it."""

    pane_id: int
    tab_id: int
    window_id: int
    size: PaneSize


@dataclass(frozen=True, slots=True)
class PanesListed:
    """The server lists every pane (``ListPanesResponse``)."""

    panes: tuple[PaneListed, ...]


@dataclass(frozen=True, slots=True)
class PaneSpawned:
    """A pane was spawned (``SpawnResponse``)."""

    pane: PaneListed


@dataclass(frozen=True, slots=True)
class PaneRemoved:
    pane_id: int


@dataclass(frozen=True, slots=True)
class RequestFailed:
    """The server answered a request with ``ErrorResponse``."""


@dataclass(frozen=True, slots=True)
class CodecVersionAnnounced:
    """``GetCodecVersionResponse``."""

    codec_version: Any


Fact = (GetLines | Resize | PaneZoomed | KeyDown | RenderChanges | PaletteChanged | TabResized | PanesListed
        | PaneSpawned | PaneRemoved | RequestFailed | CodecVersionAnnounced)


def _size(size: dict[str, Any]) -> PaneSize:
    return PaneSize(size["rows"], size["cols"])


def _ranges(ranges: list[dict[str, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((r["start"], r["end"]) for r in ranges)


def _listed(leaf: dict[str, Any]) -> PaneListed:
    return PaneListed(leaf["pane_id"], leaf["tab_id"], leaf["window_id"], _size(leaf["size"]))


def _leaves(node: Any) -> Iterator[dict[str, Any]]:
    """The panes of a ``PaneNode`` tree (``Empty``, ``Leaf``, ``Split``), left to right."""
    if not isinstance(node, dict):
        return  # "Empty"
    if "Leaf" in node:
        yield node["Leaf"]
    elif "Split" in node:
        yield from _leaves(node["Split"]["left"])
        yield from _leaves(node["Split"]["right"])


def _render_changes(b: dict[str, Any]) -> RenderChanges:
    dims = b["dimensions"]
    return RenderChanges(b["pane_id"], b["seqno"], dims["physical_top"], dims["cols"], b["cursor_position"],
                         b.get("input_serial"), _ranges(b["dirty_lines"]), b.get("bonus_lines"))


#: PDU name -> how its body becomes a fact
READERS: dict[str, Callable[[dict[str, Any]], Fact]] = {
    "GetLines": lambda b: GetLines(b["pane_id"], _ranges(b["lines"])),
    "Resize": lambda b: Resize(b["pane_id"], b["containing_tab_id"], _size(b["size"])),
    "SetPaneZoomed": lambda b: PaneZoomed(b["pane_id"]),
    "SendKeyDown": lambda b: KeyDown(b["pane_id"], b["input_serial"]),
    "GetPaneRenderChangesResponse": _render_changes,
    "SetPalette": lambda b: PaletteChanged(b["pane_id"]),
    "TabResized": lambda b: TabResized(b["tab_id"]),
    "ListPanesResponse": lambda b: PanesListed(tuple(_listed(leaf) for tab in b["tabs"] for leaf in _leaves(tab))),
    "SpawnResponse": lambda b: PaneSpawned(_listed(b)),
    "PaneRemoved": lambda b: PaneRemoved(b["pane_id"]),
    "ErrorResponse": lambda b: RequestFailed(),
    "GetCodecVersionResponse": lambda b: CodecVersionAnnounced(b["codec_vers"]),
}


def fact_of(pdu: Pdu | None) -> Fact | None:
    """The typed fact a PDU states, or None for one the analysis does not act on (or cannot read)."""
    if pdu is None or not pdu.known:
        return None
    reader = READERS.get(pdu.name)
    if reader is None or not isinstance(pdu.body, dict):
        return None
    return reader(pdu.body)
