"""Golden-vector tests of the termwiz schemas (codec/schema/termwiz.py) and line facts (codec/lines.py).

The vectors were produced by WezTerm's own Rust types (see tests/golden/README.md).
"""

from __future__ import annotations

import json
import struct
from functools import cache
from typing import Any

import pytest

from codec import lines as lines_mod
from codec.schema import termwiz as tw
from codec.wire.varbincode import U64, USIZE, Option, to_json
from tests import golden

GOLDEN = golden.GOLDEN
VERSIONS = ("v44", "v42")
PDUS = ("GetLinesResponse", "GetPaneRenderChangesResponse", "SendKeyDown", "GetImageCellResponse")


@cache
def _manifest(version: str) -> dict[str, Any]:
    return json.loads((GOLDEN / version / "manifest.json").read_text())


def _cases(*pdus: str) -> list[Any]:
    out = []
    for version in VERSIONS:
        for entry in _manifest(version)["files"]:
            if entry["pdu"] in pdus:
                out.append(pytest.param(version, entry, id=f"{version}/{entry['file']}"))
    return out


def _payload(version: str, entry: dict[str, Any]) -> bytes:
    return (GOLDEN / version / entry["payload_file"]).read_bytes()


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _same(got: Any, exp: Any) -> bool:
    """JSON equality, floats compared after rounding to float32, maps as maps."""
    if isinstance(exp, float) or isinstance(got, float):
        return isinstance(got, (int, float)) and isinstance(exp, (int, float)) and _f32(got) == _f32(exp)
    if isinstance(exp, dict):
        return isinstance(got, dict) and got.keys() == exp.keys() and all(_same(got[k], exp[k]) for k in exp)
    if isinstance(exp, list):
        return isinstance(got, list) and len(got) == len(exp) and all(map(_same, got, exp))
    return type(got) is type(exp) and got == exp


def test_golden_present() -> None:
    assert _cases(*PDUS), f"no golden vectors under {GOLDEN}"


# ---------------------------------------------------------------------------
# locating the SerializedLines inside the payloads


def _bonus_lines_offset(buf: bytes, entry: dict[str, Any]) -> int:
    """Offset of GetPaneRenderChangesResponse.bonus_lines in the payload."""
    from codec.schema import pdus

    pos = 0
    for name, schema in pdus.GET_PANE_RENDER_CHANGES_RESPONSE.fields:
        if name == "bonus_lines":
            return pos
        _, pos = schema.decode(buf, pos)
    raise AssertionError("GetPaneRenderChangesResponse has no bonus_lines field")


def _lines_offset(buf: bytes, entry: dict[str, Any]) -> int:
    if entry["pdu"] == "GetLinesResponse":
        _, pos = USIZE.decode(buf, 0)  # pane_id
        return pos
    return _bonus_lines_offset(buf, entry)


def _expected_lines(entry: dict[str, Any]) -> Any:
    exp = entry["expected"]
    if exp is None:
        return None
    return exp["lines"] if entry["pdu"] == "GetLinesResponse" else exp["bonus_lines"]


# ---------------------------------------------------------------------------
# SerializedLines


