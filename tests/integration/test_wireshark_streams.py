"""wireshark/muxscope.lua on streams made to be hard: frames cut across segments, garbage between
frames, lost chunks, a cut-off capture, WezTerm's own payloads, and a live TCP session."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from codec.schema.versions import get_version
from codec.wire.framing import encode_frame
from proxy.capture.format import CLOSE, DATA, DROPPED, NOTE
from tests import golden
from tests.components import REPO
from tests.tshark import dissect, export, frames, muxscope_decode, open_record, write_capture

C2S, S2C = "client_to_server", "server_to_client"
MS = 1_000_000


def raw_frame(name: str, body: object, serial: int, version: int = 44) -> bytes:
    """An uncompressed frame (legal on the wire at any size: WezTerm sends whatever is smaller)."""
    v = get_version(version)
    return encode_frame(v.ident_by_name[name], serial, v.schema(name).dumps(body), False)


RESIZE = {"containing_tab_id": 0, "pane_id": 3, "size": {"rows": 50, "cols": 120, "pixel_width": 960,
                                                          "pixel_height": 800, "dpi": 96}}
GET_LINES = {"pane_id": 3, "lines": [{"start": 0, "end": 50}, {"start": -2, "end": 1}]}


def pdu_rows(packets):
    return [(p.frame, int(p.one("wezmux.serial")), p.one("wezmux.pdu")) for p in frames(packets)]


def decoded(capture: Path) -> list[tuple[str, int, str]]:
    return [(r["direction"], r["serial"], r["pdu"]) for r in muxscope_decode(capture) if "pdu" in r]


def test_frame_split_across_segments_is_reassembled(tmp_path):
    lines = raw_frame("GetLines", GET_LINES, 1)
    big = raw_frame("WriteToPane", {"pane_id": 3, "data": bytes(range(256)) * 800}, 2)  # 200 KB: 4 segments
    reply = raw_frame("UnitResponse", {}, 2)
    records = [open_record(0),
               (DATA, 1 * MS, 1, C2S, lines[:1]),             # the header itself is cut
               (DATA, 2 * MS, 1, C2S, lines[1:5]),
               (DATA, 3 * MS, 1, C2S, lines[5:] + big[:100]),
               (DATA, 4 * MS, 1, C2S, big[100:]),
               (DATA, 9 * MS, 1, S2C, reply)]
    cap = tmp_path / "split.muxcap"
    write_capture(cap, records)
    pcap = tmp_path / "split.pcapng"
    export(cap, pcap)
    packets = dissect(pcap)
    by_frame = {p.number: p for p in packets}
    rows = pdu_rows(packets)
    assert [r[1:] for r in rows] == [(1, "GetLines"), (2, "WriteToPane"), (2, "UnitResponse")]
    assert [(d, s, n) for d, s, n in decoded(cap)] == [(C2S, 1, "GetLines"), (C2S, 2, "WriteToPane"),
                                                     (S2C, 2, "UnitResponse")]
    # GetLines completes in the third data segment (frame 3 + 3), WriteToPane in the last of its four
    assert rows[0][0] == 6 and by_frame[6].pdus[0].fields["wezmux.lines.start"] == ["0", "-2"]
    assert by_frame[6].pdus[0].fields["wezmux.lines.end"] == ["50", "1"]
    write = frames(packets)[1]
    assert int(write.one("wezmux.wire_len")) == len(big) and "wezmux.decode_error" not in write.fields
    assert write.frame == max(p.number for p in packets if p.src_port != 4246 and p.number < rows[2][0])
    resp = frames(packets)[2]
    assert resp.one("wezmux.request_in") == str(write.frame) and resp.one("wezmux.time") == "0.005000000"


def test_garbage_between_frames_is_reported_and_dissection_recovers(tmp_path):
    ping = raw_frame("Ping", {}, 1)
    resize = raw_frame("Resize", RESIZE, 2)
    lines = raw_frame("GetLines", GET_LINES, 3)
    sizes_wrong = b"\x00\x00\x00\x00"            # len 0 cannot hold a serial and an ident
    overlong = b"\x01\x00" * 3 + b"\x00\x00"      # len 1 cannot either
    # (garbage like ff ff 7f .. reads as a plausible 2 MB frame to muxscope too: both wait for it)
    records = [open_record(0),
               (DATA, 1 * MS, 1, C2S, ping + sizes_wrong + resize),
               (DATA, 2 * MS, 1, C2S, overlong),  # garbage alone in its segment ...
               (DATA, 3 * MS, 1, C2S, lines)]     # ... and the next frame in the next one
    cap = tmp_path / "garbage.muxcap"
    write_capture(cap, records)
    pcap = tmp_path / "garbage.pcapng"
    export(cap, pcap)
    packets = dissect(pcap)
    assert [r[1:] for r in pdu_rows(packets)] == [(1, "Ping"), (2, "Resize"), (3, "GetLines")]
    assert [(s, n) for _, s, n in decoded(cap)] == [(1, "Ping"), (2, "Resize"), (3, "GetLines")]
    errors = [r for r in muxscope_decode(cap) if "error" in r]
    assert errors  # muxscope saw the garbage too
    garbage = [w for p in packets for w in p.pdus if "wezmux.garbage" in w.fields]
    sizes = sorted(len(bytes.fromhex(w.one("wezmux.garbage").replace(":", ""))) for w in garbage)
    assert sizes == sorted([len(sizes_wrong), len(overlong)])
    assert all(any("not a frame" in m for m in w.fields["_ws.expert.message"]) for w in garbage)
    resize_pdu = frames(packets)[1]
    assert resize_pdu.one("wezmux.size.rows") == "50" and resize_pdu.one("wezmux.size.cols") == "120"


def test_dropped_chunks_notes_and_truncation_are_comments(tmp_path):
    ping = raw_frame("Ping", {}, 1)
    records = [(NOTE, 0, 0, "", json.dumps({"capture": "a capture-wide note"}).encode()),
               open_record(0),
               (NOTE, 1 * MS, 1, "", json.dumps({"codec_version": 44}).encode()),
               (DATA, 2 * MS, 1, C2S, ping),
               (DROPPED, 3 * MS, 1, S2C, json.dumps({"chunks": 3}).encode()),
               (DATA, 4 * MS, 1, S2C, raw_frame("Pong", {}, 1)),
               (DATA, 5 * MS, 1, C2S, ping)]
    cap = tmp_path / "lossy.muxcap"
    write_capture(cap, records, cut=5)
    pcap = tmp_path / "lossy.pcapng"
    message = export(cap, pcap)
    assert "3 dropped chunk(s)" in message and "truncated" in message
    comments = [c for p in dissect(pcap) for c in p.comments]
    assert any("codec version 44" in c for c in comments)
    assert any("a capture-wide note" in c for c in comments)
    assert any("lost 3 chunk(s) server to client" in c for c in comments)
    assert any("truncated" in c for c in comments)


def test_closed_connection_ends_with_fin(tmp_path):
    records = [open_record(0), (DATA, 1 * MS, 1, C2S, raw_frame("Ping", {}, 1)),
               (CLOSE, 2 * MS, 1, "", json.dumps({"closed_by": "client"}).encode())]
    cap = tmp_path / "closed.muxcap"
    write_capture(cap, records)
    pcap = tmp_path / "closed.pcapng"
    export(cap, pcap)
    from tests.tshark import tshark_fields

    rows = tshark_fields(pcap, ["tcp.flags.fin", "tcp.srcport", "frame.comment"])
    fins = [r for r in rows if r[0] in ("1", "True")]
    assert len(fins) == 2 and fins[0][1] != "4246"  # the client closed first
    assert "closed_by" in fins[0][2]


# -- WezTerm's own payloads (golden frames), field for field -----------------------------------


def _golden_pdus(tmp_path: Path, version: str, original: bool):
    """The golden frames of ``version`` after a GetCodecVersionResponse, through export and tshark:
    WezTerm's own frames (compressed where WezTerm compressed) or every payload framed uncompressed."""
    entries = golden.entries(version)
    cvr = next(e for e in entries if e["pdu"] == "GetCodecVersionResponse")
    chunks = [encode_frame(27, 1, golden.payload_bytes(version, cvr), False)]
    for i, e in enumerate(entries):
        chunks.append(golden.frame_bytes(version, e) if original
                      else encode_frame(e["ident"], 100 + i, golden.payload_bytes(version, e), False))
    records = [open_record(0)] + [(DATA, (i + 1) * MS, 1, S2C, c) for i, c in enumerate(chunks)]
    cap = tmp_path / "golden.muxcap"
    write_capture(cap, records)
    pcap = tmp_path / "golden.pcapng"
    export(cap, pcap)
    pdus = frames(dissect(pcap))[1:]
    assert len(pdus) == len(entries)
    return list(zip(entries, pdus, strict=True))


