"""Finding the next real frame after garbage (or after chunks the reader never saw).

Random bytes look like frame headers all the time: a one-byte length, a serial, and one of
WezTerm's ~60 idents turn up every few positions. Accepting the first such "header" can
swallow the real stream behind it (a bogus length of 30 MB, waited for forever). So a
position is believed only with evidence:

* a *compressed* header is followed by zstd's magic number (four bytes that random data
  matches once in 4 billion, after a 10-byte length with exactly bit 63 set): believed;
* an *uncompressed* header must claim at most ``RESYNC_MAX_UNCOMPRESSED_LEN`` bytes, its whole
  payload must be there and decode exactly against its ident's schema (``verify``), and the
  bytes after it, if any, must start another plausible header (frames after a resync are
  each checked the same way, codec/wire/framing.py). Real uncompressed frames are small
  (WezTerm compresses every payload over 32 bytes that shrinks), so one that cannot be
  checked yet is waited for only if it is small; a later position that *is* verified wins
  over an earlier one still waiting.

:func:`scan` returns where to resume, or that more bytes are needed (and from where to look
again), never allocating more than the buffer it is given.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from enum import Enum

from codec.errors import FrameError
from codec.wire.leb128 import encode_unsigned, encoded_length

COMPRESSED_MASK = 1 << 63
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: an unverified uncompressed candidate is waited for only if its payload is at most this long
MAX_WAIT_PAYLOAD = 4096

#: ``verify(ident, payload) -> bool``: the payload decodes exactly (no bytes left over)
Verifier = Callable[[int, bytes], bool]


class Verdict(Enum):
    NO = 0
    YES = 1
    LATER = 2  # more bytes are needed to tell


@dataclass(frozen=True, slots=True)
class Found:
    #: where the next frame starts, or None when more bytes are needed
    start: int | None
    #: where to look again once more bytes came (when ``start`` is None)
    resume: int


def _varint(buf: bytearray, pos: int, end: int) -> tuple[int, int] | None:
    """A LEB128 integer as WezTerm writes them: minimal (a last byte of 0 after others is not)."""
    result = shift = 0
    while pos < end:
        byte = buf[pos]
        pos += 1
        if shift == 63 and byte > 1:
            raise FrameError("leb128 is too large")
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and shift:
                raise FrameError("leb128 is not minimal")
            return result, pos
        shift += 7
    return None


#: a position this close to the buffer's end may hold an incomplete header: judged one by one
#: (10-byte length, 10-byte serial, 10-byte ident, 4 bytes of zstd magic, and some room)
TAIL = 40
NO_ACCEL_ENV = "MUXSCOPE_NO_ACCEL"


def candidate_pattern(known_idents: Container[int] | None, max_uncompressed: int) -> re.Pattern[bytes]:
    """Where a header :meth:`Scanner.plausible` would not reject can start, as one regex.

    A superset: every position with a complete header that ``plausible`` calls YES matches, most
    random positions do not (a length of at most ``max_uncompressed`` or a 10-byte compressed one,
    a serial, then a known ident; after a compressed header, zstd's magic). The regex engine tries
    each position in C, ~50x faster than the per-position Python walk; ``plausible`` and ``judge``
    stay the only judges of what a match is worth."""
    cont, last, any_last = b"[\x80-\xff]", b"[\x01-\x7f]", b"[\x00-\x7f]"
    varint = cont + b"{0,9}" + any_last
    ulen_bytes = max(1, (max(1, max_uncompressed).bit_length() + 6) // 7)
    ulen = b"(?:" + any_last + b"".join(b"|" + cont + b"{%d}" % n + last for n in range(1, ulen_bytes)) + b")"
    clen = cont + b"{9}\x01"
    if known_idents is None or not isinstance(known_idents, Iterable):
        ident = varint
    else:
        ident = b"(?:" + b"|".join(re.escape(encode_unsigned(i)) for i in sorted(known_idents)) + b")"
    header = b"(?=" + ulen + varint + ident + b"|" + clen + varint + ident + re.escape(ZSTD_MAGIC) + b")"
    return re.compile(header, re.DOTALL)


def accelerated() -> bool:
    """False when ``MUXSCOPE_NO_ACCEL`` is set: every position walked in Python (the reference)."""
    return os.environ.get(NO_ACCEL_ENV, "") in ("", "0")


def _header(buf: bytearray, pos: int, end: int) -> tuple[bool, int, int, int, int] | None:
    """(compressed, length, ident, payload start, frame end), or None when incomplete;
    FrameError if malformed."""
    first = _varint(buf, pos, end)
    if first is None:
        return None
    masked, pos = first
    counted_from = pos
    serial = _varint(buf, pos, end)
    if serial is None:
        return None
    ident = _varint(buf, serial[1], end)
    if ident is None:
        return None
    length = masked & ~COMPRESSED_MASK
    data_len = length - encoded_length(ident[0]) - encoded_length(serial[0])
    if data_len < 0:
        raise FrameError("sizes don't make sense")
    return bool(masked & COMPRESSED_MASK), length, ident[0], ident[1], counted_from + length


class Scanner:
    """Judges candidate positions in a buffer (see the module docstring)."""

    def __init__(self, max_frame_len: int, max_uncompressed: int, known_idents: Container[int] | None,
                 verify: Verifier | None, accel: bool | None = None) -> None:
        self.max_frame_len = max_frame_len
        self.max_uncompressed = max_uncompressed
        self.known_idents = known_idents
        self.verify = verify
        use = accelerated() if accel is None else accel
        #: the prefilter over positions far enough from the end (None: walk them all in Python)
        self.candidates = candidate_pattern(known_idents, max_uncompressed) if use else None

    def plausible(self, buf: bytearray, pos: int, end: int) -> tuple[Verdict, tuple[bool, int, int, int, int] | None]:
        """Is a header plausible at ``pos``? YES means believed for a compressed frame, worth
        verifying for an uncompressed one; the parsed header comes with it."""
        try:
            head = _header(buf, pos, end)
        except FrameError:
            return Verdict.NO, None
        if head is None:
            return Verdict.LATER, None
        compressed, length, ident, body, _ = head
        if length > self.max_frame_len or (self.known_idents is not None and ident not in self.known_idents):
            return Verdict.NO, None
        if compressed:
            if end - body < 4:
                return Verdict.LATER, head
            return (Verdict.YES if buf[body : body + 4] == ZSTD_MAGIC else Verdict.NO), head
        if length > self.max_uncompressed:
            return Verdict.NO, None
        return Verdict.YES, head

    def judge(self, buf: bytearray, pos: int, end: int, chain: bool = True,
              max_wait: int = MAX_WAIT_PAYLOAD) -> tuple[Verdict, int]:
        """Is a real frame starting at ``pos``? (evidence as in the module docstring). With LATER
        comes the buffer end needed before asking again. ``chain=False`` (a frame on probation,
        whose predecessor was believed) skips the look at the header after it; such a frame may
        also be waited for up to ``max_wait`` payload bytes."""
        verdict, head = self.plausible(buf, pos, end)
        if verdict is Verdict.LATER:
            return verdict, end + 1
        if verdict is not Verdict.YES or head is None or head[0]:
            return verdict, 0
        _, _, ident, body, frame_end = head
        if frame_end > end:
            return (Verdict.LATER, frame_end + 1) if frame_end - body <= max_wait else (Verdict.NO, 0)
        following = Verdict.YES
        if chain and frame_end < end:
            # the cheap look at what follows first: in garbage it rules out most positions, sparing the decode
            if self.candidates is not None and frame_end < end - TAIL and not self.candidates.match(buf, frame_end):
                return Verdict.NO, 0
            following, _ = self.plausible(buf, frame_end, end)
            if following is Verdict.NO:
                return following, 0
        if self.verify is not None and not self.verify(ident, bytes(buf[body:frame_end])):
            return Verdict.NO, 0
        if frame_end == end or not chain:  # nothing follows yet: believed, and the frames after it stay on probation
            return Verdict.YES, 0
        return following, end + 1


class Resync:
    """Looks for the next real frame across feeds, judging each position once unless it had to
    wait for bytes (positions are absolute stream offsets: the caller's buffer gets trimmed)."""

    def __init__(self, scanner: Scanner) -> None:
        self.scanner = scanner
        self.frontier = 0
        #: (position, buffer end needed before judging it again), in position order
        self.pending: list[tuple[int, int]] = []

    def reset(self, at: int) -> None:
        self.frontier = at
        self.pending = []

    def find(self, buf: bytearray, base: int, start: int) -> Found:
        """Scan ``buf[start:]`` (``buf[0]`` is stream offset ``base``); indices in the result are buf's."""
        end = len(buf)
        end_abs = base + end
        judge = self.scanner.judge
        kept: list[tuple[int, int]] = []
        for i, (pos, needed) in enumerate(self.pending):
            if pos < base + start:
                continue
            if needed > end_abs:
                kept.append((pos, needed))
                continue
            verdict, needed = judge(buf, pos - base, end)
            if verdict is Verdict.YES:
                self.reset(pos)
                return Found(pos - base, pos - base)
            if verdict is Verdict.LATER:
                kept.append((pos, needed))
            del i
        pos = max(self.frontier, base + start)
        search = self.scanner.candidates.search if self.scanner.candidates is not None else None
        while pos < end_abs:
            if search is not None and pos - base < end - TAIL:
                # far from the end every header is complete: positions the regex skips are ones
                # plausible() would call NO
                m = search(buf, pos - base)
                nxt = m.start() if m is not None else end
                if nxt >= end - TAIL:
                    pos = base + end - TAIL
                    continue
                pos = base + nxt
            verdict, needed = judge(buf, pos - base, end)
            if verdict is Verdict.YES:
                self.reset(pos)
                return Found(pos - base, pos - base)
            if verdict is Verdict.LATER:
                kept.append((pos, needed))
            pos += 1
        self.frontier = pos
        self.pending = kept
        return Found(None, (kept[0][0] if kept else end_abs) - base)
