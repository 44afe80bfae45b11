"""The proxy through real sockets: byte-exact relay, RPC latency, fetch logs, metrics, failures."""

from __future__ import annotations

import asyncio
import hashlib
import random
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from codec import encode_frame, encode_pdu
from codec.wire.compression import compress_like_wezterm
from proxy.relay.endpoints import TcpAddress, UnixAddress
from proxy.runtime import ProxyRuntime, RuntimeOptions
from tests.support import LogCapture, ScriptedMux, get_lines_response, row_text


def _client_stream(seed: int) -> bytes:
    """Client->server bytes: real requests, a compressed frame, and garbage in between."""
    rnd = random.Random(seed)
    out = bytearray()
    out += encode_pdu("GetCodecVersion", {}, 1)
    serial = 2
    for _ in range(30):
        kind = rnd.random()
        if kind < 0.5:
            out += encode_pdu("GetLines", {"pane_id": 0, "lines": [{"start": 0, "end": rnd.randint(1, 60)}]}, serial)
        elif kind < 0.7:
            out += encode_pdu("Ping", {}, serial)
        elif kind < 0.85:
            data, compressed = compress_like_wezterm(b"echo hello; " * 50)
            out += encode_frame(9, serial, data, compressed)  # a compressed WriteToPane-ish frame
        else:
            out += rnd.randbytes(rnd.randint(1, 40))  # garbage
        serial += 1
    return bytes(out)


async def _send_chunked(writer: asyncio.StreamWriter, data: bytes, rnd: random.Random) -> None:
    pos = 0
    while pos < len(data):
        n = rnd.choice([1, 2, 7, 100, 1500, 65536])
        writer.write(data[pos : pos + n])
        pos += n
        await writer.drain()
        if rnd.random() < 0.1:
            await asyncio.sleep(0)


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while chunk := await reader.read(65536):
        out += chunk
    return bytes(out)


async def _relay_exactness(tmp_path, transport: str, seed: int) -> None:
    mux = ScriptedMux()
    if transport == "unix":
        up_path = str(tmp_path / "mux.sock")
        await mux.start_unix(up_path)
        upstream = UnixAddress(up_path)
        listen = UnixAddress(str(tmp_path / "proxy.sock"))
    else:
        upstream = TcpAddress("127.0.0.1", await mux.start_tcp())
        listen = TcpAddress("127.0.0.1", 0)
    rt = ProxyRuntime(RuntimeOptions(listen=listen, upstream=upstream))
    await rt.start()
    try:
        if transport == "unix":
            reader, writer = await asyncio.open_unix_connection(listen.path)
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", rt.server.port)
        data = _client_stream(seed)
        read_task = asyncio.create_task(_read_all(reader))
        await _send_chunked(writer, data, random.Random(seed))
        await asyncio.sleep(0.3)
        writer.write_eof()  # half-close: the server still answers what it got
        got = await asyncio.wait_for(read_task, 10)
        writer.close()
        await rt.server.wait_idle()
    finally:
        await rt.stop()
        await mux.stop()
    assert hashlib.sha256(bytes(mux.received)).hexdigest() == hashlib.sha256(data).hexdigest()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(bytes(mux.sent)).hexdigest()
    assert len(mux.sent) > 0
    assert rt.metrics.relay.bytes["client_to_server"] == len(data)
    assert rt.metrics.relay.bytes["server_to_client"] == len(got)


