"""Test support: value builders, a scripted mux peer, log capture."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from typing import Any

from codec import PduStream, encode_pdu
from codec.pdu import Pdu
from proxy.observe import logs

DEFAULT_ATTRS = {"attributes": 0, "foreground": "Default", "background": "Default", "fat": None}


def make_line(text: str, seqno: int = 1, color: int | None = None) -> dict[str, Any]:
    attrs = dict(DEFAULT_ATTRS)
    if color is not None:
        attrs["foreground"] = {"PaletteIndex": color}
    return {
        "cells": {"V": {"cells": [{"text": ch, "attrs": attrs} for ch in text]}},
        "zones": [],
        "seqno": seqno,
        "bits": 0,
    }


def serialized_lines(rows: dict[int, str], seqno: int = 1) -> dict[str, Any]:
    return {
        "lines": [(row, make_line(text, seqno + i)) for i, (row, text) in enumerate(sorted(rows.items()))],
        "hyperlinks": [],
        "images": [],
    }


def get_lines_response(pane_id: int, rows: dict[int, str], seqno: int = 1) -> dict[str, Any]:
    return {"pane_id": pane_id, "lines": serialized_lines(rows, seqno)}


def row_text(row: int, width: int = 80) -> str:
    base = f"{row:06d} /usr/share/doc/package-{row % 97}/changelog.Debian.gz "
    return (base * (width // len(base) + 1))[:width]


Handler = Callable[[Pdu], "list[tuple[str, Any, int]] | None"]


class ScriptedMux:
    """A minimal mux server: answers requests with whatever ``handler`` returns.

    ``handler(pdu)`` returns a list of (pdu_name, body, serial) to send (serial
    None = the request's serial), or None for the default answers below.
    """

    def __init__(self, handler: Handler | None = None, delay_s: dict[str, float] | None = None) -> None:
        self.handler = handler
        self.delay_s = delay_s or {}
        self.received = bytearray()
        self.sent = bytearray()
        self.requests: list[Pdu] = []
        self.server: asyncio.AbstractServer | None = None
        self.connections = 0

    async def start_unix(self, path: str) -> None:
        self.server = await asyncio.start_unix_server(self._conn, path)

    async def start_tcp(self) -> int:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def default(self, pdu: Pdu) -> list[tuple[str, Any, int | None]]:
        if pdu.name == "GetCodecVersion":
            return [("GetCodecVersionResponse", {"codec_vers": 44, "version_string": "scripted",
                                                 "executable_path": "/bin/scripted", "config_file_path": None},
                     None)]
        if pdu.name == "Ping":
            return [("Pong", {}, None)]
        if pdu.name == "GetLines":
            rows = {}
            for r in pdu.body["lines"]:
                for row in range(r["start"], r["end"]):
                    rows[row] = row_text(row)
            return [("GetLinesResponse", get_lines_response(pdu.body["pane_id"], rows), None)]
        return [("UnitResponse", {}, None)]

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        stream = PduStream()
        try:
            while data := await reader.read(65536):
                self.received += data
                for pdu in stream.feed(data):
                    if not isinstance(pdu, Pdu):
                        continue
                    self.requests.append(pdu)
                    replies = (self.handler(pdu) if self.handler else None) or self.default(pdu)
                    delay = self.delay_s.get(pdu.name, 0)
                    if delay:
                        await asyncio.sleep(delay)
                    for name, body, serial in replies:
                        out = encode_pdu(name, body, pdu.serial if serial is None else serial)
                        self.sent += out
                        writer.write(out)
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


class LogCapture:
    """Configure structlog to write JSON lines into memory; read them back as dicts."""

    def __init__(self, level: str = "info", log_content: bool = False) -> None:
        self.buf = io.StringIO()
        logs.configure("json", level, None, log_content, stream=self.buf)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        out = []
        for line in self.buf.getvalue().splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if name is None or ev.get("event") == name:
                out.append(ev)
        return out
