"""Stream sockets read with the kernel's receive timestamps, for latencies the proxy's own delays cannot skew.

The proxy times an RPC from the moment it reads the request to the moment it
reads the response. When its event loop is slow to wake (the CPU busy with the
mux server and the GUI, the GIL held by an analysis thread), it reads the
request late and the RPC looks shorter than it was: measured on a 2-core
machine running an emulated server, the proxy and a client in a resize drag,
up to 6 ms for 3-6% of GetLines. On TCP the kernel stamps every segment on
arrival (``SO_TIMESTAMPNS``), and ``recvmsg`` hands the stamp of the newest
segment read along with the bytes; asyncio's transports read with ``recv`` and
drop it. :class:`StampedSocketSide` is a relay side that reads with
``recvmsg``, so the relay gets the arrival time, not the read time. Unix
sockets carry no stamps; there (and wherever stamps are off) the read time is
used, as before. So it is for a segment that arrives just after the first
socket on the host asked for stamps: the kernel switches stamping on from a
work queue, and such a segment comes unstamped.

Writing, backpressure and half-close follow asyncio's selector transport:
send at once what the socket takes, buffer the rest and send it when the
socket is writable, ask the relay to pause the other side above
``HIGH_WATER`` buffered bytes and to resume below ``LOW_WATER``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import struct
import time
from collections.abc import Callable, Iterable
from typing import Any

from proxy.relay.relay import Side

#: ``SO_TIMESTAMPNS`` (asm-generic/socket.h; the stdlib does not name it)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")
#: room for the receive stamp, and for the ``SCM_TIMESTAMPING`` copy of it (three timespecs) that a
#: socket with send stamps on (:func:`enable_send_timestamps`) also gets on every read
ANCILLARY_SPACE = socket.CMSG_SPACE(_TIMESPEC.size) + socket.CMSG_SPACE(3 * _TIMESPEC.size)
READ_SIZE = 256 * 1024
#: asyncio's defaults for a selector transport's write buffer
HIGH_WATER = 64 * 1024
LOW_WATER = 16 * 1024


def _set_stamping_option(sock: socket.socket, option: int, value: int) -> bool:
    """Set a timestamping socket option on a TCP ``sock``; False where it cannot be (unix sockets
    never get stamps, a kernel may refuse)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, option, value)
    except OSError:
        return False
    return True


def _monotonic_ns(timespec: bytes) -> int:
    """A kernel software stamp (CLOCK_REALTIME ``timespec``) on CLOCK_MONOTONIC, the clock of the
    proxy's timestamps and of every other process."""
    sec, nsec = _TIMESPEC.unpack_from(timespec)
    return sec * 1_000_000_000 + nsec - (time.time_ns() - time.monotonic_ns())


def enable_receive_timestamps(sock: socket.socket) -> bool:
    """Ask the kernel to stamp what ``sock`` receives; False where it cannot (unix sockets never get stamps)."""
    return _set_stamping_option(sock, SO_TIMESTAMPNS, 1)


def monotonic_arrival(ancillary: Iterable[tuple[int, int, bytes]], now_ns: int) -> int:
    """The kernel's receive stamp in ``recvmsg``'s ancillary data, on CLOCK_MONOTONIC; ``now_ns``
    (a monotonic reading taken after the read) if there is none."""
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= _TIMESPEC.size:
            return min(_monotonic_ns(value), now_ns)
    return now_ns


#: ``SO_TIMESTAMPING`` and its flags (linux/net_tstamp.h): stamp each send when the segment
#: holding its last byte goes to the device, report it in software, keyed by that byte's offset,
#: without echoing the payload
SO_TIMESTAMPING = getattr(socket, "SO_TIMESTAMPING", 37)
_TX_SOFTWARE, _SOFTWARE, _OPT_ID, _OPT_TSONLY = 1 << 1, 1 << 4, 1 << 7, 1 << 11
#: ``struct sock_extended_err``: ee_errno, ee_origin, ee_type, ee_code, ee_pad, ee_info, ee_data
_EXTENDED_ERR = struct.Struct("@IBBBBII")
_SO_EE_ORIGIN_TIMESTAMPING = 4
_SEND_STAMP_SPACE = 512
_KEY_MOD = 1 << 32


def enable_send_timestamps(sock: socket.socket) -> bool:
    """Ask the kernel to stamp when each send on TCP ``sock`` leaves (see :class:`SendStamps`);
    False where it cannot. Must be called before the first byte is sent: the stamps' keys count
    bytes from here."""
    return _set_stamping_option(sock, SO_TIMESTAMPING, _TX_SOFTWARE | _SOFTWARE | _OPT_ID | _OPT_TSONLY)


