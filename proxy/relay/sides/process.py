"""Relay sides for transports other than a plain socket: a child process, stdin/stdout.

``ExecSide`` runs the upstream command per connection (``exec:ssh host wezterm
cli --prefer-mux proxy``): its stdin/stdout carry the mux protocol, its stderr
goes to the log line by line, and its exit status is logged. ``StdioSide`` is
the client side when wezterm runs the proxy itself as a ``proxy_command``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any

from proxy.relay.relay import Side, SocketSide

#: How long a child may take to exit after its stdin is closed before it is killed.
EXEC_EXIT_GRACE_S = 2.0


class ExecSide(Side, asyncio.SubprocessProtocol):  # Side first: its pause/resume_writing win
    """The upstream is a child process speaking the mux protocol on stdin/stdout."""

    def __init__(self, argv: tuple[str, ...], on_stderr: Callable[[str], None],
                 on_exit: Callable[[int | None], None]) -> None:
        self.argv = argv
        self.on_stderr = on_stderr
        self.on_exit = on_exit
        self.transport: asyncio.SubprocessTransport | None = None
        self._stderr_buf = b""
        self._reading = True
        self._stdout_closed = False
        # stdout bytes (and EOF/exit) that arrive before the relay is attached:
        # asyncio delivers a child's first output right after connection_made,
        # and a fast child may even exit before the relay exists.
        self._early = bytearray()
        self._attached = False
        self.exited: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    @classmethod
    async def spawn(cls, argv: tuple[str, ...], on_stderr: Callable[[str], None],
                    on_exit: Callable[[int | None], None]) -> ExecSide:
        loop = asyncio.get_running_loop()
        side = cls(argv, on_stderr, on_exit)
        await loop.subprocess_exec(lambda: side, *argv, stdin=asyncio.subprocess.PIPE,
                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return side

    # SubprocessProtocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  (uvloop transports are not asyncio subclasses)
        if self.relay is None:
            self._stdout().pause_reading()
            self._reading = False

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == 1:
            if self.relay is not None and self._attached:
                self.relay.data_received(self, data)
            else:
                self._early += data
        elif fd == 2:
            self._stderr_buf += data
            *lines, self._stderr_buf = self._stderr_buf.split(b"\n")
            for line in lines:
                self._emit_stderr(line)
            if len(self._stderr_buf) > 8192:
                self._emit_stderr(self._stderr_buf)
                self._stderr_buf = b""

    def _emit_stderr(self, line: bytes) -> None:
        with contextlib.suppress(Exception):
            self.on_stderr(line.decode("utf-8", "replace").rstrip("\r"))

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1 and not self._stdout_closed:
            self._stdout_closed = True
            if self.relay is not None and self._attached:
                self.relay.eof_received(self)
            self._maybe_lost()
        if fd == 2 and self._stderr_buf:
            self._emit_stderr(self._stderr_buf)
            self._stderr_buf = b""

    def process_exited(self) -> None:
        code = self.transport.get_returncode() if self.transport else None
        if not self.exited.done():
            self.exited.set_result(code)
        with contextlib.suppress(Exception):
            self.on_exit(code)
        self._maybe_lost()

    def _maybe_lost(self) -> None:
        # Only once the child has exited *and* its stdout is drained: the
        # order of these two callbacks is not guaranteed, and ending the relay
        # on exit alone could lose the child's last bytes.
        if self.exited.done() and self._stdout_closed and self.relay is not None and self._attached:
            self.relay.connection_lost(self, None)

    # Side
    def _stdin(self) -> asyncio.WriteTransport:
        assert self.transport is not None
        pipe = self.transport.get_pipe_transport(0)
        return pipe

    def _stdout(self) -> asyncio.ReadTransport:
        assert self.transport is not None
        pipe = self.transport.get_pipe_transport(1)
        return pipe

    def write(self, data: bytes) -> None:
        stdin = self._stdin()
        if not stdin.is_closing():
            stdin.write(data)

    def write_eof(self) -> None:
        stdin = self._stdin()
        if not stdin.is_closing():
            stdin.write_eof()

    def pause_reading(self) -> None:
        if self._reading and not self._stdout_closed:
            self._stdout().pause_reading()
            self._reading = False

    def resume_reading(self) -> None:
        if not self._attached and self.relay is not None:
            # first call, from Relay.start(): hand over what came before the relay
            self._attached = True
            if self._early:
                data = bytes(self._early)
                self._early.clear()
                self.relay.data_received(self, data)
            if self._stdout_closed:
                self.relay.eof_received(self)
                self._maybe_lost()
                return
        if not self._reading and not self._stdout_closed:
            self._stdout().resume_reading()
            self._reading = True

    def close(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        with contextlib.suppress(Exception):
            self.write_eof()
        if self.exited.done():
            self.transport.close()
        else:
            asyncio.get_running_loop().call_later(EXEC_EXIT_GRACE_S, self.transport.close)

    def describe(self) -> dict[str, Any]:
        pid = self.transport.get_pid() if self.transport else None
        return {"pid": pid}


class _PipeReader(asyncio.Protocol):
    def __init__(self, owner: StdioSide) -> None:
        self.owner = owner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Paused before the event loop first reads the pipe: nothing arrives (and
        # nothing is lost) until the relay exists and resumes reading.
        transport.pause_reading()  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.owner.relay is not None:
            self.owner.relay.data_received(self.owner, data)

    def eof_received(self) -> bool:
        if self.owner.relay is not None:
            self.owner.relay.eof_received(self.owner)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        pass


class _PipeWriter(asyncio.Protocol):
    def __init__(self, owner: StdioSide) -> None:
        self.owner = owner

    def pause_writing(self) -> None:
        if self.owner.relay is not None:
            self.owner.relay.pause_writing(self.owner)

    def resume_writing(self) -> None:
        if self.owner.relay is not None:
            self.owner.relay.resume_writing(self.owner)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.owner.closed.done():
            self.owner.closed.set_result(None)
        if exc is None and self.owner.eof_written:
            return  # our half-close of stdout: stdin may still be sending
        if self.owner.relay is not None:
            self.owner.relay.connection_lost(self.owner, exc)


class StdioSide(Side):
    """The client is whoever started us: the mux protocol on our stdin/stdout."""

    def __init__(self) -> None:
        self.reader: asyncio.ReadTransport | None = None
        self.writer: asyncio.WriteTransport | None = None
        self._reading = True
        self.eof_written = False
        #: set once stdout is closed and everything written to it has been flushed
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @classmethod
    async def open(cls, stdin: Any = None, stdout: Any = None) -> StdioSide:
        loop = asyncio.get_running_loop()
        side = cls()
        # dup so that closing our transports doesn't close fds others may use
        rfile = os.fdopen(os.dup((stdin or sys.stdin).fileno()), "rb", buffering=0)
        wfile = os.fdopen(os.dup((stdout or sys.stdout).fileno()), "wb", buffering=0)
        side.reader, _ = await loop.connect_read_pipe(lambda: _PipeReader(side), rfile)
        side.writer, _ = await loop.connect_write_pipe(lambda: _PipeWriter(side), wfile)
        if stdout is None:
            # Our transport must hold the only reference to the stdout pipe, or
            # closing it (our half-close) is no EOF for the reader: point fd 1 at
            # /dev/null (which also keeps a stray print out of the protocol).
            sys.stdout.flush()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        side._reading = False
        return side

    def write(self, data: bytes) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(data)

    def write_eof(self) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.eof_written = True
            self.writer.close()  # a pipe's half-close is closing it

    def can_write_eof(self) -> bool:
        return True

    def pause_reading(self) -> None:
        if self.reader is not None and self._reading and not self.reader.is_closing():
            self.reader.pause_reading()
            self._reading = False

    def resume_reading(self) -> None:
        if self.reader is not None and not self._reading and not self.reader.is_closing():
            self.reader.resume_reading()
            self._reading = True

    def close(self) -> None:
        for t in (self.reader, self.writer):
            if t is not None:
                t.close()

    async def wait_closed(self) -> None:
        """Until stdout is flushed and closed (exiting earlier would lose its tail)."""
        await asyncio.shield(self.closed)


async def connect_unix(path: str) -> SocketSide:
    loop = asyncio.get_running_loop()
    _, side = await loop.create_unix_connection(SocketSide, path)
    return side


async def connect_tcp(host: str, port: int) -> SocketSide:
    loop = asyncio.get_running_loop()
    _, side = await loop.create_connection(SocketSide, host, port)
    return side
