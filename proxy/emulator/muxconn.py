"""The emulated client's side of the mux connection: serials, response matching, pushes, latency.

Reproduces ``wezterm-client/src/client.rs: client_thread_async``: requests are
numbered from 1, every response is matched to its request by serial (replies
may come back out of order), serial 0 is a push handed to
``process_unilateral``, a serial beyond ``next_serial`` or one nobody waits for
is a corrupt stream that fails every pending request and drops the connection.
The ``rpc!`` macro's rule is kept too: any reply of an unexpected type
(ErrorResponse included) is an error for the caller.

Latency per RPC is measured as the client sees it: from the moment the
request's last byte was handed to the socket (after ``drain``) to the moment
the read that completed the response returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from codec import Pdu, PduStream, StreamError, encode_pdu
from codec.schema.versions import get_version
from proxy.endpoints import TcpAddress, UnixAddress

READ_SIZE = 256 * 1024


class RpcError(Exception):
    """A request that got an unexpected reply (``rpc!``: "unexpected response ...")."""


class ConnectionLost(Exception):
    """The connection closed or the stream was corrupt; pending requests fail with it."""


@dataclass(slots=True)
class Reply:
    pdu: Pdu
    serial: int
    latency_ms: float


class _Protocol(asyncio.StreamReaderProtocol):
    """Hands each chunk to the connection the moment the socket delivers it.

    Handling replies and pushes in the I/O callback itself (not in a reader
    task woken later) means that by the time a timer fires the render loop,
    everything the socket had delivered is already applied, and latencies are
    measured to the arrival, not to whenever a busy loop got round to it.
    """

    def __init__(self, reader: asyncio.StreamReader, conn: MuxConnection) -> None:
        super().__init__(reader)
        self._conn = conn

    def data_received(self, data: bytes) -> None:
        self._conn._on_data(data, time.perf_counter_ns())

    def eof_received(self) -> bool:
        self._conn._fail(ConnectionLost("server closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._conn._fail(ConnectionLost(f"connection lost: {exc}" if exc else "server closed the connection"))
        super().connection_lost(exc)


class MuxConnection:
    """Request/response over one stream, with pushes delivered to ``on_push``."""

    def __init__(self, version: int, on_push: Callable[[Pdu], None], summary_lines: bool = False) -> None:
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
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        #: serial -> called synchronously with the reply, in arrival order (see start())
        self.handlers: dict[int, Callable[[Reply], bool]] = {}

    async def open(self, addr: UnixAddress | TcpAddress) -> None:
        """``Reconnectable::connect``: nothing is sent on connect."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=READ_SIZE, loop=loop)
        protocol = _Protocol(reader, self)
        if isinstance(addr, UnixAddress):
            transport, _ = await loop.create_unix_connection(lambda: protocol, addr.path)
        elif isinstance(addr, TcpAddress):
            transport, _ = await loop.create_connection(lambda: protocol, addr.host, addr.port)
        else:
            raise ValueError(f"the emulated client connects to unix: or tcp: addresses, not {addr}")
        self._reader, self._writer = reader, asyncio.StreamWriter(transport, protocol, reader, loop)

    def use_version(self, number: int) -> None:
        self.version = get_version(number)
        self.stream.observe_codec_version(number)

    def start(self, name: str, body: Any, on_reply: Callable[[Reply], bool] | None = None) -> asyncio.Future[Reply]:
        """Write one request now (synchronously) and return the future of its reply.

        Writing in the same step that decides to fetch keeps the request's
        departure and the client's fetch start at one instant, so what the
        wire shows and what the client did cannot drift apart.
        """
        if self.closed is not None or self._writer is None:
            raise ConnectionLost(f"connection is closed: {self.closed}")
        serial = self.next_serial
        self.next_serial += 1
        frame = encode_pdu(name, body, serial, self.version)
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self.pending[serial] = (fut, time.perf_counter_ns(), name)
        if on_reply is not None:
            self.handlers[serial] = on_reply
        self.sent[name] += 1
        self._writer.write(frame)
        return fut

    async def finish(self, name: str, fut: asyncio.Future[Reply], expect: str | tuple[str, ...]) -> Reply:
        """Wait for the reply of a request made with :meth:`start`; check its type."""
        assert self._writer is not None
        try:
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            self._fail(ConnectionLost(str(exc)))
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

    def _on_data(self, data: bytes, t_ns: int) -> None:
        """Every PDU the chunk completes, handled synchronously and in arrival order, as
        wezterm-gui's main-thread queue handles them (client.rs: promise results and
        process_unilateral are queued in arrival order)."""
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
            self._fail(exc if isinstance(exc, ConnectionLost) else ConnectionLost(repr(exc)))
            if self._writer is not None:
                self._writer.close()

    def _dispatch(self, pdu: Pdu, t_ns: int) -> None:
        if pdu.serial == 0:
            self.on_push(pdu)
            return
        if pdu.serial > self.next_serial:
            raise ConnectionLost(f"CorruptResponse: serial {pdu.serial} > next serial {self.next_serial}")
        entry = self.pending.pop(pdu.serial, None)
        if entry is None:
            raise ConnectionLost(f"reply with serial {pdu.serial} matches no request")
        fut, t_sent, _ = entry
        latency_ms = (t_ns - t_sent) / 1e6 if t_sent else 0.0
        reply = Reply(pdu, pdu.serial, max(latency_ms, 0.0))
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
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
