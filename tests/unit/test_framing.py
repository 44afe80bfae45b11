"""The frame layer against WezTerm's own codec tests (codec/src/lib.rs `mod test`)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codec import FrameDecoder, FrameError, LimitExceeded, PduStream, decode_frame, encode_frame, encode_pdu
from codec.schema.versions import get_version
from codec.wire.compression import compress_like_wezterm, decompress
from codec.wire.framing import COMPRESSED_MASK


def test_encode_raw_vector():
    # test_frame: encode_raw(0x81, 0x42, b"hello") == b"\x08\x42\x81\x01hello"
    assert encode_frame(0x81, 0x42, b"hello") == bytes.fromhex("084281016865 6c6c6f".replace(" ", ""))
    dec = FrameDecoder()
    dec.feed(encode_frame(0x81, 0x42, b"hello"))
    (frame,) = list(dec.frames())
    assert (frame.ident, frame.serial, frame.payload, frame.compressed) == (0x81, 0x42, b"hello", False)


def test_ping_pong_vectors():
    assert encode_pdu("Ping", {}, 0x40) == bytes([2, 0x40, 1])
    assert encode_pdu("Pong", {}, 0x42) == bytes([2, 0x42, 2])


def test_bogus_ident_is_unknown_not_error():
    dec = FrameDecoder()
    dec.feed(encode_frame(0xDEADBEEF, 0x42, b"hello"))
    (frame,) = list(dec.frames())
    pdu = decode_frame(frame)
    assert pdu.name == "Unknown" and pdu.ident == 0xDEADBEEF and pdu.serial == 0x42
    assert pdu.payload == b"hello"


@pytest.mark.parametrize("length", [128, 247, 256, 65536, 16777216])
def test_frame_lengths(length):
    payload = b"a" * length
    data = encode_frame(0x42, length, payload)
    dec = FrameDecoder()
    dec.feed(data)
    (frame,) = list(dec.frames())
    assert frame.ident == 0x42 and frame.serial == length and frame.payload == payload
    assert frame.wire_len == len(data)


def test_stream_decode_ping_pong():
    data = encode_pdu("Ping", {}, 1) + encode_pdu("Pong", {}, 2)
    assert len(data) == 6
    stream = PduStream()
    pdus = list(stream.feed(data))
    assert [(p.name, p.serial) for p in pdus] == [("Ping", 1), ("Pong", 2)]
    assert stream.frames.close() == 0


def test_compressed_length_prefix_is_ten_bytes():
    payload = b"x" * 1000
    data, compressed = compress_like_wezterm(payload)
    assert compressed
    frame = encode_frame(23, 7, data, True)
    assert frame[9] & 0x80 == 0 and all(b & 0x80 for b in frame[:9])
    dec = FrameDecoder()
    dec.feed(frame)
    (f,) = list(dec.frames())
    assert f.compressed and decompress(f.payload) == payload


def test_small_payloads_are_never_compressed():
    for n in range(33):
        assert compress_like_wezterm(b"\0" * n) == (b"\0" * n, False)
    # incompressible and larger than the threshold: sent as is
    rnd = random.Random(1).randbytes(64)
    assert compress_like_wezterm(rnd) == (rnd, False)


def test_codec45_frames_declare_content_size():
    import zstandard

    data, compressed = compress_like_wezterm(b"y" * 500, get_version(45).compression)
    assert compressed
    assert zstandard.frame_content_size(data) == 500
    data44, _ = compress_like_wezterm(b"y" * 500, get_version(44).compression)
    assert zstandard.frame_content_size(data44) == -1  # unknown, like zstd::Encoder's streams


def test_frame_length_limit():
    dec = FrameDecoder(max_frame_len=1000)
    dec.feed(encode_frame(23, 1, b"z" * 2000)[:5])
    with pytest.raises(LimitExceeded) as exc:
        dec.next_frame()
    assert exc.value.offset == 0


def test_decompression_limit_stops_zstd_bombs():
    import zstandard

    bomb = zstandard.ZstdCompressor(level=19).compress(b"\0" * (50 * 1024 * 1024))
    assert len(bomb) < 10_000
    with pytest.raises(LimitExceeded):
        decompress(bomb, max_size=1024 * 1024)


def test_sizes_that_dont_make_sense():
    # len 1 cannot hold a 1-byte serial and a 1-byte ident
    dec = FrameDecoder()
    dec.feed(bytes([1, 5, 1]))
    with pytest.raises(FrameError):
        dec.next_frame()


def test_overlong_varint_is_an_error():
    dec = FrameDecoder()
    dec.feed(b"\xff" * 9 + b"\x7f")
    with pytest.raises(FrameError):
        dec.next_frame()


def _stream_of_frames(seed: int) -> tuple[bytes, list[tuple[int, int, bytes, bool]]]:
    rnd = random.Random(seed)
    out = bytearray()
    expected = []
    for serial in range(1, 40):
        ident = rnd.choice([1, 2, 22, 23, 25, 300, 0xDEADBEEF])
        payload = rnd.randbytes(rnd.choice([0, 1, 5, 200, 5000]))
        compressed = False
        if ident == 23 and payload:
            payload, compressed = compress_like_wezterm(b"row " * len(payload))
        out += encode_frame(ident, serial, payload, compressed)
        expected.append((serial, ident, payload, compressed))
    return bytes(out), expected


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(1, 7000), min_size=0, max_size=40))
def test_chunking_invariance(seed, cuts):
    data, expected = _stream_of_frames(seed)
    dec = FrameDecoder()
    got = []
    pos = 0
    for size in [*cuts, len(data)]:
        dec.feed(data[pos : pos + size])
        pos += size
        got.extend((f.serial, f.ident, f.payload, f.compressed) for f in dec.frames())
    assert got == expected
    assert dec.close() == 0


def test_one_byte_at_a_time_offsets():
    data, expected = _stream_of_frames(3)
    dec = FrameDecoder()
    offsets = []
    for i in range(len(data)):
        dec.feed(data[i : i + 1])
        offsets.extend(f.offset for f in dec.frames())
    assert len(offsets) == len(expected)
    one_shot = FrameDecoder()
    one_shot.feed(data)
    assert offsets == [f.offset for f in one_shot.frames()]


def test_resync_after_garbage():
    good = encode_pdu("Ping", {}, 1) + encode_pdu("Pong", {}, 2)
    garbage = bytes(5)  # a zero length cannot hold serial and ident: sizes that don't make sense
    stream = PduStream()
    events = list(stream.feed(encode_pdu("Ping", {}, 9) + garbage + good))
    names = [getattr(e, "name", None) for e in events]
    assert names[0] == "Ping"
    assert names[-2:] == ["Ping", "Pong"]
    assert any(getattr(e, "kind", None) == "frame" for e in events)


def test_compressed_mask_constant():
    assert COMPRESSED_MASK == 1 << 63
