"""Declarative varbincode schemas and the one interpreter that decodes and encodes them.

WezTerm serializes every PDU with serde into the ``varbincode`` format
(github.com/wez/varbincode, ``src/ser.rs``/``src/de.rs``). The rules, checked
against that source:

* ``u8``/``i8`` are one raw byte; ``u16..u64``/``usize`` are unsigned LEB128;
  ``i16..i64`` are *signed* LEB128 (not zigzag); out-of-range values are errors.
* ``bool`` is written as LEB128 0/1 and read back as a raw byte: same bytes.
* ``f32``/``f64`` are little-endian IEEE754.
* ``char`` is the LEB128 of its code point (not UTF-8).
* ``str``/``String``/``PathBuf``/``Vec<u8>``/``&[u8]`` are a u64 length then the bytes.
* ``Option`` is a raw ``u8`` tag (0 = None, 1 = Some, anything else an error).
* sequences and maps are a u64 count followed by the elements (keys and values interleaved).
* enum variants are the LEB128 of the variant index, then the payload (if any).
* structs, tuples, tuple structs and fixed arrays are their fields in order,
  with no count; newtypes are their inner value; unit structs and ``()`` take no bytes.

A schema is a tree of :class:`Schema` objects, declared once per Rust type in
``codec/schema/``. :meth:`Schema.compile` turns it into a pair of closures,
``decode(buf, pos) -> (value, pos)`` and ``encode(value, out)``, which is
where all the speed comes from: no per-value dispatch on the schema's class.

Decoded values have the shape ``serde_json`` gives the Rust value, so a PDU
body can be compared field by field with WezTerm's own rendering:
struct -> ``dict`` by field name, tuple/tuple struct -> ``tuple``, newtype ->
inner value, unit struct/``()`` -> ``None``, unit variant -> ``"Name"``, other
variants -> ``{"Name": payload}``, ``Option`` -> ``None`` or the value, map ->
``dict``, ``Vec<u8>``/``[u8; N]`` -> ``bytes``. :func:`to_json` finishes the job
(tuples become lists, bytes become lists of ints, map keys become strings).
"""

from __future__ import annotations

import struct as _struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from codec.errors import EncodeError, PayloadError
from codec.wire.leb128 import decode_signed, decode_unsigned, encode_signed, encode_unsigned

Decoder = Callable[[bytes, int], tuple[Any, int]]
Encoder = Callable[[Any, bytearray], None]

_F32 = _struct.Struct("<f")
_F64 = _struct.Struct("<d")

# Exceptions a decoder closure may raise that mean "the bytes are bad";
# compound decoders convert them into PayloadError with offset and path.
_BAD_INPUT = (IndexError, _struct.error, UnicodeDecodeError, ValueError, OverflowError, RecursionError)


def _bad(exc: BaseException, offset: int, segment: str) -> PayloadError:
    if isinstance(exc, PayloadError):
        if exc.offset is None:
            exc.offset = offset
        return exc.prefixed(segment)
    if isinstance(exc, (IndexError, _struct.error)):
        reason = "unexpected end of payload"
    elif isinstance(exc, RecursionError):
        reason = "value nested too deeply"
    elif isinstance(exc, UnicodeDecodeError):
        reason = f"invalid UTF-8 in string: {exc.reason}"
    else:
        reason = str(exc) or type(exc).__name__
    return PayloadError(reason, offset, segment)


def _bad_encode(exc: BaseException, segment: str) -> EncodeError:
    if isinstance(exc, EncodeError):
        return exc.prefixed(segment)  # type: ignore[return-value]
    return EncodeError(f"cannot encode value: {exc}", None, segment)


class Schema:
    """A varbincode type. Subclasses describe one serde shape each."""

    name: str = "?"
    #: the fewest bytes any value of this type takes on the wire; used to
    #: reject sequence lengths that cannot fit in what is left of a payload
    #: (so a hostile length prefix cannot make us loop or allocate).
    min_size: int = 0

    def __init__(self) -> None:
        self._decode: Decoder | None = None
        self._encode: Encoder | None = None

    # -- compilation -------------------------------------------------------
    @property
    def decode(self) -> Decoder:
        if self._decode is None:
            self._decode = self._make_decoder()
        return self._decode

    @property
    def encode(self) -> Encoder:
        if self._encode is None:
            self._encode = self._make_encoder()
        return self._encode

    def _make_decoder(self) -> Decoder:
        raise NotImplementedError

    def _make_encoder(self) -> Encoder:
        raise NotImplementedError

    # -- conveniences -----------------------------------------------------
    def loads(self, data: bytes) -> Any:
        """Decode a whole payload; trailing bytes are tolerated as WezTerm does."""
        try:
            value, _ = self.decode(data, 0)
        except PayloadError:
            raise
        except _BAD_INPUT as exc:
            raise _bad(exc, 0, self.name) from None
        return value

    def dumps(self, value: Any) -> bytes:
        out = bytearray()
        try:
            self.encode(value, out)
        except EncodeError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
            raise _bad_encode(exc, self.name) from None
        return bytes(out)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


