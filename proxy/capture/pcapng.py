"""Writing pcapng files, and turning a capture's connections into TCP streams in them.

Only the blocks an export needs: a Section Header Block, one Interface
Description Block (raw IPv4, nanosecond timestamps) and Enhanced Packet
Blocks, each with comments (pcapng specification, draft-ietf-opsawg-pcapng:
sections 4.1, 4.2, 4.3 and the ``opt_comment`` option). Hand-written because
the libraries that write pcapng either stamp packets in microseconds through a
float (scapy's ``RawPcapNgWriter``), which would blur the nanosecond times
that muxscope's latencies are measured in, or are no longer maintained (dpkt,
python-pcapng); the format itself is four fixed layouts. Tests read every file
back with tshark.

Each connection of the capture becomes one TCP stream between stable loopback
addresses: a three-way handshake when the connection opened, one segment per
chunk the relay read (split at the largest IPv4 packet), with the chunk's
timestamp, sequence and acknowledgement numbers that count every byte, and a
FIN exchange when it closed. Wireshark then follows and reassembles the stream
exactly as it would a live capture of a TCP mux link.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import IO

from codec.direction import Direction

from .format import CaptureReader, Record

SHB_TYPE = 0x0A0D0D0A
IDB_TYPE = 0x00000001
EPB_TYPE = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_ENDOFOPT = 0
OPT_COMMENT = 1
SHB_USERAPPL = 4
IF_NAME = 2
IF_DESCRIPTION = 3
IF_TSRESOL = 9
#: LINKTYPE_RAW: each packet starts with its IPv4 header (no link layer to invent)
LINKTYPE_RAW = 101
SNAPLEN = 262144
#: the largest TCP payload of one IPv4 packet without options (65535 - 20 - 20)
MAX_SEGMENT = 65495
#: the mux server's port in exports; the dissector's default port preference is the same number
DEFAULT_SERVER_PORT = 4246
SERVER_IP = "127.0.0.2"
FIRST_CLIENT_PORT = 49152
WINDOW_SCALE = 7


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _options(options: Iterable[tuple[int, bytes]]) -> bytes:
    out = b"".join(struct.pack("<HH", code, len(value)) + _pad4(value) for code, value in options)
    return out + struct.pack("<HH", OPT_ENDOFOPT, 0) if out else b""


def _block(block_type: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


class PcapngWriter:
    """A pcapng section with one raw-IPv4 interface, written as packets come (nothing is buffered)."""

    def __init__(self, f: IO[bytes], *, userappl: str, comments: Iterable[str] = (), if_name: str = "muxscope") -> None:
        self.f = f
        self.packets = 0
        opts = [(OPT_COMMENT, c.encode()) for c in comments] + [(SHB_USERAPPL, userappl.encode())]
        shb = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _options(opts)
        idb_opts = [(IF_NAME, if_name.encode()), (IF_TSRESOL, b"\x09")]
        idb = struct.pack("<HHI", LINKTYPE_RAW, 0, SNAPLEN) + _options(idb_opts)
        f.write(_block(SHB_TYPE, shb) + _block(IDB_TYPE, idb))

    def packet(self, t_ns: int, data: bytes, comments: Iterable[str] = ()) -> None:
        """One Enhanced Packet Block on interface 0, stamped ``t_ns`` nanoseconds after the epoch."""
        t_ns = max(0, t_ns)
        body = struct.pack("<IIIII", 0, t_ns >> 32, t_ns & 0xFFFFFFFF, len(data), len(data))
        body += _pad4(data) + _options((OPT_COMMENT, c.encode()) for c in comments)
        self.f.write(_block(EPB_TYPE, body))
        self.packets += 1


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ip4(addr: str) -> bytes:
    return bytes(int(p) for p in addr.split("."))


class TcpFlag(int, Enum):
    FIN = 0x01
    SYN = 0x02
    PSH = 0x08
    ACK = 0x10


@dataclass
class _Side:
    ip: bytes
    port: int
    #: next sequence number this side sends
    seq: int


@dataclass
class TcpFlow:
    """One connection's two directions as TCP segments, with sequence numbers that add up."""

    client: _Side
    server: _Side
    ip_id: int = 0
    packets: list[bytes] = field(default_factory=list)

    @classmethod
    def for_connection(cls, conn_id: int, server_port: int = DEFAULT_SERVER_PORT) -> TcpFlow:
        """Stable addresses: client 127.0.x.y:49152+, server 127.0.0.2:``server_port``, one per conn_id."""
        block, index = divmod(conn_id, 65536 - FIRST_CLIENT_PORT)
        client_ip = "127.0.0.1" if block == 0 else f"127.1.{(block >> 8) & 0xFF}.{block & 0xFF}"
        isn = (0x10000000 + conn_id * 0x01000193) & 0xFFFFFFFF
        return cls(_Side(_ip4(client_ip), FIRST_CLIENT_PORT + index, isn),
                   _Side(_ip4(SERVER_IP), server_port, (isn ^ 0x5A5A5A5A) & 0xFFFFFFFF))

    def _segment(self, src: _Side, dst: _Side, flags: int, payload: bytes = b"", options: bytes = b"") -> bytes:
        offset = (20 + len(options)) // 4
        ack = dst.seq if flags & TcpFlag.ACK else 0
        tcp = struct.pack("!HHIIBBHHH", src.port, dst.port, src.seq, ack, offset << 4, flags, 65535, 0, 0)
        tcp += options + payload
        pseudo = src.ip + dst.ip + struct.pack("!BBH", 0, 6, len(tcp))
        csum = _checksum(pseudo + tcp)
        tcp = tcp[:16] + struct.pack("!H", csum) + tcp[18:]
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), self.ip_id, 0x4000, 64, 6, 0, src.ip, dst.ip)
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        src.seq = (src.seq + len(payload) + (1 if flags & (TcpFlag.SYN | TcpFlag.FIN) else 0)) & 0xFFFFFFFF
        return ip + tcp

    def handshake(self) -> list[bytes]:
        syn_opts = struct.pack("!BBH", 2, 4, MAX_SEGMENT) + struct.pack("!BBBB", 1, 3, 3, WINDOW_SCALE)
        c, s = self.client, self.server
        return [
            self._segment(c, s, TcpFlag.SYN, options=syn_opts),
            self._segment(s, c, TcpFlag.SYN | TcpFlag.ACK, options=syn_opts),
            self._segment(c, s, TcpFlag.ACK),
        ]

    def data(self, from_client: bool, payload: bytes) -> list[bytes]:
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        return [
            self._segment(src, dst, TcpFlag.PSH | TcpFlag.ACK, payload[i : i + MAX_SEGMENT])
            for i in range(0, len(payload), MAX_SEGMENT)
        ] or [self._segment(src, dst, TcpFlag.ACK)]

    def close(self, client_first: bool) -> list[bytes]:
        a, b = (self.client, self.server) if client_first else (self.server, self.client)
        return [
            self._segment(a, b, TcpFlag.FIN | TcpFlag.ACK),
            self._segment(b, a, TcpFlag.FIN | TcpFlag.ACK),
            self._segment(a, b, TcpFlag.ACK),
        ]