@pytest.mark.parametrize(("version", "entry"), _cases("GetLinesResponse", "GetPaneRenderChangesResponse"))
def test_serialized_lines(version: str, entry: dict[str, Any]) -> None:
    buf = _payload(version, entry)
    start = _lines_offset(buf, entry)
    value, end = tw.SERIALIZED_LINES.decode(buf, start)
    if entry["pdu"] == "GetLinesResponse":
        assert end == len(buf)

    # decoded value as serde_json renders it
    expected = _expected_lines(entry)
    if expected is not None:
        assert _same(to_json(value), expected)

    # byte-exact re-encoding
    assert tw.SERIALIZED_LINES.dumps(value) == buf[start:end]

    # line facts: row, Line::as_str(), seqno, Line::len(), storage, visible cells
    facts = entry["facts"].get("lines", [])
    assert len(value["lines"]) == entry["facts"].get("n_lines", len(facts))
    assert len(facts) == len(value["lines"])
    for (row, line), fact in zip(value["lines"], facts, strict=True):
        assert row == fact["stable_row"]
        assert lines_mod.line_text(line) == fact["text"]
        got = lines_mod.line_facts(line)
        assert (got["text"], got["seqno"], got["len_cells"], got["storage"]) == (
            fact["text"],
            fact["seqno"],
            fact["len_cells"],
            fact["storage"],
        )
        if fact["storage"] == "V" and "visible_cells" in fact:
            assert lines_mod.visible_cells(line) == [
                (c["idx"], c["text"], c["width"]) for c in fact["visible_cells"]
            ]

    # the fast path agrees with the full decode
    summaries, scan_end = lines_mod.scan_serialized_lines(buf, start)
    assert scan_end == end
    fingerprints = lines_mod.serialized_lines_fingerprints(value)
    assert [s.row for s in summaries] == [row for row, _ in value["lines"]]
    assert [s.seqno for s in summaries] == [line["seqno"] for _, line in value["lines"]]
    assert [s.fingerprint for s in summaries] == fingerprints
    assert [s.byte_length for s in summaries] == [len(tw.LINE.dumps(line)) for _, line in value["lines"]]
    assert all(len(fp) == lines_mod.FINGERPRINT_SIZE for fp in fingerprints)


def _hyperlinks_value(version: str = "v44") -> dict[str, Any]:
    entry = next(e for e in _manifest(version)["files"] if e["file"] == "GetLinesResponse__hyperlinks.bin")
    buf = _payload(version, entry)
    return tw.SERIALIZED_LINES.decode(buf, _lines_offset(buf, entry))[0]


def test_fingerprint_semantics() -> None:
    value = _hyperlinks_value()
    base = lines_mod.serialized_lines_fingerprints(value)
    assert len(set(base)) == len(base)

    # seqno, zones and the row do not matter
    (_row, line) = value["lines"][1]
    other = dict(
        line, seqno=line["seqno"] + 1000, zones=[{"semantic_type": "Prompt", "range": {"start": 0, "end": 2}}]
    )
    assert lines_mod.line_fingerprint(other) == lines_mod.line_fingerprint(line) == base[1]

    # links: a streak split in two equal-valued pieces fingerprints like the whole streak
    link_entry = value["hyperlinks"][0]
    cols = link_entry["coords"][0]["cols"]
    whole = lines_mod.line_fingerprint(value["lines"][0][1], [(cols, link_entry["link"])])
    mid = (cols["start"] + cols["end"]) // 2
    split = lines_mod.line_fingerprint(
        value["lines"][0][1],
        [
            ({"start": mid, "end": cols["end"]}, dict(link_entry["link"])),
            ({"start": cols["start"], "end": mid}, link_entry["link"]),
        ],
    )
    assert whole == split

    # ...and the links do matter
    assert lines_mod.line_fingerprint(value["lines"][0][1]) != base[0]

    # attributes matter
    (_row2, line2) = value["lines"][1]
    cells = [dict(c) for c in line2["cells"]["V"]["cells"]]
    cells[0] = dict(cells[0], attrs=dict(cells[0]["attrs"], attributes=cells[0]["attrs"]["attributes"] ^ 1))
    changed = dict(line2, cells={"V": {"cells": cells}})
    assert lines_mod.line_fingerprint(changed) != base[1]

    # wrap bits matter
    assert lines_mod.line_fingerprint(dict(line2, bits=1)) != base[1]


