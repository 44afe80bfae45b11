"""The emulated wezterm-gui main thread: one FIFO of turns, and paints only when invalidated.

wezterm-gui does everything that touches a pane on one thread. The mux client's
reader thread hands it work through ``promise::spawn`` (``window/src/spawn.rs``
``SpawnQueue``: one FIFO, one runnable per turn on X11, the window's own events
dispatched only when the queue is empty):

* a push (serial 0) takes **two** turns before ``apply_changes_to_surface`` runs:
  ``spawn_into_main_thread`` in ``client.rs: process_unilateral`` (~:323-327), then
  ``promise::spawn`` in ``process_unilateral_inner`` (~:116-121), then
  ``ClientPane::process_unilateral`` applies it (clientpane.rs ~:139-150);
* a GetLines reply takes **one**: it wakes the task ``schedule_fetch_lines`` spawned
  (renderable.rs ~:511-530), which runs ``apply_lines``.

So a reply read just after a push is applied before it whenever the push's first
turn had not run yet; the busier the thread (a paint in progress), the more often.
A paint happens only when something invalidated the window (PaneOutput of a visible
pane, input), only when no turn is queued, and at most ``max_fps`` (60) times a
second (x11/window.rs ``dispatch_pending_events``, ``paint_throttled``). A paint costs
time in proportion to the rows it draws (``paint_row_ms``, an estimate: 0.15 ms per
row is a 24-row screen in 3.6 ms, about what a mid-range GPU build of wezterm-gui
takes per frame); input (a resize step, a key, a scroll) is a turn of its own.

:class:`GuiOrder` ``queue`` is that emulation; ``reply-first`` and ``push-first`` force
one order for a reply and a push that race (``reply-first``: a push read while fetches on
its pane are in flight waits until their replies are applied, and a reply goes before every
push still queued; ``push-first``: both take one turn, so they are applied in the order they
were read), so tests can run one session each way.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

#: ``config.max_fps`` default
DEFAULT_MAX_FPS = 60.0
#: milliseconds a paint costs per row drawn (an estimate; ``--paint-row-ms``)
DEFAULT_PAINT_ROW_MS = 0.15


class GuiOrder(enum.StrEnum):
    QUEUE = "queue"
    REPLY_FIRST = "reply-first"
    PUSH_FIRST = "push-first"


GUI_ORDERS = tuple(o.value for o in GuiOrder)


class TurnKind(enum.StrEnum):
    PUSH = "push"
    REPLY = "reply"
    INPUT = "input"
    OTHER = "other"


@dataclass(slots=True)
class Turn:
    kind: TurnKind
    run: Callable[[], None]


@dataclass
class QueueStats:
    """What the queue saw: turns run, paints and their cost, and replies applied before a push
    that was read before them (the reordering this module exists for)."""

    turns: int = 0
    paints: int = 0
    paint_s: float = 0.0
    replies_before_push: int = 0
    #: per reply applied: how many pushes read before it were still queued
    overtaken: list[int] = field(default_factory=list)


class GuiQueue:
    """The main thread: :meth:`push`, :meth:`reply`, :meth:`input` and :meth:`call` queue turns;
    :meth:`run` executes them one at a time and paints (``paint()`` returns the rows it drew)
    when invalidated and the queue is empty."""

    def __init__(self, order: GuiOrder | str = GuiOrder.QUEUE, paint: Callable[[], int] | None = None,
                 paint_row_ms: float = DEFAULT_PAINT_ROW_MS, max_fps: float = DEFAULT_MAX_FPS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.order = GuiOrder(order)
        self.paint = paint
        self.paint_row_s = paint_row_ms / 1000
        self.frame_s = 1.0 / max_fps
        self.clock = clock
        self.turns: deque[Turn] = deque()
        self.invalidated = False
        self.next_paint = 0.0
        self.stats = QueueStats()
        #: pushes read and not yet applied (their final turn has not run), by the order read
        self.pushes_waiting = 0
        self._push_seq = 0
        self._waiting: set[int] = set()
        #: ``reply-first``: pushes held until the replies they raced are applied, in read order
        self._held: deque[tuple[set[int], Callable[[], None]]] = deque()
        self._wake = asyncio.Event()

    # -- queueing ------------------------------------------------------------------------------
    def _append(self, turn: Turn) -> None:
        self.turns.append(turn)
        self._wake.set()

    def push(self, apply: Callable[[], None], racing: frozenset[int] | tuple[int, ...] = ()) -> None:
        """A push read by the client thread: applied after two turns (``queue``) or one.
        ``racing``: the fetches (their keys, see :meth:`reply`) in flight on its pane when it was
        read; ``reply-first`` holds the push until their replies were applied (or given up)."""
        self.pushes_waiting += 1
        self._push_seq += 1
        seq = self._push_seq
        self._waiting.add(seq)

        def final() -> None:
            self.pushes_waiting -= 1
            self._waiting.discard(seq)
            apply()

        if self.order is GuiOrder.QUEUE:
            self._append(Turn(TurnKind.PUSH, lambda: self._append(Turn(TurnKind.PUSH, final))))
        elif self.order is GuiOrder.REPLY_FIRST and (racing or self._held):
            self._held.append((set(racing), final))
        else:
            self._append(Turn(TurnKind.PUSH, final))

    def forget(self, key: int) -> None:
        """The fetch ``key`` is answered (its reply applied) or given up: pushes held for it go on."""
        for keys, _ in self._held:
            keys.discard(key)
        while self._held and not self._held[0][0]:
            self._append(Turn(TurnKind.PUSH, self._held.popleft()[1]))

    def reply(self, apply: Callable[[], None], key: int | None = None) -> None:
        """A GetLines reply read: its awaiting task is woken, one turn (``reply-first``: ahead of
        every push turn still queued)."""
        read_after = self._push_seq

        def run() -> None:
            overtaken = sum(1 for seq in self._waiting if seq <= read_after)
            if overtaken:
                self.stats.replies_before_push += 1
            self.stats.overtaken.append(overtaken)
            apply()
            if key is not None:
                self.forget(key)

        turn = Turn(TurnKind.REPLY, run)
        if self.order is GuiOrder.REPLY_FIRST:
            for i, queued in enumerate(self.turns):
                if queued.kind is TurnKind.PUSH:
                    self.turns.insert(i, turn)
                    self._wake.set()
                    return
        self._append(turn)

    def input(self, action: Callable[[], None]) -> None:
        """User input (a resize step, a key, a scroll): a turn, and the window is invalidated."""

        def run() -> None:
            action()
            self.invalidate()

        self._append(Turn(TurnKind.INPUT, run))

    def call(self, fn: Callable[[], None]) -> None:
        """Any other work for the main thread (``spawn_into_main_thread`` once)."""
        self._append(Turn(TurnKind.OTHER, fn))

    def invalidate(self) -> None:
        """``Window::invalidate``: a paint is due (coalesced, throttled to max_fps)."""
        self.invalidated = True
        self._wake.set()

    @property
    def idle(self) -> bool:
        """Nothing queued or held, and nothing to paint."""
        return not self.turns and not self._held and not self.invalidated

    # -- the main loop -------------------------------------------------------------------------
    async def run(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """One turn at a time (the reader keeps reading in between), a paint when idle and due."""
        while True:
            if self.turns:
                turn = self.turns.popleft()
                self.stats.turns += 1
                turn.run()
                # wezterm-gui reads its socket on a thread of its own, so what reached the socket during
                # this turn is queued before the next turn or paint. asyncio runs this task's wake-up
                # before the reader callback the same poll found ready, so yield twice: the reader
                # then goes first (one yield let a paint write GetLines ahead of a push already there,
                # a crossing WezTerm does not have; README "Raced rows")
                await sleep(0)
                await sleep(0)
                continue
            if self.invalidated and self.paint is not None and not self._held:
                # (a held push is still in the queue, as far as the window knows: no paint yet)
                now = self.clock()
                if now >= self.next_paint:
                    await self._paint(now, sleep)
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.next_paint - now)
                continue
            self._wake.clear()
            await self._wake.wait()

    async def _paint(self, now: float, sleep: Callable[[float], Awaitable[None]]) -> None:
        assert self.paint is not None
        self.invalidated = False
        self.next_paint = now + self.frame_s
        rows = self.paint()
        cost = rows * self.paint_row_s
        self.stats.paints += 1
        self.stats.paint_s += cost
        await sleep(cost)