@dataclass
class ExportResult:
    packets: int = 0
    connections: int = 0
    data_bytes: int = 0
    dropped_chunks: int = 0
    truncated: bool = False
    comments: int = 0


def _epoch_ns(header: dict[str, object]) -> int:
    """Wall-clock ns of the capture's t0 (``started_at``), so packets carry the real time of day."""
    from datetime import datetime

    started = header.get("started_at")
    if not isinstance(started, str):
        return 0
    try:
        dt = datetime.fromisoformat(started)
    except ValueError:
        return 0
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


def _note_text(rec: Record) -> str:
    info = rec.info
    if rec.kind == "dropped":
        n = int(info.get("chunks", 1))
        return (f"muxscope: the capture lost {n} chunk(s) {rec.direction.replace('_', ' ')} here "
                "(analysis lane full): the bytes are missing from this stream")
    if rec.kind == "note" and "codec_version" in info:
        return f"muxscope: codec version {info['codec_version']}"
    return f"muxscope {rec.kind}: " + json.dumps(info, ensure_ascii=False, sort_keys=True)


class _Exporter:
    """Turns capture records into packets, one :class:`TcpFlow` per connection.

    Comments (the open's details, notes, dropped chunks, the close) wait in
    ``pending`` and go on the connection's next packet: a pcapng comment
    belongs to a packet, and the next packet is where the reader meets them.
    """

    def __init__(self, writer: PcapngWriter, epoch_ns: int, server_port: int) -> None:
        self.w = writer
        self.epoch = epoch_ns
        self.server_port = server_port
        self.res = ExportResult()
        self.flows: dict[int, TcpFlow] = {}
        self.pending: dict[int, list[str]] = {}
        self.loose: list[str] = []
        self.last_t: dict[int, int] = {}

    def note(self, conn_id: int, text: str, *, own: bool = False) -> None:
        """A comment for the connection's next packet; one about no open connection (a capture-wide
        note, conn 0) goes on the next packet of any."""
        if own or conn_id in self.flows:
            self.pending.setdefault(conn_id, []).append(text)
        else:
            self.loose.append(text)

    def emit(self, conn_id: int, t_ns: int, packets: list[bytes]) -> None:
        notes = self.pending.pop(conn_id, []) + self.loose
        self.loose = []
        self.res.comments += len(notes)
        for i, pkt in enumerate(packets):
            self.w.packet(self.epoch + t_ns, pkt, notes if i == 0 else ())
        self.last_t[conn_id] = t_ns

    def flow(self, conn_id: int, t_ns: int, opened: bool) -> TcpFlow:
        f = self.flows.get(conn_id)
        if f is None:
            f = self.flows[conn_id] = TcpFlow.for_connection(conn_id, self.server_port)
            self.res.connections += 1
            if not opened:
                self.note(conn_id, "muxscope: this connection's open is not in the capture", own=True)
            self.emit(conn_id, t_ns, f.handshake())
        return f

    def record(self, rec: Record) -> None:
        if rec.kind == "open":
            self.note(rec.conn_id, f"muxscope: connection {rec.conn_id} opened: "
                      + json.dumps(rec.info, ensure_ascii=False, sort_keys=True), own=True)
            self.flow(rec.conn_id, rec.t_ns, True)
        elif rec.kind == "data":
            f = self.flow(rec.conn_id, rec.t_ns, False)
            self.emit(rec.conn_id, rec.t_ns, f.data(rec.direction == Direction.CLIENT_TO_SERVER, rec.data))
            self.res.data_bytes += len(rec.data)
        elif rec.kind == "close" and rec.conn_id in self.flows:
            self.note(rec.conn_id, _note_text(rec))
            client_first = rec.info.get("closed_by") == "client"
            self.emit(rec.conn_id, rec.t_ns, self.flows.pop(rec.conn_id).close(client_first))
        elif rec.kind in ("note", "dropped"):
            if rec.kind == "dropped":
                self.res.dropped_chunks += int(rec.info.get("chunks", 1))
            self.note(rec.conn_id, _note_text(rec))

    def finish(self, truncated: bool, reason: str) -> ExportResult:
        """Connections still open at the end get a comment (and no FIN: they did not close)."""
        end = (f"muxscope: the capture ends here, truncated: {reason}" if truncated
               else "muxscope: the capture ends with this connection still open")
        self.res.truncated = truncated
        for conn_id, f in self.flows.items():
            self.note(conn_id, end)
            self.emit(conn_id, self.last_t.get(conn_id, 0), f.data(True, b""))
        for conn_id in list(self.pending):  # notes of connections that never carried a packet
            if conn_id not in self.last_t:
                self.pending.pop(conn_id)
        self.res.packets = self.w.packets
        return self.res


def export_pcapng(
    reader: CaptureReader,
    out: IO[bytes],
    *,
    source: str = "",
    server_port: int = DEFAULT_SERVER_PORT,
    progress: Callable[[int], None] | None = None,
) -> ExportResult:
    """Write every connection of ``reader`` to ``out`` as TCP streams; returns what was written."""
    from .. import __version__

    header = reader.header
    comment = (f"muxscope export of {source or 'a capture'}: started {header.get('started_at', '?')}, "
               f"host {header.get('host', '?')}, listen {header.get('listen', '?')}, "
               f"upstream {header.get('upstream', '?')}; each connection is a TCP stream to "
               f"{SERVER_IP}:{server_port}")
    writer = PcapngWriter(out, userappl=f"muxscope {__version__}", comments=[comment])
    exporter = _Exporter(writer, _epoch_ns(header), server_port)
    for n, rec in enumerate(reader.records()):
        exporter.record(rec)
        if progress is not None and n % 256 == 0:
            progress(reader.bytes_read)
    return exporter.finish(reader.truncated, reader.truncation_reason)
