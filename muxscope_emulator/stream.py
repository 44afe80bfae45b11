"""A steady text stream in one pane: a program printing lines while the user does something else.

WezTerm's issue #3694 (resizing while output streams) and #2048 (a huge stdout
freezes the mux) are sessions where one pane prints continuously. The emulated
server's ``--output-rate`` writes into every pane in bursts of ~20 a second;
this writes into one pane (``--stream-pane``) at ``--stream-lines-per-s``, each
line as its own batch of pty output while the rate allows it, as a program
writing one line per ``write(2)`` does. WezTerm's parser coalesces what arrives
within ``mux_output_parser_coalesce_delay_ms`` (3 ms,
mux/src/localpane.rs; docs/wezterm-behaviour.md) into one ``perform_actions``
batch, so a faster stream is written as one batch per 3 ms tick. ``max`` writes
as fast as the event loop allows: each batch as many lines as were owed, then a
yield, so the achieved rate is what the emulated terminal can absorb.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

#: ``mux_output_parser_coalesce_delay_ms``: output closer together than this is one batch
COALESCE_S = 0.003
#: ``max``: lines written per batch before yielding to the loop (requests keep being answered)
MAX_BATCH_LINES = 64


def parse_rate(text: str) -> float | None:
    """``--stream-lines-per-s``: a positive number, or ``max`` (None: as fast as possible)."""
    if text == "max":
        return None
    rate = float(text)
    if not rate > 0:
        raise ValueError("--stream-lines-per-s must be positive or 'max'")
    return rate


@dataclass
class StreamStats:
    """What the stream wrote (the measurement ``--stream-lines-per-s max`` is for)."""

    lines: int = 0
    batches: int = 0
    started: float = 0.0
    ended: float = 0.0

    @property
    def lines_per_s(self) -> float:
        span = self.ended - self.started
        return self.lines / span if span > 0 else 0.0


async def run_stream(
    write: Callable[[int], bool],
    rate: float | None,
    delay_s: float = 0.0,
    stats: StreamStats | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> StreamStats:
    """Call ``write(n)`` (n lines as one batch; False: the pane is gone) until cancelled or gone.

    ``rate`` lines per second (None: ``max``). Lines owed are computed from the
    clock, not from sleep counts, so a late wake-up writes the lines it missed
    in one batch, as a coalescing parser would see them.
    """
    stats = stats or StreamStats()
    if delay_s > 0:
        await asyncio.sleep(delay_s)
    stats.started = stats.ended = clock()
    interval = COALESCE_S if rate is None else max(1.0 / rate, COALESCE_S)
    while True:
        n = MAX_BATCH_LINES if rate is None else int((clock() - stats.started) * rate) + 1 - stats.lines
        if n > 0:
            if not write(n):
                return stats
            stats.lines += n
            stats.batches += 1
        stats.ended = clock()
        await asyncio.sleep(0 if rate is None else interval)
