"""A full-screen editor for the emulated panes (``--app editor``): neovim with a colour scheme.

WezTerm's issue #2503 (neovim with a colour scheme is sluggish over the mux)
is a session on the alternate screen where every row carries many colours.
This is a deterministic stand-in for such an editor, with the escape traffic
that matters to the mux:

* at start: ``CSI ? 1049 h`` (the alternate screen), ``OSC 11 ; ?`` (neovim asks
  for the background colour, which WezTerm answers *and* counts as a palette
  change: oscpalette.py), then the whole screen;
* every row: a line number in a 256-colour, tokens in truecolour foregrounds on
  a truecolour background that ``CSI K`` extends to the last column (so each
  row's cells are all coloured, as a themed editor's are); a status line in
  reverse colours at the bottom;
* a key in insert mode (the mode it starts in): the edited row, the status
  line and the cursor; Enter and Backspace at column 0 redraw from the cursor
  row down. Escape enters normal mode, where ``h``/``j``/``k``/``l`` (and the
  arrows, in either mode) move the cursor: only the status line and the cursor
  change, so the old cursor row is not redrawn and a client must fetch it (the
  pushes WezTerm's ``fetch_limiter`` throttles when a key is held down);
  ``i`` goes back to insert mode; moving off the screen scrolls by redrawing
  every row;
* SIGWINCH: ``CSI H CSI 2 J`` and the whole screen again, at the new size.
"""

from __future__ import annotations

import random

_KEYWORDS = ["def", "return", "if", "else", "for", "in", "import", "from", "class", "while", "with", "as"]
_NAMES = ["buffer", "row", "seqno", "fetch", "render", "pane", "cursor", "lines", "push", "delta", "cache"]
#: the theme (truecolour, as with ``termguicolors``): background, default text and token colours
_BG = (40, 44, 52)
_FG = (171, 178, 191)
_TOKEN = {"kw": (198, 120, 221), "name": (224, 108, 117), "str": (152, 195, 121), "num": (209, 154, 102),
          "call": (97, 175, 239), "comment": (92, 99, 112), "op": (86, 182, 194)}  # fmt: skip
_VI_KEYS = {"k": "A", "j": "B", "l": "C", "h": "D", "\r": "B"}
_LINE_NR = 239  # a 256-colour grey
_STATUS = (40, 44, 52), (152, 195, 121)


def _rgb(kind: int, c: tuple[int, int, int]) -> str:
    return f"\x1b[{kind};2;{c[0]};{c[1]};{c[2]}m"


def _source(rng: random.Random, n: int) -> list[str]:
    """``n`` lines of plausible Python, deterministic for the seed."""
    out: list[str] = []
    depth = 0
    for _ in range(n):
        kind = rng.random()
        pad = "    " * depth
        if kind < 0.12:
            out.append(f"def {rng.choice(_NAMES)}_{rng.randint(1, 99)}({rng.choice(_NAMES)}, {rng.choice(_NAMES)}):")
            depth = 1
        elif kind < 0.2:
            out.append(f'{pad}# {rng.choice(_NAMES)} {rng.choice(_NAMES)} {rng.choice(_KEYWORDS)} {rng.choice(_NAMES)}')
        elif kind < 0.3 and depth < 3:
            out.append(f"{pad}for {rng.choice(_NAMES)} in {rng.choice(_NAMES)}({rng.randint(0, 999)}):")
            depth += 1
        elif kind < 0.38:
            out.append("")
            depth = max(depth - 1, 0)
        else:
            out.append(f'{pad}{rng.choice(_NAMES)} = {rng.choice(_NAMES)}.{rng.choice(_NAMES)}('
                       f'"{rng.choice(_NAMES)}", {rng.randint(0, 4096)}) + {rng.choice(_NAMES)}')
    return out


def _tokens(text: str) -> list[tuple[str, str]]:
    """A crude highlighter: (kind, text) pieces of one line."""
    if text.lstrip().startswith("#"):
        return [("comment", text)]
    out: list[tuple[str, str]] = []
    word = ""
    in_str = False
    for ch in text + "\0":
        if in_str:
            word += ch
            if ch == '"':
                out.append(("str", word))
                word, in_str = "", False
            continue
        if ch.isalnum() or ch == "_":
            word += ch
            continue
        if word:
            kind = "kw" if word in _KEYWORDS else "num" if word.isdigit() else "call" if ch == "(" else "name"
            out.append((kind, word))
            word = ""
        if ch == '"':
            word, in_str = ch, True
        elif ch != "\0":
            out.append(("op" if ch in "=+.():," else "text", ch))
    return out


