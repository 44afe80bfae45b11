"""The fast path over raw bytes: :func:`scan_serialized_lines` summarises a ``SerializedLines`` without building a cell.

Per line it reports the row, the fingerprint (the same as :mod:`codec.lines.fingerprint` gives the
decoded line), the byte length and the seqno. Three walks share the work: the optional C
accelerator (``codec/_fastscan.c``), else the pure-Python walk below, which skips plain lines with
one regex match (:mod:`codec.lines.patterns`) and decodes anything else with the schema.

Where the Line/Cell layout is still written by hand, and why: the regex patterns are derived from
the schema, and hyperlinks, images and every line that is not plain go through the schema's own
decoders; what remains hand-written is (1) the walk's order of a line's parts (row, storage tag,
cell count, then zones, seqno, bits, to know where the fingerprinted spans start and end) and its
inline reading of rows and counts (the one- and two-byte LEB128 forms: per line, a Python call
would cost more than the reading), and (2) the C walk, whose agreement with this one is
tested (see its header). Both only locate bytes: what a fingerprint covers is defined once, in
:mod:`codec.lines.fingerprint`.
"""

from __future__ import annotations

import os
from hashlib import blake2b
from typing import NamedTuple

from codec.errors import PayloadError
from codec.lines.fingerprint import FINGERPRINT_SIZE, IMAGE_TAIL, SCAN_CELL_STORAGE, digest, link_canon
from codec.lines.patterns import LINE_MATCHERS, cells_matcher, line_matcher
from codec.schema.termwiz import LINE_HYPERLINK, STABLE_ROW_INDEX, ZONE_RANGE
from codec.wire.leb128 import decode_signed, decode_unsigned
from codec.wire.varbincode import Seq

try:  # the optional C accelerator (codec/_fastscan.c); same results, ~10x faster
    if os.environ.get("MUXSCOPE_NO_ACCEL", "") not in ("", "0"):
        raise ImportError("disabled by MUXSCOPE_NO_ACCEL")
    from codec import _fastscan  # type: ignore[attr-defined]
except ImportError:
    _fastscan = None

_ZONES = Seq(ZONE_RANGE)
_LINE_HYPERLINKS = Seq(LINE_HYPERLINK)


class LineSummary(NamedTuple):
    """What :func:`scan_serialized_lines` reports per line."""

    row: int  #: the stable row index
    fingerprint: bytes  #: FINGERPRINT_SIZE bytes, see the module docstring
    byte_length: int  #: bytes of the serialized ``Line`` (cells, zones, seqno, bits; not the row)
    seqno: int  #: ``Line.seqno``



def scan_serialized_lines(buf: bytes, pos: int = 0) -> tuple[list[LineSummary], int]:
    """Walk a varbincode ``SerializedLines`` starting at ``buf[pos]`` without building cells.

    Returns one :class:`LineSummary` per entry of ``lines`` (wire order) and the
    offset just past the ``SerializedLines``. The fingerprints equal
    :func:`serialized_lines_fingerprints` of the decoded value.

    Contract (kept simple for a future C version): ``buf`` is a ``bytes``-like
    object holding the whole uncompressed payload; structure errors (truncation,
    bad tags) raise :class:`~codec.errors.PayloadError`; the *contents* of
    cells (UTF-8 validity, u32 ranges) are not validated, so a payload that
    scans may still fail a full decode.

    How it is fast: a cell as a real server sends it (hyperlinks and images
    lifted out, text shorter than 128 bytes) is a regular language, so each
    vector-storage line's ``n`` cells are skipped by one compiled
    ``(?:cell){n}`` regex match; anything else falls back to the schema decoder.
    """
    lines, _, _, end = scan_serialized_lines_detail(buf, pos)
    return lines, end


def scan_serialized_lines_detail(buf: bytes, pos: int = 0) -> tuple[list[LineSummary], list[int], int, int]:
    """:func:`scan_serialized_lines`, plus where each ``Line`` starts in ``buf`` (so a consumer can
    decode just the lines it needs, later) and how many images the lines carry:
    ``(summaries, line_starts, image_count, end)``."""
    try:
        return _scan(buf, pos)
    except PayloadError:
        raise
    except (IndexError, ValueError) as exc:
        raise PayloadError(
            "unexpected end of payload" if isinstance(exc, IndexError) else str(exc),
            None,
            "SerializedLines",
        ) from None


def _scan(buf: bytes, pos: int) -> tuple[list[LineSummary], list[int], int, int]:
    fast = _fastscan.scan_lines(buf, pos) if _fastscan is not None else None
    if fast is not None:
        out, spans, pos = _summaries_from_spans(buf, *fast)
    else:
        out, spans, pos = _scan_lines_py(buf, pos)
    out, end, n_images = _scan_links_and_images(buf, pos, out, spans)
    return out, [span[0] for span in spans], n_images, end


def _summaries_from_spans(
    buf: bytes, raw: list[tuple[int, int, int, int, int, int]], pos: int
) -> tuple[list[LineSummary], list[tuple[int, int, int, int]], int]:
    """Fingerprints over the spans the C walker found (same definition as the Python walk)."""
    mv = memoryview(buf)
    size = FINGERPRINT_SIZE
    new = tuple.__new__
    out = []
    spans = []
    for row, line_start, cells_end, bits_start, line_end, seqno in raw:
        h = blake2b(mv[line_start:cells_end], digest_size=size)
        h.update(mv[bits_start:line_end])
        out.append(new(LineSummary, (row, h.digest(), line_end - line_start, seqno)))
        spans.append((line_start, cells_end, bits_start, line_end))
    return out, spans, pos