def _check_golden_fields(e, p, checked):
    want = e.get("expected")
    if not isinstance(want, dict):
        return
    if "pane_id" in want and isinstance(want["pane_id"], int):
        assert p.one("wezmux.pane_id") == str(want["pane_id"]), e["file"]
        checked["pane_id"] += 1
    if e["pdu"] == "GetLines":
        assert p.fields["wezmux.lines.start"] == [str(r["start"]) for r in want["lines"]]
        assert p.fields["wezmux.lines.end"] == [str(r["end"]) for r in want["lines"]]
        checked["lines"] += 1
    if e["pdu"] == "Resize":
        keys = ("rows", "cols", "pixel_width", "pixel_height", "dpi")
        assert [p.one(f"wezmux.size.{k}") for k in keys] == [str(want["size"][k]) for k in keys]
        checked["resize"] += 1
    if e["pdu"] == "GetPaneRenderChangesResponse":
        assert p.one("wezmux.seqno") == str(want["seqno"]), e["file"]
        assert p.fields.get("wezmux.dirty.start", []) == [str(r["start"]) for r in want["dirty_lines"]]
        assert p.fields.get("wezmux.dirty.end", []) == [str(r["end"]) for r in want["dirty_lines"]]
        checked["render"] += 1
    if e["pdu"] in ("GetLinesResponse", "GetPaneRenderChangesResponse"):
        lines = want["lines" if e["pdu"] == "GetLinesResponse" else "bonus_lines"]["lines"]
        assert p.fields.get("wezmux.row", []) == [str(row) for row, _ in lines], e["file"]
        checked["rows"] += 1


