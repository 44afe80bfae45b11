"""Issue #13: nothing on the wire and nothing the analysis does may stall, bloat or kill the relay.

Each failure the issue measured gets a test against ``muxscope proxy`` as users run it (the
relay in one process, the analysis in a child): the hostile frame or the broken analysis,
then the relay still byte-exact and the memory of the whole process tree bounded.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest
import zstandard

from codec import encode_frame, encode_pdu
from codec.schema.versions import get_version
from tests.support import ScriptedMux
from tests.test_proxy_cli import ProxyProc, pings, read_exactly

#: issue #13: a GetLines asking for rows 0..10^12, 12 bytes on the wire
TWELVE_BYTES = bytes.fromhex("0b011600010080a094a58d1d")
TREE_RSS_LIMIT = 300 * 1024 * 1024


def tree_pids(pid: int) -> list[int]:
    out = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        out += tree_pids(int(child))
    return out


def tree_rss(pid: int) -> int:
    total = 0
    for p in tree_pids(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except FileNotFoundError:
            pass
    return total


class Echo:
    """An upstream that sends back every byte it gets: the hostile bytes cross both directions."""

    def __init__(self) -> None:
        self.server: asyncio.AbstractServer | None = None

    async def start(self, path: str) -> None:
        self.server = await asyncio.start_unix_server(self._conn, path)

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


def metric(url: str, name: str, labels: str = "") -> float:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + (("{" + labels + "}") if labels else "")):
            return float(line.split()[-1])
    raise AssertionError(f"{name}{{{labels}}} not exposed")


async def echo_through(p: ProxyProc, sock: Path, payload: bytes, *, watch_rss: list[int]) -> bytes:
    reader, writer = await asyncio.open_unix_connection(str(sock))
    got = bytearray()

    async def read_all() -> None:
        while len(got) < len(payload):
            got.extend(await asyncio.wait_for(reader.read(1 << 16), 10))

    task = asyncio.create_task(read_all())
    for i in range(0, len(payload), 1 << 16):
        writer.write(payload[i : i + (1 << 16)])
        await writer.drain()
        watch_rss.append(tree_rss(p.pid))
    await task
    for _ in range(20):  # the analysis works on after the bytes went through
        watch_rss.append(tree_rss(p.pid))
        await asyncio.sleep(0.1)
    writer.close()
    return bytes(got)


def run_hostile(tmp_path: Path, payload: bytes, *extra: str) -> tuple[bytes, list[int], ProxyProc]:
    sock = tmp_path / "p.sock"

    async def main() -> tuple[bytes, list[int], ProxyProc]:
        echo = Echo()
        await echo.start(str(tmp_path / "up.sock"))
        p = ProxyProc(tmp_path, "--listen", f"unix:{sock}", "--upstream", f"unix:{tmp_path / 'up.sock'}",
                      "--metrics", "127.0.0.1:0", *extra)
        try:
            await p.started()
            rss: list[int] = []
            got = await echo_through(p, sock, payload, watch_rss=rss)
            return got, rss, p
        finally:
            p.signal(signal.SIGTERM)
            await p.wait_exit(5)
            await echo.stop()

    return asyncio.run(main())


def test_twelve_byte_getlines_for_a_trillion_rows(tmp_path):
    payload = TWELVE_BYTES * 50 + encode_pdu("Ping", {}, 7)
    got, rss, p = run_hostile(tmp_path, payload)
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
    assert max(rss) < TREE_RSS_LIMIT, max(rss)
    limits = [e for e in p.events("decode_error") if e.get("reason") == "limit"]
    assert len(limits) == 1, limits  # 100 over budget (both directions), logged once per connection
    assert "rows" in limits[0]["detail"]


def _getlines_of_empty_ranges(n: int) -> bytes:
    """A GetLines whose zstd payload declares ``n`` empty ranges (issue #13: 283 bytes for 4,000,000)."""
    from codec.wire.leb128 import encode_unsigned

    raw = b"\x00" + encode_unsigned(n) + b"\x00\x00" * n
    ident = get_version(44).ident_by_name["GetLines"]
    return encode_frame(ident, 1, zstandard.ZstdCompressor(level=19).compress(raw), True)


def test_decompression_amplification(tmp_path):
    frame = _getlines_of_empty_ranges(4_000_000)
    assert len(frame) < 1000
    got, rss, p = run_hostile(tmp_path, frame * 3 + encode_pdu("Ping", {}, 2))
    assert got == frame * 3 + encode_pdu("Ping", {}, 2)
    assert max(rss) < TREE_RSS_LIMIT, max(rss)
    assert any(e.get("reason") == "limit" for e in p.events("decode_error"))


def test_zstd_bomb(tmp_path):
    cobj = zstandard.ZstdCompressor(level=3).compressobj()
    zeros = bytes(1 << 20)
    bomb = b"".join(cobj.compress(zeros) for _ in range(600)) + cobj.flush()  # inflates to 600 MiB
    frame = encode_frame(get_version(44).ident_by_name["GetLinesResponse"], 3, bomb, True)
    got, rss, p = run_hostile(tmp_path, frame + encode_pdu("Ping", {}, 4))
    assert got == frame + encode_pdu("Ping", {}, 4)
    assert max(rss) < TREE_RSS_LIMIT, max(rss)
    assert any("inflates past" in e.get("detail", "") for e in p.events("decode_error"))


def test_random_bytes_keep_the_tree_small_and_the_relay_exact(tmp_path):
    payload = os.urandom(16 << 20)
    got, rss, _ = run_hostile(tmp_path, payload)
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
    assert max(rss) < TREE_RSS_LIMIT, max(rss)


def _analysis_pid(p: ProxyProc) -> int:
    (child,) = [pid for pid in tree_pids(p.pid) if pid != p.pid]
    return child


@pytest.mark.parametrize("how", ["crash", "hang", "memory"])
def test_analysis_failure_is_restarted_reported_and_unnoticed(tmp_path, how):
    sock = tmp_path / "p.sock"

    async def main() -> None:
        mux = ScriptedMux()
        await mux.start_unix(str(tmp_path / "mux.sock"))
        extra = ["--analysis-memory", "10"] if how == "memory" else []
        p = ProxyProc(tmp_path, "--listen", f"unix:{sock}", "--upstream", f"unix:{tmp_path / 'mux.sock'}",
                      "--metrics", "127.0.0.1:0", *extra)
        try:
            await p.started()
            url = (await p.wait_event("metrics_listening"))[0]["url"]
            reader, writer = await asyncio.open_unix_connection(str(sock))
            req, resp = pings(range(1, 4))
            writer.write(req)
            assert await read_exactly(reader, len(resp)) == resp
            if how == "crash":
                os.kill(_analysis_pid(p), signal.SIGKILL)
            elif how == "hang":
                os.kill(_analysis_pid(p), signal.SIGSTOP)
            (ev,) = (await p.wait_event("analysis_restarted", timeout=15))[:1]
            assert ev["reason"] == how
            req2, resp2 = pings(range(4, 200))  # the connection never noticed
            writer.write(req2)
            assert await read_exactly(reader, len(resp2)) == resp2
            assert metric(url, "muxscope_analysis_restarts_total", f'reason="{how}"') >= 1
            relayed = metric(url, "muxscope_relay_bytes_total", 'direction="server_to_client"')
            assert relayed == len(resp) + len(resp2)
            writer.close()
        finally:
            p.signal(signal.SIGTERM)
            await p.wait_exit(5)
            p.kill()
            await mux.stop()

    asyncio.run(main())


def test_sigterm_while_the_analysis_is_busy_ends_the_tree_within_2s(tmp_path):
    """The analysis is stopped mid-decode (SIGSTOP stands for 'busy forever'); the capture is readable."""
    sock = tmp_path / "p.sock"
    capture = tmp_path / "c.muxcap"

    async def main() -> tuple[float, list[int]]:
        mux = ScriptedMux()
        await mux.start_unix(str(tmp_path / "mux.sock"))
        p = ProxyProc(tmp_path, "--listen", f"unix:{sock}", "--upstream", f"unix:{tmp_path / 'mux.sock'}",
                      "--capture", str(capture))
        try:
            await p.started()
            reader, writer = await asyncio.open_unix_connection(str(sock))
            req, resp = pings(range(1, 50))
            writer.write(req)
            assert await read_exactly(reader, len(resp)) == resp
            writer.close()
            await asyncio.sleep(0.3)
            pids = tree_pids(p.pid)
            os.kill(pids[1], signal.SIGSTOP)
            t0 = time.monotonic()
            p.signal(signal.SIGTERM)
            await p.wait_exit(5)
            return time.monotonic() - t0, pids
        finally:
            p.kill()
            await mux.stop()

    elapsed, pids = asyncio.run(main())
    assert elapsed < 2.0, elapsed
    time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
                   for pid in pids)
    from proxy.capture.offline import analyze_capture

    result = analyze_capture(str(capture))
    assert len(result.analyzer.closed) == 1