# ---------------------------------------------------------------------------
# primitives


class _Prim(Schema):
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


U8 = _Prim("u8", _raw_u8_dec, _raw_u8_enc, 1)
I8 = _Prim("i8", _raw_i8_dec, _raw_i8_enc, 1)
U16 = _Prim("u16", *_uint(16), 1)
U32 = _Prim("u32", *_uint(32), 1)
U64 = _Prim("u64", *_uint(64), 1)
USIZE = _Prim("usize", *_uint(64), 1)
I16 = _Prim("i16", *_sint(16), 1)
I32 = _Prim("i32", *_sint(32), 1)
I64 = _Prim("i64", *_sint(64), 1)
ISIZE = _Prim("isize", *_sint(64), 1)
BOOL = _Prim("bool", _bool_dec, _bool_enc, 1)
F32 = _Prim("f32", _f32_dec, _f32_enc, 4)
F64 = _Prim("f64", _f64_dec, _f64_enc, 8)
CHAR = _Prim("char", _char_dec, _char_enc, 1)
STR = _Prim("String", _str_dec, _str_enc, 1)
PATH = _Prim("PathBuf", _str_dec, _str_enc, 1)
BYTES = _Prim("Vec<u8>", _bytes_dec, _bytes_enc, 1)
UNIT = _Prim("()", _unit_dec, _unit_enc, 0)


# ---------------------------------------------------------------------------
# composites


class Option(Schema):
    def __init__(self, inner: Schema) -> None:
        super().__init__()
        self.inner = inner
        self.name = f"Option<{inner.name}>"
        self.min_size = 1

    def _make_decoder(self) -> Decoder:
        inner = self.inner

        def dec(buf: bytes, pos: int) -> tuple[Any, int]:
            tag = buf[pos]
            if tag == 0:
                return None, pos + 1
            if tag == 1:
                return inner.decode(buf, pos + 1)
            raise PayloadError(f"invalid Option tag: {tag}", pos)

        return dec

    def _make_encoder(self) -> Encoder:
        inner = self.inner

        def enc(value: Any, out: bytearray) -> None:
            if value is None:
                out.append(0)
            else:
                out.append(1)
                inner.encode(value, out)

        return enc


class Seq(Schema):
    """``Vec<T>``, ``VecDeque<T>``, ``HashSet<T>`` (as a list)..."""

    def __init__(self, item: Schema, name: str | None = None) -> None:
        super().__init__()
        self.item = item
        self.name = name or f"Vec<{item.name}>"
        self.min_size = 1

    def _make_decoder(self) -> Decoder:
        item = self.item
        per = max(1, item.min_size)

        def dec(buf: bytes, pos: int) -> tuple[list[Any], int]:
            n, pos = decode_unsigned(buf, pos)
            if n * per > len(buf) - pos:
                raise PayloadError(
                    f"sequence of {n} elements cannot fit in the {len(buf) - pos} bytes left", pos
                )
            item_dec = item.decode
            out = []
            append = out.append
            i = 0
            try:
                for i in range(n):
                    v, pos = item_dec(buf, pos)
                    append(v)
            except PayloadError as exc:
                raise exc.prefixed(f"[{i}]") from None
            except _BAD_INPUT as exc:
                raise _bad(exc, pos, f"[{i}]") from None
            return out, pos

        return dec

    def _make_encoder(self) -> Encoder:
        item = self.item

        def enc(value: Sequence[Any], out: bytearray) -> None:
            if isinstance(value, (str, bytes, Mapping)):
                raise EncodeError(f"expected a sequence, got {type(value).__name__}")
            out += encode_unsigned(len(value))
            item_enc = item.encode
            for i, v in enumerate(value):
                try:
                    item_enc(v, out)
                except EncodeError as exc:
                    raise exc.prefixed(f"[{i}]") from None
                except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
                    raise _bad_encode(exc, f"[{i}]") from None

        return enc


