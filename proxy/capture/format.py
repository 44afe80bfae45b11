"""The ``.muxcap`` capture format (version 1): raw wire bytes with timestamps, crash-safe.

Layout::

    magic      8 bytes  b"\\x89MUXCAP\\n"  (high bit catches 7-bit mangling; newline, CRLF mangling)
    hdr_len    u32 little-endian
    header     hdr_len bytes of UTF-8 JSON (see HEADER_FIELDS)
    body       a sequence of independent zstd frames

The decompressed body is a sequence of records::

    kind       u8   1 open, 2 data, 3 close, 4 note, 5 dropped
    t_ns       uleb128  monotonic nanoseconds since header["t0_monotonic_ns"]
    conn_id    uleb128
    direction  u8   0 client_to_server, 1 server_to_client, 255 none
    length     uleb128
    payload    length bytes: the bytes as read from the socket (data), or UTF-8 JSON (open/close/note/dropped)

Raw bytes, not decoded PDUs, so a capture outlives decoder bugs and is read
again with every improvement. The writer ends a zstd frame at least once a
second, so a proxy killed with SIGKILL loses at most the last second; a reader
reads a truncated file up to its last whole record and says so.

Versioning in the manner of mitmproxy's flow format: ``header["version"]`` is
the format version; :data:`MIGRATIONS` upgrades an older header/record stream
one version at a time (empty while only version 1 exists); a newer version is
refused with a clear message.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import zstandard

from codec.direction import Direction
from codec.wire.leb128 import decode_unsigned, encode_unsigned

MAGIC = b"\x89MUXCAP\n"
FORMAT_VERSION = 1
OPEN, DATA, CLOSE, NOTE, DROPPED = 1, 2, 3, 4, 5
KIND_NAMES = {OPEN: "open", DATA: "data", CLOSE: "close", NOTE: "note", DROPPED: "dropped"}
KIND_BY_NAME = {v: k for k, v in KIND_NAMES.items()}
#: direction code -> Direction (255, "none", is every other code)
DIRECTIONS = (Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT)
DIRECTION_CODE: dict[Direction | str, int] = {Direction.CLIENT_TO_SERVER: 0, Direction.SERVER_TO_CLIENT: 1, "": 255}
HEADER_FIELDS = (
    "format", "version", "muxscope_version", "started_at", "t0_monotonic_ns", "host",
    "listen", "upstream", "options",
)
#: version -> function(header, records) -> (header, records) producing version+1
MIGRATIONS: dict[int, Callable[[dict[str, Any], Iterator[Record]], tuple[dict[str, Any], Iterator[Record]]]] = {}


class CaptureError(Exception):
    """A file that is not a capture, or one this muxscope cannot read; the message says which."""


@dataclass(slots=True)
class Record:
    kind: str
    t_ns: int  # relative to the capture's t0
    conn_id: int
    direction: Direction | str  # empty for records of no direction (open, close, note)
    data: bytes

    @property
    def info(self) -> dict[str, Any]:
        return json.loads(self.data) if self.kind != "data" and self.data else {}


def is_capture(head: bytes) -> bool:
    return head[: len(MAGIC)] == MAGIC


def encode_header(header: dict[str, Any]) -> bytes:
    data = json.dumps(header, ensure_ascii=False, sort_keys=True).encode()
    return MAGIC + struct.pack("<I", len(data)) + data


def encode_record(kind: int, t_ns: int, conn_id: int, direction: Direction | str, payload: bytes) -> bytes:
    return b"".join((
        bytes((kind,)), encode_unsigned(max(0, t_ns)), encode_unsigned(conn_id),
        bytes((DIRECTION_CODE.get(direction, 255),)), encode_unsigned(len(payload)), payload,
    ))


@dataclass
class CaptureReader:
    """Reads a capture lazily; ``truncated`` is set once iteration hits a cut-off end."""

    f: IO[bytes]
    header: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False
    truncation_reason: str = ""
    bytes_read: int = 0
    total_bytes: int | None = None

    @classmethod
    def open(cls, f: IO[bytes]) -> CaptureReader:
        head = f.read(len(MAGIC) + 4)
        if not is_capture(head):
            raise CaptureError("not a muxscope capture (bad magic); raw frame streams go to `muxscope decode`")
        if len(head) < len(MAGIC) + 4:
            raise CaptureError("capture is truncated inside its header")
        (hlen,) = struct.unpack("<I", head[len(MAGIC):])
        raw = f.read(hlen)
        if len(raw) < hlen:
            raise CaptureError("capture is truncated inside its header")
        try:
            header = json.loads(raw)
        except ValueError as exc:
            raise CaptureError(f"capture header is not valid JSON: {exc}") from None
        version = header.get("version")
        if not isinstance(version, int) or version < 1:
            raise CaptureError(f"capture header has no valid format version: {version!r}")
        if version > FORMAT_VERSION:
            raise CaptureError(
                f"capture format version {version} is newer than this muxscope reads ({FORMAT_VERSION}); "
                "upgrade muxscope"
            )
        reader = cls(f, header)
        reader.bytes_read = len(MAGIC) + 4 + hlen
        try:
            import os

            reader.total_bytes = os.fstat(f.fileno()).st_size
        except (OSError, AttributeError, ValueError):
            reader.total_bytes = None
        return reader

    def records(self) -> Iterator[Record]:
        """Every whole record, migrated to the current format version."""
        version = self.header["version"]
        header: dict[str, Any] = self.header
        stream: Iterator[Record] = self._raw_records()
        while version < FORMAT_VERSION:
            header, stream = MIGRATIONS[version](header, stream)
            version += 1
        self.header = header
        return stream

    def _raw_records(self) -> Iterator[Record]:
        buf = bytearray()
        pos = 0
        for chunk in self._decompressed_chunks():
            if pos:
                del buf[:pos]
                pos = 0
            buf += chunk
            while True:
                rec, new_pos = _parse_record(buf, pos)
                if rec is None:
                    break
                pos = new_pos
                yield rec
        if pos < len(buf):
            self.truncated = True
            self.truncation_reason = self.truncation_reason or f"{len(buf) - pos} bytes of a partial record at the end"

    def _decompressed_chunks(self) -> Iterator[bytes]:
        dctx = zstandard.ZstdDecompressor()
        dobj = dctx.decompressobj()
        in_frame = False
        while True:
            data = self.f.read(1 << 20)
            if not data:
                break
            self.bytes_read += len(data)
            while data:
                try:
                    out = dobj.decompress(data)
                except zstandard.ZstdError as exc:
                    self.truncated = True
                    self.truncation_reason = f"corrupt zstd data: {exc}"
                    return
                in_frame = not dobj.eof
                if out:
                    yield out
                if dobj.eof:
                    data = dobj.unused_data
                    dobj = dctx.decompressobj()
                    in_frame = False
                else:
                    data = b""
        if in_frame:
            self.truncated = True
            self.truncation_reason = "the last compressed block was cut off (proxy killed or disk full?)"


def _parse_record(buf: bytearray, pos: int) -> tuple[Record | None, int]:
    try:
        kind = buf[pos]
        t_ns, p = decode_unsigned(buf, pos + 1)
        conn_id, p = decode_unsigned(buf, p)
        dcode = buf[p]
        length, p = decode_unsigned(buf, p + 1)
    except IndexError:
        return None, pos
    end = p + length
    if end > len(buf):
        return None, pos
    direction = DIRECTIONS[dcode] if dcode < 2 else ""
    return Record(KIND_NAMES.get(kind, f"kind{kind}"), t_ns, conn_id, direction, bytes(buf[p:end])), end


def open_capture(path: str) -> CaptureReader:
    try:
        f = open(path, "rb")  # noqa: SIM115 - owned by the reader
    except OSError as exc:
        raise CaptureError(f"cannot open {path}: {exc.strerror}") from None
    return CaptureReader.open(f)


def iter_capture_pdus(f: IO[bytes], version: int | None) -> Iterator[tuple[Direction | str, Any]]:
    """Decode every connection of a capture, in record order: (direction, Pdu | StreamError).

    Each connection is one :class:`~codec.connection.MuxConnection`, so the version the server
    announces decodes both of its directions. (Imported here: writing a capture needs no decoder.)
    """
    from codec.connection import DecodeFailed, MuxConnection, PduReceived
    from codec.pdu import StreamError, StreamErrorKind

    reader = CaptureReader.open(f)
    conns: dict[int, MuxConnection] = {}
    for rec in reader.records():
        if rec.kind != "data":
            continue
        if not isinstance(rec.direction, Direction):
            reason = f"data record of connection {rec.conn_id} has no direction (skipped)"
            yield "", StreamError(reader.bytes_read, reason, StreamErrorKind.FRAME)
            continue
        conn = conns.get(rec.conn_id)
        if conn is None:
            conn = conns[rec.conn_id] = MuxConnection(version)
        for ev in conn.receive_data(rec.direction, rec.data):
            if isinstance(ev, PduReceived):
                yield rec.direction, ev.pdu
            elif isinstance(ev, DecodeFailed):
                yield rec.direction, ev.error
    if reader.truncated:
        reason = f"capture truncated: {reader.truncation_reason}"
        yield "", StreamError(reader.bytes_read, reason, StreamErrorKind.FRAME)
