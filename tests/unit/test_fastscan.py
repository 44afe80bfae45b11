"""The C accelerator and the pure-Python walk give identical results."""

from __future__ import annotations

import random

import pytest

import codec.lines as L  # noqa: N812 - the module under test, short
from bench.content import get_lines_response
from codec import FrameDecoder
from codec.lines import scan
from codec.pdu import payload_of
from codec.schema.termwiz import SERIALIZED_LINES
from tests import golden
from tests.support import serialized_lines

pytestmark = pytest.mark.skipif(scan._fastscan is None, reason="codec._fastscan was not built (no C compiler?)")


def _payload(frame_bytes: bytes) -> bytes:
    dec = FrameDecoder()
    dec.feed(frame_bytes)
    (frame,) = list(dec.frames())
    return payload_of(frame)


def _both(buf: bytes, pos: int):
    fast = scan._fastscan.scan_lines(buf, pos)
    py_out, py_spans, py_end = scan._scan_lines_py(buf, pos)
    return fast, (py_out, py_spans, py_end)


def _assert_same(buf: bytes, pos: int) -> None:
    fast, (py_out, py_spans, py_end) = _both(buf, pos)
    if fast is None:
        return  # unsupported shapes fall back to Python by design
    out, spans, end = scan._summaries_from_spans(buf, *fast)
    assert (out, spans, end) == (py_out, py_spans, py_end)


@pytest.mark.parametrize("kind", ["plain", "coloured", "wide"])
@pytest.mark.parametrize("cols", [80, 200])
def test_bench_content_agrees(kind, cols):
    buf = _payload(get_lines_response(kind, cols, 300, seed=cols))
    fast, _ = _both(buf, 1)
    assert fast is not None
    _assert_same(buf, 1)


GOLDEN_LINES = [(v, e) for v, e in golden.all_entries() if e["pdu"] in ("GetLinesResponse",)]


@pytest.mark.parametrize("case", GOLDEN_LINES, ids=[f"{v}/{e['file']}" for v, e in GOLDEN_LINES])
def test_golden_agrees(case):
    version, entry = case
    buf = golden.payload_bytes(version, entry)
    _assert_same(buf, 1)  # pane_id 7: one byte
    # and the whole scan (with hyperlink/image fix-ups) equals the decoded fingerprints
    got, _ = L.scan_serialized_lines(buf, 1)
    value = SERIALIZED_LINES.loads(buf[1:])
    assert [s.fingerprint for s in got] == L.serialized_lines_fingerprints(value)


def test_truncations_never_crash_and_fall_back():
    buf = _payload(get_lines_response("coloured", 80, 50, seed=3))
    rnd = random.Random(5)
    for cut in sorted(rnd.sample(range(2, len(buf)), 200)):
        fast = scan._fastscan.scan_lines(buf[:cut], 1)  # never raises, never reads past the end
        assert fast is None or fast[1] <= cut
        with pytest.raises(Exception) as exc:
            L.scan_serialized_lines(buf[:cut], 1)
        assert exc.type.__module__.startswith("codec")


def test_random_mutations_agree_or_fall_back():
    base = SERIALIZED_LINES.dumps(serialized_lines({r: f"row {r} text" for r in range(20)}))
    rnd = random.Random(7)
    for _ in range(500):
        b = bytearray(base)
        for _ in range(rnd.randint(1, 4)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        buf = bytes(b)
        fast = scan._fastscan.scan_lines(buf, 0)
        try:
            py = scan._scan_lines_py(buf, 0)
        except Exception:  # noqa: BLE001 - Python rejected it: C must not claim success with other results
            py = None
        if fast is not None:
            assert py is not None, "the C walk accepted bytes the reference walk rejects"
            assert scan._summaries_from_spans(buf, *fast) == py


def _example(schema):
    """A value of ``schema`` for the few shapes a cell's colours are made of."""
    from codec.wire.varbincode import F32, U8, Tuple

    if schema is F32:
        return 0.5
    if schema is U8:
        return 7
    if isinstance(schema, Tuple):
        return tuple(_example(item) for item in schema.items)
    raise AssertionError(f"no example for {schema.name}")


def _variants(enum):
    return [v.name if v.payload is None else {v.name: _example(v.payload)} for v in enum.variants]


def test_every_colour_variant_the_schema_declares_is_walked_alike():
    """The C walk writes the Cell layout by hand: a cell of each SmallColor and ColorAttribute
    variant of the schema must be walked by it (no fallback) exactly as the schema-derived Python walk."""
    from codec.schema.termwiz import COLOR_ATTRIBUTE, LINE, SMALL_COLOR

    cells = []
    for small in _variants(SMALL_COLOR):
        for colour in _variants(COLOR_ATTRIBUTE):
            fat = {"hyperlink": None, "image": [], "underline_color": colour, "foreground": colour,
                   "background": colour}
            for f in (None, fat):
                cells.append({"text": "x", "attrs": {"attributes": 1 << 11, "foreground": small,
                                                     "background": small, "fat": f}})
    line = {"cells": {"V": {"cells": cells}}, "zones": [], "seqno": 300, "bits": 0}
    buf = SERIALIZED_LINES.dumps({"lines": [(5, line)], "hyperlinks": [], "images": []})
    assert buf[0] == 1 and LINE.dumps(line) in buf
    fast, _ = _both(buf, 0)
    assert fast is not None, "the C walk fell back on a cell the schema allows"
    _assert_same(buf, 0)