class Map(Schema):
    """``HashMap<K, V>``/``BTreeMap<K, V>`` as a dict.

    On the wire a HashMap's order is whatever the sender's map iterated, so the
    decoded dict keeps wire order and encoding writes the dict's order: a
    decode/encode round trip is byte-exact.
    """

    def __init__(self, key: Schema, value: Schema, name: str | None = None) -> None:
        super().__init__()
        self.key = key
        self.value = value
        self.name = name or f"HashMap<{key.name}, {value.name}>"
        self.min_size = 1

    def _make_decoder(self) -> Decoder:
        key, val = self.key, self.value
        per = max(1, key.min_size + val.min_size)

        def dec(buf: bytes, pos: int) -> tuple[dict[Any, Any], int]:
            n, pos = decode_unsigned(buf, pos)
            if n * per > len(buf) - pos:
                raise PayloadError(f"map of {n} entries cannot fit in the {len(buf) - pos} bytes left", pos)
            out: dict[Any, Any] = {}
            i = 0
            try:
                for i in range(n):
                    k, pos = key.decode(buf, pos)
                    v, pos = val.decode(buf, pos)
                    out[k] = v
            except PayloadError as exc:
                raise exc.prefixed(f"[{i}]") from None
            except _BAD_INPUT as exc:
                raise _bad(exc, pos, f"[{i}]") from None
            except TypeError as exc:  # unhashable key
                raise PayloadError(f"unusable map key: {exc}", pos, f"[{i}]") from None
            return out, pos

        return dec

    def _make_encoder(self) -> Encoder:
        key, val = self.key, self.value

        def enc(value: Mapping[Any, Any], out: bytearray) -> None:
            items = value.items() if isinstance(value, Mapping) else list(value)
            out += encode_unsigned(len(items))
            for k, v in items:
                try:
                    key.encode(k, out)
                    val.encode(v, out)
                except EncodeError as exc:
                    raise exc.prefixed(f"[{k!r}]") from None

        return enc


class Tuple(Schema):
    """``(A, B, ...)`` and tuple structs ``struct X(A, B)``: fields in order, no count."""

    def __init__(self, *items: Schema, name: str | None = None) -> None:
        super().__init__()
        self.items = items
        self.name = name or "(" + ", ".join(i.name for i in items) + ")"
        self.min_size = sum(i.min_size for i in items)

    def _make_decoder(self) -> Decoder:
        items = self.items

        def dec(buf: bytes, pos: int) -> tuple[tuple[Any, ...], int]:
            out = []
            i = 0
            try:
                for i, item in enumerate(items):
                    v, pos = item.decode(buf, pos)
                    out.append(v)
            except PayloadError as exc:
                raise exc.prefixed(str(i)) from None
            except _BAD_INPUT as exc:
                raise _bad(exc, pos, str(i)) from None
            return tuple(out), pos

        return dec

    def _make_encoder(self) -> Encoder:
        items = self.items

        def enc(value: Sequence[Any], out: bytearray) -> None:
            if len(value) != len(items):
                raise EncodeError(f"expected a {len(items)}-tuple, got {len(value)} items")
            for i, (item, v) in enumerate(zip(items, value, strict=True)):
                try:
                    item.encode(v, out)
                except EncodeError as exc:
                    raise exc.prefixed(str(i)) from None

        return enc


class Array(Schema):
    """``[T; N]``: N elements, no count. ``[u8; N]`` decodes to ``bytes``."""

    def __init__(self, item: Schema, length: int) -> None:
        super().__init__()
        self.item = item
        self.length = length
        self.name = f"[{item.name}; {length}]"
        self.min_size = item.min_size * length

    def _make_decoder(self) -> Decoder:
        n = self.length
        if self.item is U8:

            def dec_bytes(buf: bytes, pos: int) -> tuple[bytes, int]:
                end = pos + n
                if end > len(buf):
                    raise PayloadError(f"[u8; {n}] runs past the end of the payload", pos)
                return bytes(buf[pos:end]), end

            return dec_bytes
        seq = Tuple(*([self.item] * n), name=self.name)
        tdec = seq.decode

        def dec(buf: bytes, pos: int) -> tuple[list[Any], int]:
            v, pos = tdec(buf, pos)
            return list(v), pos

        return dec

    def _make_encoder(self) -> Encoder:
        n = self.length
        if self.item is U8:

            def enc_bytes(value: bytes, out: bytearray) -> None:
                if len(value) != n:
                    raise EncodeError(f"expected {n} bytes, got {len(value)}")
                out += value

            return enc_bytes
        return Tuple(*([self.item] * n), name=self.name).encode