@pytest.mark.parametrize("transport", ["unix", "tcp"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_relay_is_byte_exact(tmp_path, transport, seed):
    asyncio.run(_relay_exactness(tmp_path, transport, seed))


def test_getlines_latency_log_and_metrics(tmp_path):
    logs = LogCapture()
    rows = 24

    async def main():
        mux = ScriptedMux(delay_s={"GetLines": 0.05})
        await mux.start_unix(str(tmp_path / "mux.sock"))
        rt = ProxyRuntime(RuntimeOptions(
            listen=UnixAddress(str(tmp_path / "p.sock")), upstream=UnixAddress(str(tmp_path / "mux.sock")),
            metrics_addr="127.0.0.1:0",
        ))
        await rt.start()
        try:
            reader, writer = await asyncio.open_unix_connection(str(tmp_path / "p.sock"))
            writer.write(encode_pdu("GetCodecVersion", {}, 1))
            writer.write(encode_pdu("GetLines", {"pane_id": 3, "lines": [{"start": 100, "end": 100 + rows}]}, 2))
            await writer.drain()
            expected_resp = encode_pdu(
                "GetLinesResponse",
                get_lines_response(3, {r: row_text(r) for r in range(100, 100 + rows)}), 2)
            codec_resp_len = len(encode_pdu("GetCodecVersionResponse", {
                "codec_vers": 44, "version_string": "scripted", "executable_path": "/bin/scripted",
                "config_file_path": None}, 1))
            got = await asyncio.wait_for(reader.readexactly(codec_resp_len + len(expected_resp)), 5)
            writer.close()
            await rt.server.wait_idle()
            await asyncio.get_running_loop().run_in_executor(None, rt.tap.wait_idle, 5)
            url = rt.metrics_url
            text = await asyncio.get_running_loop().run_in_executor(
                None, lambda: urllib.request.urlopen(url, timeout=5).read().decode())
            return got, expected_resp, text, rt
        finally:
            await rt.stop()
            await mux.stop()

    got, expected_resp, text, _rt = asyncio.run(main())
    assert got.endswith(expected_resp)
    (ev,) = logs.events("getlines")
    assert ev["pane"] == 3 and ev["serial"] == 2
    assert ev["ranges"] == [[100, 100 + rows]]
    assert ev["rows_requested"] == rows and ev["rows_returned"] == rows
    assert ev["response_wire_bytes"] == len(expected_resp)
    assert ev["latency_ms"] >= 50.0
    assert ev["compressed"] is True and ev["response_decompressed_bytes"] > ev["response_wire_bytes"]
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    lat = {s.labels.get("le"): s.value for s in fams["muxscope_rpc_latency_seconds"].samples
           if s.name.endswith("_bucket") and s.labels["pdu"] == "GetLines"}
    assert lat["0.05"] == 0 and lat["+Inf"] == 1, lat  # one observation, above the 50 ms bucket
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in fams.values() for s in f.samples}
    assert samples[("muxscope_getlines_rows_requested_total", ())] == rows
    assert samples[("muxscope_getlines_rows_returned_total", ())] == rows
    assert samples[("muxscope_pdus_total", (("direction", "server_to_client"), ("pdu", "GetLinesResponse")))] == 1
    assert samples[("muxscope_pdu_wire_bytes_total",
                    (("direction", "server_to_client"), ("pdu", "GetLinesResponse")))] == len(expected_resp)
    assert samples[("muxscope_connections_opened_total", ())] == 1
    assert samples[("muxscope_relay_bytes_total", (("direction", "server_to_client"),))] == len(got)
    assert samples[("muxscope_analysis_dropped_chunks_total", ())] == 0
    # terminal content never reaches the log without --log-content
    assert "share/doc" not in logs.buf.getvalue()


def test_upstream_refused_is_logged_and_client_closed(tmp_path):
    logs = LogCapture()

    async def main():
        rt = ProxyRuntime(RuntimeOptions(listen=UnixAddress(str(tmp_path / "p.sock")),
                                         upstream=UnixAddress(str(tmp_path / "nobody.sock"))))
        await rt.start()
        try:
            reader, writer = await asyncio.open_unix_connection(str(tmp_path / "p.sock"))
            data = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            await rt.server.wait_idle()
            return data, rt.metrics.relay.upstream_connect_failures
        finally:
            await rt.stop()

    data, failures = asyncio.run(main())
    assert data == b"" and failures == 1
    (ev,) = logs.events("upstream_connect_failed")
    assert "no such socket" in ev["reason"]


def test_close_mid_frame_both_ways(tmp_path):
    """Upstream closes in the middle of a frame; a client closes mid-frame: bytes still exact, logs clean."""
    logs = LogCapture()
    half = encode_pdu("GetLinesResponse", get_lines_response(1, {r: row_text(r) for r in range(50)}), 7)
    half = half[: len(half) // 2]

    async def upstream_conn(reader, writer):
        await reader.read(10)
        writer.write(half)
        await writer.drain()
        writer.close()

    async def main():
        srv = await asyncio.start_unix_server(upstream_conn, str(tmp_path / "mux.sock"))
        rt = ProxyRuntime(RuntimeOptions(listen=UnixAddress(str(tmp_path / "p.sock")),
                                         upstream=UnixAddress(str(tmp_path / "mux.sock"))))
        await rt.start()
        try:
            reader, writer = await asyncio.open_unix_connection(str(tmp_path / "p.sock"))
            writer.write(encode_pdu("GetLines", {"pane_id": 1, "lines": [{"start": 0, "end": 50}]}, 7)[:5])
            await writer.drain()
            got = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            # second connection: client sends half a frame and vanishes
            _reader2, writer2 = await asyncio.open_unix_connection(str(tmp_path / "p.sock"))
            writer2.write(b"\x10\x01")
            await writer2.drain()
            writer2.close()
            await asyncio.sleep(0.2)
            await rt.server.wait_idle()
            return got
        finally:
            await rt.stop()
            srv.close()

    got = asyncio.run(main())
    assert got == half
    closes = logs.events("connection_closed")
    assert len(closes) == 2
    assert closes[0]["bytes_server_to_client"] == len(half)
    assert not logs.events("analysis_error")
    summaries = logs.events("connection_summary")
    assert len(summaries) == 2


def test_fifty_concurrent_connections(tmp_path):
    async def main():
        mux = ScriptedMux()
        await mux.start_unix(str(tmp_path / "mux.sock"))
        rt = ProxyRuntime(RuntimeOptions(listen=UnixAddress(str(tmp_path / "p.sock")),
                                         upstream=UnixAddress(str(tmp_path / "mux.sock"))))
        await rt.start()
        before = len(asyncio.all_tasks())

        async def one(i: int) -> bool:
            reader, writer = await asyncio.open_unix_connection(str(tmp_path / "p.sock"))
            want = b""
            for s in range(1, 6):
                writer.write(encode_pdu("Ping", {}, s))
                want += encode_pdu("Pong", {}, s)
            await writer.drain()
            got = await asyncio.wait_for(reader.readexactly(len(want)), 10)
            writer.close()
            return got == want

        try:
            results = await asyncio.gather(*(one(i) for i in range(50)))
            await rt.server.wait_idle()
            await asyncio.sleep(0.05)
            leaked = len(asyncio.all_tasks()) - before
            return results, leaked, rt
        finally:
            await rt.stop()
            await mux.stop()

    results, leaked, rt = asyncio.run(main())
    assert all(results)
    assert leaked <= 0
    assert rt.metrics.relay.connections_opened == 50
    assert rt.metrics.relay.connections_active == 0
    assert len(rt.analyzer.closed) == 50
    assert all(c["rpcs"] == 5 for c in rt.analyzer.closed)
