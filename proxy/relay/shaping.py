"""Link shaping: give a loopback connection the feel of a remote link.

In the manner of Toxiproxy's latency and bandwidth toxics: a one-way delay,
jitter and a bandwidth limit (token bucket, serialising bytes at the link
rate), per direction. ``muxscope proxy --shape rtt=40ms,bandwidth=20mbit``
wraps the *upstream* side, which is where the slow link is in real use
(wezterm-gui and muxscope on the laptop, the mux server over SSH): requests
reach the server ``rtt/2`` later and responses reach the proxy ``rtt/2``
later, so the proxy measures what the user waits for.

Ordering is preserved (jitter never reorders bytes), EOF and close travel
behind the data, and a link holding more than ``max_buffer`` bytes pauses its
source, so shaping keeps the relay's backpressure instead of buffering
without bound.
"""

from __future__ import annotations

import asyncio
import collections
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from proxy.relay.relay import Side

_UNITS_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
_UNITS_BPS = {"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "bps": 8, "kbps": 8e3, "mbps": 8e6}


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"\s*([0-9.]+)\s*(us|ms|s)?\s*", text)
    if not m:
        raise ValueError(f"not a duration: {text!r} (examples: 40ms, 0.5s)")
    return float(m.group(1)) * _UNITS_S[m.group(2) or "ms"]


def parse_bandwidth(text: str) -> float:
    m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]+)?\s*", text)
    unit = (m.group(2) or "bit").lower() if m else ""
    if not m or unit not in _UNITS_BPS:
        raise ValueError(f"not a bandwidth: {text!r} (examples: 20mbit, 500kbit, 2mbps)")
    return float(m.group(1)) * _UNITS_BPS[unit]


@dataclass(frozen=True)
class LinkShape:
    """One direction's delay is ``rtt/2``; bandwidth (bits/s) applies to each direction."""

    one_way_delay_s: float = 0.0
    jitter_s: float = 0.0
    bandwidth_bps: float | None = None
    max_buffer: int = 4 * 1024 * 1024

    @classmethod
    def parse(cls, spec: str) -> LinkShape:
        """``rtt=40ms,bandwidth=20mbit,jitter=2ms`` (or ``delay=20ms`` for the one-way delay)."""
        kw: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"--shape {spec!r}: expected key=value pairs, e.g. rtt=40ms,bandwidth=20mbit")
            key = key.strip().lower()
            if key == "rtt":
                kw["one_way_delay_s"] = parse_duration(value) / 2
            elif key in ("delay", "latency"):
                kw["one_way_delay_s"] = parse_duration(value)
            elif key == "jitter":
                kw["jitter_s"] = parse_duration(value)
            elif key in ("bandwidth", "rate"):
                kw["bandwidth_bps"] = parse_bandwidth(value)
            else:
                raise ValueError(f"--shape: unknown key {key!r} (rtt, delay, jitter, bandwidth)")
        return cls(**kw)

    def describe(self) -> str:
        parts = [f"rtt={self.one_way_delay_s * 2000:g}ms"]
        if self.bandwidth_bps:
            parts.append(f"bandwidth={self.bandwidth_bps / 1e6:g}mbit")
        if self.jitter_s:
            parts.append(f"jitter={self.jitter_s * 1000:g}ms")
        return ",".join(parts)


