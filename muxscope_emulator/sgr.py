"""SGR (``CSI … m``) for the emulated terminal: attributes, 16/256 palette colours and truecolour.

Split from :mod:`.terminal` when the full-screen editor (:mod:`.editorapp`)
needed truecolour. What a parameter does follows termwiz's SGR parser
(``termwiz/src/escape/csi.rs: Sgr``) and how a colour lands in a cell follows
``CellAttributes::set_foreground`` (``termwiz/src/cell.rs``): a palette index
is a ``SmallColor``, a truecolour goes to the fat attributes as
``TrueColorWithDefaultFallback`` (docs/wezterm-behaviour.md, the server table).
In a :class:`~.termlines.Cell` a palette colour is an ``int`` and a truecolour
an ``SrgbaTuple`` (4 floats).
"""

from __future__ import annotations

from muxscope_emulator.termlines import Cell

_BOLD, _HALF, _ITALIC, _UNDERLINE, _REVERSE = 1, 2, 1 << 7, 1 << 2, 1 << 8

Color = int | tuple[float, float, float, float] | None


def parse_params(params: str) -> list[list[int]]:
    """``a;b:c:d`` -> ``[[a], [b, c, d]]`` (empty parameters are 0)."""
    if not params:
        return [[0]]
    return [[int(p) if p.isdigit() else 0 for p in group.split(":")] for group in params.split(";")]


def _extended(groups: list[list[int]], i: int) -> tuple[Color, int]:
    """``38``/``48`` at ``groups[i]``: the colour and how many groups it used (``5;n``, ``2;r;g;b``,
    or the colon forms ``5:n``, ``2:r:g:b``, ``2::r:g:b``). None: not a colour (the rest is skipped)."""
    group = groups[i]
    if len(group) > 1:  # colon form, all in one group
        sub = group[1:]
        if sub[0] == 5 and len(sub) >= 2:
            return sub[1] & 0xFF, 1
        if sub[0] == 2 and len(sub) >= 4:
            rgb = sub[-3:]
            return (*tuple(v / 255.0 for v in rgb), 1.0), 1  # type: ignore[return-value]
        return None, len(groups) - i
    rest = [g[0] for g in groups[i + 1 : i + 5]]
    if rest[:1] == [5] and len(rest) >= 2:
        return rest[1] & 0xFF, 3
    if rest[:1] == [2] and len(rest) >= 4:
        return (rest[1] / 255.0, rest[2] / 255.0, rest[3] / 255.0, 1.0), 5
    return None, len(groups) - i


def apply_sgr(pen: Cell, params: str) -> Cell:
    """The pen after ``CSI params m``."""
    groups = parse_params(params)
    attrs, fg, bg = pen.attrs, pen.fg, pen.bg
    i = 0
    while i < len(groups):
        n = groups[i][0]
        used = 1
        if n == 0:
            attrs, fg, bg = 0, None, None
        elif n == 1:
            attrs = (attrs & ~3) | _BOLD
        elif n == 2:
            attrs = (attrs & ~3) | _HALF
        elif n == 22:
            attrs &= ~3
        elif n == 3:
            attrs |= _ITALIC
        elif n == 23:
            attrs &= ~_ITALIC
        elif n == 4:
            attrs = (attrs & ~(7 << 2)) | _UNDERLINE
        elif n == 24:
            attrs &= ~(7 << 2)
        elif n == 7:
            attrs |= _REVERSE
        elif n == 27:
            attrs &= ~_REVERSE
        elif 30 <= n <= 37 or 90 <= n <= 97:
            fg = n - 30 if n < 90 else n - 90 + 8
        elif n == 39:
            fg = None
        elif 40 <= n <= 47 or 100 <= n <= 107:
            bg = n - 40 if n < 100 else n - 100 + 8
        elif n == 49:
            bg = None
        elif n in (38, 48):
            color, used = _extended(groups, i)
            if color is not None:
                if n == 38:
                    fg = color
                else:
                    bg = color
        i += used
    return pen._replace(attrs=attrs, fg=fg, bg=bg)
