"""Feeding a capture to the same analysis a live proxy runs.

A capture holds the relay's chunks with their read timestamps, so replaying
its records as tap events gives the analysis exactly what it saw live: the
same frames, the same chunk boundaries, the same times. That is what makes
``muxscope report`` and ``muxscope replay`` agree with the live logs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from codec.sequence import ChunkNumbers
from proxy.analysis.analyzer import Analyzer
from proxy.analysis.attribution import AttributionAddon
from proxy.analysis.bursts import DEFAULT_BURST_GAP_S
from proxy.analysis.fetchlimit import DEFAULT_PREFETCHES_PER_SECOND
from proxy.analysis.localecho import capture_threshold
from proxy.capture.format import CaptureReader, open_capture
from proxy.observe.metrics import Metrics
from proxy.observe.sinks import LogSink, MetricsSink, fan_out
from proxy.relay.tap import TapEvent


@dataclass
class OfflineResult:
    analyzer: Analyzer
    attribution: AttributionAddon
    header: dict[str, Any]
    truncated: bool
    truncation_reason: str
    records: int
    duration_s: float
    dropped_chunks: int


class Progress:
    """A one-line progress indicator on stderr for long captures (only on a terminal)."""

    def __init__(self, total_bytes: int | None, label: str, enabled: bool | None = None) -> None:
        self.total = total_bytes
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = 0.0
        self.started = time.monotonic()

    def update(self, done_bytes: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.2:
            return
        self._last = now
        if self.total:
            pct = min(100.0, 100.0 * done_bytes / self.total)
            sys.stderr.write(f"\r{self.label}: {pct:5.1f}% of {self.total / 1e6:.1f} MB")
        else:
            sys.stderr.write(f"\r{self.label}: {done_bytes / 1e6:.1f} MB")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write(f"\r{self.label}: done in {time.monotonic() - self.started:.1f} s" + " " * 20 + "\n")
            sys.stderr.flush()


def _pace(due_s: float, wall0: float) -> None:
    """Sleep until ``due_s`` after ``wall0`` (a replay at a given speed)."""
    delay = due_s - (time.monotonic() - wall0)
    if delay > 0:
        time.sleep(delay)


def replay_records(
    reader: CaptureReader,
    analyzer: Analyzer,
    *,
    speed: float | None = None,
    progress: Progress | None = None,
    on_event: Callable[[TapEvent], None] | None = None,
) -> tuple[int, float, int]:
    """Feed every record to ``analyzer`` (paced by ``speed`` when given); returns (records, duration_s, drops)."""
    chunks = ChunkNumbers()
    closed: set[int] = set()
    n = 0
    first_t: int | None = None
    last_t = 0
    drops = 0
    wall0 = time.monotonic()
    for rec in reader.records():
        n += 1
        if first_t is None:
            first_t = rec.t_ns
        last_t = rec.t_ns
        if speed:
            _pace((rec.t_ns - first_t) / 1e9 / speed, wall0)
        if rec.kind in ("data", "dropped") and rec.conn_id in closed:
            # Written after the connection's close record (captures made before the relay stopped
            # reporting late bytes): they belong to no connection, and must not open a second one.
            continue
        if rec.kind == "data":
            seq = chunks.take((rec.conn_id, rec.direction))
            event = TapEvent("data", rec.conn_id, rec.t_ns, rec.direction, rec.data, seq)
        elif rec.kind == "dropped":
            # the live capture lane lost chunks here: make the gap visible to the decoder
            missed = max(0, int(rec.info.get("chunks", 1)))  # never negative: a gap cannot be undone
            chunks.skip((rec.conn_id, rec.direction), missed)
            drops += missed
            continue
        elif rec.kind in ("open", "close", "note"):
            event = TapEvent(rec.kind, rec.conn_id, rec.t_ns, info=rec.info)
            if rec.kind == "close":
                closed.add(rec.conn_id)
                chunks.forget_connection(rec.conn_id)
        else:
            continue
        analyzer.handle(event)
        if on_event is not None:
            on_event(event)
        if progress is not None and n % 256 == 0:
            progress.update(reader.bytes_read)
    # connections still open at the end of the capture
    for conn_id in list(analyzer.connections):
        analyzer.handle(TapEvent("close", conn_id, last_t, info={"closed_by": "end of capture"}))
    analyzer.flush()
    duration = (last_t - first_t) / 1e9 if first_t is not None else 0.0
    return n, duration, drops


def analyze_capture(
    path: str,
    *,
    codec_version: int | None = None,
    burst_gap_s: float = DEFAULT_BURST_GAP_S,
    client_model: str = "wezterm",
    local_echo: str = "auto",
    prefetch_rate: int = DEFAULT_PREFETCHES_PER_SECOND,
    metrics: Metrics | None = None,
    speed: float | None = None,
    show_progress: bool | None = None,
    log_events: bool = True,
) -> OfflineResult:
    """Run the live analysis over a capture; ``log_events`` writes its log events as a proxy would
    (the report prints tables instead), ``metrics`` updates those metrics, ``speed`` replays in time."""
    reader = open_capture(path)
    try:
        attribution = AttributionAddon(burst_gap_s=burst_gap_s, client_model=client_model, prefetch_rate=prefetch_rate,
                                       local_echo_ms=capture_threshold(local_echo, reader.header))
        sinks = [LogSink() if log_events else None, MetricsSink(metrics) if metrics is not None else None]
        analyzer = Analyzer([attribution], codec_version, emit=fan_out(sinks))
        progress = Progress(reader.total_bytes, f"analysing {path}", show_progress)
        n, duration, drops = replay_records(reader, analyzer, speed=speed, progress=progress)
        attribution.finish()
        progress.done()
        return OfflineResult(analyzer, attribution, reader.header, reader.truncated, reader.truncation_reason,
                             n, duration, drops)
    finally:
        reader.f.close()
