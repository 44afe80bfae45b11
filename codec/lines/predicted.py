"""The content of a line wezterm-client edited locally (predictive local echo), as a fingerprint.

Above its ``local_echo_threshold_ms``, wezterm-client types a key into the cursor row itself
(``renderable.rs: apply_prediction``): a character becomes a cell with a *double underline*, a
Backspace or Delete erases a cell. No server sends such a line, so its content differs from
every line on the wire; what the emulated client and the analysis need is only a stand-in for
that content which both derive alike from what they see. :func:`predicted_fingerprint` is that
stand-in: a digest of the line's fingerprint before the edit, the key and the cursor column
(a chain of edits gives a chain of digests). A prefix no wire fingerprint (8 bytes of blake2b
over cell bytes) is computed with keeps it apart from those.
"""

from __future__ import annotations

from hashlib import blake2b

from codec.lines.fingerprint import FINGERPRINT_SIZE

_PREFIX = b"muxscope-predicted-line\0"


def predicted_fingerprint(before: bytes | None, key: str, x: int) -> bytes:
    """The stand-in fingerprint of a line after a local edit of ``key`` at column ``x``
    (``key`` as :func:`key_name` spells it)."""
    h = blake2b(_PREFIX, digest_size=FINGERPRINT_SIZE)
    h.update(before or b"")
    h.update(f"\0{key}\0{x}".encode())
    return h.digest()


def key_name(key: object) -> str | None:
    """A decoded ``termwiz::input::KeyCode`` as one string: ``"Char:a"``, ``"Enter"``, ...
    (None for a value that is neither form)."""
    if isinstance(key, str):
        return key
    if isinstance(key, dict) and len(key) == 1:
        ((variant, value),) = key.items()
        return f"{variant}:{value}"
    return None


#: the keys ``predict_from_key_event`` acts on besides ``Char`` (renderable.rs:217-227)
PREDICTED_KEYS = frozenset({"LeftArrow", "RightArrow", "UpArrow", "DownArrow", "Delete", "Backspace", "Enter"})
#: ``KeyModifiers::SHIFT`` (wezterm-input-types ``Modifiers``): with NONE, the only modifiers predicted
SHIFT = 1 << 1
#: what ``apply_prediction`` looks for to leave a password prompt alone (renderable.rs:157-163)
PASSWORD_HINT = "sword"


def predictable(key: str | None, mods: int) -> bool:
    """``predict_from_key_event``'s filter: the key is one it predicts, with no modifier but Shift."""
    return key is not None and (key in PREDICTED_KEYS or key.startswith("Char:")) and mods in (0, SHIFT)


def set_cell(cells: tuple[str, ...], x: int, text: str) -> tuple[str, ...]:
    """``Line::set_cell(x, ..)`` on the line's cells as ``as_str()`` spells them (one string per
    cell; a line shorter than ``x`` is padded with blanks, as termwiz fills implied blanks)."""
    if x >= len(cells):
        return (*cells, *(" ",) * (x - len(cells)), text)
    return (*cells[:x], text, *cells[x + 1:])


def erase_cell(cells: tuple[str, ...], x: int) -> tuple[str, ...]:
    """``Line::erase_cell(x)``: past the end nothing; else the cell goes and a blank is appended."""
    if x >= len(cells):
        return cells
    return (*cells[:x], *cells[x + 1:], " ")