class Struct(Schema):
    """A struct with named fields: the fields in order, no count. Decodes to a dict."""

    def __init__(self, name: str, fields: Iterable[tuple[str, Schema]] = ()) -> None:
        super().__init__()
        self.name = name
        self.fields = list(fields)
        self.min_size = sum(f.min_size for _, f in self.fields)

    def replace(
        self,
        *,
        name: str | None = None,
        drop: Iterable[str] = (),
        add: Iterable[tuple[str, Schema]] = (),
        retype: Mapping[str, Schema] | None = None,
    ) -> Struct:
        """A copy with fields dropped, retyped or appended: how one codec version differs from another."""
        dropped = set(drop)
        retype = dict(retype or {})
        missing = (dropped | set(retype)) - {n for n, _ in self.fields}
        if missing:
            raise KeyError(f"{self.name} has no field(s) {sorted(missing)}")
        kept = [(n, retype.get(n, f)) for n, f in self.fields if n not in dropped]
        return Struct(name or self.name, kept + list(add))

    def _make_decoder(self) -> Decoder:
        fields = [(n, f) for n, f in self.fields]

        def dec(buf: bytes, pos: int) -> tuple[dict[str, Any], int]:
            out = {}
            name = ""
            try:
                for name, f in fields:
                    out[name], pos = f.decode(buf, pos)
            except PayloadError as exc:
                raise exc.prefixed(name) from None
            except _BAD_INPUT as exc:
                raise _bad(exc, pos, name) from None
            return out, pos

        return dec

    def _make_encoder(self) -> Encoder:
        fields = self.fields
        sname = self.name

        def enc(value: Mapping[str, Any], out: bytearray) -> None:
            if not isinstance(value, Mapping):
                raise EncodeError(f"{sname} must be a mapping of its fields, got {type(value).__name__}")
            for name, f in fields:
                try:
                    v = value[name]
                except KeyError:
                    raise EncodeError(f"missing field {name!r} of {sname}") from None
                try:
                    f.encode(v, out)
                except EncodeError as exc:
                    raise exc.prefixed(name) from None
                except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
                    raise _bad_encode(exc, name) from None

        return enc


class Newtype(Schema):
    """``struct X(T)``: serialized as T; decodes to T's value."""

    def __init__(self, name: str, inner: Schema) -> None:
        super().__init__()
        self.name = name
        self.inner = inner
        self.min_size = inner.min_size

    def _make_decoder(self) -> Decoder:
        return self.inner.decode

    def _make_encoder(self) -> Encoder:
        return self.inner.encode


