"""The emulated client's side of the mux connection: serials, response matching, pushes, latency.

Reproduces ``wezterm-client/src/client.rs: client_thread_async``: requests are
numbered from 1, every response is matched to its request by serial (replies
may come back out of order), serial 0 is a push handed to
``process_unilateral``, a serial beyond ``next_serial`` or one nobody waits for
is a corrupt stream that fails every pending request and drops the connection.
The ``rpc!`` macro's rule is kept too: any reply of an unexpected type
(ErrorResponse included) is an error for the caller.

Latency per RPC is measured from the moment the request left to the moment
its response's last byte reached the client's socket. On TCP both are the
kernel's stamps: the send stamp of the request's last byte
(``SO_TIMESTAMPING``, :class:`proxy.relay.stamped.SendStamps`) and the receive
stamp (``SO_TIMESTAMPNS``), the socket read one frame at a time so that each
response gets the stamp of its own last byte, not of whatever arrived after
it (unless the kernel had already merged the two segments): the latency is
then the wire's, whatever the client's process was doing between taking a
time and the syscall. Unix sockets carry no stamps; there the time the
request was handed to the socket and the read itself are the moments.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from codec import Pdu, PduStream, StreamError, encode_pdu
from codec.errors import CodecError
from codec.schema.versions import get_version
from codec.wire.leb128 import decode_unsigned
from proxy.relay.endpoints import TcpAddress, TlsAddress, UnixAddress
from proxy.relay.sides.tls import RECORD_HEADER, TlsSession, record_length, tls_handshake
from proxy.relay.stamped import (
    ANCILLARY_SPACE,
    READ_SIZE,
    SendStamps,
    enable_receive_timestamps,
    enable_send_timestamps,
    monotonic_arrival,
    send_some,
)

#: a frame's header (its leb128 length) fits in this many bytes
_HEADER_PEEK = 10
#: the top bit of a frame's length says "compressed" (codec/src/lib.rs COMPRESSED_MASK)
_LENGTH_MASK = (1 << 63) - 1


class RpcError(Exception):
    """A request that got an unexpected reply (``rpc!``: "unexpected response ...")."""


class ConnectionLost(Exception):
    """The connection closed or the stream was corrupt; pending requests fail with it."""


@dataclass(slots=True)
class Reply:
    pdu: Pdu
    serial: int
    latency_ms: float
    #: CLOCK_MONOTONIC (shared by every process, the proxy's captures included): request sent, reply in
    sent_ns: int = 0
    received_ns: int = 0


class MuxConnection:
    """Request/response over one stream, with pushes delivered to ``on_push``."""

    def __init__(self, version: int, on_push: Callable[[Pdu, int], None], summary_lines: bool = False) -> None:
        self.version = get_version(version)
        self.on_push = on_push
        self.next_serial = 1
        self.pending: dict[int, tuple[asyncio.Future[Reply], int, str]] = {}
        self.sent: Counter[str] = Counter()
        #: with summary_lines, line-bearing PDUs carry a LinesSummary (cells decoded on demand)
        self.stream = PduStream(summary_lines=summary_lines)
        self.decode_errors = 0
        #: the first few decode errors, for the report of a run that went wrong
        self.decode_error_messages: list[str] = []
        self.closed: BaseException | None = None
        #: called with (serial, PDU name) for every PDU decoded, before it is handled: client.rs's
        #: ``decoded serial {} {}`` debug line (the emulated client's ``--wezterm-log``)
        self.on_decoded: Callable[[int, str], None] | None = None
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: over TLS: the session (set by open), and the context/host name it is made with
        self._tls: TlsSession | None = None
        self.tls_context: ssl.SSLContext | None = None
        self.tls_server_name: str | None = None
        #: kernel receive timestamps are on (TCP); reads then stop at frame ends
        self.kernel_timestamps = False
        #: with kernel send stamps (TCP), when each request left (replaces the time it was written)
        self.send_stamps: SendStamps | None = None
        #: bytes of the current frame still to read (0: at a frame boundary), and the start of a
        #: frame length that arrived in pieces
        self._frame_left = 0
        self._head = b""
        self._out = bytearray()
        self._drained: asyncio.Event | None = None
        #: serial -> called synchronously with the reply, in arrival order (see start())
        self.handlers: dict[int, Callable[[Reply], bool]] = {}

    async def open(self, addr: UnixAddress | TcpAddress) -> None:
        """``Reconnectable::connect``: nothing is sent on connect."""
        loop = self._loop = asyncio.get_running_loop()
        if isinstance(addr, UnixAddress):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, addr.path)
            except BaseException:
                sock.close()
                raise
        elif isinstance(addr, (TcpAddress, TlsAddress)):
            sock = await self._connect_tcp(loop, addr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.kernel_timestamps = enable_receive_timestamps(sock)
            if isinstance(addr, TlsAddress):
                await self._handshake(sock, addr)
            if enable_send_timestamps(sock):  # (after the handshake: the stamps' keys count from here)
                self.send_stamps = SendStamps()
        else:
            raise ValueError(f"the emulated client connects to unix:, tcp: or tls:// addresses, not {addr}")
        self._sock = sock
        self._drained = asyncio.Event()
        self._drained.set()
        loop.add_reader(sock.fileno(), self._readable)

    async def _handshake(self, sock: socket.socket, addr: TlsAddress) -> None:
        """``try_connect``: the TLS handshake, verifying the server as the context says."""
        if self.tls_context is None:
            sock.close()
            raise ValueError(f"{addr}: a TLS connection needs a context (the client's --tls-* options)")
        try:
            self._tls = await tls_handshake(sock, self.tls_context, server_side=False,
                                            server_hostname=self.tls_server_name or addr.host)
        except BaseException:
            sock.close()
            raise
        if self._tls.early:  # a reply cannot come before a request: the server misbehaves
            sock.close()
            raise ConnectionLost("the server sent data before any request")

    @staticmethod
    async def _connect_tcp(loop: asyncio.AbstractEventLoop, addr: TcpAddress | TlsAddress) -> socket.socket:
        infos = await loop.getaddrinfo(addr.host, addr.port, type=socket.SOCK_STREAM)
        error: OSError | None = None
        for family, type_, proto, _, sockaddr in infos:
            sock = socket.socket(family, type_, proto)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
            except BaseException:
                sock.close()
                raise
        raise error or OSError(f"cannot resolve {addr.host}:{addr.port}")

    def use_version(self, number: int) -> None:
        self.version = get_version(number)
        self.stream.observe_codec_version(number)

    def start(self, name: str, body: Any, on_reply: Callable[[Reply], bool] | None = None) -> asyncio.Future[Reply]:
        """Write one request now (synchronously) and return the future of its reply.

        Writing in the same step that decides to fetch keeps the request's
        departure and the client's fetch start at one instant, so what the
        wire shows and what the client did cannot drift apart.
        """
        if self.closed is not None or self._sock is None:
            raise ConnectionLost(f"connection is closed: {self.closed}")
        serial = self.next_serial
        self.next_serial += 1
        frame = self._wire(encode_pdu(name, body, serial, self.version))
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        if on_reply is not None:
            self.handlers[serial] = on_reply
        self.sent[name] += 1
        self.pending[serial] = (fut, time.monotonic_ns(), name)
        if self.send_stamps is not None:
            self.send_stamps.sent(len(frame), serial)
        self._write(frame)
        return fut

    async def finish(self, name: str, fut: asyncio.Future[Reply], expect: str | tuple[str, ...]) -> Reply:
        """Wait for the reply of a request made with :meth:`start`; check its type."""
        if self._drained is not None:
            await self._drained.wait()
        reply = await fut
        expected = (expect,) if isinstance(expect, str) else expect
        if reply.pdu.name not in expected:
            detail = reply.pdu.body.get("reason") if isinstance(reply.pdu.body, dict) else None
            suffix = f": {detail}" if detail else ""
            raise RpcError(f"{name}: unexpected response {reply.pdu.name}{suffix}")
        return reply

    async def request(self, name: str, body: Any, expect: str | tuple[str, ...]) -> Reply:
        """Send one request and wait for its reply; raise :class:`RpcError` on a wrong reply type."""
        return await self.finish(name, self.start(name, body), expect)

    # -- socket I/O ------------------------------------------------------------------
    def _wire(self, data: bytes) -> bytes:
        """What goes on the wire for ``data``: itself, or over TLS the records carrying it."""
        if self._tls is None:
            return data
        self._tls.obj.write(data)
        return self._tls.outgoing.read()

    def _write(self, data: bytes) -> None:
        """Send now if the socket takes it; what it does not take waits for it to be writable."""
        sock = self._sock
        assert sock is not None and self._loop is not None and self._drained is not None
        if not self._out:
            try:
                sent = send_some(sock, data)
            except OSError as exc:
                self._lost(ConnectionLost(f"connection lost: {exc}"))
                return
            self._collect_send_stamps()
            if sent == len(data):
                return
            data = data[sent:]
            self._drained.clear()
            self._loop.add_writer(sock.fileno(), self._writable)
        self._out += data

    def _writable(self) -> None:
        sock = self._sock
        assert sock is not None and self._loop is not None and self._drained is not None
        try:
            sent = send_some(sock, self._out)
        except OSError as exc:
            self._lost(ConnectionLost(f"connection lost: {exc}"))
            return
        del self._out[:sent]
        self._collect_send_stamps()
        if not self._out:
            self._loop.remove_writer(sock.fileno())
            self._drained.set()

    def _collect_send_stamps(self) -> None:
        """A request's send time becomes the kernel's stamp of its departure, once there is one."""
        if self.send_stamps is None or self._sock is None:
            return
        pending = self.pending
        for serial, t_ns in self.send_stamps.collect(self._sock):
            entry = pending.get(serial)
            if entry is not None:
                pending[serial] = (entry[0], t_ns, entry[2])

    def _readable(self) -> None:
        """Read what the socket has, timestamped; with kernel timestamps, one frame (or the part
        of one that has arrived) per read, so each frame's last byte gets its own arrival time."""
        sock = self._sock
        if sock is None:
            return
        self._collect_send_stamps()  # also clears the error readiness the stamps raise
        if self._tls is not None:
            self._readable_tls(sock, self._tls)
            return
        try:
            size = READ_SIZE
            if self.kernel_timestamps:
                if self._frame_left == 0:
                    peeked = sock.recv(_HEADER_PEEK, socket.MSG_PEEK)
                    if not peeked:
                        self._lost(ConnectionLost("server closed the connection"))
                        return
                    head = self._head + peeked
                    try:
                        length, header = decode_unsigned(head, 0)
                    except IndexError:  # the length itself is split across segments: keep its start
                        self._head += peeked
                        self._frame_left = len(peeked)
                    else:
                        self._frame_left = header + (length & _LENGTH_MASK) - len(self._head)
                        self._head = b""
                size = min(self._frame_left, READ_SIZE)
            data, ancillary, _, _ = sock.recvmsg(size, ANCILLARY_SPACE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(ConnectionLost(f"connection lost: {exc}"))
            return
        except CodecError as exc:  # a frame length leb128 cannot hold
            self._lost(ConnectionLost(f"corrupt frame length: {exc}"))
            return
        if not data:
            self._lost(ConnectionLost("server closed the connection"))
            return
        t_ns = monotonic_arrival(ancillary, time.monotonic_ns())
        if self.kernel_timestamps:
            self._frame_left = max(self._frame_left - len(data), 0)
        self._on_data(data, t_ns)

    def _readable_tls(self, sock: socket.socket, tls: TlsSession) -> None:
        """One TLS record (or the part of it that has arrived) per read, with its stamp; the
        plaintext it completes is handled as a plain read's bytes are."""
        try:
            if self._frame_left == 0:
                peeked = sock.recv(RECORD_HEADER - len(self._head), socket.MSG_PEEK)
                if not peeked:
                    self._lost(ConnectionLost("server closed the connection"))
                    return
                head = self._head + peeked
                if len(head) < RECORD_HEADER:  # the header itself is split across segments
                    self._head = head
                    self._frame_left = len(peeked)
                else:
                    self._frame_left = record_length(head) - len(self._head)
                    self._head = b""
            data, ancillary, _, _ = sock.recvmsg(min(self._frame_left, READ_SIZE), ANCILLARY_SPACE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(ConnectionLost(f"connection lost: {exc}"))
            return
        if not data:
            self._lost(ConnectionLost("server closed the connection"))
            return
        t_ns = monotonic_arrival(ancillary, time.monotonic_ns())
        self._frame_left = max(self._frame_left - len(data), 0)
        tls.incoming.write(data)
        plain = bytearray()
        while True:
            try:
                chunk = tls.obj.read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLError as exc:
                self._lost(ConnectionLost(f"TLS: {exc.reason or exc}"))
                return
            if not chunk:
                self._lost(ConnectionLost("server closed the TLS session"))
                return
            plain += chunk
        answer = tls.outgoing.read()  # a key update's answer, say: bytes no request owns
        if answer:
            if self.send_stamps is not None:
                self.send_stamps.sent(len(answer), None)
            self._write(answer)
        if plain:
            self._on_data(bytes(plain), t_ns)

    def _lost(self, exc: ConnectionLost) -> None:
        self._fail(exc)
        self._close_socket()

    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(sock.fileno())
            self._loop.remove_writer(sock.fileno())
        sock.close()
        if self._drained is not None:
            self._drained.set()

    def _on_data(self, data: bytes, t_ns: int) -> None:
        """Every PDU the chunk completes, handed on synchronously and in arrival order (the client thread).

        The client queues what it reads on its GUI thread (:mod:`.guiqueue`: a push two turns, a reply
        one, client.rs:116-121, :323-327), so the order they take effect in is decided there, not here."""
        if self.closed is not None:
            return
        try:
            for item in self.stream.feed(data):
                if isinstance(item, StreamError):
                    self.decode_errors += 1
                    if len(self.decode_error_messages) < 5:
                        self.decode_error_messages.append(f"{item.kind} at offset {item.offset}: {item.reason}")
                    continue
                self._dispatch(item, t_ns)
        except Exception as exc:  # noqa: BLE001 - every failure ends the connection
            self._lost(exc if isinstance(exc, ConnectionLost) else ConnectionLost(repr(exc)))

    def _dispatch(self, pdu: Pdu, t_ns: int) -> None:
        if self.on_decoded is not None:
            self.on_decoded(pdu.serial, pdu.name)
        if pdu.serial == 0:
            self.on_push(pdu, t_ns)
            return
        if pdu.serial > self.next_serial:
            raise ConnectionLost(f"CorruptResponse: serial {pdu.serial} > next serial {self.next_serial}")
        entry = self.pending.pop(pdu.serial, None)
        if entry is None:
            raise ConnectionLost(f"reply with serial {pdu.serial} matches no request")
        fut, t_sent, _ = entry
        latency_ms = (t_ns - t_sent) / 1e6 if t_sent else 0.0
        reply = Reply(pdu, pdu.serial, max(latency_ms, 0.0), t_sent, t_ns)
        handler = self.handlers.pop(pdu.serial, None)
        if handler is not None:
            handler(reply)  # synchronous: before any later PDU is looked at
        if not fut.done():
            fut.set_result(reply)

    def _fail(self, exc: BaseException) -> None:
        if self.closed is None:
            self.closed = exc
        pending, self.pending = self.pending, {}
        for fut, _, _ in pending.values():
            if not fut.done():
                fut.set_exception(ConnectionLost(str(exc)))

    async def close(self) -> None:
        # our own close: whoever still waits for a reply is cancelled, not failed
        for fut, _, _ in self.pending.values():
            fut.cancel()
        self._fail(ConnectionLost("client closed"))
        self._close_socket()
