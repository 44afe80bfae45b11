"""The primitive types of varbincode: integers, floats, bool, char, strings, bytes and ``()``.

Each is a :class:`~codec.wire.varbincode.base.Schema` whose closures are written out by hand (no
compilation step): they are the leaves every decode spends most of its time in.
"""

from __future__ import annotations

import struct as _struct

from codec.errors import EncodeError, PayloadError
from codec.wire.leb128 import decode_signed, decode_unsigned, encode_signed, encode_unsigned
from codec.wire.varbincode.base import Decoder, Encoder, Schema

_F32 = _struct.Struct("<f")
_F64 = _struct.Struct("<d")


class Primitive(Schema):
    """A scalar with a fixed wire form (integers, floats, bool, char, strings, bytes)."""

    def __init__(self, name: str, dec: Decoder, enc: Encoder, min_size: int) -> None:
        super().__init__()
        self.name = name
        self.min_size = min_size
        self._decode = dec
        self._encode = enc


def _raw_u8_dec(buf: bytes, pos: int) -> tuple[int, int]:
    return buf[pos], pos + 1


def _raw_u8_enc(value: int, out: bytearray) -> None:
    out.append(value)


def _raw_i8_dec(buf: bytes, pos: int) -> tuple[int, int]:
    b = buf[pos]
    return (b - 256 if b > 127 else b), pos + 1


def _raw_i8_enc(value: int, out: bytearray) -> None:
    if not -128 <= value <= 127:
        raise EncodeError(f"i8 out of range: {value}")
    out.append(value & 0xFF)


def _uint(bits: int) -> tuple[Decoder, Encoder]:
    limit = (1 << bits) - 1

    def dec(buf: bytes, pos: int) -> tuple[int, int]:
        b = buf[pos]
        if b < 0x80:
            return b, pos + 1
        value, end = decode_unsigned(buf, pos)
        if value > limit:
            raise PayloadError(f"number out of range for u{bits}: {value}", pos)
        return value, end

    def enc(value: int, out: bytearray) -> None:
        if type(value) is bool or not isinstance(value, int) or not 0 <= value <= limit:
            raise EncodeError(f"not a u{bits}: {value!r}")
        if value < 0x80:
            out.append(value)
        else:
            out += encode_unsigned(value)

    return dec, enc


def _sint(bits: int) -> tuple[Decoder, Encoder]:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def dec(buf: bytes, pos: int) -> tuple[int, int]:
        value, end = decode_signed(buf, pos)
        if not lo <= value <= hi:
            raise PayloadError(f"number out of range for i{bits}: {value}", pos)
        return value, end

    def enc(value: int, out: bytearray) -> None:
        if type(value) is bool or not isinstance(value, int) or not lo <= value <= hi:
            raise EncodeError(f"not an i{bits}: {value!r}")
        out += encode_signed(value)

    return dec, enc


def _bool_dec(buf: bytes, pos: int) -> tuple[bool, int]:
    b = buf[pos]
    if b == 0:
        return False, pos + 1
    if b == 1:
        return True, pos + 1
    raise PayloadError(f"invalid bool encoding: {b}", pos)


def _bool_enc(value: bool, out: bytearray) -> None:
    if value is not True and value is not False:
        raise EncodeError(f"not a bool: {value!r}")
    out.append(1 if value else 0)


def _f32_dec(buf: bytes, pos: int) -> tuple[float, int]:
    return _F32.unpack_from(buf, pos)[0], pos + 4


def _f32_enc(value: float, out: bytearray) -> None:
    out += _F32.pack(value)


def _f64_dec(buf: bytes, pos: int) -> tuple[float, int]:
    return _F64.unpack_from(buf, pos)[0], pos + 8


def _f64_enc(value: float, out: bytearray) -> None:
    out += _F64.pack(value)


def _len_prefix(buf: bytes, pos: int) -> tuple[int, int]:
    n, pos = decode_unsigned(buf, pos)
    if n > len(buf) - pos:
        raise PayloadError(f"length {n} exceeds the {len(buf) - pos} bytes left", pos)
    return n, pos


def _str_dec(buf: bytes, pos: int) -> tuple[str, int]:
    n, pos = _len_prefix(buf, pos)
    end = pos + n
    return buf[pos:end].decode("utf-8"), end


def _str_enc(value: str, out: bytearray) -> None:
    if not isinstance(value, str):
        raise EncodeError(f"not a str: {value!r}")
    data = value.encode("utf-8")
    out += encode_unsigned(len(data))
    out += data


def _bytes_dec(buf: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _len_prefix(buf, pos)
    end = pos + n
    return bytes(buf[pos:end]), end


def _bytes_enc(value: bytes, out: bytearray) -> None:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise EncodeError(f"not bytes: {type(value).__name__}")
    out += encode_unsigned(len(value))
    out += value


def _char_dec(buf: bytes, pos: int) -> tuple[str, int]:
    value, end = decode_unsigned(buf, pos)
    if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        raise PayloadError(f"invalid char encoding: {value:#x}", pos)
    return chr(value), end


def _char_enc(value: str, out: bytearray) -> None:
    if not isinstance(value, str) or len(value) != 1:
        raise EncodeError(f"not a char: {value!r}")
    out += encode_unsigned(ord(value))


def _unit_dec(buf: bytes, pos: int) -> tuple[None, int]:
    return None, pos


def _unit_enc(value: None, out: bytearray) -> None:
    if value is not None:
        raise EncodeError(f"unit value must be None, got {value!r}")


U8 = Primitive("u8", _raw_u8_dec, _raw_u8_enc, 1)
I8 = Primitive("i8", _raw_i8_dec, _raw_i8_enc, 1)
U16 = Primitive("u16", *_uint(16), 1)
U32 = Primitive("u32", *_uint(32), 1)
U64 = Primitive("u64", *_uint(64), 1)
USIZE = Primitive("usize", *_uint(64), 1)
I16 = Primitive("i16", *_sint(16), 1)
I32 = Primitive("i32", *_sint(32), 1)
I64 = Primitive("i64", *_sint(64), 1)
ISIZE = Primitive("isize", *_sint(64), 1)
BOOL = Primitive("bool", _bool_dec, _bool_enc, 1)
F32 = Primitive("f32", _f32_dec, _f32_enc, 4)
F64 = Primitive("f64", _f64_dec, _f64_enc, 8)
CHAR = Primitive("char", _char_dec, _char_enc, 1)
STR = Primitive("String", _str_dec, _str_enc, 1)
PATH = Primitive("PathBuf", _str_dec, _str_enc, 1)
BYTES = Primitive("Vec<u8>", _bytes_dec, _bytes_enc, 1)
UNIT = Primitive("()", _unit_dec, _unit_enc, 0)
