"""The metrics the relay's process serves when the analysis runs in a process of its own.

``/metrics`` is served here, by the process that cannot die from a bad frame, so it keeps
answering while the analysis restarts. It holds what only this process can count (bytes
relayed, connections, chunks dropped on the way to the analysis, the capture, the
analysis's restarts) and, next to them, the latest exposition the analysis process sent
(proxy/isolation/analysis_process.py sends one a second), parsed at scrape time. While no analysis is
running, its last figures are served as they were and ``muxscope_analysis_up`` is 0; a
restarted analysis starts its counters from zero, which Prometheus's ``rate()`` reads as a
counter reset.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from proxy.observe.metrics import RelayTotals, _RelayCollector, capture_errors_counter

#: why the analysis was restarted (bounded label values)
RESTART_REASONS = ("crash", "hang", "memory")


class _AnalysisSnapshot(Collector):
    def __init__(self) -> None:
        self.text = ""

    def collect(self) -> Iterator[Metric]:
        if not self.text:
            return
        try:
            yield from text_string_to_metric_families(self.text)
        except ValueError:  # a truncated exposition: serve nothing rather than fail the scrape
            return


class RelayMetrics:
    """The relay process's registry: its own counts plus the analysis's latest snapshot."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.relay = RelayTotals()
        self._relay_collector = _RelayCollector(self.relay)
        r.register(self._relay_collector)
        self.capture_errors = capture_errors_counter(r)
        self.analysis_restarts = Counter(
            "muxscope_analysis_restarts",
            "Times the analysis process was restarted, by reason (crash, hang, memory); "
            "relayed connections were not affected.",
            ["reason"], registry=r,
        )
        for reason in RESTART_REASONS:
            self.analysis_restarts.labels(reason)
        self.analysis_up = Gauge(
            "muxscope_analysis_up", "1 while an analysis process is running and answering.", registry=r
        )
        self.analysis_rss = Gauge(
            "muxscope_analysis_resident_bytes", "Resident memory of the analysis process.", registry=r
        )
        self._snapshot = _AnalysisSnapshot()
        r.register(self._snapshot)

    def attach_tap(self, tap: Any) -> None:
        self._relay_collector.tap = tap

    def set_analysis_exposition(self, text: str) -> None:
        self._snapshot.text = text
