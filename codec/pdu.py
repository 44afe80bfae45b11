"""Typed PDUs: frames in, PDUs out, and the reverse.

:func:`decode_frame` turns one :class:`~codec.wire.framing.Frame` into a
:class:`Pdu` for a given codec version; :func:`encode_pdu` builds the frame
bytes for a PDU exactly as WezTerm's ``Pdu::encode`` would (same compression
decision). :class:`PduStream` is the sans-I/O pipeline for one direction of a
connection: bytes in, PDUs out, codec version picked up from the
``GetCodecVersionResponse`` it sees (or forced by the caller).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from codec.budget import InflateRate
from codec.errors import CodecError, LimitExceeded, PayloadError
from codec.lines import line_text, scan_serialized_lines_detail, serialized_lines_fingerprints
from codec.schema.versions import DEFAULT_VERSION, KNOWN_IDENTS, CodecVersion, get_version
from codec.wire.compression import DEFAULT_MAX_DECOMPRESSED, compress_like_wezterm, decompress
from codec.wire.framing import DEFAULT_MAX_FRAME_LEN, Frame, FrameDecoder, encode_frame
from codec.wire.varbincode import Custom, Schema, Struct, to_json
from codec.wire.varbincode.containers import BUDGET

UNKNOWN = "Unknown"
#: PDUs whose body carries termwiz lines, and the field that holds the SerializedLines.
LINE_FIELDS = {"GetLinesResponse": "lines", "GetPaneRenderChangesResponse": "bonus_lines"}


@dataclass(slots=True)
class LinesSummary:
    """What the analysis needs of a SerializedLines, without building a cell.

    Produced instead of the full value when decoding with ``summary=True``:
    per line ``(row, fingerprint, byte_length, seqno)`` (see
    :func:`codec.lines.scan_serialized_lines`), and the field's byte size.
    """

    lines: list[Any]
    nbytes: int
    #: where each ``Line`` starts in ``payload``: :meth:`line_value` decodes one on demand
    starts: list[int] = field(default_factory=list)
    #: images the lines carry (their details need a full decode)
    images: int = 0
    payload: bytes = b""

    def line_value(self, i: int, version: CodecVersion | int = DEFAULT_VERSION) -> dict[str, Any]:
        """The fully decoded ``Line`` of entry ``i``, as the full decode would give it (but without
        its hyperlinks and images, which SerializedLines keeps apart)."""
        if isinstance(version, int):
            version = get_version(version)
        value, _ = version.line.decode(self.payload, self.starts[i])
        return value


def _lines_summary_decode(buf: bytes, pos: int) -> tuple[LinesSummary, int]:
    lines, starts, images, end = scan_serialized_lines_detail(buf, pos)
    return LinesSummary(lines, end - pos, starts, images, buf), end


def _no_encode(value: Any, out: bytearray) -> None:
    raise TypeError("a LinesSummary cannot be encoded; decode without summary=True")


LINES_SUMMARY = Custom("SerializedLines(summary)", _lines_summary_decode, _no_encode, 3)
_summary_cache: dict[int, dict[int, Schema]] = {}


def summary_table(version: CodecVersion) -> dict[int, Schema]:
    """``version.table`` with every SerializedLines field replaced by the fast scan."""
    table = _summary_cache.get(version.number)
    if table is None:
        table = dict(version.table)
        for ident, schema in version.table.items():
            fld = LINE_FIELDS.get(schema.name)
            if fld is not None and isinstance(schema, Struct):
                table[ident] = schema.replace(retype={fld: LINES_SUMMARY})
        _summary_cache[version.number] = table
    return table


@dataclass(slots=True)
class Pdu:
    """One decoded PDU.

    ``body`` has the serde_json shape of the Rust value (see codec.wire.varbincode);
    for an unknown ident it is None and ``payload`` keeps the bytes.
    """

    name: str
    ident: int
    serial: int
    body: Any
    #: the uncompressed varbincode payload
    payload: bytes
    compressed: bool = False
    wire_len: int = 0
    offset: int = 0
    #: bytes left after the value (WezTerm ignores them too)
    trailing: int = 0

    @property
    def known(self) -> bool:
        return self.name != UNKNOWN

    def to_json(self) -> Any:
        return to_json(self.body)


def payload_of(frame: Frame, max_decompressed: int = DEFAULT_MAX_DECOMPRESSED) -> bytes:
    """The uncompressed payload of a frame."""
    return decompress(frame.payload, max_decompressed) if frame.compressed else frame.payload


def decode_frame(
    frame: Frame,
    version: CodecVersion | int = DEFAULT_VERSION,
    max_decompressed: int = DEFAULT_MAX_DECOMPRESSED,
    summary: bool = False,
    max_objects: int | None = None,
) -> Pdu:
    """Decode one frame's payload against the schema of its ident.

    ``max_objects`` caps the sequence and map elements the decode may build (LimitExceeded).

    With ``summary=True`` line-bearing PDUs carry a :class:`LinesSummary`
    instead of full lines (the analysis's fast path). Raises a
    :class:`~codec.errors.CodecError` (with payload offset and value path)
    when the payload does not fit its schema.
    """
    if isinstance(version, int):
        version = get_version(version)
    payload = payload_of(frame, max_decompressed)
    table = summary_table(version) if summary else version.table
    schema = table.get(frame.ident)
    if schema is None:
        return Pdu(UNKNOWN, frame.ident, frame.serial, None, payload, frame.compressed,
                   frame.wire_len, frame.offset)
    BUDGET.left = max_objects
    try:
        body, end = schema.decode(payload, 0)
    except LimitExceeded:
        raise
    except PayloadError as exc:
        raise exc.prefixed(schema.name) from None
    except CodecError:
        raise
    except (IndexError, ValueError, UnicodeDecodeError, OverflowError) as exc:
        raise PayloadError(f"undecodable payload: {exc}", None, schema.name) from None
    return Pdu(schema.name, frame.ident, frame.serial, body, payload, frame.compressed,
               frame.wire_len, frame.offset, len(payload) - end)


def encode_payload(name: str, body: Any, version: CodecVersion | int = DEFAULT_VERSION) -> bytes:
    """The uncompressed varbincode payload of PDU ``name`` with value ``body``."""
    if isinstance(version, int):
        version = get_version(version)
    return version.schema(name).dumps(body)


def encode_pdu(
    name: str, body: Any, serial: int, version: CodecVersion | int = DEFAULT_VERSION
) -> bytes:
    """Frame bytes for a PDU, compressed exactly when WezTerm would compress it."""
    if isinstance(version, int):
        version = get_version(version)
    payload = version.schema(name).dumps(body)
    data, compressed = compress_like_wezterm(payload, version.compression)
    return encode_frame(version.ident_by_name[name], serial, data, compressed)


class StreamErrorKind(StrEnum):
    """What went wrong on a stream (the values are what ``decode --json`` and the logs print)."""

    #: the framing broke: bytes were skipped up to the next plausible frame header
    FRAME = "frame"
    #: one frame's payload did not decode (the frame itself is still reported)
    PAYLOAD = "payload"
    #: chunks were lost before the decoder saw them (see ``codec.connection.ChunksMissed``)
    GAP = "gap"


@dataclass(frozen=True, slots=True)
class StreamError:
    """A problem on a stream that the decoder stepped over."""

    offset: int
    reason: str
    kind: StreamErrorKind
    frame: Frame | None = None


class PduStream:
    """Decode one direction of a connection: bytes in, PDUs and errors out.

    Frames that do not frame are skipped (resynchronising on the next
    plausible header) and payloads that do not decode are reported; either way
    the stream goes on. The codec version switches when a
    ``GetCodecVersionResponse`` passes (by itself, unless ``follow_version`` is
    false, or through :meth:`observe_codec_version`) unless it was forced.
    :class:`codec.connection.MuxConnection` pairs two streams and decides for
    both.
    """

    def __init__(
        self,
        version: int | None = None,
        *,
        max_frame_len: int = DEFAULT_MAX_FRAME_LEN,
        max_decompressed: int = DEFAULT_MAX_DECOMPRESSED,
        summary_lines: bool = False,
        follow_version: bool = True,
        max_objects: int | None = None,
        inflate_rate: InflateRate | None = None,
    ) -> None:
        self.summary_lines = summary_lines
        self.follow_version = follow_version
        self.max_objects = max_objects
        self.inflate_rate = inflate_rate
        self.forced = version is not None
        self.version = get_version(version if version is not None else DEFAULT_VERSION)
        self.peer_version: int | None = None
        self.max_decompressed = max_decompressed
        self.frames = FrameDecoder(max_frame_len, known_idents=KNOWN_IDENTS, verify=self._verify,
                                   distrust_start=True)

    def _verify(self, ident: int, payload: bytes) -> bool:
        """Resync evidence: an uncompressed payload decodes exactly (WezTerm leaves no bytes over)."""
        table = summary_table(self.version) if self.summary_lines else self.version.table
        schema = table.get(ident)
        if schema is None:
            return False
        try:
            _, end = schema.decode(payload, 0)
        except Exception:  # noqa: BLE001 - any failure is simply "not a frame here"
            return False
        return end == len(payload)

    def observe_codec_version(self, number: int) -> None:
        self.peer_version = number
        if not self.forced:
            self.version = get_version(number)

    def restart_after_gap(self) -> int:
        """Bytes were lost before this stream saw them: drop the frame in progress and look for the
        next plausible header. Returns the offset reached; offsets count from 0 again after it."""
        offset = self.frames.offset
        self.frames = FrameDecoder(self.frames.max_frame_len, known_idents=KNOWN_IDENTS, verify=self._verify)
        self.frames.resync_from_scratch()
        return offset

    def feed(self, data: bytes) -> Iterator[Pdu | StreamError]:
        """Feed bytes; yields each PDU (or StreamError) completed by them."""
        self.frames.feed(data)
        yield from self._drain()

    def _drain(self) -> Iterator[Pdu | StreamError]:
        errors: list[StreamError] = []

        def frame_error(exc: CodecError, offset: int) -> None:
            errors.append(StreamError(offset, str(exc), StreamErrorKind.FRAME))

        for frame in self.frames.frames_skipping_errors(frame_error):
            yield from errors
            errors.clear()
            rate = self.inflate_rate
            if rate is not None and frame.compressed and not rate.allows():
                reason = f"inflate limit of {rate.bytes_per_s} bytes per second per connection reached; skipped"
                yield StreamError(frame.offset, reason, StreamErrorKind.PAYLOAD, frame)
                continue
            try:
                pdu = decode_frame(frame, self.version, self.max_decompressed, self.summary_lines, self.max_objects)
            except CodecError as exc:
                yield StreamError(frame.offset, str(exc), StreamErrorKind.PAYLOAD, frame)
                continue
            if rate is not None and frame.compressed:
                rate.charge(len(pdu.payload))
            if self.follow_version and pdu.name == "GetCodecVersionResponse":
                self.observe_codec_version(pdu.body["codec_vers"])
            yield pdu
        yield from errors


def pdu_lines(pdu: Pdu) -> list[dict[str, Any]]:
    """``{row, text, seqno, fingerprint}`` for each line a PDU carries (empty for other PDUs).

    ``text`` is what termwiz's ``Line::as_str()`` gives; ``fingerprint`` (hex)
    ignores the seqno, so equal content on two fetches compares equal. For a
    PDU decoded with ``summary=True`` the text is not available (None).
    """
    fld = LINE_FIELDS.get(pdu.name)
    if fld is None or not isinstance(pdu.body, dict):
        return []
    value = pdu.body[fld]
    if isinstance(value, LinesSummary):
        return [
            {"row": ln.row, "text": None, "seqno": ln.seqno, "fingerprint": ln.fingerprint.hex()}
            for ln in value.lines
        ]
    fingerprints = serialized_lines_fingerprints(value)
    return [
        {"row": row, "text": line_text(line), "seqno": line["seqno"], "fingerprint": fp.hex()}
        for (row, line), fp in zip(value["lines"], fingerprints, strict=True)
    ]
