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

SCENARIOS = ("resize-drag", "typing", "scroll", "idle", "divider-drag", "zoom", "stream-resize",
             "type-while-streaming", "editor")
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


def divider_steps(start: int, n: int, width: int, rng: random.Random, shrink: bool = True) -> list[int]:
    """Pointer columns of a divider being dragged: 1-2 cells per move, bouncing off the tab's edges."""
    sign = -1 if shrink else 1
    x, out = start, []
    for _ in range(n):
        dx = rng.choice((1, 1, 2))
        if not 2 <= x + sign * dx <= width - 3:
            sign = -sign
        x = min(max(2, x + sign * dx), width - 3)
        out.append(x)
    return out


async def divider_drag(client: EmulatedClient) -> None:
    """Drag the shown tab's first divider (``--layout split`` on the server): ``resizes`` pointer
    moves over ``drag_seconds`` (mouseevent.rs ``drag_split``)."""
    opts = client.options
    tab = client.shown_tab()
    splits = tab.tree.iter_splits() if tab is not None else []
    if tab is None or not splits:
        client.errors.append("divider-drag: the shown tab has no split (serve it with --layout split)")
        return
    client.mark_action()
    steps = divider_steps(splits[0].left, opts.resizes, tab.tree.size["cols"], client.rng, shrink=opts.drag != "grow")
    interval = opts.drag_seconds / max(len(steps), 1)
    for x in steps:
        client.mark_action()
        client.split_stats.pointer = x
        client.drag_split(tab, 0, x)
        await asyncio.sleep(interval * client.rng.uniform(0.7, 1.3))


async def zoom(client: EmulatedClient) -> None:
    """Zoom the shown tab's active pane (TogglePaneZoomState), stay ``zoom_seconds``, unzoom."""
    tab = client.shown_tab()
    if tab is None:
        return
    client.mark_action()
    client.toggle_zoom(tab)
    await asyncio.sleep(client.options.zoom_seconds)
    client.mark_action()
    client.toggle_zoom(tab)


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
    """wezterm #2048: typing in the shown pane while another (a background tab) prints all it can; then
    Ctrl-C, as a user trying to get the mux back does."""
    await until_output(client)
    await typing(client)
    client.key_down("c", MOD_CTRL)


#: ``termwiz::input::Modifiers`` bits
MOD_SHIFT, MOD_ALT, MOD_CTRL = 1 << 1, 1 << 2, 1 << 3
#: a held key repeats about this often (the OS's key repeat)
KEY_REPEAT_S = 0.033


async def editor(client: EmulatedClient) -> None:
    """wezterm #2503, in the full-screen editor (``--app editor``, which starts in insert mode): type lines,
    Escape to normal mode, hold ``j`` down through ``scroll_pages`` screens and ``k`` back up (the editor
    scrolls by redrawing every row), then one resize. Keys go as SendKeyDown, as wezterm-gui sends them."""
    opts = client.options

    async def key(ch: str, pause: float) -> None:
        client.key_down(ch)
        await asyncio.sleep(pause * client.rng.uniform(0.8, 1.2))

    for text in opts.commands:
        for ch in text + "\r":
            await key(ch, opts.key_interval)
        await asyncio.sleep(opts.command_pause)
    await key("Escape", opts.command_pause)
    rows, cols = client.window_rows_cols()
    for ch, n in (("j", (opts.scroll_pages + 1) * rows), ("k", opts.scroll_pages * rows + 1)):
        for _ in range(n):  # down to the last row, then a page each further rows; up again past the top
            await key(ch, KEY_REPEAT_S)
    client.gui_resize(rows - 3, cols - 10)


RUNNERS = {
    "resize-drag": resize_drag, "typing": typing, "scroll": scroll, "idle": idle, "divider-drag": divider_drag,
    "zoom": zoom, "stream-resize": stream_resize, "type-while-streaming": type_while_streaming, "editor": editor,
}  # fmt: skip
