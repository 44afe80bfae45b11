"""Line text and size from a decoded ``Line``: termwiz ``Line::as_str()``, ``len()``, ``visible_cells()``.

:func:`line_text` is termwiz ``Line::as_str()`` (``surface/line/line.rs``): for
``CellStorage::C`` it is the clustered line's ``text``; for ``CellStorage::V`` it concatenates the
*visible* cells (``VecStorageIter``: after a cell of width ``w`` the next ``w - 1`` cells are
skipped, whatever they hold). Trailing spaces are kept. Widths come from
:func:`codec.lines.width.cell_width`, since they are not on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from codec.lines.width import cell_width, normalize_text


def visible_cells(line_value: Mapping[str, Any]) -> list[tuple[int, str, int]]:
    """``Line::visible_cells()`` of a V-storage line as ``(cell_index, text, width)``.

    For C storage the clustered text is not split into cells here; use :func:`line_text`.
    """
    ((kind, storage),) = line_value["cells"].items()
    if kind != "V":
        raise ValueError("visible_cells() handles vector storage only")
    out = []
    skip = 0
    for idx, cell in enumerate(storage["cells"]):
        if skip:
            skip -= 1
            continue
        text = cell["text"]
        w = cell_width(text)
        out.append((idx, normalize_text(text), w))
        skip = w - 1 if w > 1 else 0
    return out


def line_text(line_value: Mapping[str, Any]) -> str:
    """Exactly what termwiz ``Line::as_str()`` returns for the decoded ``Line``."""
    ((kind, storage),) = line_value["cells"].items()
    if kind == "C":
        return storage["text"]
    parts = []
    append = parts.append
    skip = 0
    for cell in storage["cells"]:
        if skip:
            skip -= 1
            continue
        text = cell["text"]
        if len(text) == 1 and 0x20 <= ord(text) < 0x7F:
            append(text)
            continue
        append(normalize_text(text))
        w = cell_width(text)
        if w > 1:
            skip = w - 1
    return "".join(parts)


def line_len(line_value: Mapping[str, Any]) -> int:
    """``Line::len()``: the number of cells (V) or the clustered line's ``len`` (C)."""
    ((kind, storage),) = line_value["cells"].items()
    return len(storage["cells"]) if kind == "V" else storage["len"]



def line_facts(line_value: Mapping[str, Any]) -> dict[str, Any]:
    """``{"text", "len_cells", "seqno", "storage", "bits"}`` of a decoded ``Line``
    (the names follow the golden manifest's ``facts``)."""
    ((kind, _),) = line_value["cells"].items()
    return {
        "text": line_text(line_value),
        "len_cells": line_len(line_value),
        "seqno": line_value["seqno"],
        "storage": kind,
        "bits": int(line_value["bits"]),
    }
