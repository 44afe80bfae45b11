"""wireshark/muxscope.lua and `muxscope export --pcapng`, checked with the real tshark.

Every test that runs tshark skips when it is missing (fails under
MUXSCOPE_REQUIRE_INTEGRATION=1). The reference for what a PDU is, is muxscope's
own decoder (``muxscope decode --json``) and its RPC matching (proxy/analysis/rpc.py);
for payload fields, the golden frames made by WezTerm's own types.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from proxy.analysis.connection import ConnectionDecoder
from proxy.analysis.rpc import RpcTracker
from proxy.capture.format import open_capture
from proxy.capture.pcapng import _epoch_ns
from tests.components import REPO
from tests.tshark import dissect, export, frames, muxscope_decode, tshark_fields

CAPTURES = sorted((REPO / "captures").glob("*.muxcap"))
C2S, S2C = "client_to_server", "server_to_client"


def _build():
    spec = importlib.util.spec_from_file_location("wireshark_build", REPO / "wireshark" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def by_direction(pdus, server_port):
    """tshark's frames as (serial, ident, name, compressed, wire length) per direction."""
    out = defaultdict(list)
    for p in pdus:
        direction = S2C if p.src_port == server_port else C2S
        out[direction].append((int(p.one("wezmux.serial")), int(p.one("wezmux.ident")), p.one("wezmux.pdu"),
                               p.one("wezmux.compressed") == "1", int(p.one("wezmux.wire_len"))))
    return out


def decoded_by_direction(records):
    out = defaultdict(list)
    for r in records:
        if "pdu" in r:
            out[r["direction"]].append((r["serial"], r["ident"], r["pdu"], r["compressed"], r["wire_bytes"]))
    return out


# -- the generated schema ------------------------------------------------------------------------


def test_plugin_is_built_from_its_sources_and_the_schema():
    gen = _build()
    assert gen.main(["--check"]) == 0, "wireshark/muxscope.lua is stale: run python3 wireshark/build.py"


def test_schema_drift_is_caught(tmp_path, monkeypatch):
    gen = _build()
    lua = tmp_path / "muxscope.lua"
    lua.write_text(gen.LUA_FILE.read_text())
    assert gen.main(["--check", "--lua", str(lua)]) == 0
    for v in gen.versions.VERSIONS.values():  # a PDU gains a field in the schema but not in the Lua file
        monkeypatch.setitem(v.table, 14, v.table[14].replace(name="ResizeRenamed", add=[("extra", v.table[0])]))
    assert gen.main(["--check", "--lua", str(lua)]) == 1
    assert gen.main(["--lua", str(lua)]) == 0  # regenerating brings them back together
    assert '[14] = "ResizeRenamed"' in lua.read_text()


def test_source_edit_not_rebuilt_is_caught(tmp_path, monkeypatch):
    gen = _build()
    src = tmp_path / "src"
    shutil.copytree(gen.SRC, src)
    lua = tmp_path / "muxscope.lua"
    lua.write_text(gen.LUA_FILE.read_text())
    monkeypatch.setattr(gen, "SRC", src)
    assert gen.main(["--check", "--lua", str(lua)]) == 0
    (src / "frames.lua").write_text((src / "frames.lua").read_text() + "-- an edit\n")
    assert gen.main(["--check", "--lua", str(lua)]) == 1


def test_ident_table_covers_every_supported_version():
    section = _build().render()
    names = {}
    for number, v in _build().versions.VERSIONS.items():
        assert f"  [{number}] = {{" in section
        for ident, schema in v.table.items():
            names[ident] = schema.name
    for ident, name in names.items():
        assert f'  [{ident}] = "{name}",' in section


# -- shipped captures: every PDU as muxscope reads it --------------------------------------------


@pytest.fixture(scope="module", params=CAPTURES, ids=lambda p: p.stem)
def shipped(request, tmp_path_factory):
    capture = request.param
    pcap = tmp_path_factory.mktemp("pcap") / (capture.stem + ".pcapng")
    export(capture, pcap)
    return capture, pcap, dissect(pcap)


def test_shipped_capture_reads_as_muxscope_reads_it(shipped):
    capture, _, packets = shipped
    expected = decoded_by_direction(muxscope_decode(capture))
    got = by_direction(frames(packets), 4246)
    assert sum(len(v) for v in expected.values()) > 50
    assert got[C2S] == expected[C2S]
    assert got[S2C] == expected[S2C]
    problems = [p for pkt in packets for w in pkt.pdus for p in w.fields
                if p in ("wezmux.garbage", "wezmux.decode_error")]
    assert problems == []