class Link:
    """One direction: bytes leave at the link rate and arrive ``delay (+ jitter)`` later, in order.

    Arrivals are delivered from one FIFO by one timer at a time. (A timer per
    chunk is not enough: the event loop's timer heap does not keep the order of
    equal deadlines, and an EOF or close scheduled for the same instant as the
    last data could overtake it; the relay then wrote after EOF, and a late chunk
    reached the tap after the connection's close.)
    """

    def __init__(self, shape: LinkShape, pause: Callable[[], None], resume: Callable[[], None],
                 seed: int | None = None) -> None:
        self.shape = shape
        self.loop = asyncio.get_running_loop()
        self._free_at = 0.0
        self._last_arrival = 0.0
        self._queued = 0
        self._paused = False
        self._pause = pause
        self._resume = resume
        self._rnd = random.Random(seed)
        self._fifo: collections.deque[tuple[float, int, Callable[[], None]]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None

    def _arrival(self, nbytes: int) -> float:
        now = self.loop.time()
        start = max(now, self._free_at)
        if self.shape.bandwidth_bps:
            start += nbytes * 8 / self.shape.bandwidth_bps
        self._free_at = start
        jitter = self._rnd.uniform(-self.shape.jitter_s, self.shape.jitter_s) if self.shape.jitter_s else 0.0
        arrival = max(start + self.shape.one_way_delay_s + jitter, self._last_arrival)
        self._last_arrival = arrival
        return arrival

    def send(self, data: bytes, deliver: Callable[[bytes], None]) -> None:
        self._queued += len(data)
        if not self._paused and self._queued > self.shape.max_buffer:
            self._paused = True
            self._pause()
        self._enqueue(self._arrival(len(data)), len(data), lambda: deliver(data))

    def send_marker(self, action: Callable[[], None]) -> None:
        """Run ``action`` once everything sent before it has arrived (EOF, close)."""
        self._enqueue(self._arrival(0), 0, action)

    def _enqueue(self, arrival: float, nbytes: int, action: Callable[[], None]) -> None:
        self._fifo.append((arrival, nbytes, action))
        if self._timer is None:
            self._timer = self.loop.call_at(arrival, self._deliver_due)

    def _deliver_due(self) -> None:
        self._timer = None
        now = self.loop.time()
        while self._fifo and self._fifo[0][0] <= now:
            _, nbytes, action = self._fifo.popleft()
            self._queued -= nbytes
            if self._paused and self._queued <= self.shape.max_buffer // 2:
                self._paused = False
                self._resume()
            action()
        if self._fifo and self._timer is None:
            self._timer = self.loop.call_at(self._fifo[0][0], self._deliver_due)


class _InnerHook:
    """Stands in for the relay as seen by the wrapped side, delaying what it reports."""

    def __init__(self, shaped: ShapedSide) -> None:
        self.shaped = shaped

    def data_received(self, side: Side, data: bytes) -> None:
        s = self.shaped
        s.in_link.send(data, lambda d: s.relay.data_received(s, d) if s.relay else None)

    def eof_received(self, side: Side) -> None:
        s = self.shaped
        s.in_link.send_marker(lambda: s.relay.eof_received(s) if s.relay else None)

    def connection_lost(self, side: Side, exc: BaseException | None) -> None:
        s = self.shaped
        s.in_link.send_marker(lambda: s.relay.connection_lost(s, exc) if s.relay else None)

    def pause_writing(self, side: Side) -> None:
        if self.shaped.relay is not None:
            self.shaped.relay.pause_writing(self.shaped)

    def resume_writing(self, side: Side) -> None:
        if self.shaped.relay is not None:
            self.shaped.relay.resume_writing(self.shaped)


class ShapedSide(Side):
    """A relay side seen through a slow link (both directions)."""

    def __init__(self, inner: Side, shape: LinkShape) -> None:
        self.inner = inner
        self.shape = shape
        self.relay = None
        inner.relay = _InnerHook(self)  # type: ignore[assignment]
        self.out_link = Link(shape, self._pause_source, self._resume_source)
        self.in_link = Link(shape, inner.pause_reading, inner.resume_reading)

    def _pause_source(self) -> None:
        if self.relay is not None:
            self.relay.pause_writing(self)

    def _resume_source(self) -> None:
        if self.relay is not None:
            self.relay.resume_writing(self)

    def write(self, data: bytes) -> None:
        self.out_link.send(data, self.inner.write)

    def write_eof(self) -> None:
        self.out_link.send_marker(self.inner.write_eof)

    def can_write_eof(self) -> bool:
        return self.inner.can_write_eof()

    def pause_reading(self) -> None:
        self.inner.pause_reading()

    def resume_reading(self) -> None:
        self.inner.resume_reading()

    def start(self) -> None:
        self.inner.start()  # what the wrapped side read before the relay existed goes through the link too

    def close(self) -> None:
        self.out_link.send_marker(self.inner.close)

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "shape": self.shape.describe()}


def shaper_for(shape: LinkShape, role: str = "upstream") -> Callable[[Side, str], Side]:
    """A ``wrap_side`` hook for :class:`~proxy.relay.server.ProxyServer` shaping the ``role`` side."""

    def wrap(side: Side, side_role: str) -> Side:
        return ShapedSide(side, shape) if side_role == role else side

    return wrap
