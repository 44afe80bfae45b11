"""Palette escapes in the emulated terminal: OSC 4/10/11/12 and their resets (104/110/111/112).

A program that sets its colour scheme (neovim with a theme, #2503) changes the
pane's palette; WezTerm then marks every line of the active screen changed and
raises ``Alert::PaletteChanged`` (``palette_did_change``,
term/src/terminalstate/mod.rs:929-934), which the mux server turns into a
``SetPalette`` push to every client (dispatch.rs:121-128 queues the alert,
sessionhandler.rs:174-183 sends the pane's palette after its next render
push). The client then makes all its lines stale (clientpane.rs:171-181).
Quirks kept (performer.rs:923-1058): a query (``?``) changes nothing but still
calls ``palette_did_change``; a palette equal to the configured one becomes
"no override" again (``implicit_palette_reset_if_same_as_configured``); a reset
with no override in place is a no-op, but still a palette change.

Colours are parsed as ``rgb:R/G/B`` (1-4 hex digits a component) or
``#RGB``/``#RRGGBB``; an OSC with anything else is ignored whole, as termwiz
fails to parse it. docs/wezterm-behaviour.md lists these rows.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from muxscope_emulator.palette import default_palette

if TYPE_CHECKING:
    from muxscope_emulator.terminal import Terminal

CODES = ("4", "10", "11", "12", "104", "110", "111", "112")
#: ``DynamicColorNumber`` -> the palette fields it sets (12 also sets the cursor border)
_DYNAMIC = {10: ("foreground",), 11: ("background",), 12: ("cursor_bg", "cursor_border"),
            17: ("selection_bg",), 19: ("selection_fg",)}  # fmt: skip
_RESETS = {"110": 10, "111": 11, "112": 12}


class _Invalid(ValueError):
    pass


def parse_color(spec: str) -> tuple[float, float, float, float] | None:
    """An ``SrgbaTuple`` for ``spec``; None for a query (``?``); _Invalid otherwise."""
    if spec == "?":
        return None
    try:
        if spec.startswith("rgb:"):
            parts = spec[4:].split("/")
            if len(parts) != 3 or not all(1 <= len(p) <= 4 for p in parts):
                raise _Invalid(spec)
            r, g, b = (int(p, 16) / (16 ** len(p) - 1) for p in parts)
            return (r, g, b, 1.0)
        if spec.startswith("#") and len(spec) in (4, 7):
            digits = spec[1:]
            n = len(digits) // 3
            r, g, b = (int(digits[i * n : (i + 1) * n], 16) / (16**n - 1) for i in range(3))
            return (r, g, b, 1.0)
    except ValueError:
        raise _Invalid(spec) from None
    raise _Invalid(spec)


def _changes(code: str, rest: str) -> list[tuple[str, int | None, Any]]:
    """(field, index, colour or None for a query / "reset") for one OSC; _Invalid if unparsable."""
    args = rest.split(";") if rest else []
    if code == "4":
        if len(args) % 2 or not args:
            raise _Invalid(rest)
        return [("colors", int(args[i]) & 0xFF, parse_color(args[i + 1])) for i in range(0, len(args), 2)]
    if code == "104":
        return [("colors", int(a) & 0xFF, "reset") for a in args if a] or [("colors", None, "reset")]
    if code in _RESETS:
        return [(f, None, "reset") for f in _DYNAMIC[_RESETS[code]]]
    out = []
    for i, spec in enumerate(args):
        color = parse_color(spec)
        out += [(f, None, color) for f in _DYNAMIC.get(int(code) + i, ())]
    return out


def perform(term: Terminal, code: str, rest: str) -> None:
    """Apply one palette OSC to ``term.palette`` and call ``palette_did_change``."""
    try:
        changes = _changes(code, rest)
    except (_Invalid, ValueError):
        return
    base = term.base_palette()
    for field, index, color in changes:
        if color is None:
            continue  # a query: answered on the pty, nothing changes
        if color == "reset":
            if term.palette is None:
                continue  # already at the defaults
            if field == "colors" and index is None:
                term.palette = None
            elif index is None:
                term.palette[field] = base[field]
            else:
                term.palette["colors"][index] = base["colors"][index]
            continue
        if term.palette is None:
            term.palette = copy.deepcopy(base)
        if index is None:
            term.palette[field] = color
        else:
            term.palette["colors"][index] = color
    if term.palette is not None and term.palette == base:
        term.palette = None  # implicit_palette_reset_if_same_as_configured
    palette_did_change(term)


def palette_did_change(term: Terminal) -> None:
    """``make_all_lines_dirty`` (the active screen, scrollback included) + ``Alert::PaletteChanged``."""
    for line in term.lines:
        line.update_seqno(term.seqno)
    term.alerts.append("PaletteChanged")


__all__ = ["CODES", "default_palette", "parse_color", "perform"]
