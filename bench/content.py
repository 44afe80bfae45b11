"""Realistic terminal rows for benchmarks: plain, coloured, wide; 80 and 200 columns."""

from __future__ import annotations

import random
from typing import Any

from codec import encode_pdu

PLAIN = {"attributes": 0, "foreground": "Default", "background": "Default", "fat": None}
WORDS = ["/usr/share/doc", "libfoo-dev", "changelog.Debian.gz", "README", "-rw-r--r--", "root", "4096",
         "Nov 25 18:14", "copyright", "python3.11", "site-packages", "__init__.py"]
WIDE = "日本語テキスト漢字宽字符"


def _cell(text: str, attrs: dict[str, Any]) -> dict[str, Any]:
    return {"text": text, "attrs": attrs}


def make_row(kind: str, cols: int, rnd: random.Random, seqno: int) -> dict[str, Any]:
    cells: list[dict[str, Any]] = []
    while len(cells) < cols:
        if kind == "wide" and rnd.random() < 0.3:
            ch = rnd.choice(WIDE)
            cells.append(_cell(ch, PLAIN))
            cells.append(_cell(" ", PLAIN))  # the spacer cell after a double-width character
            continue
        word = rnd.choice(WORDS)
        attrs = PLAIN
        if kind == "coloured":
            attrs = {"attributes": rnd.choice([0, 1, 4]), "foreground": {"PaletteIndex": rnd.randrange(16)},
                     "background": "Default" if rnd.random() < 0.8 else {"PaletteIndex": rnd.randrange(16)},
                     "fat": None}
        for ch in word + " ":
            cells.append(_cell(ch, attrs))
    return {"cells": {"V": {"cells": cells[:cols]}}, "zones": [], "seqno": seqno, "bits": 0}


def get_lines_response(kind: str, cols: int, rows: int, seed: int = 1, serial: int = 1) -> bytes:
    rnd = random.Random(seed)
    lines = [(10_000 + i, make_row(kind, cols, rnd, 1000 + i)) for i in range(rows)]
    body = {"pane_id": 0, "lines": {"lines": lines, "hyperlinks": [], "images": []}}
    return encode_pdu("GetLinesResponse", body, serial)
