"""An emulated ``wezterm-mux-server``: WezTerm's session handler over muxscope's codec.

Reproduces, for fetch traffic, ``wezterm-mux-server-impl/src/dispatch.rs``
(``process_async``: one FIFO of responses and notifications per connection)
and ``sessionhandler.rs`` (``SessionHandler::process_one``,
``PerPane::compute_changes``, ``maybe_push_pane_changes``), with panes backed
by :class:`~muxscope_emulator.terminal.Terminal` (docs/wezterm-behaviour.md,
the server table). Everything runs on one asyncio loop, which plays
the part of WezTerm's main thread.

The mux is one window (id 0, workspace ``default``) holding ``panes`` tabs
of one pane each; ids come from one counter per kind, starting at 0, as in
``mux``. Pane input (WriteToPane, SendKeyDown, SendPaste) goes to a tiny
deterministic shell whose echo and command output arrive as pty output a few
milliseconds later, so typing produces the same push pattern as a real pane.

This module holds what owns the mux and its connections: the options, the
window/tab/pane bookkeeping (``Mux``), the listeners and transports, and the
read loop of each connection. The per-connection session handler is
:mod:`.session`; the panes, tabs and windows themselves are :mod:`.muxmodel`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import sys
from dataclasses import dataclass
from typing import Any

from codec import PduStream, StreamError
from codec.schema.versions import SUPPORTED
from muxscope_emulator import servertabs
from muxscope_emulator.content import CONTENT_KINDS, prefill
from muxscope_emulator.muxmodel import Pane, Tab, Window
from muxscope_emulator.session import Session
from muxscope_emulator.stream import StreamStats, parse_rate, run_stream
from proxy.relay.endpoints import TcpAddress, TlsAddress, UnixAddress
from proxy.relay.server import close_listener

APPS = ("shell", "editor")
#: ``mux_output_parser_coalesce_delay_ms``: pty output reaches the terminal this long after it is written.
OUTPUT_DELAY = 0.003


@dataclass
class ServerOptions:
    panes: int = 1
    rows: int = 24
    cols: int = 80
    #: ``scrollback_lines`` of every pane
    scrollback: int = 2000
    seed: int = 0
    codec_version: int = 44
    #: lines of generated content each pane starts with (None: ``2*rows + scrollback//4``)
    prefill_rows: int | None = None
    #: background output, in generated lines per second per pane (0: quiet)
    output_rate: float = 0.0
    #: what the panes print: "mixed" or "find" (``find /usr`` paths only; content.CONTENT_KINDS)
    content: str = "mixed"
    #: "tabs": ``panes`` tabs of one pane; "split": each of them split in two side by side (servertabs)
    layout: str = "tabs"
    #: the program in every pane's foreground: ``shell`` or ``editor`` (:mod:`.editorapp`)
    app: str = "shell"
    #: a steady stream in one pane (:mod:`.stream`): lines per second, or "max"; None: no stream
    stream: str | None = None
    stream_pane: int = 0
    stream_delay_s: float = 0.0

    def __post_init__(self) -> None:
        if self.layout not in servertabs.LAYOUTS:
            raise ValueError(f"layout {self.layout!r} is not one of {servertabs.LAYOUTS}")
        if self.codec_version not in SUPPORTED:
            raise ValueError(f"codec version {self.codec_version} is not one of {SUPPORTED}")
        if self.content not in CONTENT_KINDS:
            raise ValueError(f"content {self.content!r} is not one of {CONTENT_KINDS}")
        if self.app not in APPS:
            raise ValueError(f"--app {self.app!r}: expected one of {APPS}")
        if self.stream is not None:
            parse_rate(self.stream)

    @property
    def initial_rows(self) -> int:
        return self.prefill_rows if self.prefill_rows is not None else 2 * self.rows + self.scrollback // 4


class EmulatedMuxServer:
    """The emulated ``wezterm-mux-server``; see the module docstring."""

    def __init__(self, options: ServerOptions | None = None) -> None:
        self.options = options or ServerOptions()
        self.panes: dict[int, Pane] = {}
        self.tabs: dict[int, Tab] = {}
        self.windows: dict[int, Window] = {}
        self.sessions: list[Session] = []
        self.address: UnixAddress | TcpAddress | None = None
        self._next = {"pane": 0, "tab": 0, "window": 0}
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._background: asyncio.Task[None] | None = None
        self._stream: asyncio.Task[StreamStats] | None = None
        #: what the ``--stream-lines-per-s`` stream wrote
        self.stream_stats = StreamStats()
        opts = self.options
        window = self._new_window("default")
        for _ in range(opts.panes):
            pane = self._new_tab(window, opts.rows, opts.cols, 0, 0, 0)
            prefill(pane.terminal, pane.generator, opts.initial_rows)
            if pane.editor is not None:
                pane.terminal.write(pane.editor.start())
                pane.terminal.alerts.clear()  # raised before any client: the first push sends the palette
            if opts.layout == "split":
                servertabs.build_split_layout(self, self.tabs[pane.tab_id])

    # -- the mux model -----------------------------------------------------
    def _id(self, kind: str) -> int:
        n = self._next[kind]
        self._next[kind] = n + 1
        return n

    def _new_window(self, workspace: str) -> Window:
        w = Window(self._id("window"), workspace=workspace)
        self.windows[w.window_id] = w
        return w

    def _new_tab(self, window: Window, rows: int, cols: int, pw: int, ph: int, dpi: int) -> Pane:
        tab_id, pane_id = self._id("tab"), self._id("pane")
        o = self.options
        pane = Pane(
            pane_id,
            tab_id,
            window.window_id,
            rows or o.rows,
            cols or o.cols,
            o.scrollback,
            o.seed,
            pw,
            ph,
            dpi,
            o.app,
        )
        pane.generator.kind = o.content
        self.panes[pane_id] = pane
        self.tabs[tab_id] = Tab(tab_id, window.window_id, [pane_id], pane_id)
        window.tab_ids.append(tab_id)
        return pane

    def pane(self, pane_id: int) -> Pane:
        """The pane (for tests and the emulated client's ground truth)."""
        return self.panes[pane_id]

    def spawn_tab(
        self,
        window_id: int | None,
        rows: int,
        cols: int,
        pw: int = 0,
        ph: int = 0,
        dpi: int = 0,
        workspace: str = "default",
    ) -> Pane:
        """``Mux::spawn_tab_or_window``: TabAddedToWindow goes to every client."""
        window = self.windows.get(window_id) if window_id is not None else None
        if window is None:
            window = self._new_window(workspace)
        pane = self._new_tab(window, rows, cols, pw, ph, dpi)
        pane.terminal.write(pane.editor.start() if pane.editor is not None else pane.generator.prompt().encode())
        pane.terminal.alerts.clear()
        self.broadcast("TabAddedToWindow", {"tab_id": pane.tab_id, "window_id": window.window_id})
        return pane

    def remove_pane(self, pane_id: int) -> None:
        """``Mux::remove_pane``: PaneRemoved to every client; empty tabs and windows go too."""
        pane = self.panes.pop(pane_id)
        pane.dead = True
        tab = self.tabs.get(pane.tab_id)
        if tab is not None:
            tab.pane_ids.remove(pane_id)
            servertabs.remove_pane(self, tab, pane_id)
            if not tab.pane_ids:
                del self.tabs[tab.tab_id]
                window = self.windows.get(tab.window_id)
                if window is not None:
                    window.tab_ids.remove(tab.tab_id)
                    if not window.tab_ids:
                        del self.windows[window.window_id]
        self.broadcast("PaneRemoved", {"pane_id": pane_id})

    def list_panes(self) -> dict[str, Any]:
        """``ListPanesResponse``: ``tab.codec_pane_tree()`` per tab (:mod:`.servertabs`)."""
        return servertabs.list_panes(self)

    def broadcast(self, name: str, body: Any) -> None:
        """A mux notification written straight to every connection (serial 0)."""
        for s in list(self.sessions):
            s.send(name, body)

    def notify_pane_output(self, pane_id: int) -> None:
        """``MuxNotification::PaneOutput``: every connection schedules a push, asked about the pane or not."""
        for s in list(self.sessions):
            s.schedule_pane_push(pane_id)

    def output(self, pane_id: int, data: bytes) -> None:
        """pty output reaching the pane now: one ``perform_actions`` batch, then PaneOutput."""
        pane = self.panes.get(pane_id)
        if pane is None:
            return
        pane.terminal.write(data)
        alerts, pane.terminal.alerts = pane.terminal.alerts, []
        for alert in alerts:  # MuxNotification::Alert: queued per connection, a push scheduled
            for s in list(self.sessions):
                s.per(pane_id).notifications.append(alert)
        self.notify_pane_output(pane_id)

    def generate_output(self, pane_id: int, n_lines: int) -> None:
        """``n_lines`` of generated content as one batch of pty output."""
        pane = self.panes[pane_id]
        self.output(pane_id, pane.generator.lines(n_lines))

    def sigwinch(self, pane: Pane) -> None:
        """The pty was resized: the foreground program redraws, its output arriving
        ``OUTPUT_DELAY`` later (``LocalPane::resize`` resizes the pty, localpane.rs:413-421)."""
        asyncio.get_running_loop().call_later(OUTPUT_DELAY, lambda: self.output(pane.pane_id, pane.winch()))

    def pty_write(self, pane: Pane, data: bytes) -> None:
        """Input to the pane's pty; the shell's echo arrives ``OUTPUT_DELAY`` later."""
        out = pane.shell_input(data)
        if out:
            asyncio.get_running_loop().call_later(OUTPUT_DELAY, self.output, pane.pane_id, out)

    # -- serving -------------------------------------------------------------
    async def start(self, listen: UnixAddress | TcpAddress | TlsAddress,
                    tls: ssl.SSLContext | None = None) -> UnixAddress | TcpAddress | TlsAddress:
        """Listen; returns the bound address (a TCP port 0 becomes the real port). A TLS domain's
        listener (``tls``: a context that requires client certificates) also checks the client
        certificate's CN as wezterm-mux-server/src/ossl.rs does."""
        if isinstance(listen, UnixAddress):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(listen.path)
            self._server = await asyncio.start_unix_server(self.handle_connection, listen.path)
            self.address = listen
        elif isinstance(listen, TcpAddress):
            self._server = await asyncio.start_server(self.handle_connection, listen.host, listen.port)
            port = self._server.sockets[0].getsockname()[1]
            self.address = TcpAddress(listen.host, port)
        elif isinstance(listen, TlsAddress) and tls is not None:
            self._server = await asyncio.start_server(self._tls_connection, listen.host, listen.port, ssl=tls)
            self.address = TlsAddress(listen.host, self._server.sockets[0].getsockname()[1])
        else:
            raise ValueError(f"cannot listen on {listen}")
        self._start_background()
        return self.address

    async def _tls_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from proxy.tls.contexts import check_client_name

        tls = writer.get_extra_info("ssl_object")
        why = check_client_name(tls.getpeercert(binary_form=True) if tls is not None else None)
        if why is not None:
            print(f"emulated wezterm-mux-server: problem with peer cert: {why}", file=sys.stderr, flush=True)
            writer.close()
            return
        await self.handle_connection(reader, writer)

    def _start_background(self) -> None:
        loop = asyncio.get_running_loop()
        if self.options.output_rate > 0 and self._background is None:
            self._background = loop.create_task(self._background_output())
        opts = self.options
        if opts.stream is not None and self._stream is None:
            self._stream = loop.create_task(
                run_stream(self._stream_write, parse_rate(opts.stream), opts.stream_delay_s, self.stream_stats)
            )

    def _stream_write(self, n: int) -> bool:
        """One batch of the stream into ``stream_pane``; False once that pane is gone."""
        if self.options.stream_pane not in self.panes:
            return False
        self.generate_output(self.options.stream_pane, n)
        return True

    async def _background_output(self) -> None:
        """Steady output on every pane at ``output_rate`` lines per second, ~20 batches a second at most."""
        rate = self.options.output_rate
        interval = max(1.0 / rate, 0.05)
        owed = 0.0
        while True:
            await asyncio.sleep(interval)
            owed += rate * interval
            n = int(owed)
            if n:
                owed -= n
                for pane_id in list(self.panes):
                    self.generate_output(pane_id, n)

    async def stop(self) -> None:
        for task in (self._background, self._stream):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._background = self._stream = None
        for s in list(self.sessions):
            s.closed = True
            s.writer.close()
        await close_listener(self._server, self._tasks, self.address)
        self._server = None

    async def serve_stdio(self) -> None:
        """Serve one connection on stdin/stdout (a fake ``wezterm cli proxy`` over SSH)."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        stdin = open(sys.stdin.fileno(), "rb", buffering=0, closefd=False)  # noqa: SIM115
        stdout = open(sys.stdout.fileno(), "wb", buffering=0, closefd=False)  # noqa: SIM115
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, stdout)
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        self._start_background()
        await self.handle_connection(reader, writer)

    async def handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """``dispatch.rs:process_async``: decode requests, answer in order; EOF or bad input ends it."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        session = Session(self, writer)
        self.sessions.append(session)
        stream = PduStream(self.options.codec_version)
        try:
            while not session.closed:
                data = await reader.read(65536)
                if not data:
                    break
                for item in stream.feed(data):
                    if isinstance(item, StreamError):
                        session.closed = True  # WezTerm drops a connection it cannot decode
                        break
                    session.process_one(item)
                if not session.closed:
                    await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            session.closed = True
            if session in self.sessions:
                self.sessions.remove(session)
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._tasks.discard(task)
