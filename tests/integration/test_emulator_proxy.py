"""The emulated client and server through the proxy: unix sockets, and TCP over a shaped link."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest

from muxscope_emulator.client import ClientOptions, EmulatedClient
from muxscope_emulator.server import EmulatedMuxServer, ServerOptions
from proxy.relay.endpoints import TcpAddress, UnixAddress
from proxy.relay.shaping import LinkShape, shaper_for
from proxy.runtime import ProxyRuntime, RuntimeOptions


async def _session(transport: str, shape: LinkShape | None, rows: int = 24, **client: Any) -> tuple[Any, Any, Any]:
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        server = EmulatedMuxServer(ServerOptions(rows=rows))
        if transport == "unix":
            server_addr: Any = UnixAddress(str(Path(d) / "s.sock"))
            listen: Any = UnixAddress(str(Path(d) / "p.sock"))
            await server.start(server_addr)
        else:
            await server.start(TcpAddress("127.0.0.1", 0))
            server_addr = server.address
            listen = TcpAddress("127.0.0.1", 0)
        rt = ProxyRuntime(RuntimeOptions(listen=listen, upstream=server_addr,
                                         wrap_side=shaper_for(shape) if shape else None))
        await rt.start()
        try:
            connect = listen if transport == "unix" else TcpAddress("127.0.0.1", rt.server.port)
            opts = {"timeout": 8.0, "drag_seconds": 0.4, "rows": rows, **client}
            report = await EmulatedClient(ClientOptions(**opts)).run(connect)
            pane = server.pane(0)
            dims = pane.terminal.dimensions()
            view = range(dims["physical_top"], dims["physical_top"] + dims["viewport_rows"])
            screen = pane.text_rows(view)
        finally:
            await rt.stop()
            await server.stop()
    return report, screen, rt


def test_through_the_proxy_over_unix():
    report, screen, rt = asyncio.run(_session("unix", None, scenario="resize-drag", resizes=6))
    assert report.settled and not report.errors
    assert report.rpcs["GetCodecVersion"] == 1 and report.rpcs["ListPanes"] >= 1  # the handshake went through
    assert report.screen[0] == [screen[r] for r in sorted(screen)]
    closed = rt.analyzer.closed
    assert len(closed) == 1 and closed[0]["getlines"] == report.rpcs["GetLines"]
    assert closed[0]["rows_returned"] == report.rows_fetched


def test_through_a_shaped_tcp_link():
    shape = LinkShape.parse("rtt=30ms,bandwidth=20mbit")
    report, screen, _ = asyncio.run(_session("tcp", shape, scenario="resize-drag", resizes=6))
    assert report.settled
    assert report.screen[0] == [screen[r] for r in sorted(screen)]
    lat = [r["latency_ms"] for r in report.truth["rpcs"] if r["pdu"] == "GetLines"]
    assert min(lat) >= 29.0  # every fetch paid the simulated round trip


@pytest.mark.parametrize("transport", ["unix"])
def test_storm_grows_and_selective_fetches_less(transport):
    few, _, _ = asyncio.run(_session(transport, None, scenario="resize-drag", resizes=3))
    many, _, _ = asyncio.run(_session(transport, None, scenario="resize-drag", resizes=12))
    tall, _, _ = asyncio.run(_session(transport, None, rows=40, scenario="resize-drag", resizes=3))
    selective, _, _ = asyncio.run(_session(transport, None, scenario="resize-drag", resizes=12, policy="selective"))
    assert many.rows_fetched_scenario > few.rows_fetched_scenario
    assert tall.rows_fetched_scenario > few.rows_fetched_scenario
    assert selective.rows_fetched_scenario < many.rows_fetched_scenario
    assert selective.settled
