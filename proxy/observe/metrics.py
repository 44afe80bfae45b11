"""Prometheus metrics: names, units and labels in one place.

Conventions (prometheus-client's and Prometheus's own): prefix ``muxscope_``,
base units (seconds, bytes), ``_total`` on counters, and only bounded label
values: PDU names from WezTerm's table (or ``Unknown``), the two directions,
fixed reason/outcome/cause vocabularies. Never pane titles, text or ids.

Each proxy (and each test) owns a :class:`Metrics` with its own registry, so
several can live in one process. Relay byte counts are read from plain ints at
scrape time by a custom collector, keeping even a counter increment off the
relay's hot path.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from codec.schema.versions import VERSIONS
from proxy.analysis.vocabulary import CAUSES, OUTCOMES, RACES
from proxy.relay.endpoints import AddressError, parse_metrics_addr
from proxy.relay.relay import CLIENT_TO_SERVER, SERVER_TO_CLIENT, RelayStats

DIRECTIONS = (CLIENT_TO_SERVER, SERVER_TO_CLIENT)
#: 0.5 ms to 30 s, roughly x2 per step: loopback pings to a 30 s resize storm.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0,
)
_PDU_NAMES = frozenset(schema.name for version in VERSIONS.values() for schema in version.table.values())
#: request PDUs answered by ``<Name>Response`` (GetLines, GetPaneRenderChanges, ListPanes, ...), from the codec
RESPONDED_REQUESTS = tuple(sorted(name for name in _PDU_NAMES if f"{name}Response" in _PDU_NAMES))
DECODE_ERROR_REASONS = ("frame", "payload", "decompress", "limit", "gap")


class RelayTotals:
    """Connection counts and relayed bytes, derived at scrape time from the relays' own stats.

    The relay already counts its bytes per direction (``RelayStats``); live relays are read
    as they are, closed ones folded into ``_closed``: nothing extra on the hot path.
    Written only by the event loop thread.
    """

    def __init__(self) -> None:
        self._closed = dict.fromkeys(DIRECTIONS, 0)
        self.live: dict[int, RelayStats] = {}
        self.connections_opened = 0
        self.upstream_connect_failures = 0

    def started(self, stats: RelayStats) -> None:
        self.live[stats.conn_id] = stats

    def ended(self, stats: RelayStats) -> None:
        if self.live.pop(stats.conn_id, None) is not None:
            self._closed[CLIENT_TO_SERVER] += stats.bytes_client_to_server
            self._closed[SERVER_TO_CLIENT] += stats.bytes_server_to_client

    @property
    def connections_active(self) -> int:
        return len(self.live)

    @property
    def bytes(self) -> dict[str, int]:
        live = list(self.live.values())
        return {
            CLIENT_TO_SERVER: self._closed[CLIENT_TO_SERVER] + sum(s.bytes_client_to_server for s in live),
            SERVER_TO_CLIENT: self._closed[SERVER_TO_CLIENT] + sum(s.bytes_server_to_client for s in live),
        }


class _RelayCollector(Collector):
    def __init__(self, totals: RelayTotals, tap_stats: object | None = None) -> None:
        self.totals = totals
        self.tap = tap_stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        c = CounterMetricFamily(
            "muxscope_relay_bytes", "Bytes relayed unchanged, by direction.", labels=["direction"]
        )
        relayed = self.totals.bytes
        for d in DIRECTIONS:
            c.add_metric([d], relayed[d])
        yield c
        yield CounterMetricFamily(
            "muxscope_connections_opened", "Client connections accepted.",
            value=self.totals.connections_opened,
        )
        yield GaugeMetricFamily(
            "muxscope_connections_active", "Client connections currently relayed.",
            value=self.totals.connections_active,
        )
        yield CounterMetricFamily(
            "muxscope_upstream_connect_failures",
            "Upstream connections that could not be made (the client was closed).",
            value=self.totals.upstream_connect_failures,
        )
        tap = self.tap
        if tap is not None:
            yield CounterMetricFamily(
                "muxscope_analysis_dropped_chunks",
                "Relayed chunks the analysis skipped because it was behind (the bytes were still relayed).",
                value=getattr(tap, "dropped_chunks", 0),
            )
            yield CounterMetricFamily(
                "muxscope_analysis_dropped_bytes",
                "Relayed bytes the analysis skipped because it was behind.",
                value=getattr(tap, "dropped_bytes", 0),
            )
            yield GaugeMetricFamily(
                "muxscope_analysis_queue_chunks", "Chunks waiting for the analysis.",
                value=getattr(tap, "queued", 0),
            )
            yield CounterMetricFamily(
                "muxscope_analysis_errors",
                "Exceptions raised inside analysis consumers (logged; the relay was unaffected).",
                value=getattr(tap, "consumer_errors", 0),
            )


class Metrics:
    """All of muxscope's metrics, registered on one registry.

    ``relay=False`` leaves out what only the relay's process can count (relayed bytes,
    connections, the capture): the analysis process's registry, which the relay re-serves
    next to its own (proxy/observe/relay_metrics.py).
    """

    def __init__(self, registry: CollectorRegistry | None = None, relay: bool = True) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.relay = RelayTotals()
        self._relay_collector = _RelayCollector(self.relay)
        if relay:
            r.register(self._relay_collector)
        self._decoding(r)
        self._attribution(r)
        self._bursts(r)
        self.capture_errors = capture_errors_counter(r if relay else None)
        self._create_label_values()

    def _decoding(self, r: CollectorRegistry) -> None:
        """What crossed the wire, decoded: PDUs, bytes, RPC latency, decode errors."""
        self.pdus = Counter(
            "muxscope_pdus", "PDUs decoded, by direction and PDU name.", ["direction", "pdu"], registry=r
        )
        self.pdu_wire_bytes = Counter(
            "muxscope_pdu_wire_bytes",
            "Bytes PDUs took on the wire (frame header + payload as sent).",
            ["direction", "pdu"], registry=r,
        )
        self.pdu_decompressed_bytes = Counter(
            "muxscope_pdu_decompressed_bytes",
            "Payload bytes after zstd decompression (equal to the wire payload when uncompressed).",
            ["direction", "pdu"], registry=r,
        )
        self.rpc_latency = Histogram(
            "muxscope_rpc_latency_seconds",
            "Request's last byte from the client to response's last byte from the server, by request PDU.",
            ["pdu"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.getlines_rows_requested = Counter(
            "muxscope_getlines_rows_requested", "Rows asked for by GetLines requests.", registry=r
        )
        self.getlines_rows_returned = Counter(
            "muxscope_getlines_rows_returned", "Rows returned by GetLinesResponse.", registry=r
        )
        self.decode_errors = Counter(
            "muxscope_decode_errors",
            "Stream positions the decoder could not make sense of (bytes still relayed).",
            ["reason"], registry=r,
        )
        self.analysis_lag = Gauge(
            "muxscope_analysis_lag_seconds",
            "How long the last chunk waited between being relayed and being analysed.",
            registry=r,
        )
        self.unsolicited = Counter(
            "muxscope_server_pushes",
            "Unsolicited server PDUs (serial 0), by PDU name.", ["pdu"], registry=r,
        )

    def _attribution(self, r: CollectorRegistry) -> None:
        """Over-fetch attribution (proxy/analysis/attribution.py): rows by outcome and cause, wait, bytes."""
        self.rows_delivered = Counter(
            "muxscope_rows_delivered",
            "Rows the server sent the client, by source (getlines, bonus) and outcome "
            "(redundant, superseded, changed, new).",
            ["source", "outcome"], registry=r,
        )
        self.rows_fetched = Counter(
            "muxscope_rows_fetched",
            "Rows requested by GetLines, by cause (dirty, resize, zoom, palette, tab_resized, "
            "first_view, unexplained).",
            ["cause"], registry=r,
        )
        self.fetch_wait = Counter(
            "muxscope_fetch_wait_seconds",
            "GetLines latency apportioned to the rows it returned (by serialized size), by row outcome; "
            "summed over concurrent fetches (RPC-seconds), so it can grow faster than time passes.",
            ["outcome"], registry=r,
        )
        self.fetch_wall = Counter(
            "muxscope_fetch_wall_seconds",
            "Wall-clock time the client had at least one GetLines outstanding, each moment shared among the "
            "fetches then in flight and apportioned to their rows (by serialized size), by row outcome.",
            ["outcome"], registry=r,
        )
        self.raced_rows = Counter(
            "muxscope_raced_rows",
            "Fetched rows a push touched while their fetch was in flight, counted superseded whichever order "
            "the GUI applied the two in, by what the push did (delivered, dirtied, dropped, palette).",
            ["cause"], registry=r,
        )
        self.overfetch_bytes = Counter(
            "muxscope_overfetch_bytes",
            "GetLinesResponse bytes apportioned to redundant and superseded rows, by layer "
            "(wire, decompressed).",
            ["layer"], registry=r,
        )

    def _bursts(self, r: CollectorRegistry) -> None:
        """Resize bursts: how many, how long they took to settle, how many rows they cost."""
        self.resize_bursts = Counter(
            "muxscope_resize_bursts", "Resize bursts (Resize PDUs less than --burst-gap apart).", registry=r
        )
        self.burst_settle = Histogram(
            "muxscope_resize_burst_settle_seconds",
            "From a burst's first Resize to the last response to a GetLines it caused.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0), registry=r,
        )
        self.burst_rows = Histogram(
            "muxscope_resize_burst_rows",
            "Rows requested by the GetLines a resize burst caused.",
            buckets=(10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000), registry=r,
        )

    def _create_label_values(self) -> None:
        """Every bounded label value exists from the start, at 0: a dashboard shows 0, not no data."""
        for o in OUTCOMES:
            self.fetch_wait.labels(o)
            self.fetch_wall.labels(o)
            for src in ("getlines", "bonus"):
                if src == "getlines" or o != "superseded":
                    self.rows_delivered.labels(src, o)
        for c in CAUSES:
            self.rows_fetched.labels(c)
        for race in RACES:
            self.raced_rows.labels(race)
        # Requests with a response of their own name: their latency series exist from the start, so
        # the first scrape after a burst of RPCs shows an increase (rate() over a series that appears
        # with its final value is 0, and a latency quantile over it NaN).
        for name in RESPONDED_REQUESTS:
            self.rpc_latency.labels(name)
        for layer in ("wire", "decompressed"):
            self.overfetch_bytes.labels(layer)
        for reason in DECODE_ERROR_REASONS:
            self.decode_errors.labels(reason)

    def attach_tap(self, tap: object) -> None:
        self._relay_collector.tap = tap


def capture_errors_counter(registry: CollectorRegistry | None) -> Counter:
    return Counter(
        "muxscope_capture_errors",
        "Captures that stopped because they could not be written (the relay was unaffected).",
        registry=registry,
    )


def serve_or_explain(metrics: object, spec: str, allow_remote: bool) -> tuple[WSGIServer, str]:
    """Serve ``--metrics spec``; returns (server, URL), or raises AddressError with the fix in one line."""
    host, port = parse_metrics_addr(spec, allow_remote)
    try:
        server, _, bound = serve(metrics, host, port)  # type: ignore[arg-type]
    except OSError as exc:
        hint = "; pick another port (or port 0 for any free one)" if exc.errno == errno.EADDRINUSE else ""
        raise AddressError(f"--metrics {spec}: cannot listen: {exc.strerror or exc}{hint}") from None
    return server, f"http://{host}:{bound}/metrics"


def serve(metrics: Metrics, host: str, port: int) -> tuple[WSGIServer, threading.Thread, int]:
    """Serve ``/metrics`` in a background thread; returns (server, thread, bound port)."""
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    return server, thread, server.server_port