class EditorApp:
    """The editor's state (file, view, cursor) and the bytes it writes for each event."""

    def __init__(self, seed: int, rows: int, cols: int, n_lines: int = 400) -> None:
        self.buf = _source(random.Random(seed), n_lines)
        self.rows, self.cols = rows, cols
        self.top = 0  # first file line shown
        self.cy = 0  # cursor: file line, column
        self.cx = 0
        self.insert = True

    # -- drawing -------------------------------------------------------------
    @property
    def text_rows(self) -> int:
        return max(self.rows - 1, 1)

    def _row(self, y: int) -> str:
        """Screen row ``y`` (0-based) of the text area: position, number, tokens, coloured erase."""
        n = self.top + y
        out = [f"\x1b[{y + 1};1H", _rgb(48, _BG)]
        if n >= len(self.buf):
            return "".join([*out, f"\x1b[38;5;{_LINE_NR}m~", "\x1b[K\x1b[0m"])
        out.append(f"\x1b[38;5;{_LINE_NR}m{n + 1:>4} ")
        width = self.cols - 5
        used = 0
        for kind, text in _tokens(self.buf[n]):
            text = text[: max(width - used, 0)]
            if not text:
                break
            out.append(_rgb(38, _TOKEN.get(kind, _FG)) + text)
            used += len(text)
        return "".join([*out, "\x1b[K\x1b[0m"])

    def _status(self) -> str:
        left = f" {'INSERT' if self.insert else 'NORMAL'}  src/emulated.py  {len(self.buf)}L"
        right = f"{self.cy + 1}:{self.cx + 1} "
        pad = max(self.cols - len(left) - len(right), 0)
        line = (left + " " * pad + right)[: self.cols]
        return f"\x1b[{self.rows};1H{_rgb(48, _STATUS[1])}{_rgb(38, _STATUS[0])}\x1b[1m{line}\x1b[K\x1b[0m"

    def _cursor(self) -> str:
        return f"\x1b[{self.cy - self.top + 1};{min(self.cx + 6, self.cols)}H"

    def redraw(self) -> bytes:
        """Every row, the status line, the cursor (a start, a scroll, a SIGWINCH)."""
        body = "".join(self._row(y) for y in range(self.text_rows))
        return (body + self._status() + self._cursor()).encode()

    def start(self) -> bytes:
        """Enter the alternate screen, ask for the background colour (as neovim does), draw."""
        return b"\x1b[?1049h\x1b]11;?\x1b\\\x1b[H\x1b[2J" + self.redraw()

    def winch(self, rows: int, cols: int) -> bytes:
        """SIGWINCH: clear and draw everything at the new size."""
        self.rows, self.cols = max(rows, 2), max(cols, 8)
        self._scroll_into_view()
        return b"\x1b[H\x1b[2J" + self.redraw()

    # -- input -----------------------------------------------------------------
    def _scroll_into_view(self) -> bool:
        top = self.top
        if self.cy < self.top:
            self.top = self.cy
        elif self.cy >= self.top + self.text_rows:
            self.top = self.cy - self.text_rows + 1
        return top != self.top

    def _rows_from(self, line: int) -> str:
        return "".join(self._row(y) for y in range(max(line - self.top, 0), self.text_rows))

    def input(self, data: bytes) -> bytes:
        """What the editor writes back for typed bytes (arrows as ``CSI A``-``D``)."""
        out: list[str] = []
        text = data.decode("utf-8", "replace")
        i = 0
        while i < len(text):
            if text.startswith("\x1b[", i) and i + 2 < len(text) and text[i + 2] in "ABCD":
                out.append(self._arrow(text[i + 2]))
                i += 3
                continue
            out.append(self._key(text[i]))
            i += 1
        return "".join(out).encode() if out else b""

    def _arrow(self, final: str) -> str:
        line_len = len(self.buf[self.cy]) if self.cy < len(self.buf) else 0
        if final == "A":
            self.cy = max(self.cy - 1, 0)
        elif final == "B":
            self.cy = min(self.cy + 1, max(len(self.buf) - 1, 0))
        elif final == "C":
            self.cx = min(self.cx + 1, line_len)
        elif final == "D":
            self.cx = max(self.cx - 1, 0)
        self.cx = min(self.cx, len(self.buf[self.cy]) if self.cy < len(self.buf) else 0)
        if self._scroll_into_view():
            return self.redraw().decode()
        return self._status() + self._cursor()

    def _key(self, ch: str) -> str:
        if ch == "\x1b" or (not self.insert and ch == "i"):
            self.insert = ch == "i"
            return self._status() + self._cursor()
        if not self.insert:
            return self._arrow(_VI_KEYS[ch]) if ch in _VI_KEYS else ""
        if not self.buf:
            self.buf.append("")
        line = self.buf[self.cy]
        if ch in "\r\n":
            self.buf[self.cy : self.cy + 1] = [line[: self.cx], line[self.cx :]]
            self.cy, self.cx = self.cy + 1, 0
            first = self.cy - 1
        elif ch in "\x7f\x08":
            if self.cx > 0:
                self.buf[self.cy] = line[: self.cx - 1] + line[self.cx :]
                self.cx -= 1
                first = self.cy
            elif self.cy > 0:
                prev = self.buf[self.cy - 1]
                self.buf[self.cy - 1 : self.cy + 1] = [prev + line]
                self.cy, self.cx = self.cy - 1, len(prev)
                first = self.cy
            else:
                return ""
        elif ch >= " ":
            self.buf[self.cy] = line[: self.cx] + ch + line[self.cx :]
            self.cx += 1
            return self._row(self.cy - self.top) + self._status() + self._cursor()
        else:
            return ""
        if self._scroll_into_view():
            return self.redraw().decode()
        return self._rows_from(first) + self._status() + self._cursor()
