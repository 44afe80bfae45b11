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

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_QUEUE_CHUNKS = 4096


@dataclass(slots=True)
class TapEvent:
    """One thing that happened on the wire, as the relay saw it."""

    kind: str  # "open" | "data" | "close" | "note"
    conn_id: int
    t_ns: int
    direction: str = ""
    data: bytes = b""
    #: per (conn_id, direction) sequence number of data chunks (gaps = drops)
    seq: int = 0
    info: dict[str, Any] | None = None


class Consumer(Protocol):
    def handle(self, event: TapEvent) -> None: ...

    def flush(self) -> None: ...


class Tap:
    """Bounded, drop-don't-block hand-off from the relay to analysis consumers."""

    def __init__(
        self,
        consumers: list[Consumer] | None = None,
        max_chunks: int = DEFAULT_QUEUE_CHUNKS,
        on_drop: Callable[[TapEvent], None] | None = None,
        on_error: Callable[[Consumer, BaseException], None] | None = None,
        on_lag: Callable[[float], None] | None = None,
    ) -> None:
        self.consumers: list[Consumer] = list(consumers or [])
        self._queue: queue.Queue[TapEvent | None] = queue.Queue(maxsize=max_chunks)
        self._seq: dict[tuple[int, str], int] = {}
        self.dropped_chunks = 0
        self.dropped_bytes = 0
        self.consumer_errors = 0
        self.on_drop = on_drop
        self.on_error = on_error
        self.on_lag = on_lag
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()

    # -- producer side (event loop thread) -----------------------------------
    def submit(self, conn_id: int, direction: str, t_ns: int, data: bytes) -> None:
        key = (conn_id, direction)
        seq = self._seq.get(key, 0)
        self._seq[key] = seq + 1
        self._put(TapEvent("data", conn_id, t_ns, direction, data, seq))

    def open(self, conn_id: int, info: dict[str, Any]) -> None:
        self._put(TapEvent("open", conn_id, time.monotonic_ns(), info=info), control=True)

    def close(self, conn_id: int, info: dict[str, Any]) -> None:
        self._seq.pop((conn_id, "client_to_server"), None)
        self._seq.pop((conn_id, "server_to_client"), None)
        self._put(TapEvent("close", conn_id, time.monotonic_ns(), info=info), control=True)

    def note(self, conn_id: int, info: dict[str, Any]) -> None:
        self._put(TapEvent("note", conn_id, time.monotonic_ns(), info=info), control=True)

    def _put(self, event: TapEvent, control: bool = False) -> None:
        try:
            self._queue.put_nowait(event)
            self._idle.clear()
        except queue.Full:
            if control:
                # open/close are tiny and the analysis needs them to stay
                # consistent; wait briefly for room rather than lose them.
                with contextlib.suppress(queue.Full):
                    self._queue.put(event, timeout=0.05)
                    self._idle.clear()
                    return
            self.dropped_chunks += 1
            self.dropped_bytes += len(event.data)
            if self.on_drop is not None:
                with contextlib.suppress(Exception):
                    self.on_drop(event)

    # -- consumer side (worker thread) ------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="muxscope-analysis", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        q = self._queue
        last_flush = time.monotonic()
        while True:
            try:
                event = q.get(timeout=0.25)
            except queue.Empty:
                self._flush_all()
                last_flush = time.monotonic()
                if q.empty():
                    self._idle.set()
                continue
            if event is None:
                self._flush_all()
                self._idle.set()
                return
            if self.on_lag is not None and event.kind == "data":
                with contextlib.suppress(Exception):
                    self.on_lag((time.monotonic_ns() - event.t_ns) / 1e9)
            for consumer in self.consumers:
                try:
                    consumer.handle(event)
                except Exception as exc:
                    self.consumer_errors += 1
                    if self.on_error is not None:
                        with contextlib.suppress(Exception):
                            self.on_error(consumer, exc)
            if time.monotonic() - last_flush > 1.0:
                self._flush_all()
                last_flush = time.monotonic()
            if q.empty():
                self._flush_all()
                last_flush = time.monotonic()
                self._idle.set()

    def _flush_all(self) -> None:
        for consumer in self.consumers:
            try:
                consumer.flush()
            except Exception as exc:
                self.consumer_errors += 1
                if self.on_error is not None:
                    with contextlib.suppress(Exception):
                        self.on_error(consumer, exc)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until the worker has handled everything submitted so far (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.empty() and self._idle.wait(timeout=0.02) and self._queue.empty():
                return True
        return False

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        self._thread = None

    @property
    def queued(self) -> int:
        return self._queue.qsize()
