"""An abrupt end of a connection leaves a capture that adds up.

Once, a demo interrupted mid-drag left a capture with a "dropped chunks -83" record and data
records after the connection's close, and ``report`` then counted 2 connections where
``capture info`` counted 1. The cause: the shaped link delivered bytes it still held after the
relay had ended (its timers did not keep the order of equal deadlines), the relay handed them
to the tap after the close, and the tap restarted their sequence numbers. Each layer is checked
here, then the whole demo is interrupted as a user would.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from proxy.capture.format import KIND_BY_NAME, encode_header, encode_record, open_capture
from proxy.capture.info import capture_info
from proxy.capture.writer import CaptureConsumer
from proxy.relay.relay import Relay, Side
from proxy.relay.shaping import Link, LinkShape
from proxy.relay.tap import TapEvent
from proxy.report.build import build_report
from tests.components import REPO

C2S, S2C = "client_to_server", "server_to_client"


def test_a_shaped_link_delivers_in_the_order_things_were_sent() -> None:
    """Data and an EOF marker due at the same instant (a marker has no bytes to wait for) keep their order."""

    async def main() -> list[object]:
        got: list[object] = []
        link = Link(LinkShape(one_way_delay_s=0.01, bandwidth_bps=1e6), lambda: None, lambda: None)
        for i in range(300):
            if i % 7 == 6:
                link.send_marker(lambda i=i: got.append(("marker", i)))
            else:
                link.send(bytes(100), lambda d, i=i: got.append(i))
        await asyncio.sleep(0.6)
        return got

    got = asyncio.run(main())
    assert got == [("marker", i) if i % 7 == 6 else i for i in range(300)]


class _Side(Side):
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.written.append(data)

    def write_eof(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class _Tap:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def submit(self, conn_id: int, direction: str, t_ns: int, data: bytes) -> None:
        self.chunks.append(data)


def test_a_relay_that_ended_hands_nothing_more_to_the_tap() -> None:
    async def main() -> tuple[_Tap, Relay, _Side]:
        client, upstream, tap = _Side(), _Side(), _Tap()
        relay = Relay(1, client, upstream, tap)  # type: ignore[arg-type]
        relay.data_received(upstream, b"before")
        relay.abort("test")
        relay.data_received(upstream, b"late!")  # what a shaped side still held
        return tap, relay, client

    tap, relay, client = asyncio.run(main())
    assert tap.chunks == [b"before"] and client.written == [b"before"]
    assert relay.stats.bytes_after_end == 5


def test_the_writer_records_no_data_after_a_close_and_no_negative_gap(tmp_path: Path) -> None:
    path = tmp_path / "c.muxcap"
    w = CaptureConsumer(str(path))
    w.open()
    t = w.t0_ns
    w.handle(TapEvent("open", 1, t + 1, info={"client": "t"}))
    for seq in range(3):
        w.handle(TapEvent("data", 1, t + 2 + seq, S2C, b"x", seq))
    w.handle(TapEvent("close", 1, t + 10, info={"closed_by": "client"}))
    w.handle(TapEvent("data", 1, t + 11, S2C, b"late", 0))  # a restarted sequence, after the close
    w.close()
    recs = list(open_capture(str(path)).records())
    assert [r.kind for r in recs] == ["open", "data", "data", "data", "close", "note"]
    assert recs[-1].info == {"late_chunks_after_close": 1}


def _write(path: Path, records: list[tuple[str, int, int, str, bytes]]) -> None:
    import zstandard

    body = b"".join(encode_record(KIND_BY_NAME[k], t, c, d, p) for k, t, c, d, p in records)
    path.write_bytes(encode_header({"format": "muxcap", "version": 1}) + zstandard.ZstdCompressor().compress(body))


def test_report_and_info_agree_on_a_capture_made_before_the_fix(tmp_path: Path) -> None:
    """What the old writer left (a -83 gap, data after the close) counts as one connection and no drop."""
    from codec import encode_pdu

    path = tmp_path / "old.muxcap"
    ping, pong = encode_pdu("Ping", {}, 1), encode_pdu("Pong", {}, 1)
    _write(path, [
        ("open", 1_000, 1, "", json.dumps({"client": "t"}).encode()),
        ("data", 2_000, 1, C2S, ping),
        ("data", 3_000, 1, S2C, pong),
        ("close", 4_000, 1, "", json.dumps({"closed_by": "client"}).encode()),
        ("dropped", 5_000, 1, S2C, json.dumps({"chunks": -83}).encode()),
        ("data", 5_000, 1, S2C, pong),
    ])
    info = capture_info(str(path))
    rep = build_report(str(path), show_progress=False)[0].to_json()
    assert info["connections"]["count"] == rep["capture"]["connections"] == 1
    assert info["dropped"]["chunks"] == rep["capture"]["dropped_chunks"] == 0
    assert info["data_after_close"] == 1


def test_interrupting_the_demo_says_so_and_leaves_a_capture_that_adds_up(tmp_path: Path) -> None:
    """Ctrl-C 2.5 s into a 3 s drag, sent to the demo's process group as a terminal would."""
    out = tmp_path / "demo"
    proc = subprocess.Popen([sys.executable, "-m", "proxy.cli", "demo", "--drag-seconds", "3", "--out", str(out),
                             "--metrics", "127.0.0.1:0"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (out / "demo.muxcap").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2.5)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("muxscope demo: interrupted; the client, proxy and server")
    info = capture_info(str(out / "demo.muxcap"))
    rep = build_report(str(out / "demo.muxcap"), show_progress=False)[0].to_json()
    assert not info["truncated"] and info["dropped"]["chunks"] == 0 and info["data_after_close"] == 0
    assert info["connections"]["count"] == rep["capture"]["connections"] == 1
    assert all(c["closed_at_s"] is not None for c in info["connections"]["list"])