def widen_key(key: int, next_offset: int) -> int:
    """The byte offset a 32-bit send-stamp ``key`` stands for: the first at or after
    ``next_offset`` (the byte after the last one stamped; stamps come in order) with those low bits."""
    return next_offset + ((key - next_offset) % _KEY_MOD)


class SendStamps:
    """When the bytes written to a socket left, from the kernel's send stamps.

    A process that takes the time and then calls ``send`` may be preempted in
    between; on a 2-core machine running server, proxy and client that happened
    for about 1 request in 200, for up to 3.6 ms, and the client's latency then
    counted time the request had not yet left. The kernel stamps the segment
    holding a send's last byte as it hands it to the device (on loopback, in
    the send itself) and queues the stamp on the socket's error queue, keyed by
    that byte's offset. :meth:`sent` says where each message ends; :meth:`collect`
    drains the queue (it must be drained whenever the socket polls readable, or
    the error readiness never clears) and returns, per message whose last byte
    has left, when it did.
    """

    def __init__(self) -> None:
        self._written = 0  # bytes handed to the socket so far (queued or sent)
        self._waiting: collections.deque[tuple[int, Any]] = collections.deque()
        self._stamped = 0  # offset of the last byte a stamp covered, plus one

    def sent(self, nbytes: int, token: Any) -> None:
        """``nbytes`` more bytes were written (or queued) for the message ``token``."""
        self._written += nbytes
        self._waiting.append((self._written - 1, token))

    def collect(self, sock: socket.socket) -> list[tuple[Any, int]]:
        """(token, CLOCK_MONOTONIC departure) of each message the stamps now read cover."""
        out: list[tuple[Any, int]] = []
        while True:
            try:
                _, ancillary, _, _ = sock.recvmsg(0, _SEND_STAMP_SPACE, socket.MSG_ERRQUEUE)
            except OSError:  # nothing queued (EAGAIN), or the socket is gone
                return out
            t_ns = key = None
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPING and len(value) >= _TIMESPEC.size:
                    t_ns = _monotonic_ns(value)
                elif len(value) >= _EXTENDED_ERR.size:
                    fields = _EXTENDED_ERR.unpack_from(value)
                    if fields[1] == _SO_EE_ORIGIN_TIMESTAMPING:
                        key = fields[6]
            if t_ns is None or key is None:
                continue
            last = widen_key(key, self._stamped)
            self._stamped = last + 1
            waiting = self._waiting
            while waiting and waiting[0][0] <= last:
                out.append((waiting.popleft()[1], t_ns))


def send_some(sock: socket.socket, data: bytes | bytearray) -> int:
    """What a non-blocking ``sock`` takes of ``data`` now (0 when it would block); OSError when the
    connection is gone."""
    try:
        return sock.send(data)
    except (BlockingIOError, InterruptedError):
        return 0