@pytest.mark.parametrize("original", [True, False], ids=["as-wezterm-sent", "uncompressed"])
@pytest.mark.parametrize("version", golden.VERSIONS)
def test_golden_frames_dissect_as_wezterm_wrote_them(tmp_path, version, original):
    """Every golden frame dissects without an error and its fields that matter equal WezTerm's values:
    as WezTerm sent it (zstd inflated by the dissector), and with its payload framed uncompressed. The
    codec version comes from the GetCodecVersionResponse in front."""
    pairs = _golden_pdus(tmp_path, version, original)
    number = golden.manifest(version)["codec_version"]
    assert {e["file"]: p.fields["wezmux.decode_error"] for e, p in pairs if "wezmux.decode_error" in p.fields} == {}
    checked = defaultdict(int)
    for e, p in pairs:
        assert p.one("wezmux.codec_version") == str(number) and p.one("wezmux.pdu") == e["pdu"]
        assert (p.one("wezmux.compressed") == "1") == (original and e["compressed"])
        if original and e["compressed"]:
            assert p.one("wezmux.inflated_len") == str(e["payload_len"]), e["file"]
            checked["inflated"] += 1
        _check_golden_fields(e, p, checked)
    assert checked["lines"] and checked["resize"] and checked["render"] >= 5 and checked["pane_id"] > 20
    assert checked["rows"] >= 10 and (checked["inflated"] > 10 or not original)


