"""Structs: named fields in order (``Struct``), newtypes, unit structs, and ``Range<T>``.

:meth:`Struct.replace` is how one codec version's struct is described as another's with fields
dropped, retyped or appended (see ``codec/schema/versions.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from codec.errors import EncodeError, PayloadError
from codec.wire.varbincode.base import BAD_INPUT, Decoder, Encoder, Schema, bad, bad_encode
from codec.wire.varbincode.primitives import UNIT


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
            except BAD_INPUT as exc:
                raise bad(exc, pos, name) from None
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
                    raise bad_encode(exc, name) from None

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
        self._decode = UNIT.decode
        self._encode = UNIT.encode


def Range(item: Schema) -> Struct:  # noqa: N802 - mirrors the Rust type name
    """``std::ops::Range<T>``: serde serializes it as a struct ``{start, end}``."""
    return Struct(f"Range<{item.name}>", [("start", item), ("end", item)])