def fields_that_matter_from_decode(records):
    """Per PDU (in order): the values the dissector exposes as filterable fields, from muxscope's JSON."""
    out = []
    for r in records:
        if "pdu" not in r:
            continue
        body, name = r["body"], r["pdu"]
        f = {}
        if isinstance(body, dict) and isinstance(body.get("pane_id"), int):
            f["wezmux.pane_id"] = [str(body["pane_id"])]
        if name == "GetLines":
            f["wezmux.lines.start"] = [str(x["start"]) for x in body["lines"]]
            f["wezmux.lines.end"] = [str(x["end"]) for x in body["lines"]]
        elif name == "Resize":
            f.update({f"wezmux.size.{k}": [str(v)] for k, v in body["size"].items()})
        elif name == "GetPaneRenderChangesResponse":
            f["wezmux.seqno"] = [str(body["seqno"])]
            f["wezmux.dirty.start"] = [str(x["start"]) for x in body["dirty_lines"]]
            f["wezmux.dirty.end"] = [str(x["end"]) for x in body["dirty_lines"]]
        if name in ("GetLinesResponse", "GetPaneRenderChangesResponse"):
            f["wezmux.row"] = [str(line["row"]) for line in r["lines"]]
        out.append((name, sorted((k, v) for k, v in f.items() if v)))
    return out


def test_shipped_capture_fields_match_decode(shipped):
    """Pane ids, GetLines ranges, Resize sizes, seqno and dirty ranges, rows carried: every PDU,
    compressed or not (the dissector inflates zstd itself), equal to muxscope decode's."""
    capture, _, packets = shipped
    want = fields_that_matter_from_decode(muxscope_decode(capture))
    keys = {k for _, f in want for k, _ in f}
    got = [(p.one("wezmux.pdu"), sorted((k, v) for k, v in p.fields.items() if k in keys)) for p in frames(packets)]
    assert {"wezmux.seqno", "wezmux.dirty.start", "wezmux.lines.start", "wezmux.size.rows", "wezmux.row"} <= keys
    assert got == want


def rpc_reference(capture: Path) -> dict[int, tuple[str, str, int]]:
    """serial -> (request, response, latency ns) by proxy/analysis/rpc.py, fed as the analysis is."""
    reader = open_capture(str(capture))
    decoders, trackers, seqs, out = {}, {}, defaultdict(int), {}
    for rec in reader.records():
        if rec.kind != "data":
            continue
        dec = decoders.setdefault(rec.conn_id, ConnectionDecoder(rec.conn_id, summary_lines=True))
        tracker = trackers.setdefault(rec.conn_id, RpcTracker())
        seq = seqs[(rec.conn_id, rec.direction)]
        seqs[(rec.conn_id, rec.direction)] += 1
        for ev in dec.feed(rec.direction, seq, rec.t_ns, rec.data):
            rpc = tracker.on_event(ev)
            if rpc is not None:
                out[rpc.serial] = (rpc.request.name, rpc.response.name, rpc.t_response_ns - rpc.t_request_ns)
    return out


def test_request_response_pairs_and_times_match_rpc_matching(shipped):
    capture, _, packets = shipped
    want = rpc_reference(capture)
    pdus = {(p.frame, p.one("wezmux.serial")): p for p in frames(packets)}
    got = {}
    for p in frames(packets):
        if "wezmux.request_in" not in p.fields:
            continue
        serial = p.one("wezmux.serial")
        request = pdus[(int(p.one("wezmux.request_in")), serial)]
        assert pdus[(request.frame, serial)].one("wezmux.response_in") == str(p.frame)
        whole, frac = p.one("wezmux.time").split(".")
        latency_ns = int(whole) * 10**9 + int(frac.ljust(9, "0"))
        got[int(serial)] = (request.one("wezmux.pdu"), p.one("wezmux.pdu"), latency_ns)
    assert len(want) > 20
    assert got == want


def test_compressed_payloads_inflate_to_what_muxscope_inflates(shipped):
    capture, _, packets = shipped
    want = [r["payload_bytes"] for r in muxscope_decode(capture) if r.get("compressed")]
    compressed = [p for p in frames(packets) if p.one("wezmux.compressed") == "1"]
    assert len(want) > 10
    assert sorted(int(p.one("wezmux.inflated_len")) for p in compressed) == sorted(want)
    assert [p for p in compressed if "wezmux.decode_error" in p.fields] == []


def test_compressed_payloads_say_how_to_see_them_when_not_inflated(shipped):
    _, pcap, _ = shipped
    compressed = [p for p in frames(dissect(pcap, "wezmux.inflate:FALSE")) if p.one("wezmux.compressed") == "1"]
    assert compressed
    for p in compressed:
        assert "wezmux.inflated_len" not in p.fields
        assert any("muxscope decode" in m for m in p.fields["_ws.expert.message"])


def test_export_is_valid_tcp_with_the_capture_timestamps(shipped):
    capture, pcap, _ = shipped
    reader = open_capture(str(capture))
    epoch = _epoch_ns(reader.header)
    want = [epoch + r.t_ns for r in reader.records() if r.kind == "data"]
    rows = tshark_fields(pcap, ["frame.time_epoch", "ip.checksum.status", "tcp.checksum.status",
                                "tcp.analysis.flags", "tcp.len"],
                         "ip.check_checksum:TRUE", "tcp.check_checksum:TRUE")
    assert all(r[1] == "1" and r[2] == "1" for r in rows), "a bad IP or TCP checksum"
    assert [r for r in rows if r[3]] == [], "Wireshark's TCP analysis flagged a segment"
    got = [r[0] for r in rows if int(r[4]) > 0]
    assert got == [f"{t // 10**9}.{t % 10**9:09d}" for t in want]
