"""One mux connection, both directions, sans I/O: :class:`MuxConnection`.

Like h11's ``Connection``: the caller feeds the bytes each side sent, as they
were read, and gets typed events back; nothing here reads a socket, a clock or
a logger. What a connection adds to two independent :class:`~codec.pdu.PduStream`
decoders is the state they share:

* **version negotiation**: wezterm-gui asks ``GetCodecVersion`` first, and the
  server's ``GetCodecVersionResponse`` says which codec both sides speak; from
  the next frame on, both directions decode with that version. The rules are
  the table :data:`NEGOTIATION` (after h11's ``_state.py``): a forced version is
  never switched, and a response that (against the protocol) comes from the
  client only switches the client's direction.
* **chunk numbers and gaps**: a caller that may lose chunks (the proxy's tap
  drops rather than block the relay) passes each chunk's number; a jump means
  the frame in progress is lost, so that direction starts over, looking for the
  next plausible frame header, and a :class:`ChunksMissed` event says so.
  Without numbers, chunks are numbered in arrival order and never missed.
* **directions** as :class:`~codec.direction.Direction`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum

from codec.budget import InflateRate
from codec.direction import Direction
from codec.pdu import Pdu, PduStream, StreamError
from codec.schema.versions import CodecVersion
from codec.sequence import ChunkNumbers
from codec.wire.compression import DEFAULT_MAX_DECOMPRESSED
from codec.wire.framing import DEFAULT_MAX_FRAME_LEN

C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT


class Negotiation(Enum):
    """Where a connection is in agreeing on its codec version."""

    #: no ``GetCodecVersionResponse`` from the server yet: decoding with ``DEFAULT_VERSION``
    DEFAULT = "default"
    #: the server announced its version; both directions decode with it
    NEGOTIATED = "negotiated"
    #: the caller chose the version; announcements are recorded, never followed
    FORCED = "forced"


#: (state, direction a ``GetCodecVersionResponse`` arrived on) -> (next state, directions that switch to it)
NEGOTIATION: Mapping[tuple[Negotiation, Direction], tuple[Negotiation, tuple[Direction, ...]]] = {
    (Negotiation.DEFAULT, S2C): (Negotiation.NEGOTIATED, (S2C, C2S)),
    (Negotiation.DEFAULT, C2S): (Negotiation.DEFAULT, (C2S,)),
    (Negotiation.NEGOTIATED, S2C): (Negotiation.NEGOTIATED, (S2C, C2S)),
    (Negotiation.NEGOTIATED, C2S): (Negotiation.NEGOTIATED, (C2S,)),
    (Negotiation.FORCED, S2C): (Negotiation.FORCED, ()),
    (Negotiation.FORCED, C2S): (Negotiation.FORCED, ()),
}


@dataclass(frozen=True, slots=True)
class PduReceived:
    """A whole frame arrived and decoded (an unknown ident decodes too, as ``Unknown``)."""

    direction: Direction
    pdu: Pdu
    #: the number of the chunk whose bytes completed the frame
    chunk: int


@dataclass(frozen=True, slots=True)
class DecodeFailed:
    """Bytes that did not frame (skipped, kind ``frame``) or a payload that did not decode (kind ``payload``)."""

    direction: Direction
    error: StreamError
    chunk: int


@dataclass(frozen=True, slots=True)
class ChunksMissed:
    """Chunk numbers jumped: ``missed`` chunks never arrived, and the frame in progress is lost."""

    direction: Direction
    missed: int
    #: stream offset the direction had reached when it gave up (offsets count again from 0 after it)
    offset: int
    chunk: int


@dataclass(frozen=True, slots=True)
class VersionNegotiated:
    """A ``GetCodecVersionResponse`` passed: follows its :class:`PduReceived` (the switch is already made then)."""

    direction: Direction
    announced: int
    state: Negotiation
    #: the directions that decode with ``announced`` from the next frame on
    switched: tuple[Direction, ...]


Event = PduReceived | DecodeFailed | ChunksMissed | VersionNegotiated


class MuxConnection:
    """Both directions of one connection: bytes in per direction, :data:`Event` objects out."""

    def __init__(
        self,
        version: int | None = None,
        *,
        max_frame_len: int = DEFAULT_MAX_FRAME_LEN,
        max_decompressed: int = DEFAULT_MAX_DECOMPRESSED,
        summary_lines: bool = False,
        max_objects: int | None = None,
        max_inflate_per_s: int | None = None,
    ) -> None:
        self.state = Negotiation.FORCED if version is not None else Negotiation.DEFAULT
        #: shared by both directions: the budget is per connection
        self.inflate_rate = InflateRate(max_inflate_per_s) if max_inflate_per_s is not None else None
        self._streams = {
            d: PduStream(
                version, max_frame_len=max_frame_len, max_decompressed=max_decompressed,
                summary_lines=summary_lines, follow_version=False, max_objects=max_objects,
                inflate_rate=self.inflate_rate,
            )
            for d in Direction
        }
        self._chunks = ChunkNumbers()
        #: the version the server announced (also when forced), None until it does
        self.peer_version: int | None = None
        #: how many times chunk numbers jumped
        self.gaps = 0

    def resume_with_version(self, number: int) -> None:
        """Joining a connection whose server already announced ``number`` (a restarted analysis):
        decode both directions with it, as if the announcement had been seen."""
        self.peer_version = number
        for stream in self._streams.values():
            stream.observe_codec_version(number)

    def version(self, direction: Direction = S2C) -> CodecVersion:
        """The codec version ``direction`` decodes with now."""
        return self._streams[direction].version

    def receive_data(self, direction: Direction, data: bytes, chunk: int | None = None) -> Iterator[Event]:
        """Feed the bytes ``direction`` carried; yields the events they complete, in order.

        ``chunk`` is the chunk's number when the caller numbers chunks and may lose some; a
        generator, so a version switch takes effect before the next frame of the same chunk.
        """
        direction = Direction(direction)
        stream = self._streams[direction]
        if chunk is None:
            chunk = self._chunks.take(direction)
        else:
            missed = self._chunks.arrived(direction, chunk)
            if missed:
                self.gaps += 1
                yield ChunksMissed(direction, missed, stream.restart_after_gap(), chunk)
        for item in stream.feed(data):
            if isinstance(item, StreamError):
                yield DecodeFailed(direction, item, chunk)
            elif item.name == "GetCodecVersionResponse":
                # switch first: whoever handles the PduReceived already sees the new version
                negotiated = self._negotiate(direction, item.body["codec_vers"])
                yield PduReceived(direction, item, chunk)
                yield negotiated
            else:
                yield PduReceived(direction, item, chunk)

    def _negotiate(self, direction: Direction, announced: int) -> VersionNegotiated:
        self.state, switched = NEGOTIATION[(self.state, direction)]
        if direction is S2C:
            self.peer_version = announced
        for d in switched:
            self._streams[d].observe_codec_version(announced)
        return VersionNegotiated(direction, announced, self.state, switched)
