"""The frame layer: WezTerm's ``encode_raw``/``decode_raw`` (codec/src/lib.rs).

A frame on the wire is::

    leb128(len | COMPRESSED_MASK if compressed)  leb128(serial)  leb128(ident)  payload

where ``len`` counts the serial, ident and payload bytes and ``COMPRESSED_MASK``
is bit 63 (so a compressed frame's length prefix is always 10 bytes).

:class:`FrameDecoder` is sans-I/O in the manner of h11: feed it bytes as they
arrive, in chunks of any size, and take complete :class:`Frame` objects out.
The frames it yields do not depend on how the stream was chunked. It never
buffers more than one frame plus one read, and refuses frames longer than
``max_frame_len`` before buffering them, so a hostile peer cannot make it grow.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass

from codec.errors import FrameError, LimitExceeded
from codec.wire.leb128 import encode_unsigned, encoded_length
from codec.wire.resync import MAX_WAIT_PAYLOAD, Resync, Scanner, Verdict, Verifier

COMPRESSED_MASK = 1 << 63
#: Default ceiling for one frame's length. WezTerm has none; the largest real
#: frames are GetLinesResponse of a whole scrollback, a few MB compressed.
DEFAULT_MAX_FRAME_LEN = 32 * 1024 * 1024
#: While resynchronising on garbage, an uncompressed frame longer than this is
#: not believed: random bytes must not make the decoder buffer tens of MB for a
#: "frame" that never was (real uncompressed payloads are at most 32 bytes plus
#: whatever did not compress, in practice far below this).
RESYNC_MAX_UNCOMPRESSED_LEN = 1024 * 1024
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: frames after a resync that must each be verified like the first before the stream is trusted
PROBATION_FRAMES = 3


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame as it was on the wire."""

    serial: int
    ident: int
    compressed: bool
    #: the payload exactly as on the wire (zstd bytes when ``compressed``)
    payload: bytes
    #: stream offset of the frame's first byte (0 for frames not from a stream)
    offset: int
    #: bytes the whole frame took on the wire (header + payload)
    wire_len: int

    def to_bytes(self) -> bytes:
        return encode_frame(self.ident, self.serial, self.payload, self.compressed)


def encode_frame(ident: int, serial: int, payload: bytes, compressed: bool = False) -> bytes:
    """``encode_raw``: the frame header then the payload (already compressed if ``compressed``)."""
    length = len(payload) + encoded_length(ident) + encoded_length(serial)
    if compressed:
        length |= COMPRESSED_MASK
    return encode_unsigned(length) + encode_unsigned(serial) + encode_unsigned(ident) + payload


class _NeedMore(Exception):
    pass