class UnitStruct(Schema):
    """``struct X;``: no bytes; serde_json renders it as null."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self._decode = _unit_dec
        self._encode = _unit_enc


class Variant:
    """One enum variant. ``payload`` is None for a unit variant; a :class:`Struct`
    for a struct variant; a :class:`Tuple` for a tuple variant; anything else for
    a newtype variant."""

    def __init__(self, name: str, payload: Schema | None = None) -> None:
        self.name = name
        self.payload = payload


class Enum(Schema):
    """A Rust enum: LEB128 variant index, then the variant's payload.

    Variants are listed in declaration order (that order *is* the wire index).
    """

    def __init__(self, name: str, variants: Iterable[Variant | str]) -> None:
        super().__init__()
        self.name = name
        self.variants = [v if isinstance(v, Variant) else Variant(v) for v in variants]
        self.by_name = {v.name: (i, v) for i, v in enumerate(self.variants)}
        self.min_size = 1

    def replace(
        self, *, drop: Iterable[str] = (), append: Iterable[Variant | str] = (), name: str | None = None
    ) -> Enum:
        """A copy with variants removed or appended (a codec version's difference)."""
        dropped = set(drop)
        kept = [v for v in self.variants if v.name not in dropped]
        return Enum(name or self.name, kept + [v if isinstance(v, Variant) else Variant(v) for v in append])

    def _make_decoder(self) -> Decoder:
        table: list[tuple[str, Decoder | None]] = [
            (v.name, v.payload.decode if v.payload is not None else None) for v in self.variants
        ]
        ename = self.name
        count = len(table)

        def dec(buf: bytes, pos: int) -> tuple[Any, int]:
            idx, p = decode_unsigned(buf, pos)
            if idx >= count:
                raise PayloadError(f"unknown {ename} variant index {idx} (known: 0..{count - 1})", pos)
            vname, vdec = table[idx]
            if vdec is None:
                return vname, p
            try:
                value, p = vdec(buf, p)
            except PayloadError as exc:
                raise exc.prefixed(vname) from None
            except _BAD_INPUT as exc:
                raise _bad(exc, p, vname) from None
            return {vname: value}, p

        return dec

    def _make_encoder(self) -> Encoder:
        by_name = {
            v.name: (encode_unsigned(i), v.payload.encode if v.payload is not None else None)
            for i, v in enumerate(self.variants)
        }
        ename = self.name

        def enc(value: Any, out: bytearray) -> None:
            if isinstance(value, str):
                vname, payload = value, None
            elif isinstance(value, Mapping) and len(value) == 1:
                ((vname, payload),) = value.items()
            else:
                raise EncodeError(f"{ename} value must be 'Variant' or {{'Variant': payload}}, got {value!r}")
            try:
                tag, venc = by_name[vname]
            except KeyError:
                raise EncodeError(f"{ename} has no variant {vname!r}") from None
            out += tag
            if venc is None:
                if payload is not None:
                    raise EncodeError(f"{ename}::{vname} is a unit variant")
                return
            try:
                venc(payload, out)
            except EncodeError as exc:
                raise exc.prefixed(vname) from None

        return enc


class Ref(Schema):
    """A forward reference, for recursive types (``PaneNode`` holds ``PaneNode``)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.target: Schema | None = None
        self.min_size = 1

    def resolve(self, target: Schema) -> None:
        self.target = target

    def _make_decoder(self) -> Decoder:
        ref = self

        def dec(buf: bytes, pos: int) -> tuple[Any, int]:
            assert ref.target is not None, f"unresolved schema reference {ref.name}"
            return ref.target.decode(buf, pos)

        return dec

    def _make_encoder(self) -> Encoder:
        ref = self

        def enc(value: Any, out: bytearray) -> None:
            assert ref.target is not None, f"unresolved schema reference {ref.name}"
            ref.target.encode(value, out)

        return enc


class Flags(Schema):
    """A bitflags set carried as an integer on the wire.

    ``bitflags`` 2 renders in serde_json (human-readable) as ``"A | B"``; on the
    varbincode wire it is the bare integer. Decodes to :class:`FlagsValue`, an
    ``int`` that also knows its names.
    """

    def __init__(self, name: str, inner: Schema, names: Mapping[int, str]) -> None:
        super().__init__()
        self.name = name
        self.inner = inner
        self.names = dict(names)
        self.min_size = inner.min_size

    def _make_decoder(self) -> Decoder:
        inner_dec = self.inner.decode
        names = self.names

        def dec(buf: bytes, pos: int) -> tuple[FlagsValue, int]:
            v, pos = inner_dec(buf, pos)
            fv = FlagsValue(v)
            fv.names = names
            return fv, pos

        return dec

    def _make_encoder(self) -> Encoder:
        inner_enc = self.inner.encode
        by_name = {n: b for b, n in self.names.items()}

        def enc(value: Any, out: bytearray) -> None:
            if isinstance(value, str):  # accept the serde_json rendering too
                bits = 0
                for part in filter(None, (p.strip() for p in value.split("|"))):
                    bits |= by_name[part] if part in by_name else int(part, 0)
                value = bits
            inner_enc(int(value), out)

        return enc


class FlagsValue(int):
    """An int from a :class:`Flags` schema; renders as bitflags 2's ``"A | B"``."""

    names: Mapping[int, str] = {}

    def render(self) -> str:
        parts = []
        rest = int(self)
        for bit, name in self.names.items():
            if bit and rest & bit == bit:
                parts.append(name)
                rest &= ~bit
        if rest:
            parts.append(f"{rest:#x}")
        return " | ".join(parts)


class Custom(Schema):
    """A type with a hand-written serde impl in WezTerm, given as a decode/encode pair."""

    def __init__(self, name: str, decode: Decoder, encode: Encoder, min_size: int = 0) -> None:
        super().__init__()
        self.name = name
        self._decode = decode
        self._encode = encode
        self.min_size = min_size


def Range(item: Schema) -> Struct:  # noqa: N802 - mirrors the Rust type name
    """``std::ops::Range<T>``: serde serializes it as a struct ``{start, end}``."""
    return Struct(f"Range<{item.name}>", [("start", item), ("end", item)])


# ---------------------------------------------------------------------------
# rendering


def to_json(value: Any) -> Any:
    """Render a decoded value the way serde_json renders the Rust value.

    Tuples become lists, ``bytes`` lists of ints, map keys strings, bitflags 2
    sets their flag names, and values that know their serde rendering (an
    ``OsString``: ``{"Unix": [bytes]}``) give it through ``serde_json()``. The
    result is plain JSON data, valid UTF-8 whatever the wire held.

    One deviation, where serde_json has no answer: a map whose keys serde_json
    refuses ("key must be a string": ``CommandBuilder.envs``, keyed by
    ``OsString``) is rendered as a list of ``[key, value]`` pairs in wire order,
    the shape the golden vectors' ``facts`` use, rather than failing.
    """
    render = getattr(type(value), "serde_json", None)
    if render is not None:
        return render(value)
    if isinstance(value, dict):
        if any(getattr(type(k), "serde_json", None) is not None for k in value):
            return [[to_json(k), to_json(v)] for k, v in value.items()]
        return {_json_key(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, FlagsValue):
        return value.render()
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    return value


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    raise TypeError(f"serde_json cannot use {type(key).__name__} as a map key")


# ---------------------------------------------------------------------------
# versioning


def substitute(schema: Schema, replacements: Mapping[Schema, Schema], _memo: dict[int, Schema] | None = None) -> Schema:
    """``schema`` with every occurrence of a key of ``replacements`` replaced, at any depth.

    This is how a codec version is described: "v42 is v44 with ``ClientId``
    replaced by ``ClientId`` without ``ssh_auth_sock``", and every PDU that
    embeds a ``ClientId`` (directly or inside ``ClientInfo``) follows. Schemas
    that contain nothing replaced are returned as they are (same object).
    """
    memo: dict[int, Schema] = {} if _memo is None else _memo
    key = id(schema)
    if key in memo:
        return memo[key]
    if schema in replacements:
        memo[key] = replacements[schema]
        return memo[key]

    # Provisional entry: a recursive type (PaneNode -> Ref -> PaneNode) meets
    # itself again while being rebuilt and must stop there. (So a replacement
    # *inside* a recursive cycle is not supported; none of WezTerm's needs it.)
    memo[key] = schema

    def sub(s: Schema) -> Schema:
        return substitute(s, replacements, memo)

    out: Schema = schema
    if isinstance(schema, Struct):
        fields = [(n, sub(f)) for n, f in schema.fields]
        if any(a[1] is not b[1] for a, b in zip(fields, schema.fields, strict=True)):
            out = Struct(schema.name, fields)
    elif isinstance(schema, Enum):
        payloads = [sub(v.payload) if v.payload is not None else None for v in schema.variants]
        if any(p is not v.payload for p, v in zip(payloads, schema.variants, strict=True)):
            out = Enum(schema.name, [Variant(v.name, p) for v, p in zip(schema.variants, payloads, strict=True)])
    elif isinstance(schema, Tuple):
        items = [sub(i) for i in schema.items]
        if any(a is not b for a, b in zip(items, schema.items, strict=True)):
            out = Tuple(*items, name=schema.name)
    elif isinstance(schema, Seq):
        item = sub(schema.item)
        if item is not schema.item:
            out = Seq(item, name=schema.name)
    elif isinstance(schema, Map):
        k, v = sub(schema.key), sub(schema.value)
        if k is not schema.key or v is not schema.value:
            out = Map(k, v, name=schema.name)
    elif isinstance(schema, Option):
        inner = sub(schema.inner)
        if inner is not schema.inner:
            out = Option(inner)
    elif isinstance(schema, Array):
        item = sub(schema.item)
        if item is not schema.item:
            out = Array(item, schema.length)
    elif isinstance(schema, Newtype):
        inner = sub(schema.inner)
        if inner is not schema.inner:
            out = Newtype(schema.name, inner)
    elif isinstance(schema, Ref) and schema.target is not None:
        target = sub(schema.target)
        if target is not schema.target:
            ref = Ref(schema.name)
            ref.resolve(target)
            out = ref
    memo[key] = out
    return out
