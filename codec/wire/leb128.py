"""LEB128 varints, as the ``leb128`` crate writes them.

Used by the frame header (length, serial, ident) and by varbincode for every
integer wider than a byte. Signed values are *signed* LEB128 (sign extension,
not zigzag), which is what varbincode's ``leb128::write::signed`` produces.
"""

from __future__ import annotations

from codec.errors import PayloadError

MAX_U64 = (1 << 64) - 1


def encode_unsigned(value: int) -> bytes:
    if value < 0 or value > MAX_U64:
        raise ValueError(f"unsigned LEB128 value out of range: {value}")
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_signed(value: int) -> bytes:
    if value < -(1 << 63) or value >= (1 << 63):
        raise ValueError(f"signed LEB128 value out of range: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40):
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def decode_unsigned(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode an unsigned varint at ``pos``; returns (value, new_pos).

    Mirrors ``leb128::read::unsigned``: more than 64 significant bits is an
    overflow error, running off the end of ``buf`` raises ``IndexError`` (the
    schema interpreter turns that into a :class:`PayloadError` with a path).
    """
    byte = buf[pos]
    if byte < 0x80:
        return byte, pos + 1
    result = byte & 0x7F
    shift = 7
    pos += 1
    while True:
        byte = buf[pos]
        pos += 1
        if shift == 63 and byte > 1:
            raise PayloadError("LEB128 value overflows u64", pos - 1)
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise PayloadError("LEB128 value overflows u64", pos)


def decode_signed(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a signed varint; mirrors ``leb128::read::signed`` including i64 wrap."""
    byte = buf[pos]
    if byte < 0x40:
        return byte, pos + 1
    result = 0
    shift = 0
    start = pos
    while True:
        byte = buf[pos]
        pos += 1
        if shift == 63 and byte != 0x00 and byte != 0x7F:
            raise PayloadError("signed LEB128 value overflows i64", start)
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    result &= MAX_U64
    if shift < 64 and byte & 0x40:
        result |= (MAX_U64 << shift) & MAX_U64
    if result >= 1 << 63:
        result -= 1 << 64
    return result, pos


def encoded_length(value: int) -> int:
    """Bytes taken by the unsigned LEB128 of ``value`` (frame length arithmetic)."""
    n = 1
    while value >= 0x80:
        value >>= 7
        n += 1
    return n
