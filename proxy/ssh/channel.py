"""An asyncssh channel as a relay side, shared by the SSH server (listen) and client (upstream) ends."""

from __future__ import annotations

import contextvars
from typing import Any

from proxy.relay.relay import Side

#: The SSH channel whose upstream is being opened (set in the task running ``ProxyServer._handle``).
CURRENT_CHANNEL: contextvars.ContextVar[ChannelSide | None] = contextvars.ContextVar(
    "muxscope_ssh_channel", default=None
)


class ChannelSide(Side):
    """A relay side over an asyncssh channel (shared by the server and client ends).

    asyncssh starts delivering a session's data as soon as the session starts,
    overriding any earlier ``pause_reading``; what arrives before the relay is
    complete is therefore held here (and the channel paused) and delivered, in
    order with EOF and loss, when the relay starts reading.
    """

    def __init__(self) -> None:
        self.chan: Any = None
        self._started = False
        self._pending = bytearray()
        self._pending_eof = False
        self._pending_lost: tuple[BaseException | None] | None = None
        self._lost = False

    # from the asyncssh session callbacks
    def _on_data(self, data: bytes) -> None:
        if not self._started or self.relay is None:
            self._pending += data
            self.chan.pause_reading()
        else:
            self.relay.data_received(self, data)

    def _on_eof(self) -> None:
        if not self._started or self.relay is None:
            self._pending_eof = True
        else:
            self.relay.eof_received(self)

    def _on_lost(self, exc: BaseException | None) -> None:
        self._lost = True
        if not self._started or self.relay is None:
            self._pending_lost = (exc,)
        else:
            self.relay.connection_lost(self, exc)

    # Side
    def write(self, data: bytes) -> None:
        if self.chan is not None and not self.chan.is_closing():
            self.chan.write(data)

    def write_eof(self) -> None:
        if self.chan is not None and not self.chan.is_closing():
            self.chan.write_eof()

    def pause_reading(self) -> None:
        if self.chan is not None and not self._lost:
            self.chan.pause_reading()

    def resume_reading(self) -> None:
        if not self._started and self.relay is not None:
            self._started = True
            relay = self.relay
            if self._pending:
                data, self._pending = bytes(self._pending), bytearray()
                relay.data_received(self, data)
            if self._pending_eof:
                relay.eof_received(self)
            if self._pending_lost is not None:
                relay.connection_lost(self, self._pending_lost[0])
                return
        if self.chan is not None and not self._lost:
            self.chan.resume_reading()
