"""Containers: ``Option``, sequences, maps, tuples and fixed arrays.

A length prefix is checked against the bytes left in the payload before anything is allocated
(``min_size`` of the element type), so a hostile count cannot make a decoder loop or grow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from codec.errors import EncodeError, LimitExceeded, PayloadError
from codec.wire.leb128 import decode_unsigned, encode_unsigned
from codec.wire.varbincode.base import BAD_INPUT, Decoder, Encoder, Schema, bad, bad_encode
from codec.wire.varbincode.primitives import U8


class _Budget:
    """Elements (of sequences and maps) one frame may still decode into; None: unlimited.

    Set per frame by :func:`codec.pdu.decode_frame` when its caller gave a budget (the live
    analysis does): a payload of a few MB can hold millions of tiny elements, each a Python
    object of a hundred bytes or more. Charged before the elements are built."""

    left: int | None = None

    def charge(self, n: int) -> None:
        left = (self.left or 0) - n
        if left < 0:
            self.left = 0
            raise LimitExceeded("decoding would build more objects than the per-frame limit allows")
        self.left = left


BUDGET = _Budget()


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
            if BUDGET.left is not None:
                BUDGET.charge(n)
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
            except BAD_INPUT as exc:
                raise bad(exc, pos, f"[{i}]") from None
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
                    raise bad_encode(exc, f"[{i}]") from None

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
            if BUDGET.left is not None:
                BUDGET.charge(n)
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
            except BAD_INPUT as exc:
                raise bad(exc, pos, f"[{i}]") from None
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
            except BAD_INPUT as exc:
                raise bad(exc, pos, str(i)) from None
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
