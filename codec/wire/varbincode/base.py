"""The :class:`Schema` base of the varbincode DSL, and how bad bytes become one error type.

A schema compiles lazily into two closures, ``decode(buf, pos) -> (value, pos)`` and
``encode(value, out)``; the closures raise whatever Python raises on bad bytes (``IndexError``
past the end, ``struct.error``, ``UnicodeDecodeError``...), and the compound schemas turn that into
a :class:`~codec.errors.PayloadError` carrying the offset and the path inside the value (the helpers
here), so a caller has one exception family to catch. :class:`Ref` (recursive types) and
:class:`Custom` (types with a hand-written serde impl in WezTerm) are schema plumbing, not serde
shapes, so they live here too.
"""

from __future__ import annotations

import struct as _struct
from collections.abc import Callable
from typing import Any

from codec.errors import EncodeError, PayloadError

Decoder = Callable[[bytes, int], tuple[Any, int]]
Encoder = Callable[[Any, bytearray], None]

# Exceptions a decoder closure may raise that mean "the bytes are bad";
# compound decoders convert them into PayloadError with offset and path.
BAD_INPUT = (IndexError, _struct.error, UnicodeDecodeError, ValueError, OverflowError, RecursionError)


def bad(exc: BaseException, offset: int, segment: str) -> PayloadError:
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


def bad_encode(exc: BaseException, segment: str) -> EncodeError:
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
        except BAD_INPUT as exc:
            raise bad(exc, 0, self.name) from None
        return value

    def dumps(self, value: Any) -> bytes:
        out = bytearray()
        try:
            self.encode(value, out)
        except EncodeError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
            raise bad_encode(exc, self.name) from None
        return bytes(out)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


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


class Custom(Schema):
    """A type with a hand-written serde impl in WezTerm, given as a decode/encode pair."""

    def __init__(self, name: str, decode: Decoder, encode: Encoder, min_size: int = 0) -> None:
        super().__init__()
        self.name = name
        self._decode = decode
        self._encode = encode
        self.min_size = min_size