def test_export_command_errors_are_one_line(tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "proxy.cli", "export", *args], capture_output=True,
                              timeout=60, cwd=REPO, check=False)

    nothing = run(str(REPO / "captures" / "typing.muxcap"))
    assert nothing.returncode == 2 and b"--pcapng" in nothing.stderr and len(nothing.stderr.splitlines()) == 1
    bad = run("--pcapng", str(tmp_path / "x.pcapng"), str(REPO / "README.md"))
    assert bad.returncode == 2 and b"not a muxscope capture" in bad.stderr and len(bad.stderr.splitlines()) == 1
    assert not (tmp_path / "x.pcapng").exists() and not (tmp_path / "x.pcapng.partial").exists()



def test_port_preference_and_heuristic(tmp_path):
    """An export to another port reads through the heuristic, or through the port preference alone."""
    records = [open_record(0), (DATA, 1 * MS, 1, C2S, raw_frame("Resize", RESIZE, 1)),
               (DATA, 2 * MS, 1, S2C, raw_frame("UnitResponse", {}, 1))]
    cap = tmp_path / "port.muxcap"
    write_capture(cap, records)
    pcap = tmp_path / "port.pcapng"
    export(cap, pcap, "--pcapng-port", "5555")
    names = ["Resize", "UnitResponse"]
    assert [p.one("wezmux.pdu") for p in frames(dissect(pcap))] == names  # found by the heuristic
    assert frames(dissect(pcap, "wezmux.heuristic:FALSE")) == []
    assert [p.one("wezmux.pdu") for p in frames(dissect(pcap, "wezmux.heuristic:FALSE", "wezmux.port:5555"))] == names


