"""Line content fingerprints (version 1), from decoded values.

An 8-byte blake2b digest over the line's *serialized* bytes, so that it can be
computed straight from the wire:

1. the ``CellStorage`` bytes (variant tag through the last cell: text and
   attributes of every cell);
2. the ``LineBits`` bytes (the u16 LEB128);
3. for every hyperlink streak ``SerializedLines.hyperlinks`` lifted out of this
   line (coords whose ``line_idx`` is this line's index in ``lines``), sorted
   by column range, adjacent streaks with equal links merged (WezTerm splits
   streaks on ``Arc`` identity, not value): ``b"H"`` + LEB128(start) +
   LEB128(end) + the link's bytes with its ``params`` map in sorted order (a
   HashMap's wire order is arbitrary);
4. for every ``SerializedLines.images`` entry whose ``line_idx`` (a *stable
   row*) equals this line's row, in wire order: ``b"I"`` + the entry's bytes
   after ``line_idx``.

It ignores ``seqno``, ``zones`` (termwiz's ``Line::eq`` ignores zones too;
unlike the fingerprint it does compare seqno) and the row, so equal content at
another row or in another response has the same fingerprint. A line sent as
``V`` and the same content sent as ``C`` fingerprint differently (real servers
always send ``V``: ``SerializedLines::from`` converts every line).

:mod:`codec.lines.scan` computes the same fingerprints straight from the wire bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from hashlib import blake2b
from typing import Any

from codec.schema.termwiz import CELL_STORAGE, CLUSTERED_LINE, HYPERLINK, LINE_BITS, SERIALIZED_IMAGE_CELL
from codec.wire.leb128 import encode_unsigned
from codec.wire.varbincode import U32, substitute

FINGERPRINT_VERSION = 1
FINGERPRINT_SIZE = 8

#: The walk only skips a line's cells, so it takes the widest ClusteredLine of any codec version
#: (45 widened ``len`` to u32): one walk serves every version.
SCAN_CELL_STORAGE = substitute(
    CELL_STORAGE, {CLUSTERED_LINE: CLUSTERED_LINE.replace(retype={"len": U32})}, {}
)
#: A ``SerializedImageCell`` after its ``line_idx``: what an image adds to its line's fingerprint.
IMAGE_TAIL = SERIALIZED_IMAGE_CELL.replace(drop=["line_idx"], name="SerializedImageCell-tail")


def link_canon(link: Mapping[str, Any]) -> bytes:
    """A hyperlink's bytes with its ``params`` in sorted order (a HashMap's wire order is arbitrary)."""
    params = link["params"]
    if len(params) > 1:
        items = sorted(params.items(), key=lambda kv: (kv[0].encode(), kv[1].encode()))
        link = {"params": dict(items), "uri": link["uri"], "implicit": link["implicit"]}
    return HYPERLINK.dumps(link)


def digest(
    cells: bytes | memoryview,
    bits: bytes | memoryview,
    links: list[tuple[int, int, bytes]] | None,
    images: list[bytes | memoryview] | None,
) -> bytes:
    """The fingerprint over a line's cell and bits bytes, its hyperlink streaks and image tails."""
    h = blake2b(cells, digest_size=FINGERPRINT_SIZE)
    h.update(bits)
    if links:
        links.sort(key=lambda t: (t[0], t[1]))
        merged: list[list[Any]] = []
        for start, end, canon in links:
            if merged and merged[-1][1] == start and merged[-1][2] == canon:
                merged[-1][1] = end
            else:
                merged.append([start, end, canon])
        for start, end, canon in merged:
            h.update(b"H" + encode_unsigned(start) + encode_unsigned(end))
            h.update(canon)
    if images:
        for tail in images:
            h.update(b"I")
            h.update(tail)
    return h.digest()


def line_fingerprint(
    line_value: Mapping[str, Any],
    links: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]] = (),
    images: Iterable[Mapping[str, Any]] = (),
) -> bytes:
    """The fingerprint of a decoded ``Line`` (see the module docstring).

    ``links`` are ``(cols, hyperlink)`` pairs lifted out of this line (``cols`` a
    ``{"start", "end"}`` range), ``images`` the ``SerializedImageCell`` values of
    this line. :func:`serialized_lines_fingerprints` does that grouping.
    """
    link_items = [(c["start"], c["end"], link_canon(link)) for c, link in links]
    image_items: list[bytes | memoryview] = [IMAGE_TAIL.dumps(img) for img in images]
    return digest(
        SCAN_CELL_STORAGE.dumps(line_value["cells"]),
        LINE_BITS.dumps(line_value["bits"]),
        link_items,
        image_items,
    )


def serialized_lines_fingerprints(value: Mapping[str, Any]) -> list[bytes]:
    """Fingerprints of every line of a decoded ``SerializedLines``, in ``lines`` order."""
    lines = value["lines"]
    per_line: list[list[Any]] = [[] for _ in lines]
    for entry in value["hyperlinks"]:
        for coord in entry["coords"]:
            idx = coord["line_idx"]
            if idx < len(per_line):
                per_line[idx].append((coord["cols"], entry["link"]))
    by_row: dict[int, list[Any]] = {}
    for img in value["images"]:
        by_row.setdefault(img["line_idx"], []).append(img)
    return [line_fingerprint(line, per_line[i], by_row.get(row, ())) for i, (row, line) in enumerate(lines)]