def test_fast_path_fallbacks_agree() -> None:
    """Cells the regex does not cover (long text, hyperlink/image inside a cell, zones, C storage)."""
    value = _hyperlinks_value()
    (_row, line) = value["lines"][1]
    cells = [dict(c) for c in line["cells"]["V"]["cells"]]
    cells[0] = dict(cells[0], text="e" + "\u0301" * 70)  # > 127 bytes of text
    fat = {
        "hyperlink": value["hyperlinks"][0]["link"],
        "image": [],
        "underline_color": "Default",
        "foreground": {"TrueColorWithPaletteFallback": ((0.5, 0.25, 1.0, 1.0), 7)},
        "background": {"TrueColorWithDefaultFallback": (0.5, 0.25, 1.0, 1.0)},
    }
    cells[1] = dict(cells[1], attrs=dict(cells[1]["attrs"], fat=fat))
    lines = [
        (-5, dict(line, cells={"V": {"cells": cells}})),
        (
            70000,
            dict(line, zones=[{"semantic_type": "Input", "range": {"start": 1, "end": 3}}], seqno=1 << 40),
        ),
        (3, {"cells": {"V": {"cells": []}}, "zones": [], "seqno": 0, "bits": 0}),
    ]
    sl = {"lines": lines, "hyperlinks": value["hyperlinks"], "images": []}
    buf = b"\x99" + tw.SERIALIZED_LINES.dumps(sl) + b"\x42"
    summaries, end = lines_mod.scan_serialized_lines(buf, 1)
    assert end == len(buf) - 1
    decoded = tw.SERIALIZED_LINES.decode(buf, 1)[0]
    assert [s.fingerprint for s in summaries] == lines_mod.serialized_lines_fingerprints(decoded)
    assert [s.row for s in summaries] == [-5, 70000, 3]
    assert [s.seqno for s in summaries] == [line["seqno"], 1 << 40, 0]


def test_fast_path_rejects_truncation() -> None:
    from codec.errors import PayloadError

    value = _hyperlinks_value()
    buf = tw.SERIALIZED_LINES.dumps(value)
    for cut in (1, 5, len(buf) // 2, len(buf) - 1):
        with pytest.raises(PayloadError):
            lines_mod.scan_serialized_lines(buf[:cut], 0)


def test_cell_width() -> None:
    assert lines_mod.cell_width("a") == 1
    assert lines_mod.cell_width("字") == 2
    assert lines_mod.cell_width("🎉") == 2
    assert lines_mod.cell_width("e\u0301") == 1
    assert lines_mod.cell_width("\u2764\ufe0f") == 2  # VS16: emoji presentation
    assert lines_mod.cell_width("\u231a\ufe0e") == 1  # VS15: text presentation
    assert lines_mod.cell_width("") == 1  # rewritten to " "
    assert lines_mod.cell_width("\x07") == 1


# ---------------------------------------------------------------------------
# SendKeyDown and GetImageCellResponse


@pytest.mark.parametrize(("version", "entry"), _cases("SendKeyDown"))
def test_send_key_down(version: str, entry: dict[str, Any]) -> None:
    buf = _payload(version, entry)
    pane_id, pos = USIZE.decode(buf, 0)
    event, pos = tw.KEY_EVENT.decode(buf, pos)
    serial, pos = U64.decode(buf, pos)
    assert pos == len(buf)
    exp = entry["expected"]
    assert pane_id == exp["pane_id"] and serial == exp["input_serial"]
    assert _same(to_json(event), exp["event"])
    out = USIZE.dumps(pane_id) + tw.KEY_EVENT.dumps(event) + U64.dumps(serial)
    assert out == buf


@pytest.mark.parametrize(("version", "entry"), _cases("GetImageCellResponse"))
def test_get_image_cell_response(version: str, entry: dict[str, Any]) -> None:
    buf = _payload(version, entry)
    schema = Option(tw.IMAGE_DATA)
    pane_id, pos = USIZE.decode(buf, 0)
    data, pos = schema.decode(buf, pos)
    assert pos == len(buf)
    exp = entry["expected"]
    assert pane_id == exp["pane_id"]
    assert _same(to_json(data), exp["data"])
    assert USIZE.dumps(pane_id) + schema.dumps(data) == buf


def test_key_code_table() -> None:
    names = [v.name for v in tw.KEY_CODE.variants]
    assert names.index("Char") == 0
    assert names.index("Function") == 59
    assert names[-1] == "InternalPasteEnd" and len(names) == 90
    assert tw.KEY_EVENT.dumps({"key": {"Function": 5}, "modifiers": {"bits": 4}}) == bytes([59, 5, 4])


def test_line_bits_render() -> None:
    v = tw.LINE_BITS.loads(bytes([0x83, 0x01]))  # 0x83 = BIDI_ENABLED | HAS_HYPERLINK | RTL
    assert to_json(v) == "HAS_HYPERLINK | BIDI_ENABLED | RTL"
    assert to_json(tw.LINE_BITS.loads(b"\x00")) == ""
