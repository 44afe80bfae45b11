"""Deterministic content shaped like real terminal output, for the emulated panes.

Split from :mod:`.terminal` because it is not WezTerm behaviour at all: it only
has to produce text that exercises what the terminal model cares about (long
lines that wrap, wide CJK and emoji cells, SGR colours, OSC 8 hyperlinks,
prompts), reproducibly from a seed, so captures and tests stay stable.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from muxscope_emulator.terminal import Terminal

_DIRS = ["bin", "lib", "share", "include", "libexec", "local", "src", "sbin", "games"]
_SUB = [
    "python3.11",
    "x86_64-linux-gnu",
    "doc",
    "man",
    "locale",
    "perl5",
    "gcc",
    "icons",
    "zoneinfo",
    "site-packages",
    "systemd",
    "terminfo",
    "fonts",
    "git-core",
    "pkgconfig",
]
_LEAF = [
    "README",
    "changelog.Debian.gz",
    "copyright",
    "__init__.py",
    "libz.so.1",
    "index.theme",
    "ls.1.gz",
    "LC_MESSAGES",
    "wezterm.terminfo",
    "config.h",
    "Makefile",
    "setup.cfg",
]
_WORDS = [
    "request",
    "served",
    "cache",
    "miss",
    "fetch",
    "lines",
    "stable",
    "row",
    "resize",
    "pane",
    "seqno",
    "render",
    "push",
    "client",
    "server",
    "latency",
    "ms",
    "ok",
    "retry",
    "tab",
]
_CJK = ["文件", "测试", "构建", "完成", "日本語", "表示", "設定", "한국어", "모듈"]
_EMOJI = ["🚀", "✅", "📦", "🔥", "✨", "🎉", "⚡"]
#: what ``--content`` chooses: every kind of line, or only ``find /usr`` paths
CONTENT_KINDS = ("mixed", "find")
_LS_COLORS = {"dir": "1;34", "exe": "1;32", "link": "1;36", "arch": "1;31", "img": "1;35"}


class ContentGenerator:
    """Seeded, deterministic output lines (bytes ending in ``\\r\\n``) like a busy shell's.

    Mixes ``find /usr`` paths, coloured ``ls -l`` listings (SGR palette
    colours, bold), long log lines that wrap, CJK and emoji (wide cells) and
    OSC 8 hyperlinks, so every line-transport feature shows up on the wire.
    """

    def __init__(self, seed: int = 0, kind: str = "mixed") -> None:
        if kind not in CONTENT_KINDS:
            raise ValueError(f"unknown content {kind!r}; expected one of {CONTENT_KINDS}")
        self.rng = random.Random(seed)
        self.n = 0
        #: "mixed" (every kind of line below) or "find" (``find /usr`` output only, as in wezterm #7331)
        self.kind = kind

    def _path(self) -> str:
        r = self.rng
        parts = ["/usr", r.choice(_DIRS)] + [r.choice(_SUB) for _ in range(r.randint(0, 3))]
        return "/".join([*parts, r.choice(_LEAF)])

    def find_line(self) -> str:
        return self._path()

    def ls_line(self) -> str:
        r = self.rng
        kind = r.choice(["dir", "file", "file", "exe", "link", "arch", "img"])
        name = r.choice(_LEAF + _SUB).replace("/", "_")
        perms = {"dir": "drwxr-xr-x", "exe": "-rwxr-xr-x", "link": "lrwxrwxrwx"}.get(kind, "-rw-r--r--")
        size = r.randint(0, 99999)
        day, minute = r.randint(1, 28), r.randint(0, 59)
        head = f"{perms} {r.randint(1, 9):>2} root root {size:>6} Jan {day:>2} 12:{minute:02d} "
        color = _LS_COLORS.get(kind)
        shown = f"\x1b[{color}m{name}\x1b[0m" if color else name
        if kind == "link":
            shown += f" -> {self._path()}"
        return head + shown

    def long_line(self) -> str:
        r = self.rng
        words = [r.choice(_WORDS) for _ in range(r.randint(20, 45))]
        level = r.choice(["\x1b[32mINFO\x1b[0m", "\x1b[33mWARN\x1b[0m", "\x1b[31;1mERROR\x1b[0m"])
        return f"2025-02-13T12:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z {level} " + " ".join(words)

    def wide_line(self) -> str:
        r = self.rng
        return (
            f"{r.choice(_EMOJI)} {r.choice(_CJK)}_{r.randint(1, 999)}: {r.choice(_CJK)}{r.choice(_CJK)} "
            f"{r.choice(_EMOJI)} {r.randint(1, 500)} files"
        )

    def link_line(self) -> str:
        r = self.rng
        page = f"docs/{r.choice(_WORDS)}/{r.randint(1, 99)}"
        return (
            f"see \x1b]8;id={r.randint(1, 9999)};https://example.com/{page}\x1b\\{page}"
            f"\x1b]8;;\x1b\\ for {r.choice(_WORDS)} details"
        )

    def prompt(self) -> str:
        return "\x1b[1;32muser@emulator\x1b[0m:\x1b[1;34m~/src\x1b[0m$ "

    def line(self) -> str:
        self.n += 1
        if self.kind == "find":
            return self.find_line()
        kind = self.rng.choices(
            ["find", "ls", "long", "wide", "link", "cmd"], weights=[30, 30, 12, 10, 8, 5]
        )[0]
        if kind == "cmd":
            return self.prompt() + self.rng.choice(["ls -l /usr/lib", "find /usr -name '*.py'", "make -j8"])
        return getattr(self, f"{kind}_line")()

    def lines(self, n: int) -> bytes:
        return "".join(self.line() + "\r\n" for _ in range(n)).encode()


def prefill(term: Terminal, gen: ContentGenerator, n_lines: int, batch: int = 16) -> None:
    """Write ``n_lines`` generated lines in batches (each batch one seqno), then a prompt."""
    done = 0
    while done < n_lines:
        k = min(batch, n_lines - done)
        term.write(gen.lines(k))
        done += k
    term.write(gen.prompt().encode())
