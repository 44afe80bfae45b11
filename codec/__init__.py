"""muxscope's sans-I/O codec for the WezTerm mux protocol (codec versions 42 to 45).

Bytes in, frames and typed PDUs out, and the reverse; no sockets, no asyncio,
no logging configuration. Layers, bottom up:

* :mod:`codec.wire.leb128`, :mod:`codec.wire.framing`: varints and frames (``FrameDecoder``).
* :mod:`codec.wire.compression`: zstd as WezTerm uses it, with a decompression ceiling.
* :mod:`codec.wire.varbincode`: the schema DSL and its interpreter.
* :mod:`codec.schema`: one declarative schema per Rust type, per codec version.
* :mod:`codec.pdu`: frames <-> PDUs, and ``PduStream`` for a connection direction.
* :mod:`codec.connection`: ``MuxConnection``, both directions of a connection: version
  negotiation and chunk gaps (with :mod:`codec.direction` and :mod:`codec.sequence`).
* :mod:`codec.lines`: line text, content fingerprints and the fast scan used by the analysis.
"""

from codec.connection import (
    ChunksMissed,
    DecodeFailed,
    MuxConnection,
    Negotiation,
    PduReceived,
    VersionNegotiated,
)
from codec.direction import Direction
from codec.errors import CodecError, DecompressionError, EncodeError, FrameError, LimitExceeded, PayloadError
from codec.pdu import Pdu, PduStream, StreamError, decode_frame, encode_payload, encode_pdu
from codec.wire.framing import Frame, FrameDecoder, encode_frame

__all__ = [
    "ChunksMissed",
    "CodecError",
    "DecodeFailed",
    "DecompressionError",
    "Direction",
    "EncodeError",
    "Frame",
    "FrameDecoder",
    "FrameError",
    "LimitExceeded",
    "MuxConnection",
    "Negotiation",
    "PayloadError",
    "Pdu",
    "PduReceived",
    "PduStream",
    "StreamError",
    "VersionNegotiated",
    "decode_frame",
    "encode_frame",
    "encode_payload",
    "encode_pdu",
]
