"""Acceptance: every golden vector made by WezTerm's own Rust code decodes exactly.

For each frame in tests/golden/v42 and v44: the frame layer gives the
manifest's pdu, ident, serial and compressed flag; the decoded body rendered
like serde_json equals ``expected`` (after the README's normalisations), or
``facts`` where serde_json could not render the value; line-bearing PDUs give
the facts' rows, texts and seqnos; re-encoding the body gives the exact
uncompressed payload; the concatenated stream decodes frame by frame in order.
"""

from __future__ import annotations

import pytest

from codec import FrameDecoder, PduStream, decode_frame, encode_payload
from codec.pdu import payload_of, pdu_lines
from codec.wire.varbincode import to_json
from tests import golden

CASES = golden.all_entries()
VERSION_NUMBER = {"v42": 42, "v44": 44}


def _id(case):
    version, entry = case
    return f"{version}/{entry['file']}"


def _decode(version, entry):
    data = golden.frame_bytes(version, entry)
    dec = FrameDecoder()
    dec.feed(data)
    frames = list(dec.frames())
    assert len(frames) == 1 and dec.buffered == 0, "a golden file holds exactly one whole frame"
    return frames[0], decode_frame(frames[0], VERSION_NUMBER[version])


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_frame_header_and_payload(case):
    version, entry = case
    frame, pdu = _decode(version, entry)
    assert pdu.name == entry["pdu"]
    assert frame.ident == entry["ident"]
    assert frame.serial == entry["serial"]
    assert frame.compressed == entry["compressed"]
    assert frame.wire_len == entry["frame_len"]
    assert payload_of(frame) == golden.payload_bytes(version, entry)
    assert len(pdu.payload) == entry["payload_len"]
    assert pdu.trailing == 0


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_body_equals_expected(case):
    version, entry = case
    _, pdu = _decode(version, entry)
    body = to_json(pdu.body)
    if entry.get("expected") is not None or "facts" not in entry:
        # (a unit struct such as GetClientList renders as null)
        assert golden.normalise(body) == golden.normalise(entry["expected"])
    else:
        facts = entry["facts"]
        if "lines" in facts:
            return  # checked by test_lines_equal_facts
        # SpawnV2/SplitPane: the facts give each OsString as text; serde renders it {"Unix": [bytes]}, and
        # the OsString-keyed env map, which serde_json cannot render, comes as [key, entry] pairs
        want = dict(facts)
        cmd = {k: v for k, v in want["command"].items() if k != "wire_note"}
        cmd["args"] = [_unix(a) for a in cmd["args"]]
        cmd["cwd"] = _unix(cmd["cwd"]) if cmd["cwd"] is not None else None
        cmd["envs"] = [[_unix(k), {**e, "preferred_key": _unix(e["preferred_key"]), "value": _unix(e["value"])}]
                       for k, e in cmd["envs"]]
        want["command"] = cmd
        assert golden.normalise(body) == golden.normalise(want)


def _unix(text: str) -> dict[str, list[int]]:
    return {"Unix": list(text.encode())}


LINE_CASES = [c for c in CASES if "lines" in (c[1].get("facts") or {})]


@pytest.mark.parametrize("case", LINE_CASES, ids=[_id(c) for c in LINE_CASES])
def test_lines_equal_facts(case):
    version, entry = case
    _, pdu = _decode(version, entry)
    got = [(ln["row"], ln["text"], ln["seqno"]) for ln in pdu_lines(pdu)]
    want = [(f["stable_row"], f["text"], f["seqno"]) for f in entry["facts"]["lines"]]
    assert got == want


@pytest.mark.parametrize("case", LINE_CASES, ids=[_id(c) for c in LINE_CASES])
def test_summary_decodes_each_line_on_demand_as_the_full_decode_does(case):
    """The summary's line starts (what the emulated client decodes lazily) land on each Line."""
    version, entry = case
    frame, pdu = _decode(version, entry)
    summary = decode_frame(frame, VERSION_NUMBER[version], summary=True)
    field = "lines" if pdu.name == "GetLinesResponse" else "bonus_lines"
    full, lazy = pdu.body[field], summary.body[field]
    assert [ln.row for ln in lazy.lines] == [row for row, _ in full["lines"]]
    for i, (_, line) in enumerate(full["lines"]):
        assert lazy.line_value(i, VERSION_NUMBER[version]) == line
    assert lazy.images == len(full["images"])


def test_summary_line_value_uses_the_versions_line_schema():
    """Codec 45 widened ClusteredLine.len to u32: a line longer than 65535 cells decodes on demand
    with the v45 Line, and is refused by v44's (built from WezTerm's clustered golden line)."""
    from codec import encode_pdu
    from codec.errors import CodecError

    entry = next(e for e in golden.entries("v44") if e["file"] == "GetLinesResponse__clustered.bin")
    _, pdu = _decode("v44", entry)
    body = pdu.body
    row, line = next((r, ln) for r, ln in body["lines"]["lines"] if "C" in ln["cells"])
    wide = {**line, "cells": {"C": {**line["cells"]["C"], "len": 70_000}}}
    body = {**body, "lines": {**body["lines"], "lines": [(row, wide)]}}
    (summary,) = PduStream(45, summary_lines=True).feed(encode_pdu("GetLinesResponse", body, 1, 45))
    lazy = summary.body["lines"]
    assert lazy is not None and lazy.line_value(0, 45)["cells"]["C"]["len"] == 70_000
    with pytest.raises(CodecError):
        lazy.line_value(0, 44)


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_reencode_gives_same_payload(case):
    version, entry = case
    _, pdu = _decode(version, entry)
    assert encode_payload(pdu.name, pdu.body, VERSION_NUMBER[version]) == golden.payload_bytes(version, entry)


@pytest.mark.parametrize("version", golden.VERSIONS)
def test_stream_decodes_in_order(version):
    stream_info = golden.manifest(version)["stream"]
    data = (golden.GOLDEN / version / stream_info["file"]).read_bytes()
    stream = PduStream(VERSION_NUMBER[version])
    got = []
    for i in range(0, len(data), 997):  # arbitrary chunking
        got.extend(stream.feed(data[i : i + 997]))
    assert all(hasattr(p, "name") for p in got), [p for p in got if not hasattr(p, "name")]
    want = stream_info["frames"]
    assert [(p.offset, p.name, p.serial, p.compressed, p.wire_len) for p in got] == [
        (f["offset"], f["pdu"], f["serial"], f["compressed"], f["frame_len"]) for f in want
    ]
    by_file = {e["file"]: e for e in golden.entries(version)}
    for p, f in zip(got, want, strict=True):
        same = by_file[f["same_value_as"]]
        assert p.payload == golden.payload_bytes(version, same)
