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

SCENARIOS = ("resize-drag", "typing", "scroll", "idle")
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


RUNNERS = {"resize-drag": resize_drag, "typing": typing, "scroll": scroll, "idle": idle}