def test_unreachable_upstream_answers_the_first_request_with_the_reason(tmp_path):
    sock = tmp_path / "p.sock"

    async def main() -> bytes:
        p = ProxyProc(tmp_path, "--listen", f"unix:{sock}", "--upstream", f"unix:{tmp_path / 'nobody.sock'}")
        try:
            await p.started()
            reader, writer = await asyncio.open_unix_connection(str(sock))
            writer.write(encode_pdu("GetCodecVersion", {}, 5))
            data = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return data
        finally:
            p.kill()

    from codec import PduStream

    (pdu,) = list(PduStream().feed(asyncio.run(main())))
    assert pdu.name == "ErrorResponse" and pdu.serial == 5
    assert "no such socket" in pdu.body["reason"]


def test_metrics_keep_answering_with_the_analysis_dead(tmp_path):
    sock = tmp_path / "p.sock"

    async def main() -> None:
        mux = ScriptedMux()
        await mux.start_unix(str(tmp_path / "mux.sock"))
        p = ProxyProc(tmp_path, "--listen", f"unix:{sock}", "--upstream", f"unix:{tmp_path / 'mux.sock'}",
                      "--metrics", "127.0.0.1:0")
        try:
            await p.started()
            url = (await p.wait_event("metrics_listening"))[0]["url"]
            reader, writer = await asyncio.open_unix_connection(str(sock))
            req, resp = pings(range(1, 11))
            writer.write(req)
            assert await read_exactly(reader, len(resp)) == resp
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # the analysis's figures reach the relay's /metrics
                try:
                    if metric(url, "muxscope_pdus_total", 'direction="client_to_server",pdu="Ping"') == 10:
                        break
                except AssertionError:
                    pass
                await asyncio.sleep(0.1)
            assert metric(url, "muxscope_pdus_total", 'direction="client_to_server",pdu="Ping"') == 10
            os.kill(_analysis_pid(p), signal.SIGSTOP)
            assert metric(url, "muxscope_analysis_up") == 1  # answered while the analysis hangs
            writer.close()
        finally:
            p.signal(signal.SIGTERM)
            await p.wait_exit(5)
            p.kill()
            await mux.stop()
        assert json.dumps(p.events("stopped"))

    asyncio.run(main())
