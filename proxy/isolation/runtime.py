"""``muxscope proxy`` as it runs for users: the relay in this process, the analysis in another.

This process holds the listeners, the relays, the capture writer and ``/metrics``: nothing
here decodes a byte of the traffic. The analysis (decode, line model, attribution, the log
events about PDUs) runs in a child process that :class:`~proxy.isolation.supervisor.AnalysisSupervisor`
starts, restarts when it crashes, hangs or outgrows its memory limit, and ends on shutdown.

:class:`proxy.runtime.ProxyRuntime` (everything in one process, analysis on threads) stays
for embedding: the demo and the tests that read the analysis's state directly.

Shutdown (SIGTERM/SIGINT, see proxy/cli/proxy.py): stop accepting, give open connections
the grace period, give the analysis what is left of :data:`SHUTDOWN_BUDGET_S` (at least
:data:`MIN_ANALYSIS_BUDGET_S`) to finish, kill it if it has not, close the capture.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from proxy.isolation.supervisor import DEFAULT_RSS_LIMIT, AnalysisSupervisor
from proxy.observe import logs
from proxy.observe.metrics import serve_or_explain
from proxy.observe.relay_metrics import RelayMetrics
from proxy.relay.ringtap import RingTap
from proxy.relay.server import ProxyServer
from proxy.runtime import RuntimeOptions, capture_writer_for, local_echo_ms

SHUTDOWN_BUDGET_S = 1.6
MIN_ANALYSIS_BUDGET_S = 0.3


class IsolatedRuntime:
    """The relay's process: server, ring tap, capture lane, metrics, and the analysis's supervisor."""

    analyzer = None
    attribution = None

    def __init__(self, opts: RuntimeOptions, log_config: dict[str, Any] | None = None,
                 rss_limit: int = DEFAULT_RSS_LIMIT) -> None:
        self.opts = opts
        self.metrics = RelayMetrics()
        self.log = logs.get_logger()
        # the analysis reports the codec version; this process does not decode
        self.capture_writer = capture_writer_for(opts, self.metrics, sniff_codec_version=False)
        self.tap = RingTap(
            None, self.capture_writer, max_chunks=opts.queue_chunks,
            on_error=lambda c, exc: self.log.error(
                "capture_error", consumer=type(c).__name__, error=f"{type(exc).__name__}: {exc}"
            ),
        )
        self.metrics.attach_tap(self.tap)
        worker_args = ["--client-model", opts.client_model, "--burst-gap", str(opts.burst_gap_s),
                       "--local-echo-ms", str(local_echo_ms(opts) or 0), "--prefetch-rate", str(opts.prefetch_rate),
                       "--log", json.dumps(log_config or {})]
        if opts.codec_version is not None:
            worker_args += ["--codec-version", str(opts.codec_version)]
        self.supervisor = AnalysisSupervisor(self.tap, self.metrics, worker_args, rss_limit=rss_limit)
        self.server = ProxyServer(
            opts.listen, opts.upstream, tap=self.tap, metrics=self.metrics, wrap_side=opts.wrap_side,
            open_upstream=opts.open_upstream, ssh_listen=opts.ssh_listen, ssh_upstream=opts.ssh_upstream,
            tls_listen=opts.tls_listen, tls_upstream=opts.tls_upstream, explain_failures=True,
        )
        self.metrics_server: Any = None
        self.metrics_url: str | None = None

    async def start(self) -> None:
        if self.opts.metrics_addr:
            self.metrics_server, self.metrics_url = serve_or_explain(
                self.metrics, self.opts.metrics_addr, self.opts.allow_remote)
            self.log.info("metrics_listening", url=self.metrics_url)
        if self.capture_writer is not None:
            self.capture_writer.open()
        self.tap.start()
        await self.supervisor.start()
        await self.server.start()

    async def stop(self, grace: float = 2.0) -> None:
        t0 = time.monotonic()
        await self.server.stop(grace)
        left = SHUTDOWN_BUDGET_S - (time.monotonic() - t0)
        await self.supervisor.stop(max(MIN_ANALYSIS_BUDGET_S, left))
        self.tap.stop()
        if self.capture_writer is not None:
            self.capture_writer.close()
        if self.metrics_server is not None:
            with contextlib.suppress(Exception):
                self.metrics_server.shutdown()
                self.metrics_server.server_close()
        logs.flush()
