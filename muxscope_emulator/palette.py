"""The colour palette a default WezTerm config resolves to, for both ends of the emulator.

The server answers SetPalette pushes with a pane's palette and the client
advises the server of its own when it adopts a pane (``ClientPane::new``);
both are this one value, kept here so it is written once.
"""

from __future__ import annotations

from typing import Any


def default_palette() -> dict[str, Any]:
    """``config.resolved_palette`` of a default config: the xterm 256-colour ``ColorPalette``, as SrgbaTuples."""
    ansi = [0x000000, 0xCC5555, 0x55CC55, 0xCDCD55, 0x5455CB, 0xCC55CC, 0x7ACACA, 0xCCCCCC,
            0x555555, 0xFF5555, 0x55FF55, 0xFFFF55, 0x5555FF, 0xFF55FF, 0x55FFFF, 0xFFFFFF]  # fmt: skip
    levels = [0, 95, 135, 175, 215, 255]
    rgb = list(ansi)
    rgb += [
        (levels[r] << 16) | (levels[g] << 8) | levels[b] for r in range(6) for g in range(6) for b in range(6)
    ]
    rgb += [(v << 16) | (v << 8) | v for v in (8 + 10 * i for i in range(24))]

    def srgba(c: int) -> tuple[float, float, float, float]:
        return ((c >> 16) / 255.0, ((c >> 8) & 0xFF) / 255.0, (c & 0xFF) / 255.0, 1.0)

    fg, bg = srgba(0xB2B2B2), srgba(0x000000)
    return {
        "colors": [srgba(c) for c in rgb],
        "foreground": fg,
        "background": bg,
        "cursor_fg": bg,
        "cursor_bg": srgba(0x52AD70),
        "cursor_border": srgba(0x52AD70),
        "selection_fg": bg,
        "selection_bg": srgba(0xFFFACD),
        "scrollbar_thumb": srgba(0x222222),
        "split": srgba(0x444444),
    }
