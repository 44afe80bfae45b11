"""Captures: the format, truncation and crashes, replay as analysis / server / client, scrub, info."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import zstandard

from codec import PduStream, encode_frame, encode_pdu
from codec.lines import cell_width
from codec.pdu import Pdu
from codec.schema.versions import get_version
from codec.wire.varbincode import Enum, Map, Option, Ref, Seq, Struct, Tuple
from muxscope_emulator.client import ClientOptions, EmulatedClient
from muxscope_emulator.server import EmulatedMuxServer, ServerOptions
from proxy.capture.format import (
    DATA,
    NOTE,
    OPEN,
    CaptureError,
    CaptureReader,
    encode_header,
    encode_record,
    open_capture,
)
from proxy.capture.info import capture_info
from proxy.capture.offline import analyze_capture
from proxy.capture.replay_drive import drive_capture
from proxy.capture.replay_serve import serve_capture
from proxy.capture.scrub import scrub_capture
from proxy.capture.writer import CaptureConsumer
from proxy.cli.main import main as cli_main
from proxy.relay.endpoints import UnixAddress
from proxy.relay.tap import TapEvent
from proxy.runtime import ProxyRuntime, RuntimeOptions
from tests.support import DEFAULT_ATTRS, LogCapture, ScriptedMux, get_lines_response, make_line, row_text

C2S, S2C = "client_to_server", "server_to_client"
ROOT = Path(__file__).resolve().parents[2]
MS = 1_000_000


# ---------------------------------------------------------------------------
# helpers


def write_capture(path: Path, records: list[tuple[int, int, int, str, bytes]], frame_every: int = 4,
                  header: dict[str, Any] | None = None) -> list[int]:
    """Write records (kind, t_ns, conn, direction, payload); returns the file offset after each zstd frame."""
    cctx = zstandard.ZstdCompressor(level=3)
    ends = []
    with open(path, "wb") as f:
        f.write(encode_header({"format": "muxcap", "version": 1, "t0_monotonic_ns": 0, **(header or {})}))
        for i in range(0, len(records), frame_every):
            f.write(cctx.compress(b"".join(encode_record(*r) for r in records[i:i + frame_every])))
            ends.append(f.tell())
    return ends


def read_records(path: Path) -> tuple[CaptureReader, list[Any]]:
    reader = open_capture(str(path))
    recs = list(reader.records())
    reader.f.close()
    return reader, recs


def chunked(data: bytes, rnd: random.Random) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        n = rnd.choice([1, 3, 17, 200, 5000])
        out.append(data[pos:pos + n])
        pos += n
    return out


def decode_capture(path: Path, strict: bool = True) -> list[tuple[int, str, Pdu]]:
    """Every known PDU of a capture as (conn, direction, Pdu), decoding fully; ``strict``: no decode errors."""
    _, recs = read_records(path)
    streams: dict[tuple[int, str], PduStream] = {}
    out = []
    for rec in recs:
        if rec.kind != "data":
            continue
        stream = streams.setdefault((rec.conn_id, rec.direction), PduStream())
        for item in stream.feed(rec.data):
            assert (isinstance(item, Pdu) and item.known) or not strict, item
            if not isinstance(item, Pdu) or not item.known:
                continue
            if item.name == "GetCodecVersionResponse" and (rec.conn_id, C2S) in streams:
                streams[(rec.conn_id, C2S)].observe_codec_version(item.body["codec_vers"])
            out.append((rec.conn_id, rec.direction, item))
    return out


def strings_of(value: Any) -> list[str | bytes]:
    """Every str/bytes value inside a decoded body (dict keys are structure and not included)."""
    if isinstance(value, (str, bytes)):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_of(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in strings_of(v)]
    return []


def variant_names(schema: Any, seen: set[int] | None = None) -> set[str]:
    """Names of every enum variant reachable from a schema: they appear as strings in bodies but are structure."""
    seen = set() if seen is None else seen
    if id(schema) in seen:
        return set()
    seen.add(id(schema))
    out: set[str] = set()
    if isinstance(schema, Enum):
        for v in schema.variants:
            out.add(v.name)
            if v.payload is not None:
                out |= variant_names(v.payload, seen)
    elif isinstance(schema, Struct):
        for _, f in schema.fields:
            out |= variant_names(f, seen)
    elif isinstance(schema, (Option, Seq)):
        out |= variant_names(getattr(schema, "inner", None) or schema.item, seen)
    elif isinstance(schema, Map):
        out |= variant_names(schema.key, seen) | variant_names(schema.value, seen)
    elif isinstance(schema, Tuple):
        for i in schema.items:
            out |= variant_names(i, seen)
    elif isinstance(schema, Ref):
        out |= variant_names(schema.target, seen)
    return out


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ---------------------------------------------------------------------------
# the format


def test_round_trip_through_capture_consumer(tmp_path):
    path = tmp_path / "rt.muxcap"
    cap = CaptureConsumer(str(path), meta={"listen": "unix:/x", "upstream": "unix:/y"})
    cap.open()
    t0 = cap.t0_ns
    req = encode_pdu("GetCodecVersion", {}, 1)
    resp = encode_pdu("GetCodecVersionResponse", {"codec_vers": 44, "version_string": "v", "executable_path": "/e",
                                                  "config_file_path": None}, 1)
    events = [
        TapEvent("open", 1, t0 + 1 * MS, info={"client": "a"}),
        TapEvent("data", 1, t0 + 2 * MS, C2S, req, 0),
        TapEvent("data", 1, t0 + 3 * MS, S2C, resp, 0),
        TapEvent("data", 1, t0 + 4 * MS, C2S, b"\x00\x01", 2),  # seq 1 missing: a dropped record first
        TapEvent("note", 0, t0 + 5 * MS, info={"hello": "world"}),
        TapEvent("close", 1, t0 + 6 * MS, info={"closed_by": "client"}),
    ]
    for ev in events:
        cap.handle(ev)
    cap.close()
    reader, recs = read_records(path)
    assert not reader.truncated
    assert reader.header["listen"] == "unix:/x" and reader.header["version"] == 1
    got = [(r.kind, r.t_ns, r.conn_id, r.direction, r.data if r.kind == "data" else r.info) for r in recs]
    assert got == [
        ("open", 1 * MS, 1, "", {"client": "a"}),
        ("data", 2 * MS, 1, C2S, req),
        ("data", 3 * MS, 1, S2C, resp),
        ("note", 3 * MS, 1, "", {"codec_version": 44}),  # the writer notes the codec version once seen
        ("dropped", 4 * MS, 1, C2S, {"chunks": 1}),
        ("data", 4 * MS, 1, C2S, b"\x00\x01"),
        ("note", 5 * MS, 0, "", {"hello": "world"}),
        ("close", 6 * MS, 1, "", {"closed_by": "client"}),
    ]
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_round_trip_of_encode_record(tmp_path):
    rnd = random.Random(3)
    records = [(DATA, i * 1000 + rnd.randint(0, 999), rnd.randint(0, 300), rnd.choice([C2S, S2C]),
                rnd.randbytes(rnd.randint(0, 3000))) for i in range(200)]
    records.insert(0, (OPEN, 0, 7, "", b'{"x": 1}'))
    write_capture(tmp_path / "e.muxcap", records, frame_every=17)
    reader, recs = read_records(tmp_path / "e.muxcap")
    assert not reader.truncated
    assert [(r.t_ns, r.conn_id, r.direction, r.data) for r in recs] == [(t, c, d, p) for _, t, c, d, p in records]


def test_truncated_file_returns_whole_records_before_the_cut(tmp_path):
    rnd = random.Random(5)
    records = [(DATA, i * MS, 1, C2S if i % 2 else S2C, rnd.randbytes(rnd.randint(1, 400))) for i in range(60)]
    full = tmp_path / "full.muxcap"
    ends = write_capture(full, records, frame_every=6)
    data = full.read_bytes()
    cuts = sorted({ends[0] - 3, ends[2] + 5, (ends[4] + ends[5]) // 2, len(data) - 1} | set(ends[:3]))
    for cut in cuts:
        part = tmp_path / f"cut{cut}.muxcap"
        part.write_bytes(data[:cut])
        reader, recs = read_records(part)
        complete_frames = sum(1 for e in ends if e <= cut)
        assert [r.data for r in recs] == [r[4] for r in records[: len(recs)]], cut  # a prefix, in order
        assert len(recs) >= 6 * complete_frames, cut
        assert reader.truncated == (cut not in ends), cut
        if reader.truncated:
            assert reader.truncation_reason
    (tmp_path / "hdr.muxcap").write_bytes(data[:10])
    with pytest.raises(CaptureError, match="truncated inside its header"):
        open_capture(str(tmp_path / "hdr.muxcap"))


def test_proxy_killed_mid_capture_keeps_what_was_flushed(tmp_path):
    async def scenario() -> tuple[bytes, bytes, Path]:
        mux = ScriptedMux()
        up, listen, cap = tmp_path / "mux.sock", tmp_path / "proxy.sock", tmp_path / "killed.muxcap"
        await mux.start_unix(str(up))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "proxy.cli", "proxy", "--listen", f"unix:{listen}", "--upstream", f"unix:{up}",
            "--capture", str(cap), "--log-level", "warning", cwd=str(ROOT), env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            for _ in range(200):
                if listen.exists():
                    break
                await asyncio.sleep(0.05)
            reader, writer = await asyncio.open_unix_connection(str(listen))
            writer.write(encode_pdu("GetCodecVersion", {}, 1))
            for serial in range(2, 12):
                writer.write(encode_pdu("GetLines", {"pane_id": 0, "lines": [{"start": 0, "end": serial}]}, serial))
            await writer.drain()
            got = bytearray()
            stream = PduStream()
            answered = 0
            while answered < 11:
                data = await asyncio.wait_for(reader.read(65536), 5)
                got += data
                answered += sum(1 for p in stream.feed(data) if isinstance(p, Pdu))
            await asyncio.sleep(1.5)  # past the writer's once-a-second flush
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            writer.close()
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await mux.stop()
        return bytes(mux.received), bytes(mux.sent), cap

    received, sent, cap = run(scenario())
    reader, recs = read_records(cap)
    kinds = [r.kind for r in recs]
    assert kinds[0] == "open" and "close" not in kinds  # killed: no close record
    assert not reader.truncated  # the last flush ended a zstd frame; nothing was half-written after it
    c2s = b"".join(r.data for r in recs if r.kind == "data" and r.direction == C2S)
    s2c = b"".join(r.data for r in recs if r.kind == "data" and r.direction == S2C)
    assert c2s == received and s2c == sent
    info = capture_info(str(cap))
    assert info["pdus"][C2S] == {"GetCodecVersion": 1, "GetLines": 10}
    assert info["connections"]["list"][0]["close"] is None


# ---------------------------------------------------------------------------
# capture info


def test_capture_info_numbers_match_what_was_sent(tmp_path, capsys):
    path = tmp_path / "info.muxcap"
    cap = CaptureConsumer(str(path), meta={"listen": "unix:/l", "upstream": "unix:/u"})
    cap.open()
    t0 = cap.t0_ns
    sent = {C2S: bytearray(), S2C: bytearray()}
    seq = {C2S: 0, S2C: 0}

    def send(conn: int, direction: str, name: str, body: Any, serial: int, t_ms: int) -> None:
        data = encode_pdu(name, body, serial)
        sent[direction] += data
        cap.handle(TapEvent("data", conn, t0 + t_ms * MS, direction, data, seq[direction]))
        seq[direction] += 1

    cap.handle(TapEvent("open", 1, t0 + 10 * MS, info={"client": "c1"}))
    send(1, C2S, "GetCodecVersion", {}, 1, 11)
    send(1, S2C, "GetCodecVersionResponse", {"codec_vers": 45, "version_string": "x", "executable_path": "/w",
                                             "config_file_path": None}, 1, 12)
    for i in range(5):
        send(1, C2S, "GetLines", {"pane_id": 0, "lines": [{"start": 0, "end": 30}]}, 2 + i, 20 + i)
        send(1, S2C, "GetLinesResponse", get_lines_response(0, {r: row_text(r) for r in range(30)}), 2 + i, 21 + i)
    seq[C2S] += 2  # two chunks lost by the capture lane
    send(1, C2S, "Ping", {}, 9, 40)
    cap.handle(TapEvent("close", 1, t0 + 50 * MS, info={"closed_by": "client"}))
    cap.close()
    info = capture_info(str(path))
    assert info["duration_s"] == pytest.approx(0.040)
    assert info["connections"]["count"] == 1
    conn = info["connections"]["list"][0]
    assert conn["open"] == {"client": "c1"} and conn["close"] == {"closed_by": "client"}
    assert conn["opened_at_s"] == pytest.approx(0.010) and conn["closed_at_s"] == pytest.approx(0.050)
    assert info["pdus"] == {C2S: {"GetCodecVersion": 1, "GetLines": 5, "Ping": 1},
                            S2C: {"GetCodecVersionResponse": 1, "GetLinesResponse": 5}}
    assert info["bytes"]["wire"] == {C2S: len(sent[C2S]), S2C: len(sent[S2C])}
    assert info["bytes"]["decompressed_payload"][S2C] > info["bytes"]["wire"][S2C]  # the lines compress
    assert info["codec_version"] == 45
    assert info["dropped"] == {"records": 1, "chunks": 2}
    assert info["truncated"] is False and info["header"]["listen"] == "unix:/l"
    assert cli_main(["capture", "info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pdus_total"] == 13
    assert cli_main(["capture", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "GetLinesResponse" in out and "codec version   45" in out


# ---------------------------------------------------------------------------
# replay as analysis


async def _live_session(tmp_path: Path, scenario: str, capture: Path, seed: int = 4,
                        **client: Any) -> tuple[ProxyRuntime, Any]:
    server = EmulatedMuxServer(ServerOptions(seed=seed, scrollback=400))
    upstream = await server.start(UnixAddress(str(tmp_path / f"mux-{scenario}.sock")))
    listen = UnixAddress(str(tmp_path / f"proxy-{scenario}.sock"))
    rt = ProxyRuntime(RuntimeOptions(listen=listen, upstream=upstream, capture=str(capture)))
    await rt.start()
    try:
        report = await EmulatedClient(ClientOptions(scenario=scenario, seed=seed, **client)).run(listen)
    finally:
        await rt.stop()
        await server.stop()
    return rt, report


def _getlines_events(logs: LogCapture) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k not in ("timestamp", "level")} for e in logs.events("getlines")]


def test_replayed_capture_gives_the_live_analysis(tmp_path):
    cap = tmp_path / "live.muxcap"
    live_logs = LogCapture()
    rt, _ = run(_live_session(tmp_path, "resize-drag", cap, resizes=8, drag_seconds=0.5))
    live = rt.attribution.report().to_json()
    live_events = _getlines_events(live_logs)
    offline_logs = LogCapture()
    result = analyze_capture(str(cap))
    offline = result.attribution.report().to_json()
    assert not result.truncated and result.dropped_chunks == 0
    assert live["getlines"] > 0 and sum(live["rows"].values()) > 0
    assert offline["rows"] == live["rows"]
    assert offline["causes"] == live["causes"]
    assert len(offline["bursts"]) == len(live["bursts"])
    assert offline["rows_requested"] == live["rows_requested"]
    assert _getlines_events(offline_logs) == live_events


# ---------------------------------------------------------------------------
# replay as the server


def test_emulated_client_against_replayed_server_reaches_the_same_screen(tmp_path):
    cap = tmp_path / "typing.muxcap"
    opts = {"commands": ("echo hi", "ls"), "key_interval": 0.03, "command_pause": 0.15}

    async def scenario() -> tuple[Any, Any, Any]:
        _, live = await _live_session(tmp_path, "typing", cap, **opts)
        logs = LogCapture(log_content=True)
        server = await serve_capture(str(cap), UnixAddress(str(tmp_path / "replay.sock")))
        try:
            replayed = await EmulatedClient(ClientOptions(scenario="typing", seed=4, **opts)).run(server.address)
        finally:
            await server.stop()
        return live, replayed, (server, logs)

    live, replayed, (server, logs) = run(scenario())
    assert live.settled and replayed.settled
    assert replayed.screen == live.screen
    assert replayed.screen_fingerprints == live.screen_fingerprints
    assert server.matched >= 20, (server.matched, server.unmatched)
    assert server.unmatched == len(logs.events("replay_unmatched"))
    # timing may make the client ask for a range nobody recorded: it gets the replay's ErrorResponse, and
    # that is the only kind of error it sees
    assert all("muxscope replay: no recorded response" in e for e in replayed.errors)
    assert len(replayed.errors) == server.unmatched <= server.matched // 10


def _handmade_conversation(path: Path) -> None:
    """GetLines rows 0..2 asked twice with different answers, a push at 200 ms, a SendKeyDown."""
    records: list[tuple[int, int, int, str, bytes]] = [(OPEN, 0, 1, "", b"{}")]

    def add(t_ms: int, direction: str, name: str, body: Any, serial: int) -> None:
        records.append((DATA, t_ms * MS, 1, direction, encode_pdu(name, body, serial)))

    gl = {"pane_id": 0, "lines": [{"start": 0, "end": 2}]}
    key = {"pane_id": 0, "event": {"key": {"Char": "a"}, "modifiers": {"bits": 0}}, "input_serial": 1234}
    add(1, C2S, "GetLines", gl, 1)
    add(2, S2C, "GetLinesResponse", get_lines_response(0, {0: "first", 1: "answer"}), 1)
    add(3, C2S, "GetLines", gl, 2)
    add(4, S2C, "GetLinesResponse", get_lines_response(0, {0: "second", 1: "answer"}), 2)
    add(5, C2S, "SendKeyDown", key, 3)
    add(6, S2C, "UnitResponse", {}, 3)
    add(200, S2C, "PaneRemoved", {"pane_id": 7}, 0)
    write_capture(path, records)


def test_serve_matches_in_recorded_order_ignores_per_run_fields_and_reports_misses(tmp_path):
    cap = tmp_path / "hand.muxcap"
    _handmade_conversation(cap)

    async def scenario() -> list[tuple[str, int, Any, float]]:
        logs = LogCapture()
        server = await serve_capture(str(cap), f"unix:{tmp_path / 'r.sock'}", speed=2.0)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        reader, writer = await asyncio.open_unix_connection(str(tmp_path / "r.sock"))
        gl = {"pane_id": 0, "lines": [{"start": 0, "end": 2}]}
        key = {"pane_id": 0, "event": {"key": {"Char": "a"}, "modifiers": {"bits": 0}}, "input_serial": 99}
        for serial, (name, body) in enumerate([("GetLines", gl)] * 3 + [("SendKeyDown", key),
                                              ("GetLines", {"pane_id": 5, "lines": []})], 10):
            writer.write(encode_pdu(name, body, serial))
        await writer.drain()
        got: list[tuple[str, int, Any, float]] = []
        stream = PduStream()
        while len(got) < 6:
            data = await asyncio.wait_for(reader.read(65536), 3)
            got += [(p.name, p.serial, p.body, loop.time() - t0) for p in stream.feed(data) if isinstance(p, Pdu)]
        writer.close()
        await server.stop()
        assert len(logs.events("replay_unmatched")) == 1
        return got

    got = run(scenario())
    answers = [(n, s) for n, s, _, _ in got]
    assert answers == [("GetLinesResponse", 10), ("GetLinesResponse", 11), ("GetLinesResponse", 12),
                       ("UnitResponse", 13), ("ErrorResponse", 14), ("PaneRemoved", 0)]
    texts = [[make_line_text(line) for _, line in body["lines"]["lines"]] for n, _, body, _ in got[:3]]
    assert texts == [["first", "answer"], ["second", "answer"], ["second", "answer"]]  # then the last again
    assert got[4][2]["reason"].startswith("muxscope replay: no recorded response for GetLines")
    assert 0.08 <= got[5][3] < 1.0  # the push recorded at 200 ms, at speed 2


def make_line_text(line: dict[str, Any]) -> str:
    return "".join(c["text"] for c in line["cells"]["V"]["cells"])


# ---------------------------------------------------------------------------
# replay as the client


def test_drive_capture_compares_every_request_with_the_recording(tmp_path):
    cap = tmp_path / "drive.muxcap"
    opts = {"commands": ("echo hi",), "key_interval": 0.03, "command_pause": 0.1}

    async def scenario() -> Any:
        await _live_session(tmp_path, "typing", cap, **opts)
        server = EmulatedMuxServer(ServerOptions(seed=4, scrollback=400))
        addr = await server.start(UnixAddress(str(tmp_path / "fresh.sock")))
        try:
            return await drive_capture(str(cap), addr, speed=2.0, answer_timeout=20.0)
        finally:
            await server.stop()

    report = run(scenario())
    info = capture_info(str(cap))
    assert report.unanswered == 0 and report.closed_early is None
    assert {n: c.count for n, c in report.pdus.items()} == info["pdus"][C2S]
    assert sorted(report.serial_map) == list(range(1, report.sent + 1))
    for c in report.pdus.values():
        assert c.answered == c.count and c.errors_now == 0
        assert len(c.latency_now_ms) == c.count and len(c.latency_recorded_ms) == c.count
    # the same server, seed and requests: the same answers, byte for byte
    assert report.pdus["GetLines"].bytes_now == report.pdus["GetLines"].bytes_recorded > 0
    table = report.table()
    assert "GetLines" in table and "p95 now" in table
    assert report.to_json()["pdus"]["SendKeyDown"]["count"] == report.pdus["SendKeyDown"].count


# ---------------------------------------------------------------------------
# scrub


def _clustered_line(text: str, seqno: int = 3) -> dict[str, Any]:
    widths = [cell_width(ch) for ch in text]
    return {
        "cells": {"C": {"text": text, "is_double_wide": [i for i, w in enumerate(widths) if w == 2],
                        "clusters": [{"cell_width": sum(widths), "attrs": dict(DEFAULT_ATTRS)}],
                        "len": sum(widths), "last_cell_width": None}},
        "zones": [], "seqno": seqno, "bits": 0,
    }


def _linked_line(text: str, uri: str) -> dict[str, Any]:
    line = make_line(text)
    link = {"params": {"id": "secretlinkid"}, "uri": uri, "implicit": False}
    fat = {"hyperlink": link, "image": [], "underline_color": "Default", "foreground": "Default",
           "background": "Default"}
    for cell in line["cells"]["V"]["cells"][:4]:
        cell["attrs"] = {**cell["attrs"], "fat": fat, "attributes": 1}
    return line


SECRET_PDUS: list[tuple[str, str, Any]] = [
    (C2S, "GetCodecVersion", {}),
    (S2C, "GetCodecVersionResponse", {"codec_vers": 44, "version_string": "20240203-110809-5046fc22",
                                      "executable_path": "/home/alice/bin/wezterm",
                                      "config_file_path": "/home/alice/.wezterm.lua"}),
    (C2S, "SetClientId", {"client_id": {"hostname": "alice-laptop", "username": "alice", "pid": 4242,
                                        "epoch": 1700000000, "id": 1, "ssh_auth_sock": "/tmp/ssh-agent.sock"},
                          "is_proxy": False}),
    (S2C, "UnitResponse", {}),
    (C2S, "SendKeyDown", {"pane_id": 0, "event": {"key": {"Char": "q"}, "modifiers": {"bits": 0}},
                          "input_serial": 5}),
    (C2S, "SendPaste", {"pane_id": 0, "data": "password hunter2 pasted"}),
    (C2S, "WriteToPane", {"pane_id": 0, "data": b"\x1b[31mrm -rf /important/things\r"}),
    (S2C, "SetClipboard", {"pane_id": 0, "clipboard": "copied secret text", "selection": "Clipboard"}),
    (S2C, "NotifyAlert", {"pane_id": 0, "alert": {"ToastNotification": {"title": "Build finished",
                                                                          "body": "deploy to production ok",
                                                                          "focus": True}}}),
    (S2C, "TabTitleChanged", {"tab_id": 0, "title": "vim secret-plans.txt"}),
    (S2C, "WindowTitleChanged", {"window_id": 0, "title": "alice@prod-db-01: ~/work"}),
    (C2S, "SearchScrollbackRequest", {"pane_id": 0, "pattern": {"CaseSensitiveString": "needle-term"},
                                      "range": {"start": 0, "end": 10}, "limit": None}),
    (C2S, "SpawnV2", {"domain": {"DomainName": "SSHMUX:prod-db-01"}, "window_id": None,
                      "command": {"args": ["/usr/bin/ssh", "prod-db-01"],
                                  "envs": {"SECRET_TOKEN": {"is_from_base_env": False,
                                                            "preferred_key": "SECRET_TOKEN",
                                                            "value": "tok-abcdef123456"}},
                                  "cwd": "/home/alice/project", "umask": None, "controlling_tty": True},
                      "command_dir": "/home/alice/project", "size": {"rows": 24, "cols": 80, "pixel_width": 0,
                                                                      "pixel_height": 0, "dpi": 0},
                      "workspace": "clientwork"}),
    (C2S, "ListPanes", {}),
    (S2C, "ListPanesResponse", {
        "tabs": [{"Leaf": {
            "window_id": 0, "tab_id": 0, "pane_id": 0, "title": "htop on prod-db-01",
            "size": {"rows": 24, "cols": 80, "pixel_width": 0, "pixel_height": 0, "dpi": 0},
            "working_dir": "file://prod-db-01/var/lib/postgres", "is_active_pane": True, "is_zoomed_pane": False,
            "workspace": "clientwork", "cursor_pos": {"x": 0, "y": 0, "shape": "Default", "visibility": "Visible"},
            "physical_top": 0, "top_row": 0, "left_col": 0, "tty_name": "/dev/pts/17"}}],
        "tab_titles": ["htop on prod-db-01"], "window_titles": {0: "alice@prod-db-01"}}),
    (C2S, "GetLines", {"pane_id": 0, "lines": [{"start": 0, "end": 4}]}),
    (S2C, "GetLinesResponse", {"pane_id": 0, "lines": {
        "lines": [(0, make_line("SELECT * FROM customers WHERE card = 4111")),
                  (1, _clustered_line("日本語のテキスト and café ok")),
                  (2, _linked_line("see https://intranet.example/wiki", "https://intranet.example/wiki")),
                  (3, make_line("e\u0301te\u0301 wide 😀 emoji"))],
        "hyperlinks": [{"link": {"params": {}, "uri": "https://intranet.example/hidden", "implicit": True},
                        "coords": [{"line_idx": 0, "cols": {"start": 0, "end": 6}}]}],
        "images": []}}),
]


def _secret_capture(path: Path) -> None:
    rnd = random.Random(11)
    records: list[tuple[int, int, int, str, bytes]] = [(OPEN, 0, 1, "", json.dumps(
        {"client": "alice-laptop", "listen": "unix:/home/alice/mux.sock"}).encode())]
    t = MS
    streams = {C2S: bytearray(), S2C: bytearray()}
    for serial, (direction, name, body) in enumerate(SECRET_PDUS, 1):
        streams[direction] += encode_pdu(name, body, serial if name != "SetClipboard" else 0)
        if rnd.random() < 0.5 or serial == len(SECRET_PDUS):
            for d in (C2S, S2C):  # flush both directions in random chunks: frames split across records
                for chunk in chunked(bytes(streams[d]), rnd):
                    records.append((DATA, t, 1, d, chunk))
                    t += MS
                streams[d].clear()
    # an undecodable frame (a known ident whose payload is junk text) and an unknown ident: both dropped
    records.append((DATA, t, 1, S2C, encode_frame(57, 0, b"\x00\xffsecret junk text")))
    records.append((DATA, t + MS, 1, S2C, encode_frame(900, 0, b"unknown ident payload text")))
    records.append((NOTE, t + 2 * MS, 0, "", json.dumps({"codec_version": 44}).encode()))
    write_capture(path, records, header={"host": "alice-laptop", "listen": "unix:/home/alice/mux.sock"})


def _structure(pdus: list[tuple[int, str, Pdu]]) -> list[Any]:
    """What scrubbing must keep: names, serials, rows, cell counts and widths, attributes."""
    out = []
    for _, direction, p in pdus:
        item: list[Any] = [direction, p.name, p.serial]
        if p.name == "GetLinesResponse":
            for row, line in p.body["lines"]["lines"]:
                ((kind, storage),) = line["cells"].items()
                if kind == "V":
                    item.append((row, kind, [cell_width(c["text"]) for c in storage["cells"]],
                                 [c["attrs"]["attributes"] for c in storage["cells"]]))
                else:
                    item.append((row, kind, storage["len"], storage["is_double_wide"],
                                 [cell_width(g) for g in storage["text"]]))
        out.append(item)
    return out


def test_scrub_leaves_no_original_string_and_keeps_structure(tmp_path):
    src, dst = tmp_path / "secret.muxcap", tmp_path / "scrubbed.muxcap"
    _secret_capture(src)
    report = scrub_capture(str(src), str(dst), secret=b"test")
    original = decode_capture(src, strict=False)
    scrubbed = decode_capture(dst)
    for d in (C2S, S2C):  # the junk frames did not decode
        assert [p.name for _, dd, p in original if dd == d] == [n for dd, n, _ in SECRET_PDUS if dd == d]
    assert _structure(scrubbed) == _structure(original)
    assert report["frames_dropped"] == {"undecodable": 1, "unknown ident 900": 1}
    enum_names = set()
    for schema in get_version(44).table.values():
        enum_names |= variant_names(schema)
    kept = {"20240203-110809-5046fc22"}  # GetCodecVersionResponse.version_string is kept on purpose
    needles: set[str | bytes] = set()
    for _, _, p in original:
        for s in strings_of(p.body):
            text = s.decode("utf-8", "replace") if isinstance(s, bytes) else s
            if len(s) >= 4 and any(ch.isalnum() for ch in text) and s not in enum_names and s not in kept:
                needles.add(s)
    for _, _, p in original:  # line text assembled from cells counts too
        if p.name == "GetLinesResponse":
            needles |= {make_line_text(line) for _, line in p.body["lines"]["lines"] if "V" in line["cells"]}
    assert len(needles) > 30
    haystack_str = [s for _, _, p in scrubbed for s in strings_of(p.body) if isinstance(s, str)]
    haystack_str += [make_line_text(line) for _, _, p in scrubbed if p.name == "GetLinesResponse"
                     for _, line in p.body["lines"]["lines"] if "V" in line["cells"]]
    haystack_bytes = [s for _, _, p in scrubbed for s in strings_of(p.body) if isinstance(s, bytes)]
    _, recs = read_records(dst)
    reader = open_capture(str(dst))
    header_and_info = json.dumps(reader.header) + "".join(r.data.decode() for r in recs if r.kind != "data")
    reader.f.close()
    for needle in needles:
        if isinstance(needle, bytes):
            assert not any(needle in h for h in haystack_bytes), needle
            needle = needle.decode("utf-8", "replace")
        assert not any(needle in h for h in haystack_str), needle
        assert needle not in header_and_info, needle
    for word in ("alice", "prod-db-01", "hunter2", "intranet", "secret", "junk"):
        assert word not in header_and_info.replace("scrub_report", "")
        assert not any(word in h for h in haystack_str)
    # same display width everywhere, layout characters kept
    by_name = {p.name: p for _, _, p in scrubbed}
    assert by_name["WindowTitleChanged"].body["title"][5] == "@"
    assert len(by_name["SendPaste"].body["data"]) == len("password hunter2 pasted")
    assert by_name["WriteToPane"].body["data"].startswith(b"\x1b[31m")  # escape sequences survive
    assert by_name["GetCodecVersionResponse"].body["version_string"] == "20240203-110809-5046fc22"
    assert recs[-1].kind == "note" and recs[-1].info["scrub_report"]["strings_replaced"] > 30
    dropped_notes = [r.info["scrub_dropped_frame"] for r in recs
                     if r.kind == "note" and "scrub_dropped_frame" in r.info]
    assert [(n["ident"], n["why"]) for n in dropped_notes] == [(57, "undecodable"), (900, "unknown ident 900")]


def test_scrub_carries_recording_gaps_through(tmp_path):
    """A ``dropped`` record (the capture lane lost chunks): the frame cut by it is lost, the rest survives."""
    frames = [encode_pdu("GetLinesResponse", get_lines_response(0, {r: row_text(r) for r in range(40)}), s)
              for s in range(1, 6)]
    stream = b"".join(frames)
    cut_start = len(frames[0]) + 10  # the chunks lost held the rest of frame 2
    cut_end = len(frames[0]) + len(frames[1])
    records = [(OPEN, 0, 1, "", b"{}"),
               (DATA, 1 * MS, 1, S2C, stream[:cut_start]),
               (5, 2 * MS, 1, S2C, json.dumps({"chunks": 2}).encode()),
               (DATA, 3 * MS, 1, S2C, stream[cut_end:])]
    src, dst = tmp_path / "gap.muxcap", tmp_path / "gap.scrubbed.muxcap"
    write_capture(src, records)
    report = scrub_capture(str(src), str(dst), secret=b"g")
    _, recs = read_records(dst)
    assert [r.kind for r in recs] == ["open", "data", "dropped", "data", "note"]
    assert recs[2].info == {"chunks": 2}
    assert report["pdus_reencoded"] == {"GetLinesResponse": 4}  # frame 2 was cut by the gap
    info = capture_info(str(dst))
    assert info["pdus"][S2C] == {"GetLinesResponse": 4} and info["dropped"]["chunks"] == 2


def test_scrubbed_sample_analyses_the_same_and_stays_the_same_size(tmp_path):
    cap = tmp_path / "s.muxcap"
    run(_live_session(tmp_path, "resize-drag", cap, resizes=6, drag_seconds=0.3))
    out = tmp_path / "s.scrubbed.muxcap"
    assert cli_main(["capture", "scrub", str(cap), str(out), "--seed", "t"]) == 0
    a = analyze_capture(str(cap)).attribution.report().to_json()
    b = analyze_capture(str(out)).attribution.report().to_json()
    assert (a["rows"], a["causes"], len(a["bursts"])) == (b["rows"], b["causes"], len(b["bursts"]))
    ia, ib = capture_info(str(cap)), capture_info(str(out))
    assert ia["pdus"] == ib["pdus"]
    for d in (C2S, S2C):
        assert ib["bytes"]["wire"][d] == pytest.approx(ia["bytes"]["wire"][d], rel=0.05)
        assert ib["bytes"]["decompressed_payload"][d] == pytest.approx(ia["bytes"]["decompressed_payload"][d],
                                                                       rel=0.01)
    screen_a = [p for _, _, p in decode_capture(cap) if p.name == "GetLinesResponse"]
    screen_b = [p for _, _, p in decode_capture(out) if p.name == "GetLinesResponse"]
    assert [len(p.body["lines"]["lines"]) for p in screen_a] == [len(p.body["lines"]["lines"]) for p in screen_b]


# ---------------------------------------------------------------------------
# the sample captures


@pytest.mark.parametrize("name", ["resize-drag-40ms", "typing"])
def test_sample_captures_are_small_and_whole(name):
    path = ROOT / "captures" / f"{name}.muxcap"
    assert path.stat().st_size < 2 * 1024 * 1024
    info = capture_info(str(path))
    assert not info["truncated"] and info["decode_errors"] == 0 and info["codec_version"] == 44
    assert info["pdus"][C2S].get("GetLines", 0) > 0
