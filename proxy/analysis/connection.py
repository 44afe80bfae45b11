"""Decoding one connection's two byte streams into timestamped PDUs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from codec.pdu import Pdu, PduStream, StreamError
from proxy.relay.relay import CLIENT_TO_SERVER, SERVER_TO_CLIENT


@dataclass(slots=True)
class WireEvent:
    """A PDU (or a decode problem) seen on a connection.

    ``t_ns`` is the monotonic time at which the chunk holding the frame's last
    byte was read from the socket: the moment the PDU was complete.
    """

    conn_id: int
    direction: str
    t_ns: int
    pdu: Pdu | None = None
    error: StreamError | None = None

    @property
    def from_client(self) -> bool:
        return self.direction == CLIENT_TO_SERVER


#: the analysis's budget for one frame's inflated payload (real frames are a few MB at most)
MAX_DECOMPRESSED_PER_FRAME = 64 * 1024 * 1024
#: sequence/map elements one frame may decode into, in the analysis process (proxy/analysis/worker.py)
MAX_OBJECTS_PER_FRAME = 250_000


@dataclass
class ConnectionDecoder:
    """Both directions of one connection, fed chunk by chunk from the tap."""

    conn_id: int
    forced_version: int | None = None
    summary_lines: bool = True
    #: None: no element budget (analysis on threads, tests); the analysis process sets one
    max_objects: int | None = None
    streams: dict[str, PduStream] = field(init=False)
    expected_seq: dict[str, int] = field(init=False)
    gaps: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.streams = {
            d: PduStream(self.forced_version, summary_lines=self.summary_lines,
                         max_decompressed=MAX_DECOMPRESSED_PER_FRAME, max_objects=self.max_objects)
            for d in (CLIENT_TO_SERVER, SERVER_TO_CLIENT)
        }
        self.expected_seq = {CLIENT_TO_SERVER: 0, SERVER_TO_CLIENT: 0}

    @property
    def codec_version(self) -> int:
        return self.streams[SERVER_TO_CLIENT].version.number

    @property
    def peer_codec_version(self) -> int | None:
        return self.streams[SERVER_TO_CLIENT].peer_version

    def feed(self, direction: str, seq: int, t_ns: int, data: bytes) -> Iterator[WireEvent]:
        stream = self.streams[direction]
        if seq != self.expected_seq[direction]:
            # Chunks were dropped upstream of us: whatever frame was in
            # progress is unrecoverable. Start over, looking for a header.
            self.gaps += 1
            missed = seq - self.expected_seq[direction]
            old = stream.frames
            stream.restart_framing()
            yield WireEvent(
                self.conn_id, direction, t_ns,
                error=StreamError(old.offset, f"analysis skipped {missed} chunk(s); resynchronising", "gap"),
            )
        self.expected_seq[direction] = seq + 1
        for item in stream.feed(data):
            if isinstance(item, Pdu):
                if item.name == "GetCodecVersionResponse" and direction == SERVER_TO_CLIENT:
                    # keep the client->server stream on the same version
                    self.streams[CLIENT_TO_SERVER].observe_codec_version(item.body["codec_vers"])
                yield WireEvent(self.conn_id, direction, t_ns, pdu=item)
            else:
                yield WireEvent(self.conn_id, direction, t_ns, error=item)

    def leftover(self) -> dict[str, int]:
        """Bytes of incomplete frames left in each direction (at close)."""
        return {d: s.frames.buffered for d, s in self.streams.items()}
