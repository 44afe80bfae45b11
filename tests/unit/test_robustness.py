"""Hostile and broken input: only the codec's own errors, quickly, with bounded memory.

Every golden frame (made by WezTerm's own code) is truncated at many points and
has bytes flipped at random; decoding must either succeed or raise a
CodecError (offset and path attached) within a time bound. The stream decoder
must never raise at all: it reports and resynchronises.
"""

from __future__ import annotations

import contextlib
import random
import time

import pytest

from codec import CodecError, FrameDecoder, PduStream, decode_frame
from codec.errors import PayloadError
from codec.pdu import payload_of
from codec.schema.versions import get_version
from codec.wire.framing import Frame
from tests import golden

CASES = [c for c in golden.all_entries() if c[1]["payload_len"] > 0]


def _frame(version: str, entry: dict) -> Frame:
    dec = FrameDecoder()
    dec.feed(golden.frame_bytes(version, entry))
    (frame,) = list(dec.frames())
    return frame


def _uncompressed(frame: Frame, payload: bytes) -> Frame:
    return Frame(frame.serial, frame.ident, False, payload, 0, len(payload) + 3)


@pytest.mark.parametrize("case", CASES, ids=[f"{v}/{e['file']}" for v, e in CASES])
def test_truncated_and_mutated_payloads(case):
    version, entry = case
    frame = _frame(version, entry)
    payload = payload_of(frame)
    number = {"v42": 42, "v44": 44}[version]
    schema_version = get_version(number)
    rnd = random.Random(entry["file"])
    tries = 40 if len(payload) < 50_000 else 4  # the 2,000-row frames take ~0.5 s per full decode
    cuts = sorted(set(rnd.sample(range(len(payload)), min(tries, len(payload)))))
    t0 = time.perf_counter()
    for cut in cuts:
        with pytest.raises(CodecError) as exc:
            pdu = decode_frame(_uncompressed(frame, payload[:cut]), schema_version)
            if pdu.name == "Unknown":
                raise PayloadError("unknown")  # not expected for golden idents
            # a prefix can only decode if the value ends before the cut (trailing data is allowed)
            if pdu.trailing == 0 and cut < len(payload):
                raise PayloadError("decoded a strict prefix")
        if isinstance(exc.value, PayloadError) and exc.value.reason not in ("unknown", "decoded a strict prefix"):
            assert exc.value.path, "decode errors name the element that failed"
    for _ in range(tries + 20 if tries > 4 else 4):
        b = bytearray(payload)
        for _ in range(rnd.randint(1, 6)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        with contextlib.suppress(CodecError):  # an error is fine; any other exception fails the test
            decode_frame(_uncompressed(frame, bytes(b)), schema_version)
    assert time.perf_counter() - t0 < 20.0


@pytest.mark.parametrize("version", golden.VERSIONS)
def test_stream_decoder_never_raises_on_mutated_streams(version):
    data = (golden.GOLDEN / version / golden.manifest(version)["stream"]["file"]).read_bytes()
    rnd = random.Random(version)
    for _ in range(30):
        b = bytearray(data)
        for _ in range(rnd.randint(1, 20)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        stream = PduStream(max_frame_len=1 << 20)
        t0 = time.perf_counter()
        items = []
        for i in range(0, len(b), 4096):
            items.extend(stream.feed(bytes(b[i : i + 4096])))  # must not raise
        assert time.perf_counter() - t0 < 10.0
        assert stream.frames.buffered <= len(b)


def test_huge_declared_lengths_do_not_allocate():
    # a sequence claiming 2**60 elements, a string claiming 2**40 bytes: refused at once
    from codec.schema.pdus import GET_LINES, SEND_PASTE
    from codec.wire.leb128 import encode_unsigned

    with pytest.raises(PayloadError, match="cannot fit"):
        GET_LINES.loads(b"\x01" + encode_unsigned(2**60))
    with pytest.raises(PayloadError, match="exceeds"):
        SEND_PASTE.loads(b"\x01" + encode_unsigned(2**40) + b"abc")


def test_deeply_nested_pane_tree_is_refused():
    from codec.schema.pdus import LIST_PANES_RESPONSE

    # tabs: 1 entry, then Split{left: Split{left: ...}} 10,000 levels deep (variant 1 = Split)
    payload = b"\x01" + b"\x01" * 10_000
    with pytest.raises(PayloadError) as exc:
        LIST_PANES_RESPONSE.loads(payload)
    assert "deep" in str(exc.value) or "nest" in str(exc.value)


def test_unknown_enum_variant_names_the_path():
    from codec.schema.pdus import NOTIFY_ALERT

    with pytest.raises(PayloadError) as exc:
        NOTIFY_ALERT.loads(b"\x07\x63")
    assert "alert" in exc.value.path and "variant index 99" in exc.value.reason
