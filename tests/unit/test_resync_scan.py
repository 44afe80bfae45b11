"""The resync scan's regex prefilter skips only positions the per-position walk rejects.

``codec/wire/resync.py`` finds header candidates with one compiled regex and judges only those
in Python; ``MUXSCOPE_NO_ACCEL=1`` (or ``accel=False``) walks every position. Both must give
the same frames, the same errors and the same resynchronisation points.
"""

from __future__ import annotations

import random

import pytest

from bench import bench_fuzz, bench_resync
from codec import PduStream
from codec.pdu import KNOWN_IDENTS
from codec.wire.framing import RESYNC_MAX_UNCOMPRESSED_LEN, encode_frame
from codec.wire.resync import TAIL, Scanner, Verdict, candidate_pattern
from tests import golden

needs_golden = pytest.mark.skipif(not golden.available(), reason="golden vectors not found (tests/golden)")


def _scanner(accel: bool) -> Scanner:
    return Scanner(32 << 20, RESYNC_MAX_UNCOMPRESSED_LEN, KNOWN_IDENTS, None, accel=accel)


def _decoded(data: bytes, accel: bool, monkeypatch: pytest.MonkeyPatch, cuts: list[int]) -> list[str]:
    monkeypatch.setenv("MUXSCOPE_NO_ACCEL", "0" if accel else "1")
    stream = PduStream(44, summary_lines=True)
    out: list[str] = []
    prev = 0
    for cut in [*cuts, len(data)]:
        out += [repr(item) for item in stream.feed(data[prev:cut])]
        prev = cut
    return out


def test_every_plausible_position_matches_the_pattern():
    """The prefilter is a superset: a complete header plausible() believes is never skipped."""
    rnd = random.Random(7)
    pattern = candidate_pattern(KNOWN_IDENTS, RESYNC_MAX_UNCOMPRESSED_LEN)
    slow = _scanner(accel=False)
    real = encode_frame(8, 300, b"\x01\x02", False) + encode_frame(30, 1, b"\x28\xb5\x2f\xfd" + bytes(9), True)
    yes = 0
    for _ in range(40):
        buf = bytearray(rnd.randbytes(2000) + real + rnd.randbytes(200))
        for pos in range(len(buf) - TAIL):
            verdict, _ = slow.plausible(buf, pos, len(buf))
            if verdict is Verdict.YES:
                yes += 1
                assert pattern.match(buf, pos), (buf[pos : pos + 24].hex(), pos)
    assert yes > 1000  # the check had positions to check


def test_the_pattern_skips_most_random_positions():
    buf = random.Random(3).randbytes(100_000)
    pattern = candidate_pattern(KNOWN_IDENTS, RESYNC_MAX_UNCOMPRESSED_LEN)
    matches = sum(1 for _ in pattern.finditer(buf))
    assert matches < len(buf) * 0.3


@needs_golden
def test_accelerated_and_python_scans_agree_on_garbage_and_fuzz(monkeypatch):
    rnd = random.Random(11)
    frames = bench_resync.golden_frames()
    fuzz = bench_fuzz.inputs(5)
    cases = [rnd.randbytes(rnd.randint(50, 3000)) + b"".join(rnd.choice(frames) for _ in range(6))
             for _ in range(25)]
    cases += [next(fuzz) for _ in range(60)]
    for data in cases:
        cuts = sorted(rnd.sample(range(len(data) + 1), k=min(3, len(data) + 1)))
        fast = _decoded(data, True, monkeypatch, cuts)
        slow = _decoded(data, False, monkeypatch, cuts)
        assert fast == slow, data[:64].hex()


def test_the_switch_off_walks_every_position(monkeypatch):
    monkeypatch.setenv("MUXSCOPE_NO_ACCEL", "1")
    assert Scanner(1 << 20, 1 << 20, KNOWN_IDENTS, None).candidates is None
    monkeypatch.delenv("MUXSCOPE_NO_ACCEL")
    assert Scanner(1 << 20, 1 << 20, KNOWN_IDENTS, None).candidates is not None


def test_a_non_minimal_leb128_header_is_not_believed():
    """WezTerm writes minimal LEB128 (the leb128 crate): a length of 0x85 0x00 is garbage, not 5."""
    scanner = _scanner(accel=False)
    good = bytearray(encode_frame(8, 1, b"\x00\x00", False))
    assert scanner.plausible(good, 0, len(good))[0] is Verdict.YES
    padded = bytearray([good[0] | 0x80, 0x00]) + good[1:]
    assert scanner.plausible(padded, 0, len(padded))[0] is Verdict.NO
