"""The dissector on real TCP: a session muxscope relays, captured off the loopback interface by tshark.

The emulated client talks to muxscope over TCP on a random port, muxscope relays to the
emulated server over TCP and records its own capture. tshark captures the client side on
``lo``; with no port preference matching, the heuristic dissector must find the protocol.
Every PDU it shows must be the PDU muxscope decoded from its capture of the same bytes.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path

from muxscope_emulator.client import ClientOptions, EmulatedClient
from muxscope_emulator.server import EmulatedMuxServer, ServerOptions
from proxy.relay.endpoints import TcpAddress
from proxy.runtime import ProxyRuntime, RuntimeOptions
from tests.components import free_port, missing, require_binary, stop_process
from tests.integration.test_wireshark import by_direction, decoded_by_direction, rpc_reference
from tests.tshark import dissect, frames, muxscope_decode

C2S, S2C = "client_to_server", "server_to_client"


class LiveCapture:
    """``tshark -i lo -f 'tcp port P' -w OUT`` until stopped; ready once it says it is capturing."""

    def __init__(self, port: int, out: Path) -> None:
        self.tshark = require_binary("tshark")
        self.out = out
        self.argv = [self.tshark, "-n", "-i", "lo", "-f", f"tcp port {port}", "-w", str(out)]
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr = b""

    def __enter__(self) -> LiveCapture:
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        ready = threading.Event()
        chunks: list[bytes] = []

        def read() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            for line in self.proc.stderr:
                chunks.append(line)
                if b"Capturing on" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        ready.wait(20)
        self.stderr = b"".join(chunks)
        if self.proc.poll() is not None or b"Capturing on" not in self.stderr:
            stop_process(self.proc)
            missing(f"tshark cannot capture on the loopback interface: {self.stderr.decode(errors='replace')}")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        time.sleep(0.5)  # let the last segments reach the capture
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            stop_process(self.proc)


async def _relay_session(listen_port: int, capture: Path) -> None:
    server = EmulatedMuxServer(ServerOptions(rows=24))
    await server.start(TcpAddress("127.0.0.1", 0))
    rt = ProxyRuntime(RuntimeOptions(listen=TcpAddress("127.0.0.1", listen_port), upstream=server.address,
                                     capture=str(capture)))
    await rt.start()
    try:
        opts = ClientOptions(scenario="resize-drag", resizes=4, drag_seconds=0.3, timeout=8.0)
        report = await EmulatedClient(opts).run(TcpAddress("127.0.0.1", listen_port))
        assert report.settled
    finally:
        await rt.stop()
        await server.stop()


def test_live_tcp_session_reads_as_muxscope_reads_it(tmp_path):
    port = free_port()
    capture = tmp_path / "relay.muxcap"
    pcap = tmp_path / "live.pcapng"
    with LiveCapture(port, pcap):
        asyncio.run(_relay_session(port, capture))
    packets = dissect(pcap)
    got = by_direction(frames(packets), port)
    want = decoded_by_direction(muxscope_decode(capture))
    assert len(want[C2S]) > 20 and len(want[S2C]) > 20
    assert got[C2S] == want[C2S]
    assert got[S2C] == want[S2C]
    # the same requests paired with the same responses as the analysis pairs them
    pairs = {}
    by_key = {(p.frame, p.one("wezmux.serial")): p for p in frames(packets)}
    for p in frames(packets):
        if "wezmux.request_in" in p.fields:
            req = by_key[(int(p.one("wezmux.request_in")), p.one("wezmux.serial"))]
            pairs[int(p.one("wezmux.serial"))] = (req.one("wezmux.pdu"), p.one("wezmux.pdu"))
            assert float(p.one("wezmux.time")) > 0
    reference = {serial: (req, resp) for serial, (req, resp, _) in rpc_reference(capture).items()}
    assert pairs == reference
    kinds = defaultdict(int)
    for p in frames(packets):
        kinds[p.one("wezmux.pdu")] += 1
    assert kinds["Resize"] >= 1 and kinds["GetLines"] >= 1
