"""The emulated mux's windows, tabs and panes, and the tiny shell behind each pane's pty.

Kept apart from the session handler (:mod:`.session`) and the listeners
(:mod:`.server`) because it is the state both read: ``mux/src/{pane,tab,window}.rs``
reduced to what fetch traffic depends on. A pane is a
:class:`~muxscope_emulator.terminal.Terminal` plus a deterministic shell, so typing
produces the echo and command output a real pane would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from muxscope_emulator.content import ContentGenerator
from muxscope_emulator.editorapp import EditorApp
from muxscope_emulator.palette import default_palette
from muxscope_emulator.terminal import Terminal


class Pane:
    """A ``LocalPane``: a terminal, its ids, and a small deterministic shell behind its pty."""

    def __init__(
        self,
        pane_id: int,
        tab_id: int,
        window_id: int,
        rows: int,
        cols: int,
        scrollback: int,
        seed: int,
        pixel_width: int = 0,
        pixel_height: int = 0,
        dpi: int = 0,
        app: str = "shell",
    ) -> None:
        self.pane_id, self.tab_id, self.window_id = pane_id, tab_id, window_id
        self.terminal = Terminal(
            rows, cols, scrollback, pixel_width=pixel_width, pixel_height=pixel_height, dpi=dpi
        )
        self.generator = ContentGenerator(seed * 1000003 + pane_id)
        self.working_dir: str | None = "file://emulator/home/user/src"
        #: the palette a client advised (SetPalette): the terminal's configured palette
        self.palette: dict[str, Any] | None = None
        self.terminal.base_palette = lambda: self.palette if self.palette is not None else default_palette()
        #: the full-screen program in the foreground (``--app editor``), else the shell
        self.editor: EditorApp | None = None
        if app == "editor":
            self.editor = EditorApp(seed * 1000003 + pane_id, self.terminal.rows, self.terminal.cols)
        self.dead = False
        self._command = ""

    @property
    def title(self) -> str:
        """``LocalPane::get_title``: the default title "wezterm" becomes the process name."""
        t = self.terminal.title
        return "bash" if t == "wezterm" else t

    def get_palette(self) -> dict[str, Any]:
        """``LocalPane::palette`` = ``Terminal::palette``: an escape's override, else the configured one."""
        if self.terminal.palette is not None:
            return self.terminal.palette
        return self.terminal.base_palette()

    def winch(self) -> bytes:
        """What the foreground program writes on SIGWINCH: the editor redraws its screen; the shell
        (readline's ``_rl_redisplay_after_sigwinch``) returns to column 0, erases the line and
        redraws the prompt and what was typed."""
        term = self.terminal
        if self.editor is not None:
            return self.editor.winch(term.rows, term.cols)
        return ("\r\x1b[K" + self.generator.prompt() + self._command).encode()

    def snapshot(self, rows: Any = None) -> dict[int, bytes]:
        return self.terminal.snapshot(rows)

    def text_rows(self, rows: Any = None) -> dict[int, str]:
        return self.terminal.text_rows(rows)

    def serialize_lines(self, rows: Any = None) -> dict[str, Any]:
        return self.terminal.serialize_lines(rows)

    def shell_input(self, data: bytes) -> bytes:
        """What the pty echoes back for ``data``: echo, line editing, command output, prompt
        (or, with the editor in the foreground, what it redraws)."""
        if self.editor is not None:
            return self.editor.input(data)
        out: list[str] = []
        gen = self.generator
        for ch in data.decode("utf-8", "replace"):
            if ch in "\r\n":
                out.append("\r\n")
                result = self._run(self._command.strip())
                if result:
                    out.append(result + "\r\n")
                out.append(gen.prompt())
                self._command = ""
            elif ch in "\x7f\x08":
                if self._command:
                    self._command = self._command[:-1]
                    out.append("\b \b")
            elif ch == "\x03":
                out.append("^C\r\n" + gen.prompt())
                self._command = ""
            elif ch >= " ":
                self._command += ch
                out.append(ch)
        return "".join(out).encode()

    def _run(self, cmd: str) -> str:
        gen = self.generator
        if not cmd:
            return ""
        name, _, arg = cmd.partition(" ")
        if name == "ls":
            return "\r\n".join(gen.ls_line() for _ in range(8))
        if name == "find":
            return "\r\n".join(gen.find_line() for _ in range(12))
        if name == "echo":
            return arg
        if name == "cat":
            return "\r\n".join(gen.line() for _ in range(20))
        return f"bash: {name}: command not found"


@dataclass
class Tab:
    tab_id: int
    window_id: int
    pane_ids: list[int]
    active_pane: int
    title: str = ""
    zoomed: bool = False
    #: the split tree (``servertabs``: a :class:`~.splittree.TabTree`), made on first use
    tree: Any = None


@dataclass
class Window:
    window_id: int
    title: str = ""
    workspace: str = "default"
    tab_ids: list[int] = field(default_factory=list)
