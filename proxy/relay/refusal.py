"""When the upstream cannot be reached: tell the client why, in its own protocol, then close.

A bare EOF leaves wezterm-gui with "connection closed" and no reason. Instead the client's
first request is answered with an ``ErrorResponse`` carrying the reason (WezTerm shows an
ErrorResponse's reason to the user), under that request's serial, and the connection is
closed. Only the first frame's header is read (its length and serial: two LEB128 numbers),
nothing is decoded; a client that says nothing within :data:`FIRST_REQUEST_WAIT_S` is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from codec.errors import CodecError
from codec.pdu import encode_pdu
from codec.wire.leb128 import decode_unsigned

FIRST_REQUEST_WAIT_S = 1.0
#: the first request's header is in the first bytes; stop listening after this many
MAX_HEADER_BYTES = 64


class _Refuser:
    """Stands in for the relay on a client side whose upstream failed: reads the first header."""

    def __init__(self) -> None:
        self.buf = b""
        self.serial: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    def data_received(self, side: Any, data: bytes, t_ns: int | None = None) -> None:
        self.buf += data[:MAX_HEADER_BYTES]
        try:
            _, pos = decode_unsigned(self.buf, 0)
            serial, _ = decode_unsigned(self.buf, pos)
        except (IndexError, CodecError, ValueError):
            if len(self.buf) >= MAX_HEADER_BYTES:
                self._done(None)
            return
        self._done(serial)

    def eof_received(self, side: Any) -> None:
        self._done(None)

    def connection_lost(self, side: Any, exc: BaseException | None) -> None:
        self._done(None)

    def pause_writing(self, side: Any) -> None:
        pass

    def resume_writing(self, side: Any) -> None:
        pass

    def _done(self, serial: int | None) -> None:
        if not self.serial.done():
            self.serial.set_result(serial)


async def refuse(client: Any, reason: str) -> bool:
    """Answer the client's first request with ``ErrorResponse(reason)``, then close; True if sent."""
    refuser = _Refuser()
    client.relay = refuser
    sent = False
    with contextlib.suppress(Exception):
        client.start()  # a request that came before the upstream failed is handed over first
        serial = await asyncio.wait_for(refuser.serial, FIRST_REQUEST_WAIT_S)
        if serial is not None:
            client.write(encode_pdu("ErrorResponse", {"reason": f"muxscope: upstream unreachable: {reason}"},
                                    serial))
            sent = True
    client.relay = None
    with contextlib.suppress(Exception):
        client.close()
    return sent