class StampedSocketSide(Side):
    """A connected stream socket as a relay side, read with ``recvmsg`` (see the module docstring)."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio's transports do
        self.sock: socket.socket | None = sock
        self.stamped = enable_receive_timestamps(sock)
        self._loop = asyncio.get_running_loop()
        self._fd = sock.fileno()
        self._out = bytearray()
        self._reading = False
        self._writer_registered = False
        self._paused_peer = False
        self._eof_after_flush = False
        self._close_after_flush = False
        self._peer = self._peer_name(sock)

    @staticmethod
    def _peer_name(sock: socket.socket) -> str | None:
        try:
            peer = sock.getpeername()
        except OSError:
            return None
        return peer if isinstance(peer, str) else f"{peer[0]}:{peer[1]}"

    # -- reading -------------------------------------------------------------------------
    def _readable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        try:
            data, ancillary, _, _ = sock.recvmsg(READ_SIZE, ANCILLARY_SPACE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        if not data:
            self.pause_reading()
            self._eof()
            return
        self._received(data, monotonic_arrival(ancillary, time.monotonic_ns()))

    # What the bytes read mean: hooks a side that wraps the stream (TLS) overrides.
    def _received(self, data: bytes, t_ns: int) -> None:
        if self.relay is not None:
            self.relay.data_received(self, data, t_ns)

    def _eof(self) -> None:
        if self.relay is not None:
            self.relay.eof_received(self)

    def pause_reading(self) -> None:
        if self._reading and self.sock is not None:
            self._loop.remove_reader(self._fd)
        self._reading = False

    def resume_reading(self) -> None:
        if not self._reading and self.sock is not None and not self._close_after_flush:
            self._loop.add_reader(self._fd, self._readable)
            self._reading = True

    # -- writing -------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self._send(data)

    def _send(self, data: bytes) -> None:
        """Put ``data`` on the wire: at once what the socket takes, the rest when it is writable."""
        sock = self.sock
        if sock is None or self._close_after_flush or self._eof_after_flush:
            return
        if not self._out:
            try:
                sent = send_some(sock, data)
            except OSError as exc:
                self._lost(exc)
                return
            if sent == len(data):
                return
            data = data[sent:]
            self._loop.add_writer(self._fd, self._writable)
            self._writer_registered = True
        self._out += data
        if len(self._out) > HIGH_WATER and not self._paused_peer:
            self._paused_peer = True
            self.pause_writing()

    def _writable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        try:
            sent = send_some(sock, self._out)
        except OSError as exc:
            self._lost(exc)
            return
        del self._out[:sent]
        if self._paused_peer and len(self._out) <= LOW_WATER:
            self._paused_peer = False
            self.resume_writing()
        if not self._out:
            self._loop.remove_writer(self._fd)
            self._writer_registered = False
            if self._eof_after_flush:
                self._shutdown_write()
            if self._close_after_flush:
                self._close_now(None)

    def write_eof(self) -> None:
        self._shutdown_after_flush()

    def _shutdown_after_flush(self) -> None:
        if self.sock is None or self._eof_after_flush:
            return
        self._eof_after_flush = True  # what is buffered goes first (see _writable)
        if not self._out:
            self._shutdown_write()

    def _shutdown_write(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)

    def can_write_eof(self) -> bool:
        return True

    # -- ending --------------------------------------------------------------------------
    def close(self) -> None:
        """Flush what is buffered, then close (as ``transport.close()``)."""
        if self.sock is None:
            return
        self.pause_reading()
        if self._out:
            self._close_after_flush = True
        else:
            self._close_now(None)

    def _lost(self, exc: BaseException | None) -> None:
        self._out.clear()
        self._close_now(exc)

    def _close_now(self, exc: BaseException | None) -> None:
        sock, self.sock = self.sock, None
        if sock is None:
            return
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False
        if self._writer_registered:
            self._loop.remove_writer(self._fd)
            self._writer_registered = False
        sock.close()
        # later, as asyncio's transports do: the relay may be in the middle of closing both sides
        self._loop.call_soon(self._notify_lost, exc)

    def _notify_lost(self, exc: BaseException | None) -> None:
        if self.relay is not None:
            self.relay.connection_lost(self, exc)

    def describe(self) -> dict[str, Any]:
        return {"peer": self._peer}


class StampedListener:
    """Accepts TCP connections as :class:`StampedSocketSide` (an asyncio server would wrap each in a
    transport that drops the stamps). Quacks like the ``asyncio.Server`` the proxy keeps."""

    def __init__(self, sockets: list[socket.socket], on_accept: Callable[[Any], None], **_: Any) -> None:
        self.sockets = sockets
        self._on_accept = on_accept
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._accept_loop(sock)) for sock in sockets]

    @classmethod
    async def listen(cls, host: str, port: int, on_accept: Callable[[Any], None],
                     backlog: int = 100, **kw: Any) -> Any:
        """Bind every address ``host`` resolves to (as ``loop.create_server`` does)."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        sockets: list[socket.socket] = []
        try:
            for family, type_, proto, _, sockaddr in dict.fromkeys(infos):
                sock = socket.socket(family, type_, proto)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                if port == 0 and len(sockets) > 1:  # port 0: every family on the port the first got
                    sockaddr = (sockaddr[0], sockets[0].getsockname()[1], *sockaddr[2:])
                sock.bind(sockaddr)
                sock.listen(backlog)
                sock.setblocking(False)
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        return cls(sockets, on_accept, **kw)

    async def _accept_loop(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except (ConnectionAbortedError, InterruptedError):
                continue
            except OSError:
                if sock.fileno() < 0:
                    return
                await asyncio.sleep(0.1)  # EMFILE and the like: do not spin
                continue
            self._accepted(conn)

    def _accepted(self, conn: socket.socket) -> None:
        """A connection came in: make it a side and hand it on (a TLS listener handshakes first)."""
        try:
            side = StampedSocketSide(conn)
        except OSError:
            conn.close()
            return
        self._on_accept(side)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for sock in self.sockets:
            sock.close()

    async def wait_closed(self) -> None:
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
