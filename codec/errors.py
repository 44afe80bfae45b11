"""The codec's one exception family.

Every failure the codec can report derives from :class:`CodecError`, so a
caller (the proxy's tap, the CLI) needs exactly one ``except`` clause and can
never be surprised by an ``IndexError`` or ``zstd`` error from the depths of a
decoder. Decode errors carry the byte offset and the path inside the value,
because "bad data" is useless when you are staring at a 2 MB capture.
"""

from __future__ import annotations


class CodecError(Exception):
    """Base of every error raised by :mod:`codec`."""


class FrameError(CodecError):
    """The frame layer could not make sense of the byte stream.

    ``offset`` is the stream offset of the frame's first byte (when known).
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.message = message
        self.offset = offset
        super().__init__(message if offset is None else f"{message} (at stream offset {offset})")


class LimitExceeded(FrameError):
    """A configured safety limit (frame length, decompressed size) was exceeded."""


class PayloadError(CodecError):
    """A PDU payload did not decode (or a value did not encode) against its schema.

    ``offset`` is the byte offset inside the (decompressed) payload where the
    innermost failing element started; ``path`` names the element, e.g.
    ``GetLinesResponse.lines.lines[3].1.cells``.
    """

    def __init__(self, reason: str, offset: int | None = None, path: str = "") -> None:
        self.reason = reason
        self.offset = offset
        self.path = path
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.path:
            where.append(f"at {self.path}")
        if self.offset is not None:
            where.append(f"payload offset {self.offset}")
        return f"{self.reason} ({', '.join(where)})" if where else self.reason

    def prefixed(self, segment: str) -> PayloadError:
        """Return self with ``segment`` prepended to the path (used while unwinding)."""
        if not self.path:
            self.path = segment
        elif self.path.startswith("["):
            self.path = segment + self.path
        else:
            self.path = f"{segment}.{self.path}"
        self.args = (self._render(),)
        return self


class EncodeError(PayloadError):
    """A Python value does not fit the schema it is being encoded with."""


class DecompressionError(CodecError):
    """A compressed payload is not valid zstd."""