def _read_varint(buf: bytearray, pos: int, end: int) -> tuple[int, int]:
    """leb128 u64 from ``buf[pos:end]``; raises _NeedMore when incomplete."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise _NeedMore
        byte = buf[pos]
        pos += 1
        if shift == 63 and byte > 1:
            raise FrameError("leb128 is too large")
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


class FrameDecoder:
    """Incremental frame parser.

    ``feed()`` bytes, then iterate :meth:`frames` (or call :meth:`next_frame`).
    A malformed header raises :class:`FrameError` with the stream offset; the
    caller may then call :meth:`resync` to skip ahead to the next plausible
    frame (used by ``muxscope decode`` and the proxy's tap, which must keep
    going through garbage). ``known_idents`` makes resynchronisation pickier:
    only headers with a known ident count as plausible there.
    """

    def __init__(
        self,
        max_frame_len: int = DEFAULT_MAX_FRAME_LEN,
        known_idents: Container[int] | None = None,
        verify: Verifier | None = None,
        distrust_start: bool = False,
    ) -> None:
        self.max_frame_len = max_frame_len
        self.known_idents = known_idents
        self.verify = verify
        self._scanner = Scanner(max_frame_len, RESYNC_MAX_UNCOMPRESSED_LEN, known_idents, verify)
        self._resync = Resync(self._scanner)
        #: a stream's first frames are checked as after a resync when its start is suspect (PduStream)
        self._probation = PROBATION_FRAMES if distrust_start else 0
        self._after_resync = False
        self._buf = bytearray()
        self._start = 0  # read position inside _buf
        self._base = 0  # stream offset of _buf[0]
        self._resyncing = False
        #: bytes skipped by resync() so far
        self.skipped_bytes = 0

    # -- input ----------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        if self._start and self._start >= len(self._buf) // 2:
            del self._buf[: self._start]
            self._base += self._start
            self._start = 0
        self._buf += data

    @property
    def offset(self) -> int:
        """Stream offset of the next unconsumed byte."""
        return self._base + self._start

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a yielded frame."""
        return len(self._buf) - self._start

    # -- output ---------------------------------------------------------------
    def frames(self) -> Iterator[Frame]:
        while (frame := self.next_frame()) is not None:
            yield frame

    def frames_skipping_errors(self, on_error: Callable[[FrameError, int], None] | None = None) -> Iterator[Frame]:
        """Like :meth:`frames`, but a malformed header is reported to ``on_error(error,
        offset)`` and skipped by :meth:`resync` instead of raised: for readers that must
        go on through garbage (the tap, ``decode``, replay)."""
        while True:
            try:
                frame = self.next_frame()
            except FrameError as exc:
                if on_error is not None:
                    on_error(exc, self.offset)
                self.resync()
                continue
            if frame is None:
                return
            yield frame

    def next_frame(self) -> Frame | None:
        """The next complete frame, or None if more bytes are needed."""
        if self._resyncing and not self._scan_for_plausible_header():
            return None
        if self._probation:
            ok = self._on_probation_ok()
            if ok is None:
                return None
            if not ok:
                self._probation = 0
                raise FrameError("frame after a resync does not verify", self.offset)
        buf = self._buf
        start = self._start
        end = len(buf)
        offset = self._base + start
        try:
            masked_len, pos = _read_varint(buf, start, end)
            compressed = bool(masked_len & COMPRESSED_MASK)
            length = masked_len & ~COMPRESSED_MASK
            if length > self.max_frame_len:
                raise LimitExceeded(
                    f"frame length {length} exceeds the limit of {self.max_frame_len} bytes", offset
                )
            serial, pos = _read_varint(buf, pos, end)
            ident, pos = _read_varint(buf, pos, end)
        except _NeedMore:
            return None
        except LimitExceeded:
            raise
        except FrameError as exc:
            raise FrameError(exc.message, offset) from None
        data_len = length - encoded_length(ident) - encoded_length(serial)
        if data_len < 0:
            raise FrameError(
                f"sizes don't make sense: len:{length} serial:{serial} ident:{ident}", offset
            )
        if end - pos < data_len:
            self._check_waiting(compressed, length, offset)
            return None
        payload = bytes(buf[pos : pos + data_len])
        self._start = pos + data_len
        self._probation = max(0, self._probation - 1)
        return Frame(serial, ident, compressed, payload, offset, self._start - start)

    def _check_waiting(self, compressed: bool, length: int, offset: int) -> None:
        """Before buffering for an incomplete frame: an uncompressed frame over
        ``RESYNC_MAX_UNCOMPRESSED_LEN`` is never worth waiting for (WezTerm compresses whatever
        shrinks), and waiting for it could swallow the rest of the stream."""
        if not compressed and length > RESYNC_MAX_UNCOMPRESSED_LEN:
            raise FrameError(f"uncompressed frame of {length} bytes is not believable", offset)

    def resync(self) -> None:
        """After a FrameError: skip at least one byte, then look for a plausible header."""
        self._start += 1
        self.skipped_bytes += 1
        self._resyncing = True
        self._resync.reset(self._base + self._start)

    def resync_from_scratch(self) -> None:
        """Treat the next byte as possibly mid-frame (after a gap in the stream)."""
        self._resyncing = True
        self._resync.reset(self._base + self._start)

    def _scan_for_plausible_header(self) -> bool:
        """Advance to where a real frame starts (codec/wire/resync.py says what counts as
        evidence); False when more bytes are needed to tell."""
        found = self._resync.find(self._buf, self._base, self._start)
        target = found.start if found.start is not None else found.resume
        self.skipped_bytes += target - self._start
        self._start = target
        if found.start is None:
            return False
        self._resyncing = False
        self._probation = PROBATION_FRAMES
        self._after_resync = True
        return True

    def _on_probation_ok(self) -> bool | None:
        """Right after a resync, each frame must show the same evidence as the first: a bogus
        frame that verified must not hand the stream to whatever header follows it."""
        # after garbage, and for a stream's very first frame, only a small frame is waited for; once
        # a stream started with a believed frame, the next may be a large uncompressed one arriving
        strict = self._after_resync or self.offset == 0
        max_wait = MAX_WAIT_PAYLOAD if strict else RESYNC_MAX_UNCOMPRESSED_LEN
        verdict, _ = self._scanner.judge(self._buf, self._start, len(self._buf), chain=False, max_wait=max_wait)
        if verdict is Verdict.LATER:
            return None
        return verdict is Verdict.YES

    def close(self) -> int:
        """End of stream: returns how many bytes were left over as an incomplete frame."""
        return self.buffered
