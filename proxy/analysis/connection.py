"""Decoding one connection's two byte streams into timestamped PDUs.

The decoding itself, version negotiation and the chunk-gap rule are the codec's
(:class:`codec.connection.MuxConnection`); this adds what only the proxy knows:
the connection id and when each chunk was read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from codec.connection import ChunksMissed, DecodeFailed, MuxConnection, PduReceived
from codec.direction import Direction
from codec.pdu import Pdu, StreamError, StreamErrorKind
from proxy.analysis.wire import Fact, fact_of


@dataclass(frozen=True, slots=True)
class WireEvent:
    """A PDU (or a decode problem) seen on a connection: the analysis's input event.

    ``t_ns`` is the monotonic time at which the chunk holding the frame's last
    byte was read from the socket: the moment the PDU was complete. ``fact`` is
    what the PDU states, typed (:mod:`proxy.analysis.wire`), when the analysis
    acts on it.
    """

    conn_id: int
    direction: Direction
    t_ns: int
    pdu: Pdu | None = None
    error: StreamError | None = None
    fact: Fact | None = None

    @property
    def from_client(self) -> bool:
        return self.direction == Direction.CLIENT_TO_SERVER


#: the analysis's budget for one frame's inflated payload (real frames are a few MB at most)
MAX_DECOMPRESSED_PER_FRAME = 64 * 1024 * 1024
#: sequence/map elements one frame may decode into, in the analysis process (proxy/isolation/analysis_process.py)
MAX_OBJECTS_PER_FRAME = 250_000
#: zstd output one connection may make the analysis inflate per second (both directions)
MAX_INFLATE_PER_S = 256 * 1024 * 1024


@dataclass
class ConnectionDecoder:
    """Both directions of one connection, fed chunk by chunk from the tap."""

    conn_id: int
    forced_version: int | None = None
    summary_lines: bool = True
    #: None: no element budget (analysis on threads, tests); the analysis process sets one
    max_objects: int | None = None
    connection: MuxConnection = field(init=False)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.connection = MuxConnection(self.forced_version, summary_lines=self.summary_lines,
                                        max_decompressed=MAX_DECOMPRESSED_PER_FRAME, max_objects=self.max_objects,
                                        max_inflate_per_s=MAX_INFLATE_PER_S)

    @property
    def codec_version(self) -> int:
        return self.connection.version(Direction.SERVER_TO_CLIENT).number

    @property
    def peer_codec_version(self) -> int | None:
        return self.connection.peer_version

    @property
    def gaps(self) -> int:
        """Times the tap's chunk numbers jumped (chunks dropped before the analysis got them)."""
        return self.connection.gaps

    def feed(self, direction: Direction, seq: int, t_ns: int, data: bytes) -> Iterator[WireEvent]:
        for ev in self.connection.receive_data(direction, data, seq):
            if isinstance(ev, PduReceived):
                yield WireEvent(self.conn_id, ev.direction, t_ns, pdu=ev.pdu, fact=fact_of(ev.pdu))
            elif isinstance(ev, DecodeFailed):
                yield WireEvent(self.conn_id, ev.direction, t_ns, error=ev.error)
            elif isinstance(ev, ChunksMissed):
                # whatever frame was in progress is unrecoverable; the codec resynchronises
                reason = f"analysis skipped {ev.missed} chunk(s); resynchronising"
                error = StreamError(ev.offset, reason, StreamErrorKind.GAP)
                yield WireEvent(self.conn_id, ev.direction, t_ns, error=error)
