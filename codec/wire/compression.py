"""zstd the way WezTerm uses it, with a ceiling on what a payload may inflate to.

Encoding (``serialize`` in codec/src/lib.rs): payloads of at most 32 bytes go
out as they are; larger ones are compressed and sent compressed only if that is
smaller. How the sender compresses is a :class:`Compression` scheme, and which
version uses which is said in one place, ``CodecVersion.compression``
(codec/schema/versions.py). Our encoder reproduces the choice and the level;
the exact compressed bytes depend on the zstd build, so tests compare payloads
after decompression.

Decoding streams the decompression (frames without a content size defeat
one-shot decompression) and stops at ``max_size`` + 1 bytes, so a zstd bomb
costs at most the limit.
"""

from __future__ import annotations

import io
import threading
from enum import StrEnum

import zstandard

from codec.errors import DecompressionError, LimitExceeded

COMPRESS_THRESH = 32
#: Default ceiling for one decompressed payload.
DEFAULT_MAX_DECOMPRESSED = 512 * 1024 * 1024
#: bytes inflated per step (see decompress)
READ_STEP = 1024 * 1024


class Compression(StrEnum):
    """How a WezTerm sender compresses a payload that is worth compressing."""

    #: a *streaming* ``zstd::Encoder`` at the default level (3): frames carry no content size
    STREAMING_LEVEL_3 = "streaming-level-3"
    #: a reused one-shot compressor at level 1: frames declare their content size
    ONESHOT_LEVEL_1 = "oneshot-level-1"


class _Contexts(threading.local):
    """zstd contexts, one set per thread: a context must never be used by two threads at once
    (zstd manual: "use one context per thread"; shared, payloads come out corrupt or the
    process crashes). Reusing them within a thread saves their allocation on every frame."""

    def __init__(self) -> None:
        self.dctx = zstandard.ZstdDecompressor()
        self.streaming = zstandard.ZstdCompressor(level=3, write_content_size=False)
        self.oneshot = zstandard.ZstdCompressor(level=1, write_content_size=True)


_contexts = _Contexts()


def decompress(data: bytes, max_size: int = DEFAULT_MAX_DECOMPRESSED) -> bytes:
    """Inflate one payload; raises LimitExceeded past ``max_size`` bytes."""
    try:
        # in steps, so a bomb costs what it inflates to before the limit, not the limit up front
        parts: list[bytes] = []
        got = 0
        with _contexts.dctx.stream_reader(io.BytesIO(data), read_across_frames=True) as reader:
            while got <= max_size:
                part = reader.read(min(READ_STEP, max_size + 1 - got))
                if not part:
                    break
                parts.append(part)
                got += len(part)
        out = parts[0] if len(parts) == 1 else b"".join(parts)
    except zstandard.ZstdError as exc:
        raise DecompressionError(f"invalid zstd payload: {exc}") from None
    if len(out) > max_size:
        raise LimitExceeded(f"payload inflates past the limit of {max_size} bytes")
    return out


def compress_like_wezterm(
    payload: bytes, scheme: Compression = Compression.STREAMING_LEVEL_3
) -> tuple[bytes, bool]:
    """Return (bytes to send, compressed?) the way ``serialize()`` decides, compressing as ``scheme``
    (a version's ``CodecVersion.compression``; the default is what codec 42 to 44 senders do)."""
    if len(payload) <= COMPRESS_THRESH:
        return payload, False
    cctx = _contexts.oneshot if scheme == Compression.ONESHOT_LEVEL_1 else _contexts.streaming
    compressed = cctx.compress(payload)
    if len(compressed) < len(payload):
        return compressed, True
    return payload, False
