"""What the emulated user does: drag a window corner, type, page through scrollback, or nothing.

Each scenario drives the GUI-level entry points of :class:`~.client.EmulatedClient`
(``gui_resize``, ``key_down``, ``scroll_to``) with realistic pacing and a seeded
random generator, so runs are repeatable.
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from muxscope_emulator.client import EmulatedClient

SCENARIOS = ("resize-drag", "typing", "scroll", "idle", "stream-resize", "type-while-streaming", "editor")
MIN_COLS = 20
MIN_ROWS = 5


def drag_steps(
    rows: int, cols: int, n: int, rng: random.Random, shrink: bool = True
) -> list[tuple[int, int]]:
    """Sizes of a window corner being dragged: a cell or two per step, both axes.

    Columns move by 1-2 cells every step and rows by 0-1, as an OS delivers
    resize events while the pointer moves diagonally; the drag bounces off a
    minimum size instead of collapsing the window.
    """
    sign = -1 if shrink else 1
    out = []
    for _ in range(n):
        dc = rng.choice((1, 1, 2))
        dr = rng.choice((0, 1))
        if cols + sign * dc < MIN_COLS or rows + sign * dr < MIN_ROWS:
            sign = -sign
        cols = max(MIN_COLS, cols + sign * dc)
        rows = max(MIN_ROWS, rows + sign * dr)
        out.append((rows, cols))
    return out


async def resize_drag(client: EmulatedClient) -> None:
    opts = client.options
    rows, cols = client.window_rows_cols()
    steps = drag_steps(rows, cols, opts.resizes, client.rng, shrink=opts.drag != "grow")
    interval = opts.drag_seconds / max(len(steps), 1)
    for rows, cols in steps:
        client.gui_resize(rows, cols)
        await asyncio.sleep(interval * client.rng.uniform(0.7, 1.3))


async def typing(client: EmulatedClient) -> None:
    opts = client.options
    for command in opts.commands:
        for ch in command + "\r":
            client.key_down(ch)
            await asyncio.sleep(opts.key_interval * client.rng.uniform(0.5, 1.5))
        await asyncio.sleep(opts.command_pause)


async def scroll(client: EmulatedClient) -> None:
    opts = client.options
    pane = client.focused_pane()
    if pane is None:
        return
    for page in range(1, opts.scroll_pages + 1):
        top = max(pane.dims["scrollback_top"], pane.dims["physical_top"] - page * pane.dims["viewport_rows"])
        client.scroll_to(pane, top)
        await asyncio.sleep(opts.page_interval)
    client.scroll_to(pane, None)


async def idle(client: EmulatedClient) -> None:
    client.mark_action()
    await asyncio.sleep(client.options.idle_seconds)


async def until_output(client: EmulatedClient, timeout: float = 5.0) -> None:
    """Wait (at most ``timeout``) until the panes have had two more pushes.

    The reported sessions act while output streams; a stream that starts after a delay
    (the server's ``stream_delay_s``, so that attaching can settle) must be running first.
    """
    def pushes() -> int:
        return sum(p.stats.pushes for p in client.panes.values())

    seen = pushes()
    deadline = client.clock() + timeout
    while pushes() < seen + 2 and client.clock() < deadline:
        await asyncio.sleep(0.02)


async def stream_resize(client: EmulatedClient) -> None:
    """wezterm #3694: the window resized (back and forth) while a steady stream prints in the pane."""
    await until_output(client)
    await resize_drag(client)


async def type_while_streaming(client: EmulatedClient) -> None:
    """wezterm #2048: typing in the shown pane while another (a background tab) prints all it can."""
    await until_output(client)
    await typing(client)


#: ``termwiz::input::Modifiers`` bits
MOD_SHIFT, MOD_ALT, MOD_CTRL = 1 << 1, 1 << 2, 1 << 3


async def editor(client: EmulatedClient) -> None:
    """wezterm #2503: in a full-screen editor: insert text, page down and up (Ctrl-F, Ctrl-B), one resize.

    Keys go as SendKeyDown with their modifiers, as wezterm-gui sends them; ``Escape`` leaves insert mode.
    """
    opts = client.options

    async def key(ch: str, mods: int = 0) -> None:
        client.key_down(ch, mods)
        await asyncio.sleep(opts.key_interval * client.rng.uniform(0.5, 1.5))

    for text in opts.commands:
        await key("o")
        for ch in text:
            await key(ch)
        await key("Escape")
        await asyncio.sleep(opts.command_pause)
    for ch in "f" * opts.scroll_pages + "b" * opts.scroll_pages:
        await key(ch, MOD_CTRL)
        await asyncio.sleep(opts.page_interval)
    rows, cols = client.window_rows_cols()
    client.gui_resize(rows - 3, cols - 10)


RUNNERS = {
    "resize-drag": resize_drag, "typing": typing, "scroll": scroll, "idle": idle, "stream-resize": stream_resize,
    "type-while-streaming": type_while_streaming, "editor": editor,
}  # fmt: skip
