"""Build a report from a capture: the offline analysis, its tables, the verdict and where the figures came from.

Library code shared by ``muxscope report``, the demo and the tests; it prints nothing.
"""

from __future__ import annotations

from typing import Any

from proxy.analysis.bursts import DEFAULT_BURST_GAP_S
from proxy.analysis.fetchlimit import DEFAULT_PREFETCHES_PER_SECOND
from proxy.analysis.report_model import CaptureSummary, Report
from proxy.capture.offline import analyze_capture
from proxy.report.verdict import verdict


def build_report(path: str, burst_gap_s: float = DEFAULT_BURST_GAP_S, codec_version: int | None = None,
                 show_progress: bool | None = None, client_model: str = "wezterm",
                 local_echo: str = "auto",
                 prefetch_rate: int = DEFAULT_PREFETCHES_PER_SECOND) -> tuple[Report, Any]:
    result = analyze_capture(path, codec_version=codec_version, burst_gap_s=burst_gap_s, client_model=client_model,
                             local_echo=local_echo, prefetch_rate=prefetch_rate,
                             show_progress=show_progress, log_events=False)
    rep = result.attribution.report()
    capture = CaptureSummary(
        file=path,
        records=result.records,
        duration_s=round(result.duration_s, 3),
        truncated=result.truncated,
        truncation_reason=result.truncation_reason or None,
        dropped_chunks=result.dropped_chunks,
        connections=len(result.analyzer.closed),
        codec_version=next((c["codec_version"] for c in result.analyzer.closed if c.get("codec_version")), None),
        header={k: v for k, v in result.header.items() if k in ("started_at", "muxscope_version", "upstream")},
    )
    return rep.with_context(verdict(rep), capture), result