def _scan_lines_py(buf: bytes, pos: int) -> tuple[list[LineSummary], list[tuple[int, int, int, int]], int]:
    """The pure-Python walk of ``lines`` (reference for the C accelerator).

    The common case stays inline, as the profile wants it: a one- or two-byte row and a plain
    vector line matched whole by one regex; :func:`_walk_line` does every other line.
    """
    end_of_buf = len(buf)
    n = buf[pos]
    if n < 0x80:
        pos += 1
    else:
        n, pos = decode_unsigned(buf, pos)
    if n > end_of_buf - pos:
        raise PayloadError(f"{n} lines cannot fit in {end_of_buf - pos} bytes", pos, "lines")
    line_get = LINE_MATCHERS.get
    out: list[LineSummary] = []
    append = out.append
    spans = []  # (line_start, cells_end, bits_start, line_end) per line, for the rare fix-ups
    span = spans.append
    new = tuple.__new__
    size = FINGERPRINT_SIZE
    for _ in range(n):
        # row: isize, signed LEB128 (inline the 1- and 2-byte forms)
        b = buf[pos]
        if b < 0x40:
            row = b
            pos += 1
        elif b >= 0x80 and buf[pos + 1] < 0x80:
            row = (b & 0x7F) | (buf[pos + 1] << 7)
            if row & 0x2000:
                row -= 0x4000
            pos += 2
        else:
            row, pos = decode_signed(buf, pos)
        line_start = pos
        m = None
        if buf[pos] == 0:  # CellStorage::V: try the whole line in one match
            count = buf[pos + 1]
            if count < 0x80:
                p = pos + 2
            else:
                count, p = decode_unsigned(buf, pos + 1)
            m = (line_get(count) or line_matcher(count))(buf, p)
        if m is not None:
            _, (s, e), (bits_start, pos) = m.regs[1:]
            cells_end = s - 1
            seqno = buf[s] if e - s == 1 else decode_unsigned(buf, s)[0]
        else:
            cells_end, seqno, bits_start, pos = _walk_line(buf, line_start)
        span((line_start, cells_end, bits_start, pos))
        fingerprint = blake2b(buf[line_start:cells_end] + buf[bits_start:pos], digest_size=size).digest()
        append(new(LineSummary, (row, fingerprint, pos - line_start, seqno)))
    if pos > end_of_buf:
        raise PayloadError("unexpected end of payload", end_of_buf, "lines")
    return out, spans, pos


def _walk_line(buf: bytes, line_start: int) -> tuple[int, int, int, int]:
    """A ``Line`` no single match covers: ``(cells_end, seqno, bits_start, line_end)``.

    A vector line whose cells are all plain but which has zones (or a long seqno) still skips
    its cells with one match; anything else is walked by the schema's decoders.
    """
    pos = None
    if buf[line_start] == 0:  # CellStorage::V
        count = buf[line_start + 1]
        if count < 0x80:
            p = line_start + 2
        else:
            count, p = decode_unsigned(buf, line_start + 1)
        m = cells_matcher(count)(buf, p) if count else None
        pos = m.end() if m is not None else None
    if pos is None:
        pos = SCAN_CELL_STORAGE.decode(buf, line_start)[1]
    cells_end = pos
    if buf[pos] == 0:  # no zones
        pos += 1
    else:
        pos = _ZONES.decode(buf, pos)[1]
    seqno, pos = decode_unsigned(buf, pos)
    return cells_end, seqno, pos, decode_unsigned(buf, pos)[1]


def _scan_links_and_images(
    buf: bytes, pos: int, out: list[LineSummary], spans: list[tuple[int, int, int, int]]
) -> tuple[list[LineSummary], int, int]:
    """``SerializedLines.hyperlinks`` and ``.images``, then the fingerprints of the lines they belong to.

    Both are read with the schema (they are rare, and the decoded link is what its canonical
    bytes are made from, exactly as for a decoded value); an image is kept as its raw bytes after
    ``line_idx``, which is what its line's fingerprint covers.
    """
    mv = memoryview(buf)
    links: dict[int, list[tuple[int, int, bytes]]] = {}
    entries, pos = _LINE_HYPERLINKS.decode(buf, pos)
    for entry in entries:
        canon = link_canon(entry["link"])
        for coord in entry["coords"]:
            cols = coord["cols"]
            links.setdefault(coord["line_idx"], []).append((cols["start"], cols["end"], canon))
    images: dict[int, list[memoryview]] = {}
    n_images, pos = decode_unsigned(buf, pos)
    for _ in range(n_images):
        row, tail_start = STABLE_ROW_INDEX.decode(buf, pos)
        _, pos = IMAGE_TAIL.decode(buf, tail_start)
        images.setdefault(row, []).append(mv[tail_start:pos])
    # --- fix up the fingerprints of lines that had hyperlinks or images lifted out
    if links or images:
        for i, summary in enumerate(out):
            li = links.get(i)
            im = images.get(summary.row)
            if li is None and im is None:
                continue
            line_start, cells_end, bits_start, line_end = spans[i]
            fp = digest(mv[line_start:cells_end], mv[bits_start:line_end], li, im)
            out[i] = summary._replace(fingerprint=fp)
    return out, pos, n_images
