"""TLS relay sides that keep the kernel's receive stamps.

asyncio's TLS transport reads the socket with ``recv`` and would lose the
arrival stamps :mod:`proxy.relay.stamped` exists for. :class:`TlsSide` is a
:class:`~proxy.relay.stamped.StampedSocketSide` whose bytes go through an
``ssl.SSLObject`` over memory BIOs: ciphertext is read with ``recvmsg`` and its
stamp, decrypted, and the plaintext handed to the relay with that stamp.
Under TLS a stamp therefore means what it means on plain TCP, the arrival of
the newest segment in the read that completed the bytes, with one difference:
bytes are readable only once their whole TLS record (up to 16 KiB) is in, so a
PDU is stamped when the record holding its last byte arrived. That is for the
client side (wezterm-gui's requests); the upstream side stamps what it reads
when it reads it, as every upstream transport does, since a reply or push
reaches the client only once relayed (and the analysis times crossings so).

The handshake runs before the side exists (:func:`handshake`): a listener
checks the client certificate (and its CN, as WezTerm's server does) before
the connection reaches the proxy, so a refused client never opens an upstream
and nothing is relayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from proxy.relay.errors import ProxyError
from proxy.relay.stamped import READ_SIZE, StampedListener, StampedSocketSide, enable_receive_timestamps
from proxy.tls.contexts import check_client_name, describe

HANDSHAKE_TIMEOUT_S = 15.0
#: After a TLS 1.3 client handshake the server still judges our certificate; OpenSSL servers then
#: send session tickets (or an alert). Waiting this long for them turns a refusal into a connect
#: error, before anything is relayed.
VERDICT_WAIT_S = 1.0


class TlsSide(StampedSocketSide):
    """A TCP socket carrying TLS, after the handshake, as a relay side."""

    def __init__(self, sock: socket.socket, obj: ssl.SSLObject, incoming: ssl.MemoryBIO,
                 outgoing: ssl.MemoryBIO, early: bytes = b"", early_t_ns: int = 0, *,
                 arrival_stamps: bool = True) -> None:
        super().__init__(sock)
        #: False upstream: there, as on every other upstream transport, bytes are stamped when they
        #: are read and relayed (the client cannot have them sooner; the analysis relies on it)
        self.arrival_stamps = arrival_stamps
        self.tls = obj
        self._in, self._out_bio = incoming, outgoing
        self._early, self._early_t = early, early_t_ns
        self._ended = False
        self._closing_tls = False

    # -- reading: ciphertext in, plaintext to the relay with the ciphertext's stamp --------------
    def resume_reading(self) -> None:
        super().resume_reading()
        if self._reading and self._early_t and (self._early or self._in.pending):
            # read during the handshake, before the relay existed (once: then the stamp is spent)
            self._loop.call_soon(self._deliver_early)

    def _deliver_early(self) -> None:
        t_ns, self._early_t = self._early_t, 0
        early, self._early = self._early, b""
        if early and self.relay is not None:
            self.relay.data_received(self, early, t_ns)
        if self._in.pending:
            self._decrypt(t_ns)

    def _received(self, data: bytes, t_ns: int) -> None:
        self._in.write(data)
        self._decrypt(t_ns if self.arrival_stamps else time.monotonic_ns())

    def _decrypt(self, t_ns: int) -> None:
        chunks: list[bytes] = []
        ended = False
        while True:
            try:
                chunk = self.tls.read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                ended = True
                break
            except ssl.SSLError as exc:
                self._flush_tls()  # the alert, if any
                role = "upstream" if self.name == "upstream" else "client"
                self._lost(ConnectionResetError(f"TLS: {describe(exc, role)}"))
                return
            if not chunk:
                ended = True
                break
            chunks.append(chunk)
        self._flush_tls()  # key updates and the like
        if chunks and self.relay is not None:
            self.relay.data_received(self, b"".join(chunks), t_ns)
        if ended:
            self._eof()

    def _eof(self) -> None:
        if self._ended:
            return
        self._ended = True
        self.pause_reading()
        super()._eof()

    # -- writing: plaintext from the relay, ciphertext to the socket ------------------------------
    def write(self, data: bytes) -> None:
        if self.sock is None or self._closing_tls:
            return
        try:
            self.tls.write(data)
        except ssl.SSLError as exc:
            self._lost(exc)
            return
        self._flush_tls()

    def _flush_tls(self) -> None:
        out = self._out_bio.read()
        if out:
            self._send(out)

    def _close_notify(self) -> None:
        if self._closing_tls or self.sock is None:
            return
        self._closing_tls = True
        with contextlib.suppress(ssl.SSLError, ValueError):
            self.tls.unwrap()  # sends close_notify; the peer's comes (or not) later
        self._flush_tls()

    def write_eof(self) -> None:
        """Half-close: TLS close_notify, then the socket's FIN once the buffer is flushed."""
        self._close_notify()
        self._shutdown_after_flush()

    def close(self) -> None:
        self._close_notify()
        super().close()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "tls": self.tls.version()}


