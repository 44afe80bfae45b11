"""The tap: hands relayed bytes to the analysis without ever holding up the relay.

The relay calls :meth:`Tap.submit` for every chunk it forwards. ``submit``
only appends to a bounded queue; when the queue is full the chunk is dropped
and counted, never waited for. A worker thread drains the queue into the
consumers (the decoder/analysis, the capture writer), so decoding a 2,000-row
``GetLinesResponse`` never runs on the event loop that moves the bytes.

Every chunk carries a per-connection, per-direction sequence number, so a
consumer can tell that it missed chunks (and resynchronise) instead of
decoding a frame stitched together from two halves. Exceptions in consumers
are logged and counted, then the worker goes on.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from codec.direction import Direction
from codec.sequence import ChunkNumbers

DEFAULT_QUEUE_CHUNKS = 4096
#: Bytes a lane may hold before it drops: the chunk bound alone would allow
#: 4,096 reads of up to 256 KB each.
DEFAULT_QUEUE_BYTES = 64 * 1024 * 1024


@dataclass(slots=True)
class TapEvent:
    """One thing that happened on the wire, as the relay saw it."""

    kind: str  # "open" | "data" | "close" | "note"
    conn_id: int
    t_ns: int
    direction: Direction | str = ""  # a Direction for "data", empty for the others
    data: bytes = b""
    #: per (conn_id, direction) sequence number of data chunks (gaps = drops)
    seq: int = 0
    info: dict[str, Any] | None = None


class Consumer(Protocol):
    def handle(self, event: TapEvent) -> None: ...

    def flush(self) -> None: ...


class Lane:
    """One consumer with its own bounded queue and worker thread.

    Separate lanes keep a slow consumer (decoding) from making a fast one
    (the capture writer) drop data: each falls behind, drops and counts on
    its own.

    The relay only appends to a deque (no lock, no wake-up call); the worker
    polls it every few milliseconds and drains it in batches. Waking a thread
    per chunk would hand it the GIL in the middle of a round trip and cost the
    relay hundreds of microseconds per small PDU.
    """

    #: poll period while busy, and after IDLE_AFTER_S without work
    BUSY_POLL_S = 0.002
    IDLE_POLL_S = 0.05
    IDLE_AFTER_S = 1.0

    def __init__(
        self,
        consumer: Consumer,
        name: str,
        max_chunks: int,
        on_drop: Callable[[TapEvent], None] | None,
        on_error: Callable[[Consumer, BaseException], None] | None,
        on_lag: Callable[[float], None] | None,
        max_bytes: int = DEFAULT_QUEUE_BYTES,
    ) -> None:
        self.consumer = consumer
        self.name = name
        self.items: collections.deque[TapEvent | None] = collections.deque()
        self.max_chunks = max_chunks
        self.max_bytes = max_bytes
        self._put_bytes = 0  # written by the producer thread only
        self._taken_bytes = 0  # written by the worker thread only
        self.dropped_chunks = 0
        self.dropped_bytes = 0
        self.errors = 0
        self.on_drop = on_drop
        self.on_error = on_error
        self.on_lag = on_lag
        self.thread: threading.Thread | None = None
        self._stopping = False
        self._handled = 0
        self._submitted = 0

    @property
    def queued_bytes(self) -> int:
        return self._put_bytes - self._taken_bytes

    def put(self, event: TapEvent, control: bool) -> None:
        size = len(event.data)
        if control or (len(self.items) < self.max_chunks and self.queued_bytes + size <= self.max_bytes):
            self._put_bytes += size
            self._submitted += 1
            self.items.append(event)  # deque.append is atomic: no lock on the hot path
            return
        self.dropped_chunks += 1
        self.dropped_bytes += size
        if self.on_drop is not None:
            with contextlib.suppress(Exception):
                self.on_drop(event)

    def start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name=f"muxscope-{self.name}", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        items = self.items
        last_work = last_flush = time.monotonic()
        while True:
            if not items:
                now = time.monotonic()
                if now - last_flush > 0.25:
                    self._flush()
                    last_flush = now
                time.sleep(self.BUSY_POLL_S if now - last_work < self.IDLE_AFTER_S else self.IDLE_POLL_S)
                continue
            while items:
                event = items.popleft()
                if event is None:
                    self._flush()
                    return
                self._handle(event)
            self._flush()
            last_work = last_flush = time.monotonic()

    def _handle(self, event: TapEvent) -> None:
        if event.data:
            self._taken_bytes += len(event.data)
            if self.on_lag is not None:
                with contextlib.suppress(Exception):
                    self.on_lag((time.monotonic_ns() - event.t_ns) / 1e9)
        try:
            self.consumer.handle(event)
        except Exception as exc:  # noqa: BLE001 - a consumer bug must not stop the lane
            self._error(exc)
        self._handled += 1

    def _flush(self) -> None:
        try:
            self.consumer.flush()
        except Exception as exc:  # noqa: BLE001
            self._error(exc)

    def _error(self, exc: BaseException) -> None:
        self.errors += 1
        if self.on_error is not None:
            with contextlib.suppress(Exception):
                self.on_error(self.consumer, exc)

    def wait_idle(self, deadline: float) -> bool:
        """True once everything submitted before the call has been handled (tests, shutdown)."""
        target = self._submitted
        while time.monotonic() < deadline:
            if self._handled >= target or self.thread is None:
                time.sleep(self.BUSY_POLL_S)  # let the worker's flush after the batch run
                return True
            time.sleep(0.002)
        return False

    @property
    def queued(self) -> int:
        return len(self.items)

    def stop(self, timeout: float) -> None:
        if self.thread is None:
            return
        self.items.append(None)
        self.thread.join(timeout)
        self.thread = None


class Tap:
    """Bounded, drop-don't-block hand-off from the relay to analysis consumers.

    The first consumer is "the analysis" for the drop/lag metrics; every
    consumer runs in its own :class:`Lane`.
    """

    def __init__(
        self,
        consumers: list[Consumer] | None = None,
        max_chunks: int = DEFAULT_QUEUE_CHUNKS,
        on_drop: Callable[[TapEvent], None] | None = None,
        on_error: Callable[[Consumer, BaseException], None] | None = None,
        on_lag: Callable[[float], None] | None = None,
    ) -> None:
        self.lanes = [
            Lane(c, _lane_name(c, i), max_chunks, on_drop, on_error, on_lag if i == 0 else None)
            for i, c in enumerate(consumers or [])
        ]
        self._chunks = ChunkNumbers()

    # -- producer side (event loop thread) -----------------------------------
    def submit(self, conn_id: int, direction: Direction, t_ns: int, data: bytes) -> None:
        event = TapEvent("data", conn_id, t_ns, direction, data, self._chunks.take((conn_id, direction)))
        for lane in self.lanes:
            lane.put(event, False)

    def open(self, conn_id: int, info: dict[str, Any]) -> None:
        self._control(TapEvent("open", conn_id, time.monotonic_ns(), info=info))

    def close(self, conn_id: int, info: dict[str, Any]) -> None:
        self._chunks.forget_connection(conn_id)
        self._control(TapEvent("close", conn_id, time.monotonic_ns(), info=info))

    def note(self, conn_id: int, info: dict[str, Any]) -> None:
        self._control(TapEvent("note", conn_id, time.monotonic_ns(), info=info))

    def _control(self, event: TapEvent) -> None:
        for lane in self.lanes:
            lane.put(event, True)

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        for lane in self.lanes:
            lane.start()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every lane has handled everything submitted so far (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        return all(lane.wait_idle(deadline) for lane in self.lanes)

    def stop(self, timeout: float = 5.0) -> None:
        for lane in self.lanes:
            lane.stop(timeout)

    # -- figures for metrics (the analysis lane) ----------------------------------
    @property
    def dropped_chunks(self) -> int:
        return self.lanes[0].dropped_chunks if self.lanes else 0

    @property
    def dropped_bytes(self) -> int:
        return self.lanes[0].dropped_bytes if self.lanes else 0

    @property
    def consumer_errors(self) -> int:
        return sum(lane.errors for lane in self.lanes)

    @property
    def queued(self) -> int:
        return self.lanes[0].queued if self.lanes else 0


def _lane_name(consumer: Consumer, index: int) -> str:
    return getattr(consumer, "lane_name", None) or f"{type(consumer).__name__.lower()}-{index}"
