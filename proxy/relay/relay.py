"""The relay: bytes from one side are written to the other, unchanged and in order.

This is the proxy's hot path, so it is built on asyncio's protocol callbacks
rather than streams: a chunk read from one transport is handed to the other
transport's ``write`` in the same callback, with no task switch and no copy.
Backpressure is the transports' own: when a side's write buffer passes its high
water mark asyncio calls ``pause_writing`` and we pause reading on the *other*
side until ``resume_writing``; nothing is buffered beyond the transports'
limits.

The only other thing the hot path does is :meth:`Tap.submit`, a non-blocking
hand-off to the analysis thread that drops (and counts) rather than waits, and
that is guarded so no exception from it can reach the relay.

Half-close is passed on (EOF from one side becomes ``write_eof`` on the other);
when both directions have ended, or either side is lost, both are closed after
their buffered bytes are flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from codec.direction import Direction

CLIENT_TO_SERVER = Direction.CLIENT_TO_SERVER
SERVER_TO_CLIENT = Direction.SERVER_TO_CLIENT


class TapLike(Protocol):
    def submit(self, conn_id: int, direction: Direction, t_ns: int, data: bytes) -> None: ...


@dataclass
class RelayStats:
    conn_id: int
    started_ns: int = field(default_factory=time.monotonic_ns)
    bytes_client_to_server: int = 0
    bytes_server_to_client: int = 0
    closed_by: str | None = None
    close_reason: str | None = None
    ended_ns: int | None = None
    #: bytes a side reported after the relay had ended: both sides were closed, nothing could carry them
    bytes_after_end: int = 0

    @property
    def duration_s(self) -> float:
        end = self.ended_ns if self.ended_ns is not None else time.monotonic_ns()
        return (end - self.started_ns) / 1e9


class Side:
    """One end of a relay. Subclasses adapt a transport (socket, pipes, subprocess, SSH channel)."""

    name = "?"
    relay: Relay | None = None

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def write_eof(self) -> None:
        raise NotImplementedError

    def can_write_eof(self) -> bool:
        return True

    def pause_reading(self) -> None:
        raise NotImplementedError

    def resume_reading(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """The relay is complete: start reading (a side holding bytes read before hands them over first)."""
        self.resume_reading()

    def close(self) -> None:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {}

    # The transport's backpressure callbacks (asyncio's pause_writing/resume_writing),
    # forwarded to the relay so it pauses the *other* side's reading.
    def pause_writing(self) -> None:
        if self.relay is not None:
            self.relay.pause_writing(self)

    def resume_writing(self) -> None:
        if self.relay is not None:
            self.relay.resume_writing(self)


class Relay:
    """Joins a client side and an upstream side; see the module docstring."""

    def __init__(
        self,
        conn_id: int,
        client: Side,
        upstream: Side,
        tap: TapLike | None = None,
    ) -> None:
        self.conn_id = conn_id
        self.client = client
        self.upstream = upstream
        self.tap = tap
        self.stats = RelayStats(conn_id)
        self.done: asyncio.Future[RelayStats] = asyncio.get_running_loop().create_future()
        self._eof = {"client": False, "upstream": False}
        self._lost = {"client": False, "upstream": False}
        client.relay = self
        upstream.relay = self
        client.name = "client"
        upstream.name = "upstream"

    def start(self) -> None:
        self.client.start()
        self.upstream.start()

    # -- callbacks from sides (the hot path) -----------------------------------
    def data_received(self, side: Side, data: bytes, t_ns: int | None = None) -> None:
        """Forward ``data``. The tap gets it stamped with ``t_ns`` when the side knows when the
        bytes arrived (the kernel's stamp, see proxy.relay.stamped), else now: before the write, since
        the send releases the GIL and an analysis thread taking it would delay a stamp after it."""
        if self.done.done():
            # A wrapped side (a shaped link) can still report bytes it held when the relay ended;
            # both sides are closed, so they reach no one, and the tap must not see data after the close.
            self.stats.bytes_after_end += len(data)
            return
        if t_ns is None:
            t_ns = time.monotonic_ns()
        if side is self.client:
            self.upstream.write(data)
            direction = CLIENT_TO_SERVER
            self.stats.bytes_client_to_server += len(data)
        else:
            self.client.write(data)
            direction = SERVER_TO_CLIENT
            self.stats.bytes_server_to_client += len(data)
        tap = self.tap
        if tap is not None:
            try:  # noqa: SIM105 - not contextlib.suppress: this runs for every chunk, and try costs 8x less
                tap.submit(self.conn_id, direction, t_ns, data)
            except Exception:  # noqa: BLE001 - nothing from the tap may reach the relay
                pass

    def eof_received(self, side: Side) -> None:
        self._eof[side.name] = True
        other = self._other(side)
        if other.can_write_eof():
            with contextlib.suppress(Exception):
                other.write_eof()
        if all(self._eof.values()):
            self._finish(side.name, "both sides ended")
        elif not other.can_write_eof():
            self._finish(side.name, "eof (peer cannot half-close)")

    def connection_lost(self, side: Side, exc: BaseException | None) -> None:
        self._lost[side.name] = True
        reason = f"{type(exc).__name__}: {exc}" if exc else "closed"
        if (
            self._eof[side.name]
            and not all(self._eof.values())
            and exc is None
            and not self._lost[self._other(side).name]
        ):
            # A clean half-close followed by close of that side: the other
            # direction may still be sending; keep it until it ends too.
            return
        self._finish(side.name, reason)

    def pause_writing(self, side: Side) -> None:
        """``side``'s outgoing buffer is full: stop reading from the other side."""
        self._other(side).pause_reading()

    def resume_writing(self, side: Side) -> None:
        self._other(side).resume_reading()

    # -- ending ----------------------------------------------------------------
    def _other(self, side: Side) -> Side:
        return self.upstream if side is self.client else self.client

    def abort(self, reason: str) -> None:
        self._finish("proxy", reason)

    def _finish(self, by: str, reason: str) -> None:
        if self.done.done():
            return
        self.stats.closed_by = by
        self.stats.close_reason = reason
        self.stats.ended_ns = time.monotonic_ns()
        for s in (self.client, self.upstream):
            with contextlib.suppress(Exception):
                s.close()
        self.done.set_result(self.stats)


class SocketSide(Side, asyncio.Protocol):  # Side first: its pause/resume_writing win
    """A stream socket (unix or TCP), accepted or connected."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reading = True
        #: what the socket reported before it was part of a relay (see data_received), handed over by start()
        self._early: list[bytes] = []
        self._early_eof = False
        self._early_lost: tuple[BaseException | None] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  (uvloop transports are not asyncio subclasses)
        # Nothing is read until the relay is complete (the upstream may still be connecting).
        if self.relay is None:
            transport.pause_reading()
            self._reading = False
        if not self.connected.done():
            self.connected.set_result(None)

    def data_received(self, data: bytes) -> None:
        relay = self.relay
        if relay is not None:
            relay.data_received(self, data)
        else:
            # Pausing in connection_made does not stop every loop from reading: uvloop can deliver
            # bytes that were already there (a client that writes at once) before the upstream is
            # connected. Dropping them would leave both ends waiting for each other forever.
            self._early.append(data)

    def eof_received(self) -> bool:
        if self.relay is not None:
            self.relay.eof_received(self)
        else:
            self._early_eof = True
        return True  # keep the write half open: half-close

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connected.done():
            self.connected.set_exception(exc or ConnectionResetError("connection lost"))
        if self.relay is not None:
            self.relay.connection_lost(self, exc)
        else:
            self._early_lost = (exc,)

    def start(self) -> None:
        """Called by the relay once it exists: what came before it, then reading."""
        relay = self.relay
        assert relay is not None
        early, self._early = self._early, []
        for data in early:
            relay.data_received(self, data)
        if self._early_eof:
            self._early_eof = False
            relay.eof_received(self)
        if self._early_lost is not None:
            (exc,), self._early_lost = self._early_lost, None
            relay.connection_lost(self, exc)  # type: ignore[arg-type]
            return
        self.resume_reading()

    # Side
    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def write_eof(self) -> None:
        if self.transport is not None and not self.transport.is_closing() and self.transport.can_write_eof():
            self.transport.write_eof()

    def can_write_eof(self) -> bool:
        return self.transport is not None and self.transport.can_write_eof()

    def pause_reading(self) -> None:
        if self.transport is not None and self._reading and not self.transport.is_closing():
            self.transport.pause_reading()
            self._reading = False

    def resume_reading(self) -> None:
        if self.transport is not None and not self._reading and not self.transport.is_closing():
            self.transport.resume_reading()
            self._reading = True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()  # flushes what is buffered, then closes

    def describe(self) -> dict[str, Any]:
        if self.transport is None:
            return {}
        peer = self.transport.get_extra_info("peername")
        return {"peer": peer if isinstance(peer, str) or peer is None else f"{peer[0]}:{peer[1]}"}