@dataclass
class TlsSession:
    """A finished handshake: the TLS object, its BIOs, and what arrived with the last handshake read."""

    obj: ssl.SSLObject
    incoming: ssl.MemoryBIO
    outgoing: ssl.MemoryBIO
    early: bytes
    early_t_ns: int


async def handshake(sock: socket.socket, ctx: ssl.SSLContext, *, server_side: bool,
                    server_hostname: str | None = None, timeout: float = HANDSHAKE_TIMEOUT_S) -> TlsSide:
    """Run the TLS handshake on a connected ``sock`` and return it as a relay side.

    Raises ``ssl.SSLError`` (after sending our alert), ``OSError`` or ``TimeoutError``; the
    caller closes ``sock``.
    """
    s = await tls_handshake(sock, ctx, server_side=server_side, server_hostname=server_hostname, timeout=timeout)
    return TlsSide(sock, s.obj, s.incoming, s.outgoing, s.early, s.early_t_ns, arrival_stamps=server_side)


async def tls_handshake(sock: socket.socket, ctx: ssl.SSLContext, *, server_side: bool,
                        server_hostname: str | None = None, timeout: float = HANDSHAKE_TIMEOUT_S) -> TlsSession:
    """The handshake over memory BIOs on a non-blocking ``sock`` (also used by the emulated client)."""
    sock.setblocking(False)
    enable_receive_timestamps(sock)  # before any application byte can arrive (the kernel is slow to switch)
    loop = asyncio.get_running_loop()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_side=server_side, server_hostname=server_hostname)

    async def send_pending() -> None:
        out = outgoing.read()
        if out:
            await loop.sock_sendall(sock, out)

    async def run() -> tuple[bytes, int]:
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:
                with contextlib.suppress(OSError):
                    await send_pending()  # tell the peer why
                raise
            await send_pending()
            incoming.write(await recv_record(loop, sock, "during the TLS handshake"))
        await send_pending()
        if server_side or obj.version() != "TLSv1.3":
            return b"", time.monotonic_ns()
        return await _await_verdict(loop, sock, obj, incoming, send_pending)

    early, t_ns = await asyncio.wait_for(run(), timeout)
    return TlsSession(obj, incoming, outgoing, early, t_ns)


#: a TLS record's header: content type, version, length (RFC 8446 5.1)
RECORD_HEADER = 5


def record_length(header: bytes) -> int:
    """The whole record's size from its 5-byte header."""
    return RECORD_HEADER + int.from_bytes(header[3:5], "big")


async def recv_record(loop: asyncio.AbstractEventLoop, sock: socket.socket, when: str) -> bytes:
    """Exactly one TLS record. The handshake reads record by record so that, when it is done, the
    socket is at a record boundary and nothing is left half-read (the emulated client then reads
    one record at a time, each with its own kernel stamp)."""
    data = bytearray()
    need = RECORD_HEADER
    while len(data) < need:
        chunk = await loop.sock_recv(sock, need - len(data))
        if not chunk:
            raise ConnectionResetError(f"the peer closed the connection {when}")
        data += chunk
        if need == RECORD_HEADER and len(data) == RECORD_HEADER:
            need = record_length(bytes(data))
    return bytes(data)


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_reader(sock.fileno(), lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())