def test_heuristic_leaves_other_protocols_alone(tmp_path):
    """HTTP, a TLS record and random bytes on an unregistered port are not taken for mux frames."""
    import random

    rng = random.Random(7)
    # a TLS record header reads as len 22, serial 3, ident 1 (Ping): sizes add up, but a Ping has no payload
    tls = b"\x16\x03\x01" + rng.randbytes(20)
    # len 5, serial 1, ident 14 (Resize): 3 bytes cannot hold a Resize
    short = b"\x05\x01\x0e" + rng.randbytes(3)
    noise = [tls, short, b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"]
    noise += [rng.randbytes(rng.randrange(3, 200)) for _ in range(200)]
    records = [open_record(0)] + [(DATA, (i + 1) * MS, 1, C2S if i % 2 else S2C, chunk)
                                  for i, chunk in enumerate(noise)]
    cap = tmp_path / "noise.muxcap"
    write_capture(cap, records)
    pcap = tmp_path / "noise.pcapng"
    export(cap, pcap, "--pcapng-port", "5557")
    assert [w for p in dissect(pcap) for w in p.pdus] == []


def test_two_connections_are_two_streams_with_their_own_serials(tmp_path):
    """Interleaved connections with the same serials: each is its own TCP stream, pairs stay inside it."""
    records = [open_record(0, 1), open_record(1 * MS, 2),
               (DATA, 2 * MS, 1, C2S, raw_frame("GetLines", GET_LINES, 1)),
               (DATA, 3 * MS, 2, C2S, raw_frame("Resize", RESIZE, 1)),
               (DATA, 5 * MS, 2, S2C, raw_frame("UnitResponse", {}, 1)),
               (DATA, 9 * MS, 1, S2C, raw_frame("ErrorResponse", {"reason": "no such pane"}, 1))]
    cap = tmp_path / "two.muxcap"
    write_capture(cap, records)
    pcap = tmp_path / "two.pcapng"
    export(cap, pcap)
    from tests.tshark import tshark_fields

    rows = [r for r in tshark_fields(pcap, ["tcp.stream", "wezmux.pdu", "wezmux.time"]) if r[1]]
    assert rows == [["0", "GetLines", ""], ["1", "Resize", ""], ["1", "UnitResponse", "0.002000000"],
                    ["0", "ErrorResponse", "0.007000000"]]


def test_pcapng_blocks_are_well_formed():
    """Without tshark: every block's two lengths agree and are 32-bit aligned; timestamps are in ns."""
    import io
    import struct

    from proxy.capture.pcapng import EPB_TYPE, IDB_TYPE, SHB_TYPE, PcapngWriter, TcpFlow

    buf = io.BytesIO()
    w = PcapngWriter(buf, userappl="test", comments=["odd length comment"])
    flow = TcpFlow.for_connection(7)
    for pkt in flow.handshake() + flow.data(True, b"abc") + flow.data(False, b"x" * 70000):
        w.packet(1_700_000_000_123_456_789, pkt, ["c"])
    data, pos, types = buf.getvalue(), 0, []
    while pos < len(data):
        btype, total = struct.unpack_from("<II", data, pos)
        assert total % 4 == 0 and struct.unpack_from("<I", data, pos + total - 4)[0] == total
        if btype == EPB_TYPE:
            hi, lo = struct.unpack_from("<II", data, pos + 12)
            assert (hi << 32) | lo == 1_700_000_000_123_456_789
        types.append(btype)
        pos += total
    assert types[:2] == [SHB_TYPE, IDB_TYPE] and types.count(EPB_TYPE) == 3 + 1 + 2  # 70000 B: two segments
    assert b"\x09\x00\x01\x00\x09\x00\x00\x00" in data  # if_tsresol = 9 (nanoseconds), padded
    assert flow.client.seq - flow.for_connection(7).client.seq == 1 + 3  # SYN + 3 bytes


def test_info_column_lists_every_pdu_of_a_segment(tmp_path):
    """A segment that completes one frame and holds another: TCP calls the dissector twice for it."""
    lines, resize, ping = raw_frame("GetLines", GET_LINES, 1), raw_frame("Resize", RESIZE, 2), raw_frame("Ping", {}, 3)
    records = [open_record(0), (DATA, 1 * MS, 1, C2S, lines[:4]), (DATA, 2 * MS, 1, C2S, lines[4:] + resize + ping[:1]),
               (DATA, 3 * MS, 1, C2S, ping[1:])]
    cap = tmp_path / "info.muxcap"
    write_capture(cap, records)
    pcap = tmp_path / "info.pcapng"
    export(cap, pcap)
    from tests.tshark import tshark_fields

    infos = [r[0] for r in tshark_fields(pcap, ["_ws.col.Info"])]
    assert "GetLines #1 pane 3 rows 0..50,-2..1, Resize #2 pane 3 50x120" in infos
    assert "Ping #3" in infos


def test_bad_zstd_payload_is_a_payload_error_and_the_stream_goes_on(tmp_path):
    import zstandard

    good = zstandard.ZstdCompressor().compress(b"\x03" + bytes(40))  # a valid zstd frame, then spoiled
    bad = good[:6] + b"\xff" * (len(good) - 6)
    records = [open_record(0), (DATA, 1 * MS, 1, C2S, encode_frame(22, 1, bad, True) + raw_frame("Ping", {}, 2))]
    cap = tmp_path / "badzstd.muxcap"
    write_capture(cap, records)
    pcap = tmp_path / "badzstd.pcapng"
    export(cap, pcap)
    pdus = frames(dissect(pcap))
    assert [p.one("wezmux.pdu") for p in pdus] == ["GetLines", "Ping"]
    assert "zstd" in pdus[0].one("wezmux.decode_error")
    assert [r.get("kind") for r in muxscope_decode(cap)] == ["payload", None]  # muxscope: a payload error too
