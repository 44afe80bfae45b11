"""Enums: a LEB128 variant index then the variant's payload; and bitflags sets (``Flags``).

The order of :attr:`Enum.variants` *is* the wire index, as in the Rust declaration;
:meth:`Enum.replace` describes a codec version that added or removed variants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from codec.errors import EncodeError, PayloadError
from codec.wire.leb128 import decode_unsigned, encode_unsigned
from codec.wire.varbincode.base import BAD_INPUT, Decoder, Encoder, Schema, bad


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
            except BAD_INPUT as exc:
                raise bad(exc, p, vname) from None
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
