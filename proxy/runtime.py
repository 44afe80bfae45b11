"""Assemble a running proxy: server + tap + analysis + metrics (+ capture, shaping).

Shared by ``muxscope proxy`` and ``muxscope demo`` so the demo measures exactly
what a user's proxy would.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import dataclass, field
from typing import Any

from proxy.analysis.analyzer import Addon, Analyzer
from proxy.analysis.bursts import DEFAULT_BURST_GAP_S
from proxy.capture.writer import CaptureConsumer
from proxy.observe import logs
from proxy.observe.metrics import Metrics, serve_or_explain
from proxy.observe.sinks import LiveAnalysis, LogSink, MetricsSink, fan_out
from proxy.relay.endpoints import ListenAddress, UpstreamAddress
from proxy.relay.server import ProxyServer, SideWrapper
from proxy.relay.tap import Consumer, Tap


@dataclass
class RuntimeOptions:
    listen: ListenAddress
    upstream: UpstreamAddress
    metrics_addr: str | None = None
    allow_remote: bool = False
    codec_version: int | None = None
    queue_chunks: int = 4096
    capture: str | None = None
    capture_max_bytes: int | None = None
    capture_max_seconds: float | None = None
    capture_force: bool = False  # replace an existing regular file at ``capture`` (never truncate it)
    capture_meta: dict[str, Any] = field(default_factory=dict)
    burst_gap_s: float = DEFAULT_BURST_GAP_S
    client_model: str = "wezterm"
    #: ``--local-echo``: auto, on, off or milliseconds (proxy.analysis.localecho.local_echo_threshold)
    local_echo: str = "auto"
    #: the client's prefetch limit the analysis mirrors (proxy/analysis/fetchlimit.py; 0: none)
    prefetch_rate: int = 50
    wrap_side: SideWrapper | None = None
    addons: list[Addon] = field(default_factory=list)
    open_upstream: Any = None
    ssh_listen: Any = None  # ssh_server.SshListenOptions, for --listen ssh:
    ssh_upstream: Any = None  # ssh_client.SshUpstreamOptions, for --upstream ssh://
    tls_listen: Any = None  # tls.contexts.TlsListenOptions, for --listen tls:
    tls_upstream: Any = None  # tls.contexts.TlsUpstreamOptions, for --upstream tls://


def local_echo_ms(opts: RuntimeOptions) -> int | None:
    """The local echo threshold the analysis mirrors for this proxy (None: off); ``auto`` goes by the
    kind of the GUI-facing listener (SSH, TLS: on)."""
    from proxy.analysis.localecho import local_echo_threshold

    return local_echo_threshold(opts.local_echo, str(opts.listen))


def capture_writer_for(opts: RuntimeOptions, metrics: Any, sniff_codec_version: bool = True) -> CaptureConsumer | None:
    """The capture writer ``--capture`` asks for (None without it), for either runtime: the threaded one,
    and the relay's process of the isolated one, which does not decode (the analysis reports the version)."""
    if not opts.capture:
        return None
    # the local echo the analysis mirrored, so that a report on the capture mirrors it too
    options = {**opts.capture_meta.get("options", {}), "local_echo_ms": local_echo_ms(opts)}
    return CaptureConsumer(
        opts.capture,
        meta={"listen": str(opts.listen), "upstream": str(opts.upstream), **opts.capture_meta, "options": options},
        max_bytes=opts.capture_max_bytes,
        max_seconds=opts.capture_max_seconds,
        metrics=metrics,
        force=opts.capture_force,
        sniff_codec_version=sniff_codec_version,
    )


class ProxyRuntime:
    """Everything one proxy instance owns, started and stopped together."""

    def __init__(self, opts: RuntimeOptions) -> None:
        self.opts = opts
        self.metrics = Metrics()
        self.log = logs.get_logger()
        consumers: list[Consumer] = []
        self.capture_writer = capture_writer_for(opts, self.metrics)
        addons = list(opts.addons)
        self.attribution = None
        try:
            from proxy.analysis.attribution import AttributionAddon
        except ModuleNotFoundError:
            AttributionAddon = None  # noqa: N806
        if AttributionAddon is not None:
            self.attribution = AttributionAddon(burst_gap_s=opts.burst_gap_s, client_model=opts.client_model,
                                                local_echo_ms=local_echo_ms(opts),
                                                prefetch_rate=opts.prefetch_rate)
            addons.append(self.attribution)
        sinks = fan_out([LogSink(), MetricsSink(self.metrics)])
        self.analyzer = Analyzer(addons, opts.codec_version, emit=sinks)
        consumers.append(LiveAnalysis(self.analyzer))  # lane 0: the analysis (drop/lag metrics refer to it)
        if self.capture_writer is not None:
            consumers.append(self.capture_writer)
        self.tap = Tap(
            consumers,
            max_chunks=opts.queue_chunks,
            on_error=lambda c, exc: self.log.error(
                "analysis_error", consumer=type(c).__name__, error=f"{type(exc).__name__}: {exc}"
            ),
            on_lag=self.metrics.analysis_lag.set,
        )
        self.metrics.attach_tap(self.tap)
        self.server = ProxyServer(
            opts.listen, opts.upstream, tap=self.tap, metrics=self.metrics, wrap_side=opts.wrap_side,
            open_upstream=opts.open_upstream, ssh_listen=opts.ssh_listen, ssh_upstream=opts.ssh_upstream,
            tls_listen=opts.tls_listen, tls_upstream=opts.tls_upstream,
        )
        self.metrics_server: Any = None
        self.metrics_url: str | None = None

    async def start(self) -> None:
        # The analysis lanes are Python threads: while one decodes, the relay's
        # event loop waits for the GIL. A shorter switch interval (default 5 ms)
        # bounds that wait; the relay then never sits behind a long decode.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
        if self.opts.metrics_addr:
            self.metrics_server, self.metrics_url = serve_or_explain(
                self.metrics, self.opts.metrics_addr, self.opts.allow_remote)
            self.log.info("metrics_listening", url=self.metrics_url)
        if self.capture_writer is not None:
            self.capture_writer.open()
        self.tap.start()
        await self.server.start()

    async def stop(self, grace: float = 2.0) -> None:
        await self.server.stop(grace)
        # let the analysis catch up, then stop it
        await asyncio.get_running_loop().run_in_executor(None, self.tap.wait_idle, 10.0)
        self.tap.stop()
        if self.capture_writer is not None:
            self.capture_writer.close()
        if self.metrics_server is not None:
            with contextlib.suppress(Exception):
                self.metrics_server.shutdown()
                self.metrics_server.server_close()
        logs.flush()
