"""The emulated wezterm-gui mux client: ground truth for muxscope's over-fetch analysis.

No wezterm binary exists where muxscope is tested, so this client reproduces
what wezterm-gui + wezterm-client put on the wire while fetching lines
(docs/wezterm-behaviour.md lists each behaviour with its line upstream, and
the deviations):

* attach (``wezterm-client/src/domain.rs: ClientDomain::attach``):
  GetCodecVersion, SetClientId, ListPanes, one SetPalette per new pane, then the
  GUI window adopts the tabs (``TermWindow`` on ``TabAddedToWindow``);
* pushes (``client.rs: process_unilateral``, ``clientpane.rs: process_unilateral``);
* the GUI main thread (:mod:`.guiqueue`): pushes applied two turns after they are
  read, replies one, paints (``wezterm-gui/src/termwindow/render/pane.rs: paint_pane``)
  only when the window was invalidated, each polling and asking for the viewport
  rows, fetching what is missing or stale;
* the per-pane state machine in :mod:`.clientpane` / :mod:`.linecache`.

While doing so it records what the wire alone cannot show (:mod:`.truth`).

This module is the ``wezterm-client`` side: the connection, attach and resync,
and the fetches and polls a pane asks for (:class:`~.panefetch.PaneHooks`). The
push handling (:mod:`.clientpushes`) and the GUI window (:mod:`.clientgui`) are
mixins of :class:`EmulatedClient`; its options are in :mod:`.clientoptions`, its
report in :mod:`.clientreport`, tabs and their splits in :mod:`.clienttabs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import itertools
import os
import random
import socket
import time
from collections import OrderedDict
from collections.abc import Coroutine, Mapping
from typing import Any

from codec import Pdu
from codec.pdu import LINE_FIELDS
from codec.wire.varbincode import Schema, Struct
from muxscope_emulator import scenarios
from muxscope_emulator.clientgui import GuiWindow
from muxscope_emulator.clientoptions import ClientOptions, IncompatibleVersion
from muxscope_emulator.clientpane import ClientPane
from muxscope_emulator.clientpushes import PushHandling
from muxscope_emulator.clientreport import ClientReport, build_report
from muxscope_emulator.clienttabs import ClientTab, SplitStats, TabHandling
from muxscope_emulator.guiqueue import GuiQueue
from muxscope_emulator.linecache import lines_from_summary
from muxscope_emulator.muxconn import ConnectionLost, MuxConnection, Reply, RpcError
from muxscope_emulator.palette import default_palette
from muxscope_emulator.panefetch import FetchBatch
from muxscope_emulator.policy import Policy
from muxscope_emulator.racetruth import PushSnapshot, RaceTruth
from muxscope_emulator.truth import Truth
from muxscope_emulator.wezlog import PaneLog, WezLog
from proxy.relay.endpoints import TcpAddress, UnixAddress

#: ``renderable.rs: IMAGE_LRU``
IMAGE_LRU_SIZE = 128

_client_ids = itertools.count(1)


class EmulatedClient(PushHandling, GuiWindow, TabHandling):
    """One wezterm-gui process attached to a mux server through a ClientDomain."""

    def __init__(self, options: ClientOptions | None = None) -> None:
        self.options = options or ClientOptions()
        assert isinstance(self.options.policy, Policy)
        self.policy: Policy = self.options.policy
        self.rng = random.Random(self.options.seed)
        self.clock = time.monotonic
        self.conn: MuxConnection | None = None
        self.truth = Truth(local_echo_ms=self.options.local_echo_ms or None)
        #: fetched rows into the truth, raced ones order-free (:mod:`.racetruth`)
        self.race = RaceTruth(self.truth)
        #: the GUI main thread, while :meth:`run` runs (None: everything applied at once, for tests)
        self.gui: GuiQueue | None = None
        self.panes: dict[int, ClientPane] = {}
        #: remote tab id -> the GUI's own copy of the tab (:mod:`.clienttabs`)
        self.tabs: dict[int, ClientTab] = {}
        self.split_stats = SplitStats()
        #: remote window id -> remote tab ids in order (the GUI shows the first)
        self.windows: dict[int, list[int]] = {}
        self.window_size: dict[str, int] | None = None
        self.image_lru: OrderedDict[bytes, bool] = OrderedDict()
        self.errors: list[str] = []
        self.last_action = self.clock()
        #: the size of each pane's last Resize: settled once a push shows it
        self.last_sent_size: dict[int, dict[str, int]] = {}
        self.rows_fetched = 0
        self.rows_discarded = 0
        self.resizes_sent = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pushes: asyncio.Queue[Pdu] = asyncio.Queue()
        self._push_busy = False
        #: id(push) -> (the push, kept so its id stays its own; its index in truth.pushes), for
        #: pushes queued before they take effect
        self._push_index: dict[int, tuple[Pdu, int, PushSnapshot]] = {}
        self._debounce: asyncio.TimerHandle | None = None
        #: the WezTerm-format log (``wezterm_log``), open while :meth:`run` runs
        self.wezlog: WezLog | None = None
        #: ``mux::pane::alloc_pane_id``: the GUI's own ids for the panes it mirrors
        self._local_pane_ids = itertools.count(0)

    # -- plumbing -------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """``promise::spawn::spawn(..).detach()``: fire and forget, errors recorded."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, ConnectionLost):
                self.errors.append(f"{type(exc).__name__}: {exc}")

    async def _rpc(self, name: str, body: Any, expect: str | tuple[str, ...]) -> Reply:
        assert self.conn is not None
        reply = await self.conn.request(name, body, expect)
        rows = 0
        if reply.pdu.name == "GetLinesResponse":
            rows = len(reply.pdu.body["lines"]["lines"])
        self.truth.rpc(reply.serial, name, reply.latency_ms, rows, reply.sent_ns, reply.received_ns)
        return reply

    def _gui_size(self, rows: int, cols: int) -> dict[str, int]:
        """``TermWindow::apply_dimensions``: cells from pixels, pixels = cells * cell size."""
        o = self.options
        return {
            "rows": rows, "cols": cols, "pixel_width": cols * o.cell_width,
            "pixel_height": rows * o.cell_height, "dpi": o.dpi,
        }  # fmt: skip

    # -- attach -----------------------------------------------------------------
    async def _handshake(self) -> None:
        """``Client::verify_version_compat`` then ``ClientDomain::attach``."""
        reply = await self._rpc("GetCodecVersion", {}, "GetCodecVersionResponse")
        vers = reply.pdu.body["codec_vers"]
        if vers != self.options.codec_version:
            raise IncompatibleVersion(
                f"server codec version {vers} ({reply.pdu.body['version_string']}) != "
                f"client codec version {self.options.codec_version}"
            )
        assert self.conn is not None
        self.conn.use_version(vers)
        client_id = {
            "hostname": socket.gethostname(), "username": _username(), "pid": os.getpid(),
            "epoch": int(time.time()), "id": next(_client_ids), "ssh_auth_sock": None,
        }  # fmt: skip
        schema = self.conn.version.schema("SetClientId")
        body = fit_to_schema(schema, {"client_id": client_id, "is_proxy": False})
        await self._rpc("SetClientId", body, "UnitResponse")
        reply = await self._rpc("ListPanes", {}, "ListPanesResponse")
        self.process_pane_list(reply.pdu.body, "tab_resized")
        self._adopt_tabs()

    async def resync(self) -> None:
        """``ClientDomain::resync``: ListPanes + ``process_pane_list`` (TabResized, TabAddedToWindow)."""
        reply = await self._rpc("ListPanes", {}, "ListPanesResponse")
        self.process_pane_list(reply.pdu.body, "tab_resized")

    def _new_pane(self, entry: Mapping[str, Any]) -> ClientPane:
        """``ClientPane::new``: initial dims from the entry, then SetPalette (fire and forget)."""
        o = self.options
        pane = ClientPane(
            entry["pane_id"], entry["tab_id"], entry["size"], entry["title"], self,
            scrollback_lines=o.scrollback_lines, prefetch_rate=o.prefetch_rate,
            policy=self.policy, clock=self.clock,
        )  # fmt: skip
        self.panes[entry["pane_id"]] = pane
        if self.wezlog is not None:
            pane.wezlog = PaneLog(self.wezlog, next(self._local_pane_ids), entry["pane_id"])
        body = {"pane_id": entry["pane_id"], "palette": default_palette()}
        self._send_now("SetPalette", body, "UnitResponse")
        return pane

    # -- PaneHooks ------------------------------------------------------------------
    def fetch_lines(self, pane: ClientPane, batch: FetchBatch) -> None:
        """``schedule_fetch_lines``: the GetLines goes out in the same step that stamps the rows.

        (WezTerm sends it from the task it spawns, one main-thread turn later;
        sending at once keeps the fetch start and the request's departure one
        instant, which is what a wire observer can see.) The reply, read, wakes
        the task awaiting it: one turn of the GUI thread (:mod:`.guiqueue`), unless it
        carries images to hydrate first.
        """
        assert self.conn is not None
        self.truth.request([r.cause for r in batch.rows.values()])
        self.race.request(pane, batch)
        body = {"pane_id": pane.remote_pane_id, "lines": [{"start": a, "end": b} for a, b in batch.ranges]}
        done: list[bool] = []

        def on_reply(reply: Reply) -> bool:
            self.race.reply_read(pane.remote_pane_id, batch.token)
            body = reply.pdu.body
            if reply.pdu.name != "GetLinesResponse" or body["lines"].images:
                return False
            self.truth.rpc(reply.serial, "GetLines", reply.latency_ms, len(body["lines"].lines), reply.sent_ns,
                            reply.received_ns)
            if self.gui is None:
                self._apply_lines(pane, batch, reply)
            else:  # the task awaiting get_lines is woken: one turn of the GUI thread
                self.gui.reply(lambda: self._apply_lines(pane, batch, reply), batch.token)
            done.append(True)
            return True

        try:
            fut = self.conn.start("GetLines", body, on_reply)
        except ConnectionLost:
            self._fetch_given_up(pane, batch)
            pane.fetch_failed(batch)
            return
        self._spawn(self._get_lines(pane, batch, fut, done))

    async def _get_lines(self, pane: ClientPane, batch: FetchBatch, fut: asyncio.Future[Reply],
                         done: list[bool]) -> None:
        """``schedule_fetch_lines``' task: errors, and replies with images (``hydrate_lines`` first)."""
        assert self.conn is not None
        try:
            reply = await self.conn.finish("GetLines", fut, "GetLinesResponse")
            if done:
                return
            self.truth.rpc(reply.serial, "GetLines", reply.latency_ms, len(reply.pdu.body["lines"].lines),
                            reply.sent_ns, reply.received_ns)
            await self._hydrate(pane, self._full_lines(reply.pdu))
        except (RpcError, ConnectionLost) as exc:
            self._fetch_given_up(pane, batch)
            pane.fetch_failed(batch, str(exc))
            raise
        self._apply_lines(pane, batch, reply)
        if self.gui is not None:
            self.gui.forget(batch.token)

    def _fetch_given_up(self, pane: ClientPane, batch: FetchBatch) -> None:
        """No reply will be applied: no push waits for it, and none raced it."""
        self.race.failed(pane.remote_pane_id, batch.token)
        if self.gui is not None:
            self.gui.forget(batch.token)

    def _full_lines(self, pdu: Pdu) -> Mapping[str, Any]:
        """The fully decoded SerializedLines of a line-bearing PDU (its images, to hydrate)."""
        assert self.conn is not None
        body, _ = self.conn.version.table[pdu.ident].decode(pdu.payload, 0)
        return body[LINE_FIELDS[pdu.name]]

    def _apply_lines(self, pane: ClientPane, batch: FetchBatch, reply: Reply) -> None:
        """``RenderableInner::apply_lines`` (Ok), recording each row's ground-truth outcome
        (:mod:`.racetruth`: raced rows superseded), then PaneOutput (the window is invalidated)."""
        assert self.conn is not None
        lines = lines_from_summary(reply.pdu.body["lines"], self.conn.version)
        self.rows_fetched += len(lines)
        before = self.race.held_now(pane, batch)
        outcomes = pane.apply_fetched(batch, lines)
        self.race.record(pane, batch, reply.pdu.serial, outcomes, before)
        self.rows_discarded += sum(1 for _, outcome in outcomes if outcome == "superseded")
        self.invalidate()

    async def _hydrate(self, pane: ClientPane, serialized: Mapping[str, Any]) -> None:
        """``renderable.rs: hydrate_lines``: one GetImageCell per image hash not in IMAGE_LRU."""
        requests: dict[bytes, dict[str, Any]] = {}
        for im in serialized["images"]:
            key = bytes(im["data_hash"])
            if key in self.image_lru:
                self.image_lru.move_to_end(key)
            else:
                requests.setdefault(key, {
                    "pane_id": pane.remote_pane_id, "line_idx": im["line_idx"],
                    "cell_idx": im["cell_idx"], "data_hash": im["data_hash"],
                })  # fmt: skip
        for key, req in requests.items():
            with contextlib.suppress(RpcError):
                reply = await self._rpc("GetImageCell", req, "GetImageCellResponse")
                if reply.pdu.body["data"] is not None:
                    self.image_lru[key] = True
                    while len(self.image_lru) > IMAGE_LRU_SIZE:
                        self.image_lru.popitem(last=False)

    def poll(self, pane: ClientPane) -> None:
        assert self.conn is not None
        try:
            fut = self.conn.start("GetPaneRenderChanges", {"pane_id": pane.remote_pane_id})
        except ConnectionLost:
            pane.poll_done(False)
            return
        self._spawn(self._poll(pane, fut))

    async def _poll(self, pane: ClientPane, fut: asyncio.Future[Reply]) -> None:
        """``RenderableInner::poll``'s task: GetPaneRenderChanges -> LivenessResponse."""
        assert self.conn is not None
        try:
            reply = await self.conn.finish("GetPaneRenderChanges", fut, "LivenessResponse")
            self.truth.rpc(reply.serial, "GetPaneRenderChanges", reply.latency_ms, 0, reply.sent_ns, reply.received_ns)
            alive = bool(reply.pdu.body["is_alive"])
        except RpcError:
            alive = True  # client.is_reconnectable for a unix/tcp domain
        except ConnectionLost:
            alive = False
        pane.poll_done(alive)

    def send_resize(self, pane: ClientPane, size: dict[str, int]) -> None:
        """``ClientPane::resize``' Resize, written in the step that made the cache stale."""
        self.resizes_sent += 1
        self.last_sent_size[pane.remote_pane_id] = size
        body = {"containing_tab_id": pane.remote_tab_id, "pane_id": pane.remote_pane_id, "size": size}
        self._send_now("Resize", body, "UnitResponse")

    def send_zoom(self, pane: ClientPane, zoomed: bool) -> None:
        body = {"containing_tab_id": pane.remote_tab_id, "pane_id": pane.remote_pane_id, "zoomed": zoomed}
        self._send_now("SetPaneZoomed", body, "UnitResponse")

    def _send_now(self, name: str, body: Any, expect: str) -> None:
        """Write a request in this very step (so the wire order is the client's order); await it in a task."""
        assert self.conn is not None
        try:
            fut = self.conn.start(name, body)
        except ConnectionLost as exc:
            self.errors.append(f"{name}: {exc}")
            return

        async def finish() -> None:
            assert self.conn is not None
            reply = await self.conn.finish(name, fut, expect)
            self.truth.rpc(reply.serial, name, reply.latency_ms, 0, reply.sent_ns, reply.received_ns)

        self._spawn(finish())
    # -- run ---------------------------------------------------------------------------
    async def run(self, connect: UnixAddress | TcpAddress) -> ClientReport:
        """Attach, settle, play the scenario, settle again, and report."""
        self.conn = MuxConnection(self.options.codec_version, self._on_push, summary_lines=True)
        if self.options.tls is not None:  # as try_connect: the tls_clients entry's files and names
            from proxy.tls.contexts import upstream_context

            self.conn.tls_context = upstream_context(self.options.tls)
            self.conn.tls_server_name = self.options.tls.expected_cn
        await self.conn.open(connect)
        log_file = open(self.options.wezterm_log, "w", encoding="utf-8") if self.options.wezterm_log else None  # noqa: SIM115
        self.wezlog = WezLog(log_file) if log_file is not None else None
        if self.wezlog is not None:
            self.conn.on_decoded = self.wezlog.decoded
        workers: list[asyncio.Task[Any]] = []
        settle: float | None = None
        scenario_rows = 0
        try:
            workers.append(asyncio.create_task(self._push_loop(), name="client-pushes"))
            await self._handshake()
            self.gui = GuiQueue(self.options.gui_order, self.paint_window, self.options.paint_row_ms,
                                self.options.fps, self.clock)
            workers.append(asyncio.create_task(self.gui.run(), name="client-gui"))
            self.gui.invalidate()  # TabAddedToWindow: the window's first paint
            self.mark_action()
            await self.wait_settled(self.options.timeout)
            scenario_rows = self.rows_fetched
            await scenarios.RUNNERS[self.options.scenario](self)
            settle = await self.wait_settled(self.options.timeout)
        finally:
            for task in workers:
                task.cancel()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*workers, *self._tasks, return_exceptions=True)
            await self.conn.close()
            if log_file is not None:
                log_file.close()
        return build_report(self, settle, self.rows_fetched - scenario_rows)


def fit_to_schema(schema: Schema, value: Any) -> Any:
    """Drop the struct fields an older codec version lacks (v42: no ``is_proxy``, no ``ssh_auth_sock``)."""
    if isinstance(schema, Struct) and isinstance(value, dict):
        return {name: fit_to_schema(sub, value[name]) for name, sub in schema.fields if name in value}
    return value


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "wez"
