"""Budgets for everything decoded (issue #13): what one PDU, one frame or one second may cost."""

from __future__ import annotations

import pytest
import zstandard

from codec import PduStream, decode_frame, encode_frame, encode_pdu
from codec.budget import InflateRate
from codec.errors import LimitExceeded
from codec.pdu import Pdu
from codec.schema.versions import get_version
from codec.wire.framing import FrameDecoder
from codec.wire.leb128 import encode_unsigned
from proxy.analysis.budgets import MAX_RANGES, MAX_ROWS_PER_GETLINES, over_budget

TWELVE_BYTES = bytes.fromhex("0b011600010080a094a58d1d")


def _one(data: bytes) -> Pdu:
    (pdu,) = PduStream(44).feed(data)
    assert isinstance(pdu, Pdu)
    return pdu


def test_the_twelve_byte_getlines_is_over_budget_and_a_normal_one_is_not():
    pdu = _one(TWELVE_BYTES)
    assert pdu.name == "GetLines" and pdu.body["lines"] == [{"start": 0, "end": 10**12}]
    assert "rows" in over_budget(pdu)
    ok = _one(encode_pdu("GetLines", {"pane_id": 1, "lines": [{"start": 0, "end": MAX_ROWS_PER_GETLINES}]}, 3))
    assert over_budget(ok) is None


def test_too_many_ranges_is_over_budget():
    lines = [{"start": i, "end": i + 1} for i in range(MAX_RANGES + 1)]
    assert "ranges" in over_budget(_one(encode_pdu("GetLines", {"pane_id": 1, "lines": lines}, 3)))


def test_decoded_objects_are_charged_before_they_are_built():
    raw = b"\x00" + encode_unsigned(4_000_000) + b"\x00\x00" * 4_000_000
    frame_bytes = encode_frame(get_version(44).ident_by_name["GetLines"], 1,
                               zstandard.ZstdCompressor(level=19).compress(raw), True)
    assert len(frame_bytes) < 1000
    dec = FrameDecoder()
    dec.feed(frame_bytes)
    (frame,) = dec.frames()
    with pytest.raises(LimitExceeded, match="limit"):
        decode_frame(frame, 44, max_objects=250_000)
    assert len(decode_frame(frame, 44).body["lines"]) == 4_000_000  # no budget given: decoded


def test_inflate_rate_per_connection_skips_compressed_frames_until_the_next_second():
    now = [0.0]
    rate = InflateRate(200_000, clock=lambda: now[0])
    big = encode_pdu("SetClipboard", {"pane_id": 1, "clipboard": "x" * 150_000, "selection": "Clipboard"}, 0)
    stream = PduStream(44, inflate_rate=rate)
    out = list(stream.feed(big * 3))
    kinds = [type(x).__name__ for x in out]
    assert kinds == ["Pdu", "Pdu", "StreamError"], kinds
    assert "per second" in out[2].reason
    now[0] = 1.5
    assert [type(x).__name__ for x in stream.feed(big)] == ["Pdu"]
    assert rate.skipped == 1