async def _await_verdict(loop: asyncio.AbstractEventLoop, sock: socket.socket, obj: ssl.SSLObject,
                         incoming: ssl.MemoryBIO, send_pending: Callable[[], Any]) -> tuple[bytes, int]:
    """Wait (briefly) for the TLS 1.3 server's first records: tickets mean our certificate was
    accepted, an alert that it was not (raised as ``ssl.SSLError``)."""
    try:
        await asyncio.wait_for(_readable(loop, sock), VERDICT_WAIT_S)
    except TimeoutError:
        return b"", time.monotonic_ns()
    incoming.write(await recv_record(loop, sock, "right after the TLS handshake"))  # (not cut by a timeout)
    t_ns = time.monotonic_ns()
    chunks = []
    while True:
        try:
            chunk = obj.read(READ_SIZE)
        except ssl.SSLWantReadError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    await send_pending()
    return b"".join(chunks), t_ns


class TlsHandshakeError(ProxyError):
    """The upstream's TLS handshake failed on a certificate (theirs or ours), not on the network:
    what makes WezTerm's client bootstrap its credentials again."""


async def connect_tls(host: str, port: int, ctx: ssl.SSLContext, server_hostname: str | None,
                      ca_hint: str = "", timeout: float = HANDSHAKE_TIMEOUT_S) -> TlsSide:
    """Connect to ``host:port`` and run the client handshake; failures are :class:`ProxyError`
    with one line saying why (the server is never relayed to)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    last: OSError | None = None
    for family, type_, proto, _, sockaddr in infos:
        sock = socket.socket(family, type_, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, sockaddr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        try:
            return await handshake(sock, ctx, server_side=False, server_hostname=server_hostname, timeout=timeout)
        except ssl.SSLError as exc:
            sock.close()
            raise TlsHandshakeError(f"TLS with {host}:{port} failed: {describe(exc, 'upstream', ca_hint)}") from None
        except (OSError, TimeoutError) as exc:
            sock.close()
            raise ProxyError(f"TLS with {host}:{port} failed: {describe(exc, 'upstream', ca_hint)}") from None
        except BaseException:
            sock.close()
            raise
    raise last or OSError(f"cannot resolve {host}")


class TlsListener(StampedListener):
    """Accepts TCP connections, runs the server handshake and WezTerm's client checks, and hands
    only the accepted ones on, as :class:`TlsSide`; each refusal is one log line."""

    def __init__(self, sockets: list[socket.socket], on_accept: Callable[[Any], None], *,
                 context: ssl.SSLContext, log: Any, user: str | None = None) -> None:
        super().__init__(sockets, on_accept)
        self.context = context
        self.log = log
        self.user = user
        self._handshakes: set[asyncio.Task[None]] = set()
        self.refused = 0

    def _accepted(self, conn: socket.socket) -> None:
        task = asyncio.get_running_loop().create_task(self._handshake(conn))
        self._handshakes.add(task)
        task.add_done_callback(self._handshakes.discard)

    async def _handshake(self, conn: socket.socket) -> None:
        peer = StampedSocketSide._peer_name(conn)
        try:
            side = await handshake(conn, self.context, server_side=True)
        except (OSError, TimeoutError) as exc:
            conn.close()
            self._refuse(peer, describe(exc, "client"))
            return
        except BaseException:  # cancelled: the listener is closing
            conn.close()
            raise
        why = check_client_name(side.tls.getpeercert(binary_form=True), self.user)
        if why is not None:
            side.close()
            self._refuse(peer, why)
            return
        self._on_accept(side)

    def _refuse(self, peer: str | None, reason: str) -> None:
        self.refused += 1
        self.log.error("tls_client_refused", peer=peer, reason=reason)

    def close(self) -> None:
        super().close()
        for task in self._handshakes:
            task.cancel()
