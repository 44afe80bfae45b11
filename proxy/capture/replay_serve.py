"""``muxscope replay FILE --serve ADDR``: play the recorded *server* to a live client.

Why: a recorded session can then be reproduced without the machine, the mux
server or the content it was recorded with, e.g. to try a client change
against exactly the answers a slow remote gave.

Matching is in the manner of mitmproxy's server replay: a request is matched
to a recorded request with the same PDU name and body, ignoring serials and
the fields that differ on every run (``DEFAULT_IGNORE`` plus
``--ignore-field PDU.FIELD``). A request seen N times in the recording gets
the N recorded answers in turn, then the last one again. Answers go out with
the new request's serial; recorded pushes (serial 0) go out at their
recorded offsets from the connection's start, divided by ``speed``. A
request with no recorded answer gets an ``ErrorResponse`` and a
``replay_unmatched`` log event, which is how a client that drifted from the
recording notices.

:func:`load_conversations` (a capture's connections as requests, answers
and pushes) is shared with :mod:`proxy.capture.replay_drive`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from codec import CodecError, Frame, FrameDecoder, PduStream, StreamError, decode_frame, encode_frame, encode_pdu
from codec.direction import Direction
from codec.pdu import Pdu
from codec.schema.versions import DEFAULT_VERSION, KNOWN_IDENTS, get_version
from codec.wire.varbincode import to_json
from proxy.capture.format import CaptureError, open_capture
from proxy.observe import logs
from proxy.relay.endpoints import AddressError, TcpAddress, UnixAddress, listen_error, parse_listen
from proxy.relay.server import close_listener

C2S = Direction.CLIENT_TO_SERVER
#: Fields that change on every run of a client: never part of the match.
DEFAULT_IGNORE = ("SendKeyDown.input_serial", "SetClientId.client_id")


@dataclass(slots=True)
class RecordedFrame:
    """One recorded frame: when it was complete (ns since the connection opened) and what it was."""

    t_ns: int
    name: str
    frame: Frame
    body: Any = None  # decoded for requests only

    @property
    def serial(self) -> int:
        return self.frame.serial

    def with_serial(self, serial: int) -> bytes:
        f = self.frame
        return encode_frame(f.ident, serial, f.payload, f.compressed)


@dataclass
class Conversation:
    """One recorded connection, as a replay needs it."""

    conn_id: int
    codec_version: int = DEFAULT_VERSION
    requests: list[RecordedFrame] = field(default_factory=list)
    #: request serial -> the frames answering it (WezTerm sends one; kept as a list to be faithful)
    replies: dict[int, list[RecordedFrame]] = field(default_factory=lambda: defaultdict(list))
    pushes: list[RecordedFrame] = field(default_factory=list)


def load_conversations(path: str) -> dict[int, Conversation]:
    """Every connection of a capture that carried requests, by connection id (in id order)."""
    reader = open_capture(path)
    try:
        convs: dict[int, Conversation] = {}
        t0: dict[int, int] = {}
        decoders: dict[tuple[int, str], FrameDecoder] = {}
        for rec in reader.records():
            conv = convs.setdefault(rec.conn_id, Conversation(rec.conn_id))
            t0.setdefault(rec.conn_id, rec.t_ns)
            t = rec.t_ns - t0[rec.conn_id]
            if rec.kind == "dropped":  # a gap: what was in progress is lost, look for the next frame
                decoders[(rec.conn_id, rec.direction)] = _decoder(resync=True)
            if rec.kind != "data":
                continue
            decoder = decoders.setdefault((rec.conn_id, rec.direction), _decoder())
            for frame in _frames(decoder, rec.data):
                version = get_version(conv.codec_version)
                schema = version.table.get(frame.ident)
                if schema is None:
                    continue  # an ident this codec version does not know: nothing to match or send
                if rec.direction == C2S:
                    try:
                        body = decode_frame(frame, version).body
                    except CodecError:
                        continue
                    conv.requests.append(RecordedFrame(t, schema.name, frame, body))
                    continue
                if schema.name == "GetCodecVersionResponse":
                    with contextlib.suppress(CodecError):
                        conv.codec_version = decode_frame(frame, version).body["codec_vers"]
                rf = RecordedFrame(t, schema.name, frame)
                if frame.serial == 0:
                    conv.pushes.append(rf)
                else:
                    conv.replies[frame.serial].append(rf)
        return {c: v for c, v in sorted(convs.items()) if v.requests}
    finally:
        reader.f.close()


def _decoder(resync: bool = False) -> FrameDecoder:
    d = FrameDecoder(known_idents=KNOWN_IDENTS)
    if resync:
        d.resync_from_scratch()
    return d


def _frames(decoder: FrameDecoder, data: bytes) -> Iterable[Frame]:
    decoder.feed(data)
    return decoder.frames_skipping_errors()


def pick(convs: dict[int, Conversation], conn: int | None, nth: int = 0) -> Conversation:
    """The recorded connection to play: ``conn`` if given, else the ``nth`` one (the last when past the end)."""
    if not convs:
        raise CaptureError("the capture holds no connection with requests to replay")
    if conn is not None:
        if conn not in convs:
            raise CaptureError(f"no connection {conn} with requests in the capture (there are: "
                               f"{', '.join(map(str, convs))})")
        return convs[conn]
    ids = list(convs)
    return convs[ids[min(nth, len(ids) - 1)]]


# -- matching ----------------------------------------------------------------


def parse_ignore(fields: Iterable[str]) -> dict[str, list[list[str]]]:
    """``["SetClientId.client_id", "X.a.b"]`` -> ``{"SetClientId": [["client_id"]], "X": [["a", "b"]]}``."""
    out: dict[str, list[list[str]]] = defaultdict(list)
    for spec in fields:
        name, sep, path = spec.partition(".")
        if not sep or not path:
            raise ValueError(f"--ignore-field {spec!r}: expected PDU.FIELD, e.g. SendKeyDown.input_serial")
        out[name].append(path.split("."))
    return dict(out)


def request_key(name: str, body: Any, ignore: dict[str, list[list[str]]]) -> str:
    """What two requests must share to match: the name and the body minus the ignored fields."""
    value = to_json(body)
    for path in ignore.get(name, ()):
        node = value
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return name + " " + json.dumps(value, sort_keys=True, separators=(",", ":"))


# -- serving -----------------------------------------------------------------


class _Session:
    """One client connection played against one recorded conversation."""

    def __init__(self, server: ReplayServer, conv: Conversation, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.conv = conv
        self.writer = writer
        self.answers: dict[str, list[RecordedFrame]] = defaultdict(list)
        for req in conv.requests:
            if conv.replies.get(req.serial):
                self.answers[request_key(req.name, req.body, server.ignore)].append(req)
        self.used: dict[str, int] = defaultdict(int)
        self.matched = self.unmatched = 0
        self.loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    async def play_pushes(self) -> None:
        start = self.loop.time()
        for push in self.conv.pushes:
            delay = start + push.t_ns / 1e9 / self.server.speed - self.loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.write(push.with_serial(0))

    def handle(self, pdu: Pdu) -> None:
        key = request_key(pdu.name, pdu.body, self.server.ignore)
        recorded = self.answers.get(key)
        if not recorded:
            self.unmatched += 1
            self.server.unmatched += 1
            detail = {"request": key} if logs.content_allowed() else {}
            self.server.log.warning("replay_unmatched", pdu=pdu.name, serial=pdu.serial, **detail)
            reason = f"muxscope replay: no recorded response for {pdu.name}"
            self.write(encode_pdu("ErrorResponse", {"reason": reason}, pdu.serial, self.conv.codec_version))
            return
        idx = min(self.used[key], len(recorded) - 1)
        self.used[key] += 1
        req = recorded[idx]
        self.matched += 1
        self.server.matched += 1
        for reply in self.conv.replies[req.serial]:
            data = reply.with_serial(pdu.serial)
            if self.server.replay_latency:
                delay = max(0.0, (reply.t_ns - req.t_ns) / 1e9 / self.server.speed)
                self.loop.call_later(delay, self.write, data)
            else:
                self.write(data)


class ReplayServer:
    """Listens and answers each connection from a recorded conversation."""

    def __init__(
        self,
        convs: dict[int, Conversation],
        *,
        conn: int | None = None,
        ignore_fields: Iterable[str] = (),
        speed: float = 1.0,
        replay_latency: bool = False,
    ) -> None:
        if speed <= 0:
            raise ValueError("--speed must be positive")
        self.convs = convs
        self.conn = conn
        pick(convs, conn)  # fail now, not on the first connection
        self.ignore = parse_ignore([*DEFAULT_IGNORE, *ignore_fields])
        self.speed = speed
        self.replay_latency = replay_latency
        self.log = logs.get_logger(component="replay_serve")
        self.address: UnixAddress | TcpAddress | None = None
        self.connections = 0
        self.matched = self.unmatched = 0
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self, listen: UnixAddress | TcpAddress) -> UnixAddress | TcpAddress:
        if isinstance(listen, UnixAddress):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(listen.path)
            self._server = await asyncio.start_unix_server(self._handle, listen.path)
            self.address = listen
        elif isinstance(listen, TcpAddress):
            self._server = await asyncio.start_server(self._handle, listen.host, listen.port)
            self.address = TcpAddress(listen.host, self._server.sockets[0].getsockname()[1])
        else:
            raise AddressError(f"--serve {listen}: replay serves on unix: or tcp: addresses")
        self.log.info("replay_serving", address=str(self.address), connections=len(self.convs))
        return self.address

    async def stop(self) -> None:
        await close_listener(self._server, self._tasks, self.address)
        self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        conv = pick(self.convs, self.conn, self.connections)
        self.connections += 1
        session = _Session(self, conv, writer)
        self.log.info("replay_connection", recorded_conn=conv.conn_id, requests=len(conv.requests),
                      pushes=len(conv.pushes))
        pushes = asyncio.create_task(session.play_pushes())
        stream = PduStream(conv.codec_version)
        try:
            while data := await reader.read(65536):
                for item in stream.feed(data):
                    if isinstance(item, StreamError):
                        self.log.warning("replay_decode_error", reason=item.reason)
                    elif item.known:
                        session.handle(item)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            pushes.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pushes
            with contextlib.suppress(Exception):
                writer.close()
            self.log.info("replay_connection_done", recorded_conn=conv.conn_id, matched=session.matched,
                          unmatched=session.unmatched)
            if task is not None:
                self._tasks.discard(task)


async def serve_capture(
    capture_path: str,
    listen_addr: UnixAddress | TcpAddress | str,
    *,
    conn: int | None = None,
    ignore_fields: Iterable[str] = (),
    speed: float = 1.0,
    replay_latency: bool = False,
) -> ReplayServer:
    """Start serving ``capture_path`` on ``listen_addr``; call ``.stop()`` on the result when done.

    ``replay_latency`` delays each answer by its recorded latency (scaled by
    ``speed``), for a client that should feel the recorded link; by default
    answers go out at once.
    """
    if isinstance(listen_addr, str):
        listen_addr = parse_listen(listen_addr)  # type: ignore[assignment]
    server = ReplayServer(load_conversations(capture_path), conn=conn, ignore_fields=ignore_fields, speed=speed,
                          replay_latency=replay_latency)
    await server.start(listen_addr)  # type: ignore[arg-type]
    return server


async def _serve_forever(args: argparse.Namespace) -> int:
    listen = parse_listen(args.serve, args.allow_remote)
    try:
        server = await serve_capture(args.file, listen, conn=args.conn, ignore_fields=args.ignore_field,
                                     speed=args.speed or 1.0)
    except OSError as exc:
        raise listen_error("--serve", listen, exc) from None
    print(f"replaying the server of {args.file} on {server.address}; Ctrl-C to stop", file=sys.stderr)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
    server.log.info("replay_stopped", connections=server.connections, matched=server.matched,
                    unmatched=server.unmatched)
    logs.flush()
    return 0


def run_serve(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_serve_forever(args))
    except (AddressError, ValueError) as exc:
        print(f"muxscope replay --serve: {exc}", file=sys.stderr)
        return 2
