"""Sinks: where the analysis's results (:mod:`proxy.analysis.results`) become log events and metrics.

The analysis only computes; these decide what a user sees. :class:`LogSink` writes the log events
(``pdu``, ``decode_error``, ``codec_version``, ``getlines``, ``resize_burst``, ``connection_summary``,
``note``), :class:`MetricsSink` updates the Prometheus metrics, :class:`RowLog` keeps every judged row
(for truth checks), and :class:`LiveAnalysis` runs an analyzer as a tap consumer with the clock
and the sinks a live proxy needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from codec.pdu import LinesSummary, Pdu
from proxy.analysis.analyzer import Analyzer, lines_of
from proxy.analysis.results import (
    BonusRowsDelivered,
    BurstClosed,
    CodecVersionSeen,
    ConnectionClosed,
    DecodeErrorSeen,
    FetchJudged,
    NoteSeen,
    PduSeen,
    Result,
    RowsRequested,
    RpcCompleted,
)
from proxy.observe import logs
from proxy.observe.metrics import Metrics
from proxy.relay.tap import TapEvent

Sink = Callable[[Result], None]


def fan_out(sinks: Iterable[Sink | None]) -> Sink:
    """One sink that hands each result to every sink given, in order."""
    targets = tuple(s for s in sinks if s is not None)

    def emit(result: Result) -> None:
        for sink in targets:
            sink(result)

    return emit


class LogSink:
    """Results as structlog events, one per line (terminal content only with ``--log-content``)."""

    def __init__(self, logger: Any = None) -> None:
        self.log = logger if logger is not None else logs.get_logger()

    def __call__(self, r: Result) -> None:
        log = self.log
        if isinstance(r, PduSeen):
            pdu = r.pdu
            log.debug(
                "pdu", conn=r.conn, direction=r.direction, pdu=pdu.name, serial=pdu.serial,
                wire_bytes=pdu.wire_len, payload_bytes=len(pdu.payload), compressed=pdu.compressed,
                **({"body": _short(pdu)} if logs.content_allowed() else {}),
            )
        elif isinstance(r, RpcCompleted):
            if r.getlines is not None:
                log.info("getlines", **r.getlines)
        elif isinstance(r, DecodeErrorSeen):
            if r.worth_logging:
                log.warning("decode_error", conn=r.conn, direction=r.direction, offset=r.offset,
                            reason=r.reason, detail=r.detail)
        elif isinstance(r, CodecVersionSeen):
            log.info("codec_version", conn=r.conn, codec_version=r.codec_version, decoding_as=r.decoding_as)
        elif isinstance(r, BurstClosed):
            log.info("resize_burst", **{k: v for k, v in r.summary.to_json().items() if k != "resize_offsets_s"})
        elif isinstance(r, ConnectionClosed):
            log.info("connection_summary", **r.summary)
        elif isinstance(r, NoteSeen):
            log.info("note", conn=r.conn, **r.info)


class MetricsSink:
    """Results as Prometheus metrics (names and labels in :mod:`proxy.observe.metrics`)."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def __call__(self, r: Result) -> None:
        m = self.m
        if isinstance(r, PduSeen):
            pdu = r.pdu
            m.pdus.labels(r.direction, pdu.name).inc()
            m.pdu_wire_bytes.labels(r.direction, pdu.name).inc(pdu.wire_len)
            m.pdu_decompressed_bytes.labels(r.direction, pdu.name).inc(len(pdu.payload))
            if r.unsolicited:
                m.unsolicited.labels(pdu.name).inc()
        elif isinstance(r, RpcCompleted):
            m.rpc_latency.labels(r.request_name).observe(r.latency_s)
            if r.getlines is not None:
                m.getlines_rows_requested.inc(r.rows_requested)
                m.getlines_rows_returned.inc(r.rows_returned)
        elif isinstance(r, FetchJudged):
            self._fetch(r)
        elif isinstance(r, RowsRequested):
            for cause, n in r.causes.items():
                m.rows_fetched.labels(cause).inc(n)
        elif isinstance(r, BonusRowsDelivered):
            for out, n in r.outcomes.items():
                m.rows_delivered.labels("bonus", out).inc(n)
        elif isinstance(r, DecodeErrorSeen):
            m.decode_errors.labels(r.reason).inc()
        elif isinstance(r, BurstClosed):
            m.resize_bursts.inc()
            m.burst_settle.observe(r.settle_s)
            m.burst_rows.observe(r.rows_requested)

    def _fetch(self, r: FetchJudged) -> None:
        m = self.m
        for row in r.rows:
            m.rows_delivered.labels("getlines", row.outcome).inc()
            if row.raced is not None:
                m.raced_rows.labels(row.raced).inc()
        for out, w in r.wait_by_outcome.items():
            if w:
                m.fetch_wait.labels(out).inc(w)
        for out, w in r.wall_by_outcome.items():
            if w:
                m.fetch_wall.labels(out).inc(w)
        m.overfetch_bytes.labels("wire").inc(r.overfetch_wire_bytes)
        m.overfetch_bytes.labels("decompressed").inc(r.overfetch_decompressed_bytes)


class RowLog:
    """Every judged row, and the requests judged to have crossed a push: for truth checks."""

    def __init__(self) -> None:
        #: (conn, serial, pane, row, outcome, cause) per fetched row
        self.rows: list[tuple[int, int, int, int, str, str]] = []
        #: (conn, serial) of each GetLines judged to have crossed a push
        self.crossed: set[tuple[int, int]] = set()
        #: (conn, serial, pane, row) of each raced row
        self.raced: set[tuple[int, int, int, int]] = set()

    def __call__(self, r: Result) -> None:
        if isinstance(r, FetchJudged):
            self.rows.extend((j.conn, j.serial, j.pane, j.row, j.outcome, j.cause) for j in r.rows)
            self.raced.update((j.conn, j.serial, j.pane, j.row) for j in r.rows if j.raced is not None)
        elif isinstance(r, RowsRequested) and r.crossed:
            self.crossed.add((r.conn, r.serial))


class LiveAnalysis:
    """An analyzer as a tap consumer in a live proxy: time passes by the monotonic clock, and the
    log is flushed whenever the tap's lane catches up."""

    #: the tap lane's (and its thread's) name
    lane_name = "analyzer-0"

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer

    def handle(self, event: TapEvent) -> None:
        self.analyzer.handle(event)

    def flush(self) -> None:
        self.analyzer.flush(time.monotonic_ns())
        logs.flush()


def _short(pdu: Pdu) -> Any:
    body = pdu.to_json() if not isinstance(lines_of(pdu), LinesSummary) else {"lines": "..."}
    text = repr(body)
    return text if len(text) < 2000 else text[:2000] + "..."
